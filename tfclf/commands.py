"""The subcommands of ``tfclf COMMAND ...``: one per ``python -m tfclf.X`` CLI.

``tfclf fit ...`` is ``python -m tfclf.fit ...``: the console script ``tfclf`` and
``python -m tfclf`` (both ``tfclf/__main__.py``) look the command up here and pass
the remaining arguments to its module's ``main(argv)`` unchanged. A command's module
is imported only when it runs, so ``tfclf --help`` and ``--version`` stay cheap.
"""
from __future__ import annotations

import dataclasses
import importlib

from tfclf.errors import TfclfError


@dataclasses.dataclass(frozen=True)
class Command:
    """One subcommand: the module whose ``main(argv) -> int`` runs it, and its one-line summary."""

    module: str
    summary: str

    def main(self, argv: list[str]) -> int:
        """Runs ``python -m <module> *argv`` in this process and returns its exit status."""
        return importlib.import_module(self.module).main(argv)


COMMANDS: dict[str, Command] = {
    "fit": Command("tfclf.fit", "train a classifier (with no flags: MiniLM on the bundled sample)"),
    "data": Command("tfclf.data.__main__", "read, split and check data with fit's flags; report it"),
    "evaluate": Command("tfclf.evaluate", "re-evaluate a saved run on a labelled file"),
    "predict": Command("tfclf.predict", "classify a file or stdin with a saved model, streaming"),
    "predict_beam": Command("tfclf.predict_beam", "classify files of any size on Apache Beam (RunInference)"),
    "export": Command("tfclf.export", "export a run as a SavedModel for TF Serving; check or inspect one"),
    "tune": Command("tfclf.tune", "search the fine-tuning recipe with Keras Tuner"),
    "explain": Command("tfclf.explain", "show which words push a saved model's predictions (SHAP)"),
    "baseline": Command("tfclf.baseline", "majority, TF-IDF + logistic regression and zero-shot baselines"),
    "topics": Command("tfclf.topics.__main__", "map the topics of a corpus (BERTopic on tfclf embeddings)"),
    "encoders": Command("tfclf.encoders.__main__", "list the encoder registry, or build an offline encoder"),
}


def get_command(name: str) -> Command:
    """The subcommand called ``name``.

    ``predict-beam`` is ``predict_beam`` (a command is its module's name; the hyphen is easier to type).

    Raises:
        TfclfError: ``name`` is not a subcommand; the message lists them.
    """
    if name not in COMMANDS and name.replace("-", "_") in COMMANDS:
        name = name.replace("-", "_")
    if name not in COMMANDS:
        raise TfclfError(f"The command (tfclf COMMAND) must be one of {list(COMMANDS)}. Received: command={name!r}")
    return COMMANDS[name]

