"""A run's TensorBoard logs: ``RUN/logs/``, read by ``tensorboard --logdir runs/``.

Written by ``python -m tfclf.fit`` unless ``--no-tensorboard``; each seed of ``--seeds``
writes its own ``seeds/<seed>/logs/`` and each trial of ``python -m tfclf.tune`` its
run's, so that the HParams dashboard compares them::

    logs/              the run's resolved config as HParams (hparams_config and hparams)
    logs/train/        step/loss and step/learning_rate every --log-every-steps optimiser
                       steps; epoch/<metric> once per epoch (loss, accuracy, f1_macro, ...)
    logs/validation/   epoch/<metric> of the validation split (history.csv's val_ columns)
    logs/evaluation/   the final evaluation: eval/<metric> of metrics.json, the confusion
                       matrix image (single-label) and the worst misclassified examples

``step/loss`` is Keras' training loss as its progress bar shows it: the mean over the
epoch's batches so far. Step summaries are written from ``on_train_batch_end`` only every
N steps, and read the logs' tensors only then, so that the other steps pay nothing.
Epochs count from 0, as in history.csv. A resumed run appends a new event file: the
steps it runs again appear twice.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
import tensorflow as tf
import tf_keras
from tensorboard.plugins.hparams import api as hp

from tfclf import rundir

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

TRAIN = "train"
VALIDATION = "validation"
EVALUATION = "evaluation"
STEP_LOSS = "step/loss"
STEP_LEARNING_RATE = "step/learning_rate"
EPOCH_PREFIX = "epoch/"
EVAL_PREFIX = "eval/"
CONFUSION_MATRIX = "confusion_matrix"
WORST_MISCLASSIFIED = "worst_misclassified"
WORST_EXAMPLES = 20  # rows of the worst_misclassified table
_TEXT_CHARS = 300  # a longer text is cut in the table

# The metrics.json scalars written as eval/<name> and offered to the HParams table.
EVAL_METRICS = {
    False: ("accuracy", "f1_macro", "f1_weighted", "mcc", "roc_auc", "ece"),
    True: ("f1_micro", "f1_macro", "f1_samples", "subset_accuracy", "hamming_loss", "mcc"),
}
EPOCH_METRICS = ("loss", "accuracy", "f1_macro", "f1_micro", "mcc")  # compile_classifier's

__all__ = ["EPOCH_METRICS", "EVAL_METRICS", "Misclassified", "TrainingLogs", "flat_hparams", "log_dir",
           "worst_misclassified", "write_evaluation"]


def log_dir(run_dir: PathLike) -> Path:
    """``RUN/logs``: where a run's event files go."""
    return Path(run_dir) / rundir.LOGS


def flat_hparams(config: Mapping[str, Mapping[str, Any]]) -> dict[str, Union[bool, int, float, str]]:
    """A run config's sections as HParams: ``{"train.epochs": 3, "model.encoder": "minilm", ...}``.

    Args:
        config: ``RunConfig.to_dict()``: ``{section: {field: YAML value}}``.

    Returns:
        One entry per field; None becomes ``"none"`` and a list its comma-joined values
        (``"1000"``, ``"5e-05,1e-05"``), the types the HParams plugin takes.
    """
    out: dict[str, Union[bool, int, float, str]] = {}
    for section, fields in config.items():
        for name, value in fields.items():
            if value is None:
                value = "none"
            elif isinstance(value, (list, tuple)):
                value = ",".join(str(v) for v in value)
            elif not isinstance(value, (bool, int, float, str)):
                value = str(value)
            out[f"{section}.{name}"] = value
    return out


def _hparams_metrics(multi_label: bool) -> list[hp.Metric]:
    return ([hp.Metric(EPOCH_PREFIX + m, group=VALIDATION) for m in EPOCH_METRICS]
            + [hp.Metric(EPOCH_PREFIX + "loss", group=TRAIN)]
            + [hp.Metric(EVAL_PREFIX + m, group=EVALUATION) for m in EVAL_METRICS[multi_label]])


def _learning_rate(optimizer: tf_keras.optimizers.Optimizer, step: int) -> float:
    """The rate the optimiser used for its ``step``-th update (1-based)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)  # mixed_float16's LossScaleOptimizer
    schedule = getattr(inner, "_learning_rate", None)
    if isinstance(schedule, tf_keras.optimizers.schedules.LearningRateSchedule):
        return float(schedule(max(step - 1, 0)))
    return float(tf_keras.backend.get_value(inner.learning_rate))


class TrainingLogs(tf_keras.callbacks.Callback):
    """Writes the step and epoch summaries of ``fit`` and the run's HParams.

    Add it after ``BackupAndRestore``: it numbers steps from the optimiser's restored
    step count. Under a ``tf.distribute`` strategy the logs it reads are already reduced
    over the replicas.

    Args:
        run_dir: the run folder; the events go into its ``logs/``.
        every_steps: optimiser steps between two step summaries (``--log-every-steps``).
        hparams: the run's ``flat_hparams``.
        multi_label: which evaluation metrics the HParams table offers.
    """

    def __init__(self, run_dir: PathLike, every_steps: int, hparams: Mapping[str, Any], *,
                 multi_label: bool = False):
        super().__init__()
        if every_steps < 1:
            raise ValueError(f"every_steps must be >= 1. Received: {every_steps}")
        self._supports_tf_logs = True  # batch logs stay tensors: read only every N steps
        self.root = log_dir(run_dir)
        self.every_steps = int(every_steps)
        self.hparams = dict(hparams)
        self.multi_label = multi_label
        self.step = 0
        self._writers: dict[str, Any] = {}

    def _writer(self, name: str):
        if name not in self._writers:
            self._writers[name] = tf.summary.create_file_writer(str(self.root / name if name else self.root))
        return self._writers[name]

    def on_train_begin(self, logs=None):
        self.step = int(self.model.optimizer.iterations.numpy())
        with self._writer("").as_default():
            hp.hparams_config(hparams=[hp.HParam(name) for name in self.hparams],
                              metrics=_hparams_metrics(self.multi_label))
            hp.hparams(self.hparams)

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every_steps or not logs or "loss" not in logs:
            return
        with self._writer(TRAIN).as_default(step=self.step):
            tf.summary.scalar(STEP_LOSS, float(logs["loss"]))
            tf.summary.scalar(STEP_LEARNING_RATE, _learning_rate(self.model.optimizer, self.step))

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            split, name = (VALIDATION, key[4:]) if key.startswith("val_") else (TRAIN, key)
            with self._writer(split).as_default(step=epoch):
                tf.summary.scalar(EPOCH_PREFIX + name, float(value))
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


@dataclasses.dataclass(frozen=True)
class Misclassified:
    """One wrong prediction of the worst_misclassified table.

    Attributes:
        index: the example's row in its split (dataset order).
        true: its label; multi-label: its labels joined by ``", "``.
        predicted: the predicted label (labels).
        probability: how sure the model was of its mistake: the predicted label's
            probability; multi-label: of the most confident wrong decision, the label's
            probability when wrongly predicted, 1 - it when wrongly left out.
        text: the example's text, filled in by the caller.
    """

    index: int
    true: str
    predicted: str
    probability: float
    text: str = ""


def worst_misclassified(y_true: np.ndarray, probabilities: np.ndarray, label_names: Sequence[str], *,
                        k: int = WORST_EXAMPLES, thresholds: Optional[np.ndarray] = None) -> list[Misclassified]:
    """The ``k`` wrong predictions the model was most sure of, most confident first.

    Args:
        y_true: ``[N]`` int label ids; multi-label: ``[N, C]`` 0/1 targets.
        probabilities: ``[N, C]`` softmax (multi-label: per-label sigmoid) probabilities.
        label_names: the C labels in id order.
        k: at most this many.
        thresholds: multi-label: ``[C]`` decision thresholds (default 0.5).

    Returns:
        ``Misclassified`` without their texts; ties keep the row order.
    """
    y_true, probabilities = np.asarray(y_true), np.asarray(probabilities, dtype=np.float64)
    names = np.asarray(label_names, dtype=object)
    if y_true.ndim == 1:
        predicted = probabilities.argmax(-1)
        confidence = probabilities.max(-1)
        wrong = np.flatnonzero(predicted != y_true)
        order = wrong[np.argsort(-confidence[wrong], kind="stable")][:k]
        return [Misclassified(int(i), str(names[y_true[i]]), str(names[predicted[i]]), float(confidence[i]))
                for i in order]
    cut = np.full(probabilities.shape[1], 0.5) if thresholds is None else np.asarray(thresholds)
    decisions = probabilities >= cut
    truth = y_true >= 0.5
    sure = np.where(decisions, probabilities, 1.0 - probabilities)  # confidence of each decision
    worst = np.where(decisions != truth, sure, -1.0).max(-1)
    wrong = np.flatnonzero(worst >= 0)
    order = wrong[np.argsort(-worst[wrong], kind="stable")][:k]

    def joined(row: np.ndarray) -> str:
        return ", ".join(names[row]) or "(none)"

    return [Misclassified(int(i), joined(truth[i]), joined(decisions[i]), float(worst[i])) for i in order]


def _cell(text: str) -> str:
    """A Markdown table cell: one line, no pipe, at most ``_TEXT_CHARS`` characters."""
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= _TEXT_CHARS else text[:_TEXT_CHARS - 1] + "…"


def misclassified_markdown(rows: Sequence[Misclassified], split: str) -> str:
    """The worst_misclassified text summary: a Markdown table (TensorBoard renders it)."""
    if not rows:
        return f"No misclassified example in the {split} split."
    lines = [f"The {len(rows)} wrong predictions of the {split} split the model was most sure of.", "",
             "| # | probability | true | predicted | text |", "|---|---|---|---|---|"]
    lines += [f"| {r.index} | {r.probability:.4f} | {_cell(r.true)} | {_cell(r.predicted)} | {_cell(r.text)} |"
              for r in rows]
    return "\n".join(lines)


def write_evaluation(run_dir: PathLike, metrics: Mapping[str, Any], *, step: int,
                     confusion_png: Optional[PathLike] = None, misclassified: Sequence[Misclassified] = (),
                     misclassified_split: str = "validation") -> None:
    """Writes the final evaluation into ``RUN/logs/evaluation/``.

    Args:
        run_dir: the run folder.
        metrics: the metrics.json payload; its ``EVAL_METRICS`` become ``eval/<name>``.
        step: the step the summaries are recorded at (the optimiser's step count).
        confusion_png: the run's confusion matrix plot; None or missing: no image.
        misclassified: the rows of the worst_misclassified table, texts filled in.
        misclassified_split: the split they come from, named in the table.
    """
    multi_label = metrics.get("task") == "multi-label"
    writer = tf.summary.create_file_writer(str(log_dir(run_dir) / EVALUATION))
    with writer.as_default(step=step):
        for name in EVAL_METRICS[multi_label]:
            value = metrics.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                tf.summary.scalar(EVAL_PREFIX + name, float(value))
        if confusion_png is not None and Path(confusion_png).is_file():
            image = tf.image.decode_png(tf.io.read_file(str(confusion_png)), channels=3)
            tf.summary.image(CONFUSION_MATRIX, image[tf.newaxis], step=step,
                             description=f"Confusion matrix of the {metrics.get('split', 'evaluated')} split "
                                         "(rows: true labels; colour: share of the row).")
        tf.summary.text(WORST_MISCLASSIFIED, misclassified_markdown(misclassified, misclassified_split))
    writer.close()
