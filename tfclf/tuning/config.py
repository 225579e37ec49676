"""How to search: ``TuneConfig``, the tuning YAML's ``tune:`` section and ``python -m tfclf.tune``'s flags.

A tuning YAML is a normal experiment YAML (the base configuration every trial starts
from, so ``fit --config`` accepts it too) plus two sections::

    tune:                      # how to search: TuneConfig, the same names as the flags
      tuner: random
      max_trials: 20
    search:                    # what to search: a SearchSpace (tfclf.tuning.space)
      learning_rate: {min: 1.0e-5, max: 1.0e-4, sampling: log}
      batch_size: [16, 32]
      trainable: [all, top-2]

No TensorFlow import: ``python -m tfclf.tune`` checks its input with this first.
"""
from __future__ import annotations

import argparse
import dataclasses
import enum
import re
from typing import Any, Optional

from tfclf import config as config_lib
from tfclf.config import Monitor, RunConfig, field
from tfclf.errors import TfclfError
from tfclf.tuning.space import SearchSpace, parse_search_space


class TunerKind(str, enum.Enum):
    """The Keras Tuner oracle that proposes trials."""

    RANDOM = "random"
    BAYESIAN = "bayesian"  # Gaussian-process Bayesian optimisation
    HYPERBAND = "hyperband"  # successive halving: many short trials, few long ones


class Role(str, enum.Enum):
    """This process's part in a search (Keras Tuner's chief/worker mode)."""

    STANDALONE = "standalone"  # holds the oracle and runs the trials
    CHIEF = "chief"  # serves the oracle over gRPC at --oracle and writes the results; runs no trials
    WORKER = "worker"  # asks the chief at --oracle for trials and runs them


@dataclasses.dataclass(frozen=True)
class TuneConfig:
    """How to search; the YAML ``tune:`` section and the flags of ``python -m tfclf.tune``."""

    tuner: TunerKind = field(
        TunerKind.RANDOM, "Search algorithm: random, bayesian (Gaussian process) or hyperband "
        "(successive halving of the epoch budget).")
    max_trials: int = field(
        10, "Number of trials; hyperband stops earlier when its brackets are done.")
    objective: Monitor = field(
        Monitor.VAL_F1_MACRO, "Validation metric at each trial's best epoch to optimise (minimised if "
        "a loss, else maximised); it is also each trial's --monitor.")
    max_epochs: Optional[int] = field(
        None, "Hyperband: epochs of its longest trials; default: --epochs.")
    factor: int = field(
        3, "Hyperband: each round keeps 1/factor of the trials and trains them factor times longer.")
    refit: bool = field(
        False, "After the search, train the best configuration into <output-dir>/best/, "
        "a normal run directory.")
    keep_trial_saved_models: bool = field(
        False, "Keep each trial's run/saved_model/ (as large as the model). Off: it is deleted once "
        "the trial is recorded; the trial's best weights stay in run/checkpoints/.")
    role: Role = field(
        Role.STANDALONE, "standalone; or chief (serves the oracle, runs no trials) or worker "
        "(runs trials) of a search spread over processes or machines; both need --oracle.")
    oracle: Optional[str] = field(
        None, "HOST:PORT of the chief's oracle: where the chief listens and the workers connect.")
    tuner_id: Optional[str] = field(
        None, "Worker name, unique within the search; a worker restarted under the same name "
        "takes back its unfinished trial. Default: worker-<host>-<pid>.")
    oracle_wait: float = field(
        600.0, "Seconds a worker waits for the chief's oracle to answer, when it starts and on each "
        "call, before it stops with an error (Keras Tuner alone waits an hour). A worker that finds "
        "the search folder marked finished by its chief stops at once, with exit 0.")

    def __post_init__(self) -> None:
        if self.max_trials < 1:
            raise TfclfError(f"--max-trials must be >= 1. Received: max_trials={self.max_trials}")
        object.__setattr__(self, "objective", Monitor.parse(self.objective, "--objective"))
        if self.max_epochs is not None and self.max_epochs < 1:
            raise TfclfError(f"--max-epochs must be >= 1. Received: max_epochs={self.max_epochs}")
        if not self.oracle_wait > 0:
            raise TfclfError(f"--oracle-wait must be > 0 seconds. Received: oracle_wait={self.oracle_wait}")
        if self.factor < 2:
            raise TfclfError(f"--factor must be >= 2. Received: factor={self.factor}")
        if self.role is not Role.STANDALONE and not self.oracle:
            raise TfclfError(
                f"--role {self.role.value} needs --oracle HOST:PORT (the chief's address). "
                "Received: oracle=None")
        if self.oracle is not None:
            if self.role is Role.STANDALONE:
                raise TfclfError(
                    f"--oracle needs --role chief or --role worker. Received: oracle={self.oracle!r}")
            self.oracle_address()
        if self.tuner_id is not None:
            if self.role is not Role.WORKER:
                raise TfclfError(
                    f"--tuner-id names a worker; it needs --role worker. Received: role={self.role.value!r}")
            # Keras Tuner treats any id containing "chief" as the chief.
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.tuner_id) or "chief" in self.tuner_id:
                raise TfclfError(
                    "--tuner-id must be letters, digits, '_', '.' or '-', without 'chief'. "
                    f"Received: tuner_id={self.tuner_id!r}")

    def oracle_address(self) -> tuple[str, int]:
        """``--oracle`` as (host, port)."""
        host, _, port = (self.oracle or "").rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise TfclfError(
                "--oracle must be HOST:PORT, e.g. 10.0.0.5:8000. "
                f"Received: oracle={self.oracle!r}")
        return host, int(port)


def add_tune_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the TuneConfig flags (--tuner, --max-trials, ...) in a "tune" group."""
    config_lib.add_dataclass_arguments(parser.add_argument_group("tune"), TuneConfig, dest_prefix="tune.")


def tune_from_args(args: argparse.Namespace, base: RunConfig, *,
                   read: Optional[config_lib.Reader] = None) -> tuple[TuneConfig, SearchSpace]:
    """Resolves defaults < the --config YAML's ``tune:`` and ``search:`` < flags.

    Args:
        args: parsed flags of a parser set up with ``config.add_arguments`` and
            ``add_tune_arguments``.
        base: the resolved run configuration (``config.from_args``), against which
            the search space is validated.
        read: reads a --config on a store (``tfclf.data.filesystem.read_bytes``).

    Raises:
        TfclfError: naming the flag, or the file and key, of a bad value.
    """
    data: dict[str, Any] = {}
    where = "command line"
    if getattr(args, "config", None):
        data = config_lib.load_sections(args.config, "--config", read=read)
        where = f"--config {args.config}"
    values = data.get("tune") or {}
    if not isinstance(values, dict):
        raise TfclfError(f"Section 'tune' in {where} must be a mapping. Received: {values!r}")
    values = {**values, **config_lib.given_arguments(args, TuneConfig, dest_prefix="tune.")}
    tune = config_lib.build_section(TuneConfig, values, f"{where}: tune")
    space = parse_search_space(data.get("search"), base, where=f"{where}: search")
    return tune, space
