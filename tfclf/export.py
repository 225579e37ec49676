"""SavedModels that take raw strings: for ``tfclf.load`` and for TF Serving.

Usage::

    python -m tfclf.export RUN_DIR --export-dir serving/tickets [--version N] [--overwrite]
    python -m tfclf.export RUN_DIR --export-dir serving/tickets --format ids
    python -m tfclf.export --check serving/tickets/1          # parity in a fresh process
    python -m tfclf.export --list-ops serving/tickets/1       # every op; TF-Text ones marked
    python -m tfclf.export --saved-model-cli show --dir serving/tickets/1 --all

Signatures of every ``--format text`` SavedModel (the default, and ``RUN_DIR/saved_model``):

``serving_default(text)``
    text: ``[batch] tf.string``, raw UTF-8 texts. Invalid UTF-8 bytes are replaced
    by U+FFFD inside the graph, so no input makes the server fail.
    Returns, for a single-label model
      * ``probabilities``: ``[batch, C] float32``, softmax over the labels in
        ``assets/labels.txt`` order;
      * ``label``: ``[batch] tf.string``, the most probable label;
      * ``label_id``: ``[batch] int64``, its index;
      * ``confidence``: ``[batch] float32``, its probability;
    and for a multi-label model (the run's config has ``data.multi_label``, a
    ``label_separator`` or several ``label_column``)
      * ``probabilities``: ``[batch, C] float32``, one sigmoid per label;
      * ``labels``: ``[batch, C] tf.string``, the labels whose probability is at
        least ``--threshold``, most probable first, padded with ``""``.

``embed(text)``
    text: ``[batch] tf.string``.
    Returns ``embedding``: ``[batch, H] float32``, the pooled sentence vector.

``--format ids`` exports take ``input_word_ids``, ``input_mask`` and
``input_type_ids`` (``[batch, seq] int32``, right-padded BERT inputs) instead of
``text``, return the same outputs, and hold no TF-Text op; ``assets/vocab.txt``
and ``assets/tokenizer.json`` say how to tokenise on the client.

Layout of ``--export-dir serving/<name>``::

    serving/<name>/models.config           example TF Serving config (written once)
    serving/<name>/<N>/saved_model.pb      version N, written to a temporary folder and renamed
    serving/<name>/<N>/assets/             labels.txt, config.yaml (the run's resolved config)
    serving/<name>/<N>/assets.extra/       tf_serving_warmup_requests, tfclf_export.json, metrics.json

The ``text`` graph contains TF-Text ops (``CaseFoldUTF8``, ``WordpieceTokenizeWithOffsets``,
``TFText>RoundRobinTrim``, ...): import ``tensorflow_text`` before ``tf.saved_model.load``,
as ``tfclf.load`` does, and serve it with ``tensorflow/serving:2.20.0`` (see ``TF_SERVING_IMAGE``).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import logging
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
import typing
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import tensorflow as tf

from tfclf import atomic, outputs
from tfclf.config import ExportConfig, ExportFormat, Pooling, load_sections
from tfclf.data import trim_to_longest
from tfclf.errors import TfclfError
from tfclf.outputs import OutputKind

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

SAVED_MODEL_DIR = "saved_model"
WARMUP_FILE = "tf_serving_warmup_requests"
EXPORT_INFO_FILE = "tfclf_export.json"
MODELS_CONFIG_FILE = "models.config"
TOKENIZER_FILE = "tokenizer.json"
# The TF Serving release built against the pinned TensorFlow 2.20 / TF-Text 2.20; older
# servers may lack TFText>RoundRobinTrim (python -m tfclf.export --list-ops shows what is used).
TF_SERVING_IMAGE = "tensorflow/serving:2.20.0"
MAX_ABS_DIFF = 1e-5
INPUT_NAMES = ("input_word_ids", "input_mask", "input_type_ids")

_TEXT_SPEC = tf.TensorSpec([None], tf.string, name="text")
_IDS_SPECS = [tf.TensorSpec([None, None], tf.int32, name=name) for name in INPUT_NAMES]


# ------------------------------------------------------------------------ serving modules

def text_features(preprocessor, seq_length: int, text):
    """Raw strings -> BERT inputs, exactly as every tfclf serving graph computes them.

    Args:
        preprocessor: a loaded TF Hub BERT preprocessor (``tokenize``, ``bert_pack_inputs``).
        seq_length: maximum tokens per text, [CLS] and [SEP] included.
        text: ``[batch] tf.string``; invalid UTF-8 is replaced by U+FFFD first, so
            the result does not depend on how a TF-Text build treats bad bytes.

    Returns:
        dict of ``[batch, <= seq_length] int32`` tensors, trimmed to the longest row.
    """
    text = tf.strings.unicode_transcode(text, input_encoding="UTF-8", output_encoding="UTF-8",
                                        errors="replace", replacement_char=0xFFFD)
    tokens = preprocessor.tokenize(text)
    packed = preprocessor.bert_pack_inputs([tokens], seq_length=seq_length)
    return trim_to_longest(packed)


def classification_outputs(logits, label_names, *, multi_label: bool = False, threshold: float = 0.5):
    """Logits ``[batch, C]`` -> the ``serving_default`` outputs (see the module docstring)."""
    logits = tf.cast(logits, tf.float32)
    if multi_label:
        probabilities = tf.sigmoid(logits)
        order = tf.argsort(probabilities, axis=-1, direction="DESCENDING", stable=True)
        ranked = tf.gather(probabilities, order, batch_dims=1)
        names = tf.gather(label_names, order)
        return {"probabilities": probabilities,
                "labels": tf.where(ranked >= threshold, names, tf.constant("", tf.string))}
    probabilities = tf.nn.softmax(logits, axis=-1)
    label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
    return {
        "probabilities": probabilities,
        "label": tf.gather(label_names, label_id),
        "label_id": label_id,
        "confidence": tf.reduce_max(probabilities, axis=-1),
    }


class ServingModule(tf.Module):
    """Preprocessor + trained classifier, as one tf.Module with string signatures.

    Args:
        preprocessor_path: local TF Hub preprocessor folder.
        seq_length: maximum tokens per text.
        classifier: ids -> ``[batch, C]`` logits.
        embedder: ids -> ``[batch, H]`` pooled vectors.
        label_names: the C labels in id order.
        multi_label: sigmoid per label and thresholded ``labels`` instead of softmax.
        threshold: multi-label decision threshold.
    """

    def __init__(self, preprocessor_path: str, seq_length: int, classifier, embedder,
                 label_names: Sequence[str], *, multi_label: bool = False, threshold: float = 0.5):
        super().__init__(name="tfclf_serving")
        import tensorflow_hub as hub
        import tensorflow_text  # noqa: F401

        self.preprocessor = hub.load(preprocessor_path)
        self.classifier = classifier
        self.embedder = embedder
        self.seq_length = int(seq_length)
        self.multi_label = bool(multi_label)
        self.threshold = float(threshold)
        self.label_names = tf.constant(list(label_names), dtype=tf.string)

    def _features(self, text):
        return text_features(self.preprocessor, self.seq_length, text)

    @tf.function(input_signature=[_TEXT_SPEC])
    def serve(self, text):
        logits = self.classifier(self._features(text), training=False)
        return classification_outputs(logits, self.label_names, multi_label=self.multi_label,
                                      threshold=self.threshold)

    @tf.function(input_signature=[_TEXT_SPEC])
    def embed(self, text):
        return {"embedding": tf.cast(self.embedder(self._features(text), training=False), tf.float32)}


class IdsServingModule(tf.Module):
    """The trained classifier with token-id signatures, for runtimes without TF-Text ops.

    Args:
        classifier: ids -> ``[batch, C]`` logits.
        embedder: ids -> ``[batch, H]`` pooled vectors.
        label_names: the C labels in id order.
        multi_label: sigmoid per label and thresholded ``labels`` instead of softmax.
        threshold: multi-label decision threshold.
    """

    def __init__(self, classifier, embedder, label_names: Sequence[str], *, multi_label: bool = False,
                 threshold: float = 0.5):
        super().__init__(name="tfclf_serving_ids")
        self.classifier = classifier
        self.embedder = embedder
        self.multi_label = bool(multi_label)
        self.threshold = float(threshold)
        self.label_names = tf.constant(list(label_names), dtype=tf.string)

    @tf.function(input_signature=_IDS_SPECS)
    def serve(self, input_word_ids, input_mask, input_type_ids):
        features = dict(zip(INPUT_NAMES, (input_word_ids, input_mask, input_type_ids)))
        logits = self.classifier(features, training=False)
        return classification_outputs(logits, self.label_names, multi_label=self.multi_label,
                                      threshold=self.threshold)

    @tf.function(input_signature=_IDS_SPECS)
    def embed(self, input_word_ids, input_mask, input_type_ids):
        features = dict(zip(INPUT_NAMES, (input_word_ids, input_mask, input_type_ids)))
        return {"embedding": tf.cast(self.embedder(features, training=False), tf.float32)}


def _write_saved_model(module: tf.Module, folder: Path, asset_files: Sequence[PathLike]) -> None:
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve,
                                                         "embed": module.embed})
    (folder / "assets").mkdir(exist_ok=True)
    for f in asset_files:
        shutil.copy2(f, folder / "assets" / Path(f).name)


def save_serving_model(module: tf.Module, path: PathLike,
                       asset_files: Sequence[PathLike] = ()) -> Path:
    """Writes ``module`` as a SavedModel at ``path`` via a temporary folder and rename.

    Args:
        module: a ``ServingModule`` or ``IdsServingModule``.
        path: target folder; must not exist.
        asset_files: files copied into ``assets/`` (labels.txt, config.yaml).

    Raises:
        TfclfError: ``path`` exists.
    """
    path = Path(path)
    try:
        with atomic.directory(path) as tmp:
            _write_saved_model(module, tmp, asset_files)
    except FileExistsError:
        raise TfclfError(f"Refusing to overwrite existing SavedModel folder {str(path)!r}.") from None
    return path


# ------------------------------------------------------------------ run directory -> module

@dataclasses.dataclass(frozen=True)
class RunArtifacts:
    """What an export needs from a run directory.

    Attributes:
        run_dir: the folder ``python -m tfclf.fit`` wrote.
        config: its ``config.yaml`` as nested dicts (read leniently, so older runs export).
        label_names: ``labels.txt`` lines, in id order.
        encoder_path, preprocessor_path: local SavedModel folders of the run's encoder.
        seq_length, pooling, dropout: the model settings the run trained with.
        multi_label: sigmoid outputs (see ``is_multi_label``).
        mixed_precision: the run's Keras policy name.
        weights: checkpoint prefix of the best epoch.
    """

    run_dir: Path
    config: dict
    label_names: tuple[str, ...]
    encoder_path: str
    preprocessor_path: str
    seq_length: int
    pooling: Pooling
    dropout: float
    multi_label: bool
    mixed_precision: str
    weights: Path


def is_multi_label(config: dict) -> bool:
    """Whether a saved config.yaml describes a multi-label run.

    True for ``data.multi_label: true``, a ``data.label_separator`` or several
    ``data.label_column`` entries (what ``DataConfig.multi_label`` derives).
    """
    data = config.get("data") or {}
    if "multi_label" in data:
        return bool(data["multi_label"])
    columns = data.get("label_column")
    return data.get("label_separator") is not None or (isinstance(columns, list) and len(columns) > 1)


def read_run(run_dir: PathLike) -> RunArtifacts:
    """Reads a run directory's config, labels and best checkpoint.

    Raises:
        TfclfError: a file is missing, or the encoder it names cannot be found.
    """
    from tfclf import encoders
    from tfclf.train import BEST_WEIGHTS

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise TfclfError(f"RUN_DIR: no such directory: {str(run_dir)!r}")
    missing = [name for name in ("config.yaml", "labels.txt", BEST_WEIGHTS + ".index")
               if not (run_dir / name).is_file()]
    if missing:
        hint = " (a multi-seed run: export one of its seeds/<seed>/ folders)" if (run_dir / "seeds").is_dir() else ""
        raise TfclfError(f"RUN_DIR {str(run_dir)!r} is not a finished tfclf run: missing {missing}{hint}.")
    config = load_sections(run_dir / "config.yaml", role="RUN_DIR")
    model = config.get("model") or {}
    handles = config.get("resolved_encoder") or {}
    if handles.get("encoder") and handles.get("preprocessor"):
        encoder_path = encoders.resolve_handle(handles["encoder"], "--encoder")
        preprocessor_path = encoders.resolve_handle(handles["preprocessor"], "--preprocessor")
    else:
        resolved = encoders.resolve(model.get("encoder", "minilm"), model.get("preprocessor"))
        encoder_path, preprocessor_path = resolved.encoder_path, resolved.preprocessor_path
    if not model.get("seq_length") or not model.get("pooling"):
        raise TfclfError(f"{run_dir / 'config.yaml'}: model.seq_length and model.pooling must be set "
                         "(tfclf writes them resolved).")
    labels = (run_dir / "labels.txt").read_text(encoding="utf-8").splitlines()
    return RunArtifacts(
        run_dir=run_dir, config=config, label_names=tuple(labels), encoder_path=encoder_path,
        preprocessor_path=preprocessor_path, seq_length=int(model["seq_length"]),
        pooling=Pooling(model["pooling"]), dropout=float(model.get("dropout", 0.1)),
        multi_label=is_multi_label(config),
        mixed_precision=str((config.get("train") or {}).get("mixed_precision", "none")),
        weights=run_dir / BEST_WEIGHTS)


def build_module(run: RunArtifacts, *, format: ExportFormat = ExportFormat.TEXT,
                 threshold: float = 0.5) -> tf.Module:
    """Rebuilds the run's classifier, restores its best checkpoint and wraps it for serving.

    The result is the in-memory model that the run evaluated; ``export_run`` saves
    it and ``check`` compares an export against it.

    Raises:
        TfclfError: the checkpoint does not match the rebuilt model.
    """
    from tfclf import precision
    from tfclf.model import build_classifier

    with precision.keras_policy(run.mixed_precision):
        models = build_classifier(run.encoder_path, len(run.label_names), pooling=run.pooling,
                                  dropout=run.dropout)
        status = models.classifier.load_weights(str(run.weights))
        try:
            status.expect_partial().assert_existing_objects_matched()
        except AssertionError as e:
            raise TfclfError(f"{run.weights}: the checkpoint does not match a classifier rebuilt from "
                             f"config.yaml ({str(e)[:300]}).") from None
    if format == ExportFormat.IDS:
        return IdsServingModule(models.classifier, models.embedder, run.label_names,
                                multi_label=run.multi_label, threshold=threshold)
    return ServingModule(run.preprocessor_path, run.seq_length, models.classifier, models.embedder,
                         run.label_names, multi_label=run.multi_label, threshold=threshold)


# ----------------------------------------------------------------------- versioned export

@dataclasses.dataclass(frozen=True)
class ExportResult:
    """Where ``export_run`` wrote: ``path`` is ``export_dir/<version>``."""

    path: Path
    version: int
    model_name: str
    format: ExportFormat


def next_version(export_dir: PathLike) -> int:
    """1 + the largest integer folder name in ``export_dir`` (1 when there is none)."""
    export_dir = Path(export_dir)
    versions = [int(d.name) for d in export_dir.iterdir() if d.is_dir() and d.name.isdigit()] \
        if export_dir.is_dir() else []
    return max(versions, default=0) + 1


def find_vocab(preprocessor_path: PathLike) -> Path:
    """The wordpiece vocabulary in a TF Hub preprocessor's assets.

    Raises:
        TfclfError: none, or several candidates.
    """
    found = sorted((Path(preprocessor_path) / "assets").glob("*vocab*.txt"))
    if len(found) != 1:
        raise TfclfError(
            f"--format ids needs exactly one wordpiece vocabulary (*vocab*.txt) in "
            f"{Path(preprocessor_path) / 'assets'}; found {[f.name for f in found]}.")
    return found[0]


def tokenizer_spec(run: RunArtifacts) -> dict[str, Any]:
    """How a client reproduces the preprocessor: the content of ``assets/tokenizer.json``."""
    return {
        "type": "bert_wordpiece",
        "vocab": "vocab.txt",
        "do_lower_case": "CaseFoldUTF8" in graph_ops(run.preprocessor_path),
        "seq_length": run.seq_length,
        "special_tokens": {"cls": "[CLS]", "sep": "[SEP]", "pad": "[PAD]", "unk": "[UNK]"},
        "layout": "[CLS] tokens [SEP], truncated to seq_length, right-padded with [PAD]=0 to the "
                  "longest row; input_mask 1 for real tokens; input_type_ids all 0",
    }


WARMUP_TEXTS = ("", "hello", "please help me with my order, it has not arrived yet",
                "a long text that fills the sequence " * 40)


def warmup_records(model_name: str, inputs_per_request: Sequence[dict[str, np.ndarray]],
                   signatures: Sequence[str] = ("serving_default", "embed")) -> list[bytes]:
    """Serialised ``PredictionLog`` records for ``assets.extra/tf_serving_warmup_requests``.

    Args:
        model_name: the name TF Serving serves the model under.
        inputs_per_request: one dict of input name -> array per request.
        signatures: each request is logged for every one of these signatures.
    """
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    records = []
    for signature in signatures:
        for inputs in inputs_per_request:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature))
            for name, value in inputs.items():
                request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            records.append(log.SerializeToString())
    return records


def _warmup_inputs(run: RunArtifacts, format: ExportFormat) -> list[dict[str, np.ndarray]]:
    batches = [WARMUP_TEXTS[1:2], WARMUP_TEXTS]
    if format == ExportFormat.TEXT:
        return [{"text": np.array([t.encode() for t in b], dtype=object)} for b in batches]
    from tfclf.preprocessing import TextPreprocessor

    preprocessor = TextPreprocessor(run.preprocessor_path, run.seq_length).module
    return [{k: v.numpy() for k, v in text_features(preprocessor, run.seq_length, tf.constant(b)).items()}
            for b in batches]


def models_config_text(model_name: str, base_path: Optional[str] = None) -> str:
    """A TF Serving ``--model_config_file`` serving the latest version of one model."""
    base_path = base_path or f"/models/{model_name}"
    return ("model_config_list {\n"
            "  config {\n"
            f"    name: \"{model_name}\"\n"
            f"    base_path: \"{base_path}\"\n"
            "    model_platform: \"tensorflow\"\n"
            "    model_version_policy { latest { num_versions: 1 } }\n"
            "  }\n"
            "}\n")


def export_run(run_dir: PathLike, config: ExportConfig) -> ExportResult:
    """Exports a run's best checkpoint as version ``N`` of a TF Serving model folder.

    Args:
        run_dir: a finished run directory.
        config: ``export_dir`` (required), ``version``, ``overwrite``, ``format``,
            ``threshold``, ``model_name``, ``warmup_requests``.

    Returns:
        An ``ExportResult``; the SavedModel is at ``result.path``.

    Raises:
        TfclfError: no ``export_dir``, the version exists without ``overwrite``, or
            the run directory is incomplete.
    """
    import tensorflow_text

    if not config.export_dir:
        raise TfclfError("--export-dir is required, e.g. --export-dir serving/tickets.")
    export_dir = Path(config.export_dir).expanduser()
    if export_dir.exists() and not export_dir.is_dir():
        raise TfclfError(f"--export-dir {str(export_dir)!r} is a file; expected a folder of version "
                         "folders (it is created if missing).")
    version = config.version or next_version(export_dir)
    target = export_dir / str(version)
    if target.exists() and not config.overwrite:
        raise TfclfError(
            f"--export-dir version {str(target)!r} already exists. Pass --overwrite to replace it, or "
            f"omit --version to write version {next_version(export_dir)}.")
    outputs.check_dir(target, OutputKind.EXPORT_VERSION, flag="--export-dir", overwrite=config.overwrite,
                      inputs=[outputs.Input("RUN_DIR", run_dir, outputs_inside=True)])
    model_name = config.model_name or export_dir.resolve().name
    run = read_run(run_dir)
    module = build_module(run, format=config.format, threshold=config.threshold)

    assets = [run.run_dir / "labels.txt", run.run_dir / "config.yaml"]
    info = {
        "tfclf_version": _tfclf_version(), "format": config.format.value, "model_name": model_name,
        "version": version, "run_dir": str(run.run_dir.resolve()), "multi_label": run.multi_label,
        "threshold": config.threshold, "labels": list(run.label_names), "seq_length": run.seq_length,
        "tensorflow": tf.__version__, "tensorflow_text": tensorflow_text.__version__,
        "serving_image": TF_SERVING_IMAGE,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    with tempfile.TemporaryDirectory() as scratch:
        if config.format == ExportFormat.IDS:
            vocab = Path(scratch) / "vocab.txt"
            shutil.copy2(find_vocab(run.preprocessor_path), vocab)
            spec = Path(scratch) / TOKENIZER_FILE
            spec.write_text(json.dumps(tokenizer_spec(run), indent=2) + "\n", encoding="utf-8")
            assets += [vocab, spec]
        with outputs.directory(target, OutputKind.EXPORT_VERSION, flag="--export-dir",
                               overwrite=config.overwrite, checked=True) as tmp:
            _write_saved_model(module, tmp, assets)
            extra = tmp / "assets.extra"
            extra.mkdir()
            if config.warmup_requests:
                with tf.io.TFRecordWriter(str(extra / WARMUP_FILE)) as writer:
                    for record in warmup_records(model_name, _warmup_inputs(run, config.format)):
                        writer.write(record)
            (extra / EXPORT_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
            if (run.run_dir / "metrics.json").is_file():  # what this version scored, kept beside it
                shutil.copy2(run.run_dir / "metrics.json", extra / "metrics.json")
    models_config = export_dir / MODELS_CONFIG_FILE
    if not models_config.exists():
        atomic.write_text(models_config, models_config_text(model_name))
    logger.info("Exported %s (%s, version %d) to %s", run.run_dir, config.format.value, version, target)
    return ExportResult(path=target, version=version, model_name=model_name, format=config.format)


def _tfclf_version() -> str:
    from tfclf import __version__

    return __version__


# -------------------------------------------------------------------------------- paths

def resolve_model_path(path: PathLike, role: str = "--model") -> Path:
    """The SavedModel folder behind a run directory, a model folder or a version folder.

    Accepts ``RUN_DIR`` (uses ``RUN_DIR/saved_model``), a SavedModel folder, or a
    TF Serving model folder (uses its highest version).

    Args:
        path: the folder.
        role: the flag that named it, for messages.

    Raises:
        TfclfError: none of these, naming ``role`` and what the folder lacks.
    """
    root = Path(path)
    if not root.exists():
        raise TfclfError(f"{role} {str(path)!r}: no such file or directory.")
    if not root.is_dir():
        raise TfclfError(f"{role} {str(path)!r} is a file; expected a tfclf run directory, a SavedModel "
                         "folder or a TF Serving model folder.")
    if (root / "saved_model.pb").is_file():
        return root
    if (root / SAVED_MODEL_DIR / "saved_model.pb").is_file():
        return root / SAVED_MODEL_DIR
    if root.is_dir():
        versions = sorted((int(d.name) for d in root.iterdir()
                           if d.name.isdigit() and (d / "saved_model.pb").is_file()), reverse=True)
        if versions:
            return root / str(versions[0])
    if (root / "config.yaml").is_file() or (root / "labels.txt").is_file():
        raise TfclfError(
            f"{role} {str(path)!r} is a tfclf run directory without {SAVED_MODEL_DIR}/saved_model.pb "
            "(the run did not finish, or its saved_model/ was removed). Re-run fit, or pass a SavedModel "
            "exported from it with python -m tfclf.export.")
    found = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
    raise TfclfError(
        f"{role} {str(path)!r} is neither a tfclf run directory nor a SavedModel folder: expected "
        f"{SAVED_MODEL_DIR}/saved_model.pb (a run), saved_model.pb (a SavedModel) or "
        f"<version>/saved_model.pb (a TF Serving model folder). Found: {found[:10]}")


def export_info(path: PathLike) -> dict[str, Any]:
    """``assets.extra/tfclf_export.json`` of an export ({} for ``RUN_DIR/saved_model``)."""
    f = Path(path) / "assets.extra" / EXPORT_INFO_FILE
    return json.loads(f.read_text(encoding="utf-8")) if f.is_file() else {}


# ---------------------------------------------------------------------------------- ops

def graph_ops(path: PathLike) -> set[str]:
    """Op types used anywhere in a SavedModel: its graphs and every function they call."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((Path(path) / "saved_model.pb").read_bytes())
    ops: set[str] = set()
    functions: set[str] = set()
    for meta in saved.meta_graphs:
        ops.update(node.op for node in meta.graph_def.node)
        for fn in meta.graph_def.library.function:
            functions.add(fn.signature.name)
            ops.update(node.op for node in fn.node_def)
    return ops - functions  # calling a library function by name is not an op


_OP_PROBE = """
import json, sys
import tensorflow
from tensorflow.python.framework import op_def_registry
names = json.load(open(sys.argv[1]))
stock = [n for n in names if op_def_registry.get(n) is not None]
import tensorflow_text
text = [n for n in names if n not in stock and op_def_registry.get(n) is not None]
json.dump({"tensorflow": stock, "tensorflow_text": text}, open(sys.argv[2], "w"))
"""


def op_sources(op_names: Sequence[str]) -> dict[str, str]:
    """Which library registers each op: ``tensorflow``, ``tensorflow_text`` or ``unregistered``.

    Runs in a fresh interpreter that imports stock ``tensorflow``, looks the ops up
    in its op registry, then imports ``tensorflow_text`` and looks again.
    """
    with tempfile.TemporaryDirectory() as d:
        names, out = Path(d) / "ops.json", Path(d) / "sources.json"
        names.write_text(json.dumps(sorted(op_names)))
        _run_python(["-c", _OP_PROBE, str(names), str(out)], "op registry probe")
        found = json.loads(out.read_text())
    sources = {name: "unregistered" for name in op_names}
    sources.update({name: "tensorflow" for name in found["tensorflow"]})
    sources.update({name: "tensorflow_text" for name in found["tensorflow_text"]})
    return sources


def list_ops(path: PathLike) -> dict[str, str]:
    """Every op in an export, mapped to the library that registers it (see ``op_sources``)."""
    return op_sources(sorted(graph_ops(resolve_model_path(path))))


def format_ops(sources: dict[str, str]) -> str:
    lines = [f"{name:<40} {'TF-Text' if src == 'tensorflow_text' else src}"
             for name, src in sorted(sources.items())]
    counts = {src: sum(v == src for v in sources.values()) for src in ("tensorflow", "tensorflow_text",
                                                                        "unregistered")}
    lines.append(f"{len(sources)} ops: {counts['tensorflow']} stock TensorFlow, "
                 f"{counts['tensorflow_text']} TF-Text, {counts['unregistered']} unregistered.")
    return "\n".join(lines)


def _run_python(args: Sequence[str], what: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          timeout=timeout)
    if proc.returncode != 0:
        raise TfclfError(f"{what} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


# ------------------------------------------------------------------------------- check

def adversarial_cases() -> dict[str, list[bytes]]:
    """The fixed input set of ``--check``: name -> one batch of raw byte strings."""
    cases: dict[str, list[Union[str, bytes]]] = {
        "empty": [""],
        "whitespace": [" ", "\t\n\r  ", "\u00a0\u3000\u2003"],
        "100k_chars": [("please refund my invoice " * 4000)[:100_000]],
        "emoji": ["🙂", "my package 📦 is late 😡😡", "👩\u200d👩\u200d👧\u200d👦 🏳️\u200d🌈"],
        "rtl": ["مرحبا، أين طردي؟", "שלום, איפה החבילה שלי?", "login עברית and English"],
        "cjk": ["我的包裹迟到了", "パスワードを忘れました", "비밀번호를 잊어버렸어요"],
        "nul_bytes": ["refund\x00invoice", "\x00", "a\x00\x00b"],
        "invalid_utf8": [b"\xff\xfe refund", b"caf\xe9 latin-1", b"\xc3\x28", b"\xed\xa0\x80 surrogate",
                         b"\x80\x80\x80", b"ok \xf0\x9f\x99"],
    }
    cases["mixed"] = [t for batch in cases.values() for t in batch]
    words = "the my is and please help with a to it refund charge invoice package delivery late " \
            "password login email 東京 🙂 שלום".split()
    rng = np.random.default_rng(0)
    batch = [" ".join(rng.choice(words, size=int(rng.integers(0, 60)))) for _ in range(1000)]
    step = len(batch) // len(cases["mixed"])
    for i, text in enumerate(cases["mixed"]):  # every adversarial text, spread through the batch
        batch[i * step] = text
    cases["batch_1000"] = batch
    return {name: [t if isinstance(t, bytes) else t.encode("utf-8") for t in batch]
            for name, batch in cases.items()}


@dataclasses.dataclass
class CaseResult:
    name: str
    n: int
    max_abs_diff: float
    labels_identical: bool


@dataclasses.dataclass
class CheckReport:
    """What ``check`` found. ``passed`` needs every case within ``MAX_ABS_DIFF`` and
    identical labels, and ``saved_model_cli run`` printing the in-memory labels."""

    path: Path
    reference: str
    cases: list[CaseResult]
    embedding_max_abs_diff: float
    cli_show_ok: bool
    cli_labels: Optional[list[str]]  # None: the label output was missing from saved_model_cli's output
    expected_cli_labels: list[str]
    cli_show: str = ""

    @property
    def max_abs_diff(self) -> float:
        return max((c.max_abs_diff for c in self.cases), default=0.0)

    @property
    def labels_identical(self) -> bool:
        return all(c.labels_identical for c in self.cases)

    @property
    def passed(self) -> bool:
        return (self.max_abs_diff <= MAX_ABS_DIFF and self.embedding_max_abs_diff <= MAX_ABS_DIFF
                and self.labels_identical and self.cli_show_ok and self.cli_labels is not None
                and self.cli_labels == self.expected_cli_labels)

    def format(self) -> str:
        lines = [f"Export {self.path} vs the in-memory model ({self.reference}), export loaded in a "
                 "fresh process:",
                 f"  {'case':<14} {'n':>5} {'max |diff|':>11}  labels"]
        for c in self.cases:
            lines.append(f"  {c.name:<14} {c.n:>5} {c.max_abs_diff:>11.2e}  "
                         f"{'identical' if c.labels_identical else 'DIFFERENT'}")
        lines.append(f"  embedding max |diff| {self.embedding_max_abs_diff:.2e}")
        lines.append(f"  saved_model_cli show --all: {'ok' if self.cli_show_ok else 'FAILED'}")
        lines.append(f"  saved_model_cli run: {self.cli_labels} "
                     f"{'==' if self.cli_labels == self.expected_cli_labels else '!='} "
                     f"in-memory {self.expected_cli_labels}")
        lines.append(f"{'PASSED' if self.passed else 'FAILED'}: max |diff| {self.max_abs_diff:.2e} "
                     f"(limit {MAX_ABS_DIFF:g}), labels {'identical' if self.labels_identical else 'differ'}.")
        return "\n".join(lines)


def _serve_cases_child() -> None:
    """Runs in a fresh interpreter: loads an export as a server would and runs the cases."""
    import tensorflow_text  # noqa: F401  (TF Serving links the TF-Text ops in; Python imports them)

    path, in_file, out_file = sys.argv[1:4]
    with open(in_file, "rb") as f:
        cases = pickle.load(f)
    loaded = tf.saved_model.load(path)
    results = {}
    for name, inputs in cases.items():
        tensors = {k: tf.constant(v) for k, v in inputs.items()}
        out = {k: v.numpy() for k, v in loaded.signatures["serving_default"](**tensors).items()}
        out["embedding"] = loaded.signatures["embed"](**tensors)["embedding"].numpy()
        results[name] = out
    with open(out_file, "wb") as f:
        pickle.dump(results, f)


def _in_memory_outputs(module: tf.Module, inputs: dict[str, Any]) -> dict[str, np.ndarray]:
    tensors = {k: tf.constant(v) for k, v in inputs.items()}
    out = {k: v.numpy() for k, v in module.serve(**tensors).items()}
    out["embedding"] = module.embed(**tensors)["embedding"].numpy()
    return out


def _reference_run(path: Path, run_dir: Optional[PathLike]) -> Path:
    if run_dir is not None:
        return Path(run_dir)
    recorded = export_info(path).get("run_dir")
    if recorded and Path(recorded).is_dir():
        return Path(recorded)
    if path.name == SAVED_MODEL_DIR and (path.parent / "config.yaml").is_file():
        return path.parent
    raise TfclfError(
        f"--check {str(path)!r}: cannot find the run directory it was exported from "
        f"(recorded: {recorded!r}); pass --run RUN_DIR.")


def saved_model_cli(args: Sequence[str]) -> subprocess.CompletedProcess:
    """Runs ``saved_model_cli ARGS`` with the TF-Text ops registered, in a fresh process."""
    return _run_python(["-m", "tfclf.export", "--saved-model-cli", *args], "saved_model_cli " + args[0])


_CLI_OUTPUT_RE = re.compile(r"Result for output key (\w+):\n(.*?)(?=\nResult for output key|\Z)", re.S)


def parse_saved_model_cli_run(stdout: str) -> dict[str, str]:
    """``saved_model_cli run`` output -> {output key: printed value}."""
    return {m.group(1): m.group(2).strip() for m in _CLI_OUTPUT_RE.finditer(stdout)}


def _printed_strings(value: str) -> list[str]:
    import ast

    return [ast.literal_eval(m.group(0)).decode("utf-8") for m in re.finditer(r"b'(?:[^'\\]|\\.)*'|b\"(?:[^\"\\]|\\.)*\"", value)]


CLI_TEXTS = ("please refund the invoice", "my package is late")


def check(path: PathLike, run_dir: Optional[PathLike] = None) -> CheckReport:
    """Proves an export computes what the run's model computes.

    Rebuilds the run's classifier from ``config.yaml`` and its best checkpoint in
    this process, loads the export in a fresh process (importing only TensorFlow
    and TF-Text, as a server does), runs ``adversarial_cases()`` through both and
    compares every output. Also runs ``saved_model_cli show --all`` and
    ``saved_model_cli run --input_exprs`` on the export.

    Args:
        path: the export (version folder, model folder or run directory).
        run_dir: the run it came from; default: recorded in ``assets.extra``.

    Returns:
        A ``CheckReport``; ``report.passed`` says whether the export is identical.
    """
    path = resolve_model_path(path, role="--check")
    info = export_info(path)
    run = read_run(_reference_run(path, run_dir))
    fmt = ExportFormat(info.get("format", ExportFormat.TEXT.value))
    module = build_module(run, format=fmt, threshold=float(info.get("threshold", 0.5)))
    cases = adversarial_cases()
    if fmt == ExportFormat.IDS:
        from tfclf.preprocessing import TextPreprocessor

        preprocessor = TextPreprocessor(run.preprocessor_path, run.seq_length).module
        inputs = {name: {k: v.numpy() for k, v in
                         text_features(preprocessor, run.seq_length, tf.constant(batch)).items()}
                  for name, batch in cases.items()}
    else:
        inputs = {name: {"text": np.array(batch, dtype=object)} for name, batch in cases.items()}

    start = time.monotonic()
    with tempfile.TemporaryDirectory() as d:
        in_file, out_file = Path(d) / "in.pkl", Path(d) / "out.pkl"
        with open(in_file, "wb") as f:
            pickle.dump(inputs, f)
        _run_python(["-c", "from tfclf.export import _serve_cases_child; _serve_cases_child()",
                     str(path), str(in_file), str(out_file)], "loading the export in a fresh process")
        with open(out_file, "rb") as f:
            served = pickle.load(f)
    logger.info("Fresh-process run of %d cases took %.1fs", len(cases), time.monotonic() - start)

    results, embed_diff = [], 0.0
    label_key = "labels" if run.multi_label else "label"
    for name, batch_inputs in inputs.items():
        expected = _in_memory_outputs(module, batch_inputs)
        got = served[name]
        if set(expected) != set(got):
            raise TfclfError(f"{path}: the export's outputs {sorted(got)} differ from the in-memory "
                             f"model's {sorted(expected)}.")
        diff = max(float(np.max(np.abs(got[k] - expected[k]), initial=0.0))
                   for k in expected if expected[k].dtype.kind == "f" and k != "embedding")
        embed_diff = max(embed_diff, float(np.max(np.abs(got["embedding"] - expected["embedding"]),
                                                  initial=0.0)))
        same = bool(np.array_equal(got[label_key], expected[label_key]))
        if "label_id" in expected:
            same = same and bool(np.array_equal(got["label_id"], expected["label_id"]))
        results.append(CaseResult(name=name, n=len(cases[name]), max_abs_diff=diff, labels_identical=same))

    show = saved_model_cli(["show", "--dir", str(path), "--all"]).stdout
    input_names = ["input_word_ids"] if fmt == ExportFormat.IDS else ["text"]
    show_ok = all(s in show for s in ("signature_def['serving_default']", "signature_def['embed']",
                                      f"inputs['{input_names[0]}']", "outputs['probabilities']"))
    if fmt == ExportFormat.IDS:
        cli_inputs = {k: v.numpy() for k, v in
                      text_features(preprocessor, run.seq_length, tf.constant(CLI_TEXTS)).items()}
        exprs = ";".join(f"{k}={cli_inputs[k].tolist()!r}" for k in INPUT_NAMES)
    else:
        cli_inputs = {"text": np.array([t.encode() for t in CLI_TEXTS], dtype=object)}
        exprs = f"text={list(CLI_TEXTS)!r}"
    expected_out = _in_memory_outputs(module, cli_inputs)
    run_out = saved_model_cli(["run", "--dir", str(path), "--tag_set", "serve", "--signature_def",
                               "serving_default", "--input_exprs", exprs]).stdout
    printed = parse_saved_model_cli_run(run_out).get(label_key)
    cli_labels = None if printed is None else [s for s in _printed_strings(printed) if s]
    expected_labels = [s.decode() for s in np.ravel(expected_out[label_key]) if s]
    return CheckReport(path=path, reference=f"rebuilt from {run.run_dir}/config.yaml + {run.weights.name}",
                       cases=results, embedding_max_abs_diff=embed_diff, cli_show_ok=show_ok,
                       cli_labels=cli_labels, expected_cli_labels=expected_labels, cli_show=show)


# ------------------------------------------------------------------------------ loading

class LoadedModel:
    """A saved tfclf model that predicts raw strings.

    ``path`` may be a run directory, a SavedModel folder, or a TF Serving model
    folder (its highest version is loaded).

    Example::

        model = tfclf.load("runs/demo")
        labels, probabilities = model.predict(["my card was charged twice"])
    """

    def __init__(self, path: PathLike):
        import tensorflow_text  # noqa: F401  (registers ops before the graph is loaded)

        saved = resolve_model_path(path)
        self.path = saved
        self._module = tf.saved_model.load(str(saved))
        self._serve = self._module.signatures["serving_default"]
        self._embed = self._module.signatures.get("embed")
        self.input_names = sorted(self._serve.structured_input_signature[1])
        self.output_names = sorted(self._serve.structured_outputs)
        self.multi_label = "labels" in self.output_names
        self.info = export_info(saved)
        labels_file = saved / "assets" / "labels.txt"
        self.label_names = labels_file.read_text(encoding="utf-8").splitlines()

    def _text_input(self, texts: Sequence[Union[str, bytes]]) -> tf.Tensor:
        if self.input_names != ["text"]:
            raise TfclfError(f"{self.path} is an --format ids export (inputs {self.input_names}); "
                             "tokenise on the client or load a --format text export.")
        return tf.constant([_utf8(t) for t in texts], dtype=tf.string)

    def outputs(self, texts: Sequence[Union[str, bytes]]) -> dict[str, np.ndarray]:
        """Runs ``serving_default`` on one batch and returns every output as numpy."""
        return {k: v.numpy() for k, v in self._serve(text=self._text_input(texts)).items()}

    def predict(self, texts: Sequence[Union[str, bytes]], batch_size: int = 64
                ) -> tuple[list[Any], np.ndarray]:
        """Classifies texts.

        Texts are batched in order of length (the export pads each batch to its
        longest text) and the results are returned in input order.

        Returns:
            (labels, probabilities): N label strings (multi-label models: N lists of
            labels) and an ``[N, C]`` float32 array whose columns follow ``self.label_names``.
        """
        texts = list(texts)
        order = length_order(texts)
        labels: list[Any] = [None] * len(texts)
        probabilities = np.zeros((len(texts), len(self.label_names)), np.float32)
        for i in range(0, len(texts), batch_size):
            rows = order[i:i + batch_size]
            out = self.outputs([texts[r] for r in rows])
            probabilities[rows] = out["probabilities"]
            for r, value in zip(rows, out["labels"] if self.multi_label else out["label"]):
                labels[r] = [s.decode() for s in value if s] if self.multi_label else value.decode()
        return labels, probabilities

    def embed(self, texts: Sequence[Union[str, bytes]], batch_size: int = 64) -> np.ndarray:
        """Pooled sentence embeddings, ``[N, H] float32``, batched by length like ``predict``."""
        texts = list(texts)
        order = length_order(texts)
        parts = [self._embed(text=self._text_input([texts[r] for r in rows]))["embedding"].numpy()
                 for rows in (order[i:i + batch_size] for i in range(0, len(texts), batch_size))]
        if not parts:
            return np.zeros((0, 0), np.float32)
        out = np.empty((len(texts), parts[0].shape[1]), parts[0].dtype)
        out[order] = np.concatenate(parts)
        return out


def length_order(texts: Sequence[Union[str, bytes]]) -> np.ndarray:
    """Row order that batches texts of similar length (characters stand in for tokens), stable."""
    return np.argsort(np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts)), kind="stable")


def _utf8(text: Union[str, bytes]) -> bytes:
    if isinstance(text, bytes):
        return text
    try:  # undecodable input read with surrogateescape: give the graph the raw bytes to replace
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # other lone surrogates (e.g. from JSON escapes)
        return text.encode("utf-8", "replace")


def load(path: PathLike) -> LoadedModel:
    """Loads a run directory, SavedModel or TF Serving model folder for prediction on raw strings."""
    return LoadedModel(path)


# ---------------------------------------------------------------------------------- CLI

def _add_config_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    from tfclf import config as config_lib

    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        base, _ = config_lib._strip_optional(hints[f.name])
        flag = "--" + f.name.replace("_", "-")
        default = f.default.value if isinstance(f.default, ExportFormat) else f.default
        help_text = f"{f.metadata.get('help', '')} (default: {default})"
        if base is bool:
            parser.add_argument(flag, dest=f.name, default=argparse.SUPPRESS,
                                action=argparse.BooleanOptionalAction, help=help_text)
        elif isinstance(base, type) and issubclass(base, ExportFormat):
            parser.add_argument(flag, dest=f.name, default=argparse.SUPPRESS,
                                choices=[m.value for m in base], help=help_text)
        else:
            parser.add_argument(flag, dest=f.name, default=argparse.SUPPRESS,
                                metavar=config_lib._metavar(base), help=help_text)


def _export_config(args: argparse.Namespace) -> ExportConfig:
    from tfclf import config as config_lib

    hints = typing.get_type_hints(ExportConfig)
    values = {f.name: config_lib._coerce(getattr(args, f.name), hints[f.name], "--" + f.name.replace("_", "-"))
              for f in dataclasses.fields(ExportConfig) if hasattr(args, f.name)}
    return ExportConfig(**values)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tfclf.export", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="python -m tfclf.export --saved-model-cli ARGS... runs TensorFlow's saved_model_cli "
               "with the TF-Text ops registered.")
    parser.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="Run directory to export.")
    _add_config_flags(parser, ExportConfig)
    parser.add_argument("--check", nargs="?", const="", metavar="PATH",
                        help="Check an export (with RUN_DIR: the one just written) against the "
                             "in-memory model, in a fresh process.")
    parser.add_argument("--run", metavar="RUN_DIR",
                        help="For --check: the run to compare with (default: recorded in the export).")
    parser.add_argument("--list-ops", metavar="PATH", help="Print every op of an export; mark TF-Text ones.")
    return parser


def _saved_model_cli_main(args: Sequence[str]) -> None:
    import tensorflow_text  # noqa: F401  (registers the TF-Text ops saved_model_cli would miss)
    from tensorflow.python.tools import saved_model_cli as smcli

    sys.argv = ["saved_model_cli", *args]
    smcli.main()


def main(argv: Optional[list[str]] = None) -> int:
    from tfclf import cli

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--saved-model-cli"]:
        _saved_model_cli_main(argv[1:])
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.run_dir is None and args.list_ops is None and not args.check:
        parser.error("give RUN_DIR --export-dir DIR, --check PATH or --list-ops PATH")
    failed = []

    def body() -> None:
        check_path = args.check or None
        if args.run_dir is not None:
            result = export_run(args.run_dir, _export_config(args))
            sys.stdout.write(f"{result.path}\n")
            if args.check is not None:
                check_path = str(result.path)
        if args.list_ops:
            sources = list_ops(args.list_ops)
            sys.stdout.write(format_ops(sources) + "\n")
            if "unregistered" in sources.values():
                failed.append("ops")
        if check_path:
            report = check(check_path, run_dir=args.run)
            sys.stdout.write(report.format() + "\n")
            if not report.passed:
                failed.append("check")

    code = cli.run_main(body)
    return code or (1 if failed else 0)


if __name__ == "__main__":
    sys.exit(main())
