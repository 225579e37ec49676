"""Raw rows -> examples: ``--where``, text columns, labels, ``--label-map``, blank rows.

An example frame has the columns ``text`` (str), ``label`` (str; a sorted tuple of
str for multi-label data), ``group`` (str, with ``--group-column``) and ``line`` (the
row's position in its source, for messages). Each dropped row is counted once, under
the first reason that applies, in this order: ``where``, ``blank_label``,
``label_map``, ``blank_text``.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Optional

import numpy as np
import pandas as pd

from tfclf.config import DataConfig
from tfclf.data import cleaning
from tfclf.data.readers import RawChunk, Source
from tfclf.data.report import Tally
from tfclf.errors import TfclfError

logger = logging.getLogger(__name__)

TEXT, LABEL, GROUP, LINE = "text", "label", "group", "line"
_TRUE = frozenset({"1", "1.0", "true", "t", "yes", "y"})
_FALSE = frozenset({"0", "0.0", "false", "f", "no", "n"})


def check_source_columns(source: Source, config: DataConfig) -> None:
    """Fails early when the config asks for columns a source does not have.

    Raises:
        TfclfError: naming the flag, the missing column and the columns that exist.
    """
    for flag, names in (("--text-column", config.text_column), ("--label-column", config.label_column),
                        ("--group-column", (config.group_column,) if config.group_column else ())):
        missing = [n for n in names if n not in source.columns]
        if missing:
            kind = {"folders": "class folders", "parallel": "parallel text/label files"}.get(
                source.format.value, "the input")
            raise TfclfError(
                f"{source.describe()}: {flag} {missing[0]!r} is not a column of {kind}. "
                f"Columns found: {list(source.columns)}")


def _as_text(values: pd.Series) -> list[str]:
    """Cells -> str; missing (None, NaN) -> ''."""
    out = []
    for v in values.tolist():
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append("")
        elif isinstance(v, str):
            out.append(v)
        elif isinstance(v, bytes):
            out.append(v.decode("utf-8", errors="replace"))
        else:
            out.append(str(v))
    return out


def apply_where(frame: pd.DataFrame, chunk: RawChunk, source: Source, query: str) -> np.ndarray:
    """The rows of ``frame`` that ``--where`` keeps, as a bool mask.

    Delimited files hold strings, so columns whose non-blank cells all parse as
    numbers are compared as numbers.

    Raises:
        TfclfError: the query is invalid or names a column the input lacks.
    """
    typed = {}
    for c in frame.columns:
        col = frame[c]
        if col.dtype == object:
            numeric = pd.to_numeric(col.replace("", None), errors="coerce")
            blank = col.isna() | (col.astype(str).str.strip() == "")
            if numeric.notna().sum() == (~blank).sum() and (~blank).any():
                col = numeric
        typed[c] = col
    try:
        mask = pd.DataFrame(typed).eval(query)
    except Exception as e:  # pandas raises UndefinedVariableError, SyntaxError, TypeError ...
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise TfclfError(
            f"{source.describe()}: --where {query!r} failed on the rows from "
            f"{source.locate(int(chunk.lines[0]))}: {reason}. Columns: {list(frame.columns)}; "
            "quote names with spaces or colons in backticks, e.g. `gender:confidence` >= 0.6.") from None
    if not isinstance(mask, pd.Series) or mask.dtype != bool:
        raise TfclfError(f"--where {query!r} must be a condition (true/false per row), e.g. "
                         f"'confidence >= 0.6'. Received a value of type {getattr(mask, 'dtype', type(mask))}.")
    return mask.to_numpy()


def _join_texts(frame: pd.DataFrame, columns: tuple[str, ...], separator: str) -> list[str]:
    parts = [_as_text(frame[c]) for c in columns]
    if len(parts) == 1:
        return parts[0]
    return [separator.join(p for p in row if p.strip()) for row in zip(*parts)]


def _binary(value: Any, column: str, where: str) -> Optional[bool]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip().lower()
    if text == "":
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise TfclfError(f"{where}: column {column!r} holds {value!r}; a binary label column must hold "
                     f"one of {sorted(_TRUE | _FALSE)}.")


def to_examples(chunk: RawChunk, source: Source, config: DataConfig, tally: Tally) -> pd.DataFrame:
    """Turns a raw chunk into examples and counts what it drops or changes.

    Args:
        chunk: raw rows from ``readers.iter_chunks``.
        source: the chunk's source, for messages.
        config: columns, labels, cleaning.
        tally: counts of rows dropped, relabelled and cleaned (updated in place).

    Returns:
        Frame of ``text``, ``label``, (``group``), ``line``.

    Raises:
        TfclfError: a binary label cell that is not 0/1, an invalid ``--where``.
    """
    frame, lines = chunk.frame, chunk.lines
    tally.read[source.describe()] += len(frame)
    keep = np.ones(len(frame), dtype=bool)
    if config.where:
        keep &= apply_where(frame, chunk, source, config.where)
        tally.drop("where", int((~keep).sum()))

    mapping = config.label_mapping()
    if len(config.label_column) > 1:
        labels = _binary_labels(frame, lines, source, config, mapping, keep, tally)
    else:
        labels = _single_column_labels(_as_text(frame[config.label_column[0]]), config, mapping,
                                       keep, tally)

    texts = pd.Series(_join_texts(frame, config.text_column, config.text_separator), dtype=object)
    texts = cleaning.clean(texts, config, tally, keep)
    blank = np.fromiter((not t.strip() for t in texts), dtype=bool, count=len(texts))
    blank &= keep
    if config.empty_text is not None:
        texts[blank] = config.empty_text
        tally.cleaned["empty_text"] += int(blank.sum())
    else:
        tally.drop("blank_text", int(blank.sum()))
        keep &= ~blank

    out = {TEXT: texts.to_numpy()[keep], LABEL: np.asarray(labels, dtype=object)[keep]}
    if config.group_column:
        groups = np.asarray(_as_text(frame[config.group_column]), dtype=object)
        blank_group = np.fromiter((not g.strip() for g in groups), dtype=bool, count=len(groups))
        if (blank_group & keep).any():
            # Such a row is its own group, keyed by its text, so identical texts stay together.
            tally.blank_groups += int((blank_group & keep).sum())
            groups = np.asarray(["\x00" + t if b else g for g, b, t in zip(groups, blank_group, texts)],
                                dtype=object)
        out[GROUP] = groups[keep]
    out[LINE] = lines[keep]
    return pd.DataFrame(out)


def _single_column_labels(cells: list[str], config: DataConfig, mapping: dict, keep: np.ndarray,
                          tally: Tally) -> list:
    labels: list = [None] * len(cells)
    sep = config.label_separator
    for i, cell in enumerate(cells):
        if not keep[i]:
            continue
        cell = cell.strip()
        if not cell:
            keep[i] = False
            tally.drop("blank_label")
            continue
        if sep is None:
            if cell in mapping:
                new = mapping[cell]
                tally.relabel(cell, new)
                if new is None:
                    keep[i] = False
                    tally.drop("label_map")
                    continue
                cell = new
            labels[i] = cell
        else:
            labels[i] = _map_set((p.strip() for p in cell.split(sep)), mapping, tally)
    return labels


def _map_set(names, mapping: dict, tally: Tally) -> tuple[str, ...]:
    out = set()
    for name in names:
        if not name:
            continue
        if name in mapping:
            tally.relabel(name, mapping[name])
            name = mapping[name]
            if name is None:
                continue
        out.add(name)
    return tuple(sorted(out))


def _binary_labels(frame: pd.DataFrame, lines: np.ndarray, source: Source, config: DataConfig,
                   mapping: dict, keep: np.ndarray, tally: Tally) -> list:
    columns = config.label_column
    cells = [frame[c].tolist() for c in columns]
    labels: list = [None] * len(frame)
    for i in range(len(frame)):
        if not keep[i]:
            continue
        flags = [_binary(cells[j][i], c, source.locate(int(lines[i]))) for j, c in enumerate(columns)]
        if any(f is None for f in flags):
            keep[i] = False
            tally.drop("blank_label")
            continue
        labels[i] = _map_set((c for c, f in zip(columns, flags) if f), mapping, tally)
    return labels
