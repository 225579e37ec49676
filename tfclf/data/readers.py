"""Input paths -> ``Source``s -> chunks of raw rows, one reader per format.

Formats (``--format auto`` picks one by extension and folder layout):

* ``folders``: ``root/<label>/*.txt`` or ``root/<split>/<label>/*.txt`` at any depth
  (the IMDb ``aclImdb`` layout). A label folder is a folder holding ``.txt`` files and
  no deeper label folders; everything else (``unsup/``, ``urls_*.txt``, ``*.feat``,
  ``README``) is ignored, and the log lists it.
* ``delimited``: CSV, TSV or any one-character delimiter (``.csv`` ``,``, ``.tsv`` tab,
  ``.txt`` ``;``, ``.psv`` ``|``, else sniffed), parsed by Python's ``csv`` module:
  quoted fields, line breaks inside quotes, CR, LF and CRLF line ends. The header
  rule (``delimited_layout``, shared with ``tfclf.predict``): a first row naming the
  requested columns is the header; a first row that *looks like* a header (every
  field non-empty, non-numeric, distinct, at most 40 characters and 3 words, as many
  fields as the rows below, and no field repeated in its column below) but does not
  name them is an error listing the columns found. Otherwise the file is headerless:
  rows of two fields are ``text<d>label`` and split on the *last* delimiter (the text
  may hold the delimiter); wider rows need ``--column-names`` or 0-based indices
  (``--text-column 3 --label-column 1``), else an error lists the first row's fields.
  Duplicate names in a header are an error.
* ``parallel``: ``{name}_text.txt`` next to ``{name}_labels.txt``, one example per line
  (the UMSAB / TweetEval layout).
* ``jsonl``: one JSON object per line. ``parquet``: read in record batches.

A folder holding ``train.*``, ``val.*``/``validation.*``/``dev.*`` and ``test.*`` files
(or ``{split}_text.txt`` pairs, or ``<split>/<label>/`` folders) gives its own splits.

Every reader yields ``RawChunk``s of at most ``CHUNK_ROWS`` rows, so an input of any
size is read with bounded memory; the in-memory path simply concatenates them. Errors
name the file and the line (or row, or file of a folder tree) and what was expected.
"""
from __future__ import annotations

import codecs
import csv
import dataclasses
import itertools
import json
import logging
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
import pandas as pd

from tfclf.config import DataConfig, DataFormat
from tfclf.errors import TfclfError

logger = logging.getLogger(__name__)

CHUNK_ROWS = 8192
SPLIT_ALIASES: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "validation": ("validation", "val", "valid", "dev"),
    "test": ("test",),
}
IGNORED_DIRS = frozenset({"unsup"})
EXTENSION_DELIMITERS = {".csv": ",", ".tsv": "\t", ".txt": ";", ".psv": "|"}
_JSONL_EXTENSIONS = (".jsonl", ".ndjson", ".json")
_PARQUET_EXTENSIONS = (".parquet", ".pq")
_SNIFF_DELIMITERS = ",\t;|"
SNIFF_ROWS = 100  # rows read to tell a header from data and a 2-column file from a wider one
_HEADER_NAME_CHARS = 40
_HEADER_NAME_WORDS = 3
_CONFLICT_MARKERS = ("<<<<<<<", "=======", ">>>>>>>")


def split_of(name: str) -> Optional[str]:
    """The split a file or folder name stands for ("val" -> "validation"), else None."""
    name = name.lower()
    return next((split for split, aliases in SPLIT_ALIASES.items() if name in aliases), None)


@dataclasses.dataclass(frozen=True)
class Source:
    """One input (file, file pair or folder tree) that feeds one split, or all of them.

    Attributes:
        role: the flag it came from, for messages (``--data``, ``--train``, ``--data (test)``).
        path: the file or folder.
        format: how it is read.
        split: the split it is (``train``/``validation``/``test``), or None when it is
            to be split by ``--split``.
        columns: the columns a row has (header, JSON keys of the first record,
            Parquet schema; ``("text", "label")`` for headerless files, folders and
            parallel files).
        delimiter: delimited files only.
        has_header: delimited files: the first row is a header.
        first_line: delimited files: the physical line of the first row after ``--skip-rows``.
        join_text: headerless 2-column delimited files: fields beyond two belong to the
            text (the row splits on the last delimiter); otherwise rows must have
            ``len(columns)`` fields.
        files: folders only: ``(file, label)`` pairs, sorted.
        labels_path: parallel files only: the labels file.
    """

    role: str
    path: Path
    format: DataFormat
    split: Optional[str]
    columns: tuple[str, ...] = ("text", "label")
    delimiter: Optional[str] = None
    has_header: bool = False
    first_line: int = 1
    join_text: bool = False
    files: tuple[tuple[Path, str], ...] = ()
    labels_path: Optional[Path] = None

    def locate(self, row: int) -> str:
        """Where row ``row`` (as numbered in ``RawChunk.lines``) came from, for messages."""
        if self.format is DataFormat.FOLDERS:
            return str(self.files[row][0])
        if self.format is DataFormat.PARQUET:
            return f"{self.path}: row {row}"
        return f"{self.path}: line {row}"

    def describe(self) -> str:
        if self.format is DataFormat.PARALLEL:
            return f"{self.role} {self.path} + {self.labels_path.name}"
        return f"{self.role} {self.path}"

    def size_bytes(self) -> int:
        if self.format is DataFormat.FOLDERS:
            return sum(f.stat().st_size for f, _ in self.files)
        size = self.path.stat().st_size
        return size + (self.labels_path.stat().st_size if self.labels_path else 0)


@dataclasses.dataclass
class RawChunk:
    """Up to CHUNK_ROWS raw rows of one source.

    Attributes:
        frame: one column per source column; delimited files give strings, JSONL
            and Parquet keep their types.
        lines: [rows] int64, the line (folders: file index; Parquet: row) of each
            row, for ``Source.locate``.
    """

    frame: pd.DataFrame
    lines: np.ndarray


# ---------------------------------------------------------------------------------- discovery

def discover(config: DataConfig, default_data: Optional[str] = None) -> list[Source]:
    """Finds the inputs the config names and how to read each.

    Args:
        config: the data section.
        default_data: file used when the config names no input.

    Returns:
        Sources in split order; at most one per given split, or one with ``split=None``.

    Raises:
        TfclfError: missing paths, unknown layouts, ambiguous or missing splits.
    """
    if config.train:
        nested = not (config.validation or config.test)
        sources = _sources_for(config.train, "--train", config, "train", nested=nested)
        if config.validation:
            sources += _sources_for(config.validation, "--validation", config, "validation")
        if config.test:
            sources += _sources_for(config.test, "--test", config, "test")
    else:
        path = config.data or default_data
        if path is None:
            raise TfclfError("No input: pass --data, or --train [--validation] [--test].")
        sources = _sources_for(path, "--data", config, None, nested=True)
    order = {name: i for i, name in enumerate(SPLIT_ALIASES)}
    sources.sort(key=lambda s: order.get(s.split, -1))
    if len({s.split for s in sources}) != len(sources):
        raise TfclfError(f"Two inputs give the same split: {[s.describe() for s in sources]}")
    if sources[0].split not in (None, "train"):
        raise TfclfError(
            f"{sources[0].role} {str(sources[0].path)!r}: found the splits "
            f"{[s.split for s in sources]} but no train split. Expected a train.* file, "
            "train_text.txt or a train/ folder.")
    return sources


def sources_for(path: str, role: str, config: DataConfig) -> list[Source]:
    """The sources one path holds (several when it is a folder of splits)."""
    return _sources_for(path, role, config, None, nested=True)


def _sources_for(path_str: str, role: str, config: DataConfig, split: Optional[str],
                 nested: bool = False) -> list[Source]:
    path = Path(path_str).expanduser()
    if not path.exists():
        raise TfclfError(f"{role}: no such file or directory: {str(path)!r}")
    if path.is_file():
        return [_file_source(path, role, config, split)]
    layouts = _split_layout(path, role, config)
    if layouts:
        if not nested:
            if split in layouts:
                return [layouts[split]]
            raise TfclfError(
                f"{role}: folder {str(path)!r} holds the splits {sorted(layouts)}, not one "
                f"{split!r} input. Pass the {split} file itself, or the folder as --data.")
        if split == "train" and "train" not in layouts:
            raise TfclfError(f"{role}: folder {str(path)!r} holds the splits {sorted(layouts)} "
                             "but no train split.")
        return list(layouts.values())
    if config.format not in (DataFormat.AUTO, DataFormat.FOLDERS):
        raise TfclfError(
            f"{role}: {str(path)!r} is a folder, but --format {config.format.value} reads files. "
            "Pass the file, or a folder of train.*/val.*/test.* files.")
    return _folder_sources(path, role, config, split, nested)


def _split_layout(root: Path, role: str, config: DataConfig) -> dict[str, Source]:
    """Split files (train.csv, val.csv ...) or parallel pairs (train_text.txt ...) in ``root``."""
    files = sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith("."))
    found: dict[str, list[Path]] = {}
    if config.format in (DataFormat.AUTO, DataFormat.PARALLEL):
        for p in files:
            if p.name.endswith("_text.txt") and split_of(p.name[:-len("_text.txt")]):
                found.setdefault(split_of(p.name[:-len("_text.txt")]), []).append(p)
        if found:
            return {s: _file_source(ps[0], f"{role} ({s})", config, s, parallel=True)
                    for s, ps in found.items()}
    if config.format is DataFormat.FOLDERS:
        return {}
    for p in files:
        split = split_of(p.name.split(".")[0]) if "." in p.name else None
        if split and (config.format is not DataFormat.AUTO or _auto_format(p) is not None):
            found.setdefault(split, []).append(p)
    for split, ps in found.items():
        if len(ps) > 1:
            raise TfclfError(
                f"{role}: folder {str(root)!r} has several {split} files {[p.name for p in ps]}; "
                "expected one. Pass the files with --train/--validation/--test.")
    if found and "train" not in found:
        logger.info("%s: %s has %s files but no train.*; reading it as class folders.",
                    role, root, sorted(found))
        return {}
    return {s: _file_source(ps[0], f"{role} ({s})", config, s) for s, ps in found.items()}


def _auto_format(path: Path) -> Optional[DataFormat]:
    suffix = path.suffix.lower()
    if suffix in _PARQUET_EXTENSIONS:
        return DataFormat.PARQUET
    if suffix in _JSONL_EXTENSIONS:
        return DataFormat.JSONL
    if path.name.endswith("_text.txt") and _labels_path(path).is_file():
        return DataFormat.PARALLEL
    if suffix in EXTENSION_DELIMITERS:
        return DataFormat.DELIMITED
    return None


def _labels_path(text_path: Path) -> Path:
    name = text_path.name
    if "_text." in name:
        return text_path.with_name(name.replace("_text.", "_labels.", 1))
    return text_path.with_name(text_path.stem + "_labels" + text_path.suffix)


def _file_source(path: Path, role: str, config: DataConfig, split: Optional[str],
                 parallel: bool = False) -> Source:
    fmt = DataFormat.PARALLEL if parallel else config.format
    if fmt is DataFormat.AUTO:
        fmt = _auto_format(path) or DataFormat.DELIMITED
    if fmt is DataFormat.FOLDERS:
        raise TfclfError(f"{role}: --format folders needs a folder. Received: {str(path)!r} (a file)")
    _check_not_empty(path, role)
    if fmt is DataFormat.PARALLEL:
        labels = _labels_path(path)
        if not labels.is_file():
            raise TfclfError(
                f"{role}: {str(path)!r} is a parallel text file, but its labels file "
                f"{str(labels)!r} does not exist. Expected <name>_text.txt next to <name>_labels.txt.")
        return Source(role, path, fmt, split, labels_path=labels)
    if fmt is DataFormat.JSONL:
        return Source(role, path, fmt, split, columns=_jsonl_columns(path, config, role))
    if fmt is DataFormat.PARQUET:
        return Source(role, path, fmt, split, columns=_parquet_columns(path, role))
    return _delimited_source(path, role, config, split)


def _check_not_empty(path: Path, role: str) -> None:
    size = path.stat().st_size
    if size == 0:
        raise TfclfError(f"{role}: file {str(path)!r} is empty.")
    if size < 1 << 20:
        raw = path.read_bytes()
        if not raw.strip() or raw.lstrip(codecs.BOM_UTF8).strip() == b"":
            raise TfclfError(f"{role}: file {str(path)!r} is empty (only whitespace).")


# ------------------------------------------------------------------------------ class folders

def _folder_sources(root: Path, role: str, config: DataConfig, split: Optional[str],
                    nested: bool) -> list[Source]:
    label_dirs, ignored = _scan_label_dirs(root)
    if ignored:
        shown = ", ".join(ignored[:8]) + (f" and {len(ignored) - 8} more" if len(ignored) > 8 else "")
        logger.info("%s %s: ignoring %d entries that are not label folders: %s",
                    role, root, len(ignored), shown)
    if not label_dirs:
        entries = sorted(e.name + ("/" if e.is_dir() else "") for e in root.iterdir())
        raise TfclfError(
            f"{role}: directory {str(root)!r} has no label folders with .txt files. Expected "
            "root/<label>/*.txt or root/<split>/<label>/*.txt (e.g. train/pos/1.txt). "
            f"Found: {entries[:10]}")
    by_split: dict[Optional[str], list[tuple[Path, str]]] = {}
    for d, dir_split in label_dirs:
        files = sorted(p for p in d.iterdir() if p.is_file() and p.suffix == ".txt")
        by_split.setdefault(dir_split, []).extend((f, d.name) for f in files)
    if None in by_split and len(by_split) > 1:
        loose = sorted({label for _, label in by_split[None]})
        raise TfclfError(
            f"{role}: directory {str(root)!r} mixes split folders {sorted(k for k in by_split if k)} "
            f"with label folders outside them {loose[:5]}. Expected every label folder under "
            "train/, val/ or test/, or none.")
    if None in by_split or not nested:
        files = tuple(f for group in by_split.values() for f in group)
        return [Source(role, root, DataFormat.FOLDERS, split, files=files)]
    if "train" not in by_split:
        raise TfclfError(f"{role}: directory {str(root)!r} has split folders {sorted(by_split)} "
                         "but no train/ folder.")
    return [Source(f"{role} ({s})", root, DataFormat.FOLDERS, s, files=tuple(fs))
            for s, fs in by_split.items()]


def _scan_label_dirs(root: Path) -> tuple[list[tuple[Path, Optional[str]]], list[str]]:
    """Label folders (with the split folder above them, if any) and the ignored entries."""
    label_dirs: list[tuple[Path, Optional[str]]] = []
    ignored: list[str] = []

    def visit(d: Path, split: Optional[str]) -> bool:
        entries = sorted(os.scandir(d), key=lambda e: e.name)
        has_label_dirs = False
        for e in entries:
            if not e.is_dir() or e.name.startswith("."):
                continue
            if e.name in IGNORED_DIRS:
                ignored.append(os.path.relpath(e.path, root) + "/")
                continue
            if visit(Path(e.path), split or split_of(e.name)):
                has_label_dirs = True
        files = [e for e in entries if e.is_file() and not e.name.startswith(".")]
        is_label_dir = (not has_label_dirs and d != root and split_of(d.name) is None
                        and any(e.name.endswith(".txt") for e in files))
        if is_label_dir:
            label_dirs.append((d, split))
            ignored.extend(os.path.relpath(e.path, root) for e in files if not e.name.endswith(".txt"))
            return True
        ignored.extend(os.path.relpath(e.path, root) for e in files)
        return has_label_dirs

    visit(root, None)
    return sorted(label_dirs), sorted(ignored)


# --------------------------------------------------------------------------- delimited files

def delimiter_for(path: Path, config: DataConfig) -> str:
    """``--delimiter``, else the extension's, else one sniffed from the first lines."""
    if config.delimiter:
        return config.delimiter
    if path.suffix.lower() in EXTENSION_DELIMITERS:
        return EXTENSION_DELIMITERS[path.suffix.lower()]
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    try:
        return csv.Sniffer().sniff(head.decode(config.encoding, errors="replace"),
                                   delimiters=_SNIFF_DELIMITERS).delimiter
    except csv.Error:
        raise TfclfError(
            f"Cannot tell the delimiter of {str(path)!r}: its extension {path.suffix!r} is not one "
            f"of {sorted(EXTENSION_DELIMITERS)} and none of {list(_SNIFF_DELIMITERS)} separates "
            "its first lines consistently. Pass --delimiter.") from None


def _open_text(path: Path, encoding: str):
    if codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"  # drops a byte-order mark
    # newline="": the csv module sees CR, LF and CRLF untranslated, inside quotes too.
    return open(path, "r", encoding=encoding, newline="", errors="strict")


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
    with open(path, "rb") as f:
        while block := f.read(size):
            yield block


def _csv_records(path: Path, config: DataConfig, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, fields) of each non-blank record after ``--skip-rows``."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # reviews and posts exceed the 128 KiB default
    with _open_text(path, config.encoding) as f:
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


def requested_columns(config: DataConfig) -> list[tuple[str, tuple[str, ...]]]:
    """``(flag, names)`` of the columns a training config reads, for messages and checks."""
    out = [("--text-column", tuple(config.text_column)), ("--label-column", tuple(config.label_column))]
    if config.group_column:
        out.append(("--group-column", (config.group_column,)))
    return out


def sample_records(path: Path, config: DataConfig, delimiter: str, n: int = SNIFF_ROWS
                   ) -> list[tuple[int, list[str]]]:
    """The first ``n`` non-blank records (line, fields) after ``--skip-rows``."""
    records = _csv_records(path, config, delimiter)
    try:
        return list(itertools.islice(records, n))
    finally:
        records.close()


def _delimited_source(path: Path, role: str, config: DataConfig, split: Optional[str]) -> Source:
    delimiter = delimiter_for(path, config)
    records = sample_records(path, config, delimiter)
    if not records:
        raise TfclfError(f"{role}: file {str(path)!r} has no rows (after --skip-rows {config.skip_rows}).")
    layout = delimited_layout(str(path), records, delimiter, wanted=requested_columns(config),
                              header=config.header, column_names=config.column_names)
    if not layout.has_header and layout.columns == ("text", "label"):
        logger.info("%s: no header naming %r and %r; reading each row as text%slabel (split on the "
                    "last delimiter).", path, config.text_column[0], config.label_column[0], delimiter)
    return Source(role, path, DataFormat.DELIMITED, split, columns=tuple(_dedupe_names(layout.columns)),
                  delimiter=delimiter, has_header=layout.has_header, first_line=records[0][0],
                  join_text=layout.join_text)


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
        _check_found(columns, wanted, f"{where}: --column-names")
        return Layout(columns, False, join_text=_joinable(columns, wanted))
    if header is True or (header is None and all(n in cells for n in needed)):
        _check_duplicate_names(cells, f"{where}: line {line} (header)", line)
        _check_found(cells, wanted, f"{where}: line {line} (header)", delimiter)
        return Layout(tuple(cells), True)
    if header is None and _looks_like_header(cells, rest):
        flag, name = next((f, n) for f, names in wanted for n in names if n not in cells)
        close = [c for c in cells if c.lower() == name.lower()]
        hint = f" (did you mean {close[0]!r}? names are case-sensitive)" if close else ""
        raise TfclfError(
            f"{where}: line {line} (header): {flag} {name!r} is not a column{hint}. Columns "
            f"found: {cells}. The first row looks like a header (non-empty, non-numeric, distinct "
            f"names): name the columns to read with {'/'.join(f for f, _ in wanted[:2])}, or pass "
            "--no-header if this row is data.")
    if len(first) == 1:
        if one_column and all(n in ("text", "0") for n in needed):
            return Layout(("text",), False)
        raise _no_delimiter(Path(where), line, delimiter, first)
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


def _no_delimiter(path: Path, line: int, delimiter: str, row: Sequence[str] = ()) -> TfclfError:
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


def _check_found(columns: Sequence[str], wanted: Sequence[tuple[str, Sequence[str]]], where: str,
                 delimiter: Optional[str] = None) -> None:
    for flag, names in wanted:
        missing = [n for n in names if n not in columns]
        if missing:
            hint = ""
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


def _check_columns(columns: Sequence[str], config: DataConfig, where: str, path: Path,
                   delimiter: Optional[str] = None) -> None:
    _check_found(columns, requested_columns(config), where, delimiter)


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


def _dedupe_names(header: Sequence[str]) -> list[str]:
    """Blank header names (an unnamed index column) made unique: '', '.1', '.2' ..."""
    seen: dict[str, int] = {}
    out = []
    for name in header:
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append(name if n == 0 else f"{name}.{n}")
    return out


def _delimited_chunks(source: Source, config: DataConfig, chunk_rows: int) -> Iterator[RawChunk]:
    records = _csv_records(source.path, config, source.delimiter)
    width = len(source.columns)
    if source.has_header:
        next(records)
    rows: list[list[str]] = []
    lines: list[int] = []
    for line, row in records:
        if source.join_text:
            if len(row) < 2:
                raise _no_delimiter(source.path, line, source.delimiter, row)
            if len(row) > 2:
                row = [source.delimiter.join(row[:-1]), row[-1]]
        elif len(row) != width:
            like = "the header" if source.has_header else f"line {source.first_line}"
            raise TfclfError(
                f"{source.path}: line {line}: expected {width} fields like {like}, found "
                f"{len(row)}. Check --delimiter (now {source.delimiter!r}) and quoting.")
        rows.append(row)
        lines.append(line)
        if len(rows) >= chunk_rows:
            yield RawChunk(pd.DataFrame(rows, columns=list(source.columns), dtype=object),
                           np.asarray(lines, dtype=np.int64))
            rows, lines = [], []
    if rows:
        yield RawChunk(pd.DataFrame(rows, columns=list(source.columns), dtype=object),
                       np.asarray(lines, dtype=np.int64))


# ----------------------------------------------------------------------- line-based readers

def _decoded_lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """(line number, text without its line end) of every line, decoded one line at a time."""
    offset = 0
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError:
                raise decode_error(path, encoding, raw=raw, base_offset=offset, base_line=number) from None
            offset += len(raw)
            yield number, text.rstrip("\r\n") if number > 1 else text.lstrip("\ufeff").rstrip("\r\n")


def _parallel_chunks(source: Source, config: DataConfig, chunk_rows: int) -> Iterator[RawChunk]:
    texts: list[str] = []
    labels: list[str] = []
    lines: list[int] = []
    label_lines = _decoded_lines(source.labels_path, config.encoding)
    n = 0
    for n, text in _decoded_lines(source.path, config.encoding):
        label = next(label_lines, None)
        if label is None:
            raise TfclfError(
                f"{source.labels_path}: has {n - 1} lines but {source.path.name} has more; expected "
                f"one label per text line (text line {n} has no label).")
        texts.append(text)
        labels.append(label[1])
        lines.append(n)
        if len(texts) >= chunk_rows:
            yield RawChunk(pd.DataFrame({"text": texts, "label": labels}, dtype=object),
                           np.asarray(lines, dtype=np.int64))
            texts, labels, lines = [], [], []
    extra = next(label_lines, None)
    if extra is not None:
        raise TfclfError(
            f"{source.path}: has {n} lines but {source.labels_path.name} has more; expected one "
            f"label per text line (label line {extra[0]} has no text).")
    if texts:
        yield RawChunk(pd.DataFrame({"text": texts, "label": labels}, dtype=object),
                       np.asarray(lines, dtype=np.int64))


def _json_record(path: Path, line: int, text: str) -> dict:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as e:
        raise TfclfError(f"{path}: line {line}: not valid JSON ({e.msg} at column {e.colno}); "
                         "expected one JSON object per line.") from None
    if not isinstance(record, dict):
        raise TfclfError(f"{path}: line {line}: expected a JSON object {{\"text\": ..., \"label\": ...}}, "
                         f"found {type(record).__name__}.")
    return record


def _jsonl_columns(path: Path, config: DataConfig, role: str) -> tuple[str, ...]:
    for line, text in _decoded_lines(path, config.encoding):
        if text.strip():
            columns = tuple(_json_record(path, line, text))
            _check_columns(columns, config, f"{path}: line {line} (first record)", path)
            return columns
    raise TfclfError(f"{role}: file {str(path)!r} is empty.")


def _jsonl_chunks(source: Source, config: DataConfig, chunk_rows: int) -> Iterator[RawChunk]:
    records: list[dict] = []
    lines: list[int] = []
    for line, text in _decoded_lines(source.path, config.encoding):
        if not text.strip():
            continue
        records.append(_json_record(source.path, line, text))
        lines.append(line)
        if len(records) >= chunk_rows:
            yield RawChunk(_records_frame(records, source.columns), np.asarray(lines, dtype=np.int64))
            records, lines = [], []
    if records:
        yield RawChunk(_records_frame(records, source.columns), np.asarray(lines, dtype=np.int64))


def _records_frame(records: list[dict], columns: Sequence[str]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records)
    for c in columns:
        if c not in frame:
            frame[c] = None
    return frame.astype(object)


def _parquet_columns(path: Path, role: str) -> tuple[str, ...]:
    import pyarrow.parquet as pq

    try:
        names = tuple(pq.ParquetFile(path).schema_arrow.names)
    except Exception as e:  # pyarrow raises several types for non-Parquet bytes
        raise TfclfError(f"{role}: {str(path)!r} is not a readable Parquet file ({e}).") from None
    counts = Counter(names)
    duplicated = [n for n in names if counts[n] > 1]
    if duplicated:
        raise TfclfError(f"{path}: the Parquet schema has column {duplicated[0]!r} "
                         f"{counts[duplicated[0]]} times; expected distinct column names. Columns: {list(names)}")
    return names


def _parquet_chunks(source: Source, config: DataConfig, chunk_rows: int) -> Iterator[RawChunk]:
    import pyarrow.parquet as pq

    start = 1
    for batch in pq.ParquetFile(source.path).iter_batches(batch_size=chunk_rows):
        frame = batch.to_pandas().astype(object)
        yield RawChunk(frame, np.arange(start, start + len(frame), dtype=np.int64))
        start += len(frame)


def _folder_chunks(source: Source, config: DataConfig, chunk_rows: int,
                   order: Optional[np.ndarray] = None) -> Iterator[RawChunk]:
    indices = order if order is not None else np.arange(len(source.files))
    for begin in range(0, len(indices), chunk_rows):
        idx = indices[begin:begin + chunk_rows]
        texts = []
        for i in idx:
            path = source.files[i][0]
            raw = path.read_bytes()
            try:
                texts.append(raw.decode(config.encoding).lstrip("\ufeff"))
            except UnicodeDecodeError:
                raise decode_error(path, config.encoding, raw=raw) from None
        labels = [source.files[i][1] for i in idx]
        yield RawChunk(pd.DataFrame({"text": texts, "label": labels}, dtype=object),
                       np.asarray(idx, dtype=np.int64))


def iter_chunks(source: Source, config: DataConfig, chunk_rows: Optional[int] = None,
                file_order: Optional[np.ndarray] = None) -> Iterator[RawChunk]:
    """Reads a source in chunks of at most ``chunk_rows`` rows.

    Args:
        source: from ``discover``.
        config: encoding, skip-rows.
        chunk_rows: rows per chunk (default ``CHUNK_ROWS``).
        file_order: folders only: a permutation of the files to read them in (shuffling).

    Raises:
        TfclfError: naming the file and line of undecodable bytes, ragged rows, a
            missing delimiter, bad JSON, conflict markers or mismatched parallel files.
    """
    chunk_rows = chunk_rows or CHUNK_ROWS
    if source.format is DataFormat.FOLDERS:
        return _folder_chunks(source, config, chunk_rows, file_order)
    readers = {DataFormat.DELIMITED: _delimited_chunks, DataFormat.PARALLEL: _parallel_chunks,
               DataFormat.JSONL: _jsonl_chunks, DataFormat.PARQUET: _parquet_chunks}
    return readers[source.format](source, config, chunk_rows)
