"""Input files -> rows for the Beam pipeline, and the rows that do not parse -> dead letters.

The files are listed when the pipeline is built (``list_files``: local paths or any store
``tfclf.data.filesystem`` reads, ``gs://`` included) and their columns are taken from the
first one (``sniff_columns``, with ``tfclf.data.inputs.open_input``, the reader of
``python -m tfclf.predict``). Each worker then reads whole files (``ReadRows``), through
``tfclf.data.filesystem`` (``.gz`` decompressed), one row at a time:

* delimited files (``.csv``, ``.tsv``, ``.txt`` ``;``, ``.psv`` ``|``, or ``--delimiter``)
  with a header naming ``--text-column``; a row whose field count is not the header's,
  or that the ``csv`` module refuses (a stray quote), is a dead letter;
* JSON lines (``.jsonl``, ``.ndjson``, ``.json``): a line that is not a JSON object, or
  an object without ``--text-column``, is a dead letter;
* Parquet (``.parquet``, ``.pq``), read in record batches; the "line" is the row number;
* ``--lines``: any file as one text per line (column ``text``).

Every file's columns are mapped onto the first file's by name (a missing one is empty);
a file without ``--text-column`` (or that cannot be read at all) is one dead letter, at
line 0, and none of its rows are read. Undecodable bytes are kept (``surrogateescape``),
as ``tfclf.predict`` keeps them: the model's graph replaces them by U+FFFD.

A row is ``(where, cells)``: ``where`` is ``"<file>:<line>"`` (the record's first physical
line), ``cells`` the strings of the first file's columns. A dead letter is a dict
``{"file", "line", "raw", "reason"}`` (``raw``: the record as read, at most
``RAW_LIMIT`` characters; ``reason``: the message ``tfclf.predict`` would have stopped with).
"""
from __future__ import annotations

import csv
import dataclasses
import json
import sys
from typing import Any, Iterator, Optional, Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics

from tfclf.config import DataFormat
from tfclf.data import compression, delimited, filesystem, inputs, readers
from tfclf.errors import TfclfError

DEAD_LETTER = "dead_letter"  # the tag of ReadRows' second output
RAW_LIMIT = 65536  # characters of a dead letter's raw record kept (an unclosed quote can swallow a file)
METRICS_NAMESPACE = "tfclf"
FORMATS = {"delimited": sorted(delimited.EXTENSION_DELIMITERS),
           "jsonl": list(readers._JSONL_EXTENSIONS), "parquet": list(readers._PARQUET_EXTENSIONS)}


@dataclasses.dataclass(frozen=True)
class Reading:
    """How every input file is read (the flags of ``python -m tfclf.predict`` that apply here).

    Attributes:
        columns: the columns of the first file, which every row is mapped onto.
        text_column: the column holding the text.
        delimiter: delimited files: overrides the extension's delimiter.
        encoding: text encoding of the files.
        lines: read every file as one text per line.
    """

    columns: tuple[str, ...]
    text_column: str = "text"
    delimiter: Optional[str] = None
    encoding: str = "utf-8"
    lines: bool = False

    @property
    def text_index(self) -> int:
        return self.columns.index(self.text_column)


def list_files(patterns: Sequence[str]) -> list[str]:
    """The files that ``--input`` patterns match, sorted, each once.

    Raises:
        TfclfError: a pattern that matches no file (or only folders), naming it.
    """
    found: list[str] = []
    for pattern in patterns:
        matches = filesystem.glob(pattern) if filesystem.has_glob(pattern) else [filesystem.path(pattern)]
        files = [str(p) for p in matches if p.exists() and not p.is_dir()]
        if not files:
            raise TfclfError(f"--input {pattern!r} matches no file. Expected a file or a glob pattern of "
                             "files, e.g. 'data/part-*.csv' or 'gs://bucket/texts/*.jsonl'.")
        found += files
    return sorted(set(found))


def file_format(path: str, lines: bool) -> Optional[DataFormat]:
    """DELIMITED, JSONL or PARQUET by extension (``a.csv.gz`` is a ``.csv``); None with ``lines``.

    Raises:
        TfclfError: an extension that names none of them, listing those that do.
    """
    if lines:
        return None
    fmt = readers.auto_format(filesystem.path(path))
    if fmt in (DataFormat.DELIMITED, DataFormat.JSONL, DataFormat.PARQUET):
        return fmt
    known = [e for extensions in FORMATS.values() for e in extensions]
    raise TfclfError(f"--input files must end in one of {known} (optionally .gz), or pass --lines to read "
                     f"one text per line. Received: {path!r} (extension "
                     f"{compression.data_suffix(filesystem.path(path)) or 'none'!r}).")


def sniff_columns(path: str, *, text_column: str = "text", delimiter: Optional[str] = None,
                  encoding: str = "utf-8", lines: bool = False) -> Reading:
    """The ``Reading`` of every file, with the columns of ``path`` (the first file): a delimited
    file's header, the keys of the first JSON object (of the first ``delimited.SNIFF_ROWS`` lines),
    the Parquet schema, or ``text`` with ``lines``.

    Raises:
        TfclfError: an unknown format, a file without ``--text-column`` (listing the columns
            found), bad reading flags (as ``tfclf.predict``'s).
    """
    options = inputs.reading_options(text_column, delimiter, encoding)
    fmt = file_format(path, lines)
    p = filesystem.path(path)
    if fmt is None:
        return Reading(columns=("text",), text_column="text", encoding=options.encoding, lines=True)
    if fmt is DataFormat.PARQUET:
        columns = readers.parquet_columns(p, "--input")
    elif fmt is DataFormat.JSONL:
        columns = _first_json_keys(p, options.encoding)
    else:
        columns = _header(p, options.delimiter or delimited.EXTENSION_DELIMITERS[compression.data_suffix(p)],
                          options.encoding)
    delimited.check_found(columns, [("--text-column", (text_column,))], f"{path} (the first --input file)")
    return Reading(columns=tuple(columns), text_column=text_column, delimiter=options.delimiter,
                   encoding=options.encoding)


def _header(path, delimiter: str, encoding: str) -> list[str]:
    with delimited.open_text(path, encoding, errors="surrogateescape") as f:
        for _, row in delimited.csv_records(f, path, inputs.reading_options(encoding=encoding), delimiter):
            return delimited.dedupe_names(row)
    raise TfclfError(f"--input {str(path)!r} is empty; the first file gives the columns (a header).")


def _first_json_keys(path, encoding: str) -> list[str]:
    with filesystem.open_text(path, encoding, errors="surrogateescape") as f:
        for n, line in enumerate(f, 1):
            if n > delimited.SNIFF_ROWS:
                break
            if not line.strip():
                continue
            try:
                return list(readers.json_record(path, n, line))
            except TfclfError:  # a malformed first record is the workers' dead letter, not a launch error
                continue
    raise TfclfError(f"--input {str(path)!r}: no JSON object in its first {delimited.SNIFF_ROWS} lines; the "
                     "first file gives the columns.")


class ReadRows(beam.DoFn):
    """A file path -> its rows ``(where, cells)``, and ``DEAD_LETTER`` dicts for those that fail."""

    def __init__(self, reading: Reading):
        self.reading = reading
        self.rows_read = Metrics.counter(METRICS_NAMESPACE, "rows_read")
        self.dead = Metrics.counter(METRICS_NAMESPACE, "rows_dead_lettered")
        self.files = Metrics.counter(METRICS_NAMESPACE, "files_read")
        self.dead_files = Metrics.counter(METRICS_NAMESPACE, "files_dead_lettered")

    def process(self, path: str) -> Iterator[Any]:
        self.files.inc()
        try:
            fmt = file_format(path, self.reading.lines)
            p = filesystem.path(path)
            if fmt is DataFormat.PARQUET:
                records = _parquet_rows(p, self.reading)
            elif fmt is DataFormat.JSONL:
                records = _jsonl_rows(p, self.reading)
            elif fmt is DataFormat.DELIMITED:
                records = _delimited_rows(p, self.reading)
            else:
                records = _text_lines(p, self.reading)
            for line, cells, raw, reason in records:
                self.rows_read.inc()
                if reason is None:
                    yield f"{path}:{line}", tuple(cells)
                else:
                    self.dead.inc()
                    yield beam.pvalue.TaggedOutput(DEAD_LETTER, dead_letter(path, line, raw, reason))
        except (TfclfError, OSError, *compression.CORRUPT_ERRORS) as e:
            # The file as a whole: unreadable, or without the text column. Rows read before stay read.
            self.dead_files.inc()
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, dead_letter(path, 0, "", str(e)))


def dead_letter(path: str, line: int, raw: str, reason: str) -> dict[str, Any]:
    """The dead-letter record: where, what was read (``RAW_LIMIT`` characters at most) and why."""
    raw = raw if len(raw) <= RAW_LIMIT else raw[:RAW_LIMIT] + f"... [{len(raw) - RAW_LIMIT} more characters]"
    return {"file": path, "line": line, "raw": raw.encode("utf-8", "replace").decode("utf-8"), "reason": reason}


# Each reader yields (line, cells, raw, reason): reason None for a row, else a dead letter.

def _mapping(found: Sequence[str], reading: Reading, where: str) -> list[Optional[int]]:
    """Positions of ``reading.columns`` in a file's ``found`` columns (None: missing, read as empty)."""
    if reading.text_column not in found:
        raise TfclfError(f"{where}: --text-column {reading.text_column!r} is not a column. Columns found: "
                         f"{list(found)[:20]}")
    return [found.index(c) if c in found else None for c in reading.columns]


def _mapped(values: Sequence[str], mapping: Sequence[Optional[int]]) -> list[str]:
    return [values[i] if i is not None else "" for i in mapping]


def _text_lines(path, reading: Reading) -> Iterator[tuple]:
    with filesystem.open_text(path, reading.encoding, errors="surrogateescape") as f:
        for n, line in enumerate(f, 1):
            yield n, [line.rstrip("\r\n")], None, None


def _jsonl_rows(path, reading: Reading) -> Iterator[tuple]:
    with filesystem.open_text(path, reading.encoding, errors="surrogateescape") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = readers.json_record(path, n, line)
            except TfclfError as e:
                yield n, None, line.rstrip("\r\n"), str(e)
                continue
            if reading.text_column not in record:
                yield n, None, line.rstrip("\r\n"), f"{path}: line {n}: no {reading.text_column!r} key."
                continue
            yield n, [inputs.cell_text(record.get(c)) for c in reading.columns], None, None


def _parquet_rows(path, reading: Reading) -> Iterator[tuple]:
    with readers.parquet_file(path) as pf:
        mapping = _mapping(pf.schema_arrow.names, reading, str(path))
        n = 0
        for batch in pf.iter_batches(batch_size=4096):
            data = batch.to_pydict()
            names = list(data)
            for i in range(batch.num_rows):
                n += 1
                yield n, _mapped([inputs.cell_text(data[c][i]) for c in names], mapping), None, None


class _Recording:
    """The lines of a text file, counted, each kept until ``take`` so a record's raw text is known."""

    def __init__(self, f):
        self.f, self.line, self.kept = f, 0, []

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self.f)
        self.line += 1
        self.kept.append(line)
        return line

    def take(self) -> str:
        raw, self.kept = "".join(self.kept), []
        return raw


def _delimited_rows(path, reading: Reading) -> Iterator[tuple]:
    """Records of a delimited file with a header, each with its first physical line (as ``csv_records``)."""
    delimiter = reading.delimiter or delimited.EXTENSION_DELIMITERS[compression.data_suffix(path)]
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # reviews and posts exceed the 128 KiB default
    with delimited.open_text(path, reading.encoding, errors="surrogateescape") as f:
        lines = _Recording(f)
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        mapping = None
        while True:
            start = lines.line + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                raw = lines.take()
                if mapping is None:
                    raise TfclfError(f"{path}: line {start}: malformed header ({e}).") from None
                yield start, None, raw.rstrip("\r\n"), (
                    f"{path}: line {start}: malformed {delimiter!r}-delimited row ({e}). Expected fields "
                    "separated by the delimiter, quotes only around whole fields ('\"a, b\"').")
                continue
            raw = lines.take()
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if mapping is None:
                found = delimited.dedupe_names(row)
                mapping = _mapping(found, reading, f"{path}: line {start} (the header)")
                width = len(found)
                continue
            if len(row) != width:
                yield start, None, raw.rstrip("\r\n"), str(
                    delimited.ragged_row_error(path, start, width, len(row), delimiter, "the header"))
                continue
            yield start, _mapped(row, mapping), None, None


def dumps(record: dict[str, Any]) -> str:
    """A dead letter as one JSON line."""
    return json.dumps(record, ensure_ascii=False)
