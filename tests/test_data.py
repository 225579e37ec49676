import numpy as np
import pandas as pd
import pytest

from tfclf import data
from tfclf.config import DataConfig
from tfclf.errors import TfclfError


def write(path, content, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode(encoding) if isinstance(content, str) else content)
    return path


def test_semicolon_file_splits_on_last_delimiter(tmp_path):
    f = write(tmp_path / "emo.txt", "i feel good; really;joy\ni am sad;sadness\n")
    df = data.read_examples(str(f), DataConfig())
    assert df["text"].tolist() == ["i feel good; really", "i am sad"]
    assert df["label"].tolist() == ["joy", "sadness"]


def test_csv_with_header_quotes_and_newlines(tmp_path):
    f = write(tmp_path / "t.csv", 'id,text,label\r\n1,"hello, ""world""\nline two",pos\r\n2,bye,neg\r\n')
    df = data.read_examples(str(f), DataConfig())
    assert df["text"].tolist() == ['hello, "world"\nline two', "bye"]
    assert df["label"].tolist() == ["pos", "neg"]


def test_custom_columns_and_tsv(tmp_path):
    f = write(tmp_path / "t.tsv", "body\tqueue\nhi there\tsales\nhelp me\tsupport\n")
    df = data.read_examples(str(f), DataConfig(text_column="body", label_column="queue"))
    assert df.to_dict("list") == {"text": ["hi there", "help me"], "label": ["sales", "support"]}


def test_missing_column_lists_columns(tmp_path):
    f = write(tmp_path / "t.csv", "body,queue\nhi,a\n")
    with pytest.raises(TfclfError) as e:
        data.read_examples(str(f), DataConfig(text_column="message", label_column="queue"))
    assert "'message'" in str(e.value) and "['body', 'queue']" in str(e.value)


def test_headerless_two_column_csv(tmp_path):
    f = write(tmp_path / "t.csv", "great movie,pos\nawful,neg\n")
    df = data.read_examples(str(f), DataConfig())
    assert df["label"].tolist() == ["pos", "neg"]


def test_undecodable_bytes_name_line_and_offset(tmp_path):
    f = write(tmp_path / "t.csv", b"text,label\nok,a\ncaf\xe9,b\n")
    with pytest.raises(TfclfError) as e:
        data.read_examples(str(f), DataConfig())
    msg = str(e.value)
    assert "line 3" in msg and "byte offset 19" in msg and "--encoding latin-1" in msg
    df = data.read_examples(str(f), DataConfig(encoding="latin-1"))
    assert df["text"].tolist() == ["ok", "café"]


def test_ragged_row_names_line(tmp_path):
    f = write(tmp_path / "t.csv", "text,label\na,b\nc,d,e\n")
    with pytest.raises(TfclfError, match=r"line 3: expected 2 fields.*found 3"):
        data.read_examples(str(f), DataConfig())


def test_delimiter_not_found_names_line(tmp_path):
    f = write(tmp_path / "t.txt", "a;x\nno delimiter here\n")
    with pytest.raises(TfclfError, match=r"line 2: delimiter ';' not found"):
        data.read_examples(str(f), DataConfig())


@pytest.mark.parametrize("content, message", [(b"", "is empty"), (b"  \n\n", "is empty")])
def test_empty_file(tmp_path, content, message):
    f = write(tmp_path / "t.csv", content)
    with pytest.raises(TfclfError, match=message):
        data.read_examples(str(f), DataConfig())


def test_missing_file(tmp_path):
    with pytest.raises(TfclfError, match=r"--train: no such file"):
        data.read_examples(str(tmp_path / "nope.csv"), DataConfig(), role="--train")


def test_blank_rows_dropped_and_all_blank_is_error(tmp_path):
    f = write(tmp_path / "t.csv", "text,label\n  ,a\nfine,\nok,b\n")
    assert data.read_examples(str(f), DataConfig())["text"].tolist() == ["ok"]
    g = write(tmp_path / "g.csv", "text,label\n  ,a\n,b\n")
    with pytest.raises(TfclfError, match="every row has a blank text"):
        data.read_examples(str(g), DataConfig())


def test_class_folders_and_nested_splits(tmp_path):
    for split, n in (("train", 6), ("test", 2)):
        for label in ("neg", "pos"):
            for i in range(n):
                write(tmp_path / split / label / f"{i}_1.txt", f"{label} review {i} <br />")
    write(tmp_path / "train" / "urls_pos.txt", "http://x")
    (tmp_path / "train" / "unsup").mkdir()
    write(tmp_path / "train" / "unsup" / "0_0.txt", "unlabelled")
    splits = data.load_splits(DataConfig(data=str(tmp_path), split=(0.5, 0.5, 0.0)), seed=0)
    assert len(splits.test) == 4
    assert sorted(splits.train["label"].unique()) == ["neg", "pos"]
    assert len(splits.train) + len(splits.validation) == 12
    assert "unlabelled" not in set(splits.train["text"])


def test_directory_without_label_folders(tmp_path):
    write(tmp_path / "readme.txt", "hello")
    with pytest.raises(TfclfError, match="no label folders"):
        data.read_examples(str(tmp_path), DataConfig())


def make_df(counts):
    rows = [(f"{label} text {i}", label) for label, n in counts.items() for i in range(n)]
    return pd.DataFrame(rows, columns=["text", "label"])


def test_stratified_split_keeps_proportions_and_is_deterministic():
    df = make_df({"a": 100, "b": 50, "c": 10})
    parts = data.stratified_split(df, (0.8, 0.1, 0.1), seed=3)
    again = data.stratified_split(df, (0.8, 0.1, 0.1), seed=3)
    other = data.stratified_split(df, (0.8, 0.1, 0.1), seed=4)
    assert [len(p) for p in parts] == [128, 16, 16]
    assert parts[1]["label"].value_counts().to_dict() == {"a": 10, "b": 5, "c": 1}
    assert all(p.equals(q) for p, q in zip(parts, again))
    assert not parts[1].equals(other[1])
    all_texts = pd.concat(parts)["text"]
    assert all_texts.is_unique and len(all_texts) == len(df)


def test_tiny_class_keeps_a_training_row():
    parts = data.stratified_split(make_df({"a": 20, "b": 1}), (0.8, 0.1, 0.1), seed=0)
    assert "b" in set(parts[0]["label"])


def test_limit_train_is_stratified(tmp_path):
    df = make_df({"a": 300, "b": 100})
    f = tmp_path / "d.csv"
    df.to_csv(f, index=False)
    splits = data.load_splits(DataConfig(train=str(f), split=(1.0, 0.0, 0.0), limit_train=40), seed=0)
    assert splits.validation is None and splits.test is None
    assert splits.train["label"].value_counts().to_dict() == {"a": 30, "b": 10}


def test_given_splits_used_as_is_and_validation_carved_when_missing(tmp_path):
    train = tmp_path / "train.csv"
    test = tmp_path / "test.csv"
    make_df({"a": 50, "b": 50}).to_csv(train, index=False)
    make_df({"a": 3, "b": 2}).to_csv(test, index=False)
    splits = data.load_splits(DataConfig(train=str(train), test=str(test)), seed=0)
    assert len(splits.test) == 5
    assert len(splits.validation) == 12  # 0.1 / (0.8 + 0.1) of 100, per label rounded
    assert len(splits.train) == 88


def test_no_input_at_all():
    with pytest.raises(TfclfError, match="No input"):
        data.load_splits(DataConfig(), seed=0)


def test_make_dataset_batches_and_trims():
    import tensorflow as tf

    def fake_preprocess(text):  # stands in for the hub preprocessor: length = number of words + 2
        words = tf.strings.split(text)
        ids = words.row_lengths()
        seq = tf.sequence_mask(ids + 2, 16, dtype=tf.int32)
        return {"input_word_ids": seq * 7, "input_mask": seq, "input_type_ids": tf.zeros_like(seq)}

    ds = data.make_dataset(["a b", "a", "a b c d"], np.array([0, 1, 0]), fake_preprocess,
                           batch_size=2, shuffle=False, seed=0)
    batches = list(ds)
    assert [b[0]["input_mask"].shape.as_list() for b in batches] == [[2, 4], [1, 6]]
    assert batches[0][1].numpy().tolist() == [0, 1]
    full = data.make_dataset(["a"], None, fake_preprocess, batch_size=2, shuffle=False, seed=0,
                             dynamic_padding=False)
    assert next(iter(full))["input_mask"].shape.as_list() == [1, 16]
