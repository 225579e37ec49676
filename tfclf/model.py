"""The classifier: BERT input ids -> hub encoder -> pooling -> dropout -> dense logits.

The trainable model takes token ids, not strings: tokenisation happens in tf.data
(training) and in the serving function (export), so this graph holds no TF-Text
op and can be XLA-compiled on accelerators.
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf
import tf_keras

from tfclf.config import Pooling

INPUT_NAMES = ("input_word_ids", "input_mask", "input_type_ids")


@tf_keras.utils.register_keras_serializable(package="tfclf")
class EncoderPooling(tf_keras.layers.Layer):
    """Reduces encoder outputs to one vector per text.

    Inputs: the encoder's output dict (``pooled_output [batch, H]``,
    ``sequence_output [batch, seq, H]``) and ``input_mask [batch, seq] int32``.
    Output: ``[batch, H]``.
    """

    def __init__(self, mode: str = "pooled", **kwargs):
        super().__init__(**kwargs)
        self.mode = Pooling(mode).value

    def call(self, encoder_outputs, input_mask):
        if self.mode == Pooling.POOLED.value:
            return encoder_outputs["pooled_output"]
        sequence = encoder_outputs["sequence_output"]
        if self.mode == Pooling.CLS.value:
            return sequence[:, 0, :]
        mask = tf.cast(input_mask, sequence.dtype)[:, :, tf.newaxis]
        total = tf.reduce_sum(sequence * mask, axis=1)
        count = tf.maximum(tf.reduce_sum(mask, axis=1), tf.cast(1e-9, sequence.dtype))
        return total / count

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@dataclasses.dataclass
class ClassifierModels:
    """Two views sharing weights: ``classifier`` (ids -> logits) and ``embedder`` (ids -> pooled)."""

    classifier: tf_keras.Model
    embedder: tf_keras.Model
    encoder_layer: tf_keras.layers.Layer


def build_classifier(encoder_path: str, num_classes: int, *, pooling: Pooling = Pooling.POOLED,
                     dropout: float = 0.1, trainable: bool = True) -> ClassifierModels:
    """Builds the fine-tuning model around a TF Hub encoder.

    Args:
        encoder_path: local folder of a TF Hub BERT-interface encoder SavedModel.
        num_classes: C, the number of labels.
        pooling: how the encoder outputs become one vector per text.
        dropout: rate before the dense layer.
        trainable: fine-tune the encoder (False freezes it; the head still trains).

    Returns:
        ``ClassifierModels``: ``classifier`` maps the dict of ``[batch, seq] int32``
        inputs to ``[batch, C]`` float32 logits; ``embedder`` to ``[batch, H]``.
    """
    import tensorflow_hub as hub

    inputs = {name: tf_keras.Input(shape=(None,), dtype=tf.int32, name=name) for name in INPUT_NAMES}
    encoder = hub.KerasLayer(encoder_path, trainable=trainable, name="encoder")
    outputs = encoder(inputs)
    pooled = EncoderPooling(pooling.value, name="pooling")(outputs, inputs["input_mask"])
    x = tf_keras.layers.Dropout(dropout, name="dropout")(pooled)
    # Logits stay float32 under mixed precision, for a stable softmax and loss.
    logits = tf_keras.layers.Dense(num_classes, name="logits", dtype="float32")(x)
    classifier = tf_keras.Model(inputs, logits, name="classifier")
    embedder = tf_keras.Model(inputs, tf_keras.layers.Activation("linear", dtype="float32",
                                                                  name="embedding")(pooled),
                              name="embedder")
    return ClassifierModels(classifier=classifier, embedder=embedder, encoder_layer=encoder)
