"""Input paths -> ``Source``s -> chunks of raw rows, one reader per format.

Formats (``--format auto`` picks one by extension and folder layout):

* ``folders``: ``root/<label>/*.txt`` or ``root/<split>/<label>/*.txt`` at any depth
  (the IMDb ``aclImdb`` layout). A label folder is a folder holding ``.txt`` files and
  no deeper label folders; everything else (``unsup/``, ``urls_*.txt``, ``*.feat``,
  ``README``) is ignored, and the log lists it.
* ``delimited``: CSV, TSV or any one-character delimiter (``.csv`` ``,``, ``.tsv`` tab,
  ``.txt`` ``;``, ``.psv`` ``|``, else sniffed), parsed by Python's ``csv`` module:
  quoted fields, line breaks inside quotes, CR, LF and CRLF line ends. The header
  rule (``tfclf.data.delimited``, shared with ``tfclf.data.inputs``): a first row naming the
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

A folder without subfolders that holds one data file (``.csv``, ``.tsv``, ``.jsonl``,
``.parquet``; a ``SOURCES.md`` beside it is ignored) is read as that file; one that holds
several named alike but for their numbers (``part-00000.csv``, ``part-00001.csv`` ...)
is read as their shards, in name order, as are the files of a glob pattern
(``--data 'shards/part-*.jsonl.gz'``). Shards of delimited files and Parquet must have
the same columns. Any file may be gzip-compressed (``a.csv.gz``,
``tfclf.data.compression``); errors name the shard and its line. Every path may be on
a store ``tf.io.gfile`` reads (``gs://bucket/data/part-*.csv``): files are opened and
folders listed through ``tfclf.data.filesystem``.
A folder holding ``train.*``, ``val.*``/``validation.*``/``dev.*`` and ``test.*`` files
(or ``{split}_text.txt`` pairs, or ``<split>/<label>/`` folders) gives its own splits.

Every reader yields ``RawChunk``s of at most ``CHUNK_ROWS`` rows, so an input of any
size is read with bounded memory; the in-memory path simply concatenates them. Errors
name the file and the line (or row, or file of a folder tree) and what was expected.
"""
from __future__ import annotations

import codecs
import contextlib
import dataclasses
import json
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
import pandas as pd

from tfclf.config import DataConfig, DataFormat
from tfclf.data import compression, filesystem
from tfclf.data.delimited import (EXTENSION_DELIMITERS, check_columns, decode_error,
                                  dedupe_names, delimited_layout, delimiter_for, file_records,
                                  no_delimiter_error, ragged_row_error, requested_columns, sample_records)
from tfclf.errors import TfclfError

logger = logging.getLogger(__name__)

CHUNK_ROWS = 8192
SHARD_STRIDE = 1 << 40  # row numbers of a sharded source: shard index * SHARD_STRIDE + row in the shard
_DIGITS = re.compile(r"[0-9]+")
SPLIT_ALIASES: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "validation": ("validation", "val", "valid", "dev"),
    "test": ("test",),
}
IGNORED_DIRS = frozenset({"unsup"})
_JSONL_EXTENSIONS = (".jsonl", ".ndjson", ".json")
_PARQUET_EXTENSIONS = (".parquet", ".pq")


def split_of(name: str) -> Optional[str]:
    """The split a file or folder name stands for ("val" -> "validation"), else None."""
    name = name.lower()
    return next((split for split, aliases in SPLIT_ALIASES.items() if name in aliases), None)


@dataclasses.dataclass(frozen=True)
class Source:
    """One input (file, file pair or folder tree) that feeds one split, or all of them.

    Attributes:
        role: the flag it came from, for messages (``--data``, ``--train``, ``--data (test)``).
        path: the file or folder: a ``Path``, or a ``filesystem.RemotePath`` on a store.
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
        parts: sharded inputs only: one source per shard, read in order; ``path`` is the
            folder or glob pattern. Row ``r`` of shard ``i`` is numbered
            ``i * SHARD_STRIDE + r`` in ``RawChunk.lines``.
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
    parts: tuple["Source", ...] = ()

    def locate(self, row: int) -> str:
        """Where row ``row`` (as numbered in ``RawChunk.lines``) came from, for messages."""
        if self.parts:
            shard, line = divmod(row, SHARD_STRIDE)
            return self.parts[shard].locate(line)
        if self.format is DataFormat.FOLDERS:
            return str(self.files[row][0])
        if self.format is DataFormat.PARQUET:
            return f"{self.path}: row {row}"
        return f"{self.path}: line {row}"

    def describe(self) -> str:
        if self.parts:
            return f"{self.role} {self.path} ({len(self.parts)} shards)"
        if self.format is DataFormat.PARALLEL:
            return f"{self.role} {self.path} + {self.labels_path.name}"
        return f"{self.role} {self.path}"

    def size_bytes(self) -> int:
        """Bytes on disk (compressed, for .gz files)."""
        if self.parts:
            return sum(part.size_bytes() for part in self.parts)
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


def sources_for(path: str, role: str, config: DataConfig, *, with_labels: bool = True) -> list[Source]:
    """The sources one path holds (several when it is a folder of splits).

    Args:
        with_labels: False when only the text columns are read (``tfclf.topics``): a
            delimited file's header then needs to name only --text-column.
    """
    return _sources_for(path, role, config, None, nested=True, with_labels=with_labels)


def _sources_for(path_str: str, role: str, config: DataConfig, split: Optional[str],
                 nested: bool = False, with_labels: bool = True) -> list[Source]:
    path = filesystem.path(path_str)
    if filesystem.has_glob(path) and not path.exists():
        return [_glob_source(path, role, config, split, with_labels)]
    if not path.exists():
        raise TfclfError(f"{role}: no such file or directory: {str(path)!r}")
    if path.is_file():
        return [_file_source(path, role, config, split, with_labels=with_labels)]
    layouts = _split_layout(path, role, config, with_labels)
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
    data_files = _data_files(path) if config.format is DataFormat.AUTO else []
    if len(data_files) > 1 and len({_DIGITS.sub("#", f.name.split(".")[0]) for f in data_files}) > 1:
        data_files = []  # posts.csv beside more.csv: not shards of one input, and tfclf does not guess
    if len(data_files) == 1:
        logger.info("%s: folder %s holds one data file and no label folders: reading %s.",
                    role, path, data_files[0].name)
        return [_file_source(data_files[0], role, config, split, with_labels=with_labels)]
    if data_files:
        return [_sharded_source(path, data_files, role, config, split, with_labels)]
    if config.format not in (DataFormat.AUTO, DataFormat.FOLDERS):
        raise TfclfError(
            f"{role}: {str(path)!r} is a folder, but --format {config.format.value} reads files. "
            "Pass the file, or a folder of train.*/val.*/test.* files.")
    return _folder_sources(path, role, config, split, nested)


def _data_files(root: Path) -> list[Path]:
    """The data files of a folder without subfolders, sorted: one (a dataset folder holding
    ``data.csv`` beside its ``SOURCES.md``) or shards (``part-00000.csv`` ... beside Spark's
    ``_SUCCESS``). ``.txt`` files do not count: class folders hold them."""
    entries = [(p, is_dir) for p, is_dir in filesystem.entries(root) if not p.name.startswith(".")]
    if any(is_dir for _, is_dir in entries):
        return []
    return sorted(p for p, _ in entries if auto_format(p) is not None and compression.data_suffix(p) != ".txt")


def _glob_source(pattern: Path, role: str, config: DataConfig, split: Optional[str],
                 with_labels: bool) -> Source:
    """The files a glob pattern matches: one file, or the shards of one input in name order."""
    matches = filesystem.glob(pattern)
    files = [p for p in matches if not p.name.startswith(".") and p.is_file()]
    if not files:
        folders = f" (only folders: {[str(p) for p in matches[:5]]})" if matches else ""
        raise TfclfError(f"{role}: the pattern {str(pattern)!r} matches no files{folders}. "
                         "Expected a file, a folder, or a glob pattern such as 'shards/part-*.csv'.")
    if len(files) == 1:
        return _file_source(files[0], role, config, split, with_labels=with_labels)
    return _sharded_source(pattern, files, role, config, split, with_labels)


def _sharded_source(where: Path, files: list[Path], role: str, config: DataConfig,
                    split: Optional[str], with_labels: bool) -> Source:
    """One input read from several files of one format with the same columns."""
    formats = {f: (config.format if config.format is not DataFormat.AUTO else auto_format(f)) for f in files}
    if len(set(formats.values())) > 1:
        found = {fmt.value: [f.name for f in files if formats[f] is fmt][:3] for fmt in set(formats.values())}
        raise TfclfError(f"{role}: the shards of {str(where)!r} must be one format. Received: {found}")
    parts = tuple(_file_source(f, role, config, split, with_labels=with_labels) for f in files)
    first = parts[0]
    for part in parts[1:]:
        if first.format is not DataFormat.JSONL and set(part.columns) != set(first.columns):
            raise TfclfError(
                f"{role}: shard {str(part.path)!r} must have the columns of {str(first.path)!r} "
                f"{list(first.columns)}. Received: {list(part.columns)}")
    logger.info("%s: reading %d shards of %s (%s ... %s).", role, len(parts), where, files[0].name, files[-1].name)
    return Source(role, where, first.format, split, columns=first.columns, parts=parts)


def _split_layout(root: Path, role: str, config: DataConfig, with_labels: bool = True) -> dict[str, Source]:
    """Split files (train.csv, val.csv ...) or parallel pairs (train_text.txt ...) in ``root``."""
    files = [p for p, is_dir in filesystem.entries(root) if not is_dir and not p.name.startswith(".")]
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
        if split and (config.format is not DataFormat.AUTO or auto_format(p) is not None):
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
    return {s: _file_source(ps[0], f"{role} ({s})", config, s, with_labels=with_labels)
            for s, ps in found.items()}


def auto_format(path: Path) -> Optional[DataFormat]:
    suffix = compression.data_suffix(path)
    if suffix in _PARQUET_EXTENSIONS:
        return DataFormat.PARQUET
    if suffix in _JSONL_EXTENSIONS:
        return DataFormat.JSONL
    if path.name.endswith("_text.txt") and labels_path(path).is_file():
        return DataFormat.PARALLEL
    if suffix in EXTENSION_DELIMITERS:
        return DataFormat.DELIMITED
    return None


def labels_path(text_path: Path) -> Path:
    name = text_path.name
    if "_text." in name:
        return text_path.with_name(name.replace("_text.", "_labels.", 1))
    return text_path.with_name(text_path.stem + "_labels" + text_path.suffix)


def _file_source(path: Path, role: str, config: DataConfig, split: Optional[str],
                 parallel: bool = False, with_labels: bool = True) -> Source:
    fmt = DataFormat.PARALLEL if parallel else config.format
    if fmt is DataFormat.AUTO:
        fmt = auto_format(path) or DataFormat.DELIMITED
    if fmt is DataFormat.FOLDERS:
        raise TfclfError(f"{role}: --format folders needs a folder. Received: {str(path)!r} (a file)")
    if compression.is_gzip(path) and fmt in (DataFormat.PARQUET, DataFormat.PARALLEL):
        raise TfclfError(f"{role}: a {fmt.value} input must not be gzip-compressed (Parquet compresses "
                         f"itself; parallel files pair by name). Received: {str(path)!r}")
    _check_not_empty(path, role)
    if fmt is DataFormat.PARALLEL:
        labels = labels_path(path)
        if not labels.is_file():
            raise TfclfError(
                f"{role}: {str(path)!r} is a parallel text file, but its labels file "
                f"{str(labels)!r} does not exist. Expected <name>_text.txt next to <name>_labels.txt.")
        return Source(role, path, fmt, split, labels_path=labels)
    if fmt is DataFormat.JSONL:
        return Source(role, path, fmt, split, columns=_jsonl_columns(path, config, role))
    if fmt is DataFormat.PARQUET:
        return Source(role, path, fmt, split, columns=parquet_columns(path, role))
    if fmt is DataFormat.LINES:
        return Source(role, path, fmt, split, columns=("text",))
    return _delimited_source(path, role, config, split, with_labels)


def _check_not_empty(path: Path, role: str) -> None:
    size = path.stat().st_size
    if size == 0:
        raise TfclfError(f"{role}: file {str(path)!r} is empty.")
    if size < 1 << 20:
        try:
            with filesystem.open_binary(path) as f:
                raw = f.read(1 << 20)
                more = bool(f.read(1))
        except compression.CORRUPT_ERRORS as e:
            raise TfclfError(compression.corrupt_message(path, e)) from None
        if not raw:
            raise TfclfError(f"{role}: file {str(path)!r} is empty.")
        if not more and raw.lstrip(codecs.BOM_UTF8).strip() == b"":
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
        entries = sorted(p.name + ("/" if is_dir else "") for p, is_dir in filesystem.entries(root))
        raise TfclfError(
            f"{role}: directory {str(root)!r} has no label folders with .txt files. Expected "
            "root/<label>/*.txt or root/<split>/<label>/*.txt (e.g. train/pos/1.txt). "
            f"Found: {entries[:10]}")
    by_split: dict[Optional[str], list[tuple[Path, str]]] = {}
    for d, dir_split in label_dirs:
        files = [p for p, is_dir in filesystem.entries(d) if not is_dir and p.suffix == ".txt"]
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


def folder_source(root: Path, role: str, config: DataConfig) -> Source:
    """Every label folder under ``root``, at any depth and across split folders, as one source.

    The class-folder rule of training (module docstring): ``unsup/`` and loose files are
    ignored; prediction reads a folder through it.
    """
    return _folder_sources(root, role, config, None, nested=False)[0]


def _scan_label_dirs(root: Path) -> tuple[list[tuple[Path, Optional[str]]], list[str]]:
    """Label folders (with the split folder above them, if any) and the ignored entries."""
    label_dirs: list[tuple[Path, Optional[str]]] = []
    ignored: list[str] = []

    def visit(d: Path, split: Optional[str]) -> bool:
        entries = filesystem.entries(d)
        has_label_dirs = False
        for e, is_dir in entries:
            if not is_dir or e.name.startswith("."):
                continue
            if e.name in IGNORED_DIRS:
                ignored.append(filesystem.relative(e, root) + "/")
                continue
            if visit(e, split or split_of(e.name)):
                has_label_dirs = True
        files = [e for e, is_dir in entries if not is_dir and not e.name.startswith(".")]
        is_label_dir = (not has_label_dirs and d != root and split_of(d.name) is None
                        and any(e.name.endswith(".txt") for e in files))
        if is_label_dir:
            label_dirs.append((d, split))
            ignored.extend(filesystem.relative(e, root) for e in files if not e.name.endswith(".txt"))
            return True
        ignored.extend(filesystem.relative(e, root) for e in files)
        return has_label_dirs

    visit(root, None)
    return sorted(label_dirs), sorted(ignored)


# --------------------------------------------------------------------------- delimited files

def _delimited_source(path: Path, role: str, config: DataConfig, split: Optional[str],
                      with_labels: bool = True) -> Source:
    delimiter = delimiter_for(path, config)
    records = sample_records(path, config, delimiter)
    if not records:
        raise TfclfError(f"{role}: file {str(path)!r} has no rows (after --skip-rows {config.skip_rows}).")
    layout = delimited_layout(str(path), records, delimiter, wanted=requested_columns(config, with_labels),
                              header=config.header, column_names=config.column_names)
    if not layout.has_header and layout.columns == ("text", "label"):
        logger.info("%s: no header naming %r and %r; reading each row as text%slabel (split on the "
                    "last delimiter).", path, config.text_column[0], config.label_column[0], delimiter)
    return Source(role, path, DataFormat.DELIMITED, split, columns=tuple(dedupe_names(layout.columns)),
                  delimiter=delimiter, has_header=layout.has_header, first_line=records[0][0],
                  join_text=layout.join_text)


def _delimited_chunks(source: Source, config: DataConfig, chunk_rows: int) -> Iterator[RawChunk]:
    records = file_records(source.path, config, source.delimiter)
    width = len(source.columns)
    if source.has_header:
        next(records)
    rows: list[list[str]] = []
    lines: list[int] = []
    for line, row in records:
        if source.join_text:
            if len(row) < 2:
                raise no_delimiter_error(source.path, line, source.delimiter, row)
            if len(row) > 2:
                row = [source.delimiter.join(row[:-1]), row[-1]]
        elif len(row) != width:
            raise ragged_row_error(source.path, line, width, len(row), source.delimiter,
                                   "the header" if source.has_header else f"line {source.first_line}")
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

def decoded_lines(path: Path, encoding: str, errors: str = "strict") -> Iterator[tuple[int, str]]:
    """(line number, text without its line end) of every line, decoded one line at a time.

    Args:
        errors: undecodable bytes: ``strict`` (an error naming the line and byte offset)
            or ``surrogateescape`` (kept, for prediction).
    """
    offset, number = 0, 0
    with filesystem.open_binary(path) as f:
        try:
            for number, raw in enumerate(f, start=1):
                try:
                    text = raw.decode(encoding, errors)
                except UnicodeDecodeError:
                    raise decode_error(path, encoding, raw=raw, base_offset=offset, base_line=number) from None
                offset += len(raw)
                yield number, text.rstrip("\r\n") if number > 1 else text.lstrip("\ufeff").rstrip("\r\n")
        except compression.CORRUPT_ERRORS as e:
            raise TfclfError(compression.corrupt_message(path, e, line=number + 1)) from None


def parallel_records(text_path: Path, labels_path: Path, encoding: str, errors: str = "strict"
                     ) -> Iterator[tuple[int, str, str]]:
    """(line, text, label) of a ``{name}_text.txt`` / ``{name}_labels.txt`` pair, read in step.

    Raises:
        TfclfError: the files have different line counts (naming the first unpaired
            line), or, with ``errors="strict"``, undecodable bytes.
    """
    label_lines = decoded_lines(labels_path, encoding, errors)
    n = 0
    for n, text in decoded_lines(text_path, encoding, errors):
        label = next(label_lines, None)
        if label is None:
            raise TfclfError(
                f"{labels_path}: has {n - 1} lines but {text_path.name} has more; expected "
                f"one label per text line (text line {n} has no label).")
        yield n, text, label[1]
    extra = next(label_lines, None)
    if extra is not None:
        raise TfclfError(
            f"{text_path}: has {n} lines but {labels_path.name} has more; expected one "
            f"label per text line (label line {extra[0]} has no text).")


def _lines_chunks(source: Source, config: DataConfig, chunk_rows: int) -> Iterator[RawChunk]:
    """``--format lines``: each line is a text (column ``text``), line ends removed, nothing split."""
    texts: list[str] = []
    lines: list[int] = []
    for n, text in decoded_lines(source.path, config.encoding):
        texts.append(text)
        lines.append(n)
        if len(texts) >= chunk_rows:
            yield RawChunk(pd.DataFrame({"text": texts}, dtype=object), np.asarray(lines, dtype=np.int64))
            texts, lines = [], []
    if texts:
        yield RawChunk(pd.DataFrame({"text": texts}, dtype=object), np.asarray(lines, dtype=np.int64))


def _parallel_chunks(source: Source, config: DataConfig, chunk_rows: int) -> Iterator[RawChunk]:
    texts: list[str] = []
    labels: list[str] = []
    lines: list[int] = []
    for n, text, label in parallel_records(source.path, source.labels_path, config.encoding):
        texts.append(text)
        labels.append(label)
        lines.append(n)
        if len(texts) >= chunk_rows:
            yield RawChunk(pd.DataFrame({"text": texts, "label": labels}, dtype=object),
                           np.asarray(lines, dtype=np.int64))
            texts, labels, lines = [], [], []
    if texts:
        yield RawChunk(pd.DataFrame({"text": texts, "label": labels}, dtype=object),
                       np.asarray(lines, dtype=np.int64))


def json_record(path: Path, line: int, text: str) -> dict:
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
    for line, text in decoded_lines(path, config.encoding):
        if text.strip():
            columns = tuple(json_record(path, line, text))
            check_columns(columns, config, f"{path}: line {line} (first record)", path)
            return columns
    raise TfclfError(f"{role}: file {str(path)!r} is empty.")


def _jsonl_chunks(source: Source, config: DataConfig, chunk_rows: int) -> Iterator[RawChunk]:
    records: list[dict] = []
    lines: list[int] = []
    for line, text in decoded_lines(source.path, config.encoding):
        if not text.strip():
            continue
        records.append(json_record(source.path, line, text))
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


@contextlib.contextmanager
def parquet_file(path: Path) -> Iterator["pyarrow.parquet.ParquetFile"]:  # noqa: F821
    """A Parquet file for reading: a local one by name (pyarrow maps it), one on a store
    through ``tfclf.data.filesystem`` (pyarrow seeks to the footer, then reads the row groups)."""
    import pyarrow.parquet as pq

    if not filesystem.is_remote(path):
        yield pq.ParquetFile(path)
        return
    with filesystem.open_binary(path) as f:
        yield pq.ParquetFile(f)


def parquet_columns(path: Path, role: str) -> tuple[str, ...]:
    try:
        with parquet_file(path) as pf:
            names = tuple(pf.schema_arrow.names)
    except TfclfError:
        raise
    except Exception as e:  # pyarrow raises several types for non-Parquet bytes
        raise TfclfError(f"{role}: {str(path)!r} is not a readable Parquet file ({e}).") from None
    counts = Counter(names)
    duplicated = [n for n in names if counts[n] > 1]
    if duplicated:
        raise TfclfError(f"{path}: the Parquet schema has column {duplicated[0]!r} "
                         f"{counts[duplicated[0]]} times; expected distinct column names. Columns: {list(names)}")
    return names


def _parquet_chunks(source: Source, config: DataConfig, chunk_rows: int) -> Iterator[RawChunk]:
    start = 1
    with parquet_file(source.path) as pf:
        for batch in pf.iter_batches(batch_size=chunk_rows):
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


def _shard_chunks(source: Source, config: DataConfig, chunk_rows: int) -> Iterator[RawChunk]:
    for i, part in enumerate(source.parts):
        for chunk in iter_chunks(part, config, chunk_rows):
            yield RawChunk(chunk.frame, chunk.lines + i * SHARD_STRIDE)


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
    if source.parts:
        return _shard_chunks(source, config, chunk_rows)
    if source.format is DataFormat.FOLDERS:
        return _folder_chunks(source, config, chunk_rows, file_order)
    readers = {DataFormat.DELIMITED: _delimited_chunks, DataFormat.PARALLEL: _parallel_chunks,
               DataFormat.JSONL: _jsonl_chunks, DataFormat.PARQUET: _parquet_chunks,
               DataFormat.LINES: _lines_chunks}
    return readers[source.format](source, config, chunk_rows)
