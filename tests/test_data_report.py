"""The data report: length statistics, the printed summary and the JSON file."""
import json

import numpy as np
import pandas as pd

from tfclf.data import report
from tfclf.data.ledger import RowLedger


def test_sample_is_bounded_and_lengths_are_quantiles():
    ledger = RowLedger(length_sample=100, seed=0)
    for start in range(0, 1000, 64):  # chunk by chunk, as when streaming
        n = min(64, 1000 - start)
        texts = ["w" * (i % 50 + 1) for i in range(start, start + n)]
        ledger.add("train", pd.DataFrame({"text": texts, "label": ["x"] * n, "line": np.arange(n)}))
    assert len(ledger.sample("train")) == 100
    stats = report.length_stats(ledger, token_lengths=lambda texts: np.array([len(t) + 2 for t in texts]),
                                seq_length=40)
    chars = stats["train"]["chars"]
    assert 15 <= chars["p50"] <= 35 and chars["max"] <= 50
    assert stats["train"]["tokens"]["p50"] == chars["p50"] + 2
    assert 0.1 < stats["train"]["truncated_rate"] < 0.4  # about 12 of 50 lengths exceed 38 chars


def test_tally_counts_and_logs(caplog):
    tally = report.Tally()
    tally.drop("blank_text", 2)
    tally.drop("where", 0)
    tally.relabel("unknown", None)
    tally.log()
    assert dict(tally.dropped) == {"blank_text": 2}
    assert "Dropped rows: {'blank_text': 2}" in caplog.text and "unknown -> drop" in caplog.text


def test_rows_to_examples_section_and_summary():
    tally = report.Tally(rows_expanded=3, examples_made=7, rows_exploded=2, blank_parts=1)
    tally.examples_per_column.update(description=3, text=4)
    assert tally.rows_to_examples(exploded=True) == {
        "rows": 3, "examples": 7, "rows_exploded": 2, "blank_parts": 1}
    section = {**tally.rows_to_examples(stacked=("description", "text"), exploded=True), "rows_in_multiple_splits": 0}
    text = report.format_summary({
        "labels": ["a"], "splits": {"train": {"rows": 7, "labels": {"a": 7}}}, "rows_to_examples": section,
        "duplicates": {"within": {"train": {"extra_copies": 0, "conflicting_labels": 0}}, "across": {}}})
    assert ("Several examples per row: 3 rows -> 7 examples (per column: description 3, text 4); "
            "rows exploded 2, blank parts skipped 1; rows in more than one split: 0") in text


def test_summary_and_json(tmp_path):
    data = {
        "labels": ["neg", "pos"], "multi_label": False,
        "splits": {"train": {"rows": 3, "labels": {"neg": 1, "pos": 2}}, "test": {"rows": 1, "labels": {"pos": 1}}},
        "dropped": {"blank_text": 2}, "relabelled": {}, "cleaning": {"strip_html": 1},
        "duplicates": {"within": {"train": {"extra_copies": 1, "conflicting_labels": 0},
                                  "test": {"extra_copies": 0, "conflicting_labels": 0}},
                       "across": {"train/test": 1}},
        "groups_in_multiple_splits": 0, "groups": {"train": 2, "test": 1},
        "eval_groups": {"group_by": "user", "split": "test", "groups": 1},
        "lengths": {"train": {"sample_rows": 3, "chars": {"p50": 10.0, "p95": 20.0},
                              "tokens": {"p50": 5.0, "p90": 8.0, "p95": 9.0, "p99": 9.0, "max": 9},
                              "seq_length": 8, "truncated_rate": 0.3333}},
    }
    text = report.format_summary(data)
    assert "neg               1           0" in text
    assert "rows              3           1" in text
    assert "Dropped: blank_text 2" in text and "train/test 1" in text
    assert "Groups in more than one split: 0" in text
    assert "Evaluation groups (--eval-group-by user): 1 in the test split" in text
    assert "truncated at 8: 33.3%" in text
    report.write(data, tmp_path / "r" / "data_report.json")
    assert json.loads((tmp_path / "r" / "data_report.json").read_text()) == data
