"""Streaming Keras metrics over a confusion matrix: macro-F1 and MCC every epoch.

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
