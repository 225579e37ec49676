"""Keras Tuner searches over the fine-tuning recipe, for tf_keras models around TF Hub layers.

keras-tuner 1.4.8 is built on Keras 3 and rejects tf_keras models ("Expected ... a valid
Keras Model instance", keras-tuner issue 1039), while ``hub.KerasLayer`` needs tf_keras.
So this tuner never hands a model to Keras Tuner: ``FineTuningTuner.run_trial`` turns
the trial's hyperparameters into a ``RunConfig``, runs the normal training pipeline
(``train.fit``) into the trial's folder, and returns plain numbers, the validation
metrics at the trial's best epoch, to the oracle. The oracles (random, Bayesian,
Hyperband), resuming and the chief/worker distribution are Keras Tuner's own.

Example::

    from tfclf import config, tuner

    base = config.RunConfig()
    space = config.parse_search_space({"learning_rate": {"min": 1e-5, "max": 1e-4,
                                                         "sampling": "log"}}, base)
    result = tuner.search(base, config.TuneConfig(max_trials=5), space,
                          output_dir="tuning/demo")
    print(result.best.trial_id, result.best.score)

A search's output directory::

    search.yaml                base config, tune settings and search space (checked on resume)
    trials.csv                 one row per trial: hyperparameters, objective, epochs, duration, status
    summary.md                 the trials ranked by the objective
    best_hyperparameters.yaml  the best trial: id, objective value, searched values
    best_config.yaml           the best trial's full configuration (``fit --config`` takes it)
    best/                      with --refit: the best configuration trained by train.fit
    keras_tuner/               Keras Tuner's project: oracle.json, trial_<id>/trial.json; and,
                               where the trial ran, trial_<id>/run/ (its run directory;
                               its saved_model/ is deleted unless --keep-trial-saved-models)
                               and trial_<id>/result.json (what it reported)

Re-running the same command resumes: finished trials are kept, the interrupted one
runs again (``train.fit`` resumes it from its last checkpoint) and the search goes on.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import enum
import io
import json
import logging
import math
import os
import re
import shutil
import socket
import time
from concurrent import futures
from pathlib import Path
from typing import Any, Optional, Union

import keras_tuner as kt
import yaml
from keras_tuner.src import config as kt_config

from tfclf import atomic, config as config_lib, outputs
from tfclf.config import Role, RunConfig, SearchSpace, TuneConfig, TunerKind
from tfclf.errors import TfclfError
from tfclf.outputs import OutputKind

logger = logging.getLogger(__name__)

PROJECT = "keras_tuner"  # Keras Tuner's project folder inside the output directory
RUN_DIR = "run"  # the trial's train.fit run directory, inside its trial folder
RESULT_FILE = "result.json"
SEARCH_FILE = "search.yaml"
TRIALS_CSV = "trials.csv"
SUMMARY_MD = "summary.md"
BEST_HYPERPARAMETERS = "best_hyperparameters.yaml"
BEST_CONFIG = "best_config.yaml"
BEST_DIR = "best"
REFIT_FILE = "refit.json"
OUTPUTS = (SEARCH_FILE, TRIALS_CSV, SUMMARY_MD, BEST_HYPERPARAMETERS, BEST_CONFIG, BEST_DIR,
           REFIT_FILE, PROJECT)
ENV_VARS = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
CHIEF_ID = "chief"
HYPERBAND_KEYS = ("tuner/epochs", "tuner/initial_epoch", "tuner/bracket", "tuner/round",
                  "tuner/trial_id")
# Reported with the objective; stored by the oracle, so the chief sees them too.
TRIAL_STATS = ("best_epoch", "epochs_run", "duration_seconds")
# Fields that are the search's business, not the base config's, while comparing on resume.
_NOT_COMPARED = {"train": ("output_dir", "overwrite"),
                 "tune": ("max_trials", "refit", "role", "oracle", "tuner_id",
                          "keep_trial_saved_models")}


@dataclasses.dataclass(frozen=True)
class TrialRecord:
    """One trial as the oracle recorded it.

    Attributes:
        trial_id: Keras Tuner's id, zero-padded ("0", "07", ...).
        status: RUNNING, COMPLETED, FAILED or INVALID.
        score: the objective at the trial's best epoch; None unless completed.
        hyperparameters: the searched values, plus Hyperband's ``tuner/...`` values.
        metrics: validation metrics at the best epoch and ``TRIAL_STATS``.
        message: the last line of the error of a failed trial.
    """

    trial_id: str
    status: str
    score: Optional[float]
    hyperparameters: dict[str, Any]
    metrics: dict[str, float]
    message: str = ""


@dataclasses.dataclass
class SearchResult:
    """What ``search`` leaves behind.

    Attributes:
        output_dir: the search's folder.
        trials: all trials in start order (empty on a worker, which has no oracle).
        best: the best completed trial, if any.
        best_config: its full configuration.
        refit: the ``train.Run`` of ``--refit``, else None.
        tuner: the ``FineTuningTuner``, for Keras Tuner's own queries
            (``get_best_hyperparameters``, ``get_best_models``, ``results_summary``).
    """

    output_dir: Path
    trials: list[TrialRecord]
    best: Optional[TrialRecord]
    best_config: Optional[RunConfig]
    refit: Any = None
    tuner: Optional["FineTuningTuner"] = None


def objective_direction(objective: str) -> str:
    """``"min"`` for losses, else ``"max"``."""
    return "min" if objective.endswith("loss") else "max"


def default_output_dir(base: RunConfig, config_path: Optional[str] = None) -> Path:
    """``tuning/<YAML name>``, else ``tuning/<encoder name>``: stable, so re-running resumes."""
    name = Path(config_path).stem if config_path else Path(base.model.encoder.rstrip("/")).name
    return Path("tuning") / re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60]


# ------------------------------------------------------------------------ hyperparameters

def _kt_value(value: Any) -> Union[int, float, str, bool]:
    """A config value as Keras Tuner can hold it: tuples become "a,b" strings, enums strings."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return ",".join(str(_kt_value(v)) for v in value)
    return value


def declare_hyperparameters(space: SearchSpace) -> kt.HyperParameters:
    """The search space as Keras Tuner hyperparameters named after the config fields."""
    hp = kt.HyperParameters()
    for dim in space.dimensions:
        if dim.is_range:
            if dim.value_type is int:
                hp.Int(dim.name, int(dim.min), int(dim.max),
                       step=None if dim.step is None else int(dim.step), sampling=dim.sampling.value)
            else:
                hp.Float(dim.name, float(dim.min), float(dim.max), step=dim.step,
                         sampling=dim.sampling.value)
        elif len(dim.choices) == 1:
            hp.Fixed(dim.name, _kt_value(dim.choices[0]))
        else:
            hp.Choice(dim.name, [_kt_value(c) for c in dim.choices])
    return hp


def config_for_trial(base: RunConfig, objective: str, values: dict[str, Any],
                     output_dir: Union[str, os.PathLike], where: str = "trial") -> RunConfig:
    """The run configuration of one trial.

    Args:
        base: the configuration every trial starts from.
        objective: the metric the search optimises; it becomes ``train.monitor``, so
            each trial keeps (and reports) its best epoch by it.
        values: the trial's hyperparameter values; Hyperband's ``tuner/epochs`` sets
            ``train.epochs`` (its budget), its other ``tuner/...`` values are ignored.
        output_dir: the trial's run directory.
        where: names the trial in errors.
    """
    searched = {k: v for k, v in values.items() if not k.startswith("tuner/")}
    config = config_lib.apply_search_values(base, searched, where=where)
    train_changes: dict[str, Any] = {"monitor": objective, "output_dir": str(output_dir),
                                     "overwrite": False}
    if "tuner/epochs" in values:
        train_changes["epochs"] = int(values["tuner/epochs"])
    return config.replace("train", **train_changes)


def best_epoch_metrics(history: dict[str, list[float]], objective: str) -> dict[str, float]:
    """The metrics of the epoch that is best by ``objective``, plus ``best_epoch``/``epochs_run``.

    Raises:
        TfclfError: if the history has no ``objective`` (no validation split).
    """
    series = history.get(objective)
    if not series:
        raise TfclfError(
            f"--objective {objective} needs validation data, but the trial recorded no "
            f"{objective}. Give --validation or a --split with a validation share.")
    finite = [(v, i) for i, v in enumerate(series) if not math.isnan(v)]
    if not finite:
        raise TfclfError(f"Every epoch gave {objective}=nan; the training diverged.")
    best = (min(finite) if objective_direction(objective) == "min"
            else max(finite, key=lambda vi: (vi[0], -vi[1])))[1]
    out = {name: float(values[best]) for name, values in history.items()
           if len(values) == len(series)}
    out.update(best_epoch=float(best + 1), epochs_run=float(len(series)))
    return out


# ------------------------------------------------------------------------------- the tuner

class FineTuningTuner(kt.Tuner):
    """A Keras Tuner ``Tuner`` whose trials are ``train.fit`` runs of tf_keras models.

    Each trial trains into ``<project>/trial_<id>/run/``, a normal run directory,
    and reports its validation metrics at the best epoch. ``save_model`` is a no-op
    (``train.fit`` keeps the best weights itself) and ``load_model`` rebuilds the
    tf_keras classifier and loads them.

    Args:
        oracle: a Keras Tuner oracle whose hyperparameters are config fields.
        base: the configuration every trial starts from.
        objective: the objective's metric name (also each trial's ``--monitor``).
        fit_verbose: Keras progress output of each trial's training.
        keep_saved_models: keep each trial's ``run/saved_model/``; by default it is
            deleted once the trial is recorded (the best weights stay).
        **kwargs: ``directory``, ``project_name``, ``overwrite`` of ``kt.Tuner``.
    """

    def __init__(self, oracle: kt.Oracle, base: RunConfig, objective: str, *,
                 fit_verbose: Any = 0, keep_saved_models: bool = False, **kwargs: Any):
        self.base = base
        self.objective = objective
        self.fit_verbose = fit_verbose
        self.keep_saved_models = keep_saved_models
        self.after_trial = None  # called after each trial's report, e.g. to write the results
        # Keras Tuner prints "Reloading Tuner from ..."; `search` logs the resume instead.
        with contextlib.redirect_stdout(io.StringIO()):
            super().__init__(oracle=oracle, **kwargs)

    def trial_run_dir(self, trial_id: str) -> Path:
        return Path(self.get_trial_dir(trial_id)) / RUN_DIR

    def trial_config(self, trial: kt.engine.trial.Trial) -> RunConfig:
        return config_for_trial(self.base, self.objective, trial.hyperparameters.values,
                                self.trial_run_dir(trial.trial_id), where=f"trial {trial.trial_id}")

    def on_search_begin(self) -> None:
        # Saved before the first trial, so a kill during it still resumes this search.
        self.save()

    def on_trial_begin(self, trial) -> None:
        logger.info("Trial %s started: %s", trial.trial_id, _format_values(trial.hyperparameters.values))

    def run_trial(self, trial, *args: Any, **kwargs: Any) -> dict[str, float]:
        """Trains the trial's configuration and returns its metrics at the best epoch."""
        import tf_keras

        from tfclf import export, train

        result_file = Path(self.get_trial_dir(trial.trial_id)) / RESULT_FILE
        if result_file.is_file():  # trained before an interruption; only the report was lost
            logger.info("Trial %s already trained; reporting its saved result.", trial.trial_id)
            return json.loads(result_file.read_text())
        config = self.trial_config(trial)
        run_dir = Path(config.train.output_dir)
        if run_dir.exists():  # finished but unreported: retrain for an exact duration
            shutil.rmtree(run_dir)
        _discard_unresumable_partial(train.partial_dir(run_dir))
        start = time.perf_counter()
        tf_keras.backend.clear_session()
        run = train.fit(config, verbose=self.fit_verbose)
        metrics = best_epoch_metrics(run.history, self.objective)
        metrics["duration_seconds"] = round(time.perf_counter() - start, 3)
        atomic.write_text(result_file, json.dumps(metrics, indent=1) + "\n")
        if not self.keep_saved_models:  # a model-sized copy per trial; --refit exports the best
            shutil.rmtree(run_dir / export.SAVED_MODEL_DIR, ignore_errors=True)
        return metrics

    def on_trial_end(self, trial) -> None:
        super().on_trial_end(trial)  # reports to the oracle and saves the tuner state
        _log_trial_end(_record(self.oracle.get_trial(trial.trial_id)), self.objective)
        if self.after_trial is not None:
            self.after_trial()

    def save_model(self, trial_id: str, model: Any, step: int = 0) -> None:
        """Nothing to do: ``train.fit`` keeps the best epoch's weights in the trial's run."""

    def load_model(self, trial) -> Any:
        """The trial's trained classifier: a tf_keras model, ids -> ``[batch, C]`` logits."""
        return load_trial_model(self.trial_run_dir(trial.trial_id))


def _discard_unresumable_partial(partial: Path) -> None:
    """Removes a trial's partial run folder that a kill left half-created.

    ``train.fit`` creates the folder, then writes config.yaml and labels.txt into it,
    before any checkpoint. Killed in between, the folder reads as "an interrupted run
    with a different configuration" on the re-run, and the trial failed. It holds
    nothing to resume, and it is the trial's own: start the trial over.
    """
    if partial.is_dir() and not all((partial / name).is_file() for name in ("config.yaml", "labels.txt")):
        logger.info("%s was killed while being created; nothing to resume, starting the trial over.",
                    partial)
        shutil.rmtree(partial)


def load_trial_model(run_dir: Union[str, os.PathLike]) -> Any:
    """Rebuilds a run directory's tf_keras classifier and loads its best weights.

    Args:
        run_dir: a ``train.fit`` run directory (config.yaml, labels.txt, checkpoints/).

    Returns:
        The classifier: a dict of ``[batch, seq] int32`` inputs -> ``[batch, C]``
        float32 logits. Tokenise with ``preprocessing.TextPreprocessor``. Its layers take
        the run's Keras policy (``train.mixed_precision``), as the run's saved model's do.

    Raises:
        TfclfError: the run's config.yaml is missing, not UTF-8 YAML, or not a mapping
            of valid sections, naming the file.
    """
    from tfclf import encoders, precision, train
    from tfclf.labels import LabelVocabulary
    from tfclf.model import build_classifier

    run_dir = Path(run_dir)
    saved = config_lib.load_sections(run_dir / "config.yaml", role="run")
    config = config_lib.from_dict({k: v for k, v in saved.items() if k in config_lib.SECTIONS},
                                  where=f"run {run_dir / 'config.yaml'}")
    labels = LabelVocabulary.load(run_dir / "labels.txt")
    resolved = encoders.resolve(config.model.encoder, config.model.preprocessor,
                                seq_length=config.model.seq_length, pooling=config.model.pooling)
    with precision.keras_policy(config.train.mixed_precision):  # the head computes as it trained
        models = build_classifier(resolved.encoder_path, len(labels), pooling=resolved.pooling,
                                  dropout=config.model.dropout, trainable=config.model.trainable)
    models.classifier.load_weights(str(run_dir / train.BEST_WEIGHTS)).expect_partial()
    return models.classifier


def build_oracle(tune: TuneConfig, base: RunConfig, space: SearchSpace) -> kt.Oracle:
    """The Keras Tuner oracle of ``tune.tuner`` over ``space``, seeded by ``--seed``."""
    common = dict(objective=kt.Objective(tune.objective, direction=objective_direction(tune.objective)),
                  hyperparameters=declare_hyperparameters(space), seed=base.train.seed)
    if tune.tuner is TunerKind.RANDOM:
        return kt.oracles.RandomSearchOracle(max_trials=tune.max_trials, **common)
    if tune.tuner is TunerKind.BAYESIAN:
        return kt.oracles.BayesianOptimizationOracle(max_trials=tune.max_trials, **common)
    oracle = kt.oracles.HyperbandOracle(max_epochs=tune.max_epochs or base.train.epochs,
                                        factor=tune.factor, hyperband_iterations=1, **common)
    oracle.max_trials = tune.max_trials  # Oracle.create_trial stops there
    return oracle


# ---------------------------------------------------------------------------- the search

def search(base: RunConfig, tune: TuneConfig, space: SearchSpace, *,
           output_dir: Union[str, os.PathLike, None] = None, config_path: Optional[str] = None,
           fit_verbose: Any = 0) -> SearchResult:
    """Runs (or resumes, or serves, or works on) a search and writes its results.

    Args:
        base: the configuration every trial starts from; ``train.output_dir`` and
            ``train.overwrite`` are the search's folder and "start over".
        tune: how to search; ``tune.role`` picks standalone, chief or worker.
        space: what to search.
        output_dir: the search's folder; default ``base.train.output_dir``, else
            ``default_output_dir``.
        config_path: the experiment YAML, which names the default folder.
        fit_verbose: Keras progress output of each trial.

    Returns:
        A ``SearchResult``. Workers hold no oracle: their result lists no trials.

    Raises:
        TfclfError: on a search space the tuner cannot use, a folder holding a
            different search, an unreachable or busy oracle address, or when
            Keras Tuner gives up after consecutive failed trials.
    """
    out = Path(output_dir or base.train.output_dir or default_output_dir(base, config_path))
    overwrite = base.train.overwrite
    if tune.role is not Role.WORKER:  # before any data is read
        _check_output_dir(out, base, overwrite)
    base = base.replace("train", output_dir=None, overwrite=False)
    _check(base, tune, space)
    if tune.role is not Role.CHIEF:  # the chief trains nothing and may not have the data
        from tfclf import train

        train.prepare(base)  # bad data or encoder: one error now, not a failed trial each
    tuner_id = _configure_environment(tune)
    kt_config.DEBUG = False  # failed trials are logged in one line; trial.json has the traceback
    is_worker = tune.role is Role.WORKER
    if not is_worker:
        _prepare_output_dir(out, base, tune, space, overwrite)
    elif overwrite:
        logger.warning("--overwrite is the chief's decision; this worker ignores it.")
    oracle = build_oracle(tune, base, space)
    tuner = FineTuningTuner(oracle, base, tune.objective, fit_verbose=fit_verbose,
                            keep_saved_models=tune.keep_trial_saved_models,
                            directory=str(out), project_name=PROJECT, overwrite=False)
    oracle.verbose = 0  # progress is logged per trial instead of Keras Tuner's prints
    if tune.role is Role.STANDALONE:
        tuner.after_trial = lambda: write_results(oracle, out, base, tune, space)
    if not is_worker:
        done = [t for t in oracle.trials.values() if t.status != "RUNNING"]
        if oracle.trials:
            logger.info("Resuming the search in %s: %d of %d trials finished.", out, len(done),
                        tune.max_trials)
        else:
            logger.info("Searching %s with %s over %s; objective %s (%s).", out, tune.tuner.value,
                        ", ".join(space.names), tune.objective, objective_direction(tune.objective))
    try:
        if tune.role is Role.CHIEF:
            tuner.save()
            logged = set(oracle.end_order)

            def progress() -> None:
                for trial_id in oracle.end_order:
                    if trial_id not in logged:
                        logged.add(trial_id)
                        _log_trial_end(_record(oracle.trials[trial_id]), tune.objective)
                write_results(oracle, out, base, tune, space)

            serve_oracle(oracle, tune.oracle_address(), on_progress=progress)
        else:
            if is_worker:
                logger.info("Worker %s asking the oracle at %s for trials.", tuner_id, tune.oracle)
            tuner.search()
    except RuntimeError as e:
        if "consecutive failures" in str(e):
            last = str(e).strip().splitlines()[-1] if str(e).strip() else ""
            raise TfclfError(f"The search stopped: {str(e).splitlines()[0]} The last error: {last}") from None
        raise
    if is_worker:
        logger.info("Worker %s done: the oracle has no more trials.", tuner_id)
        return SearchResult(out, [], None, None, tuner=tuner)
    result = write_results(oracle, out, base, tune, space)
    result.tuner = tuner
    if tune.refit:
        result.refit = refit(result, out, fit_verbose=fit_verbose)
    return result


def _check(base: RunConfig, tune: TuneConfig, space: SearchSpace) -> None:
    if tune.tuner is TunerKind.HYPERBAND and "epochs" in space.names:
        raise TfclfError(
            "search.epochs cannot be searched with --tuner hyperband: Hyperband gives each trial "
            "its epoch budget, up to --max-epochs. Remove epochs from the search space.")
    if getattr(base.train, "seeds", ()):
        raise TfclfError(
            f"--seeds trains several models per run; a trial is one model. Use --seed. "
            f"Received: seeds={list(base.train.seeds)}")
    if base.data.validation is None and base.data.split[1] == 0:
        raise TfclfError(
            f"--objective {tune.objective} needs validation data: give --validation, or a --split "
            f"with a validation share. Received: split={','.join(map(str, base.data.split))}")


def _configure_environment(tune: TuneConfig) -> Optional[str]:
    """Sets Keras Tuner's KERASTUNER_* variables for the role; returns this tuner's id."""
    if tune.role is Role.STANDALONE:
        stray = [v for v in ENV_VARS if v in os.environ]
        if stray:
            logger.warning("Ignoring %s: pass --role chief|worker --oracle HOST:PORT to distribute.",
                           ", ".join(stray))
            for var in stray:
                os.environ.pop(var)
        return None
    try:
        import grpc  # noqa: F401  (Keras Tuner's chief and workers talk gRPC)
    except ImportError:
        raise TfclfError("--role chief|worker needs grpcio: pip install grpcio") from None
    host, port = tune.oracle_address()
    if tune.role is Role.CHIEF:
        tuner_id = CHIEF_ID
    else:
        tuner_id = tune.tuner_id or "worker-{}-{}".format(
            re.sub(r"[^A-Za-z0-9_.-]+", "_", socket.gethostname()).replace("chief", "ch1ef"), os.getpid())
    os.environ.update(KERASTUNER_TUNER_ID=tuner_id, KERASTUNER_ORACLE_IP=host,
                      KERASTUNER_ORACLE_PORT=str(port))
    return tuner_id


def _comparable(search_file: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(search_file))  # a deep copy of plain data
    for section, keys in _NOT_COMPARED.items():
        for key in keys:
            (out.get(section) or {}).pop(key, None)
    return out


def _check_output_dir(out: Path, base: RunConfig, overwrite: bool) -> None:
    """The search folder may be created, resumed or (--overwrite) started over; see ``tfclf.outputs``."""
    if out.is_dir() and outputs.read_kind(out) is None and (out / SEARCH_FILE).is_file() \
            and (out / PROJECT).is_dir():
        logger.info("%s: a search folder of an earlier tfclf (no %s); marking it as a tuning folder.",
                    out, outputs.MARKER)
        outputs.mark(out, OutputKind.TUNING)
    outputs.check_dir(out, OutputKind.TUNING, flag="--output-dir", overwrite=overwrite, reuse=True,
                      inputs=[outputs.Input(flag, path) for flag, path in base.input_paths()])


def _prepare_output_dir(out: Path, base: RunConfig, tune: TuneConfig, space: SearchSpace,
                        overwrite: bool) -> None:
    """Starts over (--overwrite), or checks that an existing search is this one."""
    out.mkdir(parents=True, exist_ok=True)
    if outputs.read_kind(out) is None:
        outputs.mark(out, OutputKind.TUNING)
    if overwrite:
        for name in OUTPUTS:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    current = {**base.to_dict(), "tune": config_lib.section_to_dict(tune), "search": space.to_yaml()}
    saved_file = out / SEARCH_FILE
    if saved_file.is_file():
        saved = config_lib.load_sections(saved_file, role="--output-dir")
        if _comparable(saved) != _comparable(current):
            diff = _first_difference(_comparable(saved), _comparable(current))
            raise TfclfError(
                f"{out} holds a different search ({diff}). Re-run it with the same configuration "
                "to resume it (only --max-trials and --refit may change), choose another "
                "--output-dir, or pass --overwrite to start over.")
    elif (out / PROJECT / "oracle.json").exists():  # workers may create the folder first
        raise TfclfError(f"{out / PROJECT} holds a search but no {SEARCH_FILE}. Pass --overwrite "
                         "to start over.")
    atomic.write_text(saved_file, yaml.safe_dump(current, sort_keys=False, allow_unicode=True))


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{path}.{key}" if path else key)
    return f"{path}: was {a!r}, now {b!r}"


def serve_oracle(oracle: kt.Oracle, address: tuple[str, int], on_progress=None,
                 poll_seconds: float = 0.5) -> None:
    """Serves ``oracle`` to workers over gRPC until the search is over and all workers left.

    Keras Tuner's own ``oracle_chief.start_server`` does the same but polls every
    20 s once the last trial is handed out; this loop also calls ``on_progress``
    whenever a trial ends, so the results on disk follow the search.

    Raises:
        TfclfError: if the address cannot be bound.
    """
    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief
    from keras_tuner.src.engine import oracle as oracle_module

    host, port = address
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        bound = 0
    if not bound:
        raise TfclfError(f"--oracle {host}:{port}: cannot listen there (port in use, or not this "
                         "machine's address?).")
    server.start()
    logger.info("Oracle serving at %s:%d; start workers with --role worker --oracle %s:%d.",
                host, port, host, port)
    lock = oracle_module.LOCKS[oracle]
    ended = -1
    try:
        while True:
            time.sleep(poll_seconds)
            with lock:
                finished = len(oracle.end_order)
                over = (servicer.stop_triggered and not oracle.ongoing_trials
                        and not oracle.tuner_ids)
            if finished != ended:
                ended = finished
                if on_progress is not None:
                    with lock:
                        on_progress()
            if over:
                break
    finally:
        server.stop(grace=2).wait()


# ------------------------------------------------------------------------------- results

def _record(trial) -> TrialRecord:
    metrics = {name: float(history.get_last_value())
               for name, history in trial.metrics.metrics.items()
               if history.get_last_value() is not None}
    message = (trial.message or "").strip().splitlines()
    score = trial.score if trial.status == "COMPLETED" else None
    return TrialRecord(trial_id=trial.trial_id, status=str(trial.status),
                       score=None if score is None else float(score),
                       hyperparameters=dict(trial.hyperparameters.values), metrics=metrics,
                       message=message[-1] if message else "")


def trial_records(oracle: kt.Oracle) -> list[TrialRecord]:
    """Every trial the oracle knows, in start order."""
    order = list(oracle.start_order) + sorted(set(oracle.trials) - set(oracle.start_order))
    return [_record(oracle.trials[i]) for i in order if i in oracle.trials]


def rank(records: list[TrialRecord], objective: str) -> list[TrialRecord]:
    """Completed trials, best first (ties: the earlier trial)."""
    done = [r for r in records if r.status == "COMPLETED" and r.score is not None
            and not math.isnan(r.score)]
    sign = 1 if objective_direction(objective) == "min" else -1
    return sorted(done, key=lambda r: (sign * r.score, r.trial_id))


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _format_values(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_format_value(v)}" for k, v in values.items()
                     if k not in HYPERBAND_KEYS or k == "tuner/epochs")


def _log_trial_end(record: TrialRecord, objective: str) -> None:
    if record.status == "COMPLETED":
        m = record.metrics
        logger.info("Trial %s completed in %.1f s: %s=%.4f at epoch %d of %d.", record.trial_id,
                    m.get("duration_seconds", float("nan")), objective, record.score,
                    int(m.get("best_epoch", 0)), int(m.get("epochs_run", 0)))
    else:
        logger.error("Trial %s %s: %s (the traceback is in its trial.json)", record.trial_id,
                     record.status.lower(), record.message)


def write_results(oracle: kt.Oracle, out: Path, base: RunConfig, tune: TuneConfig,
                  space: SearchSpace) -> SearchResult:
    """Writes trials.csv, summary.md and the best trial's files from the oracle's records."""
    records = trial_records(oracle)
    ranked = rank(records, tune.objective)
    hp_names = list(space.names) + sorted(
        {k for r in records for k in r.hyperparameters if k not in space.names})
    metric_names = [tune.objective] + sorted(
        {k for r in records for k in r.metrics} - {tune.objective} - set(TRIAL_STATS))
    atomic.write_text(out / TRIALS_CSV, _trials_csv(records, hp_names, metric_names, tune.objective))
    best = ranked[0] if ranked else None
    best_config = None
    if best is not None:
        best_config = config_for_trial(base, tune.objective, best.hyperparameters, "unused",
                                       where=f"trial {best.trial_id}").replace("train", output_dir=None)
        atomic.write_text(out / BEST_HYPERPARAMETERS, yaml.safe_dump({
            "trial_id": best.trial_id,
            "objective": {"name": tune.objective, "direction": objective_direction(tune.objective),
                          "value": best.score},
            "hyperparameters": {k: _plain_yaml(v) for k, v in best.hyperparameters.items()},
            "metrics": {k: int(v) if k in ("best_epoch", "epochs_run") else v
                        for k, v in best.metrics.items()},
        }, sort_keys=False))
        config_lib.save_yaml(best_config, out / BEST_CONFIG)
    atomic.write_text(out / SUMMARY_MD, format_summary(records, ranked, tune, space, hp_names))
    return SearchResult(out, records, best, best_config)


def _plain_yaml(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _trials_csv(records: list[TrialRecord], hp_names: list[str], metric_names: list[str],
                objective: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["trial_id", "status", objective, *TRIAL_STATS, *hp_names,
                     *metric_names[1:], "message"])
    for r in records:
        def num(name: str) -> str:
            value = r.metrics.get(name)
            return "" if value is None else repr(int(value) if name in ("best_epoch", "epochs_run")
                                                 else value)
        writer.writerow([r.trial_id, r.status, "" if r.score is None else repr(r.score),
                         *[num(n) for n in TRIAL_STATS],
                         *[r.hyperparameters.get(n, "") for n in hp_names],
                         *[num(n) for n in metric_names[1:]], r.message])
    return buffer.getvalue()


def format_summary(records: list[TrialRecord], ranked: list[TrialRecord], tune: TuneConfig,
                   space: SearchSpace, hp_names: Optional[list[str]] = None) -> str:
    """summary.md: the search's settings and its trials ranked by the objective."""
    hp_names = hp_names or list(space.names)
    counts: dict[str, int] = {}
    for r in records:
        counts[r.status] = counts.get(r.status, 0) + 1
    lines = [
        "# Tuning summary", "",
        f"{tune.tuner.value} search, objective `{tune.objective}` "
        f"({'lower' if objective_direction(tune.objective) == 'min' else 'higher'} is better, "
        "validation split, best epoch of each trial); "
        f"{len(records)} of {tune.max_trials} trials: "
        + ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())) + ".", "",
        "Searched: " + ", ".join(f"`{d.name}` {_describe(d)}" for d in space.dimensions) + ".", "",
    ]
    header = ["rank", "trial", tune.objective, "best epoch", "epochs run", "seconds", *hp_names]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, r in enumerate(ranked, 1):
        m = r.metrics
        lines.append("| " + " | ".join([
            str(i), r.trial_id, f"{r.score:.4f}", str(int(m.get("best_epoch", 0))),
            str(int(m.get("epochs_run", 0))), f"{m.get('duration_seconds', float('nan')):.1f}",
            *[_format_value(r.hyperparameters.get(n, "")) for n in hp_names]]) + " |")
    others = [r for r in records if r not in ranked]
    if others:
        lines += ["", "Not ranked:", ""]
        lines += [f"* trial {r.trial_id}: {r.status.lower()}" + (f" ({r.message})" if r.message else "")
                  for r in others]
    if ranked:
        best = ranked[0]
        lines += ["", f"Best: trial {best.trial_id}, {tune.objective} = {best.score:.4f}: "
                  + _format_values({k: best.hyperparameters[k] for k in hp_names
                                    if k in best.hyperparameters}) + ".",
                  f"Its configuration is `{BEST_CONFIG}` (`python -m tfclf.fit --config` takes it); "
                  f"`--refit` trains it into `{BEST_DIR}/`."]
    return "\n".join(lines) + "\n"


def _describe(dim: config_lib.Dimension) -> str:
    if dim.is_range:
        extra = f", step {dim.step:g}" if dim.step else ""
        extra += f", {dim.sampling.value}" if dim.sampling is not config_lib.Sampling.LINEAR else ""
        return f"[{dim.min:g}, {dim.max:g}{extra}]"
    return "{" + ", ".join(_format_value(_kt_value(c)) for c in dim.choices) + "}"


# --------------------------------------------------------------------------------- refit

def refit(result: SearchResult, out: Path, *, fit_verbose: Any = 0) -> Any:
    """Trains the best configuration into ``<out>/best/``, a normal ``train.fit`` run directory.

    Skipped (the existing run is returned as None) when ``best/`` already holds the
    refit of the same trial.

    Raises:
        TfclfError: if no trial completed.
    """
    from tfclf import train

    if result.best is None:
        raise TfclfError(f"--refit needs a completed trial; {out} has none. See {out / SUMMARY_MD}.")
    best_dir = out / BEST_DIR
    marker = out / REFIT_FILE
    stamp = {"trial_id": result.best.trial_id,
             "hyperparameters": {k: _plain_yaml(v) for k, v in result.best.hyperparameters.items()}}
    if best_dir.is_dir() and marker.is_file() and json.loads(marker.read_text()) == stamp:
        logger.info("%s already holds the refit of trial %s.", best_dir, result.best.trial_id)
        return None
    if best_dir.exists():
        shutil.rmtree(best_dir)
    marker.unlink(missing_ok=True)
    logger.info("Refitting trial %s into %s.", result.best.trial_id, best_dir)
    import tf_keras

    tf_keras.backend.clear_session()
    run = train.fit(result.best_config.replace("train", output_dir=str(best_dir)), verbose=fit_verbose)
    atomic.write_text(marker, json.dumps(stamp, indent=1) + "\n")
    return run
