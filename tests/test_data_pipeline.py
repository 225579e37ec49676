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


def word_texts(n, seed=0, max_words=14):
    rng = np.random.default_rng(seed)
    return np.array([" ".join(["w"] * int(k)) for k in rng.integers(1, max_words + 1, size=n)], dtype=object)


def test_length_buckets_group_rows_of_similar_length():
    texts = word_texts(500)
    labels = np.arange(500) % 3
    ds = data.make_dataset(texts, labels, fake_preprocess, batch_size=16, shuffle=True, seed=0,
                           length_grouping="buckets", length_buckets=(4, 8))  # (..4], (4..8], (8..16]
    lengths = np.array([len(t.split()) + 2 for t in texts])
    epochs = []
    for _ in range(2):
        seen, count = [], 0
        for features, y in ds:
            row_len = features["input_mask"].numpy().sum(1)
            bucket = np.searchsorted([4, 8, 16], row_len)
            assert len(set(bucket)) == 1 and len(row_len) <= 16
            assert features["input_mask"].shape[1] == row_len.max()  # trimmed to its longest row
            seen.extend(zip(row_len.tolist(), y.numpy().tolist()))
            count += 1
        assert count == int(ds.cardinality())  # the declared epoch length is exact
        epochs.append(seen)
    expected = sorted(zip(lengths.clip(max=16).tolist(), labels.tolist()))
    assert sorted(epochs[0]) == expected and sorted(epochs[1]) == expected  # every row once per epoch
    assert epochs[0] != epochs[1]  # reshuffled each epoch
    buckets = np.bincount(np.searchsorted([4, 8, 16], lengths.clip(max=16)))
    assert int(ds.cardinality()) == sum(-(-int(n) // 16) for n in buckets)


def test_length_buckets_pad_fewer_tokens_than_random_batches():
    texts, labels = word_texts(640, seed=1), np.zeros(640, dtype=np.int64)

    def padded(**kwargs):
        ds = data.make_dataset(texts, labels, fake_preprocess, batch_size=32, shuffle=True, seed=0, **kwargs)
        return sum(int(np.prod(f["input_mask"].shape)) for f, _ in ds)

    real = sum(min(len(t.split()) + 2, 16) for t in texts)
    bucketed = padded(length_grouping="buckets", length_buckets=(4, 6, 8, 10, 12, 14))
    windows, random = padded(length_grouping="windows", sort_window=5), padded()
    assert bucketed <= 1.1 * real < random  # random batches of 32 pay for their longest row
    # A window of 160 sorted rows has ~11 rows per length (3..16): a batch of 32 spans
    # about 3 lengths and pays ~1.4 tokens over its mean; sorting all rows pays less.
    assert windows <= 1.2 * real and windows < 0.8 * random
    assert padded(length_grouping="windows", sort_window=20) <= 1.06 * real


def test_length_buckets_are_off_for_evaluation_order_and_fixed_padding():
    texts, labels = word_texts(50), np.arange(50)
    ordered = data.make_dataset(texts, labels, fake_preprocess, batch_size=8, shuffle=False, seed=0,
                                dynamic_padding=False, length_grouping="buckets", length_buckets=(4, 8))
    assert np.concatenate([y.numpy() for _, y in ordered]).tolist() == labels.tolist()
    assert {f["input_mask"].shape[1] for f, _ in ordered} == {16}
    for kwargs in ({"length_grouping": "windows"}, {"length_grouping": "windows", "dynamic_padding": False}):
        unshuffled = data.make_dataset(texts, labels, fake_preprocess, batch_size=8, shuffle=False, seed=0,
                                       **kwargs)
        assert np.concatenate([y.numpy() for _, y in unshuffled]).tolist() == labels.tolist()


def test_length_buckets_with_a_hub_preprocessor_truncating_long_texts(tiny_bert):
    from tfclf.preprocessing import TextPreprocessor

    pre = TextPreprocessor(str(tiny_bert.preprocessor), seq_length=8)
    texts = np.array(["hi", "the package is late", "please help me with the refund of my order today",
                      "login"] * 10, dtype=object)
    ds = data.make_dataset(texts, np.arange(40) % 2, pre, batch_size=4, shuffle=True, seed=3,
                           length_grouping="buckets", length_buckets=(4, 6, 16))  # 16 >= seq_length: last
    widths = [f["input_mask"].shape[1] for f, _ in ds]  # raises if the declared cardinality were wrong
    assert len(widths) == int(ds.cardinality()) == 5 + 3 + 3 and max(widths) == 8  # 20, 10, 10 rows
    assert data.bucket_bounds((4, 6, 16), 8) == [4, 6, 8]
    assert data.token_lengths(texts[:4], pre).tolist() == [3, 6, 8, 3]


def test_sorted_windows_batch_rows_of_similar_length_and_keep_their_labels():
    texts = word_texts(500)
    words = np.array([len(t.split()) for t in texts])
    labels = words % 3  # a label the text determines: a row split from its label would show
    ds = data.make_dataset(texts, labels, fake_preprocess, batch_size=16, shuffle=True, seed=0,
                           length_grouping="windows", sort_window=4)
    assert int(ds.cardinality()) == 32  # ceil(500 / 16), as random batches
    epochs = []
    for _ in range(2):
        seen, spans = [], []
        for features, y in ds:
            row_len = features["input_mask"].numpy().sum(1)
            assert features["input_mask"].shape[1] == row_len.max()  # trimmed to its longest row
            assert ((row_len - 2) % 3 == y.numpy()).all()
            spans.append(int(row_len.max() - row_len.min()))
            seen.extend(row_len.tolist())
        assert len(spans) == 32
        epochs.append(seen)
        # 64 sorted rows over 14 lengths: about 4.6 rows per length, so a batch of 16 spans
        # about 3 lengths; random batches of 16 span nearly all 14.
        assert np.mean(spans) <= 4
    assert sorted(epochs[0]) == sorted(epochs[1]) == sorted((words + 2).tolist())  # every row once
    assert epochs[0] != epochs[1]  # reshuffled each epoch
    batch_lengths = [int(f["input_mask"].shape[1]) for f, _ in ds]
    assert batch_lengths != sorted(batch_lengths)  # the batches of a window are shuffled


def test_sorted_windows_stream_from_disk():
    ds = data.stream_dataset(chunks_of(1000, 64), 1000, fake_preprocess, num_classes=3, multi_label=False,
                             batch_size=32, shuffle=True, seed=0, shuffle_buffer=200,
                             length_grouping="windows", sort_window=8)
    assert int(ds.cardinality()) == 32
    rows = [(f["input_mask"].numpy().sum(1), y.numpy()) for f, y in ds]
    lengths = np.concatenate([r for r, _ in rows])
    assert len(rows) == 32 and len(lengths) == 1000  # the declared length is exact
    # chunks_of: row i has i % 5 + 1 words and label i % 3; lengths 3..7 over 256-row windows
    assert sorted(lengths.tolist()) == sorted((np.arange(1000) % 5 + 3).tolist())
    # Each of the 4 windows changes length 4 times (~51 rows per length, batches of 32), so
    # the spans of its batches add up to at most 4. Random batches span ~4 each, ~128 in all.
    assert sum(int(r.max() - r.min()) for r, _ in rows) <= 16
    multi = data.stream_dataset(chunks_of(100, 64), 100, fake_preprocess, num_classes=3, multi_label=False,
                                batch_size=32, shuffle=True, seed=0, shuffle_buffer=200,
                                length_grouping="buckets")  # needs lengths up front: random batches
    assert int(multi.cardinality()) == 4


def test_sorted_windows_multi_hot_targets_follow_their_rows():
    texts = word_texts(64, seed=2)
    words = np.array([len(t.split()) for t in texts])
    y = np.stack([words % 2, words % 3 == 0, np.ones(64)], axis=1).astype(np.float32)
    ds = data.make_dataset(texts, y, fake_preprocess, batch_size=8, shuffle=True, seed=1,
                           length_grouping="windows", sort_window=4)
    for features, targets in ds:
        n = features["input_mask"].numpy().sum(1) - 2
        assert targets.dtype.name == "float32"
        assert targets.numpy().tolist() == np.stack([n % 2, n % 3 == 0, np.ones(len(n))], 1).tolist()


def test_sorted_windows_with_a_hub_preprocessor_truncating_long_texts(tiny_bert):
    from tfclf.preprocessing import TextPreprocessor

    pre = TextPreprocessor(str(tiny_bert.preprocessor), seq_length=8)
    texts = np.array(["hi", "the package is late", "please help me with the refund of my order today",
                      "login"] * 10, dtype=object)
    ds = data.make_dataset(texts, np.arange(40) % 2, pre, batch_size=4, shuffle=True, seed=3,
                           length_grouping="windows", sort_window=5)
    rows = [f["input_mask"].numpy().sum(1) for f, _ in ds]
    assert len(rows) == int(ds.cardinality()) == 10 and max(r.max() for r in rows) == 8  # truncated
    # Lengths 3, 6, 8 over windows of 20 sorted rows: a window changes length at most twice,
    # so at most 4 of the 10 batches mix lengths.
    assert sum(len(set(r.tolist())) > 1 for r in rows) <= 4


@pytest.mark.parametrize("kwargs, message", [
    ({"length_grouping": "sorted"}, r"--length-grouping must be one of \['windows', 'buckets', 'none'\]\. Received: 'sorted'"),
    ({"length_grouping": "windows", "sort_window": 0}, r"--sort-window >= 1\. Received: 0"),
    ({"length_grouping": "buckets"}, r"--length-grouping buckets needs --length-buckets"),
])
def test_length_grouping_errors_name_the_flag(kwargs, message):
    from tfclf.errors import TfclfError

    with pytest.raises(TfclfError, match=message):
        data.make_dataset(["a"], np.array([0]), fake_preprocess, batch_size=2, shuffle=True, seed=0, **kwargs)


# ------------------------------------------------- --long-text chunks: batches by total windows

def _window_docs(rng, n, max_words):
    words = "one two three four five ten hundred cat dog bird fish".split()  # one wordpiece each
    return [" ".join(rng.choice(words, size=int(rng.integers(0, max_words)))) for _ in range(n)]


@pytest.mark.parametrize("budget,max_chunks", [(8, 4), (3, 4), (16, 1)])
def test_chunked_training_batches_hold_at_most_the_window_budget(tiny_bert, budget, max_chunks):
    from tfclf.data import pipeline
    from tfclf.long_text import LongTextSpec
    from tfclf.preprocessing import TextPreprocessor

    spec = LongTextSpec(mode="chunks", seq_length=8, chunk_stride=1, max_chunks=max_chunks)  # 6 per window
    pre = TextPreprocessor(str(tiny_bert.preprocessor), 8, spec)
    rng = np.random.default_rng(0)
    texts = _window_docs(rng, 60, 30)
    labels = np.arange(60) % 3
    ds = data.make_dataset(texts, labels, pre, batch_size=4, shuffle=True, seed=0, batch_windows=budget)
    batches = list(ds)
    expected_windows = spec.windows([len(t.split()) for t in texts])
    assert len(batches) == ds.cardinality().numpy() == pipeline.window_batch_count(expected_windows, budget,
                                                                                     max_chunks)
    seen = []
    for features, y in batches:
        real = features["input_mask"].numpy().any(-1)  # [docs, windows]
        per_doc = real.sum(1)
        assert len(set(per_doc)) == 1  # one window count per batch: no padding windows
        assert real.sum() <= max(budget, max_chunks)
        assert len(per_doc) <= max(1, budget // per_doc[0])  # the last batch of a bucket may be short
        assert features["input_mask"].shape[1] == per_doc[0]  # trimmed to the batch's windows
        seen += y.numpy().tolist()
    assert sorted(seen) == sorted(labels.tolist())  # every document once
    # Evaluation order: batch_size documents in row order, padded to the batch's most windows.
    ordered = list(data.make_dataset(texts, labels, pre, batch_size=4, shuffle=False, seed=0))
    assert len(ordered) == 15 and np.concatenate([y.numpy() for _, y in ordered]).tolist() == labels.tolist()
    got = np.concatenate([f["input_mask"].numpy().any(-1).sum(1) for f, _ in ordered])
    assert got.tolist() == expected_windows.tolist()


def test_chunked_streamed_training_counts_its_batches(tiny_bert):
    from tfclf.data import pipeline
    from tfclf.long_text import LongTextSpec
    from tfclf.preprocessing import TextPreprocessor

    spec = LongTextSpec(mode="chunks", seq_length=8, max_chunks=3)
    pre = TextPreprocessor(str(tiny_bert.preprocessor), 8, spec)
    texts = np.array(_window_docs(np.random.default_rng(1), 40, 25), dtype=object)

    def generate():
        for start in range(0, 40, 16):
            yield texts[start:start + 16], np.arange(start, min(40, start + 16), dtype=np.int64) % 2

    ds = data.stream_dataset(generate, 40, pre, num_classes=2, multi_label=False, batch_size=4,
                             shuffle=True, seed=0, shuffle_buffer=16, batch_windows=6)
    expected = pipeline.window_batch_count(spec.windows([len(t.split()) for t in texts]), 6, 3)
    batches = list(ds)
    assert len(batches) == ds.cardinality().numpy() == expected
    assert sum(len(y) for _, y in batches) == 40
    assert all(f["input_mask"].numpy().any(-1).sum() <= 6 for f, _ in batches)
