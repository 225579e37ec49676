"""tf.data input pipelines: raw strings are tokenised inside tf.data, per batch.

Two sources, one tail: shuffle -> batch -> tokenise -> trim -> prefetch. Training
batches can instead be grouped by token length, so that each batch holds texts of
similar length and pays only for the tokens it has (``length_grouping``):

* ``windows``: shuffle -> windows of ``sort_window`` batches' rows -> tokenise and
  sort each window by length -> unbatch -> batch -> trim -> shuffle the batches. This
  is the HF Trainer's ``group_by_length``. It needs no lengths up front, so streamed
  splits use it too, and it keeps ``ceil(N / batch)`` batches per epoch;
* ``buckets``: shuffle -> tokenise in chunks -> unbatch -> ``bucket_by_sequence_length``
  -> trim. In memory only: the epoch's batch count comes from the texts' lengths.

With ``--long-text chunks`` the features are ``[batch, windows, seq]`` and training
batches are made by total windows instead (``window_batches``): shuffle -> tokenise in
chunks -> unbatch -> ``bucket_by_sequence_length`` keyed on each document's window
count ``k``, ``max(1, batch_windows // k)`` documents per batch -> trim. A batch then
holds at most ``max(batch_windows, max_chunks)`` windows of ``seq_length`` tokens: the
encoder's activation memory of a truncate batch of that many texts. Validation, test
and prediction batch ``batch_size`` documents in row order.

The sources:

* ``make_dataset``: texts and labels held in memory (``from_tensor_slices``);
* ``stream_dataset``: a Python generator that yields chunks of (texts, labels) read
  from disk (``from_generator`` + ``unbatch``), so memory stays flat: one chunk, the
  shuffle buffer and a few prefetched batches.
"""
from __future__ import annotations

from typing import Callable, Iterator, Optional, Sequence

import numpy as np

from tfclf.config import LengthGrouping


# Rows tokenised per call when bucketing (one tokeniser call per chunk, not per row).
TOKENIZE_CHUNK = 1024


def bucket_bounds(length_buckets: Sequence[int], seq_length: int) -> list[int]:
    """The upper token lengths of the buckets in use: those below ``seq_length``, then ``seq_length``."""
    return sorted({int(b) for b in length_buckets if 0 < b < seq_length} | {int(seq_length)})


def bucketed_batches(lengths: np.ndarray, bounds: Sequence[int], batch_size: int) -> int:
    """Batches per epoch of ``bucket_by_sequence_length``: each bucket yields ceil(rows / batch).

    Args:
        lengths: ``[N]`` token lengths (``input_mask`` sums, so at most ``bounds[-1]``).
        bounds: ``bucket_bounds(...)``.
        batch_size: rows per batch.
    """
    bucket = np.searchsorted(np.asarray(bounds), np.asarray(lengths), side="left")
    return int(sum(-(-int(n) // batch_size) for n in np.bincount(bucket) if n))


def token_lengths(texts, preprocess: Callable) -> np.ndarray:
    """``[N]`` int64 non-padding tokens per text after truncation, as the pipeline packs them."""
    import tensorflow as tf

    texts = np.asarray(list(texts), dtype=object)
    if not len(texts):
        return np.zeros(0, dtype=np.int64)
    ds = (tf.data.Dataset.from_tensor_slices(texts).batch(TOKENIZE_CHUNK)
          .map(lambda t: tf.reduce_sum(tf.cast(preprocess(t)["input_mask"], tf.int64), axis=1),
               num_parallel_calls=tf.data.AUTOTUNE))
    return np.concatenate(list(ds.as_numpy_iterator()))


LENGTH_GROUPINGS = tuple(g.value for g in LengthGrouping)


def _sorted_windows(ds, preprocess: Callable, *, batch_size: int, sort_window: int, seed: int,
                    rows: Optional[int]):
    """Batches of similar token length from a shuffled dataset of ``(text, label)`` rows.

    Each window of ``sort_window * batch_size`` rows is tokenised in one call, sorted by
    token length and cut into batches, each trimmed to its longest row; the batches are
    then shuffled within a buffer of one window. Windows are whole multiples of the
    batch, so no batch spans two windows and an epoch has ``ceil(rows / batch_size)``
    (set as the cardinality unless ``rows`` is None: unknown).
    """
    import tensorflow as tf

    def tokenize_and_sort(text, label):
        features = preprocess(text)
        lengths = tf.reduce_sum(tf.cast(features["input_mask"], tf.int32), axis=1)
        order = tf.argsort(lengths, stable=True)
        return {k: tf.gather(v, order) for k, v in features.items()}, tf.gather(label, order)

    def trim(features, label):
        return trim_to_longest(features), label

    ds = (ds.batch(sort_window * batch_size)
          .map(tokenize_and_sort, num_parallel_calls=tf.data.AUTOTUNE)
          .unbatch()
          .batch(batch_size)
          .map(trim, num_parallel_calls=tf.data.AUTOTUNE)
          .shuffle(sort_window, seed=seed, reshuffle_each_iteration=True))
    if rows is None:
        return ds
    return ds.apply(tf.data.experimental.assert_cardinality(-(-rows // batch_size)))


def window_batch_sizes(batch_windows: int, max_chunks: int) -> list[int]:
    """Documents per training batch for documents of 1..max_chunks windows: ``max(1, budget // k)``."""
    return [max(1, batch_windows // k) for k in range(1, max_chunks + 1)]


def window_batch_count(windows: np.ndarray, batch_windows: int, max_chunks: int) -> int:
    """Training batches per epoch of ``window_batches`` for documents of ``windows`` ``[N]`` windows."""
    sizes = window_batch_sizes(batch_windows, max_chunks)
    counts = np.bincount(np.clip(np.asarray(windows, dtype=np.int64), 1, max_chunks) - 1,
                         minlength=max_chunks)
    return int(sum(-(-int(n) // size) for n, size in zip(counts, sizes)))


def document_windows(texts, preprocess: Callable, batch: int = TOKENIZE_CHUNK) -> np.ndarray:
    """``[N]`` windows per text under ``preprocess.long_text`` (texts: any iterable of str)."""
    import tensorflow as tf

    spec, out, buf = preprocess.long_text, [], []

    def flush():
        if buf:
            out.append(spec.windows(preprocess.token_lengths(tf.constant(buf)).numpy() - 2))
            buf.clear()

    for text in texts:
        buf.append(text)
        if len(buf) == batch:
            flush()
    flush()
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def window_batches(ds, preprocess: Callable, *, batch_windows: int, batches: Optional[int] = None):
    """Training batches of whole documents by total windows (``--long-text chunks``).

    Args:
        ds: shuffled ``(text, label)`` rows.
        preprocess: a chunking ``TextPreprocessor`` (features ``[batch, windows, seq]``).
        batch_windows: the window budget per batch; documents of ``k`` windows are
            batched ``max(1, batch_windows // k)`` at a time.
        batches: batches per epoch, when known (``window_batch_count``).
    """
    import tensorflow as tf

    max_chunks = preprocess.long_text.max_chunks

    def tokenize_chunk(text, *label):
        return (preprocess(text), *label)

    def windows(features, *label):
        return tf.reduce_sum(tf.cast(tf.reduce_any(features["input_mask"] > 0, axis=-1), tf.int32))

    def trim(features, *label):
        return (trim_to_longest(features), *label)

    # Bucket k - 1 holds the documents of exactly k windows (boundaries 2..max_chunks).
    ds = (ds.batch(TOKENIZE_CHUNK)
          .map(tokenize_chunk, num_parallel_calls=tf.data.AUTOTUNE)
          .unbatch()
          .bucket_by_sequence_length(windows, list(range(2, max_chunks + 1)),
                                     window_batch_sizes(batch_windows, max_chunks))
          .map(trim, num_parallel_calls=tf.data.AUTOTUNE))
    if batches is not None:
        ds = ds.apply(tf.data.experimental.assert_cardinality(batches))
    return ds.prefetch(tf.data.AUTOTUNE)


def _finish(ds, preprocess: Callable, *, batch_size: int, shuffle: bool, seed: int,
            shuffle_buffer: int, dynamic_padding: bool, labelled: bool,
            bounds: Optional[Sequence[int]] = None, batches: Optional[int] = None,
            sort_window: int = 0, rows: Optional[int] = 0, batch_windows: Optional[int] = None):
    import tensorflow as tf

    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if batch_windows:
        return window_batches(ds, preprocess, batch_windows=batch_windows, batches=batches)
    if sort_window and rows != 0:  # rows None: unknown
        return _sorted_windows(ds, preprocess, batch_size=batch_size, sort_window=sort_window,
                               seed=seed, rows=rows).prefetch(tf.data.AUTOTUNE)
    if bounds:
        def tokenize_chunk(text, *label):
            return (preprocess(text), *label)

        def length(features, *label):
            return tf.reduce_sum(tf.cast(features["input_mask"], tf.int32))

        def trim(features, *label):
            return (trim_to_longest(features), *label)

        # Bucket i holds lengths in (bounds[i-1], bounds[i]]; every row is packed to
        # seq_length, so batches need no padding: trim cuts them to their longest row.
        ds = (ds.batch(TOKENIZE_CHUNK)
              .map(tokenize_chunk, num_parallel_calls=tf.data.AUTOTUNE)
              .unbatch()
              .bucket_by_sequence_length(length, [b + 1 for b in bounds[:-1]],
                                         [batch_size] * len(bounds), no_padding=True)
              .map(trim, num_parallel_calls=tf.data.AUTOTUNE))
        if batches is not None:  # known from the texts' lengths; Keras shows progress with it
            ds = ds.apply(tf.data.experimental.assert_cardinality(batches))
        return ds.prefetch(tf.data.AUTOTUNE)
    ds = ds.batch(batch_size)

    def tokenize(text, *label):
        features = preprocess(text)
        if dynamic_padding:
            features = trim_to_longest(features)
        return (features, *label) if labelled else features

    return ds.map(tokenize, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _check_grouping(length_grouping: str, sort_window: int, length_buckets: Optional[Sequence[int]]) -> None:
    """Raises TfclfError for an unknown grouping or its missing setting (buckets: None skips)."""
    from tfclf.errors import TfclfError

    if length_grouping not in LENGTH_GROUPINGS:
        raise TfclfError(f"--length-grouping must be one of {list(LENGTH_GROUPINGS)}. "
                         f"Received: {length_grouping!r}")
    if length_grouping == "windows" and sort_window < 1:
        raise TfclfError(f"--length-grouping windows needs --sort-window >= 1. Received: {sort_window}")
    if length_grouping == "buckets" and length_buckets is not None and not length_buckets:
        raise TfclfError("--length-grouping buckets needs --length-buckets (e.g. 16,32,64,128). Received: none")


def _groups(length_grouping: str, shuffle: bool, dynamic_padding: bool, labelled: bool) -> str:
    """The grouping in effect: only shuffled (training), labelled, dynamically padded batches."""
    return length_grouping if shuffle and dynamic_padding and labelled else "none"


def make_dataset(texts, label_ids, preprocess: Callable, *, batch_size: int, shuffle: bool,
                 seed: int, shuffle_buffer: int = 10000, dynamic_padding: bool = True,
                 length_grouping: str = "none", sort_window: int = 50,
                 length_buckets: Sequence[int] = (), batch_windows: Optional[int] = None):
    """Builds the input pipeline from texts in memory.

    Args:
        texts: sequence of N strings.
        label_ids: int array [N] (single-label), float array [N, C] (multi-hot), or
            None for unlabelled data.
        preprocess: maps ``[batch] tf.string`` to the BERT input dict of
            ``[batch, seq_length] int32`` tensors (``preprocessing.TextPreprocessor``).
        batch_size: examples per batch.
        shuffle: reshuffle every epoch (training).
        seed: shuffle seed.
        shuffle_buffer: bound on rows held for shuffling.
        dynamic_padding: trim each batch to its longest row, so short texts do not
            pay for --seq-length tokens.
        length_grouping: with ``shuffle``, ``dynamic_padding`` and labels, batch rows of
            similar token length: ``windows`` (sort windows of ``sort_window``
            batches), ``buckets`` (``length_buckets``) or ``none`` (random batches);
            see the module docstring. Unshuffled datasets keep the row order.
        sort_window: batches per sorted window (``windows``).
        length_buckets: upper token lengths of the buckets (``buckets``); those >=
            ``preprocess.seq_length`` fold into one last bucket. The batch count per
            epoch, which no longer is ``ceil(N / batch_size)``, is computed from the
            texts' token lengths and set as the dataset's cardinality.
        batch_windows: with a chunking ``preprocess`` (``--long-text chunks``), shuffled
            and labelled: training batches hold at most this many windows (default
            ``batch_size``) and ``length_grouping`` is not used; see the module docstring.

    Returns:
        ``tf.data.Dataset`` of ``(features, label)`` (or ``features``) where features
        are ``input_word_ids``, ``input_mask``, ``input_type_ids``:
        ``[batch, <= seq_length] int32`` (chunks: ``[batch, <= windows, <= seq_length]``);
        label: ``[batch] int64`` or ``[batch, C] float32``.
    """
    import tensorflow as tf

    texts = np.asarray(list(texts), dtype=object)
    if label_ids is None:
        ds = tf.data.Dataset.from_tensor_slices(texts)
    else:
        labels = np.asarray(label_ids)
        labels = labels.astype(np.float32 if labels.ndim == 2 else np.int64)
        ds = tf.data.Dataset.from_tensor_slices((texts, labels))
    _check_grouping(length_grouping, sort_window, length_buckets)
    grouping = _groups(length_grouping, shuffle, dynamic_padding, label_ids is not None)
    bounds, batches = None, None
    budget = _window_budget(preprocess, shuffle, label_ids is not None, batch_size, batch_windows)
    if budget:
        grouping = "none"
        if len(texts):
            batches = window_batch_count(document_windows(texts, preprocess), budget,
                                         preprocess.long_text.max_chunks)
    if grouping == "buckets" and len(texts):
        lengths = token_lengths(texts, preprocess)
        bounds = bucket_bounds(length_buckets, getattr(preprocess, "seq_length", None) or int(lengths.max()))
        batches = bucketed_batches(lengths, bounds, batch_size)
    return _finish(ds, preprocess, batch_size=batch_size, shuffle=shuffle, seed=seed,
                   shuffle_buffer=min(max(len(texts), 1), shuffle_buffer),
                   dynamic_padding=dynamic_padding, labelled=label_ids is not None,
                   bounds=bounds, batches=batches,
                   sort_window=sort_window if grouping == "windows" else 0, rows=len(texts),
                   batch_windows=budget)


def _window_budget(preprocess, shuffle: bool, labelled: bool, batch_size: int,
                   batch_windows: Optional[int]) -> Optional[int]:
    """The window budget of training batches, or None (not chunking, or not training)."""
    if not (getattr(preprocess, "chunked", False) and shuffle and labelled):
        return None
    return int(batch_windows or batch_size)


def stream_dataset(chunks: Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]], rows: Optional[int],
                   preprocess: Callable, *, num_classes: int, multi_label: bool, batch_size: int,
                   shuffle: bool, seed: int, shuffle_buffer: int, dynamic_padding: bool = True,
                   length_grouping: str = "none", sort_window: int = 50,
                   batch_windows: Optional[int] = None):
    """Builds the input pipeline from a generator of chunks read from disk.

    Args:
        chunks: called once per epoch; yields ``(texts [n] object, labels)`` with labels
            ``[n] int64`` or ``[n, C] float32`` (multi-hot).
        rows: total rows the generator yields per epoch (checked, and lets Keras
            show progress), or None when unknown (one worker's files, ``file_shard``).
        preprocess, batch_size, seed, dynamic_padding: as in ``make_dataset``.
        num_classes: C.
        multi_label: labels are multi-hot.
        shuffle: shuffle within a buffer of ``shuffle_buffer`` rows.
        shuffle_buffer: rows held for shuffling; memory is bounded by it.
        length_grouping, sort_window: as in ``make_dataset``, except that ``buckets``
            needs the lengths up front and so is not available (random batches); a
            window adds ``sort_window * batch_size`` rows to memory.
        batch_windows: as in ``make_dataset``; the epoch's batch count then comes from
            one extra tokenising pass over the split.

    Returns:
        ``tf.data.Dataset`` as ``make_dataset``.
    """
    import tensorflow as tf

    label_spec = (tf.TensorSpec([None, num_classes], tf.float32) if multi_label
                  else tf.TensorSpec([None], tf.int64))
    ds = tf.data.Dataset.from_generator(
        chunks, output_signature=(tf.TensorSpec([None], tf.string), label_spec))
    ds = ds.unbatch()
    if rows is not None:
        ds = ds.apply(tf.data.experimental.assert_cardinality(rows))
    _check_grouping(length_grouping, sort_window, None)  # buckets: random batches here
    windows = _groups(length_grouping, shuffle, dynamic_padding, True) == "windows"
    budget = _window_budget(preprocess, shuffle, True, batch_size, batch_windows)
    batches = None
    if budget:
        windows = False
        counts = document_windows((t.decode("utf-8") if isinstance(t, bytes) else t
                                   for texts, _ in chunks() for t in texts), preprocess)
        batches = window_batch_count(counts, budget, preprocess.long_text.max_chunks)
    return _finish(ds, preprocess, batch_size=batch_size, shuffle=shuffle, seed=seed,
                   shuffle_buffer=shuffle_buffer, dynamic_padding=dynamic_padding, labelled=True,
                   sort_window=sort_window if windows else 0, rows=rows, batch_windows=budget,
                   batches=batches)


def trim_to_longest(features):
    """Cuts BERT inputs ``[batch, seq]`` to the longest row in the batch (rows are left-aligned).

    Chunked inputs ``[batch, windows, seq]`` are also cut to the batch's most windows.
    """
    import tensorflow as tf

    mask = features["input_mask"]
    length = tf.reduce_max(tf.reduce_sum(tf.cast(mask, tf.int32), axis=-1))
    if mask.shape.rank == 3:
        windows = tf.reduce_max(tf.reduce_sum(tf.cast(tf.reduce_any(mask > 0, axis=-1), tf.int32), axis=1))
        return {k: v[:, :windows, :length] for k, v in features.items()}
    return {k: v[:, :length] for k, v in features.items()}
