"""``python -m tfclf.data``: read, split and check data with the flags ``fit`` takes; report it.

Prints rows per split x label, dropped rows per reason, duplicates and leakage, and
text lengths in tokens of ``--encoder`` with the truncation rate at ``--seq-length``;
with ``--report-dir DIR`` also writes ``DIR/data_report.json`` (the file ``fit``
writes into its run directory). Bad input exits with status 2 and one message
naming the file and line or column; nothing is written then.

Examples::

    python -m tfclf.data --data ../shared/datasets/emotion --report-dir reports/emotion
    python -m tfclf.data --data tweets.csv --encoding latin-1 --text-column description,text \\
        --label-column gender --label-map unknown=drop --group-column name --report-dir out
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Optional

from tfclf import cli, config as config_lib, object_storage, outputs, urls
from tfclf.data import filesystem  # TensorFlow only when a --config is on a store
from tfclf.outputs import OutputKind


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfclf data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    config_lib.add_arguments(parser, sections=("data",))
    group = parser.add_argument_group("encoder (for lengths in tokens) and seed, as in fit")
    model_fields = {f.name: f for f in dataclasses.fields(config_lib.ModelConfig)}
    for name, metavar in (("encoder", "NAME"), ("preprocessor", "HANDLE"), ("seq_length", "N"),
                          ("head_tokens", "N"), ("chunk_stride", "N"), ("max_chunks", "N")):
        group.add_argument("--" + name.replace("_", "-"), dest=f"model.{name}", default=argparse.SUPPRESS,
                           metavar=metavar, help=model_fields[name].metadata["help"])
    group.add_argument("--seed", dest="train.seed", default=argparse.SUPPRESS, metavar="N",
                       help="Seed for splits and samples (default: 42).")
    parser.add_argument("--report-dir", metavar="DIR",
                        help="Write DIR/data_report.json (the folder is created when the report is complete; "
                             "a report folder tfclf wrote earlier is replaced, any other folder refused).")
    parser.add_argument("--token-lengths", action=argparse.BooleanOptionalAction, default=True,
                        help="Measure lengths in tokens with --encoder's preprocessor (default: on).")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> None:
        from tfclf.data import prepare, report

        config = config_lib.from_args(args, read=filesystem.read_bytes)
        if args.report_dir:  # before reading anything; an earlier report there is replaced
            object_storage.check_dir(args.report_dir, OutputKind.DATA_REPORT, flag="--report-dir", overwrite=True,
                                     inputs=[outputs.Input(flag, path) for flag, path in config.input_paths()])
        prepared = prepare(config.data, config.train.seed)
        preprocess = None
        if args.token_lengths:
            from tfclf import encoders
            from tfclf.long_text import LongTextSpec
            from tfclf.preprocessing import TextPreprocessor

            resolved = encoders.resolve(config.model.encoder, config.model.preprocessor,
                                        seq_length=config.model.seq_length, pooling=config.model.pooling)
            preprocess = TextPreprocessor(resolved.preprocessor_path, resolved.seq_length,
                                          LongTextSpec.from_config(config.model, resolved.seq_length))
        if args.report_dir:
            with object_storage.directory(args.report_dir, OutputKind.DATA_REPORT, flag="--report-dir",
                                          overwrite=True, checked=True) as staged:
                prepared.write_report(staged / "data_report.json", preprocess)
            path = (urls.join(args.report_dir, "data_report.json") if urls.is_remote(args.report_dir)
                    else Path(args.report_dir) / "data_report.json")
        else:
            prepared.measure_lengths(preprocess)
        sys.stdout.write(report.format_summary(prepared.report) + "\n")
        if args.report_dir:
            sys.stdout.write(f"Report: {path}\n")

    return cli.run_main(body)


if __name__ == "__main__":
    sys.exit(main())
