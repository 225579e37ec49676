"""``python -m tfclf.evaluate``: re-evaluates a saved run on a labelled file.

Usage::

    python -m tfclf.evaluate --model runs/demo --test new_tickets.csv [--output-dir DIR] [--bootstrap 1000]

The file is read like the run read its data (columns, delimiter, encoding,
cleaning, label map from the run's config.yaml); data flags such as
``--text-column`` or ``--delimiter`` override them. The evaluation directory holds
metrics.json, the plots and report.md, as a training run does (``tfclf.evaluation``).
A multi-label run reads label sets as it was trained to (``--label-separator``,
several ``--label-column``, ``--label-axes``) and is scored at the per-label
thresholds of its ``thresholds.json``, the ones its export applies. ``--bootstrap N``
adds confidence intervals, drawn with the run's ``--seed``. ``--eval-group-by COLUMN``
(default: the run's) adds metrics.json's ``group_level``: the file's rows grouped by
COLUMN (an account, a user), each group's mean probabilities scored against its one
label; the file must have the column (``--eval-group-by none``: examples only).
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional

from tfclf import cli, config as config_lib, evaluation
from tfclf.errors import TfclfError

# Data flags that only matter when splitting or streaming training data: not shown in --help.
_HIDDEN_DATA_FIELDS = evaluation.RUN_ONLY_DATA_FIELDS[:3] + (
    "limit_train", "split", "stratify", "dedupe", "group_column", "class_weight", "stream",
    "stream_threshold_mb", "shuffle_buffer", "length_sample", "max_labels", "min_class_examples",
    "eval_split")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfclf evaluate",
                                     description=f"{__doc__}\n{evaluation.__doc__}",  # usage, then the schema
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, metavar="RUN_DIR", help="A tfclf run directory.")
    parser.add_argument("--batch-size", type=int, default=None, metavar="N",
                        help="Prediction batch size (default: the run's --batch-size).")
    parser.add_argument("--output-dir", default=None, metavar="DIR",
                        help="Where to write (default: RUN_DIR/eval-<file stem>).")
    parser.add_argument("--overwrite", action="store_true", help="Replace an existing --output-dir.")
    parser.add_argument("--bootstrap", type=int, default=None, metavar="N",
                        help="Resamples of the file for 95%% bootstrap confidence intervals of accuracy, "
                             "macro-F1 and MCC (multi-label: micro- and macro-F1, subset accuracy and MCC), "
                             "as fit's --bootstrap: 0 (off) or at least 100, e.g. 1000; drawn with the run's "
                             "--seed (default: the run's --bootstrap).")
    # The data flags of fit; those not given take the run's values from its config.yaml.
    config_lib.add_arguments(parser, sections=("data",))
    for action in parser._actions:  # hide the flags that choose or split training files
        if action.dest == "data.test":
            action.help = "Labelled file or class-folder directory to evaluate on (required)."
            action.metavar = "FILE"
        elif action.dest == "config" or action.dest.removeprefix("data.") in _HIDDEN_DATA_FIELDS:
            action.help = argparse.SUPPRESS
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> None:
        flags = config_lib.given_arguments(args, config_lib.DataConfig, dest_prefix="data.")
        test = flags.pop("test", None)
        if not test:
            raise TfclfError("--test is required: the labelled file or folder to evaluate on.")
        misplaced = (["config"] if args.config else []) + [k for k in evaluation.RUN_ONLY_DATA_FIELDS
                                                           if flags.get(k)]
        if misplaced:
            raise TfclfError(f"python -m tfclf.evaluate reads one file, given with --test; "
                             f"--{misplaced[0].replace('_', '-')} is not used. Received: {misplaced}")
        # The data flags, typed as fit's are, over the run's saved data section.
        data_config = evaluation.run_data_config(args.model, overrides=flags)
        out, metrics = evaluation.evaluate_run(args.model, test, data_config=data_config,
                                               output_dir=args.output_dir, batch_size=args.batch_size,
                                               overwrite=args.overwrite, bootstrap=args.bootstrap)
        sys.stdout.write(evaluation.format_table(metrics, metrics["split"]) + "\n")
        sys.stdout.write(f"Evaluation directory: {out}\n")

    return cli.run_main(body)


if __name__ == "__main__":
    sys.exit(main())
