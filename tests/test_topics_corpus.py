"""The corpus of a topic map: read as fit reads data, labels optional."""
from __future__ import annotations

import json

import pytest

from tfclf.config import DataConfig
from tfclf.data.report import Tally
from tfclf.errors import TfclfError
from tfclf.topics import corpus


def _read(config, labels=None):
    plan = corpus.plan(config, labels)
    tally = Tally()
    frames = list(corpus.iter_frames(plan, config, tally))
    texts = [t for f in frames for t in f["text"]]
    got = [x for f in frames for x in f["label"]]
    sources = [s for f in frames for s in f["source"]]
    return plan, texts, got, sources, tally


def test_a_file_without_the_label_column_is_read_as_texts(tmp_path):
    f = tmp_path / "notes.csv"
    f.write_text("id,body\n1,first note\n2,   \n3,third <b>note</b>\n")
    plan, texts, labels, sources, tally = _read(DataConfig(data=str(f), text_column=("body",), strip_html=True))
    assert plan.with_labels is False
    assert texts == ["first note", "third  note "] and labels == [None, None]
    assert sources == [f"{f}: line 2", f"{f}: line 4"]  # the blank row 3 is dropped and counted
    assert tally.dropped["blank_text"] == 1 and tally.cleaned["strip_html"] == 1


def test_format_lines_reads_one_text_per_line(tmp_path):
    """--format lines: every line a text, delimiters and all (a .txt would otherwise be text;label);
    CRLF ends removed, a blank line dropped and counted, gzip read transparently."""
    import gzip

    from tfclf.config import DataFormat

    body = "my parcel; never arrived\r\nrefund, please\r\n\r\nreset: password\n"
    plain, packed = tmp_path / "notes.txt", tmp_path / "notes.txt.gz"
    plain.write_bytes(body.encode())
    packed.write_bytes(gzip.compress(body.encode()))
    for f in (plain, packed):
        plan, texts, labels, sources, tally = _read(DataConfig(data=str(f), format=DataFormat.LINES))
        assert plan.with_labels is False and labels == [None] * 3
        assert texts == ["my parcel; never arrived", "refund, please", "reset: password"]
        assert sources == [f"{f}: line 1", f"{f}: line 2", f"{f}: line 4"]
        assert tally.dropped["blank_text"] == 1
    with pytest.raises(TfclfError, match=r"line 1: delimiter ';' not found"):  # auto: .txt is text;label
        _read(DataConfig(data=str(tmp_path / "x.txt")) if (tmp_path / "x.txt").write_text("a b\n") else None)


def test_labels_are_read_when_present_and_dropped_on_request(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text("".join(json.dumps({"text": t, "label_name": n}) + "\n"
                         for t, n in [("a b", "x"), ("c d", "y"), ("e f", "")]))
    config = DataConfig(data=str(f), label_column=("label_name",))
    plan, texts, labels, _, tally = _read(config)
    assert plan.with_labels and labels == ["x", "y"] and tally.dropped["blank_label"] == 1  # fit's rule
    plan, texts, labels, _, _ = _read(config, labels=False)
    assert not plan.with_labels and texts == ["a b", "c d", "e f"]


def test_class_folders_give_their_labels(tmp_path):
    for label, text in [("pos", "good"), ("neg", "bad")]:
        (tmp_path / "d" / label).mkdir(parents=True)
        (tmp_path / "d" / label / "1.txt").write_text(text)
    _, texts, labels, _, _ = _read(DataConfig(data=str(tmp_path / "d")))
    assert sorted(zip(texts, labels)) == [("bad", "neg"), ("good", "pos")]


def test_labels_true_requires_the_column(tmp_path):
    f = tmp_path / "notes.csv"
    f.write_text("body\nhello\n")
    with pytest.raises(TfclfError, match=r"--label-column 'label' is not a column.*Columns found: \['body'\]"):
        corpus.plan(DataConfig(data=str(f), text_column=("body",)), labels=True)


def test_multi_label_data_is_refused_with_labels(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("text,label\nhello,a|b\n")
    with pytest.raises(TfclfError, match=r"one label per text.*--no-labels"):
        corpus.plan(DataConfig(data=str(f), label_separator="|"))
    g = tmp_path / "d.jsonl"
    g.write_text(json.dumps({"text": "hi", "label": ["a", "b"]}) + "\n")
    with pytest.raises(TfclfError, match=r"d\.jsonl: line 1: the label cell holds a list \['a', 'b'\]"):
        _read(DataConfig(data=str(g)))


def test_no_input_is_an_error():
    with pytest.raises(TfclfError, match=r"--data is required"):
        corpus.plan(DataConfig())
