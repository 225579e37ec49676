"""Long documents: how a text longer than ``--seq-length`` reaches the encoder (``--long-text``).

``L = seq_length - 2`` wordpieces fit between ``[CLS]`` and ``[SEP]``. A text of ``n``
wordpieces is read as:

* ``truncate``: its first ``L`` wordpieces;
* ``head-tail``: its first ``H = head_tokens`` and its last ``L - H`` wordpieces
  (all of it when ``n <= L``); Sun et al. 2019 found this the best single window for
  long reviews;
* ``chunks``: windows of ``L`` wordpieces starting every ``step = L - chunk_stride``
  wordpieces (consecutive windows share ``chunk_stride``), ``1 + ceil((n - L) / step)``
  of them, at most ``max_chunks`` counted from the start. Each window is packed as a
  text of its own (``[CLS] window [SEP]``); the model encodes every window and pools
  a document's window vectors into one (``tfclf.model``).

All of it is TF ops on the hub preprocessor's ``tokenize`` output (RaggedTensor
``row_lengths``/``gather``, ``tf.ragged.range``) followed by its own
``bert_pack_inputs``, so the ``tf.data`` pipeline and the served SavedModel compute
the same features from the same strings, and a served graph needs no op beyond those
of truncation: the preprocessor's TF-Text tokenizer ops and core TF.

Features: ``truncate`` and ``head-tail`` give the usual BERT inputs
``[batch, seq] int32``; ``chunks`` gives ``[batch, windows, seq] int32``, padded with
all-zero windows (``input_mask`` all 0) up to the batch's longest document.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from tfclf.config import LongText, ModelConfig
from tfclf.errors import TfclfError


@dataclasses.dataclass(frozen=True)
class LongTextSpec:
    """A resolved ``--long-text`` setting at a known ``seq_length``.

    Attributes:
        mode: truncate, head-tail or chunks.
        seq_length: tokens per packed text or window, [CLS] and [SEP] included.
        head_tokens: head-tail: wordpieces kept from the start (``<= seq_length - 2``).
        chunk_stride: chunks: wordpieces shared by consecutive windows (``< seq_length - 2``).
        max_chunks: chunks: windows per document at most.
    """

    mode: LongText = LongText.TRUNCATE
    seq_length: int = 128
    head_tokens: int = 0
    chunk_stride: int = 0
    max_chunks: int = 8

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", LongText(self.mode))
        content = self.seq_length - 2
        if content < 1:
            raise TfclfError(f"--seq-length must be at least 3. Received: seq_length={self.seq_length}")
        if not 0 <= self.head_tokens <= content:
            raise TfclfError(f"--head-tokens must be in [0, seq_length - 2 = {content}]. "
                             f"Received: head_tokens={self.head_tokens}")
        if not 0 <= self.chunk_stride < content:
            raise TfclfError(f"--chunk-stride must be in [0, seq_length - 2 = {content}). "
                             f"Received: chunk_stride={self.chunk_stride}")
        if self.max_chunks < 1:
            raise TfclfError(f"--max-chunks must be >= 1. Received: max_chunks={self.max_chunks}")

    @classmethod
    def from_config(cls, model: ModelConfig, seq_length: Optional[int] = None) -> "LongTextSpec":
        """The spec of a model config; ``seq_length`` overrides ``model.seq_length`` (resolved)."""
        seq = int(seq_length or model.seq_length or 0)
        if not seq:
            raise TfclfError("--long-text needs a resolved --seq-length. Received: seq_length=None")
        head = model.head_tokens if model.head_tokens is not None else (seq - 2) // 4
        return cls(mode=LongText(model.long_text), seq_length=seq, head_tokens=int(head),
                   chunk_stride=int(model.chunk_stride), max_chunks=int(model.max_chunks))

    @property
    def content(self) -> int:
        """Wordpieces per packed text or window: ``seq_length - 2``."""
        return self.seq_length - 2

    @property
    def step(self) -> int:
        """chunks: wordpieces between the starts of consecutive windows."""
        return self.content - self.chunk_stride

    @property
    def chunked(self) -> bool:
        """Features are ``[batch, windows, seq]`` and the model pools windows."""
        return self.mode is LongText.CHUNKS

    # ------------------------------------------------------------------ counting (NumPy)

    def windows(self, wordpieces) -> np.ndarray:
        """``[N]`` windows per document of ``wordpieces`` (``[N]`` counts, no [CLS]/[SEP]).

        One for every mode but chunks; for chunks ``1 + ceil((n - L) / step)``, capped at
        ``max_chunks`` (an empty text has one window of ``[CLS] [SEP]``).
        """
        n = np.asarray(wordpieces, dtype=np.int64)
        if not self.chunked:
            return np.ones_like(n)
        extra = np.maximum(n - self.content, 0)
        return np.minimum(1 + -(-extra // self.step), self.max_chunks)

    def dropped(self, wordpieces) -> np.ndarray:
        """``[N]`` wordpieces of each document the encoder never sees in this mode.

        truncate and head-tail drop the same number (the tail, or the middle); chunks
        drop what lies past the last of ``max_chunks`` windows.
        """
        n = np.asarray(wordpieces, dtype=np.int64)
        if not self.chunked:
            return np.maximum(n - self.content, 0)
        covered = (self.windows(n) - 1) * self.step + self.content
        return np.maximum(n - covered, 0)

    # ------------------------------------------------------------------ features (TF graph)

    def pack(self, preprocessor, tokens):
        """Tokenised texts -> encoder features, in TF ops (tf.data and serving graphs alike).

        Args:
            preprocessor: a loaded TF Hub BERT preprocessor (``bert_pack_inputs``).
            tokens: its ``tokenize`` output, RaggedTensor ``[batch, (words), (wordpieces)] int32``.

        Returns:
            dict of ``input_word_ids``, ``input_mask``, ``input_type_ids``:
            ``[batch, seq_length] int32``, or ``[batch, windows, seq_length] int32`` for chunks.
        """
        import tensorflow as tf

        if self.mode is LongText.TRUNCATE:
            return preprocessor.bert_pack_inputs([tokens], seq_length=self.seq_length)
        flat = tokens.merge_dims(1, -1) if tokens.ragged_rank > 1 else tokens
        if self.mode is LongText.HEAD_TAIL:
            return preprocessor.bert_pack_inputs([_as_words(head_tail(flat, self))],
                                                 seq_length=self.seq_length)
        windows, counts = split_windows(flat, self)
        packed = preprocessor.bert_pack_inputs([_as_words(windows)], seq_length=self.seq_length)
        return {k: tf.RaggedTensor.from_row_lengths(v, counts).to_tensor() for k, v in packed.items()}


def _as_words(flat):
    """``[batch, (wordpieces)]`` -> ``[batch, (words), (1)]``, the rank ``bert_pack_inputs`` documents."""
    import tensorflow as tf

    return tf.RaggedTensor.from_nested_row_lengths(
        flat.flat_values, [flat.row_lengths(), tf.ones_like(flat.flat_values, dtype=flat.row_splits.dtype)])


def head_tail(flat, spec: LongTextSpec):
    """``[batch, (n)]`` wordpieces -> ``[batch, (<= L)]``: the first H and the last L - H of each."""
    import tensorflow as tf

    n = flat.row_lengths()
    positions = tf.ragged.range(n)
    tail_start = n - (spec.content - spec.head_tokens)  # a row of n <= L keeps every position
    keep = (positions < spec.head_tokens) | (positions >= tf.expand_dims(tail_start, 1))
    return tf.ragged.boolean_mask(flat, keep)


def split_windows(flat, spec: LongTextSpec):
    """``[batch, (n)]`` wordpieces -> (windows ``[W, (<= L)]``, windows per document ``[batch] int64``).

    Document ``d``'s window ``k`` holds its wordpieces ``[k * step, min(k * step + L, n_d))``;
    windows are listed document by document.
    """
    import tensorflow as tf

    n = flat.row_lengths()
    extra = tf.maximum(n - spec.content, 0)
    counts = tf.minimum(1 + (extra + spec.step - 1) // spec.step, spec.max_chunks)
    doc = tf.repeat(tf.range(tf.size(n, out_type=n.dtype), dtype=n.dtype), counts)
    k = tf.ragged.range(counts).flat_values
    begin = k * spec.step
    end = tf.minimum(begin + spec.content, tf.gather(n, doc))
    offsets = tf.gather(flat.row_starts(), doc)
    index = tf.ragged.range(offsets + begin, offsets + tf.maximum(end, begin))
    windows = tf.RaggedTensor.from_row_splits(tf.gather(flat.flat_values, index.flat_values),
                                              index.row_splits)
    return windows, counts
