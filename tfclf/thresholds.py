"""Multi-label decision thresholds: one per label, chosen once and used everywhere.

A multi-label model outputs one sigmoid probability per label; label ``c`` is
predicted when its probability is at or above ``thresholds[c]``. The run chooses
the thresholds after training (``--threshold-strategy``):

* ``fixed``: ``--threshold`` (default 0.5) for every label;
* ``per-label-f1``: for each label, the threshold that maximises that label's F1 on
  the validation split (``tune_per_label``);
* ``per-label-mcc``: the same for each label's Matthews correlation, which weighs a
  label's absence like its presence (binary axes from ``--label-axes``).

They are saved in the run as ``thresholds.json`` and read back by ``evaluate``,
``predict`` and the export, so the labels TF Serving returns are the labels
``metrics.json`` scored. No TensorFlow here.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from tfclf import atomic, rundir
from tfclf.errors import TfclfError

FILENAME = rundir.THRESHOLDS


def tune_per_label(y_true: np.ndarray, probabilities: np.ndarray, *, metric: str = "f1",
                   default: float = 0.5) -> np.ndarray:
    """The threshold per label that maximises ``metric`` of that label on ``(y_true, probabilities)``.

    ``metric``: ``f1``, the F1 of the label's presence (a tag: what matters is finding
    it), or ``mcc``, its Matthews correlation, which weighs presence and absence alike
    (a binary axis such as MBTI's J/P, where "not J" is P and as much an answer as J).

    For each label the candidates are its distinct probabilities (predicting the
    examples at or above the candidate). The chosen threshold is the midpoint between
    the best candidate and the next lower probability, so a score a little below the
    last positive seen in validation still counts; ties go to the highest candidate
    (fewer positives predicted). A label with no positive (or, for ``mcc``, no
    negative) example keeps ``default``.

    Args:
        y_true: ``[N, C]`` 0/1 targets.
        probabilities: ``[N, C]`` probabilities.
        metric: ``f1`` or ``mcc``.
        default: the threshold of a label the metric cannot score.

    Returns:
        ``[C] float64`` thresholds in (0, 1).

    Raises:
        ValueError: shapes that differ or are not 2-D, or an unknown metric.
    """
    if metric not in ("f1", "mcc"):
        raise ValueError(f"metric must be f1 or mcc. Received: {metric!r}")
    y_true = np.asarray(y_true, dtype=np.float64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if y_true.ndim != 2 or y_true.shape != probabilities.shape:
        raise ValueError(f"y_true and probabilities must both be [N, C]. Received: {y_true.shape} and "
                         f"{probabilities.shape}")
    out = np.full(y_true.shape[1], float(default))
    n = y_true.shape[0]
    for c in range(y_true.shape[1]):
        truth, p = y_true[:, c] > 0.5, probabilities[:, c]
        positives = int(truth.sum())
        if positives == 0 or (metric == "mcc" and positives == n):
            continue
        order = np.argsort(-p, kind="stable")
        p_sorted, t_sorted = p[order], truth[order]
        tp = np.cumsum(t_sorted)
        predicted = np.arange(1, n + 1)
        if metric == "f1":
            score = 2 * tp / (predicted + positives)
        else:
            fp, fn = predicted - tp, positives - tp
            tn = n - positives - fp
            denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
            score = np.divide(tp * tn - fp * fn, denominator, out=np.zeros(n), where=denominator > 0)
        # Only the last index of a run of equal probabilities is a reachable cut.
        last = np.append(p_sorted[1:] != p_sorted[:-1], True)
        score = np.where(last, score, -np.inf)
        best = int(np.flatnonzero(score == score.max())[0])  # the highest threshold among the ties
        below = p_sorted[best + 1] if best + 1 < n else 0.0
        out[c] = float(np.clip((p_sorted[best] + below) / 2, 1e-6, 1 - 1e-6))
    return out


def tune_per_label_f1(y_true: np.ndarray, probabilities: np.ndarray, *, default: float = 0.5) -> np.ndarray:
    """``tune_per_label(..., metric="f1")``."""
    return tune_per_label(y_true, probabilities, metric="f1", default=default)


def predict(probabilities: np.ndarray, thresholds: Sequence[float] | np.ndarray | float) -> np.ndarray:
    """``[N, C]`` bool: label ``c`` is predicted when ``probabilities[:, c] >= thresholds[c]``.

    Compared in float32, as the serving signature compares them, so a probability equal
    to its threshold decides the same way here and in TF Serving.
    """
    return np.asarray(probabilities, dtype=np.float32) >= np.asarray(thresholds, dtype=np.float32)


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """The decision thresholds of a multi-label run (``thresholds.json``).

    Attributes:
        values: ``{label: threshold}`` in label id order.
        strategy: ``fixed`` or ``per-label-f1``.
        split: the split they were tuned on (None for ``fixed``).
    """

    values: dict[str, float]
    strategy: str
    split: Optional[str] = None

    @classmethod
    def fixed(cls, label_names: Sequence[str], threshold: float = 0.5) -> "Thresholds":
        return cls({name: float(threshold) for name in label_names}, "fixed")

    def array(self, label_names: Sequence[str]) -> np.ndarray:
        """``[C] float32`` in the order of ``label_names``.

        Raises:
            TfclfError: a label without a threshold.
        """
        missing = [n for n in label_names if n not in self.values]
        if missing:
            raise TfclfError(f"{FILENAME} has no threshold for label(s) {missing[:10]}. "
                             f"It names: {list(self.values)[:10]}")
        return np.array([self.values[n] for n in label_names], dtype=np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "split": self.split, "thresholds": dict(self.values)}

    def save(self, folder: str | os.PathLike) -> Path:
        """Writes ``folder/thresholds.json`` atomically; returns its path."""
        path = Path(folder) / FILENAME
        atomic.write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return path


def load(folder: str | os.PathLike) -> Optional[Thresholds]:
    """``folder/thresholds.json``, or None when the folder has none.

    Raises:
        TfclfError: the file is damaged, naming it.
    """
    path = Path(folder) / FILENAME
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        values = {str(k): float(v) for k, v in raw["thresholds"].items()}
        bad = {k: v for k, v in values.items() if not 0.0 < v < 1.0}
        if bad:
            raise ValueError(f"thresholds outside (0, 1): {bad}")
        return Thresholds(values, str(raw.get("strategy", "fixed")), raw.get("split"))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise TfclfError(f"{path}: not a tfclf thresholds file ({type(e).__name__}: {e}). "
                         "Expected {\"strategy\": ..., \"thresholds\": {label: value in (0, 1)}}.") from None


def for_run(folder: str | os.PathLike, default: float) -> Thresholds:
    """The thresholds a run's export applies: its ``thresholds.json``, else ``default``
    (the run's ``--threshold``) for every label in its ``labels.txt``.

    Raises:
        TfclfError: thresholds.json is damaged.
    """
    saved = load(folder)
    if saved is not None:
        return saved
    names = (Path(folder) / rundir.LABELS).read_text(encoding="utf-8").splitlines()
    return Thresholds.fixed(names, default)
