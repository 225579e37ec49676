"""Evaluation at any scale: what a labelled prediction stream must keep to write ``metrics.json``.

``SufficientStatistics`` is the accumulator of the Beam combiner (``tfclf.beam.pipeline``):
``add`` a batch of true label ids and probabilities, ``merge`` accumulators from other
workers, and ``metrics`` gives the single-label ``metrics.json`` payload of
``tfclf.evaluation.classification_metrics`` (its docstring lists every key). No Beam here.

Up to ``exact_limit`` examples (default ``EXACT_LIMIT``) the accumulator also keeps the
labels and probabilities themselves, and ``metrics`` is ``classification_metrics`` on them:
the same numbers as ``python -m tfclf.evaluate``. Beyond that it keeps only sums, and:

* exact (up to the order of floating-point sums): everything that comes from the
  confusion matrix (``accuracy``, ``precision_*``, ``recall_*``, ``f1_*``, ``mcc``,
  ``per_class`` precision/recall/f1/support, ``confusion_matrix``), computed by the same
  scikit-learn functions with each cell's count as its sample weight; ``ece`` and
  ``calibration`` (per bin: count, correct count, sum of confidences);
  ``confidence_by_class`` ``n``, ``mean``, ``min`` and ``max``;
* approximate: ``roc_auc``, ``per_class[*].roc_auc`` and ``confidence_by_class``
  ``q1``/``median``/``q3``, from histograms of the probabilities over ``HISTOGRAM_BINS``
  equal bins of the logit in [-``LOGIT_LIMIT``, ``LOGIT_LIMIT``] (about 1.6% of the
  distance to 0 or 1 per bin, i.e. 0.004 at p = 0.5 and 2e-5 at p = 0.001): a positive
  and a negative in one bin count as a tie (half), so the AUC error is at most half the
  share of (positive, negative) pairs that share a bin; a quartile is its bin's centre,
  clamped to [min, max]. ``roc_auc_info["method"]`` and ``approximated`` say so.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np

from tfclf import evaluation

EXACT_LIMIT = 100_000
HISTOGRAM_BINS = 2048
LOGIT_LIMIT = 16.0  # float32 probabilities within 1e-7 of 0 or 1 share the end bins
APPROXIMATED = ["roc_auc", "per_class.*.roc_auc", "confidence_by_class.*.q1", "confidence_by_class.*.median",
                "confidence_by_class.*.q3"]


class SufficientStatistics:
    """Counts and sums over a stream of (label id, probabilities) that ``metrics.json`` needs.

    Args:
        n_classes: C.
        calibration_bins: bins of ``ece`` (``classification_metrics``' default).
        exact_limit: examples kept as they are, for exact metrics; beyond it, only the sums.
    """

    def __init__(self, n_classes: int, calibration_bins: int = evaluation.DEFAULT_CALIBRATION_BINS,
                 exact_limit: int = EXACT_LIMIT):
        c, b, h = n_classes, calibration_bins, HISTOGRAM_BINS
        self.n_classes, self.calibration_bins, self.exact_limit = c, b, exact_limit
        self.confusion = np.zeros((c, c), np.int64)  # rows: true, columns: predicted
        self.bin_count = np.zeros(b, np.int64)
        self.bin_correct = np.zeros(b, np.int64)
        self.bin_confidence = np.zeros(b, np.float64)
        self.scores = np.zeros((2, c, h), np.int64)  # [negative/positive for class c, c, bin of p[:, c]]
        self.predicted_confidence = np.zeros((c, h), np.int64)  # confidence bins per predicted class
        self.confidence_sum = np.zeros(c, np.float64)
        self.confidence_min = np.full(c, np.inf)
        self.confidence_max = np.full(c, -np.inf)
        self.kept: Optional[list[tuple[np.ndarray, np.ndarray]]] = [] if exact_limit > 0 else None

    @property
    def n_examples(self) -> int:
        return int(self.confusion.sum())

    def add(self, y_true: np.ndarray, probabilities: np.ndarray) -> "SufficientStatistics":
        """Adds a batch: ``y_true`` ``[N] int`` label ids, ``probabilities`` ``[N, C] float32``."""
        y = np.asarray(y_true, np.int64)
        p = np.asarray(probabilities, np.float64)  # as classification_metrics takes them
        if not len(y):
            return self
        predicted = p.argmax(axis=1)
        confidence = p.max(axis=1)
        c = self.n_classes
        self.confusion += np.bincount(y * c + predicted, minlength=c * c).reshape(c, c)
        edges = np.linspace(0.0, 1.0, self.calibration_bins + 1)
        # Bin b holds (edges[b], edges[b + 1]]; the first bin also holds 0 (expected_calibration_error).
        bins = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, self.calibration_bins - 1)
        self.bin_count += np.bincount(bins, minlength=self.calibration_bins)
        self.bin_correct += np.bincount(bins, weights=(predicted == y), minlength=self.calibration_bins).astype(np.int64)
        self.bin_confidence += np.bincount(bins, weights=confidence, minlength=self.calibration_bins)
        score_bins = _histogram_bins(p)
        for k in range(c):
            positive = y == k
            self.scores[1, k] += np.bincount(score_bins[positive, k], minlength=HISTOGRAM_BINS)
            self.scores[0, k] += np.bincount(score_bins[~positive, k], minlength=HISTOGRAM_BINS)
            chosen = predicted == k
            if chosen.any():
                self.predicted_confidence[k] += np.bincount(_histogram_bins(confidence[chosen]),
                                                            minlength=HISTOGRAM_BINS)
                self.confidence_sum[k] += confidence[chosen].sum()
                self.confidence_min[k] = min(self.confidence_min[k], confidence[chosen].min())
                self.confidence_max[k] = max(self.confidence_max[k], confidence[chosen].max())
        if self.kept is not None:
            self.kept.append((y, np.asarray(probabilities, np.float32)))
            self._drop_kept_beyond_limit()
        return self

    def merge(self, other: "SufficientStatistics") -> "SufficientStatistics":
        """Adds ``other``'s counts into this one (the combiner's ``merge_accumulators``)."""
        for name in ("confusion", "bin_count", "bin_correct", "bin_confidence", "scores", "predicted_confidence",
                     "confidence_sum"):
            getattr(self, name).__iadd__(getattr(other, name))
        np.minimum(self.confidence_min, other.confidence_min, out=self.confidence_min)
        np.maximum(self.confidence_max, other.confidence_max, out=self.confidence_max)
        if self.kept is not None and other.kept is not None:
            self.kept += other.kept
            self._drop_kept_beyond_limit()
        else:
            self.kept = None
        return self

    def _drop_kept_beyond_limit(self) -> None:
        if self.n_examples > self.exact_limit:
            self.kept = None

    @property
    def exact(self) -> bool:
        """Whether ``metrics`` is ``classification_metrics`` on the examples themselves."""
        return self.kept is not None

    def metrics(self, label_names: Sequence[str]) -> dict[str, Any]:
        """The ``metrics.json`` payload (without ``split`` and the caller's keys); see the module docstring."""
        if self.kept is not None:
            y = np.concatenate([k[0] for k in self.kept]) if self.kept else np.zeros(0, np.int64)
            p = (np.concatenate([k[1] for k in self.kept]) if self.kept
                 else np.zeros((0, len(label_names)), np.float32))
            return evaluation.classification_metrics(y, p, label_names, calibration_bins=self.calibration_bins)
        return self._metrics_from_counts(list(label_names))

    def _metrics_from_counts(self, names: list[str]) -> dict[str, Any]:
        true_ids, predicted_ids = np.divmod(np.arange(len(names) ** 2), len(names))
        weight = self.confusion.reshape(-1).astype(np.float64)  # each cell: one (true, predicted) pair
        auc, auc_info, per_class_auc = self._roc_auc(names)
        ece, reliability = self._calibration()
        counts = evaluation.label_metrics(true_ids, predicted_ids, names, per_class_auc, sample_weight=weight)
        per_class = counts.pop("per_class")
        return {
            **counts,
            "roc_auc": auc,
            "ece": ece,
            "per_class": per_class,
            "roc_auc_info": auc_info,
            "calibration": {
                "bins": self.calibration_bins,
                "binning": "equal-width bins of the confidence (largest probability) over [0, 1], "
                           "upper edge inclusive",
                "reliability": reliability,
            },
            "confidence_by_class": self._confidence_by_class(names),
            "confusion_matrix": self.confusion.tolist(),
            "labels": names,
            "n_examples": self.n_examples,
            "approximated": {"keys": APPROXIMATED, "histogram_bins": HISTOGRAM_BINS, "logit_limit": LOGIT_LIMIT,
                             "exact_limit": self.exact_limit},
        }

    def _calibration(self) -> tuple[float, list[dict[str, Any]]]:
        """``expected_calibration_error`` from the per-bin counts and sums."""
        n = self.n_examples
        edges = np.linspace(0.0, 1.0, self.calibration_bins + 1)
        ece, reliability = 0.0, []
        for b in range(self.calibration_bins):
            count = int(self.bin_count[b])
            acc = float(self.bin_correct[b] / count) if count else None
            conf = float(self.bin_confidence[b] / count) if count else None
            if count:
                ece += count / n * abs(acc - conf)
            reliability.append({"lower": float(edges[b]), "upper": float(edges[b + 1]), "count": count,
                                "accuracy": acc, "confidence": conf})
        return float(ece), reliability

    def _roc_auc(self, names: list[str]) -> tuple[Optional[float], dict[str, Any], dict[str, Optional[float]]]:
        """``evaluation.roc_auc``'s result from the score histograms (ties within a bin count half)."""
        support = self.confusion.sum(axis=1)
        present = int((support > 0).sum())
        per_class: dict[str, Optional[float]] = {}
        for i, name in enumerate(names):
            if support[i] and present > 1:
                negative, positive = self.scores[0, i].astype(np.float64), self.scores[1, i].astype(np.float64)
                below = np.concatenate([[0.0], np.cumsum(negative)[:-1]])
                per_class[name] = float((positive * (below + 0.5 * negative)).sum() / (positive.sum() * negative.sum()))
            else:
                per_class[name] = None
        used = [n for n in names if per_class[n] is not None]
        skipped = [n for n in names if per_class[n] is None]
        info: dict[str, Any] = {"average": "binary" if len(names) == 2 else "macro-ovr", "classes": used,
                                "skipped": skipped,
                                "method": f"histogram of {HISTOGRAM_BINS} logit bins (more than "
                                          f"{self.exact_limit} examples)"}
        if present < 2:
            info["note"] = f"only {present} class present in the true labels: ROC-AUC is undefined"
            return None, info, per_class
        if skipped:
            info["note"] = f"classes absent from the true labels are left out of the mean: {skipped}"
        if len(names) == 2:
            return per_class[names[1]], info, per_class
        return float(np.mean([per_class[n] for n in used])), info, per_class

    def _confidence_by_class(self, names: list[str]) -> dict[str, dict[str, Any]]:
        out = {}
        for i, name in enumerate(names):
            n = int(self.predicted_confidence[i].sum())
            if not n:
                out[name] = {"n": 0, **{k: None for k in ("mean", "min", "q1", "median", "q3", "max")}}
                continue
            low, high = float(self.confidence_min[i]), float(self.confidence_max[i])
            cumulative = np.cumsum(self.predicted_confidence[i])
            quartiles = []
            for q in (0.25, 0.5, 0.75):
                rank = q * (n - 1)  # numpy's linear percentile sits between ranks floor and ceil
                b = int(np.searchsorted(cumulative, math.floor(rank) + 1))
                quartiles.append(min(high, max(low, _bin_centre(b))))
            out[name] = {"n": n, "mean": float(self.confidence_sum[i] / n), "min": low, "q1": quartiles[0],
                         "median": quartiles[1], "q3": quartiles[2], "max": high}
        return out


def _histogram_bins(p: np.ndarray) -> np.ndarray:
    """The logit bin of each probability (``HISTOGRAM_BINS`` bins over [-LOGIT_LIMIT, LOGIT_LIMIT])."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.log(p) - np.log1p(-p)
    z = np.nan_to_num(z, nan=0.0, posinf=LOGIT_LIMIT, neginf=-LOGIT_LIMIT)
    b = np.floor((np.clip(z, -LOGIT_LIMIT, LOGIT_LIMIT) + LOGIT_LIMIT) / (2 * LOGIT_LIMIT) * HISTOGRAM_BINS)
    return np.clip(b, 0, HISTOGRAM_BINS - 1).astype(np.int64)


def _bin_centre(b: int) -> float:
    z = -LOGIT_LIMIT + (b + 0.5) * (2 * LOGIT_LIMIT / HISTOGRAM_BINS)
    return float(1.0 / (1.0 + math.exp(-z)))
