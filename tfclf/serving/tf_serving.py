"""TF Serving exports: versioned model folders, warmup records, ``models.config``, the op listing.

Layout of ``python -m tfclf.export RUN_DIR --export-dir serving/<name>``::

    serving/<name>/models.config           example TF Serving config (written once)
    serving/<name>/<N>/saved_model.pb      version N, written to a temporary folder and renamed
    serving/<name>/<N>/assets/             labels.txt, config.yaml (the run's resolved config);
                                           --format ids: vocab.txt, tokenizer.json
    serving/<name>/<N>/assets.extra/       tf_serving_warmup_requests, tfclf_export.json, metrics.json,
                                           MODEL_CARD.md (tfclf.model_card)

The ``text`` graph contains TF-Text ops (``CaseFoldUTF8``, ``WordpieceTokenizeWithOffsets``,
``TFText>RoundRobinTrim``, ...): serve it with ``tensorflow/serving:2.20.0`` (see
``TF_SERVING_IMAGE``); ``list_ops`` says which library registers each op.

``--export-dir`` (and ``RUN_DIR``) may be on a store (``gs://bucket/serving/<name>``): the
version is built locally, copied up under ``.<N>.partial`` and made visible as ``<N>/``
with ``saved_model.pb`` after the variables and the completion marker last
(``tfclf.object_storage``), so TF Serving never loads half a version.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import tensorflow as tf

from tfclf import __version__, model_card, object_storage, outputs, rundir, thresholds as thresholds_lib
from tfclf.config import ExportConfig, ExportFormat, LongText
from tfclf.data import filesystem
from tfclf.errors import TfclfError
from tfclf.outputs import OutputKind
from tfclf.serving import restore
from tfclf.serving.loaded import ASSETS_EXTRA, EXPORT_INFO_FILE, resolve_model_path
from tfclf.serving.restore import RunArtifacts
from tfclf.serving.signatures import ASSETS, text_features, write_saved_model

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

WARMUP_FILE = "tf_serving_warmup_requests"
MODELS_CONFIG_FILE = "models.config"
TOKENIZER_FILE = "tokenizer.json"
VOCAB_FILE = "vocab.txt"
# The TF Serving release built against the pinned TensorFlow 2.20 / TF-Text 2.20; older
# servers may lack TFText>RoundRobinTrim (python -m tfclf.export --list-ops shows what is used).
TF_SERVING_IMAGE = "tensorflow/serving:2.20.0"

__all__ = ["ASSETS_EXTRA", "EXPORT_INFO_FILE", "MODELS_CONFIG_FILE", "TF_SERVING_IMAGE", "TOKENIZER_FILE",
           "VOCAB_FILE", "WARMUP_FILE", "WARMUP_TEXTS", "ExportResult", "export_run", "find_vocab",
           "format_ops", "graph_ops", "list_ops", "models_config_text", "next_version", "op_sources",
           "run_python", "tokenizer_spec", "warmup_records"]


# ----------------------------------------------------------------------- versioned export

@dataclasses.dataclass(frozen=True)
class ExportResult:
    """Where ``export_run`` wrote: ``path`` is ``export_dir/<version>`` (a ``RemotePath`` on a store)."""

    path: Union[Path, filesystem.RemotePath]
    version: int
    model_name: str
    format: ExportFormat


def next_version(export_dir: PathLike) -> int:
    """1 + the largest integer folder name in ``export_dir`` (1 when there is none; a store path too)."""
    export_dir = filesystem.path(export_dir)
    versions = [int(d.name) for d in export_dir.iterdir() if d.is_dir() and d.name.isdigit()] \
        if export_dir.is_dir() else []
    return max(versions, default=0) + 1


def find_vocab(preprocessor_path: PathLike) -> Path:
    """The wordpiece vocabulary in a TF Hub preprocessor's assets.

    Raises:
        TfclfError: none, or several candidates.
    """
    found = sorted((Path(preprocessor_path) / ASSETS).glob("*vocab*.txt"))
    if len(found) != 1:
        raise TfclfError(
            f"--format ids needs exactly one wordpiece vocabulary (*vocab*.txt) in "
            f"{Path(preprocessor_path) / ASSETS}; found {[f.name for f in found]}.")
    return found[0]


def tokenizer_spec(run: RunArtifacts) -> dict[str, Any]:
    """How a client reproduces the preprocessor: the content of ``assets/tokenizer.json``."""
    return {
        "type": "bert_wordpiece",
        "vocab": VOCAB_FILE,
        "do_lower_case": "CaseFoldUTF8" in graph_ops(run.preprocessor_path),
        "seq_length": run.seq_length,
        "special_tokens": {"cls": "[CLS]", "sep": "[SEP]", "pad": "[PAD]", "unk": "[UNK]"},
        "layout": LAYOUTS[run.long_text.mode],
        "long_text": {"mode": run.long_text.mode.value, "head_tokens": run.long_text.head_tokens,
                      "chunk_stride": run.long_text.chunk_stride, "max_chunks": run.long_text.max_chunks},
    }


# How a client packs a text for a --format ids export, per --long-text mode (tfclf.long_text).
LAYOUTS = {
    LongText.TRUNCATE: "[CLS] tokens [SEP], truncated to seq_length, right-padded with [PAD]=0 to the "
                       "longest row; input_mask 1 for real tokens; input_type_ids all 0",
    LongText.HEAD_TAIL: "[CLS] the first head_tokens and the last seq_length - 2 - head_tokens wordpieces "
                        "(all of them if they fit) [SEP], right-padded with [PAD]=0 to the longest row; "
                        "input_mask 1 for real tokens; input_type_ids all 0",
    LongText.CHUNKS: "[batch, windows, seq]: each text's wordpieces in windows of seq_length - 2 starting "
                     "every seq_length - 2 - chunk_stride, at most max_chunks, each packed as "
                     "[CLS] window [SEP] and right-padded with [PAD]=0; texts with fewer windows "
                     "padded with all-zero windows; input_mask 1 for real tokens; input_type_ids all 0",
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
    preprocessor = run.text_preprocessor().module
    return [{k: v.numpy() for k, v in text_features(preprocessor, run.seq_length, tf.constant(b),
                                                    run.long_text).items()}
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
    export_dir = filesystem.path(config.export_dir)
    if export_dir.exists() and not export_dir.is_dir():
        raise TfclfError(f"--export-dir {str(export_dir)!r} is a file; expected a folder of version "
                         "folders (it is created if missing).")
    version = config.version or next_version(export_dir)
    target = export_dir / str(version)
    if target.exists() and not config.overwrite:
        raise TfclfError(
            f"--export-dir version {str(target)!r} already exists. Pass --overwrite to replace it, or "
            f"omit --version to write version {next_version(export_dir)}.")
    object_storage.check_dir(target, OutputKind.EXPORT_VERSION, flag="--export-dir", overwrite=config.overwrite,
                             inputs=[outputs.Input("RUN_DIR", run_dir, outputs_inside=True)])
    model_name = config.model_name or export_dir.resolve().name
    run = restore.read_run(run_dir)
    thresholds = [config.threshold] * len(run.label_names) if config.threshold is not None else run.thresholds()
    module = restore.build_module(run, format=config.format, threshold=thresholds)

    assets = [run.run_dir / rundir.LABELS, run.run_dir / rundir.CONFIG]
    if (run.run_dir / thresholds_lib.FILENAME).is_file():
        assets.append(run.run_dir / thresholds_lib.FILENAME)
    info = {
        "tfclf_version": __version__, "format": config.format.value, "model_name": model_name,
        "version": version, "run_dir": run.location, "multi_label": run.multi_label,
        "thresholds": thresholds if run.multi_label else None, "labels": list(run.label_names), "seq_length": run.seq_length,
        "tensorflow": tf.__version__, "tensorflow_text": tensorflow_text.__version__,
        "serving_image": TF_SERVING_IMAGE,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    with tempfile.TemporaryDirectory() as scratch:
        if config.format == ExportFormat.IDS:
            vocab = Path(scratch) / VOCAB_FILE
            shutil.copy2(find_vocab(run.preprocessor_path), vocab)
            spec = Path(scratch) / TOKENIZER_FILE
            spec.write_text(json.dumps(tokenizer_spec(run), indent=2) + "\n", encoding="utf-8")
            assets += [vocab, spec]
        with object_storage.directory(target, OutputKind.EXPORT_VERSION, flag="--export-dir",
                                      overwrite=config.overwrite, checked=True, serving=True) as tmp:
            write_saved_model(module, tmp, assets)
            extra = tmp / ASSETS_EXTRA
            extra.mkdir()
            if config.warmup_requests:
                with tf.io.TFRecordWriter(str(extra / WARMUP_FILE)) as writer:
                    for record in warmup_records(model_name, _warmup_inputs(run, config.format)):
                        writer.write(record)
            (extra / EXPORT_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
            model_card.write_model_card(extra / rundir.MODEL_CARD, run.run_dir, export_info=info)
            if (run.run_dir / rundir.METRICS).is_file():  # what this version scored, kept beside it
                shutil.copy2(run.run_dir / rundir.METRICS, extra / rundir.METRICS)
    models_config = export_dir / MODELS_CONFIG_FILE
    if not models_config.exists():
        object_storage.write_text(models_config, models_config_text(model_name))
    logger.info("Exported %s (%s, version %d) to %s", run.location, config.format.value, version, target)
    return ExportResult(path=target, version=version, model_name=model_name, format=config.format)


# ---------------------------------------------------------------------------------- ops

def graph_ops(path: PathLike) -> set[str]:
    """Op types used anywhere in a SavedModel: its graphs and every function they call."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((filesystem.path(path) / "saved_model.pb").read_bytes())
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
        run_python(["-c", _OP_PROBE, str(names), str(out)], "op registry probe")
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


def run_python(args: Sequence[str], what: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    """Runs ``python ARGS`` in a fresh interpreter (this one's executable), capturing its output.

    Raises:
        TfclfError: it exits non-zero, naming ``what`` and quoting the end of its stderr.
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          timeout=timeout)
    if proc.returncode != 0:
        raise TfclfError(f"{what} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc
