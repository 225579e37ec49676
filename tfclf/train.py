"""A training run: data -> model -> fit with best-checkpoint restore -> evaluation -> run directory.

Example::

    import tfclf
    from tfclf.config import RunConfig, DataConfig

    run = tfclf.fit(RunConfig(data=DataConfig(data="tickets.csv")))
    print(run.metrics["f1_macro"], run.output_dir)

The run directory is assembled in a hidden ``.<name>.partial`` folder beside it and
renamed into place only when everything is written, so a failed run never leaves
a half-written ``--output-dir``.
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import tensorflow as tf
import tf_keras
import yaml

from tfclf import data as data_lib
from tfclf import encoders, evaluate, export, metrics, optimization
from tfclf.config import RunConfig, save_yaml
from tfclf.errors import TfclfError
from tfclf.labels import LabelVocabulary
from tfclf.model import build_classifier
from tfclf.preprocessing import TextPreprocessor

logger = logging.getLogger(__name__)

SAMPLE_DATA = Path(__file__).parent / "resources" / "support_tickets.csv"
BEST_WEIGHTS = "checkpoints/best"


@dataclasses.dataclass
class Run:
    """The result of ``fit``: where it was written and what it measured."""

    output_dir: Path
    metrics: dict[str, Any]
    config: RunConfig
    labels: LabelVocabulary
    history: dict[str, list[float]]
    eval_split: str


class TrainThroughput(tf_keras.callbacks.Callback):
    """Seconds spent in training batches only: each epoch until validation starts."""

    def __init__(self):
        super().__init__()
        self.seconds = 0.0
        self.epochs = 0
        self._start: Optional[float] = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_test_begin(self, logs=None):
        self._stop()

    def on_epoch_end(self, epoch, logs=None):
        self._stop()
        self.epochs += 1

    def _stop(self):
        if self._start is not None:
            self.seconds += time.perf_counter() - self._start
            self._start = None


def default_output_dir(config: RunConfig) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(config.model.encoder.rstrip("/")).name)[:40]
    return Path("runs") / f"{name}-{datetime.datetime.now():%Y%m%d-%H%M%S}"


def resolve_config(config: RunConfig) -> RunConfig:
    """Fills the defaults that depend on the environment (output dir) into the config."""
    if config.train.output_dir is None:
        config = config.replace("train", output_dir=str(default_output_dir(config)))
    return config


def _monitor_mode(monitor: str) -> str:
    return "min" if monitor.endswith("loss") else "max"


def fit(config: RunConfig, *, verbose: Any = "auto") -> Run:
    """Trains, selects the best epoch, evaluates and writes a complete run directory.

    Args:
        config: the run configuration; missing inputs fall back to the bundled sample.
        verbose: Keras progress output (1: progress bars, 2: one line per epoch, 0: none).

    Returns:
        A ``Run`` with ``metrics`` (the metrics.json payload) and ``output_dir``.

    Raises:
        TfclfError: on bad input; nothing is written in that case.
    """
    config = resolve_config(config)
    out = Path(config.train.output_dir)
    if out.exists() and not config.train.overwrite:
        raise TfclfError(
            f"--output-dir {str(out)!r} already exists. Choose another folder or pass --overwrite.")
    logger.info("Resolved config:\n%s", yaml.safe_dump(config.to_dict(), sort_keys=False).rstrip())
    tf_keras.utils.set_random_seed(config.train.seed)

    # Everything that can reject the input runs before anything is written.
    default_data = str(SAMPLE_DATA) if not (config.data.data or config.data.train) else None
    if default_data:
        logger.info("No data given: using the bundled sample %s", SAMPLE_DATA)
    splits = data_lib.load_splits(config.data, config.train.seed, default_data=default_data)
    labels = LabelVocabulary(splits.train[data_lib.LABEL])
    y = {name: labels.encode(df[data_lib.LABEL].tolist(), where=f"{name} split")
         for name, df in splits.items()}
    resolved = encoders.resolve(config.model.encoder, config.model.preprocessor,
                                seq_length=config.model.seq_length, pooling=config.model.pooling)
    config = config.replace("model", seq_length=resolved.seq_length, pooling=resolved.pooling)

    work = out.parent / f".{out.name}.partial"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    try:
        run = _fit_in(work, config, splits, labels, y, resolved, verbose)
        if out.exists():
            shutil.rmtree(out)
        os.replace(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    run.output_dir = out
    logger.info("Run written to %s", out)
    return run


def _fit_in(work: Path, config: RunConfig, splits: data_lib.Splits, labels: LabelVocabulary,
            y: dict[str, np.ndarray], resolved: encoders.ResolvedEncoder, verbose: Any) -> Run:
    tc, mc = config.train, config.model
    save_yaml(config, work / "config.yaml", extra={"resolved_encoder": {
        "encoder": resolved.encoder_handle, "preprocessor": resolved.preprocessor_handle}})
    labels.save(work / "labels.txt")

    tf_keras.mixed_precision.set_global_policy(
        "float32" if tc.mixed_precision.value == "none" else tc.mixed_precision.value)
    preprocess = TextPreprocessor(resolved.preprocessor_path, resolved.seq_length)

    def dataset(name: str, shuffle: bool):
        df = getattr(splits, name)
        if df is None:
            return None
        return data_lib.make_dataset(
            df[data_lib.TEXT].tolist(), y[name], preprocess, batch_size=tc.batch_size, shuffle=shuffle,
            seed=tc.seed, shuffle_buffer=config.data.shuffle_buffer, dynamic_padding=tc.dynamic_padding)

    train_ds, val_ds = dataset("train", True), dataset("validation", False)
    models = build_classifier(resolved.encoder_path, len(labels), pooling=resolved.pooling,
                              dropout=mc.dropout, trainable=mc.trainable)
    classifier = models.classifier
    classifier.compile(
        optimizer=optimization.build_optimizer(config.optimizer),
        loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                 metrics.F1Macro(len(labels)), metrics.MatthewsCorrelation(len(labels))],
        jit_compile=tc.jit_compile,
    )

    throughput = TrainThroughput()
    callbacks: list[tf_keras.callbacks.Callback] = [
        throughput, tf_keras.callbacks.CSVLogger(str(work / "history.csv"))]
    best = work / BEST_WEIGHTS
    if val_ds is not None:
        callbacks.append(tf_keras.callbacks.ModelCheckpoint(
            str(best), monitor=tc.monitor, mode=_monitor_mode(tc.monitor),
            save_best_only=True, save_weights_only=True, verbose=0))
        if tc.patience is not None:
            callbacks.append(tf_keras.callbacks.EarlyStopping(
                monitor=tc.monitor, mode=_monitor_mode(tc.monitor), patience=tc.patience))
    else:
        logger.warning("No validation split: keeping the weights of the last epoch "
                       "(--monitor %s needs validation data).", tc.monitor)

    history = classifier.fit(train_ds, validation_data=val_ds, epochs=tc.epochs,
                             callbacks=callbacks, verbose=verbose)
    if val_ds is not None:
        classifier.load_weights(str(best)).expect_partial()
        best_epoch = int(np.argmin(history.history[tc.monitor]) if _monitor_mode(tc.monitor) == "min"
                         else np.argmax(history.history[tc.monitor]))
        logger.info("Restored the best epoch (%d) by %s = %.4f", best_epoch + 1, tc.monitor,
                    history.history[tc.monitor][best_epoch])
    else:
        classifier.save_weights(str(best))

    eval_split = "test" if splits.test is not None else ("validation" if splits.validation is not None
                                                         else "train")
    eval_ds = dataset(eval_split, False)
    probabilities = tf.nn.softmax(classifier.predict(eval_ds, verbose=0), axis=-1).numpy()
    result = evaluate.classification_metrics(y[eval_split], probabilities, labels.names)
    result["split"] = eval_split
    n_train = len(splits.train)
    result["train_examples_per_sec"] = (n_train * throughput.epochs / throughput.seconds
                                        if throughput.seconds else 0.0)
    result["train_seconds"] = round(throughput.seconds, 3)
    result["epochs_run"] = throughput.epochs
    evaluate.write_metrics(result, work / "metrics.json")

    module = export.ServingModule(resolved.preprocessor_path, resolved.seq_length, classifier,
                                  models.embedder, labels.names)
    export.save_serving_model(module, work / export.SAVED_MODEL_DIR,
                              asset_files=[work / "labels.txt", work / "config.yaml"])
    return Run(output_dir=work, metrics=result, config=config, labels=labels,
               history={k: [float(v) for v in vals] for k, vals in history.history.items()},
               eval_split=eval_split)
