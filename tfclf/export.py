"""SavedModels that take raw strings: for ``tfclf.load`` and for TF Serving.

Signatures of every SavedModel written here:

``serving_default(text)``
    text: ``[batch] tf.string``, raw UTF-8 texts.
    Returns
      * ``probabilities``: ``[batch, C] float32``, softmax over the labels in
        ``assets/labels.txt`` order;
      * ``label``: ``[batch] tf.string``, the most probable label;
      * ``label_id``: ``[batch] int64``, its index;
      * ``confidence``: ``[batch] float32``, its probability.

``embed(text)``
    text: ``[batch] tf.string``.
    Returns ``embedding``: ``[batch, H] float32``, the pooled sentence vector.

The graph contains TF-Text ops (``CaseFoldUTF8``, ``WordpieceTokenizeWithOffsets``, ...):
import ``tensorflow_text`` before ``tf.saved_model.load``, as ``tfclf.load`` does.
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import tensorflow as tf

from tfclf import atomic
from tfclf.data import trim_to_longest
from tfclf.errors import TfclfError

logger = logging.getLogger(__name__)

SAVED_MODEL_DIR = "saved_model"


class ServingModule(tf.Module):
    """Preprocessor + trained classifier, as one tf.Module with string signatures.

    Args:
        preprocessor_path: local TF Hub preprocessor folder.
        seq_length: maximum tokens per text.
        classifier: ids -> ``[batch, C]`` logits.
        embedder: ids -> ``[batch, H]`` pooled vectors.
        label_names: the C labels in id order.
    """

    def __init__(self, preprocessor_path: str, seq_length: int, classifier, embedder,
                 label_names: Sequence[str]):
        super().__init__(name="tfclf_serving")
        import tensorflow_hub as hub
        import tensorflow_text  # noqa: F401

        self.preprocessor = hub.load(preprocessor_path)
        self.classifier = classifier
        self.embedder = embedder
        self.seq_length = int(seq_length)
        self.label_names = tf.constant(list(label_names), dtype=tf.string)

    def _features(self, text):
        tokens = self.preprocessor.tokenize(text)
        packed = self.preprocessor.bert_pack_inputs([tokens], seq_length=self.seq_length)
        return trim_to_longest(packed)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        logits = self.classifier(self._features(text), training=False)
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return {
            "probabilities": probabilities,
            "label": tf.gather(self.label_names, label_id),
            "label_id": label_id,
            "confidence": tf.reduce_max(probabilities, axis=-1),
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def embed(self, text):
        return {"embedding": tf.cast(self.embedder(self._features(text), training=False), tf.float32)}


def save_serving_model(module: ServingModule, path: Union[str, os.PathLike],
                       asset_files: Sequence[Union[str, os.PathLike]] = ()) -> Path:
    """Writes ``module`` as a SavedModel at ``path`` via a temporary folder and rename.

    Args:
        module: what to save.
        path: target folder; must not exist.
        asset_files: files copied into ``assets/`` (labels.txt, config.yaml).
    """
    path = Path(path)
    try:
        with atomic.directory(path) as tmp:
            tf.saved_model.save(module, str(tmp), signatures={"serving_default": module.serve,
                                                              "embed": module.embed})
            for f in asset_files:
                shutil.copy2(f, tmp / "assets" / Path(f).name)
    except FileExistsError:
        raise TfclfError(f"Refusing to overwrite existing SavedModel folder {str(path)!r}.") from None
    return path


class LoadedModel:
    """A saved tfclf model that predicts raw strings.

    Example::

        model = tfclf.load("runs/demo")
        labels, probabilities = model.predict(["my card was charged twice"])
    """

    def __init__(self, path: Union[str, os.PathLike]):
        import tensorflow_text  # noqa: F401  (registers ops before the graph is loaded)

        root = Path(path)
        saved = root / SAVED_MODEL_DIR if (root / SAVED_MODEL_DIR).is_dir() else root
        if not (saved / "saved_model.pb").is_file():
            raise TfclfError(f"{str(path)!r} is neither a tfclf run directory nor a SavedModel folder.")
        self.path = saved
        self._module = tf.saved_model.load(str(saved))
        self._serve = self._module.signatures["serving_default"]
        labels_file = saved / "assets" / "labels.txt"
        self.label_names = labels_file.read_text(encoding="utf-8").splitlines()

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> tuple[list[str], np.ndarray]:
        """Classifies texts.

        Returns:
            (labels, probabilities): N label strings and an ``[N, C]`` float32 array
            whose columns follow ``self.label_names``.
        """
        texts = list(texts)
        probs = [self._serve(text=tf.constant(texts[i:i + batch_size], dtype=tf.string))["probabilities"].numpy()
                 for i in range(0, len(texts), batch_size)]
        probabilities = np.concatenate(probs) if probs else np.zeros((0, len(self.label_names)), np.float32)
        return [self.label_names[i] for i in probabilities.argmax(axis=-1)], probabilities


def load(path: Union[str, os.PathLike]) -> LoadedModel:
    """Loads a run directory (or its SavedModel) for prediction on raw strings."""
    return LoadedModel(path)
