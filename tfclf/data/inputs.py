"""Input files -> streaming rows for prediction and explanation, read the way training reads them.

``open_input`` yields an ``InputTable``: the input's columns and an iterator over its
rows (lists of strings), read one row at a time, so memory stays flat however long
the input is. Every decision is training's (``tfclf.data.readers`` and
``tfclf.data.delimited``): the format by extension (``auto_format``), the delimiter
(``EXTENSION_DELIMITERS``, ``--delimiter`` as ``DataConfig`` reads it), the header rule
(``delimited_layout``), the class-folder rule (``folder_source``: label folders at any
depth, ``unsup/`` ignored), the record parsers (``csv_records``, ``json_record``,
``parquet_columns``, ``parallel_records``) and their error messages. What prediction
needs on top:

* every column is kept, as text (JSON values other than strings as JSON), and only
  ``--text-column`` is required;
* ``-`` is standard input, one text per line; ``--lines`` reads any file that way, and
  so is a file whose extension names no format (training sniffs its delimiter);
* undecodable bytes are kept (``surrogateescape``): the model receives the raw bytes
  and its graph replaces them by U+FFFD, exactly as a server would;
* a headerless file's row without the delimiter is one text; a ``text<d>label`` row
  without its label has an empty label.

The input may be on a store (``gs://bucket/new.csv.gz``): it is opened through
``tfclf.data.filesystem``, as training's files are.

Columns per format: a header's (or ``--column-names``, or ``0``, ``1``, ... for 0-based
indices); ``text``, ``label`` for headerless two-field rows and parallel files;
``text`` for one text per row; the first JSON object's keys; the Parquet schema;
``path``, ``label``, ``text`` for class folders.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import json
import logging
import sys
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Optional, Sequence

from tfclf.config import DataConfig, DataFormat
from tfclf.data import compression, delimited, filesystem, readers
from tfclf.errors import TfclfError

logger = logging.getLogger(__name__)

ROLE = "--input"


@dataclasses.dataclass
class InputTable:
    """A streaming table: column names and an iterator over rows of strings.

    Attributes:
        columns: names of the input columns.
        text_index: which column holds the text.
        rows: yields one list of ``len(columns)`` strings per example.
        progress: returns the fraction of the input consumed so far, or None when unknown.
        where: names the input in messages.
    """

    columns: list[str]
    text_index: int
    rows: Iterator[list[str]]
    progress: Callable[[], Optional[float]]
    where: str


def reading_options(text_column: str = "text", delimiter: Optional[str] = None, encoding: str = "utf-8",
                    header: Optional[bool] = None, column_names: Sequence[str] = ()) -> DataConfig:
    """The reading flags as the ``DataConfig`` training reads with, validated the same way.

    Raises:
        TfclfError: a bad ``--delimiter`` or ``--encoding``, ``--column-names`` with ``--header``.
    """
    return DataConfig(text_column=(text_column,), delimiter=delimiter, encoding=encoding, header=header,
                      column_names=column_names)


@contextlib.contextmanager
def open_input(path: str, *, text_column: str = "text", delimiter: Optional[str] = None,
               encoding: str = "utf-8", lines: bool = False, header: Optional[bool] = None,
               column_names: Sequence[str] = ()) -> Iterator[InputTable]:
    """Opens an input for streaming; see the module docstring for the formats.

    Args:
        path: a file, a class-folder directory, or ``-`` for standard input.
        text_column: the column holding the text: a name, or a 0-based index in a
            headerless file.
        delimiter: overrides the delimiter chosen by extension (``tab`` for a tab).
        encoding: text encoding of the input.
        lines: read the input as one text per line.
        header: delimited files: the first row is a header (True), data (False), or
            detect it as training does (None).
        column_names: names of a headerless delimited file's columns.

    Raises:
        TfclfError: missing input, no ``--text-column`` in a header or JSON object,
            a header-like first row without it, a wide headerless file without a
            column choice, a row whose field count differs from the header's, a
            folder without label folders, bad flags (``reading_options``).
    """
    options = reading_options(text_column, delimiter, encoding, header, column_names)
    if path == "-":
        stream = io.TextIOWrapper(sys.stdin.buffer, encoding=options.encoding, errors="surrogateescape")
        yield _lines(stream, lambda: None, "stdin")
        return
    p = filesystem.path(path)
    if not p.exists():
        raise TfclfError(f"{ROLE}: no such file or directory: {path!r}")
    if p.is_dir():
        yield _class_folders(readers.folder_source(p, ROLE, options), options.encoding)
        return
    fmt = None if lines else readers.auto_format(p)
    if fmt is DataFormat.PARQUET:
        columns = list(readers.parquet_columns(p, ROLE))
        with readers.parquet_file(p) as pf:
            yield _parquet(pf, columns, p, text_column)
        return
    if fmt is DataFormat.PARALLEL:
        yield _parallel(p, options.encoding)
        return
    delimiter = options.delimiter or delimited.EXTENSION_DELIMITERS.get(compression.data_suffix(p))
    total = p.stat().st_size
    with delimited.open_text(p, options.encoding, errors="surrogateescape") as f:
        progress = _byte_progress(f, total)
        if fmt is DataFormat.JSONL:
            yield _jsonl(f, p, text_column, progress)
        elif lines or delimiter is None:
            if not lines:
                logger.info("%s: no delimiter for %r files; reading one text per line (pass "
                            "--delimiter for a delimited file).", p, compression.data_suffix(p))
            yield _lines(f, progress, str(p))
        else:
            yield _delimited(f, p, delimiter, options, progress)


def _lines(f: IO, progress: Callable[[], Optional[float]], where: str) -> InputTable:
    return InputTable(["text"], 0, ([line.rstrip("\r\n")] for line in f), progress, where)


def _byte_progress(f: IO, total: int) -> Callable[[], Optional[float]]:
    raw = getattr(f, "buffer", None)
    raw = getattr(raw, "fileobj", raw)  # a .gz file: the compressed offset, as total is the compressed size

    def progress() -> Optional[float]:
        try:
            return min(1.0, raw.tell() / total) if raw is not None and total else None
        except (OSError, ValueError):
            return None

    return progress


def _delimited(f: IO, path: Path, delimiter: str, options: DataConfig,
               progress: Callable[[], Optional[float]]) -> InputTable:
    text_column = options.text_column[0]
    records = delimited.csv_records(f, path, options, delimiter)
    sample = list(itertools.islice(records, delimited.SNIFF_ROWS))  # decide the layout, then predict them too
    if not sample:
        return InputTable(["text"], 0, iter(()), progress, str(path))
    layout = delimited.delimited_layout(str(path), sample, delimiter, wanted=[("--text-column", (text_column,))],
                                      header=options.header, column_names=options.column_names, one_column=True)
    columns = delimited.dedupe_names(layout.columns)
    numbered = itertools.chain(sample[1 if layout.has_header else 0:], records)
    if layout.has_header or (len(columns) > 1 and not layout.join_text):
        like = "the header" if layout.has_header else f"line {sample[0][0]}"

        def fixed() -> Iterator[list[str]]:
            for line, row in numbered:
                if len(row) != len(columns):
                    raise delimited.ragged_row_error(path, line, len(columns), len(row), delimiter, like)
                yield row

        return InputTable(columns, columns.index(text_column), fixed(), progress, str(path))
    if layout.join_text:
        logger.info("%s: no header with column %r; reading rows as (text, label), split on the last %r.",
                    path, text_column, delimiter)

        def pairs() -> Iterator[list[str]]:
            for _, row in numbered:
                yield [delimiter.join(row[:-1]), row[-1].strip()] if len(row) >= 2 else [row[0], ""]

        return InputTable(columns, 0, pairs(), progress, str(path))
    logger.info("%s: no header with column %r; reading one text per row.", path, text_column)
    return InputTable(["text"], 0, ([delimiter.join(row)] for _, row in numbered), progress, str(path))


def _jsonl(f: IO, path: Path, text_column: str, progress: Callable[[], Optional[float]]) -> InputTable:
    objects = ((n, readers.json_record(path, n, line)) for n, line in enumerate(f, 1) if line.strip())
    first = next(objects, None)
    if first is None:
        return InputTable(["text"], 0, iter(()), progress, str(path))
    columns = list(first[1])
    delimited.check_found(columns, [("--text-column", (text_column,))], f"{path}: line {first[0]} (first record)")

    def rows() -> Iterator[list[str]]:
        for n, obj in itertools.chain([first], objects):
            if text_column not in obj:
                raise TfclfError(f"{path}: line {n}: no {text_column!r} key.")
            yield [cell_text(obj.get(c)) for c in columns]

    return InputTable(columns, columns.index(text_column), rows(), progress, str(path))


def cell_text(value: Any) -> str:
    """A JSONL/Parquet value as predict writes it: "" for null, a string as is, else its JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _parquet(pf: Any, columns: list[str], path: Path, text_column: str) -> InputTable:
    delimited.check_found(columns, [("--text-column", (text_column,))], str(path))
    total = pf.metadata.num_rows
    done = [0]

    def rows() -> Iterator[list[str]]:
        for batch in pf.iter_batches(batch_size=4096):
            data = batch.to_pydict()
            for i in range(batch.num_rows):
                done[0] += 1
                yield [cell_text(data[c][i]) for c in columns]

    return InputTable(columns, columns.index(text_column), rows(),
                      lambda: done[0] / total if total else None, str(path))


def _parallel(path: Path, encoding: str) -> InputTable:
    labels = readers.labels_path(path)
    rows = ([text, label] for _, text, label in
            readers.parallel_records(path, labels, encoding, errors="surrogateescape"))
    return InputTable(["text", "label"], 0, rows, lambda: None, f"{path} + {labels.name}")


def _class_folders(source: readers.Source, encoding: str) -> InputTable:
    files = source.files
    done = [0]

    def rows() -> Iterator[list[str]]:
        for path, label in files:
            done[0] += 1
            yield [str(path), label, path.read_bytes().decode(encoding, errors="surrogateescape").lstrip("\ufeff")]

    return InputTable(["path", "label", "text"], 2, rows(), lambda: done[0] / len(files), str(source.path))
