"""Keras Tuner searches over the fine-tuning recipe, for tf_keras models around TF Hub layers.

keras-tuner 1.4.8 is built on Keras 3 and rejects tf_keras models ("Expected ... a valid
Keras Model instance", keras-tuner issue 1039), while ``hub.KerasLayer`` needs tf_keras.
So this tuner never hands a model to Keras Tuner: ``FineTuningTuner.run_trial`` turns
the trial's hyperparameters into a ``RunConfig``, runs the normal training pipeline
(``training.fit``) into the trial's folder, and returns plain numbers, the validation
metrics at the trial's best epoch, to the oracle. The oracles (random, Bayesian,
Hyperband), resuming and the chief/worker distribution are Keras Tuner's own.

Example::

    from tfclf import config
    from tfclf.tuning import tuner
    from tfclf.tuning.config import TuneConfig
    from tfclf.tuning.space import parse_search_space

    base = config.RunConfig()
    space = parse_search_space({"learning_rate": {"min": 1e-5, "max": 1e-4,
                                                  "sampling": "log"}}, base)
    result = tuner.search(base, TuneConfig(max_trials=5), space, output_dir="tuning/demo")
    print(result.best.trial_id, result.best.score)

A search's output directory::

    search.yaml                base config, tune settings and search space (checked on resume)
    trials.csv                 one row per trial: hyperparameters, objective, epochs, duration, status
    summary.md                 the trials ranked by the objective
    best_hyperparameters.yaml  the best trial: id, objective value, searched values
    best_config.yaml           the best trial's full configuration (``fit --config`` takes it)
    best/                      with --refit: the best configuration trained by training.fit
    keras_tuner/               Keras Tuner's project: oracle.json, trial_<id>/trial.json; and,
                               where the trial ran, trial_<id>/run/ (its run directory;
                               its saved_model/ is deleted unless --keep-trial-saved-models)
                               and trial_<id>/result.json (what it reported)

trials.csv, summary.md and the best trial's files are ``tfclf.tuning.results``'.
Re-running the same command resumes: finished trials are kept, the interrupted one
runs again (``training.fit`` resumes it from its last checkpoint) and the search goes on.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import shutil
import socket
import time
from concurrent import futures
from pathlib import Path
from typing import Any, Optional, Union

import keras_tuner as kt
import tf_keras
import yaml
from keras_tuner.src import config as kt_config

from tfclf import atomic, config as config_lib, object_storage, outputs, rundir, training
from tfclf.data import filesystem
from tfclf.config import Monitor, RunConfig
from tfclf.errors import TfclfError
from tfclf.outputs import OutputKind
from tfclf.serving import restore
from tfclf.tuning.config import Role, TuneConfig, TunerKind
from tfclf.tuning.results import (BEST_DIR, RESULT_FILES, SUMMARY_MD, SearchResult, TrialRecord,
                                  best_epoch_metrics, format_values, trial_record, write_results, yaml_value)
from tfclf.tuning.space import SearchSpace, config_for_trial, hyperparameter_value

logger = logging.getLogger(__name__)

PROJECT = "keras_tuner"  # Keras Tuner's project folder inside the output directory
RUN_DIR = "run"  # the trial's training.fit run directory, inside its trial folder
RESULT_FILE = "result.json"
SEARCH_FILE = "search.yaml"
REFIT_FILE = "refit.json"
FINISHED_FILE = "search_finished.json"  # written by the chief when it stops serving a finished search
OUTPUTS = (SEARCH_FILE, *RESULT_FILES, BEST_DIR, REFIT_FILE, PROJECT, FINISHED_FILE)
ENV_VARS = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
CHIEF_ID = "chief"
# Fields that are the search's business, not the base config's, while comparing on resume.
_NOT_COMPARED = {"train": ("output_dir", "overwrite", "tensorboard", "log_every_steps"),  # logging changes no trial
                 "tune": ("max_trials", "refit", "role", "oracle", "tuner_id",
                          "keep_trial_saved_models", "oracle_wait")}


def default_output_dir(base: RunConfig, config_path: Optional[str] = None) -> Path:
    """``tuning/<YAML name>``, else ``tuning/<encoder name>``: stable, so re-running resumes."""
    name = Path(config_path).stem if config_path else Path(base.model.encoder.rstrip("/")).name
    return Path("tuning") / re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60]


# ------------------------------------------------------------------------ hyperparameters

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
            hp.Fixed(dim.name, hyperparameter_value(dim.choices[0]))
        else:
            hp.Choice(dim.name, [hyperparameter_value(c) for c in dim.choices])
    return hp


# ------------------------------------------------------------------------------- the tuner

class FineTuningTuner(kt.Tuner):
    """A Keras Tuner ``Tuner`` whose trials are ``training.fit`` runs of tf_keras models.

    Each trial trains into ``<project>/trial_<id>/run/``, a normal run directory,
    and reports its validation metrics at the best epoch. ``save_model`` is a no-op
    (``training.fit`` keeps the best weights itself) and ``load_model`` rebuilds the
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

    def __init__(self, oracle: kt.Oracle, base: RunConfig, objective: Union[Monitor, str], *,
                 fit_verbose: Any = 0, keep_saved_models: bool = False, **kwargs: Any):
        self.base = base
        self.objective = Monitor.parse(objective, "--objective")
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
        logger.info("Trial %s started: %s", trial.trial_id, format_values(trial.hyperparameters.values))

    def run_trial(self, trial, *args: Any, **kwargs: Any) -> dict[str, float]:
        """Trains the trial's configuration and returns its metrics at the best epoch."""
        result_file = Path(self.get_trial_dir(trial.trial_id)) / RESULT_FILE
        if result_file.is_file():  # trained before an interruption; only the report was lost
            logger.info("Trial %s already trained; reporting its saved result.", trial.trial_id)
            return json.loads(result_file.read_text())
        config = self.trial_config(trial)
        run_dir = Path(config.train.output_dir)
        if run_dir.exists():  # finished but unreported: retrain for an exact duration
            shutil.rmtree(run_dir)
        _discard_unresumable_partial(rundir.partial_dir(run_dir))
        start = time.perf_counter()
        tf_keras.backend.clear_session()
        run = training.fit(config, verbose=self.fit_verbose)
        metrics = best_epoch_metrics(run.history, self.objective)
        metrics["duration_seconds"] = round(time.perf_counter() - start, 3)
        atomic.write_text(result_file, json.dumps(metrics, indent=1) + "\n")
        if not self.keep_saved_models:  # a model-sized copy per trial; --refit exports the best
            shutil.rmtree(run_dir / rundir.SAVED_MODEL, ignore_errors=True)
        return metrics

    def on_trial_end(self, trial) -> None:
        super().on_trial_end(trial)  # reports to the oracle and saves the tuner state
        _log_trial_end(trial_record(self.oracle.get_trial(trial.trial_id)), self.objective)
        if self.after_trial is not None:
            self.after_trial()

    def save_model(self, trial_id: str, model: Any, step: int = 0) -> None:
        """Nothing to do: ``training.fit`` keeps the best epoch's weights in the trial's run."""

    def load_model(self, trial) -> Any:
        """The trial's trained classifier: a tf_keras model, ids -> ``[batch, C]`` logits."""
        return load_trial_model(self.trial_run_dir(trial.trial_id))


def _log_trial_end(record: TrialRecord, objective: Union[Monitor, str]) -> None:
    """Logs one line: a completed trial's objective and time, or why it failed."""
    if record.status == "COMPLETED":
        m = record.metrics
        logger.info("Trial %s completed in %.1f s: %s=%.4f at epoch %d of %d.", record.trial_id,
                    m.get("duration_seconds", float("nan")), objective, record.score,
                    int(m.get("best_epoch", 0)), int(m.get("epochs_run", 0)))
    else:
        logger.error("Trial %s %s: %s (the traceback is in its trial.json)", record.trial_id,
                     record.status.lower(), record.message)


def _discard_unresumable_partial(partial: Path) -> None:
    """Removes a trial's partial run folder that a kill left half-created.

    ``training.fit`` creates the folder, then writes config.yaml and labels.txt into it,
    before any checkpoint. Killed in between, the folder reads as "an interrupted run
    with a different configuration" on the re-run, and the trial failed. It holds
    nothing to resume, and it is the trial's own: start the trial over.
    """
    if partial.is_dir() and not all((partial / name).is_file() for name in (rundir.CONFIG, rundir.LABELS)):
        logger.info("%s was killed while being created; nothing to resume, starting the trial over.",
                    partial)
        shutil.rmtree(partial)


def load_trial_model(run_dir: Union[str, os.PathLike]) -> Any:
    """Rebuilds a run directory's tf_keras classifier with its best weights (``serving.restore``).

    Args:
        run_dir: a ``training.fit`` run directory (config.yaml, labels.txt, checkpoints/).

    Returns:
        The classifier: a dict of ``[batch, seq] int32`` inputs -> ``[batch, C]``
        float32 logits. Tokenise with ``preprocessing.TextPreprocessor``. Its layers take
        the run's Keras policy (``training.mixed_precision``), as the run's saved model's do.

    Raises:
        TfclfError: the run's config.yaml is missing, not UTF-8 YAML, or not a mapping
            of valid sections, naming the file; or its files do not make a classifier.
    """
    return restore.restore_classifier(restore.read_run(run_dir, role="run")).classifier


def build_oracle(tune: TuneConfig, base: RunConfig, space: SearchSpace) -> kt.Oracle:
    """The Keras Tuner oracle of ``tune.tuner`` over ``space``, seeded by ``--seed``."""
    common = dict(objective=kt.Objective(tune.objective.value, direction=tune.objective.mode),
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
        base: the configuration every trial starts from; ``training.output_dir`` and
            ``training.overwrite`` are the search's folder and "start over".
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
    requested = output_dir or base.train.output_dir or default_output_dir(base, config_path)
    overwrite = base.train.overwrite
    published = _staged_search(str(requested), base, tune, overwrite) if object_storage.is_remote(requested) else None
    out = object_storage.staging_dir(published) if published else Path(requested)
    if tune.role is not Role.WORKER:  # before any data is read
        _check_output_dir(out, base, overwrite)
    base = base.replace("train", output_dir=None, overwrite=False)
    _check(base, tune, space)
    if tune.role is not Role.CHIEF:  # the chief trains nothing and may not have the data
        training.prepare(base)  # bad data or encoder: one error now, not a failed trial each
    tuner_id = _configure_environment(tune)
    kt_config.DEBUG = False  # failed trials are logged in one line; trial.json has the traceback
    is_worker = tune.role is Role.WORKER
    if not is_worker:
        _prepare_output_dir(out, base, tune, space, overwrite)
    else:
        if overwrite:
            logger.warning("--overwrite is the chief's decision; this worker ignores it.")
        # Before the tuner exists: it creates folders in --output-dir, which the chief must
        # find empty or its own. The chief serves only after preparing the folder.
        logger.info("Worker %s asking the oracle at %s for trials.", tuner_id, tune.oracle)
        if not _wait_for_oracle(tune, out):
            logger.info("Worker %s done: %s says the search is over and its chief has left.",
                        tuner_id, out / FINISHED_FILE)
            return SearchResult(out, [], None, None)
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
                        ", ".join(space.names), tune.objective, tune.objective.mode)
    try:
        if tune.role is Role.CHIEF:
            tuner.save()
            logged = set(oracle.end_order)

            def progress() -> None:
                for trial_id in oracle.end_order:
                    if trial_id not in logged:
                        logged.add(trial_id)
                        _log_trial_end(trial_record(oracle.trials[trial_id]), tune.objective)
                write_results(oracle, out, base, tune, space)

            serve_oracle(oracle, tune.oracle_address(), on_progress=progress)
            atomic.write_text(out / FINISHED_FILE, json.dumps(
                {"trials_ended": len(oracle.end_order), "max_trials": tune.max_trials}) + "\n")
        else:
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
    if published:
        result.published = object_storage.publish(out, published, OutputKind.TUNING, overwrite=True)
    return result


def _staged_search(url: str, base: RunConfig, tune: TuneConfig, overwrite: bool) -> str:
    """A search folder on a store: checked there, then staged locally (``object_storage.staging_dir``)
    and published when the search ends. A search published earlier is copied down to resume,
    unless the local staging copy is already there or ``--overwrite`` starts over."""
    if tune.role is not Role.STANDALONE:
        raise TfclfError("--role chief|worker needs an --output-dir that every tuner shares (NFS, a mounted "
                         "bucket): a store path is searched on the local disk and published at the end. "
                         f"Received: output_dir={url!r}")
    object_storage.check_dir(url, OutputKind.TUNING, flag="--output-dir", overwrite=overwrite, reuse=True,
                             inputs=[outputs.Input(flag, path) for flag, path in base.input_paths()])
    staged = object_storage.staging_dir(url)
    if not overwrite and not staged.exists() and object_storage.read_kind(url) == OutputKind.TUNING.value:
        logger.info("Resuming the search published to %s.", url)
        filesystem.download(url, staged)
    return url


def _wait_for_oracle(tune: TuneConfig, out: Path, poll_seconds: float = 1.0) -> bool:
    """Waits up to ``tune.oracle_wait`` seconds for the chief's oracle to accept connections.

    Keras Tuner's client waits up to an hour on every call (gRPC ``wait_for_ready``), so a
    worker started after its chief has finished and left would hang. Here the wait is
    bounded, every call after it gets the same bound, and a worker that shares the search
    folder sees the chief's ``search_finished.json`` and stops at once.

    Returns:
        True once the oracle answers; False when the folder says the search is over.

    Raises:
        TfclfError: if the oracle does not answer within ``tune.oracle_wait`` seconds.
    """
    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_client

    oracle_client.TIMEOUT = tune.oracle_wait  # read by every client call; Keras Tuner's default is 3600 s
    host, port = tune.oracle_address()
    deadline = time.monotonic() + tune.oracle_wait
    with grpc.insecure_channel(f"{host}:{port}") as channel:
        stub = protos.get_service_grpc().OracleStub(channel)
        while True:
            if (out / FINISHED_FILE).is_file():
                return False
            try:  # a read-only call that waits for the server, at most poll_seconds
                stub.GetSpace(protos.get_service().GetSpaceRequest(), wait_for_ready=True,
                              timeout=max(0.05, min(poll_seconds, deadline - time.monotonic())))
                return True
            except grpc.RpcError as e:
                if e.code() is not grpc.StatusCode.DEADLINE_EXCEEDED:
                    raise TfclfError(f"--oracle {host}:{port}: the oracle answered with an error: "
                                     f"{e.code().name}: {e.details()}") from None
            if time.monotonic() >= deadline:
                raise TfclfError(
                    f"--oracle {host}:{port}: no oracle answered within --oracle-wait "
                    f"{tune.oracle_wait:g} s. Start the chief (--role chief --oracle "
                    f"{host}:{port}) first, or check the address; a chief exits once its "
                    "search is over.")


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
    (out / FINISHED_FILE).unlink(missing_ok=True)  # a resumed search is not over until its chief says so
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


# --------------------------------------------------------------------------------- refit

def refit(result: SearchResult, out: Path, *, fit_verbose: Any = 0) -> Any:
    """Trains the best configuration into ``<out>/best/``, a normal ``training.fit`` run directory.

    Skipped (the existing run is returned as None) when ``best/`` already holds the
    refit of the same trial.

    Raises:
        TfclfError: if no trial completed.
    """
    if result.best is None:
        raise TfclfError(f"--refit needs a completed trial; {out} has none. See {out / SUMMARY_MD}.")
    best_dir = out / BEST_DIR
    marker = out / REFIT_FILE
    stamp = {"trial_id": result.best.trial_id,
             "hyperparameters": {k: yaml_value(v) for k, v in result.best.hyperparameters.items()}}
    if best_dir.is_dir() and marker.is_file() and json.loads(marker.read_text()) == stamp:
        logger.info("%s already holds the refit of trial %s.", best_dir, result.best.trial_id)
        return None
    if best_dir.exists():
        shutil.rmtree(best_dir)
    marker.unlink(missing_ok=True)
    logger.info("Refitting trial %s into %s.", result.best.trial_id, best_dir)
    tf_keras.backend.clear_session()
    run = training.fit(result.best_config.replace("train", output_dir=str(best_dir)), verbose=fit_verbose)
    atomic.write_text(marker, json.dumps(stamp, indent=1) + "\n")
    return run
