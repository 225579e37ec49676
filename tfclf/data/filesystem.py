"""Files wherever they live: a local path, or any filesystem that ``tf.io.gfile`` supports.

The one layer through which tfclf reads input files and touches object storage:
``readers``, ``delimited`` and ``inputs`` open and list through it, and
``tfclf.object_storage`` copies finished outputs up and runs down with it.

* ``path``: a flag's value -> a ``pathlib.Path`` (a local path, read exactly as before)
  or a ``RemotePath`` (``gs://bucket/data.csv``), which has the ``pathlib`` methods the
  readers use (``name``, ``suffix``, ``parent``, ``/``, ``exists``, ``is_dir``,
  ``iterdir``, ``stat``, ``read_bytes``, ``open``);
* ``open_binary`` / ``open_text``: a file for reading, ``.gz`` decompressed on the way
  (``tfclf.data.compression``), so every error still names the file and its line;
* ``glob``, ``entries``, ``relative``: listing;
* ``download``, ``upload``, ``copy_tree``, ``write_bytes``, ``remove``, ``rename``: whole
  files and folders, for ``tfclf.object_storage``.

``gs://`` is built into TensorFlow (``ram://`` too: an in-memory filesystem, used by the
tests); ``s3://``, ``az://`` and ``hdfs://`` need ``pip install tensorflow-io``, which is
imported, when installed, the first time such a path is used. TensorFlow itself is
imported on the first remote path only. Store errors (not found, permission denied, an
unknown scheme) become a ``TfclfError`` naming the path.
"""
from __future__ import annotations

import contextlib
import glob as globlib
import gzip
import io
import os
import shutil
import types
from pathlib import Path
from typing import IO, Any, Iterator, Optional, Sequence, Union

from tfclf import urls
from tfclf.data import compression
from tfclf.errors import TfclfError
from tfclf.urls import is_remote

PathLike = Union[str, os.PathLike]
GLOB_CHARS = frozenset("*?[")
BUILT_IN_SCHEMES = frozenset({"gs", "ram", "file"})  # in TensorFlow itself; others come from tensorflow-io
_plugins_tried = False

__all__ = ["GLOB_CHARS", "RemotePath", "copy_tree", "download", "entries", "glob", "has_glob", "is_remote",
           "open_binary", "open_text", "path", "read_bytes", "relative", "remove", "rename", "upload", "write_bytes"]


def _gfile(url: str):
    """``tf.io.gfile``, with tensorflow-io's filesystems registered for a scheme TensorFlow lacks."""
    global _plugins_tried
    import tensorflow as tf

    if not _plugins_tried and urls.scheme(url) not in BUILT_IN_SCHEMES:
        _plugins_tried = True
        try:
            import tensorflow_io  # noqa: F401  (registers s3://, az://, hdfs://, http://)
        except Exception:  # not installed, or built for another TensorFlow: the scheme error says so
            pass
    return tf.io.gfile


@contextlib.contextmanager
def _store_errors(url: str, what: str) -> Iterator[None]:
    """TensorFlow's filesystem errors -> a TfclfError naming ``url`` and what was being done."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.UnimplementedError:
        raise TfclfError(
            f"{url}: TensorFlow has no filesystem for {urls.scheme(url)}://. gs:// is built in; s3://, "
            "az:// and hdfs:// need tensorflow-io (pip install tensorflow-io, a build matching "
            "this TensorFlow).") from None
    except tf.errors.OpError as e:
        detail = (e.message or type(e).__name__).strip().splitlines()[0]
        raise TfclfError(f"{url}: cannot {what} ({type(e).__name__}: {detail}).") from None


class RemotePath:
    """A file or folder on a ``tf.io.gfile`` filesystem, with the ``pathlib`` methods tfclf's readers use.

    ``str(p)`` is the URL, so messages name the object as the user wrote it. It has no
    ``__fspath__``: passing it to ``open`` or ``os`` fails instead of reading a local file.
    """

    __slots__ = ("_url",)

    def __init__(self, url: PathLike):
        head, rest = urls.split(str(url))
        self._url = head + rest

    # ----------------------------------------------------------------------- pure path
    def __str__(self) -> str:
        return self._url

    def __repr__(self) -> str:
        return f"RemotePath({self._url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePath) and other._url == self._url

    def __hash__(self) -> int:
        return hash(self._url)

    def __lt__(self, other: "RemotePath") -> bool:
        return self._url < str(other)

    def __truediv__(self, name: str) -> "RemotePath":
        return RemotePath(urls.join(self._url, str(name)))

    def joinpath(self, *names: str) -> "RemotePath":
        return RemotePath(urls.join(self._url, *map(str, names)))

    @property
    def name(self) -> str:
        return urls.name(self._url)

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix

    @property
    def stem(self) -> str:
        return Path(self.name).stem

    @property
    def parent(self) -> "RemotePath":
        return RemotePath(urls.parent(self._url))

    def with_name(self, name: str) -> "RemotePath":
        return self.parent / name

    def expanduser(self) -> "RemotePath":
        return self

    def resolve(self) -> "RemotePath":
        return self

    def is_symlink(self) -> bool:
        return False

    # ------------------------------------------------------------------------ the store
    def exists(self) -> bool:
        with _store_errors(self._url, "check that it exists"):
            return _gfile(self._url).exists(self._url)

    def is_dir(self) -> bool:
        with _store_errors(self._url, "check whether it is a folder"):
            return _gfile(self._url).isdir(self._url)

    def is_file(self) -> bool:
        return self.exists() and not self.is_dir()

    def iterdir(self) -> Iterator["RemotePath"]:
        with _store_errors(self._url, "list the folder"):
            names = _gfile(self._url).listdir(self._url)
        return iter(sorted(self / n.rstrip("/") for n in names))

    def stat(self) -> types.SimpleNamespace:
        """Only ``st_size`` (bytes) of ``os.stat_result``."""
        with _store_errors(self._url, "read its size"):
            return types.SimpleNamespace(st_size=int(_gfile(self._url).stat(self._url).length))

    def open(self, mode: str = "rb") -> IO[bytes]:
        if mode not in ("r", "rb"):
            raise ValueError(f"RemotePath opens for reading only (mode 'rb'). Received: mode={mode!r}")
        with _store_errors(self._url, "open it"):
            handle = _gfile(self._url).GFile(self._url, "rb")
            handle.size()  # GFile opens lazily: a missing object fails here, inside the error mapping
        return io.BufferedReader(_GFileReader(handle, self._url), buffer_size=1 << 20)

    def read_bytes(self) -> bytes:
        with self.open() as f:
            return f.read()

    def read_text(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return self.read_bytes().decode(encoding, errors)


class _GFileReader(io.RawIOBase):
    """A ``tf.io.gfile.GFile`` as a standard raw binary file: ``io.BufferedReader``,
    ``gzip`` and pyarrow (which needs ``seek``/``tell``/``closed``) read it."""

    def __init__(self, handle: Any, url: str):
        super().__init__()
        self._handle, self._url = handle, url

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with _store_errors(self._url, "read it"):
            data = self._handle.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        with _store_errors(self._url, "seek in it"):
            self._handle.seek(offset, whence)
            return self._handle.tell()

    def tell(self) -> int:
        return self._handle.tell()

    def close(self) -> None:
        if not self.closed:
            self._handle.close()
        super().close()


class _GzipReader(gzip.GzipFile):
    """A gzip stream over an open binary file, closing that file with itself."""

    def __init__(self, raw: IO[bytes]):
        super().__init__(fileobj=raw, mode="rb")
        self._raw = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()


AnyPath = Union[Path, RemotePath]


def path(value: PathLike) -> AnyPath:
    """A flag's value as a path: ``RemotePath`` for ``scheme://...``, else ``Path`` with ``~`` expanded."""
    if isinstance(value, RemotePath):
        return value
    return RemotePath(str(value)) if is_remote(value) else Path(value).expanduser()


def has_glob(value: PathLike) -> bool:
    return bool(GLOB_CHARS & set(str(value)))


def open_binary(p: AnyPath) -> IO[bytes]:
    """``p`` for reading bytes, decompressed when it ends in ``.gz``."""
    raw = p.open("rb")
    return _GzipReader(raw) if compression.is_gzip(p) else raw


def open_text(p: AnyPath, encoding: str, errors: str = "strict", newline: Optional[str] = None) -> IO[str]:
    """``p`` for reading text, decompressed when it ends in ``.gz``; arguments as ``open``'s."""
    if isinstance(p, Path) and not compression.is_gzip(p):
        return open(p, "r", encoding=encoding, errors=errors, newline=newline)
    return io.TextIOWrapper(open_binary(p), encoding=encoding, errors=errors, newline=newline)


def glob(pattern: PathLike) -> list[AnyPath]:
    """The files and folders a glob pattern matches, sorted (local patterns also take ``**``)."""
    if not is_remote(pattern):
        return sorted(Path(p) for p in globlib.glob(os.path.expanduser(str(pattern)), recursive=True))
    with _store_errors(str(pattern), "list the matches of the pattern"):
        return sorted(RemotePath(u) for u in _gfile(str(pattern)).glob(str(pattern)))


def entries(folder: AnyPath) -> list[tuple[AnyPath, bool]]:
    """``(path, is_dir)`` of a folder's entries, sorted by name."""
    if isinstance(folder, Path):
        return [(Path(e.path), e.is_dir()) for e in sorted(os.scandir(folder), key=lambda e: e.name)]
    url = str(folder)
    with _store_errors(url, "list the folder"):
        names = _gfile(url).listdir(url)
        found = [(folder / n.rstrip("/"), n.endswith("/") or _gfile(url).isdir(urls.join(url, n)))
                 for n in names]
    return sorted(found, key=lambda e: e[0].name)


def relative(p: AnyPath, root: AnyPath) -> str:
    """``p`` below ``root`` as a ``/``-separated string (``os.path.relpath`` for local paths)."""
    if isinstance(p, Path):
        return os.path.relpath(p, root)
    return str(p)[len(str(root)):].lstrip("/")


# ------------------------------------------------------------------ whole files and folders

def _walk(url: str) -> tuple[list[str], list[str]]:
    """(files, folders) under a remote folder, as paths relative to it, sorted.

    A listed file is kept only if it exists: TensorFlow's ``ram://`` lists the siblings
    that share a folder's name as a prefix among its children (``assets.extra`` shows up
    in ``assets`` as ``.extra``); on other stores the check costs one request per file.
    """
    gfile = _gfile(url)
    files, folders = [], []
    with _store_errors(url, "list the folder"):
        for folder, _, names in gfile.walk(url):
            below = folder[len(url):].strip("/")
            if below:
                folders.append(below)
            files.extend(rel for rel in (f"{below}/{n}" if below else n for n in names)
                         if gfile.exists(urls.join(url, rel)))
    return sorted(files), sorted(folders)


def _walk_files(url: str) -> list[str]:
    return _walk(url)[0]


def download(url: str, local: Path) -> Path:
    """Copies a remote file or folder (with everything below it) to the new local path ``local``."""
    gfile = _gfile(url)
    source = RemotePath(url)
    if not source.is_dir():
        local.parent.mkdir(parents=True, exist_ok=True)
        with _store_errors(url, "copy it to the local disk"):
            gfile.copy(str(source), str(local), overwrite=True)
        return local
    for rel in _walk_files(str(source)):
        target = local / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with _store_errors(urls.join(str(source), rel), "copy it to the local disk"):
            gfile.copy(urls.join(str(source), rel), str(target), overwrite=True)
    local.mkdir(parents=True, exist_ok=True)
    return local


def upload(local: Path, url: str, *, last: Sequence[str] = (), skip: Sequence[str] = ()) -> None:
    """Copies a local file, or a folder's files, to ``url`` (a file or a folder, created as needed).

    Args:
        local: a file or a folder.
        url: where it goes.
        last: folder only: relative paths copied after all the others, in this order, so
            that their presence says the rest is there.
        skip: folder only: relative paths not copied.
    """
    gfile = _gfile(url)
    if local.is_file():
        with _store_errors(url, "write it"):
            gfile.makedirs(urls.parent(url))
            gfile.copy(str(local), url, overwrite=True)
        return
    files = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
    _copy_files(gfile, [f for f in files if f not in skip], last, lambda rel: str(local / rel), url)


def copy_tree(source: str, target: str, *, last: Sequence[str] = ()) -> None:
    """Copies a folder to another place on the same store (server-side on object stores),
    the relative paths ``last`` after all the others, in that order."""
    gfile = _gfile(source)
    files = _walk_files(source)
    _copy_files(gfile, files, last, lambda rel: urls.join(source, rel), target)


def _copy_files(gfile, files: Sequence[str], last: Sequence[str], source_of, target: str) -> None:
    """Copies ``files`` (relative paths) into the folder ``target``, those in ``last`` after
    all the others and in that order; ``source_of(rel)`` names where each comes from."""
    order = [f for f in files if f not in last] + [f for f in last if f in files]
    with _store_errors(target, "create the folder"):
        gfile.makedirs(target)
    for rel in order:
        destination = urls.join(target, rel)
        with _store_errors(destination, "write it"):
            if "/" in rel:
                gfile.makedirs(urls.parent(destination))
            gfile.copy(source_of(rel), destination, overwrite=True)


def read_bytes(url: str) -> bytes:
    """One whole file on a store (a --config or --class-weight YAML); errors name ``url``.

    Raises:
        TfclfError: the object does not exist, is a folder, or cannot be read.
    """
    remote = RemotePath(url)
    if remote.is_dir():
        raise TfclfError(f"{url}: expected a file; Received: a folder")
    if not remote.exists():
        raise TfclfError(f"{url}: file not found")
    return remote.read_bytes()


def write_bytes(url: str, data: bytes) -> None:
    """Writes one object; on object stores an upload is atomic, so readers see all of it or none."""
    with _store_errors(url, "write it"):
        with _gfile(url).GFile(url, "wb") as f:
            f.write(data)


def remove(p: PathLike) -> None:
    """Deletes a file or a folder tree; nothing when it does not exist."""
    if not is_remote(p):
        target = Path(p)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        return
    import tensorflow as tf

    url = str(p)
    gfile = _gfile(url)
    with _store_errors(url, "delete it"):
        if not gfile.isdir(url):
            if gfile.exists(url):
                gfile.remove(url)
            return
        try:
            gfile.rmtree(url)
        except tf.errors.NotFoundError:  # ram://: its listing names entries that do not exist (_walk)
            files, folders = _walk(url)
            for rel in files + sorted(folders, key=lambda f: -f.count("/")) + [""]:
                with contextlib.suppress(tf.errors.NotFoundError):
                    gfile.remove(urls.join(url, rel) if rel else url)


def rename(source: str, target: str) -> None:
    """``tf.io.gfile.rename``: atomic on local disks and HDFS, a copy and delete on object stores."""
    with _store_errors(source, f"rename it to {target}"):
        _gfile(source).rename(source, target, overwrite=False)
