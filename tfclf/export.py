"""SavedModels that take raw strings: for ``tfclf.load`` and for TF Serving.

Usage::

    python -m tfclf.export RUN_DIR --export-dir serving/tickets [--version N] [--overwrite]
    python -m tfclf.export RUN_DIR --export-dir serving/tickets --format ids
    python -m tfclf.export --check serving/tickets/1          # parity in a fresh process
    python -m tfclf.export --list-ops serving/tickets/1       # every op; TF-Text ones marked
    python -m tfclf.export --saved-model-cli show --dir serving/tickets/1 --all

Signatures of every ``--format text`` SavedModel (the default, and ``RUN_DIR/saved_model``):

``serving_default(text)``
    text: ``[batch] tf.string``, raw UTF-8 texts. Invalid UTF-8 bytes are replaced
    by U+FFFD inside the graph, so no input makes the server fail.
    Returns, for a single-label model
      * ``probabilities``: ``[batch, C] float32``, softmax over the labels in
        ``assets/labels.txt`` order;
      * ``label``: ``[batch] tf.string``, the most probable label;
      * ``label_id``: ``[batch] int64``, its index;
      * ``confidence``: ``[batch] float32``, its probability;
    and for a multi-label model (the run's config has ``data.multi_label``, a
    ``label_separator`` or several ``label_column``)
      * ``probabilities``: ``[batch, C] float32``, one sigmoid per label;
      * ``labels``: ``[batch, C] tf.string``, the labels whose probability is at
        least their threshold, most probable first, padded with ``""``. The
        thresholds are the run's ``thresholds.json`` (``fit --threshold-strategy``),
        also copied into ``assets/``; ``--threshold`` replaces them with one value.

``embed(text)``
    text: ``[batch] tf.string``.
    Returns ``embedding``: ``[batch, H] float32``, the pooled sentence vector.

``--format ids`` exports take ``input_word_ids``, ``input_mask`` and
``input_type_ids`` (``[batch, seq] int32``, right-padded BERT inputs) instead of
``text``, return the same outputs, and hold no TF-Text op; ``assets/vocab.txt``
and ``assets/tokenizer.json`` say how to tokenise on the client.

Layout of ``--export-dir serving/<name>``::

    serving/<name>/models.config           example TF Serving config (written once)
    serving/<name>/<N>/saved_model.pb      version N, written to a temporary folder and renamed
    serving/<name>/<N>/assets/             labels.txt, config.yaml (the run's resolved config)
    serving/<name>/<N>/assets.extra/       tf_serving_warmup_requests, tfclf_export.json, metrics.json,
                                           MODEL_CARD.md (what the model is, how it scored, how to call it)

The ``text`` graph contains TF-Text ops (``CaseFoldUTF8``, ``WordpieceTokenizeWithOffsets``,
``TFText>RoundRobinTrim``, ...): import ``tensorflow_text`` before ``tf.saved_model.load``,
as ``tfclf.load`` does, and serve it with ``tensorflow/serving:2.20.0`` (see ``TF_SERVING_IMAGE``).
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from tfclf import cli, config as config_lib
from tfclf.config import ExportConfig


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfclf export", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="python -m tfclf.export --saved-model-cli ARGS... runs TensorFlow's saved_model_cli "
               "with the TF-Text ops registered.")
    parser.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="Run directory to export.")
    config_lib.add_dataclass_arguments(parser, ExportConfig)
    parser.add_argument("--check", nargs="?", const="", metavar="PATH",
                        help="Check an export (with RUN_DIR: the one just written) against the "
                             "in-memory model, in a fresh process.")
    parser.add_argument("--run", metavar="RUN_DIR",
                        help="For --check: the run to compare with (default: recorded in the export).")
    parser.add_argument("--list-ops", metavar="PATH", help="Print every op of an export; mark TF-Text ones.")
    return parser


def _saved_model_cli_main(args: Sequence[str]) -> None:
    import tensorflow_text  # noqa: F401  (registers the TF-Text ops saved_model_cli would miss)
    from tensorflow.python.tools import saved_model_cli as smcli

    sys.argv = ["saved_model_cli", *args]
    smcli.main()


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--saved-model-cli"]:
        _saved_model_cli_main(argv[1:])
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.run_dir is None and args.list_ops is None and not args.check:
        parser.error("give RUN_DIR --export-dir DIR, --check PATH or --list-ops PATH")
    failed = []

    def body() -> None:
        config = ExportConfig(**config_lib.given_arguments(args, ExportConfig))
        from tfclf.serving import check, tf_serving  # TensorFlow: after the flags are checked

        check_path = args.check or None
        if args.run_dir is not None:
            result = tf_serving.export_run(args.run_dir, config)
            sys.stdout.write(f"{result.path}\n")
            if args.check is not None:
                check_path = str(result.path)
        if args.list_ops:
            sources = tf_serving.list_ops(args.list_ops)
            sys.stdout.write(tf_serving.format_ops(sources) + "\n")
            if "unregistered" in sources.values():
                failed.append("ops")
        if check_path:
            report = check.check(check_path, run_dir=args.run)
            sys.stdout.write(report.format() + "\n")
            if not report.passed:
                failed.append("check")

    code = cli.run_main(body)
    return code or (1 if failed else 0)


if __name__ == "__main__":
    sys.exit(main())
