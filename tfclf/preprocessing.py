"""Raw strings -> BERT input ids with a TF Hub preprocessor SavedModel.

The preprocessor runs in tf.data (training) and inside the serving function
(export), never inside the trained Keras graph: TF-Text ops cannot be
XLA-compiled, and keeping them out lets the id-taking model use ``jit_compile``.
"""
from __future__ import annotations

import logging
from typing import Optional

from tfclf.long_text import LongTextSpec

logger = logging.getLogger(__name__)


class TextPreprocessor:
    """Wraps a hub preprocessor's ``tokenize`` and ``bert_pack_inputs`` at a fixed length.

    Args:
        handle: local folder (already resolved) of a TF Hub BERT preprocessor.
        seq_length: tokens per text, [CLS] and [SEP] included.
        long_text: how longer texts are read (``tfclf.long_text``); default: truncated.
    """

    def __init__(self, handle: str, seq_length: int, long_text: Optional[LongTextSpec] = None):
        import tensorflow_hub as hub
        import tensorflow_text  # noqa: F401  (registers the TF-Text ops the SavedModel uses)

        self.handle = handle
        self.seq_length = int(seq_length)
        self.long_text = long_text or LongTextSpec(seq_length=self.seq_length)
        if self.long_text.seq_length != self.seq_length:
            raise ValueError(f"long_text.seq_length {self.long_text.seq_length} != seq_length {seq_length}")
        self.module = hub.load(handle)
        for name in ("tokenize", "bert_pack_inputs"):
            if not hasattr(self.module, name):
                from tfclf.errors import TfclfError

                raise TfclfError(
                    f"--preprocessor {handle!r} has no {name!r} function; it must be a TF Hub BERT "
                    "preprocessor (for example bert_en_uncased_preprocess/3).")

    def tokenize(self, texts):
        """``[batch] tf.string`` -> RaggedTensor ``[batch, (words), (wordpieces)] int32``."""
        return self.module.tokenize(texts)

    @property
    def chunked(self) -> bool:
        """Features are ``[batch, windows, seq_length]`` (``--long-text chunks``)."""
        return self.long_text.chunked

    def __call__(self, texts):
        """``[batch] tf.string`` -> dict of BERT inputs: ``[batch, seq_length] int32``, or
        ``[batch, windows, seq_length] int32`` with ``--long-text chunks``."""
        return self.long_text.pack(self.module, self.tokenize(texts))

    def token_lengths(self, texts):
        """``[batch] tf.string`` -> ``[batch] int64`` length with [CLS] and [SEP], before truncation."""
        tokens = self.tokenize(texts)
        return tokens.merge_dims(1, -1).row_lengths() + 2
