"""Input paths -> ``Source``s -> chunks of raw rows, one reader per format.

Formats (``--format auto`` picks one by extension and folder layout):

* ``folders``: ``root/<label>/*.txt`` or ``root/<split>/<label>/*.txt`` at any depth
  (the IMDb ``aclImdb`` layout). A label folder is a folder holding ``.txt`` files and
  no deeper label folders; everything else (``unsup/``, ``urls_*.txt``, ``*.feat``,
  ``README``) is ignored, and the log lists it.
* ``delimited``: CSV, TSV or any one-character delimiter (``.csv`` ``,``, ``.tsv`` tab,
  ``.txt`` ``;``, ``.psv`` ``|``, else sniffed), parsed by Python's ``csv`` module:
  quoted fields, line breaks inside quotes, CR, LF and CRLF line ends. A headerless
  file is ``text<d>label`` and splits on the *last* delimiter.
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
import json
import logging
import os
import sys
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


def _delimited_source(path: Path, role: str, config: DataConfig, split: Optional[str]) -> Source:
    delimiter = delimiter_for(path, config)
    records = _csv_records(path, config, delimiter)
    first = next(records, None)
    records.close()
    if first is None:
        raise TfclfError(f"{role}: file {str(path)!r} has no rows (after --skip-rows {config.skip_rows}).")
    line, header = first
    header = [h.strip() for h in header]
    wanted = list(config.text_column) + list(config.label_column) + (
        [config.group_column] if config.group_column else [])
    names_wanted = all(c in header for c in wanted)
    default_columns = (config.text_column, config.label_column) == (("text",), ("label",))
    if config.header is True or (config.header is None and names_wanted):
        _check_columns(header, config, f"{path}: line {line} (header)", path, delimiter)
        return Source(role, path, DataFormat.DELIMITED, split, columns=tuple(_dedupe_names(header)),
                      delimiter=delimiter, has_header=True, first_line=line)
    if config.header is None and (not default_columns or config.group_column or (
            len(header) > 2 and delimiter in ",\t" and _looks_like_header(header))):
        _check_columns(header, config, f"{path}: line {line} (header)", path, delimiter)
    if not default_columns or config.group_column:
        raise TfclfError(
            f"{path}: --no-header files have the columns text and label only. "
            f"Received: text_column={list(config.text_column)}, label_column="
            f"{list(config.label_column)}, group_column={config.group_column!r}")
    if len(first[1]) < 2:
        raise _no_delimiter(path, line, delimiter, first[1])
    logger.info("%s: no header naming %r and %r; reading each row as text%slabel (split on the "
                "last delimiter).", path, config.text_column[0], config.label_column[0], delimiter)
    return Source(role, path, DataFormat.DELIMITED, split, delimiter=delimiter, has_header=False,
                  first_line=line)


def _no_delimiter(path: Path, line: int, delimiter: str, row: Sequence[str] = ()) -> TfclfError:
    others = [d for d in _SNIFF_DELIMITERS if d != delimiter and any(d in cell for cell in row)]
    hint = f"; it may use {others[0]!r}: pass --delimiter {others[0]!r}" if others else ""
    return TfclfError(
        f"{path}: line {line}: delimiter {delimiter!r} not found; expected 'text{delimiter}label'. "
        f"Pass --delimiter if the file uses another one{hint}.")


def _check_columns(columns: Sequence[str], config: DataConfig, where: str, path: Path,
                   delimiter: Optional[str] = None) -> None:
    for flag, names in (("--text-column", config.text_column), ("--label-column", config.label_column),
                        ("--group-column", (config.group_column,) if config.group_column else ())):
        missing = [n for n in names if n not in columns]
        if missing:
            hint = ""
            if delimiter and len(columns) == 1:
                others = [d for d in _SNIFF_DELIMITERS if d != delimiter and d in columns[0]]
                hint = (f" The header has no {delimiter!r}; it may use {others[0]!r}: pass "
                        f"--delimiter {others[0]!r}." if others else f" The header has no {delimiter!r}.")
            raise TfclfError(
                f"{where}: {flag} {missing[0]!r} is not a column. Columns found: {list(columns)}.{hint}")


def _looks_like_header(row: Sequence[str]) -> bool:
    return all(cell and not cell.replace(".", "").isdigit() and len(cell) < 40 for cell in row)


def _dedupe_names(header: Sequence[str]) -> list[str]:
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
        if source.has_header:
            if len(row) != width:
                raise TfclfError(
                    f"{source.path}: line {line}: expected {width} fields like the header, found "
                    f"{len(row)}. Check --delimiter (now {source.delimiter!r}) and quoting.")
        elif len(row) < 2:
            raise _no_delimiter(source.path, line, source.delimiter, row)
        elif len(row) > 2:
            row = [source.delimiter.join(row[:-1]), row[-1]]
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
        return tuple(pq.ParquetFile(path).schema_arrow.names)
    except Exception as e:  # pyarrow raises several types for non-Parquet bytes
        raise TfclfError(f"{role}: {str(path)!r} is not a readable Parquet file ({e}).") from None


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
