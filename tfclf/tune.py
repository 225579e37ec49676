"""``python -m tfclf.tune``: search the fine-tuning recipe with Keras Tuner; resumable, distributable.

It takes every flag of ``python -m tfclf.fit`` (the base configuration of each trial;
with no data flags, the bundled sample) plus the search settings below. The search
space is the experiment YAML's ``search:`` section (see experiments/tune_sample.yaml).
Re-running the same command resumes the search.

Examples::

    python -m tfclf.tune --config experiments/tune_sample.yaml --max-trials 3
    python -m tfclf.tune --config experiments/NAME.yaml --tuner hyperband --max-epochs 9 --refit
    # one search on several machines: one chief, any number of workers
    python -m tfclf.tune --config experiments/NAME.yaml --role chief --oracle 10.0.0.5:8000
    python -m tfclf.tune --config experiments/NAME.yaml --role worker --oracle 10.0.0.5:8000
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional

from tfclf import cli, config as config_lib
from tfclf.data import filesystem  # TensorFlow only when a --config is on a store
from tfclf.tuning import config as tuning_config, results


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfclf tune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    config_lib.add_arguments(parser)
    tuning_config.add_tune_arguments(parser)
    for action in parser._actions:  # the run flags mean the search's folder here
        if action.dest == "train.output_dir":
            action.help = ("The search's folder; default tuning/<YAML name>, else tuning/<encoder>. "
                           "Re-running with the same folder resumes the search.")
        elif action.dest == "train.overwrite":
            action.help = "Discard the search already in --output-dir and start over."
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> None:
        base = config_lib.from_args(args, read=filesystem.read_bytes)
        tune, space = tuning_config.tune_from_args(args, base, read=filesystem.read_bytes)
        from tfclf.tuning import tuner  # imports TensorFlow and Keras Tuner: after the input is checked

        # Each trial is a full run; its own config.yaml records what training.fit would log.
        logging.getLogger("tfclf.training").setLevel(logging.WARNING)
        result = tuner.search(base, tune, space, config_path=args.config, fit_verbose=2)
        if tune.role is tuning_config.Role.WORKER:
            return
        sys.stdout.write("\n" + (result.output_dir / results.SUMMARY_MD).read_text())
        where = result.published or str(result.output_dir)  # a store: the published search
        sys.stdout.write(f"\nSearch directory: {where}\n")
        if result.refit is not None or (tune.refit and (result.output_dir / results.BEST_DIR).is_dir()):
            sys.stdout.write(f"Refit run directory: {where.rstrip('/')}/{results.BEST_DIR}\n")

    return cli.run_main(body)


if __name__ == "__main__":
    sys.exit(main())
