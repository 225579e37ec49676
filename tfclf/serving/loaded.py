"""A saved tfclf model that predicts raw strings: ``tfclf.load`` and model-path resolution.

``tfclf.load(path)`` accepts a run directory (its ``saved_model/``), a SavedModel
folder, or a TF Serving model folder (its highest version), and returns a
``LoadedModel`` whose ``predict`` and ``embed`` take Python strings.

Any of them may be on a store (``gs://bucket/serving/tickets``): only a complete folder
is loaded, one with the marker that ``tfclf.object_storage`` writes last (a model
folder's versions without it are still being uploaded, and are skipped), and the
SavedModel is copied to a temporary local folder that lives as long as the model.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import tensorflow as tf

from tfclf import object_storage, rundir, thresholds as thresholds_lib
from tfclf.data import filesystem
from tfclf.errors import TfclfError
from tfclf.outputs import MARKER
from tfclf.serving.signatures import ASSETS

PathLike = Union[str, os.PathLike]

ASSETS_EXTRA = "assets.extra"  # TF Serving's folder beside a SavedModel for warmup and metadata
EXPORT_INFO_FILE = "tfclf_export.json"  # what python -m tfclf.export recorded about a version

__all__ = ["ASSETS_EXTRA", "EXPORT_INFO_FILE", "LoadedModel", "export_info", "length_order", "load",
           "resolve_model_path"]


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
        self.local_copy = None  # a model on a store: its local copy, kept as long as the model
        if isinstance(saved, filesystem.RemotePath):
            self.local_copy = object_storage.LocalCopy(str(saved), "--model", checked=True)
            saved = self.local_copy.path
        self.path = saved
        self._module = tf.saved_model.load(str(saved))
        self._serve = self._module.signatures["serving_default"]
        self._embed = self._module.signatures.get("embed")
        self.input_names = sorted(self._serve.structured_input_signature[1])
        self.output_names = sorted(self._serve.structured_outputs)
        self.multi_label = "labels" in self.output_names
        self.info = export_info(saved)
        labels_file = saved / ASSETS / rundir.LABELS
        self.label_names = labels_file.read_text(encoding="utf-8").splitlines()

    @property
    def thresholds(self) -> Optional[np.ndarray]:
        """Multi-label: ``[C] float32`` decision thresholds, in ``label_names`` order, as the
        export recorded them (``tfclf_export.json``, an explicit ``--threshold`` included), else
        ``assets/thresholds.json`` (the run's), else 0.5 each; None for a single-label model.

        Raises:
            TfclfError: a damaged thresholds.json, or one without a label.
        """
        if not self.multi_label:
            return None
        recorded = self.info.get("thresholds")
        if recorded is not None:
            return np.broadcast_to(np.asarray(recorded, dtype=np.float32), (len(self.label_names),)).copy()
        saved = thresholds_lib.load(self.path / ASSETS)
        if saved is None:
            return np.full(len(self.label_names), 0.5, dtype=np.float32)  # --threshold's default
        return saved.array(self.label_names).astype(np.float32)

    def _text_input(self, texts: Sequence[Union[str, bytes]]) -> tf.Tensor:
        if self.input_names != ["text"]:
            raise TfclfError(f"{self.path} is an --format ids export (inputs {self.input_names}); "
                             "tokenise on the client or load a --format text export.")
        return tf.constant([utf8_bytes(t) for t in texts], dtype=tf.string)

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


def utf8_bytes(text: Union[str, bytes]) -> bytes:
    """A text as the serving signature's bytes; undecodable input (surrogateescape) as its raw bytes."""
    if isinstance(text, bytes):
        return text
    try:  # undecodable input read with surrogateescape: give the graph the raw bytes to replace
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # other lone surrogates (e.g. from JSON escapes)
        return text.encode("utf-8", "replace")


def load(path: PathLike) -> LoadedModel:
    """Loads a run directory, SavedModel or TF Serving model folder for prediction on raw strings."""
    return LoadedModel(path)


def resolve_model_path(path: PathLike, role: str = "--model") -> Union[Path, filesystem.RemotePath]:
    """The SavedModel folder behind a run directory, a model folder or a version folder.

    Accepts ``RUN_DIR`` (uses ``RUN_DIR/saved_model``), a SavedModel folder, or a
    TF Serving model folder (uses its highest version). On a store the folder must be
    complete (``object_storage.require_complete``); a model folder's versions without
    the marker are being uploaded and are skipped.

    Args:
        path: the folder.
        role: the flag that named it, for messages.

    Returns:
        A ``Path``, or a ``RemotePath`` on a store.

    Raises:
        TfclfError: none of these, naming ``role`` and what the folder lacks; a store
            folder without tfclf's completion marker.
    """
    root = filesystem.path(path)
    remote = isinstance(root, filesystem.RemotePath)
    if not root.exists():
        raise TfclfError(f"{role} {str(path)!r}: no such file or directory.")
    if not root.is_dir():
        raise TfclfError(f"{role} {str(path)!r} is a file; expected a tfclf run directory, a SavedModel "
                         "folder or a TF Serving model folder.")
    if (root / "saved_model.pb").is_file():
        if remote:
            object_storage.require_complete(str(root), role)
        return root
    if (root / rundir.SAVED_MODEL / "saved_model.pb").is_file():
        if remote:
            object_storage.require_complete(str(root), role)
        return root / rundir.SAVED_MODEL
    if root.is_dir():
        versions = sorted((int(d.name) for d in root.iterdir()
                           if d.name.isdigit() and (d / "saved_model.pb").is_file()), reverse=True)
        complete = [v for v in versions if not remote or (root / str(v) / MARKER).exists()]
        if remote and versions and not complete:
            raise TfclfError(f"{role} {str(path)!r}: versions {versions} have no {MARKER} yet: they are still "
                             "being uploaded (tfclf writes that marker last), or were not written by tfclf.")
        if complete:
            return root / str(complete[0])
    if (root / rundir.CONFIG).is_file() or (root / rundir.LABELS).is_file():
        raise TfclfError(
            f"{role} {str(path)!r} is a tfclf run directory without {rundir.SAVED_MODEL}/saved_model.pb "
            "(the run did not finish, or its saved_model/ was removed). Re-run fit, or pass a SavedModel "
            "exported from it with python -m tfclf.export.")
    found = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
    raise TfclfError(
        f"{role} {str(path)!r} is neither a tfclf run directory nor a SavedModel folder: expected "
        f"{rundir.SAVED_MODEL}/saved_model.pb (a run), saved_model.pb (a SavedModel) or "
        f"<version>/saved_model.pb (a TF Serving model folder). Found: {found[:10]}")


def export_info(path: PathLike) -> dict[str, Any]:
    """``assets.extra/tfclf_export.json`` of an export ({} for ``RUN_DIR/saved_model``)."""
    f = filesystem.path(path) / ASSETS_EXTRA / EXPORT_INFO_FILE
    return json.loads(f.read_text(encoding="utf-8")) if f.is_file() else {}
