"""What a search records: each trial's report, trials.csv, summary.md and the best trial's files.

A search's results, in its output directory (``tfclf.tuning.tuner`` writes them after
every trial, from the oracle's records)::

    trials.csv                 one row per trial: hyperparameters, objective, epochs, duration, status
    summary.md                 the trials ranked by the objective
    best_hyperparameters.yaml  the best trial: id, objective value, searched values
    best_config.yaml           the best trial's full configuration (``fit --config`` takes it)

No TensorFlow import: the oracle and its trials are read through their attributes.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math
from pathlib import Path
from typing import Any, Optional, Union

import yaml

from tfclf import atomic, config as config_lib, rundir
from tfclf.config import Monitor, RunConfig
from tfclf.errors import TfclfError
from tfclf.tuning.config import TuneConfig
from tfclf.tuning.space import Dimension, Sampling, SearchSpace, config_for_trial, hyperparameter_value

TRIALS_CSV = "trials.csv"
SUMMARY_MD = "summary.md"
BEST_HYPERPARAMETERS = "best_hyperparameters.yaml"
BEST_CONFIG = "best_config.yaml"
BEST_DIR = "best"  # the --refit run directory
RESULT_FILES = (TRIALS_CSV, SUMMARY_MD, BEST_HYPERPARAMETERS, BEST_CONFIG)
HYPERBAND_KEYS = ("tuner/epochs", "tuner/initial_epoch", "tuner/bracket", "tuner/round",
                  "tuner/trial_id")
# Reported with the objective; stored by the oracle, so the chief sees them too.
TRIAL_STATS = ("best_epoch", "epochs_run", "duration_seconds")


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
        output_dir: the search's folder (for a search on a store, its local staging copy).
        trials: all trials in start order (empty on a worker, which has no oracle).
        best: the best completed trial, if any.
        best_config: its full configuration.
        refit: the ``train.Run`` of ``--refit``, else None.
        tuner: the ``tuner.FineTuningTuner``, for Keras Tuner's own queries
            (``get_best_hyperparameters``, ``get_best_models``, ``results_summary``).
        published: an ``--output-dir`` on a store: its URL, where the search was
            published when it finished (``tfclf.object_storage``).
    """

    output_dir: Path
    trials: list[TrialRecord]
    best: Optional[TrialRecord]
    best_config: Optional[RunConfig]
    refit: Any = None
    tuner: Any = None
    published: Optional[str] = None


def best_epoch_metrics(history: dict[str, list[float]], objective: Union[Monitor, str]) -> dict[str, float]:
    """The metrics of the epoch that is best by ``objective``, plus ``best_epoch``/``epochs_run``.

    The best epoch is ``rundir.best_epoch``'s: the rule the trial's run kept its weights by.

    Raises:
        TfclfError: if the history has no ``objective`` (no validation split), or no
            finite value of it.
    """
    objective = Monitor.parse(objective, "--objective")
    series = history.get(objective)
    if not series:
        raise TfclfError(
            f"--objective {objective} needs validation data, but the trial recorded no "
            f"{objective}. Give --validation or a --split with a validation share.")
    best = rundir.best_epoch(series, objective)
    if best is None:
        raise TfclfError(f"Every epoch gave {objective}=nan; the training diverged.")
    out = {name: float(values[best]) for name, values in history.items()
           if len(values) == len(series)}
    out.update(best_epoch=float(best + 1), epochs_run=float(len(series)))
    return out


def trial_record(trial: Any) -> TrialRecord:
    """A Keras Tuner trial as a ``TrialRecord``."""
    metrics = {name: float(history.get_last_value())
               for name, history in trial.metrics.metrics.items()
               if history.get_last_value() is not None}
    message = (trial.message or "").strip().splitlines()
    score = trial.score if trial.status == "COMPLETED" else None
    return TrialRecord(trial_id=trial.trial_id, status=str(trial.status),
                       score=None if score is None else float(score),
                       hyperparameters=dict(trial.hyperparameters.values), metrics=metrics,
                       message=message[-1] if message else "")


def trial_records(oracle: Any) -> list[TrialRecord]:
    """Every trial the oracle knows, in start order."""
    order = list(oracle.start_order) + sorted(set(oracle.trials) - set(oracle.start_order))
    return [trial_record(oracle.trials[i]) for i in order if i in oracle.trials]


def rank(records: list[TrialRecord], objective: Union[Monitor, str]) -> list[TrialRecord]:
    """Completed trials, best first (ties: the earlier trial)."""
    done = [r for r in records if r.status == "COMPLETED" and r.score is not None
            and not math.isnan(r.score)]
    sign = 1 if Monitor.parse(objective, "--objective").mode == "min" else -1
    return sorted(done, key=lambda r: (sign * r.score, r.trial_id))


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def format_values(values: dict[str, Any]) -> str:
    """``name=value, ...`` of a trial's hyperparameters (of Hyperband's, only its epoch budget)."""
    return ", ".join(f"{k}={_format_value(v)}" for k, v in values.items()
                     if k not in HYPERBAND_KEYS or k == "tuner/epochs")


def write_results(oracle: Any, out: Path, base: RunConfig, tune: TuneConfig,
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
            "objective": {"name": tune.objective.value, "direction": tune.objective.mode,
                          "value": best.score},
            "hyperparameters": {k: yaml_value(v) for k, v in best.hyperparameters.items()},
            "metrics": {k: int(v) if k in ("best_epoch", "epochs_run") else v
                        for k, v in best.metrics.items()},
        }, sort_keys=False))
        config_lib.save_yaml(best_config, out / BEST_CONFIG)
    atomic.write_text(out / SUMMARY_MD, format_summary(records, ranked, tune, space, hp_names))
    return SearchResult(out, records, best, best_config)


def yaml_value(value: Any) -> Any:
    """A hyperparameter value as plain YAML: numpy scalars become Python numbers."""
    return value.item() if hasattr(value, "item") else value


def _trials_csv(records: list[TrialRecord], hp_names: list[str], metric_names: list[str],
                objective: Monitor) -> str:
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
        f"({'lower' if tune.objective.mode == 'min' else 'higher'} is better, "
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
                  + format_values({k: best.hyperparameters[k] for k in hp_names
                                    if k in best.hyperparameters}) + ".",
                  f"Its configuration is `{BEST_CONFIG}` (`python -m tfclf.fit --config` takes it); "
                  f"`--refit` trains it into `{BEST_DIR}/`."]
    return "\n".join(lines) + "\n"


def _describe(dim: Dimension) -> str:
    if dim.is_range:
        extra = f", step {dim.step:g}" if dim.step else ""
        extra += f", {dim.sampling.value}" if dim.sampling is not Sampling.LINEAR else ""
        return f"[{dim.min:g}, {dim.max:g}{extra}]"
    return "{" + ", ".join(_format_value(hyperparameter_value(c)) for c in dim.choices) + "}"
