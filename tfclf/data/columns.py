"""Raw rows -> examples: ``--where``, text columns, labels, ``--label-map``, blank rows.

An example frame has the columns ``text`` (str), ``label`` (str; a sorted tuple of
str for multi-label data), ``group`` (str, with ``--group-column``, the column of
``--eval-group-by`` or several examples per row: what splits keep together),
``eval_group`` (str, with ``--eval-group-by``: the column's value, or for ``row`` and a
blank cell the row itself) and ``line`` (the row's position in its source, for
messages). Each dropped
row is counted once, under the first reason that applies, in this order: ``where``,
``blank_label``, ``missing_label``, ``invalid_code``, ``label_map``, ``blank_text``.

Several examples per row (``--stack-text-columns``, ``--explode-text``):

* A row gives one example per text: with ``--stack-text-columns`` each ``--text-column``
  cell is a text (else the columns are joined with ``--text-separator``); with
  ``--explode-text SEP`` each text is split at SEP and each non-blank part is a text
  (blank parts are skipped and counted as ``blank_parts``; a text with no non-blank
  part is one blank text). Both together: stack, then explode each cell.
* Then each example is cleaned (``tfclf.data.cleaning``: the separator is gone, so a
  step never sees or breaks it), and a blank example is dropped and counted as
  ``blank_text``, or given ``--empty-text``: so ``blank_text`` counts examples here,
  not rows. ``--max-examples-per-row N`` then keeps the first N examples of each row
  (column order, then part order) and counts the rest as ``max_examples_per_row``.
* Every example keeps its row's label (or label set), ``line`` and group. The group
  is the ``--group-column`` value (without one, the ``--eval-group-by`` column's), else
  the row itself (``"\x01<role>\x1f<line>"``, one per source and line), also for a
  blank ``--group-column`` cell: splits assign whole groups (``tfclf.data.splits``), so
  a row's examples never straddle splits, in memory or streamed.

Labels:

* ``blank_label``: the cell is empty or only whitespace (a delimited file's ``a,``).
* ``missing_label``: the cell is a missing value: JSON ``null``, a Parquet null, a
  float NaN, or the text ``NaN``, ``null`` or ``None`` in any case (pandas and
  spreadsheet exports write these). They are not classes. To keep such a text as a
  class, map it: ``--label-map None=no_topic``.
* Labels are stripped of surrounding whitespace, so ``billing`` and ``billing `` are
  one class; labels that differ only in case stay separate (``prepare`` warns).
* Numeric labels are written one way: an integral number without sign, leading
  zeros, decimals or exponent (``1.0``, ``01``, ``+1``, ``1e0`` and JSON ``1.0`` are
  all ``1``), other numbers as plain decimals (``0.50`` is ``0.5``), so ``1`` and
  ``1.0`` never make two classes. Each change is counted in the report's
  ``normalised_labels`` and logged. ``--label-map`` sees the cell as written first,
  then the normalised form.
* A label with a line break is an error: the label column looks like free text.
* JSONL and Parquet: a list in the label column is the row's label set (each element
  a label); under ``--task auto`` it makes the task multi-label (``tfclf.data.multilabel``),
  under ``--task single-label`` it is an error, and so it is with ``--label-axes``; a
  dict is always an error. A text column must hold strings (or nulls, which are blank
  texts): a number, list or dict is an error naming the column, its type and the row.
* A cell that holds one label (no ``--label-separator``) is a one-label set when the
  task is multi-label; ``--label-map x=drop`` drops such a row whatever the task, and
  drops only the label from a list or a separated cell.
* ``--label-axes``: the cell is a composite code read by ``multilabel.decode_code``;
  a code it cannot read drops the row as ``invalid_code`` (after ``missing_label``,
  before ``label_map``), the first one named in the report.
"""
from __future__ import annotations

import decimal
import logging
import math
import re
from typing import Any, Optional

import numpy as np
import pandas as pd

from tfclf.config import EVAL_GROUP_ROW, BlankLabels, DataConfig, DataFormat, Task
from tfclf.data import cleaning, multilabel
from tfclf.data.delimited import missing_column_hint, requested_columns
from tfclf.data.readers import RawChunk, Source
from tfclf.data.report import Tally
from tfclf.errors import TfclfError

logger = logging.getLogger(__name__)

TEXT, LABEL, GROUP, LINE = "text", "label", "group", "line"
EVAL_GROUP = "eval_group"  # --eval-group-by: the group an example is evaluated with
_TRUE = frozenset({"1", "1.0", "true", "t", "yes", "y"})
_FALSE = frozenset({"0", "0.0", "false", "f", "no", "n"})
MISSING_LABELS = frozenset({"nan", "null", "none"})  # compared lower-cased, after strip
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?")
_SEQUENCES = (list, tuple, np.ndarray)


def check_source_columns(source: Source, config: DataConfig, *, with_labels: bool = True) -> None:
    """Fails early when the config asks for columns a source does not have.

    Args:
        with_labels: the label columns are read too (``to_examples``'s ``with_labels``).

    Raises:
        TfclfError: naming the flag, the missing column and the columns that exist.
    """
    for flag, names in requested_columns(config, with_labels):
        missing = [n for n in names if n not in source.columns]
        if missing:
            kind = {"folders": "class folders", "parallel": "parallel text/label files"}.get(
                source.format.value, "the input")
            hint = missing_column_hint(flag)
            raise TfclfError(
                f"{source.describe()}: {flag} {missing[0]!r} is not a column of {kind}. "
                f"Columns found: {list(source.columns)}" + (f".{hint}" if hint else ""))


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def canonical_label(label: str) -> str:
    """One spelling per number: ``1.0``/``01``/``+1``/``1e0`` -> ``1``, ``0.50`` -> ``0.5``;
    any other label unchanged."""
    if not _NUMBER.fullmatch(label):
        return label
    number = decimal.Decimal(label)
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def _kind(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return "list"
    if isinstance(value, np.generic):
        return type(value.item()).__name__
    return type(value).__name__


def _preview(value: Any, limit: int = 60) -> str:
    text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_text_values(frame: pd.DataFrame, chunk: RawChunk, source: Source, columns: tuple[str, ...]) -> None:
    """JSONL and Parquet keep their value types: a text column must hold strings (or nulls).

    Raises:
        TfclfError: naming the row, the column, the value's type and the value.
    """
    if source.format not in (DataFormat.JSONL, DataFormat.PARQUET):
        return
    for c in columns:
        for i, v in enumerate(frame[c].tolist()):
            if isinstance(v, (str, bytes)) or _is_missing(v):
                continue
            raise TfclfError(
                f"{source.locate(int(chunk.lines[i]))}: --text-column {c!r} holds a {_kind(v)} "
                f"({_preview(v)}); a text column must hold strings. Received: dtype {_kind(v)} in "
                f"column {c!r}. Pick the text column with --text-column, or convert the values to strings.")


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


def to_examples(chunk: RawChunk, source: Source, config: DataConfig, tally: Tally, *,
                with_labels: bool = True) -> pd.DataFrame:
    """Turns a raw chunk into examples and counts what it drops or changes.

    Args:
        chunk: raw rows from ``readers.iter_chunks``.
        source: the chunk's source, for messages.
        config: columns, labels, cleaning.
        tally: counts of rows dropped, relabelled and cleaned (updated in place).
        with_labels: False for unlabelled text (``tfclf.topics``): the label columns are
            not read and every ``label`` is None; texts are read, filtered and cleaned
            exactly as with labels.

    Returns:
        Frame of ``text``, ``label``, (``group``), ``line``: one example per row, or several
        per row with ``--stack-text-columns``/``--explode-text`` (adjacent, in row order).

    Raises:
        TfclfError: a binary label cell that is not 0/1, an invalid ``--where``, a label
            with a line break, a dict label, a list label under ``--task single-label`` or
            ``--label-axes``, a non-string text.
    """
    frame, lines = chunk.frame, chunk.lines
    tally.read[source.describe()] += len(frame)
    keep = np.ones(len(frame), dtype=bool)
    if config.where:
        keep &= apply_where(frame, chunk, source, config.where)
        tally.drop("where", int((~keep).sum()))

    mapping = config.label_mapping()
    if not with_labels:
        labels = [None] * len(frame)
    elif len(config.label_column) > 1:
        labels = _binary_labels(frame, lines, source, config, mapping, keep, tally)
    else:
        labels = _single_column_labels(frame[config.label_column[0]].tolist(), lines, source, config,
                                       mapping, keep, tally)

    check_text_values(frame, chunk, source, config.text_column)
    if config.several_examples_per_row:
        row, texts, column = _row_examples(frame, config, keep, tally)
        counted = np.ones(len(row), dtype=bool)
    else:
        row, column = np.arange(len(frame)), None
        texts = pd.Series(_join_texts(frame, config.text_column, config.text_separator), dtype=object)
        counted = keep.copy()
    texts = cleaning.clean(texts, config, tally, counted)
    blank = np.fromiter((not t.strip() for t in texts), dtype=bool, count=len(texts))
    blank &= counted
    if config.empty_text is not None:
        texts[blank] = config.empty_text
        tally.cleaned["empty_text"] += int(blank.sum())
    else:
        tally.drop("blank_text", int(blank.sum()))
        counted &= ~blank
    if config.max_examples_per_row is not None:
        counted &= ~_over_max(row, counted, config.max_examples_per_row, tally)
    if column is not None:
        tally.examples_made += int(counted.sum())
        if config.stack_text_columns:
            tally.examples_per_column.update(column[counted].tolist())

    label_array = np.empty(len(labels), dtype=object)  # a 1-D array even when every label set has 2 labels
    label_array[:] = labels
    rows = row[counted]
    out = {TEXT: texts.to_numpy()[counted], LABEL: label_array[rows]}
    if config.split_group_column or config.several_examples_per_row:
        out[GROUP] = _groups(frame, lines, source, config, texts, rows, tally)[rows]
    if config.eval_group_by:
        out[EVAL_GROUP] = _eval_groups(frame, lines, source, config)[rows]
    out[LINE] = lines[rows]
    return pd.DataFrame(out)


def _row_examples(frame: pd.DataFrame, config: DataConfig, keep: np.ndarray, tally: Tally
                  ) -> tuple[np.ndarray, pd.Series, np.ndarray]:
    """The examples of the kept rows under --stack-text-columns and --explode-text.

    A stacked column gives one text per cell, else the text columns are joined; a text
    with a non-blank part between --explode-text separators gives its non-blank parts
    (blank parts are counted and skipped), a text without one a single blank example
    (for the blank-text rule). Examples come row by row, in column and part order.

    Returns:
        ``row`` [examples] int64 (positions in ``frame``, ascending), ``texts``
        [examples] object Series of str, ``column`` [examples] object: the text column
        of each (None when the columns are joined).
    """
    if config.stack_text_columns:
        cells = [(c, _as_text(frame[c])) for c in config.text_column]
    else:
        cells = [(None, _join_texts(frame, config.text_column, config.text_separator))]
    separator = config.explode_text
    rows: list[int] = []
    texts: list[str] = []
    columns: list[Optional[str]] = []
    for i in np.flatnonzero(keep).tolist():
        exploded = False
        for column, values in cells:
            parts = [values[i]]
            if separator is not None:
                pieces = values[i].split(separator)
                parts = [p for p in pieces if p.strip()]
                if parts:
                    tally.blank_parts += len(pieces) - len(parts)
                    exploded |= len(pieces) > 1
                else:  # only blanks and separators: a blank text
                    parts = [""]
            rows.extend([i] * len(parts))
            texts.extend(parts)
            columns.extend([column] * len(parts))
        tally.rows_exploded += exploded
    tally.rows_expanded += int(keep.sum())
    column_array = np.empty(len(columns), dtype=object)
    column_array[:] = columns
    return np.asarray(rows, dtype=np.int64), pd.Series(texts, dtype=object), column_array


def _over_max(row: np.ndarray, kept: np.ndarray, limit: int, tally: Tally) -> np.ndarray:
    """[examples] bool: the kept examples past the first ``limit`` of their row, counted as dropped."""
    positions = np.flatnonzero(kept)
    rows = row[positions]  # ascending, so a row's examples are adjacent
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows)
    over = np.zeros(len(row), dtype=bool)
    over[positions[rank >= limit]] = True
    tally.drop("max_examples_per_row", int(over.sum()))
    return over


def _groups(frame: pd.DataFrame, lines: np.ndarray, source: Source, config: DataConfig,
            texts: pd.Series, rows: np.ndarray, tally: Tally) -> np.ndarray:
    """[len(frame)] object: the group of each row, for the rows in ``rows`` (the others unused).

    A row's examples share its group, so they are split together: the ``--group-column``
    value, else (several examples per row) the row itself, named by its source and line.
    """
    column = config.split_group_column
    if config.several_examples_per_row:
        row_keys = _row_keys(source, lines)
        if not column:
            return row_keys
    groups = np.asarray(_as_text(frame[column]), dtype=object)
    blank = np.zeros(len(frame), dtype=bool)
    blank[rows] = True
    blank &= np.fromiter((not g.strip() for g in groups), dtype=bool, count=len(groups))
    if blank.any():
        tally.blank_groups += int(blank.sum())
        if config.several_examples_per_row:
            # The row is the group: its examples differ, and must not straddle splits.
            groups = np.where(blank, row_keys, groups)
        else:
            # Such a row is its own group, keyed by its text, so identical texts stay together.
            text = texts.to_numpy()
            groups = np.asarray(["\x00" + text[i] if b else g for i, (g, b) in enumerate(zip(groups, blank))],
                                dtype=object)
    return groups


def _row_keys(source: Source, lines: np.ndarray) -> np.ndarray:
    """[len(lines)] object: a key per row, one per source and line."""
    return np.asarray([f"\x01{source.role}\x1f{line}" for line in lines.tolist()], dtype=object)


def _eval_groups(frame: pd.DataFrame, lines: np.ndarray, source: Source, config: DataConfig) -> np.ndarray:
    """[len(frame)] object: the --eval-group-by group of each row: the column's value, or the
    row itself (``row``, and a blank cell: its examples are a group of their own)."""
    row_keys = _row_keys(source, lines)
    if config.eval_group_by == EVAL_GROUP_ROW:
        return row_keys
    groups = np.asarray(_as_text(frame[config.eval_group_by]), dtype=object)
    blank = np.fromiter((not g.strip() for g in groups), dtype=bool, count=len(groups))
    return np.where(blank, row_keys, groups) if blank.any() else groups


def _single_column_labels(values: list, lines: np.ndarray, source: Source, config: DataConfig,
                          mapping: dict, keep: np.ndarray, tally: Tally) -> list:
    labels: list = [None] * len(values)
    sep = config.label_separator
    column = config.label_column[0]
    axes = config.axes()
    for i, value in enumerate(values):
        if not keep[i]:
            continue
        if isinstance(value, (dict, *_SEQUENCES)):
            labels[i] = _label_set(value, int(lines[i]), source, config, mapping, tally)
            continue
        if _is_missing(value):
            keep[i] = False
            tally.drop("missing_label")
            continue
        cell = (value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)).strip()
        if not cell:
            if config.multi_label and config.blank_labels is BlankLabels.EMPTY and not axes:
                labels[i] = ()
                continue
            keep[i] = False
            tally.drop("blank_label")
            if config.multi_label and not axes:
                tally.blank_label_sets = True
            continue
        if cell.lower() in MISSING_LABELS and cell not in mapping:
            keep[i] = False
            tally.drop("missing_label")
            continue
        if "\n" in cell or "\r" in cell:
            raise TfclfError(
                f"{source.locate(int(lines[i]))}: --label-column {column!r}: label {_preview(cell)} contains "
                "a line break; the label column looks like free text. Labels are class names: check "
                "--label-column (and --text-column).")
        if axes:
            tally.codes[source.describe()] += 1
            decoded = multilabel.decode_code(cell, axes)
            if decoded is None:
                keep[i] = False
                tally.drop(multilabel.INVALID_CODE, source=source.describe(),
                           example=f"{source.locate(int(lines[i]))}: {_preview(cell)}")
            else:
                labels[i] = _map_set(decoded, mapping, tally)
        elif sep is None:
            labels[i] = _map_one(cell, mapping, tally)
            if labels[i] is None:
                keep[i] = False
                tally.drop("label_map")
            elif config.multi_label:
                labels[i] = (labels[i],)
        else:
            labels[i] = _map_set((p.strip() for p in cell.split(sep)), mapping, tally)
    return labels


def _label_set(value: Any, line: int, source: Source, config: DataConfig, mapping: dict,
               tally: Tally) -> tuple[str, ...]:
    """A list in a JSONL/Parquet label column: the label set of a multi-label row."""
    column = config.label_column[0]
    where = source.locate(line)
    if isinstance(value, dict) or config.task is Task.SINGLE_LABEL or config.label_axes:
        expected = ("a --label-axes code such as " + repr("".join(y for y, _ in config.axes()))
                    if config.label_axes else "one label per row")
        raise TfclfError(
            f"{where}: --label-column {column!r} holds a {_kind(value)} ({_preview(value)}); expected "
            f"{expected}. Received: dtype {_kind(value)}. "
            + ("A dict is never a label." if isinstance(value, dict) else
               "A list is the label set of a multi-label row: drop --label-axes to read it so."
               if config.label_axes else
               "A list is the label set of a multi-label row: drop --task single-label (or pass "
               "--task multi-label) to read it so."))
    if tally.label_list is None:
        tally.label_list = f"{where}: --label-column {column!r} holds a list ({_preview(value)})"
    items = []
    for item in (value.tolist() if isinstance(value, np.ndarray) else value):
        if isinstance(item, (dict, *_SEQUENCES)):
            raise TfclfError(f"{where}: --label-column {column!r} holds a nested {_kind(item)} "
                             f"({_preview(value)}); a label set is a list of labels.")
        if not _is_missing(item):
            items.append(str(item).strip())
    return _map_set(items, mapping, tally)


def _map_one(cell: str, mapping: dict, tally: Tally) -> Optional[str]:
    """``--label-map`` on the cell as written, else on its normalised spelling; None: drop."""
    if cell not in mapping:
        number = canonical_label(cell)
        if number != cell:
            tally.normalise(cell, number)
            cell = number
    if cell in mapping:
        new = mapping[cell]
        tally.relabel(cell, new)
        return new
    return cell


def _map_set(names, mapping: dict, tally: Tally) -> tuple[str, ...]:
    out = set()
    for name in names:
        if not name or name.lower() in MISSING_LABELS and name not in mapping:
            continue
        name = _map_one(name, mapping, tally)
        if name is not None:
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
        row = [cells[j][i] for j in range(len(columns))]
        if any(_is_missing(v) or str(v).strip().lower() in MISSING_LABELS for v in row):
            keep[i] = False
            tally.drop("missing_label")
            continue
        flags = [_binary(v, c, source.locate(int(lines[i]))) for v, c in zip(row, columns)]
        if any(f is None for f in flags):
            keep[i] = False
            tally.drop("blank_label")
            continue
        labels[i] = _map_set((c for c, f in zip(columns, flags) if f), mapping, tally)
    return labels
