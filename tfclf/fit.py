"""``python -m tfclf.fit``: train a classifier; with no arguments, MiniLM on the bundled sample.

Examples::

    python -m tfclf.fit
    python -m tfclf.fit --encoder labse --data tickets.csv --text-column body --label-column queue
    python -m tfclf.fit --config experiments/emotion_minilm.yaml --epochs 1
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional

import tfclf
from tfclf import cli, config as config_lib, outputs
from tfclf.data import filesystem  # TensorFlow only when a --config is on a store
from tfclf.outputs import OutputKind


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfclf fit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    config_lib.add_arguments(parser)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> None:
        config = config_lib.from_args(args, read=filesystem.read_bytes)
        if config.train.output_dir:  # training.fit checks again; the default folder is always new
            outputs.check_dir(config.train.output_dir, OutputKind.RUN, flag="--output-dir",
                              overwrite=config.train.overwrite,
                              inputs=[outputs.Input(flag, path) for flag, path in config.input_paths()])
        from tfclf import evaluation, training  # imports TensorFlow: after the input is checked

        run = training.fit(config, verbose=1)
        sys.stdout.write(evaluation.format_table(run.metrics, run.eval_split) + "\n")
        sys.stdout.write(f"Run directory: {run.output_dir}\n")

    return cli.run_main(body)


# `import tfclf.fit` makes the package's `fit` this module, so the module is the API call
# tfclf.fit(config) -> Run too (see tfclf._FitModule).
sys.modules[__name__].__class__ = tfclf._FitModule

if __name__ == "__main__":
    sys.exit(main())
