"""``--class-weight none|balanced|sqrt|file.yaml`` -> loss weights from the training split.

* Single-label (``class_weights``): Keras ``class_weight`` {class id: weight}.
* Multi-label (``positive_weights``): one weight per label on its positive rows in
  that label's binary cross-entropy (``pos_weight``), ``[C] float32`` in vocabulary
  order: ``balanced`` is n_negative / n_positive, ``sqrt`` its square root. A label
  with no positive (or no negative) training rows gets 1: there is no balance to
  correct, and a weight of 0 would silence it.
"""
from __future__ import annotations

import logging
from collections import Counter
from typing import Optional

import numpy as np

from tfclf.config import load_yaml
from tfclf.data import filesystem
from tfclf.errors import TfclfError
from tfclf.labels import LabelVocabulary

logger = logging.getLogger(__name__)

_POWERS = {"balanced": 1.0, "sqrt": 0.5}  # exponent applied to the balanced weights


def class_weights(spec: str, train_counts: Counter, labels: LabelVocabulary) -> Optional[dict[int, float]]:
    """Per-class loss weights from the training split's label counts.

    Args:
        spec: ``none``, ``balanced`` (``rows / (classes * rows of the class)``, as
            scikit-learn's ``compute_class_weight``), ``sqrt`` (the square root of
            ``balanced``) or a YAML file mapping every label to a positive number.
        train_counts: training rows per label.
        labels: the vocabulary (ids are its order).

    Returns:
        ``{class id: weight}`` for ``Model.fit(class_weight=...)``, or None for ``none``.

    Raises:
        TfclfError: the file is missing, is not a mapping, names unknown labels,
            misses labels or has non-positive weights.
    """
    if spec == "none":
        return None
    if spec in _POWERS:  # balanced, or a power of it
        total = sum(train_counts[name] for name in labels.names)
        weights = {i: (total / (len(labels) * max(train_counts[name], 1))) ** _POWERS[spec]
                   for i, name in enumerate(labels.names)}
    else:
        weights = _from_file(spec, labels)
    logger.info("Class weights (--class-weight %s): %s", spec,
                {labels.names[i]: round(w, 4) for i, w in weights.items()})
    return weights


def positive_weights(spec: str, train_counts: Counter, train_rows: int, labels: LabelVocabulary
                     ) -> Optional[np.ndarray]:
    """Per-label weights of the positive rows in a multi-label binary cross-entropy.

    Args:
        spec: ``none``, ``balanced`` (n_negative / n_positive per label), ``sqrt`` (its
            square root) or a YAML file mapping every label to a positive number.
        train_counts: training rows carrying each label.
        train_rows: training rows in all (rows with no label included).
        labels: the vocabulary (weights are in its order).

    Returns:
        ``[C] float32`` weights, or None for ``none``. A label with no positive or no
        negative training rows gets 1.0 under ``balanced`` and ``sqrt`` (logged).

    Raises:
        TfclfError: as ``class_weights`` for a YAML file.
    """
    if spec == "none":
        return None
    if spec in _POWERS:
        weights, flat = [], []
        for name in labels.names:
            positive = train_counts[name]
            negative = train_rows - positive
            if positive <= 0 or negative <= 0:
                flat.append(name)
                weights.append(1.0)
            else:
                weights.append((negative / positive) ** _POWERS[spec])
        if flat:
            logger.warning("--class-weight %s: labels with no positive or no negative training rows get "
                           "weight 1: %s", spec, flat[:20])
    else:
        by_id = _from_file(spec, labels)
        weights = [by_id[i] for i in range(len(labels))]
    out = np.asarray(weights, dtype=np.float32)
    logger.info("Positive weights per label (--class-weight %s): %s", spec,
                {name: round(float(w), 4) for name, w in zip(labels.names, out)})
    return out


def _from_file(path: str, labels: LabelVocabulary) -> dict[int, float]:
    """``--class-weight FILE``: a local YAML or one on a store (``gs://``)."""
    data = load_yaml(path, role="--class-weight", read=filesystem.read_bytes)
    if not isinstance(data, dict) or not data:
        raise TfclfError(f"{path}: expected a mapping of label: weight. Received: {type(data).__name__}")
    data = {str(k): v for k, v in data.items()}
    unknown = sorted(set(data) - set(labels.names))
    if unknown:
        raise TfclfError(f"{path}: label {unknown[0]!r} is not a training label. "
                         f"Training labels: {list(labels.names)}")
    missing = [name for name in labels.names if name not in data]
    if missing:
        raise TfclfError(f"{path}: no weight for label(s) {missing}; give every training label a "
                         f"weight. Training labels: {list(labels.names)}")
    out = {}
    for i, name in enumerate(labels.names):
        value = data[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise TfclfError(f"{path}: the weight of {name!r} must be a positive number. Received: {value!r}")
        out[i] = float(value)
    return out
