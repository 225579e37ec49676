"""tf.data input pipelines: raw strings are tokenised inside tf.data, per batch.

Two sources, one tail (shuffle -> batch -> tokenise -> trim -> prefetch):

* ``make_dataset``: texts and labels held in memory (``from_tensor_slices``);
* ``stream_dataset``: a Python generator that yields chunks of (texts, labels) read
  from disk (``from_generator`` + ``unbatch``), so memory stays flat: one chunk, the
  shuffle buffer and a few prefetched batches.
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np


def _finish(ds, preprocess: Callable, *, batch_size: int, shuffle: bool, seed: int,
            shuffle_buffer: int, dynamic_padding: bool, labelled: bool):
    import tensorflow as tf

    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    def tokenize(text, *label):
        features = preprocess(text)
        if dynamic_padding:
            features = trim_to_longest(features)
        return (features, *label) if labelled else features

    return ds.map(tokenize, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def make_dataset(texts, label_ids, preprocess: Callable, *, batch_size: int, shuffle: bool,
                 seed: int, shuffle_buffer: int = 10000, dynamic_padding: bool = True):
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

    Returns:
        ``tf.data.Dataset`` of ``(features, label)`` (or ``features``) where features
        are ``input_word_ids``, ``input_mask``, ``input_type_ids``:
        ``[batch, <= seq_length] int32``; label: ``[batch] int64`` or ``[batch, C] float32``.
    """
    import tensorflow as tf

    texts = np.asarray(list(texts), dtype=object)
    if label_ids is None:
        ds = tf.data.Dataset.from_tensor_slices(texts)
    else:
        labels = np.asarray(label_ids)
        labels = labels.astype(np.float32 if labels.ndim == 2 else np.int64)
        ds = tf.data.Dataset.from_tensor_slices((texts, labels))
    return _finish(ds, preprocess, batch_size=batch_size, shuffle=shuffle, seed=seed,
                   shuffle_buffer=min(max(len(texts), 1), shuffle_buffer),
                   dynamic_padding=dynamic_padding, labelled=label_ids is not None)


def stream_dataset(chunks: Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]], rows: int,
                   preprocess: Callable, *, num_classes: int, multi_label: bool, batch_size: int,
                   shuffle: bool, seed: int, shuffle_buffer: int, dynamic_padding: bool = True):
    """Builds the input pipeline from a generator of chunks read from disk.

    Args:
        chunks: called once per epoch; yields ``(texts [n] object, labels)`` with labels
            ``[n] int64`` or ``[n, C] float32`` (multi-hot).
        rows: total rows the generator yields per epoch (checked, and lets Keras
            show progress).
        preprocess, batch_size, seed, dynamic_padding: as in ``make_dataset``.
        num_classes: C.
        multi_label: labels are multi-hot.
        shuffle: shuffle within a buffer of ``shuffle_buffer`` rows.
        shuffle_buffer: rows held for shuffling; memory is bounded by it.

    Returns:
        ``tf.data.Dataset`` as ``make_dataset``.
    """
    import tensorflow as tf

    label_spec = (tf.TensorSpec([None, num_classes], tf.float32) if multi_label
                  else tf.TensorSpec([None], tf.int64))
    ds = tf.data.Dataset.from_generator(
        chunks, output_signature=(tf.TensorSpec([None], tf.string), label_spec))
    ds = ds.unbatch().apply(tf.data.experimental.assert_cardinality(rows))
    return _finish(ds, preprocess, batch_size=batch_size, shuffle=shuffle, seed=seed,
                   shuffle_buffer=shuffle_buffer, dynamic_padding=dynamic_padding, labelled=True)


def trim_to_longest(features):
    """Cuts BERT inputs ``[batch, seq]`` to the longest row in the batch (rows are left-aligned)."""
    import tensorflow as tf

    length = tf.reduce_max(tf.reduce_sum(tf.cast(features["input_mask"], tf.int32), axis=1))
    return {k: v[:, :length] for k, v in features.items()}
