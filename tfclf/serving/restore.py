"""A run directory -> its classifier, rebuilt from ``config.yaml`` with the best epoch's weights.

The one rebuild: ``python -m tfclf.export`` saves it, ``--check`` compares an export
against it, and the tuner's ``load_model`` returns it. The run is read through
``tfclf.rundir`` (a strict ``RunConfig``), and the classifier is built exactly as the
run trained it: the same encoder (the handles the run resolved, when it recorded
them), pooling, dropout, ``--trainable`` encoder variables, Keras precision policy and
encoder runtime (``hub`` or ``native``, as config.yaml records it; a config written before
the field existed, or by hand with ``auto``, means ``hub``, which those runs trained with).
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Optional, Sequence, Union

import tensorflow as tf

from tfclf import encoders, native_encoder, object_storage, precision, rundir, thresholds as thresholds_lib
from tfclf.config import EncoderRuntime, ExportFormat, MixedPrecision, Pooling, RunConfig
from tfclf.errors import TfclfError
from tfclf.long_text import LongTextSpec
from tfclf.model import ClassifierModels, build_classifier
from tfclf.preprocessing import TextPreprocessor
from tfclf.serving.signatures import IdsServingModule, ServingModule

PathLike = Union[str, os.PathLike]

__all__ = ["RunArtifacts", "build_module", "read_run", "restore_classifier"]


@dataclasses.dataclass(frozen=True)
class RunArtifacts:
    """What rebuilding a run's classifier needs from its run directory.

    Attributes:
        run_dir: the folder ``python -m tfclf.fit`` wrote (for a run on a store, its
            local copy).
        config: its ``config.yaml``, the validated ``RunConfig`` it trained with.
        label_names: ``labels.txt``, in id order.
        encoder_path, preprocessor_path: local SavedModel folders of the run's encoder.
        weights: checkpoint prefix of the best epoch.
        local_copy: a run on a store: the ``object_storage.LocalCopy`` that ``run_dir``
            is, kept as long as these artifacts are.
    """

    run_dir: Path
    config: RunConfig
    label_names: tuple[str, ...]
    encoder_path: str
    preprocessor_path: str
    weights: Path
    local_copy: Optional[object_storage.LocalCopy] = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def location(self) -> str:
        """Where the run is, for records and messages: its URL on a store, else its absolute path."""
        return self.local_copy.url if self.local_copy is not None else str(self.run_dir.resolve())

    @property
    def seq_length(self) -> int:
        return int(self.config.model.seq_length)

    @property
    def pooling(self) -> Pooling:
        return self.config.model.pooling

    @property
    def long_text(self) -> LongTextSpec:
        """How the run read texts longer than ``seq_length`` (``--long-text``)."""
        return LongTextSpec.from_config(self.config.model)

    def text_preprocessor(self) -> TextPreprocessor:
        """The run's ``TextPreprocessor``: its preprocessor, ``seq_length`` and ``--long-text``."""
        return TextPreprocessor(self.preprocessor_path, self.seq_length, self.long_text)

    @property
    def multi_label(self) -> bool:
        """Sigmoid outputs: the run's data had a label separator or several label columns."""
        return self.config.data.multi_label

    @property
    def mixed_precision(self) -> MixedPrecision:
        return self.config.train.mixed_precision

    def thresholds(self) -> list[float]:
        """Multi-label decision thresholds, one per label in ``label_names`` order: the run's
        ``thresholds.json`` (its ``--threshold-strategy``'s choice), else ``train.threshold``.

        Raises:
            TfclfError: thresholds.json is damaged or misses a label.
        """
        chosen = thresholds_lib.for_run(self.run_dir, self.config.train.threshold)
        return [float(t) for t in chosen.array(self.label_names)]


def read_run(run_dir: PathLike, role: str = "RUN_DIR") -> RunArtifacts:
    """Reads a finished run directory's config, labels, encoder and best checkpoint.

    Args:
        run_dir: the run directory; on a store (``gs://...``), a complete one is copied
            to a temporary local folder first (``object_storage.LocalCopy``).
        role: how errors name it (``RUN_DIR``, ``run``).

    Raises:
        TfclfError: no such folder; a damaged config.yaml (named first, when it is
            there); a missing config.yaml, labels.txt or best checkpoint (naming them,
            with a hint for the top of a multi-seed run); an encoder that cannot be
            found; a folder on a store without tfclf's completion marker.
    """
    copy = object_storage.LocalCopy(str(run_dir), role) if object_storage.is_remote(run_dir) else None
    run = rundir.RunDirectory(copy.path if copy is not None else run_dir, role)
    config = run.config() if (run / rundir.CONFIG).is_file() else None
    run.require(rundir.CONFIG, rundir.LABELS, rundir.BEST_WEIGHTS)
    if not config.model.seq_length or not config.model.pooling:
        raise TfclfError(f"{run / rundir.CONFIG}: model.seq_length and model.pooling must be set "
                         "(tfclf writes them resolved).")
    handles = run.resolved_encoder()
    if handles.get("encoder") and handles.get("preprocessor"):  # what the run trained with
        encoder_path = encoders.resolve_handle(handles["encoder"], "--encoder")
        preprocessor_path = encoders.resolve_handle(handles["preprocessor"], "--preprocessor")
    else:  # a run that did not record them: resolve its --encoder again
        resolved = encoders.resolve(config.model.encoder, config.model.preprocessor,
                                    seq_length=config.model.seq_length, pooling=config.model.pooling)
        encoder_path, preprocessor_path = resolved.encoder_path, resolved.preprocessor_path
    return RunArtifacts(run_dir=run.path, config=config, label_names=tuple(run.labels().names),
                        encoder_path=encoder_path, preprocessor_path=preprocessor_path,
                        weights=run / rundir.BEST_WEIGHTS, local_copy=copy)


def restore_classifier(run: RunArtifacts) -> ClassifierModels:
    """Rebuilds the run's classifier and restores its best checkpoint.

    The layers take the run's Keras policy (``train.mixed_precision``), so a
    mixed-precision run's head computes as it did in training, and the encoder
    variables that ``model.trainable`` froze stay frozen.

    Returns:
        ``ClassifierModels``: ``classifier`` maps the dict of ``[batch, seq] int32``
        inputs to ``[batch, C]`` float32 logits; ``embedder`` to ``[batch, H]``.

    Raises:
        TfclfError: the checkpoint does not match the rebuilt model.
    """
    model = run.config.model
    native = None
    if EncoderRuntime(model.encoder_runtime) is EncoderRuntime.NATIVE:
        try:
            native = native_encoder.load(run.encoder_path)
        except native_encoder.NativeUnavailable as e:
            raise TfclfError(f"{run.run_dir / rundir.CONFIG}: the run trained with model.encoder_runtime "
                             f"native, but {run.encoder_path} cannot run natively now: {e}") from None
    # A native run evaluated and exported its float32 twin (training._float32_models).
    with precision.keras_policy(MixedPrecision.NONE if native is not None else run.mixed_precision):
        models = build_classifier(run.encoder_path, len(run.label_names), pooling=run.pooling,
                                  dropout=model.dropout, trainable=model.trainable,
                                  chunk_pooling=model.window_pooling, native=native)
        status = models.classifier.load_weights(str(run.weights))
        try:
            status.expect_partial().assert_existing_objects_matched()
        except AssertionError as e:
            raise TfclfError(f"{run.weights}: the checkpoint does not match a classifier rebuilt from "
                             f"{rundir.CONFIG} ({str(e)[:300]}).") from None
    return models


def build_module(run: RunArtifacts, *, format: ExportFormat = ExportFormat.TEXT,
                 threshold: Optional[float | Sequence[float]] = None) -> tf.Module:
    """The run's restored classifier, wrapped for serving.

    The result is the in-memory model that the run evaluated; ``tf_serving.export_run``
    saves it and ``check.check`` compares an export against it.

    Args:
        run: from ``read_run``.
        format: ``text`` (a ``ServingModule``) or ``ids`` (an ``IdsServingModule``).
        threshold: multi-label decision thresholds, one for all labels or one per
            label; default: the run's (``RunArtifacts.thresholds``).

    Raises:
        TfclfError: the checkpoint does not match the rebuilt model.
    """
    if threshold is None:
        threshold = run.thresholds()
    models = restore_classifier(run)
    if format == ExportFormat.IDS:
        return IdsServingModule(models.classifier, models.embedder, run.label_names,
                                multi_label=run.multi_label, threshold=threshold,
                                chunked=run.long_text.chunked)
    return ServingModule(run.preprocessor_path, run.seq_length, models.classifier, models.embedder,
                         run.label_names, multi_label=run.multi_label, threshold=threshold,
                         long_text=run.long_text)
