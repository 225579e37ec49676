"""``python -m tfclf.predict``: classify a file or stdin with a saved model, streaming.

Examples::

    python -m tfclf.predict --model runs/demo --input test.csv --output preds.csv
    python -m tfclf.predict --model serving/tickets --input emotion/test.txt --output preds.tsv
    cat texts.txt | python -m tfclf.predict --model serving/tickets --input - --output -

Inputs are read the way training reads them, one batch at a time, so memory stays
flat however long the file is:

* ``-``: standard input, one text per line;
* ``.csv``/``.tsv``/``.txt`` (or ``--delimiter``): the header rule of training
  (``tfclf.data.readers.delimited_layout``). With a header naming ``--text-column``,
  every column is kept; a first row that looks like a header but lacks it is an
  error listing the columns found. Without a header, rows of two fields are
  ``text<delimiter>label`` (split on the last delimiter, as in training), rows of one
  field are texts, and wider rows need ``--column-names`` or a 0-based
  ``--text-column`` index (``--no-header --text-column 3``). ``--lines`` reads any
  file as one text per line;
* ``.jsonl``: one object per line; ``.parquet``: read in record batches;
* a folder of ``<label>/*.txt`` class folders: columns ``path``, ``label``, ``text``.

The output (``.csv``, ``.tsv``, ``.jsonl``, ``.parquet`` or ``-`` for CSV on stdout) has the input
columns, then ``label``, ``confidence`` and ``top1_label``, ``top1_probability`` ...
``topK_*``. Input columns whose names clash with these get an ``input_`` prefix
(a labelled test file's ``label`` becomes ``input_label``). Multi-label models
write their labels joined by ``|`` and the top probability as ``confidence``.
"""
from __future__ import annotations

import argparse
import codecs
import contextlib
import csv
import dataclasses
import io
import itertools
import json
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Optional, Sequence, Union

import numpy as np

from tfclf import outputs
from tfclf.data import readers
from tfclf.errors import TfclfError

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

_EXTENSION_DELIMITERS = {".csv": ",", ".tsv": "\t", ".txt": ";"}
_SURROGATES = re.compile("[\udc80-\udcff]")
MULTI_LABEL_JOIN = "|"


# -------------------------------------------------------------------------------- reading

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


def _delimiter(path: Path, delimiter: Optional[str]) -> Optional[str]:
    if delimiter:
        return "\t" if delimiter in ("\\t", "tab", "TAB") else delimiter
    return _EXTENSION_DELIMITERS.get(path.suffix.lower())


def _byte_progress(f: IO, total: int) -> Callable[[], Optional[float]]:
    raw = getattr(f, "buffer", None)

    def progress() -> Optional[float]:
        try:
            return min(1.0, raw.tell() / total) if raw is not None and total else None
        except (OSError, ValueError):
            return None

    return progress


@contextlib.contextmanager
def open_input(path: str, *, text_column: str = "text", delimiter: Optional[str] = None,
               encoding: str = "utf-8", lines: bool = False, header: Optional[bool] = None,
               column_names: Sequence[str] = ()) -> Iterator[InputTable]:
    """Opens an input for streaming; see the module docstring for the formats.

    Undecodable bytes are kept (``surrogateescape``): the model receives the raw
    bytes and its graph replaces them by U+FFFD, exactly as a server would.

    Args:
        header: delimited files: the first row is a header (True), data (False), or
            detect it as training does (None).
        column_names: names of a headerless delimited file's columns.

    Raises:
        TfclfError: missing input, no ``--text-column`` in a header or JSON object,
            a header-like first row without it, a wide headerless file without a
            column choice, or a row whose field count differs from the header's.
    """
    if path == "-":
        stream = io.TextIOWrapper(sys.stdin.buffer, encoding=encoding, errors="surrogateescape")
        yield InputTable(["text"], 0, ([line.rstrip("\r\n")] for line in stream), lambda: None, "stdin")
        return
    p = Path(path)
    if not p.exists():
        raise TfclfError(f"--input: no such file or directory: {path!r}")
    if p.is_dir():
        yield _class_folders(p, encoding)
        return
    suffix = p.suffix.lower()
    if suffix == ".parquet" and not lines:
        yield _parquet(p, text_column)
        return
    total = p.stat().st_size
    with open(p, encoding=encoding, errors="surrogateescape", newline="") as f:
        progress = _byte_progress(f, total)
        if suffix == ".jsonl" and not lines:
            yield _jsonl(f, p, text_column, progress)
            return
        sep = _delimiter(p, delimiter)
        if lines or sep is None:
            if not lines:
                logger.info("%s: no delimiter for %r files; reading one text per line (pass "
                            "--delimiter for a delimited file).", p, suffix)
            yield InputTable(["text"], 0, ([line.rstrip("\r\n")] for line in f), progress, str(p))
            return
        yield _delimited(f, p, sep, text_column, progress, header, column_names)


def _delimited(f: IO, path: Path, sep: str, text_column: str,
               progress: Callable[[], Optional[float]], header: Optional[bool] = None,
               column_names: Sequence[str] = ()) -> InputTable:
    reader = csv.reader(f, delimiter=sep)

    def nonblank() -> Iterator[list[str]]:
        try:
            for row in reader:
                if row and not (len(row) == 1 and not row[0].strip()):
                    yield row
        except csv.Error as e:
            raise TfclfError(f"{path}: line {reader.line_num}: malformed {sep!r}-delimited row ({e}).") from None

    rows = nonblank()
    sample = []  # the first rows decide the layout, as in training; then they are predicted too
    for row in itertools.islice(rows, readers.SNIFF_ROWS):
        sample.append((reader.line_num, row))
    if not sample:
        return InputTable(["text"], 0, iter(()), progress, str(path))
    first = sample[0][1]
    if first and first[0].startswith("\ufeff"):
        first[0] = first[0][1:]
    layout = readers.delimited_layout(str(path), sample, sep, wanted=[("--text-column", (text_column,))],
                                      header=header, column_names=column_names, one_column=True)
    columns = list(layout.columns)
    numbered = itertools.chain(sample[1 if layout.has_header else 0:], ((reader.line_num, r) for r in rows))
    body = (r for _, r in numbered)
    if layout.has_header or (len(columns) > 1 and not layout.join_text):
        like = "the header" if layout.has_header else f"line {sample[0][0]}"

        def fixed() -> Iterator[list[str]]:
            for line, row in numbered:
                if len(row) != len(columns):
                    raise TfclfError(
                        f"{path}: line {line}: expected {len(columns)} fields like {like}, "
                        f"found {len(row)}. Check --delimiter (now {sep!r}) and quoting.")
                yield row

        return InputTable(columns, columns.index(text_column), fixed(), progress, str(path))
    if layout.join_text:
        logger.info("%s: no header with column %r; reading rows as (text, label), split on the last %r.",
                    path, text_column, sep)

        def pairs() -> Iterator[list[str]]:
            for row in body:
                yield [sep.join(row[:-1]), row[-1].strip()] if len(row) >= 2 else [row[0], ""]

        return InputTable(columns, 0, pairs(), progress, str(path))
    logger.info("%s: no header with column %r; reading one text per row.", path, text_column)
    return InputTable(["text"], 0, ([sep.join(row)] for row in body), progress, str(path))


def _chain(first: list[str], rest: Iterator[list[str]]) -> Iterator[list[str]]:
    yield first
    yield from rest


def _jsonl(f: IO, path: Path, text_column: str, progress: Callable[[], Optional[float]]) -> InputTable:
    def objects() -> Iterator[tuple[int, dict]]:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise TfclfError(f"{path}: line {n}: not valid JSON ({e.msg}).") from None
                if not isinstance(obj, dict):
                    raise TfclfError(f"{path}: line {n}: expected a JSON object, found {type(obj).__name__}.")
                yield n, obj

    it = objects()
    first = next(it, None)
    if first is None:
        return InputTable(["text"], 0, iter(()), progress, str(path))
    columns = list(first[1])
    if text_column not in columns:
        raise TfclfError(f"{path}: line {first[0]}: --text-column {text_column!r} is not a key. "
                         f"Keys found: {columns}")

    def rows() -> Iterator[list[str]]:
        for n, obj in _chain(first, it):  # type: ignore[arg-type]
            if text_column not in obj:
                raise TfclfError(f"{path}: line {n}: no {text_column!r} key.")
            yield [_cell(obj.get(c)) for c in columns]

    return InputTable(columns, columns.index(text_column), rows(), progress, str(path))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _parquet(path: Path, text_column: str) -> InputTable:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    columns = list(pf.schema_arrow.names)
    if text_column not in columns:
        raise TfclfError(f"{path}: --text-column {text_column!r} is not a column. Columns found: {columns}")
    total = pf.metadata.num_rows
    done = [0]

    def rows() -> Iterator[list[str]]:
        for batch in pf.iter_batches(batch_size=4096):
            data = batch.to_pydict()
            for i in range(batch.num_rows):
                done[0] += 1
                yield [_cell(data[c][i]) for c in columns]

    return InputTable(columns, columns.index(text_column), rows(),
                      lambda: done[0] / total if total else None, str(path))


def _class_folders(root: Path, encoding: str) -> InputTable:
    files = [(d.name, f) for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")
             for f in sorted(d.glob("*.txt"))]
    if not files:
        raise TfclfError(f"--input: directory {str(root)!r} has no <label>/*.txt files.")
    done = [0]

    def rows() -> Iterator[list[str]]:
        for label, f in files:
            done[0] += 1
            yield [str(f), label, f.read_bytes().decode(encoding, errors="surrogateescape")]

    return InputTable(["path", "label", "text"], 2, rows(), lambda: done[0] / len(files), str(root))


# -------------------------------------------------------------------------------- writing

def prediction_columns(label_count: int, top_k: int) -> list[str]:
    """``label``, ``confidence``, then ``top{i}_label``/``top{i}_probability`` for i <= top_k."""
    columns = ["label", "confidence"]
    for i in range(1, min(top_k, label_count) + 1):
        columns += [f"top{i}_label", f"top{i}_probability"]
    return columns


def output_header(input_columns: Sequence[str], label_count: int, top_k: int) -> list[str]:
    """Input columns (``input_``-prefixed on a clash) followed by the prediction columns."""
    predicted = prediction_columns(label_count, top_k)
    taken = set(predicted)
    header = []
    for name in input_columns:
        new = name
        while new in taken:
            new = "input_" + new
        if new != name:
            logger.info("Input column %r is written as %r (the prediction uses %r).", name, new, name)
        taken.add(new)
        header.append(new)
    return header + predicted


def _fmt(p: np.float32) -> str:
    return str(np.float32(p))  # shortest text that reads back as the same float32


def prediction_cells(outputs: dict[str, np.ndarray], label_names: Sequence[str], top_k: int,
                     multi_label: bool) -> list[list[str]]:
    """One list of prediction cells per row of a ``serving_default`` output batch."""
    probabilities = outputs["probabilities"]
    k = min(top_k, len(label_names))
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    rows = []
    for i, probs in enumerate(probabilities):
        if multi_label:
            label = MULTI_LABEL_JOIN.join(s.decode() for s in outputs["labels"][i] if s)
            confidence = probs.max()
        else:
            label = outputs["label"][i].decode()
            confidence = outputs["confidence"][i]
        cells = [label, _fmt(confidence)]
        for j in order[i]:
            cells += [label_names[j], _fmt(probs[j])]
        rows.append(cells)
    return rows


def _clean(value: str) -> str:
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:  # undecodable input bytes: written as U+FFFD, as the model saw them
        return _SURROGATES.sub("\ufffd", value)


OUTPUT_FORMATS = (".csv", ".tsv", ".jsonl", ".parquet")


def check_output(output: str, inputs: Sequence[outputs.Input] = ()) -> None:
    """Refuses, before any work, an ``--output`` that is not a new or replaceable file of a
    known format (``OUTPUT_FORMATS``), is an existing folder, or is one of ``inputs``."""
    if output != "-":
        outputs.check_file(output, flag="--output", extensions=OUTPUT_FORMATS, inputs=inputs)


class _Writer:
    """Rows out as CSV/TSV, JSON lines or Parquet, to a file via a temporary name, or CSV to stdout."""

    def __init__(self, output: str, header: list[str]):
        self.header = header
        self.path = None if output == "-" else Path(output)
        suffix = self.path.suffix.lower() if self.path is not None else ".csv"
        self.jsonl, self.parquet, self.csv = suffix == ".jsonl", None, None
        if self.path is None:
            self.file = sys.stdout
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = self.path.with_name(f".{self.path.name}.partial")
            if suffix == ".parquet":
                import pyarrow as pa
                import pyarrow.parquet as pq

                self.schema = pa.schema([(name, pa.string()) for name in header])
                self.parquet = pq.ParquetWriter(str(self.tmp), self.schema)
                return
            self.file = open(self.tmp, "w", encoding="utf-8", newline="")
        if not self.jsonl:
            self.csv = csv.writer(self.file, delimiter="\t" if suffix == ".tsv" else ",",
                                  lineterminator="\n")
            self.csv.writerow(header)

    def write(self, rows: list[list[str]]) -> None:
        if self.parquet is not None:
            import pyarrow as pa

            columns = [pa.array([r[i] for r in rows], type=pa.string()) for i in range(len(self.header))]
            self.parquet.write_table(pa.Table.from_arrays(columns, schema=self.schema))
        elif self.csv is not None:
            self.csv.writerows(rows)
        else:
            self.file.write("".join(json.dumps(dict(zip(self.header, r)), ensure_ascii=False) + "\n"
                                    for r in rows))

    def close(self, ok: bool) -> None:
        if self.path is None:
            self.file.flush()
            return
        if self.parquet is not None:
            self.parquet.close()
        else:
            self.file.close()
        if ok:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


class Progress:
    """A one-line progress display on stderr: rows, percent, rows/s and time left.

    On a terminal it redraws in place at most every 0.2 s; otherwise (logs, CI) it
    writes a line every ``log_every`` seconds.
    """

    def __init__(self, enabled: bool = True, stream: Optional[IO] = None, log_every: float = 10.0):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.interval = 0.2 if self.tty else log_every
        self.start = time.monotonic()
        self.last = 0.0
        self.rows = 0

    def update(self, rows: int, fraction: Optional[float]) -> None:
        self.rows = rows
        now = time.monotonic()
        if self.enabled and now - self.last >= self.interval:
            self.last = now
            self._draw(fraction, now)

    def _draw(self, fraction: Optional[float], now: float, end: str = "") -> None:
        elapsed = max(now - self.start, 1e-9)
        rate = self.rows / elapsed
        text = f"predict: {self.rows:,} rows  {rate:,.0f} rows/s  {elapsed:.0f}s"
        if fraction:
            left = elapsed * (1 - fraction) / fraction
            bar = "#" * int(20 * fraction)
            text = f"predict: [{bar:<20}] {100 * fraction:3.0f}%  {self.rows:,} rows  {rate:,.0f} rows/s  " \
                   f"{elapsed:.0f}s elapsed, ~{left:.0f}s left"
        self.stream.write(("\r" + text + "\033[K" if self.tty else text + "\n") + end)
        self.stream.flush()

    def close(self, rows: int) -> None:
        self.rows = rows
        if self.enabled:
            self._draw(1.0 if rows else None, time.monotonic(), end="\n" if self.tty else "")


@dataclasses.dataclass(frozen=True)
class PredictSummary:
    rows: int
    seconds: float
    output: str
    undecodable_rows: int


def predict_file(model, input: str, output: str, *, text_column: str = "text",
                 delimiter: Optional[str] = None, encoding: str = "utf-8", lines: bool = False,
                 batch_size: int = 64, top_k: int = 3, progress: bool = True,
                 header: Optional[bool] = None, column_names: Sequence[str] = ()) -> PredictSummary:
    """Streams ``input`` through ``model`` and writes one output row per input row.

    Args:
        model: a ``tfclf.export.LoadedModel``, or a path for ``tfclf.load``.
        input: a file, a class-folder directory, or ``-`` for stdin lines.
        output: ``.csv``/``.tsv``/``.jsonl``/``.parquet`` path, or ``-`` for CSV on stdout.
            Files are written under a temporary name and renamed when complete; an
            existing file is replaced, an input of the command or a folder refused.
        text_column: the column holding the text: a name, or a 0-based index in a
            headerless file.
        delimiter: overrides the delimiter chosen by extension.
        encoding: text encoding of the input.
        lines: read the input as one text per line.
        header: delimited input: the first row is a header (True), data (False), or
            detect it as training does (None).
        column_names: names of a headerless delimited input's columns.
        batch_size: texts per model call.
        top_k: how many (label, probability) pairs to write per row.
        progress: show progress on stderr.

    Returns:
        A ``PredictSummary``.

    Raises:
        TfclfError: bad input (see ``open_input``) or bad arguments.
    """
    check_output(output, [outputs.Input("--input", input)] + (
        [outputs.Input("--model", model, outputs_inside=True)] if isinstance(model, (str, os.PathLike)) else []))
    from tfclf import export  # TensorFlow: after the arguments are checked

    if batch_size < 1:
        raise TfclfError(f"--batch-size must be >= 1. Received: batch_size={batch_size}")
    if top_k < 0:
        raise TfclfError(f"--top-k must be >= 0. Received: top_k={top_k}")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise TfclfError(f"--encoding must be a Python text encoding such as utf-8 or latin-1. "
                         f"Received: encoding={encoding!r}") from None
    if not isinstance(model, export.LoadedModel):
        model = export.load(model)
    start = time.monotonic()
    n = undecodable = 0
    bar = Progress(enabled=progress)
    if isinstance(column_names, str):
        column_names = [c.strip() for c in column_names.split(",") if c.strip()]
    if column_names and header:
        raise TfclfError("--column-names names the columns of a headerless file; it cannot be combined "
                         f"with --header. Received: column_names={list(column_names)}")
    with open_input(input, text_column=text_column, delimiter=delimiter, encoding=encoding,
                    lines=lines, header=header, column_names=tuple(column_names)) as table:
        header = output_header(table.columns, len(model.label_names), top_k)
        writer = _Writer(output, header)
        ok = False
        try:
            batch: list[list[str]] = []
            for row in table.rows:
                batch.append(row)
                if len(batch) == batch_size:
                    undecodable += _predict_batch(model, batch, table.text_index, top_k, writer)
                    n += len(batch)
                    batch = []
                    bar.update(n, table.progress())
            if batch:
                undecodable += _predict_batch(model, batch, table.text_index, top_k, writer)
                n += len(batch)
            ok = True
        finally:
            writer.close(ok)
            bar.close(n)
    seconds = time.monotonic() - start
    if undecodable:
        logger.warning("%s: %d rows had bytes that are not valid %s; the model read them as U+FFFD "
                       "and the output shows U+FFFD.", table.where, undecodable, encoding)
    logger.info("Predicted %d rows in %.1fs (%.0f rows/s) -> %s", n, seconds, n / max(seconds, 1e-9),
                output)
    return PredictSummary(rows=n, seconds=seconds, output=output, undecodable_rows=undecodable)


def _predict_batch(model, batch: list[list[str]], text_index: int, top_k: int, writer: _Writer) -> int:
    outputs = model.outputs([row[text_index] for row in batch])
    cells = prediction_cells(outputs, model.label_names, top_k, model.multi_label)
    undecodable = 0
    out = []
    for row, pred in zip(batch, cells):
        cleaned = [_clean(v) for v in row]
        undecodable += cleaned != row
        out.append(cleaned + pred)
    writer.write(out)
    return undecodable


# ------------------------------------------------------------------------------------ CLI

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tfclf.predict", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, metavar="PATH",
                        help="Run directory, SavedModel, or TF Serving model folder (latest version).")
    parser.add_argument("--input", required=True, metavar="FILE|-", help="Input file, folder, or - for stdin.")
    parser.add_argument("--output", required=True, metavar="FILE|-",
                        help="Output .csv, .tsv, .jsonl or .parquet (all values as strings), or - "
                             "for CSV on stdout.")
    parser.add_argument("--text-column", default="text",
                        help="Column holding the text: a header name, a --column-names name, or a 0-based "
                             "field index in a headerless file (default: text).")
    parser.add_argument("--header", action=argparse.BooleanOptionalAction, default=None,
                        help="Whether the first row of a delimited input is a header (default: detected as "
                             "in training: a first row that looks like a header but lacks --text-column "
                             "is an error).")
    parser.add_argument("--column-names", metavar="A,B,...", default="",
                        help="Names of a headerless delimited input's columns, in order; they are kept "
                             "in the output (default: none).")
    parser.add_argument("--delimiter", help="Input field delimiter; default by extension "
                                            "(.csv ',', .tsv tab, .txt ';').")
    parser.add_argument("--encoding", default="utf-8", help="Input text encoding (default: utf-8).")
    parser.add_argument("--lines", action="store_true", help="Read the input as one text per line.")
    parser.add_argument("--batch-size", type=int, default=64, help="Texts per model call (default: 64).")
    parser.add_argument("--top-k", type=int, default=3, help="(label, probability) pairs per row (default: 3).")
    parser.add_argument("--quiet", action="store_true", help="No progress bar.")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    from tfclf import cli

    args = build_parser().parse_args(argv)

    def body() -> None:
        predict_file(args.model, args.input, args.output, text_column=args.text_column,
                     delimiter=args.delimiter, encoding=args.encoding, lines=args.lines,
                     batch_size=args.batch_size, top_k=args.top_k, progress=not args.quiet,
                     header=args.header, column_names=args.column_names)

    return cli.run_main(body)


if __name__ == "__main__":
    sys.exit(main())
