"""Batch prediction: a saved model over an input file or stdin, streamed, to a predictions file.

``predict_file`` reads the input through ``tfclf.data.inputs`` (the formats and rules
of training, one batch at a time, so memory stays flat however long the input is),
runs each batch through the model's ``serving_default`` signature and writes one
output row per input row (``python -m tfclf.predict`` is its command line).

The output (``.csv``, ``.tsv``, ``.jsonl``, ``.parquet`` or ``-`` for CSV on stdout; the model,
the input and the output may be on a store, ``gs://...``) has the input columns, then
``label``, ``confidence`` and ``top1_label``, ``top1_probability`` ... ``topK_*``. Input columns whose names clash with these get an ``input_`` prefix
(a labelled test file's ``label`` becomes ``input_label``). Multi-label models
write ``labels`` (the predicted set joined by ``|``, decided by the thresholds inside
the SavedModel, the run's ``thresholds.json``), ``n_labels`` and ``probability_<label>``
for every label instead.

With ``--group-by COLUMN --group-output FILE``, besides the per-row output, one row
per group (the rows sharing a value of COLUMN, e.g. an account): the group id, ``n_rows``
and the same prediction columns, computed from the mean of its rows' probabilities
(multi-label: each label whose mean reaches the model's threshold, ``LoadedModel.thresholds``).
Groups come in the order they are first seen. Memory grows with the number of groups, not
of rows: a running sum and a count per group (``tfclf.groups.GroupMeans``). A row with a
blank group cell is predicted as usual but belongs to no group (the rows left out are
counted in the log and in ``PredictSummary.blank_group_rows``).
"""
from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from tfclf import object_storage, outputs, thresholds as thresholds_lib, urls
from tfclf.data import inputs
from tfclf.groups import GroupMeans
from tfclf.progress import Progress
from tfclf.errors import TfclfError

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

_SURROGATES = re.compile("[\udc80-\udcff]")
MULTI_LABEL_JOIN = "|"


# -------------------------------------------------------------------------------- writing

def prediction_columns(label_names: Sequence[str], top_k: int, multi_label: bool = False) -> list[str]:
    """The prediction columns.

    Single-label: ``label``, ``confidence``, then ``top{i}_label``/``top{i}_probability``
    for i <= top_k. Multi-label: ``labels`` (the predicted set, joined by ``|``, most
    probable first; empty when no label reaches its threshold), ``n_labels``, then
    ``probability_<label>`` for every label in ``labels.txt`` order (``top_k`` is unused).
    """
    if multi_label:
        return ["labels", "n_labels", *(f"probability_{name}" for name in label_names)]
    columns = ["label", "confidence"]
    for i in range(1, min(top_k, len(label_names)) + 1):
        columns += [f"top{i}_label", f"top{i}_probability"]
    return columns


def output_header(input_columns: Sequence[str], label_names: Sequence[str], top_k: int,
                  multi_label: bool = False) -> list[str]:
    """Input columns (``input_``-prefixed on a clash) followed by the prediction columns."""
    predicted = prediction_columns(label_names, top_k, multi_label)
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
    """One list of prediction cells per row of a ``serving_default`` output batch, in
    ``prediction_columns`` order. Multi-label sets are the served ``labels`` output, so
    they were decided with the thresholds inside the SavedModel."""
    probabilities = outputs["probabilities"]
    if multi_label:
        rows = []
        for i, probs in enumerate(probabilities):
            chosen = [s.decode() for s in outputs["labels"][i] if s]
            rows.append([MULTI_LABEL_JOIN.join(chosen), str(len(chosen)), *(_fmt(p) for p in probs)])
        return rows
    k = min(top_k, len(label_names))
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    rows = []
    for i, probs in enumerate(probabilities):
        cells = [outputs["label"][i].decode(), _fmt(outputs["confidence"][i])]
        for j in order[i]:
            cells += [label_names[j], _fmt(probs[j])]
        rows.append(cells)
    return rows


def clean_cell(value: str) -> str:
    """A cell safe to write as UTF-8: lone surrogates (undecodable input bytes) become U+FFFD."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:  # undecodable input bytes: written as U+FFFD, as the model saw them
        return _SURROGATES.sub("\ufffd", value)


OUTPUT_FORMATS = (".csv", ".tsv", ".jsonl", ".parquet")


def check_output(output: str, inputs: Sequence[outputs.Input] = (), flag: str = "--output") -> None:
    """Refuses, before any work, an ``--output`` (or ``flag``) that is not a new or replaceable
    file of a known format (``OUTPUT_FORMATS``), is an existing folder, or is one of ``inputs``."""
    if output != "-":
        object_storage.check_file(output, flag=flag, extensions=OUTPUT_FORMATS, inputs=inputs)


class RowWriter:
    """Rows out as CSV/TSV, JSON lines or Parquet, to a file via a temporary name, or CSV to stdout.

    A file on a store (``gs://...``) is written locally and uploaded as one object when complete.
    """

    def __init__(self, output: str, header: list[str]):
        self.header = header
        self.remote = output if output != "-" and object_storage.is_remote(output) else None
        self._staging = tempfile.TemporaryDirectory(prefix="tfclf-output-") if self.remote else None
        if self.remote:
            self.path = Path(self._staging.name) / urls.name(output)
        else:
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
        try:
            if ok:
                os.replace(self.tmp, self.path)
                if self.remote:
                    object_storage.publish_file(self.path, self.remote)
            else:
                self.tmp.unlink(missing_ok=True)
        finally:
            if self._staging is not None:
                self._staging.cleanup()


@dataclasses.dataclass(frozen=True)
class PredictSummary:
    rows: int
    seconds: float
    output: str
    undecodable_rows: int
    groups: Optional[int] = None  # --group-by: the groups written to --group-output
    blank_group_rows: int = 0  # --group-by: rows with a blank group cell, in no group


def predict_file(model, input: str, output: str, *, text_column: str = "text",
                 delimiter: Optional[str] = None, encoding: str = "utf-8", lines: bool = False,
                 batch_size: int = 64, top_k: int = 3, progress: bool = True,
                 header: Optional[bool] = None, column_names: Sequence[str] = (),
                 group_by: Optional[str] = None, group_output: Optional[str] = None) -> PredictSummary:
    """Streams ``input`` through ``model`` and writes one output row per input row.

    With ``group_by`` also one row per group into ``group_output``: the mean of the
    probabilities of the group's rows, decided as the model decides a row (see the
    module docstring).

    Args:
        model: a ``tfclf.serving.loaded.LoadedModel``, or a path for ``tfclf.load``.
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
        group_by: the column whose value names a row's group (a name of the input's
            columns, as ``text_column``); needs ``group_output``.
        group_output: the per-group file, of the formats of ``output`` (``-``: CSV on
            stdout, when ``output`` is a file); written when the input is done.

    Returns:
        A ``PredictSummary``.

    Raises:
        TfclfError: bad input (see ``tfclf.data.inputs.open_input``) or bad arguments,
            among them a ``group_by`` column the input lacks; nothing is written then.
    """
    inputs_read = [outputs.Input("--input", input)] + (
        [outputs.Input("--model", model, outputs_inside=True)] if isinstance(model, (str, os.PathLike)) else [])
    check_output(output, inputs_read)
    _check_group_flags(output, group_by, group_output, inputs_read)
    if batch_size < 1:
        raise TfclfError(f"--batch-size must be >= 1. Received: batch_size={batch_size}")
    if top_k < 0:
        raise TfclfError(f"--top-k must be >= 0. Received: top_k={top_k}")
    options = inputs.reading_options(text_column, delimiter, encoding, header, column_names)
    from tfclf.serving import loaded  # TensorFlow: after the arguments are checked

    if not isinstance(model, loaded.LoadedModel):
        model = loaded.load(model)
    start = time.monotonic()
    n = undecodable = 0
    bar = Progress(enabled=progress)
    with inputs.open_input(input, text_column=text_column, delimiter=options.delimiter, encoding=encoding,
                           lines=lines, header=header, column_names=options.column_names) as table:
        grouping = None if group_by is None else _Grouping(model, _group_index(table, group_by))
        header = output_header(table.columns, model.label_names, top_k, model.multi_label)
        writer = RowWriter(output, header)
        ok = False
        try:
            batch: list[list[str]] = []
            for row in table.rows:
                batch.append(row)
                if len(batch) == batch_size:
                    undecodable += _predict_batch(model, batch, table.text_index, top_k, writer, grouping)
                    n += len(batch)
                    batch = []
                    bar.update(n, table.progress())
            if batch:
                undecodable += _predict_batch(model, batch, table.text_index, top_k, writer, grouping)
                n += len(batch)
            if grouping is not None:
                grouping.write(group_output, table.columns[grouping.index], top_k)
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
    if grouping is None:
        return PredictSummary(rows=n, seconds=seconds, output=output, undecodable_rows=undecodable)
    if grouping.blank:
        logger.warning("--group-by %r: %d rows have a blank group cell; they are in %s but in no group.",
                       group_by, grouping.blank, output)
    logger.info("--group-by %r: %d groups -> %s", group_by, len(grouping.means), group_output)
    return PredictSummary(rows=n, seconds=seconds, output=output, undecodable_rows=undecodable,
                          groups=len(grouping.means), blank_group_rows=grouping.blank)


def _check_group_flags(output: str, group_by: Optional[str], group_output: Optional[str],
                       inputs_read: Sequence[outputs.Input]) -> None:
    """--group-by and --group-output come together; the group file is a new file, not --output."""
    if (group_by is None) != (group_output is None):
        raise TfclfError("--group-by COLUMN and --group-output FILE go together: the groups' predictions "
                         f"need a file of their own. Received: group_by={group_by!r}, group_output={group_output!r}")
    if group_output is None:
        return
    if not group_by.strip():
        raise TfclfError(f"--group-by must name a column of the input. Received: group_by={group_by!r}")
    if group_output == output or (group_output != "-" and output != "-"
                                  and Path(group_output).resolve() == Path(output).resolve()):
        raise TfclfError("--group-output must be another file than --output. "
                         f"Received: output={output!r}, group_output={group_output!r}")
    check_output(group_output, [*inputs_read, outputs.Input("--output", output)] if output != "-" else inputs_read,
                 flag="--group-output")


def _group_index(table: inputs.InputTable, group_by: str) -> int:
    """The position of the --group-by column; an error listing the columns found when missing."""
    if group_by not in table.columns:
        raise TfclfError(f"{table.where}: --group-by {group_by!r} is not a column of the input. "
                         f"Columns found: {table.columns}")
    return table.columns.index(group_by)


class _Grouping:
    """--group-by: per group, a running sum of its rows' probabilities (``GroupMeans``), and the
    count of rows with a blank group cell."""

    def __init__(self, model, index: int):
        self.model = model
        self.index = index
        self.means = GroupMeans(len(model.label_names))
        self.blank = 0
        self.thresholds = model.thresholds
        self._warned = False

    def add(self, batch: list[list[str]], outputs: dict[str, np.ndarray]) -> None:
        probabilities = outputs["probabilities"]
        keys = [row[self.index] for row in batch]
        kept = [i for i, key in enumerate(keys) if key.strip()]
        self.blank += len(keys) - len(kept)
        self.means.add([keys[i] for i in kept], probabilities[kept])
        if self.thresholds is not None and not self._warned:
            names = self.model.label_names
            served = [{s.decode() for s in labels if s} for labels in outputs["labels"]]
            decided = [{names[c] for c in np.flatnonzero(row)}
                       for row in thresholds_lib.predict(probabilities, self.thresholds)]
            if served != decided:
                self._warned = True
                logger.warning("The model's labels differ from its thresholds %s as read from its files; "
                               "--group-output decides groups with those thresholds.",
                               dict(zip(self.model.label_names, self.thresholds.tolist())))

    def write(self, path: str, column: str, top_k: int) -> None:
        """Writes one row per group: its id, n_rows and the prediction columns of its mean probabilities."""
        ids, counts, mean = self.means.result()
        names = self.model.label_names
        header = output_header([column, "n_rows"], names, top_k, self.model.multi_label)
        cells = prediction_cells(served_outputs(mean, names, self.thresholds), names, top_k, self.model.multi_label)
        writer = RowWriter(path, header)
        ok = False
        try:
            writer.write([[clean_cell(str(g)), str(int(c)), *pred] for g, c, pred in zip(ids, counts, cells)])
            ok = True
        finally:
            writer.close(ok)


def served_outputs(probabilities: np.ndarray, label_names: Sequence[str],
                   thresholds: Optional[np.ndarray] = None) -> dict[str, np.ndarray]:
    """What ``serving_default`` returns for rows of these probabilities (``prediction_cells``'s input).

    Single-label: ``label`` (the most probable, first of ties) and ``confidence``; multi-label
    (``thresholds`` given): ``labels``, the labels at or above their threshold, most probable
    first, padded with ``b""``.

    Args:
        probabilities: ``[G, C]`` float probabilities (here: means over groups).
        label_names: the C labels.
        thresholds: multi-label ``[C]`` thresholds; None for a single-label model.
    """
    p = np.asarray(probabilities, dtype=np.float32)
    names = np.asarray(list(label_names), dtype=object)
    if thresholds is None:
        best = p.argmax(axis=1) if len(p) else np.zeros(0, dtype=np.int64)
        return {"probabilities": p, "label": np.asarray([names[i].encode() for i in best], dtype=object),
                "confidence": p.max(axis=1) if len(p) else np.zeros(0, np.float32)}
    order = np.argsort(-p, axis=1, kind="stable")
    chosen = thresholds_lib.predict(p, thresholds)
    labels = np.empty((len(p), len(names)), dtype=object)
    for i in range(len(p)):
        labels[i] = [names[c].encode() if chosen[i, c] else b"" for c in order[i]]
    return {"probabilities": p, "labels": labels}


def _predict_batch(model, batch: list[list[str]], text_index: int, top_k: int, writer: RowWriter,
                   grouping: Optional[_Grouping] = None) -> int:
    outputs = model.outputs([row[text_index] for row in batch])
    cells = prediction_cells(outputs, model.label_names, top_k, model.multi_label)
    if grouping is not None:
        grouping.add(batch, outputs)
    undecodable = 0
    out = []
    for row, pred in zip(batch, cells):
        cleaned = [clean_cell(v) for v in row]
        undecodable += cleaned != row
        out.append(cleaned + pred)
    writer.write(out)
    return undecodable
