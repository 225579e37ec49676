"""The serving signatures: raw strings (or token ids) in, labels, probabilities and embeddings out.

Signatures of every ``--format text`` SavedModel (``ServingModule``; the default of
``python -m tfclf.export``, and ``RUN_DIR/saved_model``):

``serving_default(text)``
    text: ``[batch] tf.string``, raw UTF-8 texts. Invalid UTF-8 bytes are replaced
    by U+FFFD inside the graph, so no input makes the server fail. A text longer than
    the run's ``seq_length`` is read as the run trained (``--long-text``: truncated,
    head and tail, or windows pooled per document; ``tfclf.long_text``).
    Returns, for a single-label model
      * ``probabilities``: ``[batch, C] float32``, softmax over the labels in
        ``assets/labels.txt`` order;
      * ``label``: ``[batch] tf.string``, the most probable label;
      * ``label_id``: ``[batch] int64``, its index;
      * ``confidence``: ``[batch] float32``, its probability;
    and for a multi-label model (the run's ``DataConfig.multi_label``)
      * ``probabilities``: ``[batch, C] float32``, one sigmoid per label;
      * ``labels``: ``[batch, C] tf.string``, the labels whose probability is at
        least their threshold (the run's ``thresholds.json``), most probable first,
        padded with ``""``.

``embed(text)``
    text: ``[batch] tf.string``.
    Returns ``embedding``: ``[batch, H] float32``, the pooled sentence vector.

``--format ids`` exports (``IdsServingModule``) take ``input_word_ids``, ``input_mask``
and ``input_type_ids`` (``[batch, seq] int32``, right-padded BERT inputs; for a
``--long-text chunks`` run ``[batch, windows, seq] int32``, one packed window per row
and all-zero padding windows) instead of ``text``, return the same outputs, and hold no
TF-Text op.

The ``text`` graph contains TF-Text ops: import ``tensorflow_text`` before
``tf.saved_model.load``, as ``tfclf.load`` does.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import tensorflow as tf

from tfclf import atomic
from tfclf.data.pipeline import trim_to_longest
from tfclf.errors import TfclfError
from tfclf.long_text import LongTextSpec
from tfclf.model import INPUT_NAMES

PathLike = Union[str, os.PathLike]

SERVING_DEFAULT = "serving_default"  # the signature names every export and RUN/saved_model serve
EMBED = "embed"
ASSETS = "assets"  # the SavedModel's assets/ folder: labels.txt, config.yaml (and the ids tokenizer)

TEXT_SPEC = tf.TensorSpec([None], tf.string, name="text")
IDS_SPECS = [tf.TensorSpec([None, None], tf.int32, name=name) for name in INPUT_NAMES]
CHUNKED_IDS_SPECS = [tf.TensorSpec([None, None, None], tf.int32, name=name) for name in INPUT_NAMES]

__all__ = ["ASSETS", "EMBED", "SERVING_DEFAULT", "INPUT_NAMES", "IDS_SPECS", "TEXT_SPEC", "IdsServingModule", "ServingModule",
           "classification_outputs", "save_serving_model", "text_features", "write_saved_model"]


def text_features(preprocessor, seq_length: int, text, long_text: Optional[LongTextSpec] = None):
    """Raw strings -> BERT inputs, exactly as every tfclf serving graph computes them.

    Args:
        preprocessor: a loaded TF Hub BERT preprocessor (``tokenize``, ``bert_pack_inputs``).
        seq_length: maximum tokens per text, [CLS] and [SEP] included.
        text: ``[batch] tf.string``; invalid UTF-8 is replaced by U+FFFD first, so
            the result does not depend on how a TF-Text build treats bad bytes.
        long_text: how longer texts are read; default: truncated.

    Returns:
        dict of ``[batch, <= seq_length] int32`` tensors, trimmed to the longest row
        (chunks: ``[batch, <= windows, <= seq_length]``, trimmed to the most windows).
    """
    long_text = long_text or LongTextSpec(seq_length=seq_length)
    text = tf.strings.unicode_transcode(text, input_encoding="UTF-8", output_encoding="UTF-8",
                                        errors="replace", replacement_char=0xFFFD)
    return trim_to_longest(long_text.pack(preprocessor, preprocessor.tokenize(text)))


def classification_outputs(logits, label_names, *, multi_label: bool = False, threshold=0.5):
    """Logits ``[batch, C]`` -> the ``serving_default`` outputs (see the module docstring).

    ``threshold``: multi-label decision threshold, one for all labels or ``[C]``, one per
    label (a label is output when its probability is at least its threshold, as
    ``tfclf.thresholds.predict`` decides).
    """
    logits = tf.cast(logits, tf.float32)
    if multi_label:
        probabilities = tf.sigmoid(logits)
        order = tf.argsort(probabilities, axis=-1, direction="DESCENDING", stable=True)
        ranked = tf.gather(probabilities, order, batch_dims=1)
        names = tf.gather(label_names, order)
        per_label = tf.broadcast_to(tf.cast(threshold, tf.float32), tf.shape(label_names))
        ranked_thresholds = tf.gather(per_label, order)
        return {"probabilities": probabilities,
                "labels": tf.where(ranked >= ranked_thresholds, names, tf.constant("", tf.string))}
    probabilities = tf.nn.softmax(logits, axis=-1)
    label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
    return {
        "probabilities": probabilities,
        "label": tf.gather(label_names, label_id),
        "label_id": label_id,
        "confidence": tf.reduce_max(probabilities, axis=-1),
    }


def _thresholds(threshold: float | Sequence[float], num_labels: int) -> tf.Tensor:
    """``[C] float32`` constant: one threshold per label (a scalar is repeated)."""
    values = np.broadcast_to(np.asarray(threshold, dtype=np.float32), (num_labels,))
    return tf.constant(values, dtype=tf.float32)


class ServingModule(tf.Module):
    """Preprocessor + trained classifier, as one tf.Module with string signatures.

    Args:
        preprocessor_path: local TF Hub preprocessor folder.
        seq_length: maximum tokens per text.
        classifier: ids -> ``[batch, C]`` logits.
        embedder: ids -> ``[batch, H]`` pooled vectors.
        label_names: the C labels in id order.
        multi_label: sigmoid per label and thresholded ``labels`` instead of softmax.
        threshold: multi-label decision threshold: one for every label, or one per label.
        long_text: how texts longer than ``seq_length`` are read (the run's ``--long-text``);
            default: truncated.
    """

    def __init__(self, preprocessor_path: str, seq_length: int, classifier, embedder,
                 label_names: Sequence[str], *, multi_label: bool = False,
                 threshold: float | Sequence[float] = 0.5, long_text: Optional[LongTextSpec] = None):
        super().__init__(name="tfclf_serving")
        import tensorflow_hub as hub
        import tensorflow_text  # noqa: F401

        self.preprocessor = hub.load(preprocessor_path)
        self.classifier = classifier
        self.embedder = embedder
        self.seq_length = int(seq_length)
        self._long_text = long_text or LongTextSpec(seq_length=self.seq_length)
        self.multi_label = bool(multi_label)
        self.threshold = _thresholds(threshold, len(label_names))
        self.label_names = tf.constant(list(label_names), dtype=tf.string)

    def _features(self, text):
        return text_features(self.preprocessor, self.seq_length, text, self._long_text)

    @tf.function(input_signature=[TEXT_SPEC])
    def serve(self, text):
        logits = self.classifier(self._features(text), training=False)
        return classification_outputs(logits, self.label_names, multi_label=self.multi_label,
                                      threshold=self.threshold)

    @tf.function(input_signature=[TEXT_SPEC])
    def embed(self, text):
        return {"embedding": tf.cast(self.embedder(self._features(text), training=False), tf.float32)}


class IdsServingModule(tf.Module):
    """The trained classifier with token-id signatures, for runtimes without TF-Text ops.

    Args:
        classifier: ids -> ``[batch, C]`` logits.
        embedder: ids -> ``[batch, H]`` pooled vectors.
        label_names: the C labels in id order.
        multi_label: sigmoid per label and thresholded ``labels`` instead of softmax.
        threshold: multi-label decision threshold: one for every label, or one per label.
        chunked: the classifier takes ``[batch, windows, seq]`` inputs (``--long-text chunks``).
    """

    def __init__(self, classifier, embedder, label_names: Sequence[str], *, multi_label: bool = False,
                 threshold: float | Sequence[float] = 0.5, chunked: bool = False):
        super().__init__(name="tfclf_serving_ids")
        self.classifier = classifier
        self.embedder = embedder
        self.multi_label = bool(multi_label)
        self.threshold = _thresholds(threshold, len(label_names))
        self.label_names = tf.constant(list(label_names), dtype=tf.string)
        specs = CHUNKED_IDS_SPECS if chunked else IDS_SPECS
        self.serve = tf.function(self._serve, input_signature=specs)
        self.embed = tf.function(self._embed, input_signature=specs)

    def _serve(self, input_word_ids, input_mask, input_type_ids):
        features = dict(zip(INPUT_NAMES, (input_word_ids, input_mask, input_type_ids)))
        logits = self.classifier(features, training=False)
        return classification_outputs(logits, self.label_names, multi_label=self.multi_label,
                                      threshold=self.threshold)

    def _embed(self, input_word_ids, input_mask, input_type_ids):
        features = dict(zip(INPUT_NAMES, (input_word_ids, input_mask, input_type_ids)))
        return {"embedding": tf.cast(self.embedder(features, training=False), tf.float32)}


def write_saved_model(module: tf.Module, folder: Path, asset_files: Sequence[PathLike]) -> None:
    """Saves ``module`` with its two signatures into an existing ``folder`` and copies ``asset_files``.

    Callers write into a temporary folder they rename when done (``save_serving_model``,
    ``tf_serving.export_run``).
    """
    tf.saved_model.save(module, str(folder), signatures={SERVING_DEFAULT: module.serve,
                                                         EMBED: module.embed})
    (folder / ASSETS).mkdir(exist_ok=True)
    for f in asset_files:
        shutil.copy2(f, folder / ASSETS / Path(f).name)


def save_serving_model(module: tf.Module, path: PathLike,
                       asset_files: Sequence[PathLike] = ()) -> Path:
    """Writes ``module`` as a SavedModel at ``path`` via a temporary folder and rename.

    Args:
        module: a ``ServingModule`` or ``IdsServingModule``.
        path: target folder; must not exist.
        asset_files: files copied into ``assets/`` (labels.txt, config.yaml).

    Raises:
        TfclfError: ``path`` exists.
    """
    path = Path(path)
    try:
        with atomic.directory(path) as tmp:
            write_saved_model(module, tmp, asset_files)
    except FileExistsError:
        raise TfclfError(f"Refusing to overwrite existing SavedModel folder {str(path)!r}.") from None
    return path
