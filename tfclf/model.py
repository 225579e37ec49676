"""The classifier: BERT input ids -> hub encoder -> pooling -> dropout -> dense logits.

With ``--long-text chunks`` the inputs are ``[batch, windows, seq]``: the windows are
flattened into rows for the encoder, pooled per window as usual, and then pooled per
document (``WindowPooling``: mean, max or attention over the document's real windows),
so the gradient of a document's loss reaches every one of its windows.

The trainable model takes token ids, not strings: tokenisation happens in tf.data
(training) and in the serving function (export), so this graph holds no TF-Text
op and can be XLA-compiled on accelerators.
"""
from __future__ import annotations

import dataclasses
import logging
import re
from typing import Callable, Optional

import tensorflow as tf
import tensorflow_hub as hub
import tf_keras

from tfclf import native_encoder
from tfclf.config import ChunkPooling, Pooling
from tfclf.errors import TfclfError

logger = logging.getLogger(__name__)

INPUT_NAMES = ("input_word_ids", "input_mask", "input_type_ids")
# tf-models exports (BERT v4, LaBSE/2, ours) say transformer/layer_3/...; TF1-era BERT
# exports say bert/encoder/layer_3/... Both match.
_LAYER_RE = re.compile(r"(?:^|/)layer_(\d+)/")
_POOLER_RE = re.compile(r"pooler")


def trainable_filter(spec: str, variable_names: list[str]) -> Callable[[str], bool]:
    """Which encoder variables fine-tune, by name, for ``--trainable all|none|top-N``.

    With ``top-N`` the variables of the top N transformer layers and of the pooler
    train; embeddings and lower layers stay frozen. Works on any hub encoder whose
    variable names carry ``layer_<i>/``.

    Raises:
        TfclfError: the names show no layers, or N exceeds their number.
    """
    if spec == "all":
        return lambda name: True
    if spec == "none":
        return lambda name: False
    n = int(spec.split("-", 1)[1])
    layers = sorted({int(m.group(1)) for name in variable_names if (m := _LAYER_RE.search(name))})
    if not layers:
        raise TfclfError(
            f"--trainable {spec}: the encoder's variable names show no transformer layers "
            f"(expected '.../layer_<i>/...'; first names: {variable_names[:3]}). Use all or none.")
    if n > len(layers):
        raise TfclfError(
            f"--trainable {spec} asks for more layers than the encoder's {len(layers)}. "
            f"Received: trainable={spec!r}")
    first = layers[-1] + 1 - n

    def keep(name: str) -> bool:
        m = _LAYER_RE.search(name)
        return bool(_POOLER_RE.search(name)) or (m is not None and int(m.group(1)) >= first)

    return keep


class FineTunedKerasLayer(hub.KerasLayer):
    """``hub.KerasLayer`` that fine-tunes only the variables ``trainable_spec`` selects.

    Frozen variables are registered as non-trainable weights, so Keras neither
    computes their gradients (the embedding matrix is the largest) nor hands them
    to the optimiser (so weight decay cannot touch them either).
    """

    def __init__(self, handle, trainable_spec: str = "all", **kwargs):
        object.__setattr__(self, "_trainable_spec", trainable_spec)
        object.__setattr__(self, "_keep", None)
        super().__init__(handle, trainable=trainable_spec != "none", **kwargs)
        n_train = sum(int(tf.size(v)) for v in self.trainable_weights)
        n_all = sum(int(tf.size(v)) for v in self.weights)
        logger.info("Encoder: fine-tuning %s of %s parameters (--trainable %s).",
                    f"{n_train:,}", f"{n_all:,}", trainable_spec)

    # hub.KerasLayer registers each SavedModel variable through this hook while it is built.
    def _add_existing_weight(self, weight, trainable=None):
        if trainable and self._trainable_spec not in ("all", "none"):
            if self._keep is None:
                names = [v.name for v in self._func.trainable_variables]
                object.__setattr__(self, "_keep", trainable_filter(self._trainable_spec, names))
            trainable = self._keep(weight.name)
        super()._add_existing_weight(weight, trainable=trainable)

    def get_config(self):
        return {**super().get_config(), "trainable_spec": self._trainable_spec}


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


@tf_keras.utils.register_keras_serializable(package="tfclf")
class WindowsToRows(tf_keras.layers.Layer):
    """Chunked BERT inputs ``[batch, windows, seq]`` -> ``[W, seq]``: the W real windows, in row order.

    Padding windows (``input_mask`` all zero; a batch holds documents of different window
    counts at evaluation and serving) are left out, so the encoder computes only real
    windows. ``WindowPooling`` puts the results back in place.
    """

    def call(self, inputs):
        rows = {k: tf.reshape(v, [-1, tf.shape(v)[-1]]) for k, v in inputs.items()}
        real = tf.where(tf.reduce_any(rows["input_mask"] > 0, axis=-1))[:, 0]
        return {k: tf.gather(v, real) for k, v in rows.items()}


@tf_keras.utils.register_keras_serializable(package="tfclf")
class WindowPooling(tf_keras.layers.Layer):
    """Pools window vectors into one vector per document (``--chunk-pooling``).

    Inputs: ``vectors [W, H]`` (the encoder's pooled real windows, in row order, as
    ``WindowsToRows`` selects them) and ``input_mask [batch, windows, seq] int32``; a
    window whose mask is all zero is padding and takes no part. Output: ``[batch, H]``.

    * ``mean``: the average of the document's windows;
    * ``max``: their element-wise maximum;
    * ``attention``: ``sum_k softmax_k(w . v_k + b) v_k`` over the document's windows,
      with ``w [H]`` and ``b`` learned (initialised to zero: the mean).
    """

    def __init__(self, mode: str = "mean", **kwargs):
        super().__init__(**kwargs)
        self.mode = ChunkPooling(mode).value

    def build(self, input_shape):
        if self.mode == ChunkPooling.ATTENTION.value:
            # Keras passes the shape of the first input (the vectors) alone, or a list of both.
            nested = isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple, tf.TensorShape))
            width = tf.TensorShape(input_shape[0] if nested else input_shape)[-1]
            self.score = tf_keras.layers.Dense(1, kernel_initializer="zeros", dtype="float32",
                                               name="window_score")
            self.score.build(tf.TensorShape([None, width]))
        super().build(input_shape)

    def call(self, vectors, input_mask):
        shape = tf.shape(input_mask)
        width = vectors.shape[-1] if vectors.shape[-1] is not None else tf.shape(vectors)[-1]
        real = tf.reduce_any(input_mask > 0, axis=-1)  # [batch, windows]
        index = tf.where(tf.reshape(real, [-1]))  # [W, 1], as WindowsToRows chose them
        vectors = tf.scatter_nd(index, vectors, [shape[0] * shape[1], width])
        vectors = tf.reshape(vectors, [shape[0], shape[1], width])  # [batch, windows, H]
        if self.mode == ChunkPooling.MAX.value:
            lowest = tf.constant(vectors.dtype.min, vectors.dtype)
            return tf.reduce_max(tf.where(real[:, :, tf.newaxis], vectors, lowest), axis=1)
        if self.mode == ChunkPooling.MEAN.value:
            weights = tf.cast(real, tf.float32)
            weights /= tf.maximum(tf.reduce_sum(weights, axis=1, keepdims=True), 1.0)
        else:
            scores = tf.squeeze(self.score(tf.cast(vectors, tf.float32)), -1)  # [batch, windows]
            weights = tf.nn.softmax(tf.where(real, scores, tf.float32.min), axis=1)
            weights *= tf.cast(real, tf.float32)  # a document has at least one real window
        vectors = tf.where(real[:, :, tf.newaxis], vectors, tf.zeros_like(vectors))  # no NaN * 0
        return tf.reduce_sum(vectors * tf.cast(weights, vectors.dtype)[:, :, tf.newaxis], axis=1)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@dataclasses.dataclass
class ClassifierModels:
    """Two views sharing weights: ``classifier`` (ids -> logits) and ``embedder`` (ids -> pooled)."""

    classifier: tf_keras.Model
    embedder: tf_keras.Model


def encoder_layer(encoder_path: str, *, trainable: str = "all",
                  native: Optional[native_encoder.NativeSource] = None,
                  name: str = "encoder") -> tf_keras.layers.Layer:
    """The encoder as a Keras layer: ``hub.KerasLayer`` (``FineTunedKerasLayer``), or with
    ``native`` (``--encoder-runtime native``) the same weights in a ``NativeEncoder``.

    Both map the BERT input dict to ``sequence_output`` and ``pooled_output`` and freeze
    the same variables for ``trainable`` (``trainable_filter`` on the hub names).
    """
    if native is None:
        return FineTunedKerasLayer(encoder_path, trainable_spec=trainable, name=name)
    keep = trainable_filter(trainable, sorted(native.variables)) if trainable not in ("all", "none") else None
    layer = native_encoder.build(native, name=name, trainable=trainable, keep=keep)
    n_train = sum(int(tf.size(v)) for v in layer.trainable_weights)
    n_all = sum(int(tf.size(v)) for v in layer.weights)
    logger.info("Encoder (native): fine-tuning %s of %s parameters (--trainable %s).",
                f"{n_train:,}", f"{n_all:,}", trainable)
    return layer


def build_classifier(encoder_path: str, num_classes: int, *, pooling: Pooling = Pooling.POOLED,
                     dropout: float = 0.1, trainable: str = "all",
                     chunk_pooling: Optional[ChunkPooling] = None,
                     native: Optional[native_encoder.NativeSource] = None) -> ClassifierModels:
    """Builds the fine-tuning model around a TF Hub encoder.

    Args:
        encoder_path: local folder of a TF Hub BERT-interface encoder SavedModel.
        num_classes: C, the number of labels.
        pooling: how the encoder outputs become one vector per text.
        dropout: rate before the dense layer.
        trainable: encoder weights to fine-tune: ``all``, ``none`` or ``top-N``
            (see ``trainable_filter``); the head always trains.
        chunk_pooling: None for one window per text; else the inputs are chunked
            (``[batch, windows, seq]``, ``--long-text chunks``) and a document's window
            vectors are pooled this way.
        native: the checked hub model (``native_encoder.load``) to run natively
            (``--encoder-runtime native``); None runs ``encoder_path`` through hub.KerasLayer.

    Returns:
        ``ClassifierModels``: ``classifier`` maps the dict of ``[batch, seq] int32``
        (chunked: ``[batch, windows, seq]``) inputs to ``[batch, C]`` float32 logits;
        ``embedder`` to ``[batch, H]``.
    """
    shape = (None, None) if chunk_pooling is not None else (None,)
    inputs = {name: tf_keras.Input(shape=shape, dtype=tf.int32, name=name) for name in INPUT_NAMES}
    rows = WindowsToRows(name="windows_to_rows")(inputs) if chunk_pooling is not None else inputs
    encoder = encoder_layer(encoder_path, trainable=trainable, native=native)
    outputs = encoder(rows)
    pooled = EncoderPooling(pooling.value, name="pooling")(outputs, rows["input_mask"])
    if chunk_pooling is not None:
        pooled = WindowPooling(ChunkPooling(chunk_pooling).value, name="window_pooling")(
            pooled, inputs["input_mask"])
    x = tf_keras.layers.Dropout(dropout, name="dropout")(pooled)
    # Logits stay float32 under mixed precision, for a stable softmax and loss.
    logits = tf_keras.layers.Dense(num_classes, name="logits", dtype="float32")(x)
    classifier = tf_keras.Model(inputs, logits, name="classifier")
    embedder = tf_keras.Model(inputs, tf_keras.layers.Activation("linear", dtype="float32",
                                                                  name="embedding")(pooled),
                              name="embedder")
    return ClassifierModels(classifier=classifier, embedder=embedder)


def build_embedder(encoder_path: str, pooling: Pooling = Pooling.POOLED) -> tf_keras.Model:
    """A frozen TF Hub encoder as a sentence embedder: BERT inputs ``[batch, seq] int32`` -> ``[batch, H]``.

    The same ``hub.KerasLayer`` and pooling as ``build_classifier``, without a head and
    with no trainable weights (``tfclf.topics`` embeds unlabelled text with it).
    """
    inputs = {name: tf_keras.Input(shape=(None,), dtype=tf.int32, name=name) for name in INPUT_NAMES}
    outputs = FineTunedKerasLayer(encoder_path, trainable_spec="none", name="encoder")(inputs)
    pooled = EncoderPooling(Pooling(pooling).value, name="pooling")(outputs, inputs["input_mask"])
    embedding = tf_keras.layers.Activation("linear", dtype="float32", name="embedding")(pooled)
    return tf_keras.Model(inputs, embedding, name="embedder")
