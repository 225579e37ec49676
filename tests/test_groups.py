"""tfclf.groups: running means per group, in first-seen order, and the one-label-per-group check."""
import numpy as np
import pytest

from tfclf import groups
from tfclf.errors import TfclfError


def test_running_means_equal_the_means_of_all_rows_in_first_seen_order():
    rng = np.random.default_rng(0)
    keys = [f"u{int(k)}" for k in rng.integers(0, 50, 1000)]  # more groups than the first buffer
    p = rng.random((1000, 3))
    means = groups.GroupMeans(3)
    for start in range(0, 1000, 64):  # in batches, as predict streams them
        means.add(keys[start:start + 64], p[start:start + 64])
    ids, counts, mean = means.result()
    assert ids == list(dict.fromkeys(keys)) and len(means) == len(set(keys))
    for g, c, m in zip(ids, counts, mean):
        rows = [i for i, k in enumerate(keys) if k == g]
        assert c == len(rows)
        np.testing.assert_allclose(m, p[rows].mean(axis=0), rtol=1e-12)


def test_group_examples_keeps_each_groups_label_and_sizes():
    grouped = groups.group_examples(["b", "a", "b"], np.array([2, 0, 2]), np.eye(3)[[2, 0, 1]], ["x", "y", "z"])
    assert grouped.ids == ["b", "a"] and grouped.counts.tolist() == [2, 1]
    assert grouped.targets.tolist() == [2, 0] and grouped.sizes() == {"min": 1, "median": 1.5, "max": 2}
    np.testing.assert_allclose(grouped.probabilities, [[0, 0.5, 0.5], [1, 0, 0]])


def test_check_labels_compares_label_sets_and_names_the_first_disagreeing_group():
    assert groups.check_labels(["u1", "u2", "u1"], [("a", "b"), ("b",), ("a", "b")]) == 2
    with pytest.raises(TfclfError, match=r"^x.csv: group 'u2' has examples with different labels: "
                                         r"\['b'\], \['b', 'c'\] \(1 of 2 groups disagree\)"):
        groups.check_labels(["u1", "u2", "u2"], [("a",), ("b",), ("b", "c")], where="x.csv")
    assert groups.check_labels([], []) == 0
