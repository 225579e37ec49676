"""A training run: data -> model -> fit with best-checkpoint restore -> evaluation -> run directory.

Example::

    import tfclf
    from tfclf.config import RunConfig, DataConfig

    run = tfclf.fit(RunConfig(data=DataConfig(data="tickets.csv")))
    print(run.metrics["f1_macro"], run.output_dir)

The run directory is assembled in a hidden ``.<name>.partial`` folder beside it and
renamed into place only when everything is written, so ``--output-dir`` never holds
half a run. The partial folder is also the resume state: it keeps a Keras
``BackupAndRestore`` checkpoint every ``--save-every-steps`` steps, and re-running
the same command after an interruption (Ctrl-C, ``kill -9``, a lost machine)
continues from it instead of starting over. An ``--output-dir`` on a store
(``gs://bucket/runs/a``) is assembled the same way in a local staging folder and
published when complete, its marker last (``tfclf.object_storage``).
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
import math
import re
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import tensorflow as tf
import tf_keras
import yaml

from tfclf import (atomic, baselines, data as data_lib, distribute, encoders, evaluation, metrics, model_card,
                   native_encoder, object_storage, optimization, outputs, precision, report, rundir, tensorboard_logs,
                   thresholds as thresholds_lib)
from tfclf.config import MixedPrecision, Monitor, RunConfig, Strategy, ThresholdStrategy, TrainConfig, save_yaml
from tfclf.errors import TfclfError
from tfclf.labels import LabelVocabulary
from tfclf.losses import BinaryCrossentropyWithPositiveWeights, SparseCrossentropyWithSmoothing
from tfclf.long_text import LongTextSpec
from tfclf.model import ClassifierModels, build_classifier
from tfclf.outputs import OutputKind
from tfclf.preprocessing import TextPreprocessor
from tfclf.serving import signatures

logger = logging.getLogger(__name__)

@dataclasses.dataclass
class Run:
    """The result of ``fit``: where it was written and what it measured.

    Attributes:
        output_dir: the run directory (a ``str`` URL for a run published to a store).
        metrics: the metrics.json payload.
        config: the resolved configuration (also in config.yaml).
        labels: the label vocabulary (also in labels.txt).
        history: per-epoch training and validation values (also in history.csv).
        eval_split: the split ``metrics`` describe: test, else validation.
    """

    output_dir: Path
    metrics: dict[str, Any]
    config: RunConfig
    labels: LabelVocabulary
    history: dict[str, list[float]]
    eval_split: str


@dataclasses.dataclass
class Prepared:
    """Everything validated before a byte is written: data, labels and the resolved encoder."""

    config: RunConfig
    data: data_lib.PreparedData
    splits: Optional[data_lib.Splits]  # in memory only (None when streamed)
    labels: LabelVocabulary
    encoder: encoders.ResolvedEncoder
    native: Optional[native_encoder.NativeSource] = None  # --encoder-runtime native, checked


class TrainThroughput(tf_keras.callbacks.Callback):
    """Counts examples and seconds spent in training batches only (validation excluded).

    Args:
        examples_per_epoch: training rows.
        batch_size: rows per step.
        steps_per_epoch: steps of a full epoch.
    """

    def __init__(self, examples_per_epoch: int, batch_size: int, steps_per_epoch: int):
        super().__init__()
        self.examples_per_epoch, self.batch_size = examples_per_epoch, batch_size
        self.steps_per_epoch = steps_per_epoch
        self.seconds, self.examples, self.epochs = 0.0, 0, 0
        self._start: Optional[float] = None
        self._steps = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._steps = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1

    def on_test_begin(self, logs=None):
        self._stop()

    def on_epoch_end(self, epoch, logs=None):
        self._stop()
        # A resumed epoch runs only its remaining steps. Batches hold --batch-size rows when
        # the epoch has that many steps; else (--long-text chunks batches windows, length
        # buckets leave partial batches) the rows are counted in proportion to the steps.
        if self._steps >= self.steps_per_epoch:
            self.examples += self.examples_per_epoch
        elif self.steps_per_epoch == math.ceil(self.examples_per_epoch / self.batch_size):
            self.examples += self._steps * self.batch_size
        else:
            self.examples += round(self.examples_per_epoch * self._steps / self.steps_per_epoch)
        self.epochs += 1

    def _stop(self):
        if self._start is not None:
            self.seconds += time.perf_counter() - self._start
            self._start = None

    @property
    def examples_per_sec(self) -> float:
        return self.examples / self.seconds if self.seconds else 0.0


def default_output_dir(config: RunConfig) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(config.model.encoder.rstrip("/")).name)[:40]
    return Path("runs") / f"{name}-{datetime.datetime.now():%Y%m%d-%H%M%S}"


def resolve_config(config: RunConfig) -> RunConfig:
    """Fills the defaults that depend on the environment (output dir) into the config."""
    if config.train.output_dir is None:
        config = config.replace("train", output_dir=str(default_output_dir(config)))
    return config


def run_inputs(config: RunConfig) -> list[outputs.Input]:
    """The paths a run reads, which its ``--output-dir`` must not replace or sit inside."""
    return [outputs.Input(flag, path) for flag, path in config.input_paths()]


def prepare(config: RunConfig) -> Prepared:
    """Reads and validates the data and resolves the encoder; writes nothing.

    Raises:
        TfclfError: on any bad input.
    """
    default_data = str(data_lib.SAMPLE_DATA) if not (config.data.data or config.data.train) else None
    if default_data:
        logger.info("No data given: using the bundled sample %s", data_lib.SAMPLE_DATA)
    data = data_lib.prepare(config.data, config.train.seed, default_data=default_data)
    config = config.replace("data", task=data.config.task)  # auto resolved: config.yaml records the task
    if config.train.baselines and data.streaming:
        raise TfclfError("--baselines need the data in memory; the input is streamed (over "
                         "--stream-threshold-mb). Pass --no-stream or drop --baselines.")
    resolved = encoders.resolve(config.model.encoder, config.model.preprocessor,
                                seq_length=config.model.seq_length, pooling=config.model.pooling)
    runtime, native = native_encoder.resolve_runtime(resolved.encoder_path, config.model.encoder_runtime)
    config = config.replace("model", seq_length=resolved.seq_length, pooling=resolved.pooling,
                            encoder_runtime=runtime)
    config = config.replace("train", mixed_precision=precision.resolve(
        config.train.mixed_precision, tpu=config.train.strategy is Strategy.TPU))
    return Prepared(config=config, data=data, splits=None if data.streaming else data.splits(),
                    labels=data.labels, encoder=resolved, native=native)


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
    if config.train.strategy is Strategy.MULTI_WORKER and config.train.output_dir is None:
        raise TfclfError("--strategy multi-worker needs --output-dir: every worker must name the same "
                         "folder (the default one has a timestamp). Received: output_dir=None")
    if config.train.strategy is Strategy.MULTI_WORKER and object_storage.is_remote(config.train.output_dir):
        raise TfclfError("--strategy multi-worker needs --output-dir on a filesystem every worker shares (NFS, a "
                         "mounted bucket): a store path is built on the chief's local disk and published at the "
                         f"end. Received: output_dir={config.train.output_dir!r}")
    config = resolve_config(config)
    out = object_storage.check_dir(config.train.output_dir, OutputKind.RUN, flag="--output-dir",
                                   overwrite=config.train.overwrite, inputs=run_inputs(config))
    # A store path: the run is built (and resumed) on the local disk, and published when complete.
    local_out = object_storage.staging_dir(out) if object_storage.is_remote(out) else out
    # Before any other TensorFlow work: MultiWorkerMirroredStrategy sets up collectives at startup.
    dist = distribute.get_distribution(config.train.strategy)
    tf_keras.utils.set_random_seed(config.train.seed)
    prepared = prepare(config)
    config = prepared.config
    logger.info("Resolved config:\n%s", yaml.safe_dump(config.to_dict(), sort_keys=False).rstrip())

    # Only the chief writes the partial folder; other workers write a temporary one.
    with dist.write_dir(rundir.partial_dir(local_out)) as work:
        work = _open_work_dir(work, prepared)
        dist.require_shared(rundir.partial_dir(local_out) / rundir.CONFIG)
        try:
            if config.train.baselines and dist.is_chief:  # before training: report.md shows them
                baselines.run_baselines(config.train.baselines, prepared.splits, config, work / rundir.BASELINES)
            if config.train.seeds:
                run = _fit_seeds(work, prepared, verbose, dist)
            else:
                run = _fit_one(work, prepared, verbose, dist)
        except KeyboardInterrupt:
            logger.error("Interrupted. Re-run the same command to resume from %s.", rundir.partial_dir(local_out))
            raise
    if not dist.is_chief:
        run.output_dir = out
        logger.info("Worker %s finished; the chief writes the run to %s", dist.task, out)
        return run
    if object_storage.is_remote(out):
        object_storage.publish(work, out, OutputKind.RUN, overwrite=config.train.overwrite)
        outputs.remove_dir(work, OutputKind.RUN)
    else:
        outputs.replace_dir(work, out, OutputKind.RUN)
    run.output_dir = out
    logger.info("Run written to %s", out)
    return run


def _comparable(config_dict: dict) -> dict:
    d = {k: dict(v) if isinstance(v, dict) else v for k, v in config_dict.items()}
    d.get("train", {}).pop("overwrite", None)
    d.get("train", {}).pop("strategy", None)  # checkpoints resume under any strategy
    for logging_only in ("tensorboard", "log_every_steps"):  # they change no weight
        d.get("train", {}).pop(logging_only, None)
    return d


def _open_work_dir(work: Path, prepared: Prepared) -> Path:
    """Creates the partial folder, or reopens it to resume when its config is the same."""
    config = prepared.config
    saved = work / rundir.CONFIG
    if work.exists():
        same = saved.is_file() and _comparable(rundir.RunDirectory(work, role=str(work)).config_dict()) == \
            _comparable({**config.to_dict(), rundir.RESOLVED_ENCODER: _encoder_info(prepared)})
        if same:
            logger.info("Resuming the interrupted run in %s", work)
            return work
        if not config.train.overwrite:
            raise TfclfError(
                f"{work} holds an interrupted run with a different configuration. Re-run with the "
                "same configuration to resume it, or pass --overwrite to discard it.")
        if outputs.read_kind(work) is None and saved.is_file():  # an earlier tfclf's, without a marker
            outputs.mark(work, OutputKind.RUN)
        outputs.remove_dir(work, OutputKind.RUN)
    # Built beside it and renamed: a kill at any moment leaves either no partial folder
    # or one with its marker, config.yaml and labels.txt, which a re-run resumes.
    work.parent.mkdir(parents=True, exist_ok=True)
    with atomic.directory(work) as staged:
        outputs.mark(staged, OutputKind.RUN)
        save_yaml(config, staged / rundir.CONFIG, extra={rundir.RESOLVED_ENCODER: _encoder_info(prepared)})
        prepared.labels.save(staged / rundir.LABELS)
    return work


def _encoder_info(prepared: Prepared) -> dict[str, str]:
    return {"encoder": prepared.encoder.encoder_handle, "preprocessor": prepared.encoder.preprocessor_handle}


def compile_classifier(classifier: tf_keras.Model, config: RunConfig, num_labels: int,
                       total_steps: int, *, multi_label: bool = False,
                       pos_weight: Optional[np.ndarray] = None) -> None:
    """Compiles the id-taking classifier for training, under the caller's strategy scope.

    The optimiser (``config.optimizer``, its schedule spread over ``total_steps``), the
    loss with ``--label-smoothing``, the metrics every ``--monitor`` names (``accuracy``,
    ``f1_macro``, ``f1_micro``, ``mcc``) and ``--jit-compile``. Single-label: softmax
    cross-entropy; ``f1_micro`` is the accuracy, which it equals. Multi-label
    (``multi_label``): binary cross-entropy per label, weighted by ``pos_weight``
    (``--class-weight``); the metrics decide at ``--threshold``, and ``accuracy`` is the
    subset accuracy. The optimiser's slot variables are created here: created inside
    the first train step they make ``tf.function`` trace that step twice (3.4 s of the
    19 s first MiniLM step on 2 CPU cores).
    """
    tc = config.train
    if multi_label:
        loss = BinaryCrossentropyWithPositiveWeights(tc.label_smoothing, pos_weight)
        compiled_metrics = [metrics.SubsetAccuracy(num_labels, threshold=tc.threshold),
                            metrics.MultiLabelF1(num_labels, "macro", threshold=tc.threshold),
                            metrics.MultiLabelF1(num_labels, "micro", threshold=tc.threshold),
                            metrics.MultiLabelMCC(num_labels, threshold=tc.threshold)]
    else:
        loss = SparseCrossentropyWithSmoothing(tc.label_smoothing)
        compiled_metrics = [tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                            metrics.F1Macro(num_labels),
                            tf_keras.metrics.SparseCategoricalAccuracy(name="f1_micro"),
                            metrics.MatthewsCorrelation(num_labels)]
    classifier.compile(  # mixed_float16: Keras wraps the optimizer in a LossScaleOptimizer
        optimizer=optimization.build_optimizer(config.optimizer, total_steps=total_steps),
        loss=loss, metrics=compiled_metrics, jit_compile=tc.jit_compile,
    )
    classifier.optimizer.build(classifier.trainable_variables)


def _fit_one(work: Path, prepared: Prepared, verbose: Any, dist: distribute.Distribution) -> Run:
    """Trains one model into ``work`` (resuming if it holds a checkpoint) and evaluates it.

    ``work`` is where this process writes; ``shared`` is the chief's copy of it, whose
    resume checkpoint, history and best weights every worker reads (the same folder
    outside a multi-worker cluster).
    """
    shared = dist.shared_path(work)
    if (shared / rundir.METRICS).is_file() and (shared / rundir.SAVED_MODEL).is_dir():
        return _load_finished(shared, prepared)  # a seed finished before an interruption
    with precision.keras_policy(prepared.config.train.mixed_precision):
        return _train_one(work, shared, prepared, verbose, dist)


@dataclasses.dataclass
class Datasets:
    """The tf.data pipelines of one training run (``_build_datasets``).

    Attributes:
        train: shuffled training batches of (token ids, label id).
        validation: validation batches, or None without a validation split.
        steps_per_epoch: training batches per epoch.
        make: ``(split, shuffle) -> dataset``, the same pipeline for any split.
    """

    train: tf.data.Dataset
    validation: Optional[tf.data.Dataset]
    steps_per_epoch: int
    make: Callable[[str, bool], tf.data.Dataset]


def _train_one(work: Path, shared: Path, prepared: Prepared, verbose: Any,
               dist: distribute.Distribution) -> Run:
    """``_fit_one`` under the run's Keras policy: the steps of one training run, in order."""
    tc = prepared.config.train
    tf_keras.utils.set_random_seed(tc.seed)
    datasets = _build_datasets(work, prepared, dist)
    models = _build_model(prepared, dist, total_steps=datasets.steps_per_epoch * tc.epochs)
    callbacks, throughput = _build_callbacks(work, shared, prepared, datasets)
    optimizer_steps = _fit(models.classifier, datasets, callbacks, work, shared, prepared, dist, verbose)
    history = rundir.read_history(shared / rundir.HISTORY)
    _restore_best(models.classifier, work, shared, history, prepared, dist,
                  has_validation=datasets.validation is not None)
    models = _float32_models(models, prepared, dist)
    # One prediction pass per split, shared by thresholds, evaluation and TensorBoard.
    probabilities = SplitProbabilities(models.classifier, datasets, multi_label=prepared.data.multi_label)
    thresholds = _choose_thresholds(work, probabilities, datasets, prepared)
    result = _evaluate(work, probabilities, prepared, thresholds, extra={
        "train_examples_per_sec": throughput.examples_per_sec,
        "train_examples": throughput.examples,  # in this session: fewer after a resume
        "train_seconds": round(throughput.seconds, 3),
        "epochs_run": len(history.get("loss", [])),
        "optimizer_steps": optimizer_steps})
    _save_serving_model(work, models, prepared, thresholds)
    _log_evaluation(work, probabilities, prepared, thresholds, result)
    model_card.write_run_card(work)
    return Run(output_dir=work, metrics=result, config=prepared.config, labels=prepared.labels,
               history=history, eval_split=prepared.data.eval_split)


def split_dataset(data: data_lib.PreparedData, split: str, preprocess: Callable, tc: TrainConfig,
                  dist: distribute.Distribution, *, shuffle: bool) -> Optional[tf.data.Dataset]:
    """A split's batches under the run's strategy, or None when the split is absent.

    Under multi-worker training the shuffled training pass is sharded by file when it is
    read from enough files (``distribute`` module docstring); evaluation and prediction
    passes are sharded by data: they gather the workers' outputs in dataset order, which
    per-worker files would interleave.

    Args:
        data: the prepared data.
        split: ``train``, ``validation`` or ``test``.
        preprocess: ``[batch] tf.string`` -> BERT input dict (``TextPreprocessor``).
        tc: batch size, seed and batching options.
        dist: the run's strategy.
        shuffle: the training pass (shuffled, sharded by file where it can be).
    """
    shard = dist.file_shard(data.input_files(split), split) if shuffle else None
    return dist.prepare_dataset(data.dataset(
        split, preprocess, batch_size=tc.batch_size, shuffle=shuffle, seed=tc.seed,
        dynamic_padding=tc.dynamic_padding, length_grouping=tc.length_grouping.value,
        sort_window=tc.sort_window, length_buckets=tc.length_buckets, batch_windows=tc.batch_windows,
        file_shard=shard), by_file=shard is not None)


def _build_datasets(work: Path, prepared: Prepared, dist: distribute.Distribution) -> Datasets:
    """Datasets: the tokenising pipelines of the training and validation splits.

    Also writes data_report.json, whose token lengths need the run's preprocessor.
    """
    tc, data, resolved = prepared.config.train, prepared.data, prepared.encoder
    preprocess = TextPreprocessor(resolved.preprocessor_path, resolved.seq_length,
                                  LongTextSpec.from_config(prepared.config.model, resolved.seq_length))
    data.write_report(work / rundir.DATA_REPORT, preprocess)

    def make(name: str, shuffle: bool) -> tf.data.Dataset:
        return split_dataset(data, name, preprocess, prepared.config.train, dist, shuffle=shuffle)

    train_ds, val_ds = make("train", True), make("validation", False)
    n_train = data.rows["train"]
    steps_per_epoch = int(train_ds.cardinality().numpy())  # length buckets: known from the lengths
    if steps_per_epoch < 0:
        steps_per_epoch = math.ceil(n_train / tc.batch_size)
    elif preprocess.chunked:
        logger.info("--long-text chunks: %d training batches per epoch of at most %d windows "
                    "(--batch-windows; %d batches of %d documents would hold up to %d)", steps_per_epoch,
                    tc.batch_windows or tc.batch_size, math.ceil(n_train / tc.batch_size), tc.batch_size,
                    tc.batch_size * preprocess.long_text.max_chunks)
    elif steps_per_epoch != math.ceil(n_train / tc.batch_size):
        logger.info("Length buckets: %d batches per epoch (%d with random batches or windows)",
                    steps_per_epoch, math.ceil(n_train / tc.batch_size))
    dist.log_batch_split(tc.batch_size)  # --batch-size is global: Keras splits it over the replicas
    return Datasets(train=train_ds, validation=val_ds, steps_per_epoch=steps_per_epoch, make=make)


def _build_model(prepared: Prepared, dist: distribute.Distribution, total_steps: int) -> ClassifierModels:
    """Model: the classifier around the resolved encoder, compiled, under the strategy's scope."""
    mc, resolved, num_labels = prepared.config.model, prepared.encoder, len(prepared.labels)
    with dist.strategy.scope():
        models = build_classifier(resolved.encoder_path, num_labels, pooling=resolved.pooling,
                                  dropout=mc.dropout, trainable=mc.trainable,
                                  chunk_pooling=mc.window_pooling, native=prepared.native)
        compile_classifier(models.classifier, prepared.config, num_labels, total_steps=total_steps,
                           multi_label=prepared.data.multi_label, pos_weight=prepared.data.pos_weight)
    return models


def _float32_models(models: ClassifierModels, prepared: Prepared, dist: distribute.Distribution) -> ClassifierModels:
    """The models that evaluate and export: float32, with the trained weights.

    A native encoder trained under a mixed policy computes in half precision, because the
    policy is part of its layers. The evaluation and the export use a float32 twin instead,
    as the hub runtime's (whose rewrite is for training only): metrics.json describes the
    float32 model that TF Serving runs. Other runs return ``models`` as they are.
    """
    if prepared.native is None or precision.policy_name(prepared.config.train.mixed_precision) == "float32":
        return models
    mc = prepared.config.model
    with precision.keras_policy(MixedPrecision.NONE), dist.strategy.scope():
        twin = build_classifier(prepared.encoder.encoder_path, len(prepared.labels), pooling=prepared.encoder.pooling,
                                dropout=mc.dropout, trainable=mc.trainable, chunk_pooling=mc.window_pooling,
                                native=prepared.native)
    twin.classifier.set_weights(models.classifier.get_weights())
    return twin


def _build_callbacks(work: Path, shared: Path, prepared: Prepared, datasets: Datasets
                     ) -> tuple[list[tf_keras.callbacks.Callback], TrainThroughput]:
    """Callbacks: the resume backup, throughput, history.csv, the TensorBoard logs (unless
    --no-tensorboard) and, with validation data, the best-epoch checkpoint and early stopping.

    After a resume the checkpoint starts from the best value of the epochs already
    run (``rundir.best_value``), so a worse epoch never replaces the saved best one.
    """
    tc = prepared.config.train
    previous = rundir.read_history(shared / rundir.HISTORY)
    throughput = TrainThroughput(prepared.data.rows["train"], tc.batch_size, datasets.steps_per_epoch)
    callbacks: list[tf_keras.callbacks.Callback] = [
        # All workers restore from the chief's backup; Keras writes theirs to a temporary subfolder.
        tf_keras.callbacks.BackupAndRestore(
            str(shared / rundir.RESUME), save_freq=tc.save_every_steps or "epoch", delete_checkpoint=True),
        throughput,
        tf_keras.callbacks.CSVLogger(str(work / rundir.HISTORY), append=True),
    ]
    if tc.tensorboard:  # after BackupAndRestore: it numbers steps from the restored optimiser
        callbacks.append(tensorboard_logs.TrainingLogs(
            work, tc.log_every_steps, tensorboard_logs.flat_hparams(prepared.config.to_dict()),
            multi_label=prepared.data.multi_label))
    if datasets.validation is not None:
        callbacks.append(tf_keras.callbacks.ModelCheckpoint(
            str(work / rundir.BEST_WEIGHTS), monitor=tc.monitor.value, mode=tc.monitor.mode,
            save_best_only=True, save_weights_only=True,
            initial_value_threshold=rundir.best_value(previous, tc.monitor), verbose=0))
        if tc.patience is not None:
            callbacks.append(tf_keras.callbacks.EarlyStopping(monitor=tc.monitor.value, mode=tc.monitor.mode,
                                                              patience=tc.patience))
    else:
        logger.warning("No validation split: keeping the weights of the last epoch "
                       "(--monitor %s needs validation data).", tc.monitor)
    if previous:
        logger.info("Resuming after %d finished epoch(s).", len(next(iter(previous.values()))))
    return callbacks, throughput


def _fit(classifier: tf_keras.Model, datasets: Datasets, callbacks: list[tf_keras.callbacks.Callback],
         work: Path, shared: Path, prepared: Prepared, dist: distribute.Distribution, verbose: Any) -> int:
    """Fit: trains (resuming from the backup, if any), then removes the backup.

    Returns:
        The optimiser's step count, read before the best epoch's weights (whose
        checkpoint carries the optimiser) would set it back to that epoch's.
    """
    tc = prepared.config.train
    # Training and per-epoch validation only: the final evaluation runs the float32
    # graphs that the exported SavedModel serves.
    with precision.training_precision(tc.mixed_precision, graph_rewrite=tc.bf16_graph_rewrite,
                                      tpu=dist.kind is Strategy.TPU,
                                      native=prepared.native is not None):
        classifier.fit(datasets.train, validation_data=datasets.validation, epochs=tc.epochs,
                       callbacks=callbacks, class_weight=prepared.data.class_weight, verbose=verbose)
    optimizer_steps = int(classifier.optimizer.iterations.numpy())
    logger.info("Optimiser steps: %d", optimizer_steps)
    dist.barrier()  # the chief has written its history and best checkpoint
    dist.remove_keras_temp(shared / rundir.RESUME)
    if dist.is_chief:  # Keras deletes the backup's files on success, not its folder
        shutil.rmtree(work / rundir.RESUME, ignore_errors=True)
    return optimizer_steps


def _restore_best(classifier: tf_keras.Model, work: Path, shared: Path, history: dict[str, list[float]],
                  prepared: Prepared, dist: distribute.Distribution, *, has_validation: bool) -> Optional[int]:
    """Restore best: loads the weights of the best epoch by ``--monitor``; without
    validation data, saves the last epoch's as the best.

    Returns:
        The 0-based best epoch (``rundir.best_epoch``), or None without validation data.

    Raises:
        TfclfError: no epoch gave a finite ``--monitor`` value, so none was saved.
    """
    monitor = prepared.config.train.monitor
    best = None
    if has_validation:
        values = history.get(monitor.value, [])
        best = rundir.best_epoch(values, monitor)
        if best is None:
            raise TfclfError(f"No epoch gave a finite {monitor} (values: {values}): the training diverged, "
                             "so no best epoch was saved. Lower the learning rate (--values).")
        classifier.load_weights(str(shared / rundir.BEST_WEIGHTS)).expect_partial()
        logger.info("Restored the best epoch (%d) by %s = %.4f", best + 1, monitor, values[best])
    else:
        classifier.save_weights(str(work / rundir.BEST_WEIGHTS))
    if dist.multi_worker:  # equal on every worker when the replicas stayed in sync
        logger.info("Worker %s weights sha256 %s", dist.task, distribute.weights_digest(classifier.get_weights()))
    return best


def _choose_thresholds(work: Path, probabilities_of: SplitProbabilities, datasets: Datasets,
                       prepared: Prepared) -> Optional[thresholds_lib.Thresholds]:
    """Thresholds (multi-label): each label's decision threshold by ``--threshold-strategy``
    -> thresholds.json, which evaluation, predict and the export all use.

    ``per-label-f1``/``per-label-mcc`` tune them on the validation split (``tfclf.thresholds``) with the
    restored best weights; without validation data it falls back to ``fixed``, and says so.
    Returns None for a single-label run.
    """
    if not prepared.data.multi_label:
        return None
    tc, names = prepared.config.train, prepared.labels.names
    chosen = thresholds_lib.Thresholds.fixed(names, tc.threshold)
    if tc.threshold_strategy is not ThresholdStrategy.FIXED:
        if datasets.validation is None:
            logger.warning("--threshold-strategy %s needs a validation split; using --threshold "
                           "%s for every label.", tc.threshold_strategy.value, tc.threshold)
        else:
            probabilities = probabilities_of("validation")
            metric = "mcc" if tc.threshold_strategy is ThresholdStrategy.PER_LABEL_MCC else "f1"
            values = thresholds_lib.tune_per_label(prepared.data.targets("validation"), probabilities,
                                                   metric=metric, default=tc.threshold)
            chosen = thresholds_lib.Thresholds(dict(zip(names, values.tolist())), tc.threshold_strategy.value,
                                               "validation")
    chosen.save(work)
    logger.info("Thresholds (%s): %s", chosen.strategy,
                ", ".join(f"{k}={v:.3f}" for k, v in chosen.values.items()))
    return chosen


class SplitProbabilities:
    """``[N, C]`` probabilities of a split (sigmoid per label for multi-label, else softmax), each
    split predicted once: thresholds, evaluation and TensorBoard read the same arrays."""

    def __init__(self, classifier: tf_keras.Model, datasets: Datasets, *, multi_label: bool):
        self._classifier, self._datasets, self._multi_label = classifier, datasets, multi_label
        self._cache: dict[str, np.ndarray] = {}
        self.passes = 0  # prediction passes made (tests check that none is repeated)

    def __call__(self, split: str) -> np.ndarray:
        if split not in self._cache:
            logits = tf.constant(self._classifier.predict(self._datasets.make(split, False), verbose=0), tf.float32)
            self._cache[split] = (tf.sigmoid(logits) if self._multi_label
                                  else tf.nn.softmax(logits, axis=-1)).numpy()
            self.passes += 1
        return self._cache[split]


def _evaluate(work: Path, probabilities_of: SplitProbabilities, prepared: Prepared,
              thresholds: Optional[thresholds_lib.Thresholds], extra: dict[str, Any]) -> dict[str, Any]:
    """Evaluate: the restored classifier on the evaluation split (test, else validation)
    -> metrics.json (with ``extra``), the plots and report.md. Multi-label runs are
    scored at ``thresholds``; with ``--eval-group-by``, its groups too (``group_level``)."""
    split, multi_label, tc = prepared.data.eval_split, prepared.data.multi_label, prepared.config.train
    probabilities = probabilities_of(split)
    group_by = prepared.config.data.eval_group_by
    return evaluation.write_evaluation(
        work, prepared.data.targets(split), probabilities, prepared.labels.names, split=split,
        monitor=tc.monitor, extra=extra, multi_label=multi_label,
        thresholds=None if thresholds is None else thresholds.array(prepared.labels.names),
        threshold_strategy=thresholds.strategy if thresholds else "fixed",
        bootstrap=tc.bootstrap, bootstrap_seed=tc.seed,
        groups=prepared.data.groups(split) if group_by else None, group_by=group_by)


def _log_evaluation(work: Path, probabilities_of: SplitProbabilities, prepared: Prepared,
                    thresholds: Optional[thresholds_lib.Thresholds], result: dict[str, Any]) -> None:
    """TensorBoard (unless --no-tensorboard): the final metrics, the confusion matrix plot and the
    worst misclassified examples of the validation split (else the evaluated one) -> logs/evaluation/.

    One more prediction pass over the validation split only when the test split was the
    evaluated one and no thresholds were tuned on validation.
    """
    if not prepared.config.train.tensorboard:
        return
    data, names = prepared.data, prepared.labels.names
    split = "validation" if "validation" in data.split_names else data.eval_split
    probabilities = probabilities_of(split)
    rows = tensorboard_logs.worst_misclassified(
        data.targets(split), probabilities, names,
        thresholds=None if thresholds is None else thresholds.array(names))
    wanted = {r.index: r for r in rows}
    offset = 0
    for texts, _ in data.chunks(split):  # the texts of the chosen rows only, in dataset order
        for i in [i for i in wanted if offset <= i < offset + len(texts)]:
            wanted[i] = dataclasses.replace(wanted[i], text=str(texts[i - offset]))
        offset += len(texts)
    tensorboard_logs.write_evaluation(
        work, result, step=int(result.get("optimizer_steps") or 0),
        confusion_png=work / report.CONFUSION_MATRIX, misclassified=[wanted[r.index] for r in rows],
        misclassified_split=split)


def _save_serving_model(work: Path, models: ClassifierModels, prepared: Prepared,
                        thresholds: Optional[thresholds_lib.Thresholds]) -> None:
    """Export: saved_model/, the SavedModel that serves raw strings, with labels.txt,
    config.yaml (and thresholds.json) among its assets."""
    resolved, names = prepared.encoder, prepared.labels.names
    module = signatures.ServingModule(
        resolved.preprocessor_path, resolved.seq_length, models.classifier, models.embedder, names,
        long_text=LongTextSpec.from_config(prepared.config.model, resolved.seq_length),
        multi_label=prepared.data.multi_label,
        threshold=0.5 if thresholds is None else thresholds.array(names))
    assets = [work / rundir.LABELS, work / rundir.CONFIG] + ([work / rundir.THRESHOLDS] if thresholds else [])
    signatures.save_serving_model(module, work / rundir.SAVED_MODEL, asset_files=assets)


def _load_finished(work: Path, prepared: Prepared) -> Run:
    """The Run of a seed that finished before an interruption, read back from its folder."""
    run = rundir.RunDirectory(work)
    result = run.metrics()
    return Run(output_dir=work, metrics=result, config=prepared.config, labels=prepared.labels,
               history=run.history(), eval_split=result.get("split", "test"))


def _fit_seeds(work: Path, prepared: Prepared, verbose: Any, dist: distribute.Distribution) -> Run:
    """Trains once per seed into seeds/<seed>/ and aggregates.

    The split stays the one ``--seed`` made; the seeds vary initialisation, dropout
    and shuffling. metrics.json holds the mean over seeds at the top level, plus
    ``mean``, ``std`` (sample standard deviation) and ``per_seed``; the run's
    saved model and per-class details are those of ``selected_seed``, the seed with
    the best validation ``--monitor`` (the test split plays no part in choosing).
    ``--bootstrap`` intervals stay in ``per_seed``, each drawn with its seed.
    """
    tc = prepared.config.train
    runs: dict[int, Run] = {}
    for seed in tc.seeds:
        seed_dir = work / rundir.SEEDS / str(seed)
        seed_config = prepared.config.replace("train", seed=seed, seeds=())
        seed_prepared = dataclasses.replace(prepared, config=seed_config)
        if not seed_dir.exists():
            seed_dir.mkdir(parents=True)
            save_yaml(seed_config, seed_dir / rundir.CONFIG,
                      extra={rundir.RESOLVED_ENCODER: _encoder_info(prepared)})
            prepared.labels.save(seed_dir / rundir.LABELS)
        logger.info("Seed %d (%d of %d)", seed, len(runs) + 1, len(tc.seeds))
        runs[seed] = _fit_one(seed_dir, seed_prepared, verbose, dist)
    selected = _select_seed(runs, tc.monitor)
    result = aggregate_seed_metrics({s: r.metrics for s, r in runs.items()}, selected)
    chosen = runs[selected].output_dir
    for name in (rundir.SAVED_MODEL, rundir.CHECKPOINTS):
        shutil.copytree(chosen / name, work / name, dirs_exist_ok=True)
    shutil.copy2(chosen / rundir.HISTORY, work / rundir.HISTORY)
    for extra in [*chosen.glob("*.png"), chosen / rundir.DATA_REPORT, chosen / rundir.THRESHOLDS]:  # the selected seed's
        if extra.is_file():
            shutil.copy2(extra, work / extra.name)
    evaluation.write_metrics(result, work / rundir.METRICS)
    report.write_report(work, result, plots={p.stem: p.name for p in work.glob("*.png")},
                        title=f"{work.name.lstrip('.').removesuffix('.partial')} "
                              f"(mean of seeds {list(tc.seeds)}; details: seed {selected})")
    model_card.write_run_card(work)
    return Run(output_dir=work, metrics=result, config=prepared.config, labels=prepared.labels,
               history=runs[selected].history, eval_split=runs[selected].eval_split)


def _select_seed(runs: dict[int, Run], monitor: Monitor) -> int:
    """The seed whose best epoch is best by ``monitor`` (``rundir.best_epoch``'s rule over the
    seeds: NaN never wins, the first of ties does); the first seed without validation data."""
    seeds = list(runs)
    best = rundir.best_epoch([rundir.best_value(runs[s].history, monitor) for s in seeds], monitor)
    return seeds[0 if best is None else best]


def aggregate_seed_metrics(per_seed: dict[int, dict[str, Any]], selected: int) -> dict[str, Any]:
    """Mean and sample std of every scalar metric over seeds; details from the selected seed.

    The selected seed's ``bootstrap`` intervals are not lifted to the top level: they
    describe its predictions, not the means there (each seed's stay in ``per_seed``).
    ``group_level`` (``--eval-group-by``) is aggregated the same way: its scalars are the
    means over seeds, with its own ``mean`` and ``std``.
    """
    out = _mean_over_seeds(per_seed, selected)
    levels = {s: m["group_level"] for s, m in per_seed.items() if m.get("group_level")}
    if len(levels) == len(per_seed):
        out["group_level"] = _mean_over_seeds(levels, selected)
    return {**out, "selected_seed": selected, "seeds": sorted(per_seed),
            "per_seed": {str(s): m for s, m in per_seed.items()}}


def _mean_over_seeds(per_seed: dict[int, dict[str, Any]], selected: int) -> dict[str, Any]:
    """The selected seed's payload without ``bootstrap``, its scalars replaced by the mean over
    seeds; with ``mean`` and ``std`` (sample standard deviation) of each."""
    first = {k: v for k, v in per_seed[selected].items() if k != "bootstrap"}
    scalars = [k for k, v in first.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
               and all(isinstance(m.get(k), (int, float)) for m in per_seed.values())]
    mean = {k: float(np.mean([m[k] for m in per_seed.values()])) for k in scalars}
    std = {k: float(np.std([m[k] for m in per_seed.values()], ddof=1)) if len(per_seed) > 1 else 0.0
           for k in scalars}
    return {**first, **mean, "mean": mean, "std": std}
