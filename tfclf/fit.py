"""``python -m tfclf.fit``: train a classifier; with no arguments, MiniLM on the bundled sample.

Examples::

    python -m tfclf.fit
    python -m tfclf.fit --encoder labse --data tickets.csv --text-column body --label-column queue
    python -m tfclf.fit --config experiments/emotion_minilm.yaml --epochs 1
"""
from __future__ import annotations

import argparse
import sys
import types
from typing import Any, Optional

from tfclf import cli, config as config_lib, outputs
from tfclf.outputs import OutputKind


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tfclf.fit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    config_lib.add_arguments(parser)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> None:
        config = config_lib.from_args(args)
        if config.train.output_dir:  # train.fit checks again; the default folder is always new
            outputs.check_dir(config.train.output_dir, OutputKind.RUN, flag="--output-dir",
                              overwrite=config.train.overwrite,
                              inputs=[outputs.Input(flag, path) for flag, path in config.input_paths()])
        from tfclf import evaluate, train  # imports TensorFlow: after the input is checked

        run = train.fit(config, verbose=1)
        sys.stdout.write(evaluate.format_table(run.metrics, run.eval_split) + "\n")
        sys.stdout.write(f"Run directory: {run.output_dir}\n")

    return cli.run_main(body)


class _CallableModule(types.ModuleType):
    """Lets ``tfclf.fit`` be both this CLI module and the API call ``tfclf.fit(config)``.

    A package attribute and a submodule of the same name cannot coexist: once the
    submodule is imported it replaces the attribute. Making the module callable
    keeps ``tfclf.fit(config) -> Run`` true however it was imported.
    """

    def __call__(self, config: config_lib.RunConfig, **kwargs: Any):
        from tfclf import train

        return train.fit(config, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    sys.exit(main())
