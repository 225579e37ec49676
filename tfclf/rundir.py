"""The run directory's contract: what a run folder holds, under which names, and one reader each.

``python -m tfclf.fit`` writes a run directory; export, evaluate, predict, explain,
the tuner and the reports read it. They all go through this module, so a file is
named in one place and parsed one way::

    RUN/
      .tfclf-output.json   marker: tfclf made this folder, and it is a run (tfclf.outputs)
      config.yaml          the resolved RunConfig, plus resolved_encoder: {encoder, preprocessor}
      labels.txt           one label per line, in id order (tfclf.labels)
      history.csv          Keras CSVLogger rows, one per epoch, every session of a resumed run
      metrics.json         the evaluation of the best epoch (tfclf.evaluate)
      checkpoints/best     the best epoch's weights (a TF checkpoint prefix)
      saved_model/         the serving SavedModel (tfclf.serving)
      data_report.json     what the data pipeline read, dropped and changed (tfclf.data)
      seeds/<seed>/        one run directory per seed of a multi-seed run
      baselines/<method>/  fit --baselines: each baseline's metrics.json (tfclf.baselines)
      logs/                TensorBoard event files, unless --no-tensorboard (tfclf.tensorboard_logs)
      MODEL_CARD.md        what the model is, how it scored and how to call it (tfclf.model_card)
    .RUN.partial/          the run while it trains; resume/ holds its BackupAndRestore state

No TensorFlow import: reading a run's files must stay cheap.
"""
from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from tfclf import config as config_lib
from tfclf.config import Monitor, RunConfig
from tfclf.errors import TfclfError
from tfclf.labels import LabelVocabulary
from tfclf.outputs import MARKER

PathLike = Union[str, os.PathLike]

CONFIG = "config.yaml"
LABELS = "labels.txt"
HISTORY = "history.csv"
METRICS = "metrics.json"
CHECKPOINTS = "checkpoints"
BEST_WEIGHTS = f"{CHECKPOINTS}/best"
SAVED_MODEL = "saved_model"
DATA_REPORT = "data_report.json"
SEEDS = "seeds"
RESUME = "resume"
THRESHOLDS = "thresholds.json"  # multi-label decision thresholds (tfclf.thresholds)
BASELINES = "baselines"  # baselines/<method>/metrics.json: fit --baselines, beside the model's
LOGS = "logs"  # TensorBoard event files (tfclf.tensorboard_logs); seeds/<seed>/logs/ per seed
MODEL_CARD = "MODEL_CARD.md"  # tfclf.model_card; an export has it in assets.extra/ too
RESOLVED_ENCODER = "resolved_encoder"  # the top-level config.yaml key beside the RunConfig sections

__all__ = ["CONFIG", "LABELS", "HISTORY", "METRICS", "CHECKPOINTS", "BEST_WEIGHTS", "SAVED_MODEL",
           "DATA_REPORT", "SEEDS", "RESUME", "THRESHOLDS", "BASELINES", "LOGS", "MODEL_CARD", "MARKER",
           "RESOLVED_ENCODER", "RunDirectory", "partial_dir", "read_history", "best_epoch", "best_value"]


def _json_object(path: Path, what: str) -> dict[str, Any]:
    """A JSON file holding an object; TfclfError naming the file otherwise."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise TfclfError(f"{path}: not a JSON file ({e}).") from None
    if not isinstance(payload, dict):
        raise TfclfError(f"{path}: expected {what}. Received: {type(payload).__name__}")
    return payload


def partial_dir(output_dir: PathLike) -> Path:
    """The hidden folder a run is assembled (and resumed) in: ``.<name>.partial`` beside it."""
    output_dir = Path(output_dir)
    return output_dir.parent / f".{output_dir.name}.partial"


def read_history(path: PathLike) -> dict[str, list[float]]:
    """Reads a Keras ``history.csv`` into columns, one value per epoch.

    A resumed run's file repeats the epochs its last session re-ran; the last row of
    an epoch wins, because it belongs to the session whose weights were kept.

    Returns:
        ``{column: values}`` in epoch order, without the ``epoch`` column; cells that
        are not numbers (Keras writes ``NA`` for a metric an epoch lacks) are NaN.
        Empty when the file is missing or has no rows.
    """
    path = Path(path)
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_epoch: dict[int, dict[str, str]] = {}
    for i, row in enumerate(rows):
        try:
            epoch = int(float(row.get("epoch", i)))
        except (TypeError, ValueError):
            epoch = i
        by_epoch[epoch] = row
    columns: dict[str, list[float]] = {}
    for epoch in sorted(by_epoch):
        for key, value in by_epoch[epoch].items():
            if key is None or key == "epoch":
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan
            columns.setdefault(key, []).append(number)
    return columns


def best_epoch(values: Sequence[float], monitor: Union[Monitor, str]) -> Optional[int]:
    """The 0-based index of the best epoch by ``monitor``: the one rule every caller uses.

    NaN (and infinite) epochs never win: Keras' ModelCheckpoint never saves them either.
    The earliest of equal values wins: ModelCheckpoint saves only on a strict improvement.

    Returns:
        The index, or None when no value is a finite number.
    """
    mode = Monitor.parse(monitor).mode
    # Infinities never win either: ModelCheckpoint starts from +inf (min) or -inf (max)
    # and saves only on a strict improvement.
    finite = [(v, i) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    if not finite:
        return None
    if mode == "min":
        return min(finite)[1]
    return max(finite, key=lambda vi: (vi[0], -vi[1]))[1]


def best_value(history: dict[str, Sequence[float]], monitor: Union[Monitor, str]) -> Optional[float]:
    """``monitor``'s value at the ``best_epoch`` of ``history``; None when there is none."""
    values = history.get(Monitor.parse(monitor).value) or []
    best = best_epoch(values, monitor)
    return None if best is None else float(values[best])


class RunDirectory:
    """A run directory, read through its contract.

    Args:
        path: the folder.
        role: how errors name it (``--model``, ``RUN_DIR``, ``run``).
    """

    def __init__(self, path: PathLike, role: str = "run"):
        self.path = Path(path)
        self.role = role

    def __repr__(self) -> str:
        return f"RunDirectory({str(self.path)!r})"

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    # --------------------------------------------------------------------- what is there
    def exists(self, name: str) -> bool:
        return (self.path / name).exists()

    @property
    def has_best_weights(self) -> bool:
        return (self.path / f"{BEST_WEIGHTS}.index").is_file()

    @property
    def has_saved_model(self) -> bool:
        return (self.path / SAVED_MODEL / "saved_model.pb").is_file()

    @property
    def is_multi_seed(self) -> bool:
        return (self.path / SEEDS).is_dir()

    def require(self, *names: str) -> None:
        """Raises a TfclfError naming the files (of ``names``) the run lacks."""
        missing = [n for n in names if not (self.path / n).exists()
                   and not (n == BEST_WEIGHTS and self.has_best_weights)]
        if not self.path.is_dir():
            raise TfclfError(f"{self.role}: no such directory: {str(self.path)!r}")
        if missing:
            hint = (" (a multi-seed run: use one of its seeds/<seed>/ folders)"
                    if self.is_multi_seed and BEST_WEIGHTS in missing else "")
            raise TfclfError(f"{self.role} {str(self.path)!r} is not a finished tfclf run: "
                             f"missing {missing}{hint}.")

    # --------------------------------------------------------------------------- readers
    def config_dict(self) -> dict[str, Any]:
        """config.yaml as nested dicts, ``resolved_encoder`` included; {} when absent.

        Raises:
            TfclfError: the file is not UTF-8 YAML or not a mapping of sections.
        """
        path = self.path / CONFIG
        if not path.is_file():
            return {}
        return config_lib.load_sections(path, role=self.role)

    def config(self) -> RunConfig:
        """config.yaml as the validated RunConfig the run trained with.

        Raises:
            TfclfError: the file is missing, damaged or holds invalid values, naming it.
        """
        path = self.path / CONFIG
        if not path.is_file():
            raise TfclfError(f"{self.role} {str(self.path)!r} has no {CONFIG}: it is not a tfclf run directory.")
        saved = self.config_dict()
        return config_lib.from_dict({k: v for k, v in saved.items() if k in config_lib.SECTIONS},
                                    where=f"{self.role} {path}")

    def resolved_encoder(self) -> dict[str, str]:
        """``{encoder, preprocessor}``: the local handles the run resolved; {} for older runs."""
        value = self.config_dict().get(RESOLVED_ENCODER)
        return {k: str(v) for k, v in value.items()} if isinstance(value, dict) else {}

    def monitor(self) -> Monitor:
        """``train.monitor``; the default when config.yaml is missing or damaged."""
        try:
            train = self.config_dict().get("train")
        except TfclfError:
            train = None
        value = train.get("monitor") if isinstance(train, dict) else None
        try:
            return Monitor.parse(value) if value else Monitor.default()
        except TfclfError:
            return Monitor.default()

    def labels(self) -> LabelVocabulary:
        """labels.txt.

        Raises:
            TfclfError: the file is missing, naming the run, or not sorted unique labels.
        """
        if not (self.path / LABELS).is_file():
            raise TfclfError(f"{self.role} {str(self.path)!r} has no {LABELS}: it is not a tfclf run directory.")
        return LabelVocabulary.load(self.path / LABELS)

    def history(self) -> dict[str, list[float]]:
        return read_history(self.path / HISTORY)

    def best_epoch(self, monitor: Union[Monitor, str, None] = None) -> Optional[int]:
        """The 0-based best epoch of history.csv by ``monitor`` (default: the run's)."""
        monitor = Monitor.parse(monitor) if monitor else self.monitor()
        values = self.history().get(monitor.value)
        return best_epoch(values, monitor) if values else None

    def data_report(self) -> dict[str, Any]:
        """data_report.json (``tfclf.data.report``); {} when absent.

        Raises:
            TfclfError: the file is not JSON or not a JSON object.
        """
        path = self.path / DATA_REPORT
        return _json_object(path, "a JSON object") if path.is_file() else {}

    def metrics(self) -> dict[str, Any]:
        """metrics.json.

        Raises:
            TfclfError: the file is missing, not JSON, or not a JSON object.
        """
        path = self.path / METRICS
        if not path.is_file():
            raise TfclfError(f"{self.role} {str(self.path)!r} has no {METRICS}.")
        return _json_object(path, "a JSON object of metrics")
