"""Streaming Keras metrics over a confusion matrix: macro-F1 and MCC every epoch
(single-label), and per-label counts: micro/macro F1, subset accuracy and MCC (multi-label).

They accumulate a ``[C, C]`` confusion matrix over the whole validation pass, so
``val_f1_macro`` is the real macro-F1 of the epoch, not a mean of batch values.
"""
from __future__ import annotations

import tensorflow as tf
import tf_keras


class _ConfusionMatrixMetric(tf_keras.metrics.Metric):
    def __init__(self, num_classes: int, name: str, **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.matrix = self.add_weight(name="confusion", shape=(self.num_classes, self.num_classes),
                                      initializer="zeros", dtype=tf.float64)

    def update_state(self, y_true, y_pred, sample_weight=None):
        """y_true: ``[batch]`` int label ids; y_pred: ``[batch, C]`` logits or probabilities."""
        labels = tf.reshape(tf.cast(y_true, tf.int32), [-1])
        predicted = tf.argmax(y_pred, axis=-1, output_type=tf.int32)
        batch = tf.math.confusion_matrix(labels, predicted, num_classes=self.num_classes, dtype=tf.float64)
        self.matrix.assign_add(batch)

    def reset_state(self):
        self.matrix.assign(tf.zeros_like(self.matrix))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


@tf_keras.utils.register_keras_serializable(package="tfclf")
class F1Macro(_ConfusionMatrixMetric):
    """Unweighted mean of per-class F1; a class never true nor predicted contributes 0."""

    def __init__(self, num_classes: int, name: str = "f1_macro", **kwargs):
        super().__init__(num_classes, name, **kwargs)

    def result(self):
        tp = tf.linalg.diag_part(self.matrix)
        predicted = tf.reduce_sum(self.matrix, axis=0)
        actual = tf.reduce_sum(self.matrix, axis=1)
        f1 = tf.math.divide_no_nan(2 * tp, predicted + actual)
        return tf.cast(tf.reduce_mean(f1), tf.float32)


@tf_keras.utils.register_keras_serializable(package="tfclf")
class MatthewsCorrelation(_ConfusionMatrixMetric):
    """Multi-class MCC (Gorodkin's R_K), as ``sklearn.metrics.matthews_corrcoef``."""

    def __init__(self, num_classes: int, name: str = "mcc", **kwargs):
        super().__init__(num_classes, name, **kwargs)

    def result(self):
        c = self.matrix
        t = tf.reduce_sum(c, axis=1)
        p = tf.reduce_sum(c, axis=0)
        correct = tf.reduce_sum(tf.linalg.diag_part(c))
        s = tf.reduce_sum(c)
        cov_ytyp = correct * s - tf.reduce_sum(t * p)
        cov_ypyp = s * s - tf.reduce_sum(p * p)
        cov_ytyt = s * s - tf.reduce_sum(t * t)
        return tf.cast(tf.math.divide_no_nan(cov_ytyp, tf.sqrt(cov_ytyt * cov_ypyp)), tf.float32)


# ------------------------------------------------------------------------------ multi-label

class _LabelCounts(tf_keras.metrics.Metric):
    """Per-label true/false positives and negatives over a whole pass, at ``threshold``.

    y_true: ``[batch, C]`` 0/1 targets; y_pred: ``[batch, C]`` logits. Label ``c`` is
    predicted when ``sigmoid(logit) >= threshold`` (``tfclf.thresholds.predict``'s rule).
    """

    def __init__(self, num_labels: int, name: str, threshold: float = 0.5, **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_labels, self.threshold = int(num_labels), float(threshold)
        self.counts = self.add_weight(name="counts", shape=(4, self.num_labels), initializer="zeros",
                                      dtype=tf.float64)  # tp, fp, fn, tn
        self.exact = self.add_weight(name="exact", shape=(2,), initializer="zeros", dtype=tf.float64)

    def update_state(self, y_true, y_pred, sample_weight=None):
        truth = tf.cast(y_true, tf.float32) > 0.5
        predicted = tf.sigmoid(tf.cast(y_pred, tf.float32)) >= self.threshold

        def count(a, b):
            return tf.reduce_sum(tf.cast(tf.logical_and(a, b), tf.float64), axis=0)

        self.counts.assign_add(tf.stack([count(truth, predicted), count(~truth, predicted),
                                         count(truth, ~predicted), count(~truth, ~predicted)]))
        same = tf.reduce_all(tf.equal(truth, predicted), axis=-1)
        self.exact.assign_add(tf.stack([tf.reduce_sum(tf.cast(same, tf.float64)),
                                        tf.cast(tf.shape(same)[0], tf.float64)]))

    def reset_state(self):
        self.counts.assign(tf.zeros_like(self.counts))
        self.exact.assign(tf.zeros_like(self.exact))

    def get_config(self):
        return {**super().get_config(), "num_labels": self.num_labels, "threshold": self.threshold}


@tf_keras.utils.register_keras_serializable(package="tfclf")
class MultiLabelF1(_LabelCounts):
    """Multi-label F1: ``micro`` over all label decisions, or ``macro``, the unweighted mean
    of per-label F1 (a label never true nor predicted contributes 0, as sklearn's
    ``zero_division=0``)."""

    def __init__(self, num_labels: int, average: str = "micro", name: str | None = None,
                 threshold: float = 0.5, **kwargs):
        if average not in ("micro", "macro"):
            raise ValueError(f"average must be micro or macro. Received: {average!r}")
        self.average = average
        super().__init__(num_labels, name or f"f1_{average}", threshold, **kwargs)

    def result(self):
        tp, fp, fn = self.counts[0], self.counts[1], self.counts[2]
        if self.average == "micro":
            tp, fp, fn = tf.reduce_sum(tp), tf.reduce_sum(fp), tf.reduce_sum(fn)
        f1 = tf.math.divide_no_nan(2 * tp, 2 * tp + fp + fn)
        return tf.cast(tf.reduce_mean(f1), tf.float32)

    def get_config(self):
        return {**super().get_config(), "average": self.average}


@tf_keras.utils.register_keras_serializable(package="tfclf")
class SubsetAccuracy(_LabelCounts):
    """Share of examples whose predicted label set equals the true one (sklearn's
    ``accuracy_score`` on multi-hot arrays)."""

    def __init__(self, num_labels: int, name: str = "accuracy", threshold: float = 0.5, **kwargs):
        super().__init__(num_labels, name, threshold, **kwargs)

    def result(self):
        return tf.cast(tf.math.divide_no_nan(self.exact[0], self.exact[1]), tf.float32)


@tf_keras.utils.register_keras_serializable(package="tfclf")
class MultiLabelMCC(_LabelCounts):
    """Unweighted mean over labels of each label's binary Matthews correlation (0 for a
    label whose truth or prediction is constant, as sklearn)."""

    def __init__(self, num_labels: int, name: str = "mcc", threshold: float = 0.5, **kwargs):
        super().__init__(num_labels, name, threshold, **kwargs)

    def result(self):
        tp, fp, fn, tn = (self.counts[i] for i in range(4))
        numerator = tp * tn - fp * fn
        denominator = tf.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        return tf.cast(tf.reduce_mean(tf.math.divide_no_nan(numerator, denominator)), tf.float32)
