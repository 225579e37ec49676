"""Multi-label data (issue 15): the task from the data, --label-axes codes, label cardinality."""
import dataclasses
import json
import os

import numpy as np
import pandas as pd
import pytest

from tfclf import data
from tfclf.config import DataConfig, Task
from tfclf.data import __main__ as cli, readers
from tfclf.data.multilabel import cardinality, decode_code
from tfclf.data.report import format_summary
from tfclf.errors import TfclfError

MBTI_AXES = (("I", "E"), ("N", "S"), ("T", "F"), ("J", "P"))
MBTI = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets", "mbti_partial",
                    "mbti_1.partial.csv")


def write(path, content):
    path.write_text(content, encoding="utf-8")
    return path


def codes_csv(path, codes, extra=()):
    """text,code rows: one per code, then the ``extra`` (text, code) rows."""
    rows = [(f"user {i} writes about {c.lower()}", c) for i, c in enumerate(codes)] + list(extra)
    pd.DataFrame(rows, columns=["text", "code"]).to_csv(path, index=False)
    return path


def all_labels(prepared):
    return pd.concat([prepared.frame(s) for s in prepared.split_names], ignore_index=True)


# ------------------------------------------------------------------------------ decode_code

@pytest.mark.parametrize("code, labels", [
    ("INTJ", ("I", "N", "T", "J")), ("intj", ("I", "N", "T", "J")), ("ESFP", ()), ("EnFj", ("N", "J")),
    ("INT", None), ("INTJ-A", None), ("INXJ", None), ("", None),
])
def test_decode_code(code, labels):
    assert decode_code(code, MBTI_AXES) == labels


def test_decode_code_is_not_mbti_specific():
    axes = (("y", "n"), ("1", "0"), ("+", "-"))
    assert decode_code("Y0+", axes) == ("y", "+") and decode_code("n1-", axes) == ("1",)
    assert decode_code("y2-", axes) is None


# ------------------------------------------------------------------------------ --label-axes

GENERATED = [a + b + c for a in "IE" for b in "NS" for c in "TF"] * 5  # 40 codes, every combination


def test_label_axes_turn_codes_into_binary_labels_and_drop_invalid_codes(tmp_path):
    f = codes_csv(tmp_path / "d.csv", GENERATED, extra=[("too long", "INTJ"), ("not a side", "IXT"),
                                                        ("lower case", "est")])
    p = data.prepare(DataConfig(data=str(f), label_column="code", label_axes="I/E,N/S,T/F"), seed=0)
    assert p.multi_label and p.config.task is Task.MULTI_LABEL and p.labels.names == ("I", "N", "T")
    df = all_labels(p)
    assert len(df) == 41
    by_text = dict(zip(df["text"], df["label"]))
    assert by_text["user 0 writes about int"] == ("I", "N", "T")
    assert by_text["user 7 writes about esf"] == ()
    assert by_text["lower case"] == ("T",)
    assert p.report["dropped"] == {"invalid_code": 2}
    assert p.report["drop_examples"] == {"invalid_code": f"{f}: line 42: 'INTJ'"}
    y = p.targets("train")
    texts = p.frame("train")["text"].tolist()
    for text, row in zip(texts, y):
        assert [n for n, v in zip(p.labels.names, row) if v] == list(by_text[text])
    # Each label on half the 40 generated rows, plus 'lower case' (T).
    assert {k: sum(s["labels"].get(k, 0) for s in p.report["splits"].values()) for k in "INT"} == \
        {"I": 20, "N": 20, "T": 21}


def test_label_axes_streamed_match_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "CHUNK_ROWS", 9)
    f = codes_csv(tmp_path / "d.csv", GENERATED * 5, extra=[("bad", "IXT")])
    config = DataConfig(data=str(f), label_column="code", label_axes="I/E,N/S,T/F")
    mem, st = data.prepare(config, seed=1), data.prepare(dataclasses.replace(config, stream=True), seed=1)
    assert st.streaming and st.labels == mem.labels and st.report["dropped"] == {"invalid_code": 1}
    totals = [{k: sum(s["labels"][k] for s in p.report["splits"].values()) for k in "INT"} for p in (mem, st)]
    assert totals[0] == totals[1] == {"I": 100, "N": 100, "T": 100}
    assert sum(len(y) for split in st.split_names for _, y in st.chunks(split)) == 200


def test_label_map_renames_axis_labels(tmp_path):
    f = codes_csv(tmp_path / "d.csv", GENERATED)
    p = data.prepare(DataConfig(data=str(f), label_column="code", label_axes="I/E,N/S,T/F",
                                label_map="I=introvert,T=drop"), seed=0)
    assert p.labels.names == ("N", "introvert")
    assert p.report["relabelled"]["I -> introvert"] == 20 and p.report["relabelled"]["T -> drop"] == 20


def test_mostly_invalid_codes_stop_naming_file_column_axes_and_a_sample(tmp_path):
    f = codes_csv(tmp_path / "d.csv", ["INTJ-A", "ENFP-T", "INTJ", "ISTP-A"])
    with pytest.raises(TfclfError) as e:
        data.prepare(DataConfig(data=str(f), label_column="code", label_axes="I/E,N/S,T/F,J/P"), seed=0)
    message = str(e.value)
    assert message.startswith(f"--data {f}: --label-column 'code': 3 of 4 codes (75%) do not match --label-axes "
                              "I/E,N/S,T/F,J/P, more than --max-invalid-codes 0.5 allows.")
    assert f"First: {f}: line 2: 'INTJ-A'" in message and "e.g. 'INTJ'" in message
    # The share is a flag: exactly half invalid passes the default, and 1 accepts any share.
    with pytest.raises(TfclfError, match="--max-invalid-codes 0.2 allows"):
        data.read_examples(str(f), DataConfig(label_column="code", label_axes="I/E,N/S,T/F,J/P",
                                              max_invalid_codes=0.2))
    df = data.read_examples(str(f), DataConfig(label_column="code", label_axes="I/E,N/S,T/F,J/P",
                                               max_invalid_codes=1))
    assert df["label"].tolist() == [("I", "J", "N", "T")]


def test_a_list_is_not_a_code(tmp_path):
    f = write(tmp_path / "d.jsonl", '{"text": "a", "type": ["I", "N"]}\n')
    with pytest.raises(TfclfError, match=r"d.jsonl: line 1: --label-column 'type' holds a list \(\['I', 'N'\]\); "
                                         r"expected a --label-axes code such as 'IN'"):
        data.read_examples(str(f), DataConfig(label_column="type", label_axes="I/E,N/S"))


# --------------------------------------------------------------------- the task from the data

TAGS = [["billing"], ["shipping", "billing"], ["account"], "shipping", ["account", "shipping"], []]


def tags_jsonl(path, n=60):
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            tags = TAGS[i % len(TAGS)]
            f.write(json.dumps({"text": f"ticket {i} about {tags}", "label": tags}) + "\n")
    return path


@pytest.mark.parametrize("stream", [False, True])
def test_lists_make_the_task_multi_label_and_the_config_records_it(tmp_path, stream, caplog):
    f = tags_jsonl(tmp_path / "d.jsonl")
    with caplog.at_level("INFO"):
        p = data.prepare(DataConfig(data=str(f), stream=stream), seed=0)
    assert p.multi_label and p.config.task is Task.MULTI_LABEL and p.report["multi_label"]
    assert p.report["config"]["task"] == "multi-label"
    assert p.report["label_lists"] == f"{f}: line 1: --label-column 'label' holds a list (['billing'])"
    assert "The task is multi-label" in caplog.text
    assert p.labels.names == ("account", "billing", "shipping")
    y = p.targets("train")
    assert y.shape == (p.rows["train"], 3)
    # Every row is there; the plain string 'shipping' is the one-label set (shipping,).
    totals = {k: sum(s["labels"].get(k, 0) for s in p.report["splits"].values()) for k in p.labels.names}
    assert totals == {"account": 20, "billing": 20, "shipping": 30} and sum(p.rows.values()) == 60


def test_stream_and_memory_agree_on_a_list_task(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "CHUNK_ROWS", 7)  # the first chunk holds a plain string and lists
    f = tags_jsonl(tmp_path / "d.jsonl")
    st = data.prepare(DataConfig(data=str(f), stream=True), seed=3)
    rows = sum(len(y) for split in st.split_names for _, y in st.chunks(split))
    assert rows == sum(st.rows.values()) == 60
    assert st.targets("train").sum(axis=0).tolist() == [st.report["splits"]["train"]["labels"].get(n, 0)
                                                        for n in st.labels.names]


def test_single_label_data_resolves_to_single_label(tmp_path):
    f = write(tmp_path / "d.csv", "text,label\n" + "".join(f"t{i},{'ab'[i % 2]}\n" for i in range(20)))
    p = data.prepare(DataConfig(data=str(f)), seed=0)
    assert not p.multi_label and p.config.task is Task.SINGLE_LABEL
    assert "pos_weight" not in p.report and "label_cardinality" not in p.report["splits"]["train"]


def test_single_label_task_refuses_lists_and_dicts_stay_errors(tmp_path):
    f = tags_jsonl(tmp_path / "d.jsonl")
    with pytest.raises(TfclfError, match=r"d.jsonl: line 1: --label-column 'label' holds a list.*"
                                         r"drop --task single-label"):
        data.prepare(DataConfig(data=str(f), task="single-label"), seed=0)
    g = write(tmp_path / "e.jsonl", '{"text": "a", "label": {"k": 1}}\n')
    with pytest.raises(TfclfError, match=r"holds a dict.*A dict is never a label"):
        data.read_examples(str(g), DataConfig())


def test_load_splits_needs_the_task_said_for_lists(tmp_path):
    f = tags_jsonl(tmp_path / "d.jsonl")
    with pytest.raises(TfclfError, match=r"d.jsonl: line 1: --label-column 'label' holds a list \(\['billing'\]\), "
                                         r"so the data is multi-label; pass --task multi-label"):
        data.load_splits(DataConfig(data=str(f)), seed=0)
    splits = data.load_splits(DataConfig(data=str(f), task="multi-label"), seed=0)
    assert all(isinstance(x, tuple) for x in splits.train["label"])


def test_read_examples_gives_label_sets_when_lists_are_mixed_with_strings(tmp_path):
    f = write(tmp_path / "d.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label": ["y", "x"]}\n')
    assert data.read_examples(str(f), DataConfig())["label"].tolist() == [("x",), ("x", "y")]


# --------------------------------------------------------------------------- the report

def test_cardinality():
    assert cardinality([("a",), ("a", "b"), ()], {0: 2, 1: 1, 2: 1}) == \
        {"label_cardinality": 1.0, "rows_without_labels": 1}
    assert cardinality([], {}) == {"label_cardinality": 0.0, "rows_without_labels": 0}


def test_report_shows_per_label_counts_per_split_and_cardinality(tmp_path, capsys):
    f = tags_jsonl(tmp_path / "d.jsonl")
    code = cli.main(["--data", str(f), "--no-token-lengths", "--report-dir", str(tmp_path / "rep"),
                     "--class-weight", "balanced"])
    out = capsys.readouterr().out
    assert code == 0
    report = json.loads((tmp_path / "rep" / "data_report.json").read_text())
    for split, stats in report["splits"].items():
        frame_rows = stats["rows"]
        assert set(stats) == {"rows", "labels", "label_cardinality", "rows_without_labels"}
        assert 0 < stats["label_cardinality"] < 2 and stats["rows_without_labels"] <= frame_rows
    train = report["splits"]["train"]
    assert train["label_cardinality"] == round(sum(train["labels"].values()) / train["rows"], 4)
    assert report["class_weight"] is None and set(report["pos_weight"]) == {"account", "billing", "shipping"}
    assert "Rows per split and label (multi-label: rows carrying the label):" in out
    assert "Label cardinality (mean labels per row; rows without labels): train " in out
    assert "Positive weights per label: account " in out


def test_summary_names_a_dropped_code():
    report = {"splits": {"train": {"rows": 2, "labels": {"I": 1}, "label_cardinality": 0.5,
                                   "rows_without_labels": 1}},
              "labels": ["I"], "multi_label": True, "dropped": {"invalid_code": 1},
              "drop_examples": {"invalid_code": "d.csv: line 3: 'INXJ'"},
              "duplicates": {"within": {}, "across": {}}}
    text = format_summary(report)
    assert "Dropped: invalid_code 1 (e.g. d.csv: line 3: 'INXJ')" in text
    assert "Label cardinality (mean labels per row; rows without labels): train 0.50 (1)" in text


# ------------------------------------------------------------------- the real shape: MBTI

@pytest.mark.skipif(not os.path.isfile(MBTI), reason="../shared/datasets/mbti_partial is not present")
def test_mbti_partial_axes(tmp_path):
    # 412 rows, 3 MB: fast enough for the default run. Counts from SOURCES.md's type counts.
    config = DataConfig(data=MBTI, skip_rows=1, text_column="posts", label_column="type",
                        label_axes="I/E,N/S,T/F,J/P", class_weight="balanced")
    p = data.prepare(config, seed=42)
    assert p.labels.names == ("I", "J", "N", "T") and p.report["dropped"] == {}
    assert sum(p.rows.values()) == 412
    totals = {k: sum(s["labels"][k] for s in p.report["splits"].values()) for k in p.labels.names}
    assert totals == {"I": 324, "J": 153, "N": 366, "T": 184}
    assert p.report["splits"]["train"]["rows_without_labels"] + sum(
        s["rows_without_labels"] for n, s in p.report["splits"].items() if n != "train") == 1  # ESFP
    # Iterative stratification keeps each axis's share in every split within 0.05 of its
    # overall share (a split of 41 rows moves a share by 0.024 per row).
    for split, stats in p.report["splits"].items():
        for label, total in totals.items():
            assert abs(stats["labels"][label] / stats["rows"] - total / 412) <= 0.05, (split, label)
    train = p.report["splits"]["train"]
    expected = [(train["rows"] - train["labels"][k]) / train["labels"][k] for k in p.labels.names]
    np.testing.assert_allclose(p.pos_weight, expected, rtol=1e-6)


def _tags_csv(path, rows):
    path.write_text("text,tags\n" + "".join(f"{t},{l}\n" for t, l in rows), encoding="utf-8")
    return path


TAG_ROWS = [(f"text {i}", ["a|b", "a", "", "b"][i % 4]) for i in range(40)]


def test_blank_multi_label_cells_are_dropped_and_the_log_says_how_to_keep_them(tmp_path, caplog):
    f = _tags_csv(tmp_path / "t.csv", TAG_ROWS)
    with caplog.at_level("WARNING"):
        p = data.prepare(DataConfig(data=str(f), label_column="tags", label_separator="|"), seed=0)
    assert p.report["dropped"] == {"blank_label": 10}
    assert sum(p.rows.values()) == 30
    assert "pass --blank-labels empty" in caplog.text


def test_blank_labels_empty_keeps_rows_with_an_empty_label_set(tmp_path):
    f = _tags_csv(tmp_path / "t.csv", TAG_ROWS)
    p = data.prepare(DataConfig(data=str(f), label_column="tags", label_separator="|", blank_labels="empty"),
                     seed=0)
    assert p.report["dropped"] == {} and sum(p.rows.values()) == 40
    by_text = dict(zip(all_labels(p)["text"], all_labels(p)["label"]))
    assert by_text["text 2"] == () and by_text["text 0"] == ("a", "b")
    y = np.concatenate([p.targets(s) for s in p.split_names])
    assert int((y.sum(axis=1) == 0).sum()) == 10  # ten all-zero targets


def test_blank_labels_empty_needs_a_multi_label_task():
    with pytest.raises(TfclfError, match=r"--blank-labels empty .* multi-label .* Received: task='single-label'"):
        DataConfig(label_column="tags", blank_labels="empty", task="single-label")
    with pytest.raises(TfclfError, match=r"--blank-labels must be one of \['drop', 'empty'\]"):
        DataConfig(label_separator="|", blank_labels="none")
