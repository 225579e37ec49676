"""Outputs on object storage (``gs://``, ``s3://``, ...): checked, built locally, published marker last.

Every output folder is built on the local disk exactly as for a local path
(``tfclf.outputs``: a temporary folder, renamed when complete). For a destination on a
store, ``publish`` then copies the finished folder up with ``tf.io.gfile``
(``tfclf.data.filesystem``) and makes it visible last. What each store gets:

* **A local path**: unchanged; the folder is swapped in with ``os.replace``.
* **Stores with an atomic folder rename** (``RENAME_SCHEMES``: ``file://``, HDFS): the
  folder is copied to ``.<name>.partial`` beside the destination, then renamed into place,
  as on a local disk.
* **Object stores** (``gs://``, ``s3://``, ``az://``, ``ram://``): a folder rename is a copy
  and delete, object by object, so nothing can appear at once. The folder's marker,
  ``.tfclf-output.json`` (``tfclf.outputs.MARKER``), is the completion marker: it is
  written last, and tfclf refuses to read a folder on a store without it
  (``require_complete``: ``tfclf.load``, predict, export, evaluate). A TF Serving
  version (``publish(..., serving=True)``) is first copied whole to ``.<version>.partial``,
  a name TF Serving ignores (it loads numeric folder names only), then copied into
  ``<version>/`` inside the store with ``saved_model.pb`` after every variable and asset,
  and the marker last; the partial copy is then deleted. TF Serving never sees a
  SavedModel whose variables are missing: until ``saved_model.pb`` is there, a poll that
  finds the version fails to load it and retries.
* **Replacing** (``--overwrite``) on an object store deletes the old folder's marker
  first, so it stops counting as complete before any of its files change.

Single files (``predict --output``, ``models.config``) are written locally, then uploaded
as one object, which object stores make visible whole. A run on a store resumes (a re-run
of the same ``fit``) only on the machine that trained it: its partial folder is local
(``staging_dir``).
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Iterator, Sequence, Union

from tfclf import atomic, outputs, urls
from tfclf.data import filesystem
from tfclf.errors import TfclfError
from tfclf.outputs import MARKER, Input, OutputKind

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

RENAME_SCHEMES = frozenset({"file", "hdfs", "viewfs"})  # tf.io.gfile renames a folder at once there
SAVED_MODEL_PB = "saved_model.pb"

__all__ = ["RENAME_SCHEMES", "LocalCopy", "check_dir", "check_file", "directory", "is_remote", "local_copy", "publish",
           "publish_file", "read_kind", "require_complete", "staging_dir", "write_text"]

is_remote = urls.is_remote


# ------------------------------------------------------------------------------ checks

def read_kind(url: str) -> Union[str, None]:
    """The kind recorded by the marker of a folder on a store; None without one."""
    marker = filesystem.RemotePath(urls.join(url, MARKER))
    return outputs.parse_marker(marker.read_text()) if marker.exists() else None


def check_dir(path: PathLike, kind: OutputKind, *, flag: str, overwrite: bool = False,
              inputs: Sequence[Input] = (), reuse: bool = False) -> Union[Path, str]:
    """``tfclf.outputs.check_dir``, for a store too: the same rules, read from the store.

    Returns:
        A local ``Path``, or the URL (a ``str``) of a folder on a store.

    Raises:
        TfclfError: as ``tfclf.outputs.check_dir``; a store error (no such bucket, no
            permission, a scheme TensorFlow lacks) names the path.
    """
    checked = outputs.check_dir(path, kind, flag=flag, overwrite=overwrite, inputs=inputs, reuse=reuse)
    if not is_remote(checked):
        return checked
    url, shown = str(checked), repr(str(checked))
    target = filesystem.RemotePath(url)
    if not target.exists():
        return url
    if not target.is_dir():
        raise TfclfError(f"{flag} {shown} is a file, not a folder; --overwrite replaces only a folder that "
                         "tfclf created. Choose a new folder.")
    found = read_kind(url)
    if found is None and any(target.iterdir()):
        raise TfclfError(
            f"{flag} {shown} is a non-empty folder without {MARKER}: tfclf did not create it, or an upload "
            "stopped before its marker (written last) was; tfclf never replaces it, with or without "
            "--overwrite. Delete it yourself if it is an interrupted upload, or choose a new folder.")
    if found is not None and found != kind.value:
        raise TfclfError(f"{flag} {shown} holds a tfclf {found} output, not {kind.article} {kind.value}; "
                         f"--overwrite replaces only {kind.article} {kind.value} folder. Choose another folder.")
    if not (overwrite or reuse):
        raise TfclfError(f"{flag} {shown} already exists. Choose another folder or pass --overwrite to replace it.")
    return url


def check_file(path: PathLike, *, flag: str, extensions: Sequence[str] = (),
               inputs: Sequence[Input] = ()) -> Union[Path, str]:
    """``tfclf.outputs.check_file``, for a store too: a store path must not be an existing folder."""
    checked = outputs.check_file(path, flag=flag, extensions=extensions, inputs=inputs)
    if is_remote(checked) and filesystem.RemotePath(checked).is_dir():
        raise TfclfError(f"{flag} {str(checked)!r} is an existing folder; expected a file path, e.g. "
                         f"{urls.join(str(checked), 'predictions' + (extensions[0] if extensions else '.out'))!r}.")
    return checked


def require_complete(url: str, role: str) -> None:
    """Refuses a folder on a store without tfclf's marker: incomplete, or not tfclf's.

    Raises:
        TfclfError: naming ``role``, the folder and what the marker means.
    """
    folder = filesystem.RemotePath(url)
    if not folder.is_dir():
        raise TfclfError(f"{role} {url!r}: no such folder.")
    if not (folder / MARKER).exists():
        raise TfclfError(
            f"{role} {url!r} has no {MARKER}. On a store tfclf writes that marker last, so this folder is "
            "incomplete (still being uploaded, or the upload stopped) or was not written by tfclf. Wait for "
            "the upload to finish, or copy the whole folder, marker included.")


# ----------------------------------------------------------------------------- reading

class LocalCopy:
    """A temporary local copy of a complete (``require_complete``) folder on a store.

    The copy is removed by ``cleanup()``, or when this object is garbage collected, so a
    reader that keeps the object (``RunArtifacts``, ``LoadedModel``) keeps its files.

    Attributes:
        url: the folder on the store.
        path: the local copy.
    """

    def __init__(self, url: str, role: str, *, checked: bool = False, only: Sequence[str] = ()):
        """
        Args:
            url: the folder on the store.
            role: the flag that named it, for messages.
            checked: the caller found the folder complete (a run's ``saved_model/``
                has no marker of its own: the run's is checked).
            only: copy just these relative paths (those that exist), not the whole folder.
        """
        if not checked:
            require_complete(url, role)
        self.url = url
        self._tmp = tempfile.TemporaryDirectory(prefix="tfclf-download-")
        self.path = Path(self._tmp.name) / (urls.name(url) or "root")
        if only:
            self.path.mkdir()
            for name in only:
                if filesystem.RemotePath(urls.join(url, name)).exists():
                    filesystem.download(urls.join(url, name), self.path / name)
        else:
            filesystem.download(url, self.path)
        logger.info("%s: copied %s to %s to read it.", role, url, self.path)

    def cleanup(self) -> None:
        self._tmp.cleanup()


@contextlib.contextmanager
def local_copy(path: PathLike, role: str) -> Iterator[Path]:
    """A local folder with the content of ``path``: ``path`` itself when it is local, else a
    ``LocalCopy`` removed when the block ends."""
    if not is_remote(path):
        yield Path(path).expanduser()
        return
    copy = LocalCopy(str(path), role)
    try:
        yield copy.path
    finally:
        copy.cleanup()


# ----------------------------------------------------------------------------- writing

def staging_dir(url: str) -> Path:
    """The local folder where an output bound for ``url`` is built: the same for every run of
    the same command on this machine, so an interrupted run finds its partial folder again."""
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / "tfclf-staging" / f"{urls.name(url) or 'output'}-{digest}"


def publish(local: PathLike, url: str, kind: OutputKind, *, overwrite: bool = False, serving: bool = False) -> str:
    """Copies a finished local folder to ``url`` on a store, making it visible last (module docstring).

    Args:
        local: the complete folder (its marker included).
        url: the destination; an existing one is replaced only when it is a ``kind``
            folder and ``overwrite`` is set.
        kind: what the folder is.
        serving: a TF Serving version: staged under ``.<name>.partial`` first, and
            ``saved_model.pb`` copied after everything but the marker.

    Raises:
        TfclfError: the destination changed since it was checked, or a store error.
    """
    local = Path(local)
    if not (local / MARKER).is_file():
        outputs.mark(local, kind)
    check_dir(url, kind, flag="output", overwrite=True)  # again: time passed since the first check
    target = filesystem.RemotePath(url)
    existed = target.exists()
    if existed and not overwrite:
        raise TfclfError(f"{url!r} appeared while tfclf was working; tfclf replaces an existing folder only "
                         "with --overwrite.")
    partial = urls.join(urls.parent(url), f".{urls.name(url)}.partial")
    last = [SAVED_MODEL_PB, MARKER] if serving else [MARKER]
    if serving or urls.scheme(url) in RENAME_SCHEMES:
        filesystem.remove(partial)  # left by an interrupted publish
    if urls.scheme(url) in RENAME_SCHEMES:
        filesystem.upload(local, partial, last=last)
        old = urls.join(urls.parent(url), f".{urls.name(url)}.old")
        if existed:
            filesystem.remove(old)
            filesystem.rename(url, old)
        filesystem.rename(partial, url)
        filesystem.remove(old)
    else:
        if existed:
            filesystem.remove(urls.join(url, MARKER))  # no longer complete, before anything else changes
            filesystem.remove(url)
        if serving:
            filesystem.upload(local, partial, last=last)
            filesystem.copy_tree(partial, url, last=last)
            filesystem.remove(partial)
        else:
            filesystem.upload(local, url, last=last)
    logger.info("Published %s to %s.", local, url)
    return url


@contextlib.contextmanager
def directory(path: PathLike, kind: OutputKind, *, flag: str, overwrite: bool = False,
              inputs: Sequence[Input] = (), checked: bool = False, serving: bool = False
              ) -> Iterator[Path]:
    """``tfclf.outputs.directory`` for a store too: yields an empty marked local folder that
    becomes ``path`` when the block succeeds (published with ``publish`` for a store).

    Raises:
        TfclfError: from ``check_dir``; on any error inside the block nothing is published.
    """
    if not is_remote(path):
        with outputs.directory(path, kind, flag=flag, overwrite=overwrite, inputs=inputs,
                               checked=checked) as staged:
            yield staged
        return
    url = str(path)
    if not checked:
        check_dir(url, kind, flag=flag, overwrite=overwrite, inputs=inputs)
    with tempfile.TemporaryDirectory(prefix="tfclf-publish-") as tmp:
        staged = Path(tmp) / (urls.name(url) or "output")
        staged.mkdir()
        outputs.mark(staged, kind)
        yield staged
        publish(staged, url, kind, overwrite=overwrite, serving=serving)


def write_text(path: PathLike, text: str) -> None:
    """One text file, whole or not at all: ``atomic.write_text`` locally, one object upload on a store."""
    if is_remote(path):
        filesystem.write_bytes(str(path), text.encode("utf-8"))
    else:
        atomic.write_text(path, text)


def publish_file(local: Path, url: str) -> str:
    """Uploads a finished local file to ``url`` as one object (visible whole on object stores)."""
    filesystem.upload(local, url)
    logger.info("Published %s to %s.", local, url)
    return url
