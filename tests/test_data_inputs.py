"""Prediction's and explanation's input reader reads files the way training does."""
import json

import pytest

from tfclf.config import DataConfig
from tfclf.data import inputs, readers
from tfclf.errors import TfclfError


def read(path, **kwargs):
    with inputs.open_input(str(path), **kwargs) as table:
        return table.columns, table.text_index, list(table.rows)


def write(path, text, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_class_folders_at_any_depth_skip_unsup_like_training(tmp_path):
    root = tmp_path / "aclImdb"
    for rel in ("train/pos/1.txt", "train/neg/2.txt", "test/pos/3.txt", "test/neg/4.txt", "train/unsup/5.txt"):
        write(root / rel, f"text of {rel}")
    write(root / "train" / "urls_pos.txt", "http://example.com")
    write(root / "imdb.vocab", "a\nb\n")
    columns, index, rows = read(root)
    assert columns == ["path", "label", "text"] and index == 2
    training = [(str(f), label) for s in readers.discover(DataConfig(data=str(root))) for f, label in s.files]
    assert sorted((path, label) for path, label, _ in rows) == sorted(training)
    assert len(rows) == 4 and not any("unsup" in path for path, _, _ in rows)
    assert {text for _, _, text in rows} == {f"text of {s}/{l}/{n}.txt" for s, l, n in
                                             [("train", "pos", 1), ("train", "neg", 2), ("test", "pos", 3),
                                              ("test", "neg", 4)]}


def test_a_folder_without_label_folders_is_training_s_error(tmp_path):
    write(tmp_path / "in" / "a.csv", "text,label\nx,y\n")
    with pytest.raises(TfclfError, match=r"--input: directory '.*in' has no label folders with .txt files"):
        read(tmp_path / "in")


def test_extensions_follow_training_s_table(tmp_path):
    assert read(write(tmp_path / "a.psv", "text|label\nhello there|x\n")) == (
        ["text", "label"], 0, [["hello there", "x"]])
    records = [{"text": "hello", "id": 1}, {"text": "bye", "id": 2}]
    ndjson = write(tmp_path / "a.ndjson", "".join(json.dumps(r) + "\n" for r in records))
    assert read(ndjson) == (["text", "id"], 0, [["hello", "1"], ["bye", "2"]])
    with pytest.raises(TfclfError, match=r"a.ndjson: line 1 \(first record\): --text-column 'body' is not a "
                                         r"column. Columns found: \['text', 'id'\]"):
        read(ndjson, text_column="body")
    # An extension that names no format: one text per line (training would sniff a delimiter).
    assert read(write(tmp_path / "a.log", "one, two\nthree\n")) == (["text"], 0, [["one, two"], ["three"]])


def test_parallel_files_pair_texts_and_labels_like_training(tmp_path):
    text = write(tmp_path / "test_text.txt", "i love it; really\nawful\n")
    write(tmp_path / "test_labels.txt", "2\n0\n")
    assert read(text) == (["text", "label"], 0, [["i love it; really", "2"], ["awful", "0"]])
    assert read(text, lines=True)[2] == [["i love it; really"], ["awful"]]
    write(tmp_path / "test_labels.txt", "2\n")
    with pytest.raises(TfclfError, match=r"test_labels.txt: has 1 lines but test_text.txt has more"):
        read(text)


def test_delimiter_and_encoding_flags_are_training_s(tmp_path):
    src = write(tmp_path / "in.dat", "id\ttext\n1\thello\n")
    assert read(src, delimiter="tab") == (["id", "text"], 1, [["1", "hello"]])
    with pytest.raises(TfclfError, match=r"--delimiter must be one character other than a quote or line break, "
                                         r"or 'tab'. Received: delimiter='ab'"):
        read(src, delimiter="ab")
    with pytest.raises(TfclfError, match=r"--encoding must be a Python text encoding.*Received: encoding='nope'"):
        read(src, encoding="nope")


def test_bytes_a_server_would_see_are_kept(tmp_path):
    """Undecodable bytes stay (surrogateescape), a byte-order mark goes, long fields fit."""
    long_text = "word " * 40000  # over the csv module's 128 KiB default field limit
    src = write(tmp_path / "in.csv", b"\xef\xbb\xbfid,text\n1,caf\xe9\n2," + long_text.encode() + b"\n")
    columns, index, rows = read(src)
    assert columns == ["id", "text"] and rows[0] == ["1", "caf\udce9"] and rows[1][1] == long_text
    jsonl = write(tmp_path / "in.jsonl", b'\xef\xbb\xbf{"text": "hi"}\n')
    assert read(jsonl)[2] == [["hi"]]


def test_headerless_rows_keep_prediction_s_leniency(tmp_path):
    src = write(tmp_path / "in.txt", "a text;x\nmore; text;y\nno label here\n")
    assert read(src) == (["text", "label"], 0, [["a text", "x"], ["more; text", "y"], ["no label here", ""]])
    src = write(tmp_path / "texts.txt", "one text\ntwo; texts\n")
    assert read(src) == (["text"], 0, [["one text"], ["two; texts"]])
