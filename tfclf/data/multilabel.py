"""Multi-label tasks: which task the data is, composite codes -> label sets, label cardinality.

**The task** (``--task``, ``DataConfig.task``) is multi-label when the config says so
(``--task multi-label``, a ``--label-separator``, several binary ``--label-column`` or
``--label-axes``) or, under ``--task auto``, when the label column of a JSONL or
Parquet input holds lists: each element is then a label, and a cell that is not a
list is a one-label set. ``resolve_task`` turns ``auto`` into ``single-label`` or
``multi-label`` once the data has been read, so a prepared run's config records the
task it trained. A multi-label example's label is a sorted tuple of names (possibly
empty: a row with no label); a single-label example's is a str.

**Composite codes** (``--label-axes I/E,N/S,T/F,J/P`` on ``--label-column type``): axis
i reads the code's i-th character, compared case-insensitively. Its first side gives
the label named by that side as written in ``--label-axes``, its second side gives no
label, so ``INTJ`` -> ``(I, J, N, T)`` and ``esfp`` -> ``()``. ``--label-map`` then
applies to those label names (``I=introvert``). A code whose length is not the number
of axes, or with a character that is neither side of its axis (``INXJ``, ``INTJ-A``),
drops its row, counted in the data report under ``invalid_code`` with the first such
row named; when more than ``--max-invalid-codes`` (default 0.5) of an input's codes
are invalid, ``check_invalid_codes`` stops with an error instead.
"""
from __future__ import annotations

import collections
import dataclasses
import logging
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from tfclf.config import DataConfig, Task
from tfclf.data.readers import Source
from tfclf.data.report import Tally
from tfclf.errors import TfclfError

logger = logging.getLogger(__name__)

INVALID_CODE = "invalid_code"  # the data report's drop reason for a code --label-axes cannot read


def decode_code(code: str, axes: Sequence[tuple[str, str]]) -> Optional[tuple[str, ...]]:
    """A composite code -> its labels, one per axis whose first side the code holds.

    Args:
        code: the label cell, stripped, e.g. ``"INTJ"``.
        axes: ``DataConfig.axes()``, e.g. ``(("I", "E"), ("N", "S"), ("T", "F"), ("J", "P"))``.

    Returns:
        The labels in axis order (``("I", "N", "T", "J")``), or None when the code has
        another length or a character that is neither side of its axis.
    """
    if len(code) != len(axes):
        return None
    labels = []
    for char, (yes, no) in zip(code.casefold(), axes):
        if char == yes.casefold():
            labels.append(yes)
        elif char != no.casefold():
            return None
    return tuple(labels)


def check_invalid_codes(source: Source, config: DataConfig, tally: Tally) -> None:
    """Stops when most of a source's ``--label-axes`` codes were invalid.

    Args:
        source: the input just read.
        config: ``label_axes``, ``label_column`` and ``max_invalid_codes``.
        tally: the counts ``tfclf.data.columns`` kept while reading ``source``.

    Raises:
        TfclfError: more than ``--max-invalid-codes`` of the codes were invalid, naming
            the file, the column, the axes and the first invalid code.
    """
    where = source.describe()
    read, bad = tally.codes[where], tally.dropped_from[(INVALID_CODE, where)]
    if not config.label_axes or not read or bad <= config.max_invalid_codes * read:
        return
    axes = config.axes()
    raise TfclfError(
        f"{where}: --label-column {config.label_column[0]!r}: {bad} of {read} codes "
        f"({100 * bad / read:.0f}%) do not match --label-axes {','.join(config.label_axes)}, more "
        f"than --max-invalid-codes {config.max_invalid_codes:g} allows. First: "
        f"{tally.examples[(INVALID_CODE, where)]}. A code has one character per axis ({len(axes)} "
        f"here), each one side of its axis, e.g. {''.join(y for y, _ in axes)!r}. Check "
        "--label-column and --label-axes.")


def resolve_task(config: DataConfig, tally: Tally) -> DataConfig:
    """``--task auto`` -> ``single-label``, or ``multi-label`` when a label cell was a list.

    Args:
        config: the data section the inputs were read with.
        tally: what reading them found (``Tally.label_list``: the first list label).

    Returns:
        ``config`` with a definite ``task``; the same object when it had one.
    """
    if config.task is not Task.AUTO:
        return config
    if tally.label_list is None:
        return dataclasses.replace(config, task=Task.SINGLE_LABEL)
    logger.info("The task is multi-label: %s. Each element of a list is a label, and a label cell "
                "that is not a list is a one-label set (--task single-label refuses lists).",
                tally.label_list)
    return dataclasses.replace(config, task=Task.MULTI_LABEL)


def as_label_sets(labels: Iterable[Any]) -> np.ndarray:
    """[rows] object array of label sets: a str label becomes a one-label tuple."""
    values = [x if isinstance(x, tuple) else (x,) for x in labels]
    out = np.empty(len(values), dtype=object)  # 1-D even when every set has the same size
    out[:] = values
    return out


def cardinality(label_values: Sequence[Any], code_counts: dict[int, int]) -> dict[str, Any]:
    """Label cardinality of one split from its rows per label code.

    Args:
        label_values: code -> label set (``RowLedger.label_values``).
        code_counts: {code: rows} of the split.

    Returns:
        ``{"label_cardinality": mean labels per row, "rows_without_labels": int}``.
    """
    sizes = collections.Counter()
    for code, n in code_counts.items():
        sizes[len(label_values[code])] += n
    rows = sum(sizes.values())
    mean = sum(k * n for k, n in sizes.items()) / rows if rows else 0.0
    return {"label_cardinality": round(mean, 4), "rows_without_labels": sizes[0]}
