"""Evaluation: predictions -> metrics.json, plots and report.md.

The metrics.json schema (the same for a training run, a re-evaluation and a baseline)
of a **single-label** task (``classification_metrics``):

* ``task``: ``"single-label"``;
* ``accuracy``, ``precision_macro``, ``precision_weighted``, ``recall_macro``,
  ``recall_weighted``, ``f1_macro``, ``f1_weighted``, ``mcc`` (Matthews correlation);
* ``roc_auc``: binary tasks: the AUC of the second label's probability; more
  classes: the unweighted mean of the one-vs-rest AUCs. Classes absent from the
  true labels have no AUC: they are skipped and listed in
  ``roc_auc_info["skipped"]``; ``roc_auc`` is null when no class is left;
* ``ece``: expected calibration error of the confidence (the largest probability),
  over ``calibration["bins"]`` (default 15) equal-width bins of [0, 1]:
  ``sum_b |B_b| / N * |accuracy(B_b) - mean confidence(B_b)|``; the bins are in
  ``calibration["reliability"]``;
* ``per_class``: ``{label: {precision, recall, f1, support, roc_auc}}``;
* ``confidence_by_class``: ``{label: {n, mean, min, q1, median, q3, max}}`` of the
  confidence of the examples **predicted as** that label (what a caller of the
  serving signature sees in ``confidence`` when ``label`` is that class); quartiles
  are numpy's linear-interpolation percentiles; null statistics when n is 0;
* ``confusion_matrix``: rows are true labels, columns predicted, in ``labels`` order;
* ``labels``, ``n_examples``, ``split`` and whatever the caller adds (training speed);
* ``bootstrap`` (only with ``--bootstrap N``): ``{accuracy, f1_macro, mcc}``, each
  ``{low, high, std, n_resamples, confidence, seed}``, see ``bootstrap_intervals``.

Of a **multi-label** task (``multilabel_metrics``; label ``c`` is predicted when its
probability is at least ``thresholds[c]``, compared in float32 as the export does):

* ``task``: ``"multi-label"``;
* ``f1_micro``, ``f1_macro``, ``f1_weighted``, ``f1_samples``, and the same four of
  ``precision_*`` and ``recall_*`` (scikit-learn, zero_division=0: a label or example
  with nothing predicted, or nothing true, scores 0);
* ``subset_accuracy``: share of examples whose predicted label set equals the true
  one; ``accuracy``: the same number (so tables across tasks keep the column);
* ``hamming_loss``: share of wrong (example, label) decisions (lower is better);
* ``mcc``: the unweighted mean over labels of each label's binary Matthews correlation;
* ``roc_auc``, ``pr_auc``: unweighted means over the labels with both classes in the
  true labels of each label's ROC-AUC and average precision (threshold-free); the
  other labels are listed in ``roc_auc_info["skipped"]``; null when no label is left;
* ``per_label``: ``{label: {precision, recall, f1, support, predicted, accuracy, mcc,
  roc_auc, pr_auc, threshold}}`` (``support``: examples that have the label,
  ``predicted``: examples predicted with it, ``accuracy``: share of examples whose
  decision for the label is right);
* ``cardinality``: ``{true, predicted}``: mean number of labels per example;
* ``thresholds``: ``{label: threshold}``, ``threshold_strategy`` (``fixed`` or
  ``per-label-f1``, see ``tfclf.thresholds``);
* ``labels``, ``n_examples``, ``split`` and whatever the caller adds;
* ``bootstrap`` (only with ``--bootstrap N``): ``{f1_micro, f1_macro, subset_accuracy,
  mcc}``, each ``{low, high, std, n_resamples, confidence, seed}``.

Of either task, **group level** (only with ``--eval-group-by``; ``group_level_metrics``):

* ``group_level``: the examples of each group (an account, a user) combined into one
  prediction, the mean of their probabilities (multi-label: per label, then the same
  thresholds), scored against the label they share: ``group_by`` (the column, or
  ``row``), ``n_groups``, ``examples_per_group`` (``{min, median, max}``), then the
  metric keys of the task's payload above (``accuracy``, ``f1_macro``, ``per_class``,
  ``confusion_matrix``, ...: the same functions on the G groups; ``n_examples`` is left
  out, the groups are ``n_groups``), and with ``--bootstrap N`` its own ``bootstrap``,
  intervals over resampled groups (``bootstrap_intervals`` on the group-level arrays).

``evaluate_run`` re-evaluates a saved run on a labelled file (``python -m tfclf.evaluate``):
the file is read like the run read its data (columns, delimiter, encoding, cleaning,
label map from the run's config.yaml); a multi-label run is scored at the thresholds of
its ``thresholds.json``, the ones its export applies.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np
from sklearn import metrics as skm

from tfclf import (atomic, groups as groups_lib, object_storage, outputs, report as report_lib, rundir,
                   thresholds as thresholds_lib, urls)
from tfclf.config import DataConfig, RunConfig
from tfclf.errors import TfclfError
from tfclf.outputs import OutputKind

logger = logging.getLogger(__name__)

DEFAULT_CALIBRATION_BINS = 15
DEFAULT_THRESHOLD = 0.5
BOOTSTRAP_CONFIDENCE = 0.95
_BOOTSTRAP_BLOCK = 1_000_000  # resampled example indices held at once (8 MB of int64 per array)
SINGLE_LABEL, MULTI_LABEL = "single-label", "multi-label"  # metrics.json's "task"


# ------------------------------------------------------------------------------------- metrics

def classification_metrics(y_true: np.ndarray, probabilities: np.ndarray, label_names: Sequence[str],
                           *, calibration_bins: int = DEFAULT_CALIBRATION_BINS) -> dict[str, Any]:
    """Computes the metrics.json payload (see the module docstring for every key).

    Args:
        y_true: ``[N]`` int label ids in ``[0, C)``.
        probabilities: ``[N, C]`` float class probabilities (rows sum to 1).
        label_names: the C label names, in id order.
        calibration_bins: number of equal-width confidence bins for ``ece``.

    Returns:
        The payload as a JSON-serialisable dict.

    Raises:
        ValueError: shapes that do not match, or ids out of range.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n_classes = len(label_names)
    if probabilities.ndim != 2 or probabilities.shape != (len(y_true), n_classes):
        raise ValueError(f"probabilities must be [N={len(y_true)}, C={n_classes}]. "
                         f"Received: shape={probabilities.shape}")
    if len(y_true) and (y_true.min() < 0 or y_true.max() >= n_classes):
        raise ValueError(f"y_true ids must be in [0, {n_classes}). Received: {sorted(set(y_true.tolist()))}")
    y_pred = probabilities.argmax(axis=-1)
    ids = list(range(n_classes))
    auc, auc_info, per_class_auc = roc_auc(y_true, probabilities, label_names)
    ece, reliability = expected_calibration_error(y_true, probabilities, bins=calibration_bins)
    counts = label_metrics(y_true, y_pred, label_names, per_class_auc)
    per_class = counts.pop("per_class")
    out: dict[str, Any] = {
        **counts,
        "roc_auc": auc,
        "ece": ece,
        "per_class": per_class,
        "roc_auc_info": auc_info,
        "calibration": {
            "bins": calibration_bins,
            "binning": "equal-width bins of the confidence (largest probability) over [0, 1], "
                       "upper edge inclusive",
            "reliability": reliability,
        },
        "confidence_by_class": confidence_by_class(probabilities, label_names),
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=ids).tolist(),
        "labels": list(label_names),
        "n_examples": int(len(y_true)),
    }
    return out


def _mcc(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: Optional[np.ndarray] = None) -> float:
    with warnings.catch_warnings():  # one label in truth and predictions: MCC is 0, no need to warn
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(skm.matthews_corrcoef(y_true, y_pred, sample_weight=sample_weight))


def label_metrics(y_true: np.ndarray, y_pred: np.ndarray, label_names: Sequence[str],
                  per_class_auc: dict[str, Any], *, sample_weight: Optional[np.ndarray] = None) -> dict[str, Any]:
    """The label-count keys of the single-label metrics.json, in its order: ``task``, accuracy,
    precision/recall/F1 macro and weighted, MCC and ``per_class`` (with ``per_class_auc``).

    ``sample_weight`` counts each (true, predicted) pair that many times: ``tfclf.beam`` passes the
    confusion matrix's cells as one pair each.
    """
    ids = list(range(len(label_names)))
    kwargs = dict(labels=ids, zero_division=0, sample_weight=sample_weight)
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, **kwargs)

    def average(fn, avg: str) -> float:
        return float(fn(y_true, y_pred, average=avg, **kwargs))

    return {
        "task": SINGLE_LABEL,
        "accuracy": float(skm.accuracy_score(y_true, y_pred, sample_weight=sample_weight)),
        "precision_macro": average(skm.precision_score, "macro"),
        "precision_weighted": average(skm.precision_score, "weighted"),
        "recall_macro": average(skm.recall_score, "macro"),
        "recall_weighted": average(skm.recall_score, "weighted"),
        "f1_macro": average(skm.f1_score, "macro"),
        "f1_weighted": average(skm.f1_score, "weighted"),
        "mcc": _mcc(y_true, y_pred, sample_weight),
        "per_class": {
            name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(round(s[i])),
                   "roc_auc": per_class_auc[name]}
            for i, name in enumerate(label_names)
        },
    }


def multilabel_metrics(y_true: np.ndarray, probabilities: np.ndarray, label_names: Sequence[str], *,
                       thresholds: Optional[Sequence[float] | np.ndarray] = None,
                       threshold_strategy: str = "fixed") -> dict[str, Any]:
    """Computes the multi-label metrics.json payload (see the module docstring for every key).

    Label ``c`` is predicted when ``probabilities[:, c] >= thresholds[c]``, both taken as
    float32: the comparison the serving signature makes, so the scored label sets are
    the ones the export returns.

    Example::

        m = evaluation.multilabel_metrics(y, sigmoid_probs, ["billing", "shipping"],
                                          thresholds=[0.4, 0.6], threshold_strategy="per-label-f1")

    Args:
        y_true: ``[N, C]`` 0/1 targets (multi-hot), columns in ``label_names`` order.
        probabilities: ``[N, C]`` float per-label (sigmoid) probabilities.
        label_names: the C label names.
        thresholds: ``[C]`` decision thresholds in ``label_names`` order; default 0.5 for
            every label.
        threshold_strategy: how the thresholds were chosen, stored as ``threshold_strategy``.

    Returns:
        The payload as a JSON-serialisable dict.

    Raises:
        ValueError: shapes that do not match, targets other than 0/1, or thresholds
            outside [0, 1].
    """
    n_labels = len(label_names)
    y_true = np.asarray(y_true)
    probabilities = np.asarray(probabilities)
    if y_true.ndim != 2 or y_true.shape[1] != n_labels or probabilities.shape != y_true.shape:
        raise ValueError(f"y_true and probabilities must both be [N, C={n_labels}]. Received: "
                         f"y_true shape={y_true.shape}, probabilities shape={probabilities.shape}")
    if y_true.size and not np.isin(y_true, (0, 1)).all():
        raise ValueError(f"y_true must hold 0/1 (multi-hot). Received values: {np.unique(y_true)[:10].tolist()}")
    thresholds = _threshold_array(thresholds, n_labels)
    y_true = y_true.astype(np.int64)
    y_pred = thresholds_lib.predict(probabilities, thresholds).astype(np.int64)
    probabilities = probabilities.astype(np.float64)

    # scikit-learn reads a one-column indicator as a binary task: score label 1 of the column.
    one = {"labels": [1]} if n_labels == 1 else {}
    yt, yp = (y_true[:, 0], y_pred[:, 0]) if n_labels == 1 else (y_true, y_pred)

    def average(fn, avg: str) -> float:
        if not len(y_true):
            return 0.0
        if avg == "samples" and n_labels == 1:  # per example P = R = F1 = 1 if right positive, else 0
            return float((yt * yp).mean())
        return float(fn(yt, yp, average=avg, zero_division=0, **one))

    p, r, f, s = (skm.precision_recall_fscore_support(yt, yp, zero_division=0, **one) if len(y_true)
                  else (np.zeros(n_labels),) * 4)
    roc, pr = {}, {}
    for c, name in enumerate(label_names):
        both = 0 < y_true[:, c].sum() < len(y_true)  # both classes in the truth: the curves are defined
        roc[name] = float(skm.roc_auc_score(y_true[:, c], probabilities[:, c])) if both else None
        pr[name] = float(skm.average_precision_score(y_true[:, c], probabilities[:, c])) if both else None
    used = [name for name in label_names if roc[name] is not None]
    skipped = [name for name in label_names if roc[name] is None]
    info: dict[str, Any] = {"average": "macro-over-labels", "classes": used, "skipped": skipped}
    if not used:
        info["note"] = "no label has both positive and negative true examples: ROC-AUC is undefined"
    elif skipped:
        info["note"] = f"labels without both positive and negative true examples are left out of the mean: {skipped}"
    per_label_mcc = [_mcc(y_true[:, c], y_pred[:, c]) for c in range(n_labels)]
    subset_accuracy = float(skm.accuracy_score(y_true, y_pred)) if len(y_true) else 0.0
    threshold_values = _plain_floats(thresholds)
    out: dict[str, Any] = {"task": MULTI_LABEL}
    for metric, fn in (("f1", skm.f1_score), ("precision", skm.precision_score), ("recall", skm.recall_score)):
        for avg in ("micro", "macro", "weighted", "samples"):
            out[f"{metric}_{avg}"] = average(fn, avg)
    out.update({
        "subset_accuracy": subset_accuracy,
        "accuracy": subset_accuracy,
        "hamming_loss": float(skm.hamming_loss(y_true, y_pred)) if len(y_true) else 0.0,
        "mcc": float(np.mean(per_label_mcc)) if n_labels else 0.0,
        "roc_auc": float(np.mean([roc[n] for n in used])) if used else None,
        "pr_auc": float(np.mean([pr[n] for n in used])) if used else None,
        "per_label": {
            name: {"precision": float(p[c]), "recall": float(r[c]), "f1": float(f[c]), "support": int(s[c]),
                   "predicted": int(y_pred[:, c].sum()),
                   "accuracy": float((y_true[:, c] == y_pred[:, c]).mean()) if len(y_true) else 0.0,
                   "mcc": per_label_mcc[c], "roc_auc": roc[name], "pr_auc": pr[name],
                   "threshold": threshold_values[c]}
            for c, name in enumerate(label_names)
        },
        "roc_auc_info": info,
        "cardinality": {"true": float(y_true.sum(axis=1).mean()) if len(y_true) else 0.0,
                        "predicted": float(y_pred.sum(axis=1).mean()) if len(y_true) else 0.0},
        "thresholds": dict(zip(label_names, threshold_values)),
        "threshold_strategy": str(threshold_strategy),
        "labels": list(label_names),
        "n_examples": int(len(y_true)),
    })
    return out


def _threshold_array(thresholds: Optional[Sequence[float] | np.ndarray], n_labels: int) -> np.ndarray:
    """``[C] float32`` thresholds (0.5 each when None), as the serving signature holds them."""
    if thresholds is None:
        return np.full(n_labels, DEFAULT_THRESHOLD, np.float32)
    values = np.asarray(thresholds, dtype=np.float32)
    if values.shape != (n_labels,):
        raise ValueError(f"thresholds must be [C={n_labels}], one per label. Received: shape={values.shape}")
    if not np.all((values >= 0) & (values <= 1)):
        raise ValueError(f"thresholds must be in [0, 1]. Received: {values.tolist()}")
    return values


def _plain_floats(values: np.ndarray) -> list[float]:
    """float32 values as the shortest decimals that round-trip in float32 (0.3, not 0.30000001192)."""
    return [float(str(v)) for v in np.asarray(values, dtype=np.float32)]


def roc_auc(y_true: np.ndarray, probabilities: np.ndarray, label_names: Sequence[str]
            ) -> tuple[Optional[float], dict[str, Any], dict[str, Optional[float]]]:
    """ROC-AUC that never fails on missing classes.

    Args:
        y_true: ``[N]`` int label ids.
        probabilities: ``[N, C]`` float probabilities.
        label_names: the C names.

    Returns:
        ``(auc, info, per_class)``: ``auc`` is the binary AUC (C == 2, scored on the
        second label's probability) or the macro mean of one-vs-rest AUCs over the
        classes present in ``y_true`` (None when it cannot be computed); ``info`` says
        how (``average``, ``classes``, ``skipped``, ``note``); ``per_class`` maps each
        label to its one-vs-rest AUC or None.
    """
    y_true = np.asarray(y_true)
    present = set(np.unique(y_true).tolist())
    per_class: dict[str, Optional[float]] = {}
    for i, name in enumerate(label_names):
        # One-vs-rest needs positives and negatives of class i.
        if i in present and len(present) > 1:
            per_class[name] = float(skm.roc_auc_score(y_true == i, probabilities[:, i]))
        else:
            per_class[name] = None
    used = [name for name in label_names if per_class[name] is not None]
    skipped = [name for name in label_names if per_class[name] is None]
    info: dict[str, Any] = {"average": "binary" if len(label_names) == 2 else "macro-ovr",
                            "classes": used, "skipped": skipped}
    if len(present) < 2:
        info["note"] = (f"only {len(present)} class present in the true labels: "
                        "ROC-AUC is undefined")
        return None, info, per_class
    if skipped:
        info["note"] = f"classes absent from the true labels are left out of the mean: {skipped}"
    if len(label_names) == 2:
        return per_class[label_names[1]], info, per_class
    return float(np.mean([per_class[name] for name in used])), info, per_class


def expected_calibration_error(y_true: np.ndarray, probabilities: np.ndarray,
                               bins: int = DEFAULT_CALIBRATION_BINS) -> tuple[float, list[dict[str, Any]]]:
    """Expected calibration error over equal-width confidence bins (Guo et al., 2017).

    Bin ``b`` holds the examples with confidence in ``(b / bins, (b + 1) / bins]``
    (the first bin also holds confidence 0).

    Args:
        y_true: ``[N]`` int label ids.
        probabilities: ``[N, C]`` float probabilities.
        bins: number of bins.

    Returns:
        ``(ece, reliability)``: ``ece`` = sum over bins of ``count / N * |accuracy -
        mean confidence|``; ``reliability`` lists every bin as ``{lower, upper, count,
        accuracy, confidence}`` (accuracy and confidence are None for empty bins).
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1. Received: bins={bins}")
    y_true = np.asarray(y_true)
    confidence = probabilities.max(axis=-1)
    correct = probabilities.argmax(axis=-1) == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece, reliability = 0.0, []
    for b in range(bins):
        in_bin = (confidence > edges[b]) & (confidence <= edges[b + 1])
        if b == 0:
            in_bin |= confidence <= edges[0]
        count = int(in_bin.sum())
        acc = float(correct[in_bin].mean()) if count else None
        conf = float(confidence[in_bin].mean()) if count else None
        if count:
            ece += count / len(y_true) * abs(acc - conf)
        reliability.append({"lower": float(edges[b]), "upper": float(edges[b + 1]), "count": count,
                            "accuracy": acc, "confidence": conf})
    return float(ece), reliability


def confidence_by_class(probabilities: np.ndarray, label_names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Quartiles of the confidence (largest probability) of the examples predicted as each label.

    Returns:
        ``{label: {n, mean, min, q1, median, q3, max}}``; the statistics are None when
        no example is predicted as the label.
    """
    confidence = probabilities.max(axis=-1)
    predicted = probabilities.argmax(axis=-1)
    out = {}
    for i, name in enumerate(label_names):
        c = confidence[predicted == i]
        if len(c):
            q = np.percentile(c, [0, 25, 50, 75, 100])
            out[name] = {"n": int(len(c)), "mean": float(c.mean()), "min": float(q[0]), "q1": float(q[1]),
                         "median": float(q[2]), "q3": float(q[3]), "max": float(q[4])}
        else:
            out[name] = {"n": 0, **{k: None for k in ("mean", "min", "q1", "median", "q3", "max")}}
    return out


# ----------------------------------------------------------------------------------- bootstrap

def bootstrap_intervals(y_true: np.ndarray, y_pred: np.ndarray, n: int, seed: int,
                        confidence: float = BOOTSTRAP_CONFIDENCE, *,
                        n_classes: Optional[int] = None) -> dict[str, dict[str, Any]]:
    """Percentile bootstrap confidence intervals of the headline metrics of one evaluation.

    Draws ``n`` resamples of the N examples with replacement (``np.random.default_rng(seed)``,
    N indices per resample, in blocks of about a million indices so that memory stays
    bounded), scores each resample, and takes the ``(1 - confidence) / 2`` and ``(1 +
    confidence) / 2`` percentiles of the scores (numpy's linear interpolation). The
    metrics are computed from per-class counts exactly as ``classification_metrics`` and
    ``multilabel_metrics`` compute them with scikit-learn:

    * single-label (``y_true`` ``[N]``): ``accuracy``; ``f1_macro``, the mean over all
      ``n_classes`` labels, a label absent from a resample's truth and predictions scoring 0
      (``f1_score(average="macro", labels=range(n_classes), zero_division=0)``); ``mcc``
      (``matthews_corrcoef``, 0 when undefined);
    * multi-label (``y_true`` ``[N, C]``): ``f1_micro``, ``f1_macro`` (zero_division=0),
      ``subset_accuracy`` and ``mcc``, the mean over labels of each label's binary MCC.

    Example::

        ci = evaluation.bootstrap_intervals(y, probabilities.argmax(-1), 1000, seed=42, n_classes=4)
        ci["accuracy"]  # {"low": 0.78, "high": 0.84, "std": 0.016, "n_resamples": 1000, ...}

    Args:
        y_true: ``[N]`` int label ids; multi-label ``[N, C]`` 0/1 targets.
        y_pred: predictions of the same shape (multi-label: 0/1 decisions at the thresholds).
        n: number of resamples (>= 1).
        seed: seed of the resampling; the same seed and data give the same intervals.
        confidence: the central probability of the interval, in (0, 1).
        n_classes: single-label: the labels ``0 .. n_classes - 1`` that macro-F1 averages
            over (the model's label set, as ``classification_metrics`` uses); default
            ``max(y_true, y_pred) + 1``.

    Returns:
        ``{metric: {low, high, std, n_resamples, confidence, seed}}``; ``std`` is the
        sample standard deviation of the resampled scores (the bootstrap standard error).

    Raises:
        ValueError: no examples, shapes that differ, ids out of range, ``n < 1`` or
            ``confidence`` outside (0, 1).
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim not in (1, 2):
        raise ValueError(f"y_true and y_pred must both be [N] or [N, C]. Received: y_true shape={y_true.shape}, "
                         f"y_pred shape={y_pred.shape}")
    if not len(y_true):
        raise ValueError("bootstrap_intervals needs at least one example. Received: N=0")
    if n < 1:
        raise ValueError(f"n must be >= 1. Received: n={n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1). Received: confidence={confidence}")
    if y_true.ndim == 1:
        y_true, y_pred = y_true.astype(np.int64), y_pred.astype(np.int64)
        if n_classes is None:
            n_classes = int(max(y_true.max(), y_pred.max())) + 1
        if min(y_true.min(), y_pred.min()) < 0 or max(y_true.max(), y_pred.max()) >= n_classes:
            raise ValueError(f"label ids must be in [0, {n_classes}). Received: "
                             f"{sorted(set(y_true.tolist()) | set(y_pred.tolist()))[:10]}")

        def score(idx: np.ndarray) -> dict[str, np.ndarray]:
            return _single_label_scores(y_true, y_pred, idx, n_classes)
    else:
        if not (np.isin(y_true, (0, 1)).all() and np.isin(y_pred, (0, 1)).all()):
            raise ValueError("multi-label y_true and y_pred must hold 0/1.")
        # Per example: its true positives, false positives and false negatives per label, and
        # whether its label set is exact; a resample's counts are these weighted by its draws.
        t, p = y_true.astype(bool), y_pred.astype(bool)
        indicators = np.concatenate([t & p, ~t & p, t & ~p, (t == p).all(axis=1, keepdims=True)],
                                    axis=1).astype(np.float64)

        def score(idx: np.ndarray) -> dict[str, np.ndarray]:
            return _multilabel_scores(indicators, idx)

    blocks = [score(idx) for idx in _resample_blocks(len(y_true), n, seed)]
    tail = 100 * (1 - confidence) / 2
    out = {}
    for metric in blocks[0]:
        values = np.concatenate([b[metric] for b in blocks])
        low, high = np.percentile(values, [tail, 100 - tail])
        out[metric] = {"low": float(low), "high": float(high),
                       "std": float(values.std(ddof=1)) if n > 1 else 0.0,
                       "n_resamples": int(n), "confidence": float(confidence), "seed": int(seed)}
    return out


def _resample_blocks(n_examples: int, n: int, seed: int):
    """Yields ``[B, n_examples]`` int64 indices drawn with replacement, ``n`` rows in all."""
    rng = np.random.default_rng(seed)
    block = max(1, _BOOTSTRAP_BLOCK // n_examples)
    for start in range(0, n, block):
        yield rng.integers(0, n_examples, size=(min(block, n - start), n_examples))


def _single_label_scores(y_true: np.ndarray, y_pred: np.ndarray, idx: np.ndarray,
                         n_classes: int) -> dict[str, np.ndarray]:
    """Accuracy, macro-F1 and MCC of each resample ``idx[b]``, from per-class counts."""
    b, n = idx.shape
    offsets = (np.arange(b) * n_classes)[:, None]  # one bincount for all resamples: row b's classes at b * C
    true_codes = (y_true[idx] + offsets).ravel()
    correct = (y_true == y_pred)[idx].ravel()

    def counts(codes: np.ndarray) -> np.ndarray:
        return np.bincount(codes, minlength=b * n_classes).reshape(b, n_classes).astype(np.float64)

    t = counts(true_codes)  # true examples per class
    p = counts((y_pred[idx] + offsets).ravel())  # predicted per class
    tp = counts(true_codes[correct])
    n_correct = tp.sum(axis=1)
    f1 = np.divide(2 * tp, t + p, out=np.zeros_like(tp), where=(t + p) > 0)
    # sklearn's multi-class MCC: (c·s − Σ p_k t_k) / sqrt((s² − Σ p_k²)(s² − Σ t_k²)), 0 when undefined.
    cov_tp = n_correct * n - (t * p).sum(axis=1)
    cov_pp = n * n - (p * p).sum(axis=1)
    cov_tt = n * n - (t * t).sum(axis=1)
    denominator = cov_pp * cov_tt
    mcc = np.divide(cov_tp, np.sqrt(denominator), out=np.zeros_like(cov_tp), where=denominator > 0)
    return {"accuracy": n_correct / n, "f1_macro": f1.mean(axis=1), "mcc": mcc}


def _multilabel_scores(indicators: np.ndarray, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Micro- and macro-F1, subset accuracy and mean per-label MCC of each resample ``idx[b]``.

    ``indicators`` is ``[N, 3C + 1]``: each example's TP, FP and FN per label, then 1 if its
    label set is exact.
    """
    b, n = idx.shape
    c = (indicators.shape[1] - 1) // 3
    # How often each example is drawn in each resample: the counts are weighted sums over examples.
    weights = np.bincount((idx + (np.arange(b) * n)[:, None]).ravel(), minlength=b * n).reshape(b, n)
    # einsum's own loop, not BLAS: multi-threaded BLAS ran this 30x slower on a CPU busy with other jobs.
    totals = np.einsum("bn,nk->bk", weights.astype(np.float64), indicators)
    tp, fp, fn, exact = totals[:, :c], totals[:, c:2 * c], totals[:, 2 * c:3 * c], totals[:, -1]
    tn = n - tp - fp - fn
    micro = 2 * tp.sum(axis=1) + fp.sum(axis=1) + fn.sum(axis=1)
    f1_micro = np.divide(2 * tp.sum(axis=1), micro, out=np.zeros(b), where=micro > 0)
    per_label = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, per_label, out=np.zeros_like(tp), where=per_label > 0)
    denominator = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    mcc = np.divide(tp * tn - fp * fn, np.sqrt(denominator), out=np.zeros_like(tp), where=denominator > 0)
    return {"f1_micro": f1_micro, "f1_macro": f1.mean(axis=1), "subset_accuracy": exact / n,
            "mcc": mcc.mean(axis=1)}


def _bootstrap(y_true: np.ndarray, probabilities: np.ndarray, n_labels: int, n: int, seed: int, *,
               multi_label: bool, thresholds: Optional[Sequence[float] | np.ndarray],
               unit: str = "examples") -> Optional[dict[str, Any]]:
    """``bootstrap_intervals`` of the predictions the metrics scored (``unit``: what is
    resampled, for the log); None on an empty split."""
    y_true = np.asarray(y_true)
    if not len(y_true):
        logger.warning("--bootstrap %d: the evaluated split is empty; no confidence intervals.", n)
        return None
    if multi_label:
        y_pred = thresholds_lib.predict(np.asarray(probabilities), _threshold_array(thresholds, n_labels))
    else:
        y_pred = np.asarray(probabilities).argmax(axis=-1)
    logger.info("Bootstrap: %d resamples of %d %s (seed %d).", n, len(y_true), unit, seed)
    return bootstrap_intervals(y_true, y_pred, n, seed, n_classes=None if multi_label else n_labels)


# --------------------------------------------------------------------------------- group level

def group_level_metrics(groups: Sequence[Any], y_true: np.ndarray, probabilities: np.ndarray,
                        label_names: Sequence[str], *, group_by: str, multi_label: bool = False,
                        thresholds: Optional[Sequence[float] | np.ndarray] = None,
                        threshold_strategy: str = "fixed", calibration_bins: int = DEFAULT_CALIBRATION_BINS,
                        bootstrap: int = 0, bootstrap_seed: int = 0) -> dict[str, Any]:
    """metrics.json's ``group_level``: the task's metrics on the groups' mean probabilities.

    Each group's probabilities are the mean of its examples' (``tfclf.groups``); a
    single-label group is predicted its largest mean probability, a multi-label group
    each label whose mean reaches its threshold. The group's target is the label its
    examples share.

    Example::

        # u1's examples give "b" 0.45, 0.45 and 0.95: two of three argmaxes say "a", but
        # the mean, 0.62, predicts "b".
        level = evaluation.group_level_metrics(["u1", "u1", "u1", "u2"], y, probabilities, ["a", "b"],
                                               group_by="user")
        level["n_groups"], level["accuracy"]  # 2, ...

    Args:
        groups: ``[N]`` the group of each example.
        y_true, probabilities, label_names, thresholds, threshold_strategy, calibration_bins:
            as ``write_evaluation`` takes them.
        group_by: what the groups are (the column, or ``row``), stored as ``group_by``.
        multi_label: score with ``multilabel_metrics``.
        bootstrap: resamples of the groups for ``bootstrap`` intervals; 0: none.
        bootstrap_seed: their seed.

    Returns:
        ``{group_by, n_groups, examples_per_group: {min, median, max}, <metric keys>[, bootstrap]}``.

    Raises:
        TfclfError: a group whose examples have different labels, naming it.
    """
    grouped = groups_lib.group_examples(list(groups), y_true, probabilities, label_names,
                                        where=f"--eval-group-by {group_by!r}")
    if multi_label:
        scored = multilabel_metrics(grouped.targets, grouped.probabilities, label_names, thresholds=thresholds,
                                    threshold_strategy=threshold_strategy)
    else:
        scored = classification_metrics(grouped.targets, grouped.probabilities, label_names,
                                        calibration_bins=calibration_bins)
    scored.pop("n_examples")
    out: dict[str, Any] = {"group_by": group_by, "n_groups": len(grouped.ids),
                           "examples_per_group": grouped.sizes(), **scored}
    if bootstrap:
        intervals = _bootstrap(grouped.targets, grouped.probabilities, len(label_names), bootstrap,
                               bootstrap_seed, multi_label=multi_label, thresholds=thresholds, unit="groups")
        if intervals:
            out["bootstrap"] = intervals
    logger.info("Group level by %s: %d groups of %d-%d examples.", group_by, out["n_groups"],
                out["examples_per_group"]["min"], out["examples_per_group"]["max"])
    return out


# ------------------------------------------------------------------------------------- outputs

def write_metrics(metrics: dict[str, Any], path: Path) -> None:
    """Writes metrics.json atomically."""
    atomic.write_text(path, json.dumps(metrics, indent=2, sort_keys=False) + "\n")


def write_evaluation(out_dir: str | os.PathLike, y_true: np.ndarray, probabilities: np.ndarray,
                     label_names: Sequence[str], *, split: str, extra: Optional[Mapping[str, Any]] = None,
                     history: Optional[str | os.PathLike] = None, monitor: Optional[str] = None,
                     title: Optional[str] = None, plots: bool = True, report: bool = True,
                     calibration_bins: int = DEFAULT_CALIBRATION_BINS, multi_label: bool = False,
                     thresholds: Optional[Sequence[float] | np.ndarray] = None,
                     threshold_strategy: str = "fixed", bootstrap: int = 0,
                     bootstrap_seed: int = 0, groups: Optional[Sequence[Any]] = None,
                     group_by: Optional[str] = None) -> dict[str, Any]:
    """Computes the metrics and writes metrics.json, the plots and report.md into ``out_dir``.

    The one call a training run, ``python -m tfclf.evaluate`` and the baselines make.
    report.md also picks up ``out_dir/data_report.json`` and the baselines' metrics
    in ``out_dir/baselines/<method>/metrics.json`` when they exist.

    Example::

        metrics = evaluation.write_evaluation(run_dir, y_test, probabilities, labels.names,
                                              split="test", extra={"train_examples_per_sec": 41.5})
        metrics = evaluation.write_evaluation(run_dir, y_multi_hot, sigmoid_probs, labels.names,
                                              split="test", multi_label=True, thresholds=[0.4, 0.6],
                                              threshold_strategy="per-label-f1")

    Args:
        out_dir: folder to write into (created if missing).
        y_true: ``[N]`` int label ids; multi-label: ``[N, C]`` 0/1 targets.
        probabilities: ``[N, C]`` float probabilities (softmax; multi-label: per-label sigmoid).
        label_names: the C label names in id order.
        split: name of the evaluated split, stored as ``split``.
        extra: more top-level keys for metrics.json (speed, source files).
        history: a Keras ``history.csv`` for learning_curves.png; default
            ``out_dir/history.csv`` when it exists.
        monitor: the validation metric that picked the best epoch (marked on the
            curves); default: ``train.monitor`` of ``out_dir/config.yaml``, else
            ``val_f1_macro``.
        title: report heading; default the folder name.
        plots: write the PNGs.
        report: write report.md.
        calibration_bins: bins of the expected calibration error (single-label).
        multi_label: score with ``multilabel_metrics`` (per-label plots and report).
        thresholds: multi-label: ``[C]`` decision thresholds in ``label_names`` order;
            default 0.5 for every label.
        threshold_strategy: multi-label: how the thresholds were chosen (stored).
        bootstrap: resamples for the ``bootstrap`` confidence intervals
            (``bootstrap_intervals``); 0: none.
        bootstrap_seed: their seed (a run's ``--seed``).
        groups: ``[N]`` the group of each example (``--eval-group-by``): adds
            ``group_level`` (``group_level_metrics``); None: none.
        group_by: what the groups are (the column, or ``row``), stored as ``group_by``.

    Returns:
        The metrics.json payload.

    Raises:
        ValueError: shapes that do not match the task, as ``classification_metrics`` and
            ``multilabel_metrics`` raise.
        TfclfError: a group whose examples have different labels.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if multi_label:
        metrics = multilabel_metrics(y_true, probabilities, label_names, thresholds=thresholds,
                                     threshold_strategy=threshold_strategy)
    else:
        metrics = classification_metrics(y_true, probabilities, label_names, calibration_bins=calibration_bins)
    if bootstrap:
        intervals = _bootstrap(y_true, probabilities, len(label_names), bootstrap, bootstrap_seed,
                               multi_label=multi_label, thresholds=thresholds)
        if intervals:
            metrics["bootstrap"] = intervals
    metrics["split"] = split
    if groups is not None:
        metrics["group_level"] = group_level_metrics(
            groups, y_true, probabilities, label_names, group_by=group_by or "group", multi_label=multi_label,
            thresholds=thresholds, threshold_strategy=threshold_strategy, calibration_bins=calibration_bins,
            bootstrap=bootstrap, bootstrap_seed=bootstrap_seed)
    metrics.update(extra or {})
    write_metrics(metrics, out / rundir.METRICS)
    history_path = Path(history) if history else out / rundir.HISTORY
    made: dict[str, str] = {}
    if plots:
        made = report_lib.write_plots(out, metrics, np.asarray(y_true), np.asarray(probabilities),
                                      history=history_path if history_path.is_file() else None,
                                      monitor=monitor or rundir.RunDirectory(out).monitor())
    if report:
        report_lib.write_report(out, metrics, plots=made, title=title or out.name.lstrip(".").removesuffix(
            ".partial"))
    return metrics


def format_table(metrics: dict[str, Any], split: str) -> str:
    """A plain-text metrics table for the terminal (either task's metrics.json payload)."""
    if metrics.get("task") == MULTI_LABEL:
        return _format_multilabel_table(metrics, split)
    lines = [f"Metrics on the {split} split ({metrics['n_examples']} examples{_bootstrap_note(metrics)})"]
    for key in ("accuracy", "f1_macro", "f1_weighted", "precision_macro", "recall_macro", "mcc",
                "roc_auc", "ece"):
        if metrics.get(key) is not None:
            lines.append(f"  {key:<17}{metrics[key]:.4f}{_interval(metrics, key)}")
    lines += _group_level_lines(metrics, ("accuracy", "f1_macro", "mcc"))
    if "train_examples_per_sec" in metrics:
        lines.append(f"  {'train ex/s':<17}{metrics['train_examples_per_sec']:.1f}")
    width = max(len(n) for n in metrics["per_class"]) + 2
    lines.append(f"  {'class':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}")
    for name, m in metrics["per_class"].items():
        lines.append(f"  {name:<{width}}{m['precision']:>10.4f}{m['recall']:>10.4f}{m['f1']:>10.4f}"
                     f"{m['support']:>9d}")
    return "\n".join(lines)


def _group_level_lines(metrics: Mapping[str, Any], keys: Sequence[str]) -> list[str]:
    """The table's group-level lines (``--eval-group-by``); none without ``group_level``."""
    level = metrics.get("group_level")
    if not level:
        return []
    sizes = level["examples_per_group"]
    lines = [f"  Group level by {level['group_by']} ({level['n_groups']} groups of {sizes['min']}-{sizes['max']} "
             f"examples, median {sizes['median']:g}, probabilities averaged{_bootstrap_note(level)})"]
    for key in keys:
        if level.get(key) is not None:
            lines.append(f"    {key:<15}{level[key]:.4f}{_interval(level, key)}")
    return lines


def _interval(metrics: Mapping[str, Any], key: str) -> str:
    """``"  95% CI [0.7810, 0.8420]"`` from ``metrics["bootstrap"]``; empty without one."""
    ci = (metrics.get("bootstrap") or {}).get(key)
    return f"  {ci['confidence']:.0%} CI [{ci['low']:.4f}, {ci['high']:.4f}]" if ci else ""


def _bootstrap_note(metrics: Mapping[str, Any]) -> str:
    """``"; CIs: 1000 bootstrap resamples, seed 42"``; empty without intervals."""
    first = next(iter((metrics.get("bootstrap") or {}).values()), None)
    return f"; CIs: {first['n_resamples']} bootstrap resamples, seed {first['seed']}" if first else ""


def _format_multilabel_table(metrics: dict[str, Any], split: str) -> str:
    lines = [f"Metrics on the {split} split ({metrics['n_examples']} examples, multi-label, "
             f"{len(metrics['labels'])} labels, thresholds: {metrics.get('threshold_strategy', 'fixed')}"
             f"{_bootstrap_note(metrics)})"]
    for key in ("f1_micro", "f1_macro", "f1_samples", "precision_micro", "recall_micro", "subset_accuracy",
                "hamming_loss", "mcc", "roc_auc", "pr_auc"):
        if metrics.get(key) is not None:
            lines.append(f"  {key:<17}{metrics[key]:.4f}{_interval(metrics, key)}")
    cardinality = metrics.get("cardinality") or {}
    if cardinality:
        lines.append(f"  {'labels/example':<17}{cardinality['true']:.3f} true, "
                     f"{cardinality['predicted']:.3f} predicted")
    lines += _group_level_lines(metrics, ("f1_micro", "f1_macro", "subset_accuracy", "mcc"))
    if "train_examples_per_sec" in metrics:
        lines.append(f"  {'train ex/s':<17}{metrics['train_examples_per_sec']:.1f}")
    width = max([len(n) for n in metrics["per_label"]] + [5]) + 2
    lines.append(f"  {'label':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}"
                 f"{'predicted':>11}{'threshold':>11}")
    for name, m in metrics["per_label"].items():
        lines.append(f"  {name:<{width}}{m['precision']:>10.4f}{m['recall']:>10.4f}{m['f1']:>10.4f}"
                     f"{m['support']:>9d}{m['predicted']:>11d}{m['threshold']:>11.4f}")
    return "\n".join(lines)


# ------------------------------------------------------------------------- re-evaluating a run

# Data fields that choose files, rows or splits of the training run, not how a file is read.
RUN_ONLY_DATA_FIELDS = ("data", "train", "validation", "test", "limit_train", "group_column")


def run_data_config(run_dir: str | os.PathLike, overrides: Optional[Mapping[str, Any]] = None) -> DataConfig:
    """The ``DataConfig`` that reads new files the way the run read its own.

    Format and cleaning fields (columns, delimiter, encoding, lower-casing, label
    map, ``--eval-group-by``, ...) come from the run's config.yaml; the files it named
    and its ``--group-column`` (which only splits) do not. A folder without config.yaml
    gives the defaults.

    Args:
        run_dir: the run directory (on a store, only its config.yaml is copied down).
        overrides: ``{field: value}`` taking precedence (already typed, as from flags).

    Raises:
        TfclfError: the run's config.yaml is damaged or holds invalid values, naming it.
    """
    copy = (object_storage.LocalCopy(str(run_dir), "--model", only=(rundir.CONFIG,))
            if object_storage.is_remote(run_dir) else None)
    run = rundir.RunDirectory(copy.path if copy is not None else run_dir, role="--model")
    data = run.config().data if (run / rundir.CONFIG).is_file() else DataConfig()
    fresh = DataConfig()
    return dataclasses.replace(data, **{name: getattr(fresh, name) for name in RUN_ONLY_DATA_FIELDS},
                               **dict(overrides or {}))


def evaluate_run(model_dir: str | os.PathLike, test: str | os.PathLike, *,
                 data_config: Optional[DataConfig] = None, output_dir: Optional[str | os.PathLike] = None,
                 batch_size: Optional[int] = None, overwrite: bool = False,
                 bootstrap: Optional[int] = None) -> tuple[Path, dict[str, Any]]:
    """Re-evaluates a saved run on a labelled file: metrics.json, plots and report.md.

    Predicts with the run's raw-string SavedModel (``tfclf.load``) in batches of the
    run's ``--batch-size``, so on the run's own test file the numbers equal those
    written at training time. A multi-label run is scored at the thresholds of its
    ``thresholds.json`` (else ``--threshold`` of its config, as the export does), so the
    label sets scored are those the export returns.

    Example::

        out, metrics = evaluation.evaluate_run("runs/demo", "new_tickets.csv")

    Args:
        model_dir: a run directory (with ``saved_model/`` and ``config.yaml``).
        test: a labelled file or class-folder directory.
        data_config: how to read ``test``; default ``run_data_config(model_dir)``
            (the run's columns, delimiter, encoding and cleaning). Its ``eval_group_by``
            adds ``group_level`` (the file must have that column).
        output_dir: where to write; default ``<model_dir>/eval-<test file stem>``.
        batch_size: prediction batch size; default the run's.
        overwrite: replace an existing ``output_dir``.
        bootstrap: resamples for bootstrap confidence intervals (``--bootstrap``: 0 or
            at least 100), drawn with the run's ``--seed``; default the run's.

    Returns:
        ``(output_dir, metrics)``.

    Raises:
        TfclfError: not a run directory, unreadable data, labels the model does not
            know, label sets for a single-label model, a damaged thresholds.json, an
            invalid ``bootstrap``, an existing ``output_dir`` without ``overwrite``, or
            an ``eval_group_by`` column the file lacks or a group whose examples have
            different labels.
    """
    from tfclf.data import EVAL_GROUP, LABEL, TEXT, read_examples
    from tfclf.serving import loaded  # TensorFlow: after the run and the output folder are checked

    # A run on a store is read from a local copy; its evaluation goes beside it on the store.
    copy = object_storage.LocalCopy(str(model_dir), "--model") if object_storage.is_remote(model_dir) else None
    run = rundir.RunDirectory(copy.path if copy is not None else model_dir, role="--model")
    run_dir = run.path
    shown_run = copy.url if copy is not None else str(run_dir)
    _check_run_directory(run)
    config = run.config() if (run / rundir.CONFIG).is_file() else RunConfig()
    if bootstrap is not None:
        config = config.replace("train", bootstrap=bootstrap)  # validated as fit's --bootstrap
    data_config = data_config if data_config is not None else run_data_config(run_dir)
    if batch_size is None:
        batch_size = config.train.batch_size
    if batch_size < 1:
        raise TfclfError(f"--batch-size must be >= 1. Received: batch_size={batch_size}")
    test_name = Path(str(test).rstrip("/")).name
    default_out = f"eval-{Path(test_name).stem}"
    out = object_storage.check_dir(
        output_dir or (urls.join(shown_run, default_out) if copy is not None else run_dir / default_out),
        OutputKind.EVALUATION, flag="--output-dir", overwrite=overwrite,
        inputs=[outputs.Input("--model", shown_run, outputs_inside=True), outputs.Input("--test", test)])

    df = read_examples(str(test), data_config, role="--test")
    groups = None
    if data_config.eval_group_by:
        groups = df[EVAL_GROUP].tolist()
        n_groups = groups_lib.check_labels(groups, df[LABEL].tolist(),
                                           where=f"--test {str(test)!r}: --eval-group-by {data_config.eval_group_by!r}")
        logger.info("--eval-group-by %s: %d groups in %s.", data_config.eval_group_by, n_groups, test)
    model = loaded.load(run_dir)
    names = list(model.label_names)
    task: dict[str, Any] = {}
    if model.multi_label:
        y_true = _multilabel_targets(df, test, names)
        chosen = _run_thresholds(run, config, names)
        task = {"multi_label": True, "thresholds": chosen.array(names), "threshold_strategy": chosen.strategy}
    else:
        y_true = _label_ids(df, test, names)
    logger.info("Predicting %d examples of %s with %s (batch %d).", len(df), test, model.path, batch_size)
    predicted, probabilities = model.predict(df[TEXT].tolist(), batch_size=batch_size)
    if model.multi_label:
        _check_served_labels(predicted, probabilities, task["thresholds"], names)
    with object_storage.directory(out, OutputKind.EVALUATION, flag="--output-dir", overwrite=overwrite,
                                  checked=True) as tmp:
        metrics = write_evaluation(
            tmp, y_true, probabilities, names, split="test", extra={"model": shown_run, "data": str(test)},
            history=run / rundir.HISTORY, monitor=config.train.monitor,
            title=f"{run_dir.name} on {test_name}", bootstrap=config.train.bootstrap,
            bootstrap_seed=config.train.seed, groups=groups, group_by=data_config.eval_group_by, **task)
    logger.info("Evaluation written to %s", out)
    return out, metrics


def _check_run_directory(run: rundir.RunDirectory) -> None:
    """A finished run: a folder with ``saved_model/``.

    Raises:
        TfclfError: no such folder, an unfinished run, or not a run directory.
    """
    run_dir = run.path
    if not run_dir.is_dir():
        raise TfclfError(f"--model {str(run_dir)!r}: no such run directory.")
    if not (run / rundir.SAVED_MODEL).is_dir():
        found = sorted(p.name for p in run_dir.iterdir())[:10]
        if (run / rundir.CONFIG).is_file():
            raise TfclfError(f"--model {str(run_dir)!r} is an unfinished tfclf run directory: it has no "
                             f"{rundir.SAVED_MODEL}/ folder (found: {found}). Re-run fit to finish it.")
        raise TfclfError(f"--model {str(run_dir)!r} is not a tfclf run directory (it has no "
                         f"{rundir.SAVED_MODEL}/ folder; found: {found}).")


def _unknown_labels_error(test: str | os.PathLike, rows: Mapping[str, int], names: Sequence[str]) -> TfclfError:
    unknown = sorted(rows)
    return TfclfError(
        f"--test {str(test)!r}: {len(unknown)} label(s) the model does not know: "
        f"{[f'{u} ({rows[u]} rows)' for u in unknown[:10]]}. Known labels: {list(names)}. "
        "Check --label-column, or drop those rows.")


def _label_ids(df, test: str | os.PathLike, names: Sequence[str]) -> np.ndarray:
    """Single-label targets: ``[N] int64`` ids in the model's label order.

    Raises:
        TfclfError: label sets (the file was read as multi-label), or labels the model
            does not know, naming the file.
    """
    from tfclf.data import LABEL

    sets = [label for label in df[LABEL] if isinstance(label, tuple)]
    if sets:
        raise TfclfError(f"--test {str(test)!r} was read as multi-label (label sets such as {list(sets[0])}), "
                         f"but the model is single-label (labels {list(names)[:10]}). Check --task, "
                         "--label-column and --label-separator.")
    unknown = set(df[LABEL]) - set(names)
    if unknown:
        counts = df[LABEL].value_counts()
        raise _unknown_labels_error(test, {u: int(counts[u]) for u in unknown}, names)
    ids = {name: i for i, name in enumerate(names)}
    return np.array([ids[label] for label in df[LABEL]], dtype=np.int64)


def _multilabel_targets(df, test: str | os.PathLike, names: Sequence[str]) -> np.ndarray:
    """Multi-label targets: ``[N, C] int64`` multi-hot in the model's label order.

    A label cell read as one label (a single-label reading of the file) is a one-label set.

    Raises:
        TfclfError: labels the model does not know, naming the file, each with the
            number of rows that hold it, and the known labels.
    """
    from tfclf.data import LABEL
    from tfclf.data.multilabel import as_label_sets

    sets = as_label_sets(df[LABEL])
    ids = {name: i for i, name in enumerate(names)}
    rows: dict[str, int] = {}
    for labels in sets:
        for label in set(labels) - set(ids):
            rows[label] = rows.get(label, 0) + 1
    if rows:
        raise _unknown_labels_error(test, rows, names)
    y_true = np.zeros((len(sets), len(names)), dtype=np.int64)
    for i, labels in enumerate(sets):
        y_true[i, [ids[label] for label in labels]] = 1
    return y_true


def _run_thresholds(run: rundir.RunDirectory, config: RunConfig,
                    names: Sequence[str]) -> thresholds_lib.Thresholds:
    """The decision thresholds the run's export applies: its thresholds.json, else ``--threshold``.

    Raises:
        TfclfError: thresholds.json is damaged or misses a label, naming the run.
    """
    chosen = thresholds_lib.for_run(run.path, config.train.threshold)
    if not (run.path / thresholds_lib.FILENAME).is_file():
        logger.info("%s has no %s: every label's threshold is --threshold %g.", run.path, thresholds_lib.FILENAME,
                    config.train.threshold)
    try:
        chosen.array(names)
    except TfclfError as e:
        raise TfclfError(f"--model {str(run.path)!r}: {e}") from None
    return chosen


def _check_served_labels(predicted: Sequence[Sequence[str]], probabilities: np.ndarray, thresholds: np.ndarray,
                         names: Sequence[str]) -> None:
    """Warns when the SavedModel's own ``labels`` output differs from the thresholds scored here
    (a saved_model/ written with other thresholds than thresholds.json's)."""
    scored = thresholds_lib.predict(probabilities, thresholds)
    differ = sum(set(labels) != {names[c] for c in np.flatnonzero(row)} for labels, row in zip(predicted, scored))
    if differ:
        logger.warning("The run's saved_model/ returned other label sets than its thresholds give for %d of %d "
                       "examples; the metrics score the thresholds (%s), which the export applies.",
                       differ, len(scored), dict(zip(names, _plain_floats(thresholds))))
