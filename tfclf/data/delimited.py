"""Delimited text files: the delimiter, the records, and the one header rule.

Shared by training (``tfclf.data.readers``) and prediction (``tfclf.data.inputs``), so
both read a CSV, TSV or ``text;label`` file the same way:

* ``delimiter_for``: ``--delimiter``, else the extension's (``EXTENSION_DELIMITERS``;
  ``a.csv.gz`` is a ``.csv``, see ``tfclf.data.compression``), else one sniffed from the
  first lines;
* ``open_text`` + ``csv_records``: Python's ``csv`` module over the file (local or on a
  store, through ``tfclf.data.filesystem``), a UTF-8 byte-order mark dropped, CR/LF/CRLF
  inside quotes kept, blank rows skipped, ``--skip-rows``, merge-conflict markers
  refused, each record with its first physical line;
* ``delimited_layout``: whether the first row is a header and what the columns are (the
  rule in ``tfclf.data.readers``' docstring);
* errors that name the file and line: ``decode_error`` (undecodable bytes, also for the
  line-based readers), ``ragged_row_error``, ``no_delimiter_error``, ``check_found``.
"""
from __future__ import annotations

import codecs
import csv
import dataclasses
import itertools
import sys
from collections import Counter
from pathlib import Path
from typing import Iterator, Optional, Sequence, Union

from tfclf.config import EVAL_GROUP_ROW, DataConfig
from tfclf.data import compression, filesystem
from tfclf.errors import TfclfError

EXTENSION_DELIMITERS = {".csv": ",", ".tsv": "\t", ".txt": ";", ".psv": "|"}
_SNIFF_DELIMITERS = ",\t;|"
SNIFF_ROWS = 100  # rows read to tell a header from data and a 2-column file from a wider one
_HEADER_NAME_CHARS = 40
_HEADER_NAME_WORDS = 3
_CONFLICT_MARKERS = ("<<<<<<<", "=======", ">>>>>>>")


def delimiter_for(path: Path, config: DataConfig) -> str:
    """``--delimiter``, else the extension's, else one sniffed from the first lines."""
    if config.delimiter:
        return config.delimiter
    if compression.data_suffix(path) in EXTENSION_DELIMITERS:
        return EXTENSION_DELIMITERS[compression.data_suffix(path)]
    try:
        with filesystem.open_binary(path) as f:
            head = f.read(1 << 16)
    except compression.CORRUPT_ERRORS as e:
        raise TfclfError(compression.corrupt_message(path, e)) from None
    try:
        return csv.Sniffer().sniff(head.decode(config.encoding, errors="replace"),
                                   delimiters=_SNIFF_DELIMITERS).delimiter
    except csv.Error:
        raise TfclfError(
            f"Cannot tell the delimiter of {str(path)!r}: its extension {compression.data_suffix(path)!r} is not one "
            f"of {sorted(EXTENSION_DELIMITERS)} and none of {list(_SNIFF_DELIMITERS)} separates "
            "its first lines consistently. Pass --delimiter.") from None


def open_text(path: Path, encoding: str, errors: str = "strict"):
    """Opens a delimited file for ``csv_records``: a UTF-8 byte-order mark dropped, line ends kept.

    Args:
        errors: undecodable bytes: ``strict`` (training: an error) or ``surrogateescape``
            (prediction: kept, as a server would receive them).
    """
    if codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"  # drops a byte-order mark
    # newline="": the csv module sees CR, LF and CRLF untranslated, inside quotes too.
    return filesystem.open_text(path, encoding, errors=errors, newline="")


def decode_error(path: Path, encoding: str, raw: Optional[bytes] = None, base_offset: int = 0,
                 base_line: int = 1) -> TfclfError:
    """Finds the first undecodable byte of ``path`` (or of ``raw``, which starts at
    ``base_offset`` on line ``base_line``) and returns an error naming line and byte offset."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset, line, last_cr = base_offset, base_line, False
    blocks = [raw] if raw is not None else _read_blocks(path)
    for block in [*blocks, b""]:
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(block, final=not block)
        except UnicodeDecodeError as e:
            bad = offset - pending + e.start
            line += _count_line_breaks(block[:max(0, bad - offset)], last_cr)
            return TfclfError(
                f"{path}: line {line}, byte offset {bad}: cannot decode byte 0x{e.object[e.start]:02x} "
                f"as {encoding}. Pass --encoding latin-1 (or the file's real encoding).")
        line += _count_line_breaks(block, last_cr)
        last_cr = block.endswith(b"\r") if block else last_cr
        offset += len(block)
    return TfclfError(f"{path}: cannot decode the file as {encoding}. Pass --encoding latin-1 "
                      "(or the file's real encoding).")


def _count_line_breaks(block: bytes, after_cr: bool) -> int:
    n = block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
    return n - 1 if after_cr and block.startswith(b"\n") else n


def _read_blocks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with filesystem.open_binary(path) as f:
        while block := f.read(size):
            yield block


def file_records(path: Path, config: DataConfig, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, fields) of each non-blank record after ``--skip-rows``."""
    with open_text(path, config.encoding) as f:
        yield from csv_records(f, path, config, delimiter)


def csv_records(f, path: Path, config: DataConfig, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, fields) of each non-blank record of ``f`` after ``--skip-rows``.

    Args:
        f: ``path`` opened with ``open_text``.

    Raises:
        TfclfError: naming the file and line of a malformed row, undecodable bytes or a
            merge-conflict marker.
    """
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # reviews and posts exceed the 128 KiB default
    end = 0
    try:
        for _ in range(config.skip_rows):
            if f.readline():
                end += 1
        reader = csv.reader(f, delimiter=delimiter, strict=True)
        skipped = end
        for row in reader:
            start, end = end + 1, skipped + reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            _check_conflict_marker(row, path, start, config)
            yield start, row
    except UnicodeDecodeError:
        raise decode_error(path, config.encoding) from None
    except compression.CORRUPT_ERRORS as e:
        raise TfclfError(compression.corrupt_message(path, e, line=end + 1)) from None
    except csv.Error as e:
        raise TfclfError(
            f"{path}: line {end + 1}: malformed {delimiter!r}-delimited row ({e}). Expected "
            "fields separated by the delimiter, quotes only around whole fields ('\"a, b\"'). "
            "Check --delimiter and quoting.") from None


def _check_conflict_marker(row: list[str], path: Path, line: int, config: DataConfig) -> None:
    first = row[0]
    if (first.startswith(("<<<<<<< ", ">>>>>>> ")) or first in _CONFLICT_MARKERS) and len(row) <= 2:
        hint = (f" or pass --skip-rows {line}" if line <= config.skip_rows + 3 else "")
        raise TfclfError(
            f"{path}: line {line}: git merge-conflict marker {first[:40]!r}; expected data. "
            f"Resolve the conflict in the file{hint}.")


def requested_columns(config: DataConfig, with_labels: bool = True) -> list[tuple[str, tuple[str, ...]]]:
    """``(flag, names)`` of the columns a training config reads (without the labels: a topic
    map's), for messages and checks."""
    out = [("--text-column", tuple(config.text_column))]
    if with_labels:
        out.append(("--label-column", tuple(config.label_column)))
    if config.group_column:
        out.append(("--group-column", (config.group_column,)))
    if config.eval_group_by and config.eval_group_by != EVAL_GROUP_ROW:
        out.append(("--eval-group-by", (config.eval_group_by,)))
    return out


def sample_records(path: Path, config: DataConfig, delimiter: str, n: int = SNIFF_ROWS
                   ) -> list[tuple[int, list[str]]]:
    """The first ``n`` non-blank records (line, fields) after ``--skip-rows``."""
    records = file_records(path, config, delimiter)
    try:
        return list(itertools.islice(records, n))
    finally:
        records.close()


@dataclasses.dataclass(frozen=True)
class Layout:
    """How the rows of a delimited file map to columns (see ``delimited_layout``).

    Attributes:
        columns: the column names: the header, ``--column-names``, ``("0", "1", ...)``
            for 0-based indices, ``("text", "label")`` for 2-column files, or
            ``("text",)`` for one text per row (prediction only).
        has_header: the first row is the header, not data.
        join_text: fields beyond ``len(columns)`` belong to the first (text) column:
            the row splits on the last delimiter.
    """

    columns: tuple[str, ...]
    has_header: bool
    join_text: bool = False


def delimited_layout(where: str, records: Sequence[tuple[int, Sequence[str]]], delimiter: str, *,
                     wanted: Sequence[tuple[str, Sequence[str]]], header: Optional[bool],
                     column_names: Sequence[str] = (), one_column: bool = False) -> Layout:
    """Decides whether a delimited file has a header and what its columns are.

    The one header rule of training, evaluation and prediction (module docstring).

    Args:
        where: the file, for messages.
        records: the first rows as ``(line, fields)`` (``SNIFF_ROWS`` of them), at least one.
        delimiter: the field delimiter, for hints.
        wanted: ``(flag, names)`` of the columns the caller reads, e.g.
            ``[("--text-column", ("text",)), ("--label-column", ("label",))]``; names
            that are all digits are 0-based indices in headerless files.
        header: ``--header`` (True), ``--no-header`` (False) or detect (None).
        column_names: ``--column-names`` of a headerless file.
        one_column: a first row of one field starts a file of one text per row
            (prediction) instead of being a missing delimiter.

    Raises:
        TfclfError: naming the file, line, flag and the columns found: a header-like
            first row that lacks a requested column, duplicate header names, a wide
            headerless file without column choices, an index out of range.
    """
    line, first = records[0]
    cells = [c.strip() for c in first]
    rest = [list(r) for _, r in records[1:]]
    needed = [n for _, names in wanted for n in names]
    if column_names:
        if header is None and (_looks_like_header(cells, rest) or list(column_names) == cells):
            raise TfclfError(
                f"{where}: line {line}: the first row looks like a header {cells}, but --column-names "
                "names the columns of a headerless file. Pass --skip-rows "
                f"{line} to replace the header's names with --column-names, or --no-header if this row "
                "is data.")
        _check_width(where, line, first, len(column_names), "--column-names "
                     f"{','.join(column_names)}", join=len(column_names) == 2)
        columns = tuple(column_names)
        check_found(columns, wanted, f"{where}: --column-names")
        return Layout(columns, False, join_text=_joinable(columns, wanted))
    if header is True or (header is None and all(n in cells for n in needed)):
        _check_duplicate_names(cells, f"{where}: line {line} (header)", line)
        check_found(cells, wanted, f"{where}: line {line} (header)", delimiter)
        return Layout(tuple(cells), True)
    if header is None and _looks_like_header(cells, rest):
        flag, name = next((f, n) for f, names in wanted for n in names if n not in cells)
        close = [c for c in cells if c.lower() == name.lower()]
        hint = f" (did you mean {close[0]!r}? names are case-sensitive)" if close else ""
        raise TfclfError(
            f"{where}: line {line} (header): {flag} {name!r} is not a column{hint}. Columns "
            f"found: {cells}. The first row looks like a header (non-empty, non-numeric, distinct "
            f"names): name the columns to read with {'/'.join(f for f, _ in wanted[:2])}, or pass "
            f"--no-header if this row is data.{missing_column_hint(flag)}")
    if len(first) == 1:
        if one_column and all(n in ("text", "0") for n in needed):
            return Layout(("text",), False)
        raise no_delimiter_error(where, line, delimiter, first)
    widths = [len(r) for _, r in records if len(r) > 1]
    two = min(widths) == 2
    if needed and all(n.isdigit() for n in needed):
        columns = tuple(str(i) for i in range(2 if two else len(first)))
        for flag, names in wanted:
            for n in names:
                if int(n) >= len(columns):
                    raise TfclfError(
                        f"{where}: line {line}: {flag} {n} is out of range: headerless rows have "
                        f"{len(columns)} fields, indexed from 0: {_fields(first)}.")
        return Layout(columns, False, join_text=two and _joinable(columns, wanted))
    if two:
        columns = ("text", "label")
        missing = [(f, n) for f, names in wanted for n in names if n not in columns]
        if missing:
            flag, name = missing[0]
            raise TfclfError(
                f"{where}: line {line}: no header naming {flag} {name!r}; the file reads as headerless "
                f"text{delimiter}label rows, whose columns are 'text' and 'label'. Fields of line {line}: "
                f"{_fields(first)}. Pass 0-based indices (--no-header --text-column 0 --label-column 1), "
                "--column-names, or the names of the file's header.")
        return Layout(columns, False, join_text=True)
    flags = [f for f, _ in wanted[:2]]
    by_index = " ".join(f"{f} {i}" for f, i in zip(flags, (len(first) - 1, 0)))
    raise TfclfError(
        f"{where}: line {line}: a headerless row of {len(first)} fields; the text{delimiter}label "
        f"reading (split on the last delimiter) is for 2-column files only. Fields of line {line}: "
        f"{_fields(first)}. Choose the columns by 0-based index (--no-header {by_index}) or name "
        f"them (--column-names {','.join(f'c{i}' for i in range(len(first)))} and "
        f"{'/'.join(flags)} with those names). If line {line} is a header, pass its names with "
        f"{'/'.join(flags)}.")


def no_delimiter_error(path: Union[Path, str], line: int, delimiter: str, row: Sequence[str] = ()) -> TfclfError:
    others = [d for d in _SNIFF_DELIMITERS if d != delimiter and any(d in cell for cell in row)]
    hint = f"; it may use {others[0]!r}: pass --delimiter {others[0]!r}" if others else ""
    return TfclfError(
        f"{path}: line {line}: delimiter {delimiter!r} not found; expected 'text{delimiter}label'. "
        f"Pass --delimiter if the file uses another one{hint}.")


def _fields(row: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(f"{i}: {c[:40] + ('...' if len(c) > 40 else '')!r}" for i, c in enumerate(row[:limit]))
    return "[" + shown + (f", ... ({len(row)} fields)" if len(row) > limit else "") + "]"


def _joinable(columns: Sequence[str], wanted: Sequence[tuple[str, Sequence[str]]]) -> bool:
    """A 2-column layout whose text is the first column: extra delimiters belong to the text."""
    text = next((tuple(names) for flag, names in wanted if flag == "--text-column"), ())
    return len(columns) == 2 and text == (columns[0],)


def _check_width(where: str, line: int, row: Sequence[str], width: int, what: str, join: bool = False) -> None:
    if len(row) != width and not (join and len(row) > width):
        raise TfclfError(f"{where}: line {line}: expected {width} fields (from {what}), found "
                         f"{len(row)}: {_fields(row)}.")


def missing_column_hint(flag: str) -> str:
    """What to do when ``flag``'s column is missing, beyond naming the columns found."""
    # evaluate inherits the run's --eval-group-by: the user may never have typed it.
    return " Pass --eval-group-by none to score the examples only." if flag == "--eval-group-by" else ""


def check_found(columns: Sequence[str], wanted: Sequence[tuple[str, Sequence[str]]], where: str,
                 delimiter: Optional[str] = None) -> None:
    for flag, names in wanted:
        missing = [n for n in names if n not in columns]
        if missing:
            hint = missing_column_hint(flag)
            if delimiter and len(columns) == 1:
                others = [d for d in _SNIFF_DELIMITERS if d != delimiter and d in columns[0]]
                hint = (f" The header has no {delimiter!r}; it may use {others[0]!r}: pass "
                        f"--delimiter {others[0]!r}." if others else f" The header has no {delimiter!r}.")
            raise TfclfError(
                f"{where}: {flag} {missing[0]!r} is not a column. Columns found: {list(columns)}.{hint}")


def _check_duplicate_names(names: Sequence[str], where: str, line: int) -> None:
    counts = Counter(n for n in names if n)
    duplicated = [n for n in names if counts.get(n, 0) > 1]
    if duplicated:
        name = duplicated[0]
        at = [i for i, n in enumerate(names) if n == name]
        raise TfclfError(
            f"{where}: column {name!r} appears {len(at)} times (fields {at}, 0-based); expected "
            f"distinct column names. Rename the duplicates in the header, or pass --skip-rows {line} "
            "--column-names ... to name every column.")


def check_columns(columns: Sequence[str], config: DataConfig, where: str, path: Path,
                   delimiter: Optional[str] = None) -> None:
    check_found(columns, requested_columns(config), where, delimiter)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _looks_like_header(cells: Sequence[str], rest: Sequence[Sequence[str]] = ()) -> bool:
    """Names, not data: non-empty, non-numeric, distinct, short; and, against the rows
    below, as many fields as they have and no field repeated in its column (labels repeat)."""
    if len(cells) < 2 or len(set(cells)) != len(cells):
        return False
    if any(not c or _is_number(c) or len(c) > _HEADER_NAME_CHARS or len(c.split()) > _HEADER_NAME_WORDS
           for c in cells):
        return False
    if rest:
        width = Counter(len(r) for r in rest).most_common(1)[0][0]
        if width != len(cells):
            return False
        if any(len(r) > j and r[j].strip() == c for r in rest for j, c in enumerate(cells)):
            return False
    return True


def ragged_row_error(path: Path, line: int, width: int, found: int, delimiter: str, like: str) -> TfclfError:
    """A delimited row whose field count is not the file's (``like``: the header or the first row)."""
    return TfclfError(f"{path}: line {line}: expected {width} fields like {like}, found {found}. "
                      f"Check --delimiter (now {delimiter!r}) and quoting.")


def dedupe_names(header: Sequence[str]) -> list[str]:
    """Blank header names (an unnamed index column) made unique: '', '.1', '.2' ..."""
    seen: dict[str, int] = {}
    out = []
    for name in header:
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append(name if n == 0 else f"{name}.{n}")
    return out
