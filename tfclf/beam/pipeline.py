"""Batch prediction (and evaluation) of input files at scale: an Apache Beam pipeline over RunInference.

``predict_files`` builds and runs, on any Beam runner (DirectRunner, DataflowRunner,
FlinkRunner, SparkRunner: the pipeline options it is given), this pipeline:

1. ``Create(files)`` -> ``ReadRows`` (``tfclf.beam.rows``): rows ``(where, cells)``, and
   dead letters for rows that do not parse;
2. ``Reshuffle``: the rows of one large file spread over every worker;
3. ``RunInference(KeyedModelHandler(TfclfModelHandler))`` (``tfclf.beam.handler``): the
   export's ``serving_default`` on batches of raw texts that Beam forms;
4. the output rows: the input columns (``input_``-prefixed on a clash), then ``label``,
   ``confidence``, ``top1_label``, ``top1_probability`` ... (multi-label: ``labels``,
   ``n_labels``, ``probability_<label>``), exactly the columns and cells of ``python -m
   tfclf.predict`` (``tfclf.prediction.output_header`` and ``prediction_cells``), written as
   shards ``<output>-SSSSS-of-NNNNN.<csv|tsv|jsonl|parquet>`` (all values strings);
5. with ``label_column``: each labelled row's (label id, probabilities) ->
   ``CombineGlobally`` of ``SufficientStatistics`` (a confusion matrix, calibration bins,
   score histograms; ``tfclf.beam.sufficient_statistics``) -> ``metrics.json``, the payload of
   ``python -m tfclf.evaluate``.

Outputs besides the predictions, all beside ``output`` by default:

* ``<output>-dead-letter-SSSSS-of-NNNNN.jsonl``: one JSON object per row that failed to
  parse, ``{"file", "line", "raw", "reason"}`` (``line`` 0: the whole file, e.g. without
  the text column); the pipeline goes on without them;
* ``<output>-summary.json``: the counts (Beam counters of namespace ``tfclf``:
  ``files_read``, ``files_dead_lettered``, ``rows_read``, ``rows_predicted``,
  ``rows_dead_lettered``, ``rows_not_scored``), the paths and the seconds; written when
  the pipeline has finished, atomically (a temporary file renamed; one object upload on a store);
* ``<output>-metrics.json`` (with ``label_column``): rows whose label is blank or unknown
  to the model are predicted and written but not scored; they are counted in
  ``rows_not_scored`` and, when there are any, in metrics.json's ``not_scored``
  (``{"rows", "labels": {label: rows}}``, the 100 most frequent).
"""
from __future__ import annotations

import argparse
import collections
import csv
import dataclasses
import io
import json
import logging
import time
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.runner import PipelineState

from tfclf import object_storage, prediction, urls
from tfclf.beam import OUTPUT_FORMATS
from tfclf.beam import rows as rows_lib
from tfclf.beam.handler import TfclfModelHandler
from tfclf.beam.sufficient_statistics import EXACT_LIMIT, SufficientStatistics
from tfclf.errors import TfclfError

logger = logging.getLogger(__name__)

COUNTERS = ("files_read", "files_dead_lettered", "rows_read", "rows_predicted", "rows_dead_lettered",
            "rows_not_scored")
_FLUSH_ROWS = 1024  # labelled rows buffered per accumulator before they are added as one batch
_NOT_SCORED_LABELS = 100


@dataclasses.dataclass(frozen=True)
class BeamSummary:
    """What a pipeline run did: the summary JSON's content.

    Attributes:
        counters: ``{name: count}`` of ``COUNTERS``.
        outputs: ``{"predictions", "dead_letter", "summary"[, "metrics"]}``: the shard patterns
            and files written.
        seconds: wall time of the run (building, running and waiting).
        runner: the Beam runner.
        metrics: the metrics.json payload read back (with ``label_column``; None otherwise or
            when nothing was scored).
    """

    counters: dict[str, int]
    outputs: dict[str, str]
    seconds: float
    runner: str
    metrics: Optional[dict[str, Any]] = None


def predict_files(model: str, inputs: Sequence[str], output: str, *, output_format: str = "csv",
                  text_column: str = "text", delimiter: Optional[str] = None, encoding: str = "utf-8",
                  lines: bool = False, top_k: int = 3, label_column: Optional[str] = None,
                  num_shards: int = 0, min_batch_size: Optional[int] = None, max_batch_size: Optional[int] = None,
                  dead_letter: Optional[str] = None, summary: Optional[str] = None, metrics: Optional[str] = None,
                  exact_limit: int = EXACT_LIMIT, pipeline_args: Sequence[str] = ()) -> BeamSummary:
    """Predicts every row of ``inputs`` with the export ``model`` on a Beam runner; see the module docstring.

    Example::

        summary = predict_files("serving/tickets", ["data/part-*.csv"], "out/preds",
                                pipeline_args=["--runner", "DirectRunner", "--direct_num_workers", "2"])
        summary.counters["rows_predicted"]

    Args:
        model: a TF Serving model folder (its highest version), a version folder, a SavedModel or
            a run directory (``tfclf.serving.loaded.resolve_model_path``); local or on a store.
        inputs: files or glob patterns (local or ``gs://``), in the formats of ``tfclf.beam.rows``.
        output: the prefix of the prediction shards.
        output_format: one of ``OUTPUT_FORMATS``.
        text_column, delimiter, encoding, lines, top_k: as ``python -m tfclf.predict``'s.
        label_column: the column of true labels: also writes ``metrics``.
        num_shards: prediction shards (0: the runner decides).
        min_batch_size, max_batch_size: texts per model call (Beam's batching; None: Beam's defaults).
        dead_letter: the prefix of the dead-letter shards (default ``<output>-dead-letter``).
        summary: the summary file (default ``<output>-summary.json``).
        metrics: the metrics file (default ``<output>-metrics.json``).
        exact_limit: scored rows up to which metrics.json is exactly ``tfclf.evaluate``'s
            (``SufficientStatistics``).
        pipeline_args: Beam's pipeline options (``--runner``, ``--project``, ...).

    Returns:
        A ``BeamSummary``.

    Raises:
        TfclfError: bad arguments, no matching input, a file without ``text_column`` or
            ``label_column``, a model that is not a tfclf export of raw strings, or a
            pipeline that failed; checked before the pipeline starts where possible.
    """
    from tfclf.serving import loaded  # TensorFlow: after the arguments are checked

    _check_arguments(output, output_format, top_k, num_shards, min_batch_size, max_batch_size)
    files = rows_lib.list_files(inputs)
    reading = rows_lib.sniff_columns(files[0], text_column=text_column, delimiter=delimiter, encoding=encoding,
                                     lines=lines)
    resolved = str(loaded.resolve_model_path(model))
    served = loaded.load(model)
    if served.input_names != ["text"]:
        raise TfclfError(f"--model {model!r} is an --format ids export (inputs {served.input_names}); "
                         "predict_beam feeds raw texts: pass a --format text export.")
    names = list(served.label_names)
    label_index = _label_index(reading, label_column, served.multi_label, files[0])
    multi_label = served.multi_label
    header = prediction.output_header(reading.columns, names, top_k, multi_label)
    del served  # the launcher needed only its labels and signature
    paths = {"predictions": f"{output}-*-of-*.{output_format}",
             "dead_letter": f"{dead_letter or output + '-dead-letter'}-*-of-*.jsonl",
             "summary": summary or f"{output}-summary.json"}
    if label_column:
        paths["metrics"] = metrics or f"{output}-metrics.json"
    for path in paths.values():
        if not urls.is_remote(path):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    options = _pipeline_options(pipeline_args)
    runner = options.view_as(StandardOptions).runner or "DirectRunner"
    logger.info("Predicting %d file(s) (%s, columns %s) with %s on %s -> %s", len(files), inputs,
                list(reading.columns), resolved, runner, paths["predictions"])
    start = time.monotonic()
    pipeline = beam.Pipeline(options=options)
    handler = TfclfModelHandler(resolved, names, top_k, multi_label, min_batch_size=min_batch_size,
                                max_batch_size=max_batch_size)
    read = (pipeline | "Files" >> beam.Create(files)
            | "ReadRows" >> beam.ParDo(rows_lib.ReadRows(reading)).with_outputs(rows_lib.DEAD_LETTER, main="rows"))
    predicted = (read.rows
                 | "Spread" >> beam.Reshuffle()
                 | "Key" >> beam.Map(lambda row, i: (row, row[1][i]), reading.text_index)
                 | "RunInference" >> RunInference(KeyedModelHandler(handler)))
    out_rows = predicted | "OutputRows" >> beam.ParDo(_OutputRow())
    _write_rows(out_rows, output, output_format, header, num_shards)
    (read[rows_lib.DEAD_LETTER] | "DeadLetterJson" >> beam.Map(rows_lib.dumps)
     | "WriteDeadLetter" >> beam.io.WriteToText(dead_letter or f"{output}-dead-letter", file_name_suffix=".jsonl"))
    if label_column:
        extra = {"split": "test", "model": str(model), "data": list(inputs)}
        (predicted
         | "Labelled" >> beam.ParDo(_Labelled(names, label_index))
         | "Statistics" >> beam.CombineGlobally(_StatisticsCombineFn(names, exact_limit))
         | "WriteMetrics" >> beam.Map(_write_metrics, paths["metrics"], extra))
    result = pipeline.run()
    state = result.wait_until_finish()
    if state not in (None, PipelineState.DONE):
        raise TfclfError(f"The Beam pipeline on {runner} ended in state {state}; see the runner's logs.")
    counters = _counters(result)
    seconds = time.monotonic() - start
    written = _read_metrics(paths.get("metrics"))
    done = BeamSummary(counters=counters, outputs=paths, seconds=seconds, runner=runner, metrics=written)
    object_storage.write_text(paths["summary"], json.dumps(
        {"model": str(model), "saved_model": resolved, "inputs": list(inputs), "files": len(files),
         "columns": list(header), "counters": counters, "outputs": paths, "runner": runner,
         "seconds": round(seconds, 3)}, indent=2) + "\n")
    logger.info("Predicted %d rows (%d dead-lettered, %d files unreadable) in %.1fs -> %s; summary %s",
                counters["rows_predicted"], counters["rows_dead_lettered"], counters["files_dead_lettered"],
                seconds, paths["predictions"], paths["summary"])
    if counters["rows_dead_lettered"] or counters["files_dead_lettered"]:
        logger.warning("%d rows and %d files could not be read; see %s.", counters["rows_dead_lettered"],
                       counters["files_dead_lettered"], paths["dead_letter"])
    return done


def _pipeline_options(pipeline_args: Sequence[str]) -> PipelineOptions:
    """Beam's options; flags that no Beam option class imported here knows are passed on with a warning
    (a runner, e.g. Flink's, may define its own; a typo of a tfclf flag lands here too)."""
    parser = argparse.ArgumentParser(allow_abbrev=False, add_help=False)
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(parser)
    unknown = [a.split("=", 1)[0] for a in parser.parse_known_args(list(pipeline_args))[1] if a.startswith("-")]
    if unknown:
        logger.warning("Passed to Beam, but no Beam pipeline option of this installation: %s. Check the "
                       "spelling (tfclf's flags: python -m tfclf.predict_beam --help).", unknown)
    return PipelineOptions(list(pipeline_args))


def _check_arguments(output: str, output_format: str, top_k: int, num_shards: int,
                     min_batch_size: Optional[int], max_batch_size: Optional[int]) -> None:
    if output_format not in OUTPUT_FORMATS:
        raise TfclfError(f"--output-format must be one of {list(OUTPUT_FORMATS)}. "
                         f"Received: output_format={output_format!r}")
    if not output or output.endswith("/") or (not urls.is_remote(output) and Path(output).is_dir()):
        raise TfclfError(f"--output is the prefix of the output shards, not a folder, e.g. 'out/predictions' "
                         f"(writes out/predictions-00000-of-00004.csv ...). Received: output={output!r}")
    if top_k < 0:
        raise TfclfError(f"--top-k must be >= 0. Received: top_k={top_k}")
    if num_shards < 0:
        raise TfclfError(f"--num-shards must be >= 0 (0: the runner decides). Received: num_shards={num_shards}")
    for flag, value in (("--min-batch-size", min_batch_size), ("--max-batch-size", max_batch_size)):
        if value is not None and value < 1:
            raise TfclfError(f"{flag} must be >= 1. Received: {flag.lstrip('-').replace('-', '_')}={value}")
    if min_batch_size and max_batch_size and min_batch_size > max_batch_size:
        raise TfclfError("--min-batch-size must be <= --max-batch-size. "
                         f"Received: min_batch_size={min_batch_size}, max_batch_size={max_batch_size}")


def _label_index(reading: rows_lib.Reading, label_column: Optional[str], multi_label: bool,
                 first: str) -> Optional[int]:
    if label_column is None:
        return None
    if multi_label:
        raise TfclfError("--label-column evaluates single-label models only; this export is multi-label "
                         f"(evaluate it with python -m tfclf.evaluate). Received: label_column={label_column!r}")
    if label_column not in reading.columns:
        raise TfclfError(f"--label-column must be one of the input's columns {list(reading.columns)} "
                         f"(read from {first}). Received: label_column={label_column!r}")
    return reading.columns.index(label_column)


class _OutputRow(beam.DoFn):
    """``((where, cells), PredictionResult)`` -> the output row: the input cells, then the prediction's."""

    def __init__(self):
        self.predicted = Metrics.counter(rows_lib.METRICS_NAMESPACE, "rows_predicted")

    def process(self, item) -> Iterator[list[str]]:
        (_, cells), result = item
        self.predicted.inc()
        yield [prediction.clean_cell(v) for v in cells] + list(result.inference[0])


def _write_rows(rows: beam.PCollection, output: str, output_format: str, header: list[str], num_shards: int) -> None:
    """The output shards: CSV/TSV with the header in each shard, JSON lines, or Parquet (strings)."""
    if output_format == "parquet":
        import pyarrow as pa

        schema = pa.schema([(name, pa.string()) for name in header])
        (rows | "ParquetRecords" >> beam.Map(lambda r: dict(zip(header, r)))
         | "WriteParquet" >> beam.io.WriteToParquet(output, schema, file_name_suffix=".parquet",
                                                     num_shards=num_shards))
        return
    if output_format == "jsonl":
        encoded = rows | "JsonLines" >> beam.Map(lambda r: json.dumps(dict(zip(header, r)), ensure_ascii=False))
        head = None
    else:
        delimiter = "\t" if output_format == "tsv" else ","
        encoded = rows | "CsvLines" >> beam.Map(_csv_line, delimiter)
        head = _csv_line(header, delimiter)
    encoded | "WriteRows" >> beam.io.WriteToText(output, file_name_suffix=f".{output_format}",
                                                 num_shards=num_shards, header=head)


def _csv_line(cells: Sequence[str], delimiter: str) -> str:
    """One CSV record without its line end (WriteToText adds it); quoted fields keep their newlines."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerow(cells)
    return buffer.getvalue()[:-1]


class _Labelled(beam.DoFn):
    """``((where, cells), PredictionResult)`` -> ``(label id, probabilities)``; a blank or unknown
    label -> ``(None, label)``, counted in ``rows_not_scored``."""

    def __init__(self, label_names: Sequence[str], label_index: int):
        self.ids = {name: i for i, name in enumerate(label_names)}
        self.label_index = label_index
        self.not_scored = Metrics.counter(rows_lib.METRICS_NAMESPACE, "rows_not_scored")

    def process(self, item) -> Iterator[tuple]:
        (_, cells), result = item
        label = cells[self.label_index].strip()
        label_id = self.ids.get(label)
        if label_id is None:
            self.not_scored.inc()
            yield None, label
        else:
            yield label_id, result.inference[1]


class _Scored:
    """The combiner's accumulator: the statistics, labelled rows not yet added, and unscored labels."""

    def __init__(self, n_classes: int, exact_limit: int):
        self.statistics = SufficientStatistics(n_classes, exact_limit=exact_limit)
        self.pending: list[tuple[int, np.ndarray]] = []
        self.not_scored_rows = 0
        self.not_scored: collections.Counter = collections.Counter()  # the most frequent labels

    def flush(self) -> "_Scored":
        if self.pending:
            ids, probabilities = zip(*self.pending)
            self.statistics.add(np.asarray(ids, np.int64), np.stack(probabilities))
            self.pending = []
        return self


class _StatisticsCombineFn(beam.CombineFn):
    """``(label id, probabilities)`` of every labelled row (``(None, label)``: not scored) -> one ``_Scored``."""

    def __init__(self, label_names: Sequence[str], exact_limit: int):
        self.label_names = list(label_names)
        self.exact_limit = exact_limit

    def create_accumulator(self) -> _Scored:
        return _Scored(len(self.label_names), self.exact_limit)

    def add_input(self, accumulator: _Scored, element) -> _Scored:
        label_id, value = element
        if label_id is None:
            accumulator.not_scored_rows += 1
            accumulator.not_scored[value] += 1
            return accumulator
        accumulator.pending.append((label_id, value))
        return accumulator.flush() if len(accumulator.pending) >= _FLUSH_ROWS else accumulator

    def merge_accumulators(self, accumulators) -> _Scored:
        merged = self.create_accumulator()
        for acc in accumulators:
            merged.statistics.merge(acc.flush().statistics)
            merged.not_scored_rows += acc.not_scored_rows
            merged.not_scored.update(acc.not_scored)
        merged.not_scored = collections.Counter(dict(merged.not_scored.most_common(_NOT_SCORED_LABELS)))
        return merged

    def compact(self, accumulator: _Scored) -> _Scored:
        return accumulator.flush()

    def extract_output(self, accumulator: _Scored) -> tuple[Optional[dict[str, Any]], dict[str, Any]]:
        accumulator.flush()
        not_scored = ({"rows": accumulator.not_scored_rows,
                       "labels": dict(accumulator.not_scored.most_common(_NOT_SCORED_LABELS))}
                      if accumulator.not_scored_rows else {})
        if not accumulator.statistics.n_examples:
            return None, not_scored
        return accumulator.statistics.metrics(self.label_names), not_scored


def _write_metrics(scored: tuple[Optional[dict[str, Any]], dict[str, Any]], path: str, extra: dict[str, Any]) -> None:
    metrics, not_scored = scored
    if metrics is None:
        logger.error("--label-column: no row had a label the model knows (%s); %s is not written.",
                     not_scored or "no labelled rows", path)
        return
    if not_scored:
        metrics["not_scored"] = not_scored
    metrics["split"] = extra["split"]
    metrics.update({k: v for k, v in extra.items() if k != "split"})
    object_storage.write_text(path, json.dumps(metrics, indent=2, sort_keys=False) + "\n")


def _read_metrics(path: Optional[str]) -> Optional[dict[str, Any]]:
    if path is None:
        return None
    from tfclf.data import filesystem

    p = filesystem.path(path)
    return json.loads(p.read_bytes().decode("utf-8")) if p.exists() else None


def _counters(result) -> dict[str, int]:
    """The ``tfclf`` Beam counters of a finished pipeline (committed values where the runner has them)."""
    found = {name: 0 for name in COUNTERS}
    for counter in result.metrics().query(MetricsFilter().with_namespace(rows_lib.METRICS_NAMESPACE))["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        found[counter.key.metric.name] = found.get(counter.key.metric.name, 0) + int(value or 0)
    return found


def default_pipeline_args(pipeline_args: Sequence[str]) -> list[str]:
    """``pipeline_args`` with ``--runner DirectRunner`` when no runner is named (Beam's default too)."""
    args = list(pipeline_args)
    if not any(a == "--runner" or a.startswith("--runner=") for a in args):
        args += ["--runner", "DirectRunner"]
    return args


__all__ = ["BeamSummary", "COUNTERS", "OUTPUT_FORMATS", "default_pipeline_args", "predict_files"]
