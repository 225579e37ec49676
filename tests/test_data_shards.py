"""Sharded and gzip-compressed inputs: folders of shards, glob patterns, ``.gz`` read transparently."""
import gzip
import json

import pandas as pd
import pytest

from tfclf import data
from tfclf.config import DataConfig
from tfclf.data import inputs
from tfclf.errors import TfclfError


def write(path, text, gz=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    return path


def jsonl(rows):
    return "".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in rows)


def read(path, **kwargs):
    return data.read_examples(str(path), DataConfig(**kwargs))


def test_gzip_files_read_like_the_plain_ones(tmp_path):
    content = 'text,label\n"hello, world",pos\nbye,neg\n'
    plain = read(write(tmp_path / "a.csv", content))
    assert read(write(tmp_path / "b.csv.gz", content, gz=True)).equals(plain)
    rows = [("hi", "pos"), ("bye", "neg")]
    assert read(write(tmp_path / "c.jsonl.gz", jsonl(rows), gz=True)).to_dict("list") == \
        {"text": ["hi", "bye"], "label": ["pos", "neg"]}
    # Prediction reads the same files.
    with inputs.open_input(str(tmp_path / "b.csv.gz")) as table:
        assert [row[table.text_index] for row in table.rows] == ["hello, world", "bye"]


def test_gzip_errors_name_the_file_and_line(tmp_path):
    bad = write(tmp_path / "d.jsonl.gz", jsonl([("hi", "pos")]) + "{not json\n", gz=True)
    with pytest.raises(TfclfError, match=r"d\.jsonl\.gz: line 2: not valid JSON"):
        read(bad)
    whole = gzip.compress(("text,label\n" + "some text,pos\n" * 5000).encode())
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(whole[:len(whole) // 2])
    with pytest.raises(TfclfError, match=r"cut\.csv\.gz: cannot decompress the file \(Compressed file ended"):
        read(cut)
    # Cut after its first MiB of text: the reader gets that far, and names the line.
    whole = gzip.compress(("text,label\n" + "".join(f"text {i},pos\n" for i in range(100_000))).encode())
    cut.write_bytes(whole[:len(whole) * 4 // 5])
    with pytest.raises(TfclfError, match=r"cut\.csv\.gz: line [1-9]\d{4}: cannot decompress the file"):
        read(cut)
    write(tmp_path / "t.parquet.gz", "x", gz=True)
    with pytest.raises(TfclfError, match=r"must not be gzip-compressed.*Received: .*t\.parquet\.gz"):
        read(tmp_path / "t.parquet.gz")


def test_a_folder_of_shards_is_one_input_read_in_name_order(tmp_path):
    shards = tmp_path / "out"
    write(shards / "part-00001.csv", "text,label\nc,neg\n")
    write(shards / "part-00000.csv", "text,label\na,pos\nb,neg\n")
    write(shards / "_SUCCESS", "")
    assert read(shards)["text"].tolist() == ["a", "b", "c"]
    write(shards / "part-00002.csv", "text,label\nd,pos\ne,pos,extra\n")
    with pytest.raises(TfclfError, match=r"part-00002\.csv: line 3"):
        read(shards)


def test_a_glob_pattern_names_the_shards(tmp_path):
    write(tmp_path / "s" / "train-0.jsonl.gz", jsonl([("a", "x"), ("b", "y")]), gz=True)
    write(tmp_path / "s" / "train-1.jsonl.gz", jsonl([("c", "x")]), gz=True)
    write(tmp_path / "s" / "other.jsonl", jsonl([("z", "x")]))
    assert read(tmp_path / "s" / "train-*.jsonl.gz")["text"].tolist() == ["a", "b", "c"]
    with pytest.raises(TfclfError, match=r"--data: the pattern .*nope-\*\.csv' matches no files"):
        read(tmp_path / "s" / "nope-*.csv")


def test_shards_must_agree_in_format_and_columns(tmp_path):
    write(tmp_path / "mixed" / "part-0.csv", "text,label\na,x\n")
    write(tmp_path / "mixed" / "part-1.jsonl", jsonl([("b", "y")]))
    with pytest.raises(TfclfError, match=r"shards of .*mixed' must be one format"):
        read(tmp_path / "mixed")
    with pytest.raises(TfclfError, match=r"shards of .*mixed/\*' must be one format"):
        read(tmp_path / "mixed" / "*")
    write(tmp_path / "two" / "posts.csv", "text,label\na,x\n")
    write(tmp_path / "two" / "more.csv", "text,label\nb,y\n")
    with pytest.raises(TfclfError, match=r"has no label folders"):  # not shards of one input: no guessing
        read(tmp_path / "two")
    pd.DataFrame({"text": ["a"], "label": ["x"]}).to_parquet(tmp_path / "p-0.parquet")
    pd.DataFrame({"text": ["b"], "queue": ["y"]}).to_parquet(tmp_path / "p-1.parquet")
    with pytest.raises(TfclfError, match=r"shard .*p-1\.parquet' must have the columns of .*p-0\.parquet' "
                                         r"\['text', 'label'\]\. Received: \['text', 'queue'\]"):
        read(tmp_path / "p-*.parquet")


def test_train_and_test_shards_streamed_or_in_memory(tmp_path):
    rows = [(f"text number {i}", "ab"[i % 2]) for i in range(40)]
    for i in range(4):
        write(tmp_path / f"train-{i}.csv.gz", "text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows[i::4]),
              gz=True)
    write(tmp_path / "test.jsonl", jsonl(rows[:6]))
    config = dict(train=str(tmp_path / "train-*.csv.gz"), test=str(tmp_path / "test.jsonl"))
    memory = data.prepare(DataConfig(**config), seed=0)
    streamed = data.prepare(DataConfig(**config, stream=True), seed=0)
    assert streamed.streaming
    for prepared in (memory, streamed):
        assert prepared.rows["test"] == 6 and prepared.rows["train"] + prepared.rows["validation"] == 40
    assert memory.report["inputs"][0]["path"] == str(tmp_path / "train-*.csv.gz")


def test_parquet_shards_and_a_corrupt_gzip_shard_named_in_the_error(tmp_path):
    (tmp_path / "pq").mkdir()
    for i, texts in enumerate([["a", "b"], ["c"]]):
        pd.DataFrame({"text": texts, "label": ["x"] * len(texts)}).to_parquet(tmp_path / "pq" / f"part-{i:05d}.parquet")
    assert read(tmp_path / "pq")["text"].tolist() == ["a", "b", "c"]
    write(tmp_path / "gz" / "part-0.jsonl.gz", jsonl([("a", "x")]), gz=True)
    (tmp_path / "gz" / "part-1.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"not gzip at all" * 10)
    with pytest.raises(TfclfError, match=r"part-1\.jsonl\.gz: cannot decompress the file"):
        read(tmp_path / "gz" / "part-*.jsonl.gz")
