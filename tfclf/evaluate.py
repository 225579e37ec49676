"""Evaluation: predictions -> metrics.json, and the metrics table the CLI prints."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from sklearn import metrics as skm

from tfclf import atomic

logger = logging.getLogger(__name__)


def classification_metrics(y_true: np.ndarray, probabilities: np.ndarray,
                           label_names: Sequence[str]) -> dict[str, Any]:
    """Computes the metrics.json payload.

    Args:
        y_true: ``[N]`` int label ids.
        probabilities: ``[N, C]`` float class probabilities.
        label_names: the C label names, in id order.

    Returns:
        Top-level keys ``accuracy``, ``f1_macro``, ``f1_weighted``, ``precision_macro``,
        ``precision_weighted``, ``recall_macro``, ``recall_weighted``, ``mcc``,
        ``per_class`` ({label: precision, recall, f1, support}), ``confusion_matrix``
        (rows true, columns predicted, in ``labels`` order), ``labels`` and ``n_examples``.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(probabilities).argmax(axis=-1)
    ids = list(range(len(label_names)))
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0)
    out: dict[str, Any] = {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "f1_macro": float(skm.f1_score(y_true, y_pred, labels=ids, average="macro", zero_division=0)),
        "f1_weighted": float(skm.f1_score(y_true, y_pred, labels=ids, average="weighted", zero_division=0)),
        "precision_macro": float(skm.precision_score(y_true, y_pred, labels=ids, average="macro", zero_division=0)),
        "precision_weighted": float(skm.precision_score(y_true, y_pred, labels=ids, average="weighted",
                                                        zero_division=0)),
        "recall_macro": float(skm.recall_score(y_true, y_pred, labels=ids, average="macro", zero_division=0)),
        "recall_weighted": float(skm.recall_score(y_true, y_pred, labels=ids, average="weighted",
                                                  zero_division=0)),
        "mcc": float(skm.matthews_corrcoef(y_true, y_pred)),
        "per_class": {
            name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, name in enumerate(label_names)
        },
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=ids).tolist(),
        "labels": list(label_names),
        "n_examples": int(len(y_true)),
    }
    return out


def write_metrics(metrics: dict[str, Any], path: Path) -> None:
    atomic.write_text(path, json.dumps(metrics, indent=2, sort_keys=False) + "\n")


def format_table(metrics: dict[str, Any], split: str) -> str:
    """A plain-text metrics table for the terminal."""
    lines = [f"Metrics on the {split} split ({metrics['n_examples']} examples)"]
    for key in ("accuracy", "f1_macro", "f1_weighted", "precision_macro", "recall_macro", "mcc"):
        lines.append(f"  {key:<17}{metrics[key]:.4f}")
    if "train_examples_per_sec" in metrics:
        lines.append(f"  {'train ex/s':<17}{metrics['train_examples_per_sec']:.1f}")
    width = max(len(n) for n in metrics["per_class"]) + 2
    lines.append(f"  {'class':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}")
    for name, m in metrics["per_class"].items():
        lines.append(f"  {name:<{width}}{m['precision']:>10.4f}{m['recall']:>10.4f}{m['f1']:>10.4f}"
                     f"{m['support']:>9d}")
    return "\n".join(lines)
