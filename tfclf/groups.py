"""Examples -> groups: the examples of one account or user combined into one prediction.

``--eval-group-by`` (fit, evaluate) and ``--group-by`` (predict) name a column whose
value identifies a group. A group's prediction is the mean of its examples'
predicted probabilities (multi-label: the mean per label, then the run's thresholds);
its label is its examples' label, which they must share.

* ``GroupMeans`` keeps a running sum of probabilities and a count per group, in the
  order groups are first seen: memory grows with the number of groups, not of
  examples (``tfclf.prediction`` streams files through it);
* ``group_examples`` combines a whole evaluated split: group ids, sizes, the mean
  probabilities and each group's target, refusing a group whose examples disagree
  on the label (``check_labels`` is that check alone, for data read before training).

numpy only: ``tfclf.data``, ``tfclf.evaluation`` and ``tfclf.prediction`` all use it.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Hashable, Sequence

import numpy as np

from tfclf.errors import TfclfError


class GroupMeans:
    """Running mean of ``[C]`` probabilities per group, groups in first-seen order.

    Example::

        means = GroupMeans(3)
        means.add(["u1", "u2", "u1"], probabilities)  # [3, 3] float
        ids, counts, mean = means.result()  # ["u1", "u2"], [2, 1], [2, 3] float64

    Args:
        n_columns: C, the probabilities per example.
    """

    def __init__(self, n_columns: int):
        self.n_columns = int(n_columns)
        self._index: dict[Hashable, int] = {}
        self._sums = np.zeros((16, self.n_columns), dtype=np.float64)
        self._counts = np.zeros(16, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._index)

    def indices(self, groups: Sequence[Hashable]) -> np.ndarray:
        """``[n] int64``: each group's position, adding the groups not seen before."""
        index = self._index
        out = np.fromiter((index.setdefault(g, len(index)) for g in groups), dtype=np.int64, count=len(groups))
        if len(index) > len(self._counts):
            size = max(len(index), 2 * len(self._counts))
            self._sums = np.concatenate([self._sums, np.zeros((size - len(self._sums), self.n_columns))])
            self._counts = np.concatenate([self._counts, np.zeros(size - len(self._counts), dtype=np.int64)])
        return out

    def add(self, groups: Sequence[Hashable], probabilities: np.ndarray) -> np.ndarray:
        """Adds ``[n, C]`` probabilities of ``n`` examples of ``groups``; returns their ``indices``."""
        probabilities = np.asarray(probabilities, dtype=np.float64)
        if probabilities.shape != (len(groups), self.n_columns):
            raise ValueError(f"probabilities must be [n={len(groups)}, C={self.n_columns}]. "
                             f"Received: shape={probabilities.shape}")
        idx = self.indices(groups)
        np.add.at(self._sums, idx, probabilities)
        np.add.at(self._counts, idx, 1)
        return idx

    def result(self) -> tuple[list[Hashable], np.ndarray, np.ndarray]:
        """``(ids, counts [G] int64, means [G, C] float64)``, in first-seen order."""
        n = len(self._index)
        counts = self._counts[:n].copy()
        return list(self._index), counts, self._sums[:n] / np.maximum(counts, 1)[:, None]


@dataclasses.dataclass
class Grouped:
    """The examples of an evaluated split combined per group (``group_examples``).

    Attributes:
        ids: the G group ids, in first-seen order.
        counts: ``[G] int64`` examples per group.
        targets: ``[G]`` label ids, or ``[G, C]`` multi-hot: each group's examples' label.
        probabilities: ``[G, C] float64`` mean of the examples' probabilities.
    """

    ids: list[Hashable]
    counts: np.ndarray
    targets: np.ndarray
    probabilities: np.ndarray

    def sizes(self) -> dict[str, Any]:
        """``{min, median, max}`` examples per group."""
        if not len(self.counts):
            return {"min": 0, "median": 0.0, "max": 0}
        return {"min": int(self.counts.min()), "median": float(np.median(self.counts)),
                "max": int(self.counts.max())}


def group_examples(groups: Sequence[Hashable], y_true: np.ndarray, probabilities: np.ndarray,
                   label_names: Sequence[str], *, where: str = "--eval-group-by") -> Grouped:
    """Combines examples per group: mean probabilities, and the label they share.

    Args:
        groups: ``[N]`` the group id of each example.
        y_true: ``[N]`` int label ids, or ``[N, C]`` 0/1 targets (multi-label).
        probabilities: ``[N, C]`` float probabilities of the examples.
        label_names: the C label names, for the message of a disagreeing group.
        where: the start of that message (the flag, and the file or split).

    Returns:
        A ``Grouped``; the targets keep ``y_true``'s dtype.

    Raises:
        TfclfError: a group whose examples have different labels (``check_labels``).
        ValueError: arrays of different lengths.
    """
    y_true, probabilities = np.asarray(y_true), np.asarray(probabilities)
    if not len(groups) == len(y_true) == len(probabilities):
        raise ValueError(f"groups, y_true and probabilities must have one row per example. Received: "
                         f"{len(groups)}, {len(y_true)}, {len(probabilities)}")
    means = GroupMeans(probabilities.shape[1] if probabilities.ndim == 2 else len(label_names))
    idx = means.add(groups, probabilities.reshape(len(groups), means.n_columns))
    ids, counts, mean = means.result()
    first = _check(idx, ids, y_true, lambda y: _label_text(y, label_names), where)
    return Grouped(ids=ids, counts=counts, targets=y_true[first], probabilities=mean)


def check_labels(groups: Sequence[Hashable], labels: Sequence[Any], *, where: str = "--eval-group-by") -> int:
    """Checks that the examples of each group share one label (or label set).

    Args:
        groups: ``[N]`` the group id of each example.
        labels: ``[N]`` their labels: names, label-set tuples, ids or multi-hot rows.
        where: the start of the error message (the flag, and the file or split).

    Returns:
        The number of groups.

    Raises:
        TfclfError: naming the first group whose examples disagree, its labels, and how
            many groups disagree.
    """
    means = GroupMeans(0)
    idx = means.indices(groups)
    values = np.empty(len(labels), dtype=object)
    values[:] = [tuple(v) if isinstance(v, (list, np.ndarray)) else v for v in labels]
    _check(idx, means.result()[0], values, _plain, where)
    return len(means)


def _check(idx: np.ndarray, ids: list[Hashable], y: np.ndarray, text: Callable[[Any], str],
           where: str) -> np.ndarray:
    """``[G]`` the position of each group's first example; raises when a later one differs."""
    n_groups = len(ids)
    first = np.unique(idx, return_index=True)[1] if len(idx) else np.zeros(0, dtype=np.int64)
    if y.ndim == 2:
        same = (y == y[first[idx]]).all(axis=1)
    else:
        same = np.fromiter((a == b for a, b in zip(y.tolist(), y[first[idx]].tolist())), dtype=bool,
                           count=len(idx))
    if not same.all():
        bad = int(idx[np.flatnonzero(~same)[0]])
        seen = list(dict.fromkeys(text(y[i]) for i in np.flatnonzero(idx == bad)))  # first-seen order
        n_bad = len(set(idx[~same].tolist()))
        raise TfclfError(
            f"{where}: group {_plain(ids[bad])} has examples with different labels: {', '.join(seen)} ({n_bad} of "
            f"{n_groups} groups disagree). A group is scored against the one label its examples share: "
            "fix those labels, or pass another --eval-group-by (none: score the examples only).")
    return first


def _label_text(y: np.ndarray, label_names: Sequence[str]) -> str:
    if np.ndim(y):
        return str([label_names[c] for c in np.flatnonzero(y)])
    return repr(label_names[int(y)])


def _plain(value: Any) -> str:
    return repr(list(value)) if isinstance(value, tuple) else repr(value)

