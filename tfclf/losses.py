"""Training losses. Models output logits; losses take ``from_logits`` inputs.

Single-label: softmax cross-entropy (``SparseCrossentropyWithSmoothing``); multi-label:
per-label binary cross-entropy (``BinaryCrossentropyWithPositiveWeights``).
"""
from __future__ import annotations

import tensorflow as tf
import tf_keras


@tf_keras.utils.register_keras_serializable(package="tfclf")
class SparseCrossentropyWithSmoothing(tf_keras.losses.Loss):
    """Cross-entropy on integer labels with label smoothing (tf_keras's sparse loss has none).

    y_true: ``[batch]`` int label ids; y_pred: ``[batch, C]`` logits. With smoothing
    ``s`` the target is ``(1 - s) * one_hot + s / C``, as in
    ``CategoricalCrossentropy(label_smoothing=s)``.
    """

    def __init__(self, label_smoothing: float = 0.0, name: str = "crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        num_classes = tf.shape(y_pred)[-1]
        labels = tf.one_hot(tf.reshape(tf.cast(y_true, tf.int32), [-1]), num_classes, dtype=y_pred.dtype)
        return tf_keras.losses.categorical_crossentropy(
            labels, y_pred, from_logits=True, label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


@tf_keras.utils.register_keras_serializable(package="tfclf")
class BinaryCrossentropyWithPositiveWeights(tf_keras.losses.Loss):
    """Multi-label loss: binary cross-entropy per label on logits, averaged over labels.

    y_true: ``[batch, C]`` 0/1 multi-hot targets; y_pred: ``[batch, C]`` logits. With
    smoothing ``s`` each target becomes ``(1 - s) * y + s / 2`` (``BinaryCrossentropy``'s
    rule). With ``pos_weight`` (``[C]``, ``--class-weight`` on multi-label data, see
    ``tfclf.data.class_weights.positive_weights``) label ``c``'s positive term is
    multiplied by ``pos_weight[c]``, as in ``tf.nn.weighted_cross_entropy_with_logits``:
    ``-(w_c * y * log(sigmoid(x)) + (1 - y) * log(1 - sigmoid(x)))``.
    """

    def __init__(self, label_smoothing: float = 0.0, pos_weight=None, name: str = "binary_crossentropy",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)
        self.pos_weight = None if pos_weight is None else [float(w) for w in pos_weight]

    def call(self, y_true, y_pred):
        logits = tf.cast(y_pred, tf.float32)
        labels = tf.cast(y_true, tf.float32)
        if self.label_smoothing:
            labels = labels * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        if self.pos_weight is None:
            per_label = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
        else:
            per_label = tf.nn.weighted_cross_entropy_with_logits(
                labels=labels, logits=logits, pos_weight=tf.constant(self.pos_weight, tf.float32))
        return tf.reduce_mean(per_label, axis=-1)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing, "pos_weight": self.pos_weight}
