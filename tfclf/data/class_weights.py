"""``--class-weight none|balanced|sqrt|file.yaml`` -> Keras ``class_weight`` {class id: weight}."""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Optional

from tfclf.config import load_yaml
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
        weights = _from_file(Path(spec), labels)
    logger.info("Class weights (--class-weight %s): %s", spec,
                {labels.names[i]: round(w, 4) for i, w in weights.items()})
    return weights


def _from_file(path: Path, labels: LabelVocabulary) -> dict[int, float]:
    data = load_yaml(path, role="--class-weight")
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
