"""The row ledger: duplicate, leak and label statistics from hashes spilled to disk partitions."""

import numpy as np
import pandas as pd

from tfclf.data import ledger as ledger_lib
from tfclf.data.ledger import RowLedger, limit_threshold, row_masks
from tfclf.data.splits import text_hashes


def frame(texts, labels, groups=None):
    df = pd.DataFrame({"text": texts, "label": labels, "line": np.arange(1, len(texts) + 1)})
    if groups is not None:
        df["group"] = groups
    return df


def test_duplicates_within_and_across_splits():
    ledger = RowLedger(length_sample=10, seed=0)
    ledger.add("train", frame(["a", "a", "a", "b", "c", "c"], ["x", "x", "y", "x", "y", "y"]))
    ledger.add("validation", frame(["a", "d", "d"], ["x", "x", "x"]))
    ledger.add("test", frame(["c", "d", "e"], ["y", "x", "x"]))
    dup = ledger.duplicates()
    assert dup["within"]["train"] == {"rows": 6, "distinct_texts": 3, "extra_copies": 3, "conflicting_labels": 1}
    assert dup["within"]["validation"]["extra_copies"] == 1
    assert dup["across"] == {"train/validation": 1, "train/test": 1, "validation/test": 1}
    assert ledger.label_counts(ledger.counts["train"]) == {"x": 3, "y": 3}
    assert ledger.first_seen[("test", ledger.label_values.index("y"))] == 1


def test_groups_in_multiple_splits_and_multi_label_counts():
    ledger = RowLedger(length_sample=0, seed=0, grouped=True)
    ledger.add("train", frame(["a", "b"], ["x", ("p", "q")], groups=["u1", "u2"]))
    ledger.add("test", frame(["c", "d"], ["x", "x"], groups=["u2", "u3"]))
    assert ledger.groups_in_multiple_splits() == (1, {"train": 2, "test": 2})
    assert ledger.label_counts(ledger.counts["train"]) == {"x": 1, "p": 1, "q": 1}


def test_many_rows_spill_to_partitions_and_match_a_direct_count(monkeypatch):
    monkeypatch.setattr(ledger_lib, "_FLUSH_ROWS", 5000)  # several flushes
    rng = np.random.default_rng(0)
    texts = [f"t{int(i)}" for i in rng.integers(0, 30000, size=40000)]
    ledger = RowLedger(length_sample=50, seed=0)
    for start in range(0, 40000, 3000):
        ledger.add("train", frame(texts[start:start + 3000], ["a"] * len(texts[start:start + 3000])))
    assert len(list(ledger._texts.dir.iterdir())) == ledger_lib.PARTITIONS
    assert ledger.duplicates()["within"]["train"]["distinct_texts"] == len(set(texts))
    assert len(ledger.sample("train")) == 50
    root = ledger._root
    ledger.close()
    assert not root.exists()


def test_label_changes_count_sorted_input():
    ledger = RowLedger(length_sample=0, seed=0)
    ledger.add("train", frame(["a", "b", "c"], ["x", "x", "y"]))
    ledger.add("train", frame(["d", "e"], ["y", "x"]))
    assert ledger.label_changes == 2


def test_row_masks_drop_unknown_labels_and_cross_split_duplicates():
    h = lambda *texts: text_hashes(list(texts))
    part = {"train": (h("a", "b"), np.array([0, 1], dtype=np.int32)),
            "validation": (h("a", "c", "z"), np.array([0, 0, 2], dtype=np.int32)),
            "test": (h("c", "b", "d"), np.array([1, 1, 1], dtype=np.int32))}
    known = np.array([True, True, False])
    keep, dropped, against = row_masks(part, known, dedupe=True)
    assert keep["validation"].tolist() == [False, True, False]
    assert keep["test"].tolist() == [False, False, True]
    assert dropped["label_not_in_train"] == {"validation": 1, "test": 0}
    assert dropped["duplicate_across_splits"] == {"validation": 1, "test": 2}
    assert sorted(against["test"].tolist()) == sorted(h("a", "b", "c").tolist())
    keep, dropped, against = row_masks(part, known, dedupe=False)
    assert keep["test"].all() and not against


def test_limit_threshold_keeps_at_most_the_limit():
    ledger = RowLedger(length_sample=0, seed=0)
    ledger.add("train", frame([f"t{i}" for i in range(20000)], ["a"] * 20000))
    from tfclf.data.splits import hash_unit

    u = hash_unit(text_hashes([f"t{i}" for i in range(20000)]), seed=1, stream=2)
    t = limit_threshold(ledger, 5000, seed=1)
    assert 4990 <= (u < t).sum() <= 5000


def test_a_rows_adjacent_examples_count_as_one_training_row():
    ledger = RowLedger(length_sample=0, seed=0)
    rows = pd.DataFrame({"text": ["a1", "a2", "b1", "c1", "c2"], "label": ["x", "x", "y", "x", "x"],
                         "line": [2, 2, 3, 4, 4]})
    ledger.add("train", rows.iloc[:3])
    ledger.add("train", rows.iloc[3:])
    assert ledger.train_row_runs == 3 and ledger.label_changes == 2 and ledger.rows("train") == 5
