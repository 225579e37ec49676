"""tf.data pipelines: batching, tokenisation in the pipeline, trimming, streaming from chunks."""
import numpy as np
import pytest

from tfclf import data


def fake_preprocess(text):
    """Stands in for the hub preprocessor: length = number of words + 2, padded to 16."""
    import tensorflow as tf

    words = tf.strings.split(text)
    seq = tf.sequence_mask(words.row_lengths() + 2, 16, dtype=tf.int32)
    return {"input_word_ids": seq * 7, "input_mask": seq, "input_type_ids": tf.zeros_like(seq)}


def test_make_dataset_batches_and_trims():
    ds = data.make_dataset(["a b", "a", "a b c d"], np.array([0, 1, 0]), fake_preprocess,
                           batch_size=2, shuffle=False, seed=0)
    batches = list(ds)
    assert [b[0]["input_mask"].shape.as_list() for b in batches] == [[2, 4], [1, 6]]
    assert batches[0][1].numpy().tolist() == [0, 1]
    full = data.make_dataset(["a"], None, fake_preprocess, batch_size=2, shuffle=False, seed=0,
                             dynamic_padding=False)
    assert next(iter(full))["input_mask"].shape.as_list() == [1, 16]


def test_make_dataset_multi_hot_targets():
    y = np.array([[1, 0, 1], [0, 0, 0]], dtype=np.float32)
    (_, targets), = list(data.make_dataset(["a", "b"], y, fake_preprocess, batch_size=2, shuffle=False, seed=0))
    assert targets.dtype.name == "float32" and targets.numpy().tolist() == y.tolist()


def chunks_of(n, size):
    def generate():
        for start in range(0, n, size):
            idx = np.arange(start, min(n, start + size))
            yield np.array([f"w{i} " * (i % 5 + 1) for i in idx], dtype=object), idx.astype(np.int64) % 3
    return generate


def test_stream_dataset_yields_every_row_once_per_epoch_and_reshuffles():
    ds = data.stream_dataset(chunks_of(1000, 64), 1000, fake_preprocess, num_classes=3, multi_label=False,
                             batch_size=32, shuffle=True, seed=0, shuffle_buffer=200)
    assert int(ds.cardinality()) == 32  # ceil(1000 / 32): Keras knows the epoch length
    first = np.concatenate([f["input_mask"].numpy().sum(1) for f, _ in ds])
    second = np.concatenate([f["input_mask"].numpy().sum(1) for f, _ in ds])
    assert len(first) == 1000 and sorted(first) == sorted(second) and (first != second).any()
    ordered = data.stream_dataset(chunks_of(1000, 64), 1000, fake_preprocess, num_classes=3,
                                  multi_label=False, batch_size=100, shuffle=False, seed=0, shuffle_buffer=200)
    labels = np.concatenate([y.numpy() for _, y in ordered])
    assert labels.tolist() == (np.arange(1000) % 3).tolist()


def test_stream_dataset_checks_the_row_count():
    import tensorflow as tf

    ds = data.stream_dataset(chunks_of(10, 4), 12, fake_preprocess, num_classes=3, multi_label=False,
                             batch_size=4, shuffle=False, seed=0, shuffle_buffer=8)
    with pytest.raises(tf.errors.FailedPreconditionError):
        list(ds)
