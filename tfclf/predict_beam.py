"""``python -m tfclf.predict_beam``: classify files of any size with an export, on Apache Beam (RunInference).

Examples::

    # on this machine, two worker processes
    python -m tfclf.predict_beam --model serving/tickets --input 'data/part-*.csv' --output out/preds \\
        --runner DirectRunner --direct_num_workers 2 --direct_running_mode multi_processing
    # on Dataflow (see README: Predicting at scale with Apache Beam)
    python -m tfclf.predict_beam --model gs://b/serving/tickets --input 'gs://b/texts/*.jsonl' \\
        --output gs://b/preds/run1 --output-format jsonl --runner DataflowRunner --project P \\
        --region europe-west1 --temp_location gs://b/tmp --requirements_file requirements-beam.txt

Needs the ``beam`` extra: ``pip install -r requirements-beam.txt`` (or ``tfclf[beam]``).

``--input`` (one or more files or glob patterns, local or ``gs://``): CSV/TSV (``.csv``,
``.tsv``, ``.txt`` ``;``, ``.psv`` ``|``) with a header naming ``--text-column``, JSON lines,
Parquet, or with ``--lines`` one text per line; ``.gz`` is decompressed. Files are read whole
by one worker each and their rows spread over every worker before the model runs.

``--output`` is a prefix: ``<output>-00000-of-00004.csv`` ... with the columns of
``python -m tfclf.predict`` (the input columns, ``input_``-prefixed on a clash, then ``label``,
``confidence``, ``top1_label``, ``top1_probability`` ...). Beside it:
``<output>-dead-letter-*.jsonl`` (rows that failed to parse: file, line, raw, reason),
``<output>-summary.json`` (rows read, predicted, dead-lettered) and, with ``--label-column``,
``<output>-metrics.json``, the metrics.json of ``python -m tfclf.evaluate``.

Every flag this command does not know goes to Beam's ``PipelineOptions``: ``--runner``
(DirectRunner, DataflowRunner, FlinkRunner, SparkRunner), ``--project``, ``--region``,
``--temp_location``, ``--direct_num_workers``, ``--requirements_file``, ``--sdk_container_image`` ...
"""
from __future__ import annotations

import argparse
import difflib
import importlib.util
import sys
from typing import Optional

from tfclf import cli
from tfclf.beam import OUTPUT_FORMATS
from tfclf.errors import TfclfError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfclf predict_beam", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, metavar="PATH",
                        help="TF Serving model folder (its highest version), version folder, SavedModel or run "
                             "directory; local or gs://.")
    parser.add_argument("--input", required=True, nargs="+", metavar="FILE|PATTERN",
                        help="Input files or glob patterns (quote them), local or gs://.")
    parser.add_argument("--output", required=True, metavar="PREFIX",
                        help="Prefix of the output shards: PREFIX-00000-of-0000N.<format>.")
    parser.add_argument("--output-format", default="csv", metavar="FORMAT",
                        help=f"One of {list(OUTPUT_FORMATS)} (default: csv). All values are strings.")
    parser.add_argument("--text-column", default="text", help="Column holding the text (default: text).")
    parser.add_argument("--label-column", default=None,
                        help="Column of true labels: also write PREFIX-metrics.json, the metrics of "
                             "python -m tfclf.evaluate (single-label models). Default: none.")
    parser.add_argument("--delimiter", help="Input field delimiter (one character, or 'tab'); default by "
                                            "extension (.csv ',', .tsv tab, .txt ';', .psv '|').")
    parser.add_argument("--encoding", default="utf-8", help="Input text encoding (default: utf-8).")
    parser.add_argument("--lines", action="store_true", help="Read every input file as one text per line.")
    parser.add_argument("--top-k", type=int, default=3, help="(label, probability) pairs per row (default: 3).")
    parser.add_argument("--num-shards", type=int, default=0,
                        help="Prediction shards to write (default: 0, the runner decides).")
    parser.add_argument("--min-batch-size", type=int, default=None,
                        help="Fewest texts per model call (RunInference's batching; default: Beam's).")
    parser.add_argument("--max-batch-size", type=int, default=None,
                        help="Most texts per model call (default: Beam's, 1024 at most).")
    parser.add_argument("--dead-letter", metavar="PREFIX", default=None,
                        help="Prefix of the dead-letter shards (default: OUTPUT-dead-letter).")
    parser.add_argument("--summary", metavar="FILE", default=None,
                        help="Summary JSON: counts and paths (default: OUTPUT-summary.json).")
    parser.add_argument("--metrics", metavar="FILE", default=None,
                        help="With --label-column: metrics JSON (default: OUTPUT-metrics.json).")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args, pipeline_args = parser.parse_known_args(argv)

    def body() -> None:
        own = [option for action in parser._actions for option in action.option_strings]
        for flag in (a.split("=", 1)[0] for a in pipeline_args if a.startswith("--")):
            close = difflib.get_close_matches(flag, own, n=1, cutoff=0.85)
            if close:  # a misspelt tfclf flag would otherwise reach Beam, which ignores what it does not know
                raise TfclfError(f"{flag} is not a flag of tfclf predict_beam; did you mean {close[0]}? Flags it "
                                 f"does not know go to Beam's pipeline options. Received: {flag}")
        if importlib.util.find_spec("apache_beam") is None:
            raise TfclfError("python -m tfclf.predict_beam needs Apache Beam: pip install -r requirements-beam.txt "
                             "(or pip install 'tfclf[beam]'). See README: Predicting at scale with Apache Beam.")
        from tfclf.beam import pipeline  # Beam and TensorFlow: after the flags are checked

        summary = pipeline.predict_files(
            args.model, args.input, args.output, output_format=args.output_format, text_column=args.text_column,
            delimiter=args.delimiter, encoding=args.encoding, lines=args.lines, top_k=args.top_k,
            label_column=args.label_column, num_shards=args.num_shards, min_batch_size=args.min_batch_size,
            max_batch_size=args.max_batch_size, dead_letter=args.dead_letter, summary=args.summary,
            metrics=args.metrics, pipeline_args=pipeline.default_pipeline_args(pipeline_args))
        sys.stdout.write(f"Predictions: {summary.outputs['predictions']}\nSummary: {summary.outputs['summary']}\n")

    return cli.run_main(body)


if __name__ == "__main__":
    sys.exit(main())
