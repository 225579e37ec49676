"""Sentence embeddings for topic maps, from the encoders tfclf fine-tunes.

``--encoder`` is resolved as ``fit`` resolves it (``tfclf.encoders.resolve``: a registry
name such as the offline ``minilm``, a TF Hub URL, an encoder folder) and loaded through
the same ``hub.KerasLayer`` (``tfclf.model.build_embedder``, frozen), with the encoder's
own pooling (mean for MiniLM, as sentence-transformers pools it; the pooled output for
LaBSE and BERT). A tfclf run directory or exported SavedModel embeds with its ``embed``
signature instead: the fine-tuned encoder, at the run's sequence length.

Texts are embedded in batches sorted by length, each batch cut to its longest text, so
short texts cost little; the tokeniser runs outside the encoder as in training.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from tfclf.topics.config import TopicsConfig

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Embedder:
    """Texts -> ``[N, H] float32`` embeddings, and what made them.

    Attributes:
        describe: where the embeddings come from, for the report and the saved model.
        embed_batch: one batch of texts -> ``[batch, H]``.
        batch_size: texts per call.
    """

    describe: dict[str, Any]
    embed_batch: Callable[[list[str]], np.ndarray]
    batch_size: int

    def __call__(self, texts: Sequence[str], progress: Optional[Callable[[int], None]] = None) -> np.ndarray:
        """``[len(texts), H] float32``, in the order of ``texts``; ``progress(n)`` after each batch."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, 0), np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        parts = []
        for start in range(0, len(texts), self.batch_size):
            rows = order[start:start + self.batch_size]
            parts.append(np.asarray(self.embed_batch([texts[r] for r in rows]), np.float32))
            if progress is not None:
                progress(len(rows))
        out = np.empty((len(texts), parts[0].shape[1]), np.float32)
        out[order] = np.concatenate(parts)
        return out


def is_model_path(path: str) -> bool:
    """A tfclf run directory, tfclf SavedModel or TF Serving model folder (not a bare hub encoder)."""
    root = Path(path).expanduser()
    if not root.is_dir():
        return False
    candidates = [root, root / "saved_model",
                  *(d for d in root.iterdir() if d.name.isdigit() and d.is_dir())]
    return any((c / "saved_model.pb").is_file() and (c / "assets" / "labels.txt").is_file() for c in candidates)


def for_config(config: TopicsConfig) -> Embedder:
    """The embedder ``config.encoder`` names.

    Raises:
        TfclfError: an unknown encoder name, a missing folder, an unreachable handle, a
            SavedModel without an embed signature.
    """
    if is_model_path(config.encoder):
        return _from_model(config)
    return _from_encoder(config)


def _from_model(config: TopicsConfig) -> Embedder:
    from tfclf.errors import TfclfError
    from tfclf.serving.loaded import LoadedModel, resolve_model_path

    path = resolve_model_path(config.encoder, "--encoder")
    model = LoadedModel(path)
    if not hasattr(model, "_embed") or model._embed is None:
        raise TfclfError(f"--encoder {config.encoder!r}: the SavedModel has no 'embed' signature "
                         "(a tfclf run or export has one). Pass an encoder instead.")
    logger.info("Embedding with the fine-tuned encoder of %s (its embed signature).", path)

    def embed_batch(texts: list[str]) -> np.ndarray:
        return model.embed(texts, batch_size=len(texts))

    return Embedder({"kind": "model", "encoder": str(Path(config.encoder).expanduser().resolve()),
                     "saved_model": str(path)}, embed_batch, config.batch_size)


def _from_encoder(config: TopicsConfig) -> Embedder:
    import tensorflow as tf

    from tfclf import encoders
    from tfclf.data.pipeline import trim_to_longest
    from tfclf.model import build_embedder
    from tfclf.preprocessing import TextPreprocessor

    resolved = encoders.resolve(config.encoder, config.preprocessor, seq_length=config.seq_length,
                                pooling=config.pooling)
    preprocess = TextPreprocessor(resolved.preprocessor_path, resolved.seq_length)
    model = build_embedder(resolved.encoder_path, resolved.pooling)
    logger.info("Embedding with %s (%s pooling, %d tokens per text).", resolved.encoder_handle,
                resolved.pooling.value, resolved.seq_length)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], reduce_retracing=True)
    def embed(text):
        return model(trim_to_longest(preprocess(text)), training=False)

    def embed_batch(texts: list[str]) -> np.ndarray:
        return embed(tf.constant([t.encode("utf-8", errors="surrogateescape") for t in texts])).numpy()

    return Embedder({"kind": "encoder", "encoder": resolved.encoder_handle,
                     "preprocessor": resolved.preprocessor_handle, "seq_length": resolved.seq_length,
                     "pooling": resolved.pooling.value}, embed_batch, config.batch_size)
