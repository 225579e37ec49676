"""Training losses. Models output logits; losses take ``from_logits`` inputs."""
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
