"""Where tfclf may write, and what ``--overwrite`` may replace.

Every folder tfclf creates (a run, an evaluation, a data report, a tuning folder, a
baseline, an export version) carries a marker file, ``.tfclf-output.json``, that
says what it is. The rules, checked before any data is read or model loaded:

* ``--overwrite`` replaces only a folder that carries the marker of the same kind.
  A folder of another kind, or a non-empty folder without the marker, is refused.
* Never the current directory or one of its ancestors, the home directory or ``/``.
* Never a folder that holds an input of the command (the data, the model being
  evaluated), or a folder inside an input folder of data.
* A path that is a file, or whose parent cannot be created, is refused.

A folder is replaced atomically: the new one is built beside it, then swapped in with
two renames, and only then is the old one deleted. Output files (``predict
--output``, ``explain --output``) follow the same spirit: a known extension, never
an input of the command, never an existing folder, written under a temporary name
and renamed.

A path on a store (``gs://bucket/runs/a``, ``tfclf.urls``) gets here only the checks that
need no TensorFlow: it is not one of the command's inputs, nor inside one.
``tfclf.object_storage`` checks the store itself (what is there, its marker) before
anything is read, and publishes the folder built locally with the marker last.

No TensorFlow import: the CLIs call these checks first.
"""
from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Optional, Sequence, Union

from tfclf import urls
from tfclf.errors import TfclfError

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

MARKER = ".tfclf-output.json"


class OutputKind(str, enum.Enum):
    """What a folder created by tfclf is; its marker file records it."""

    RUN = "run"
    EVALUATION = "evaluation"
    DATA_REPORT = "data-report"
    TUNING = "tuning"
    BASELINE = "baseline"
    EXPORT_VERSION = "export-version"
    TOPICS = "topics"

    @property
    def article(self) -> str:
        return "an" if self.value[0] in "aeiou" else "a"


@dataclasses.dataclass(frozen=True)
class Input:
    """An input of a command, which its outputs must not replace.

    Attributes:
        flag: the flag it came from, for messages (``--data``, ``--model``).
        path: the file or folder.
        outputs_inside: outputs may be created inside it (a run directory holds its
            evaluations); data folders allow none, since a later read would see them.
    """

    flag: str
    path: PathLike
    outputs_inside: bool = False


def _version() -> str:
    from tfclf import __version__

    return __version__


def read_kind(folder: PathLike) -> Optional[str]:
    """The kind recorded by ``folder``'s marker, or None when it has none (or an unreadable one)."""
    marker = Path(folder) / MARKER
    try:
        return parse_marker(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None


def parse_marker(text: str) -> Optional[str]:
    """The kind a marker file's content records, or None when it is not a marker."""
    try:
        return str(json.loads(text)["kind"])
    except (ValueError, KeyError, TypeError):
        return None


def marker_text(kind: OutputKind) -> str:
    """A marker file's content: the kind and the tfclf version that created the folder."""
    return json.dumps({"kind": kind.value, "tfclf_version": _version()}) + "\n"


def mark(folder: PathLike, kind: OutputKind) -> None:
    """Writes ``folder``'s marker (``marker_text``)."""
    (Path(folder) / MARKER).write_text(marker_text(kind), encoding="utf-8")


def _resolved(path: PathLike) -> Path:
    return Path(os.path.abspath(Path(path).expanduser())).resolve()


def _protected_place(target: Path, flag: str, shown: str) -> Optional[str]:
    if target == Path(target.anchor):
        return f"{flag} {shown} is the root directory '/'; tfclf never writes or replaces it"
    home = _resolved(Path.home())
    if target == home:
        return f"{flag} {shown} is the home directory; tfclf never writes or replaces it"
    cwd = _resolved(Path.cwd())
    if target == cwd:
        return f"{flag} {shown} is the current directory; tfclf never replaces it"
    if target in cwd.parents:
        return f"{flag} {shown} contains the current directory ({cwd}); tfclf never replaces it"
    return None


def _input_conflict(target: Path, flag: str, shown: str, inputs: Sequence[Input]) -> Optional[str]:
    for item in inputs:
        if item.path is None or str(item.path) in ("", "-") or urls.is_remote(item.path):
            continue
        source = _resolved(item.path)
        if source == target:
            return f"{flag} {shown} is the input {item.flag} {str(item.path)!r}"
        if target in source.parents:
            return f"{flag} {shown} holds the input {item.flag} {str(item.path)!r}"
        if not item.outputs_inside and source in target.parents and source.is_dir():
            return f"{flag} {shown} is inside the input folder {item.flag} {str(item.path)!r}"
    return None


def _creatable(path: Path, flag: str, shown: str) -> None:
    """Raises unless the missing folders up to ``path`` can be created (probes with a temp folder)."""
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise TfclfError(f"{flag} {shown} cannot be created: {str(ancestor)!r} is a file, not a folder.")
    try:
        probe = tempfile.mkdtemp(dir=ancestor, prefix=".tfclf-probe-")
    except OSError as e:
        raise TfclfError(f"{flag} {shown} cannot be created: {str(ancestor)!r} is not writable "
                         f"({e.strerror or e}).") from None
    os.rmdir(probe)


def check_dir(path: PathLike, kind: OutputKind, *, flag: str, overwrite: bool = False,
              inputs: Sequence[Input] = (), reuse: bool = False) -> Path:
    """Checks, before any work, that ``path`` may become (or be replaced by) a ``kind`` folder.

    Args:
        path: the output folder.
        kind: what the command writes there.
        flag: the flag that named it, for messages (``--output-dir``).
        overwrite: the user passed ``--overwrite``.
        inputs: the command's inputs, which the output must not replace or sit in.
        reuse: an existing ``kind`` folder is continued, not replaced, so it needs no
            ``--overwrite`` (a tuning folder resumes its search).

    Returns:
        ``path`` as a ``Path``; a path on a store as its ``str``, checked only against the
        inputs (``tfclf.object_storage.check_dir`` checks the store).

    Raises:
        TfclfError: naming the flag, the path and the rule it breaks. Nothing is
            written (creatability is probed with a temporary folder, then removed).
    """
    if urls.is_remote(path):
        return _check_remote_names(str(path), flag, kind.value, inputs)
    path = Path(path).expanduser()
    shown = repr(str(path))
    target = _resolved(path)
    reason = _protected_place(target, flag, shown) or _input_conflict(target, flag, shown, inputs)
    if reason:
        raise TfclfError(f"{reason}. Choose a new folder for the {kind.value} output, e.g. "
                         f"{flag} runs/<name>.")
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise TfclfError(f"{flag} {shown} is a file, not a folder; --overwrite replaces only "
                             f"a folder that tfclf created. Choose a new folder.")
        found = read_kind(path)
        if found is None and any(path.iterdir()):
            raise TfclfError(
                f"{flag} {shown} is a non-empty folder that tfclf did not create (it has no "
                f"{MARKER}); tfclf never replaces it, with or without --overwrite. Choose a new "
                "folder.")
        if found is not None and found != kind.value:
            raise TfclfError(
                f"{flag} {shown} holds a tfclf {found} output, not {kind.article} {kind.value}; "
                f"--overwrite replaces only {kind.article} {kind.value} folder. Choose another folder.")
        elif not (overwrite or reuse):
            raise TfclfError(f"{flag} {shown} already exists. Choose another folder or pass "
                             "--overwrite to replace it.")
    else:
        _creatable(path, flag, shown)
    return path


def check_file(path: PathLike, *, flag: str, extensions: Sequence[str] = (),
               inputs: Sequence[Input] = ()) -> Path:
    """Checks, before any work, that an output file may be written at ``path``.

    Args:
        path: the output file.
        flag: the flag that named it.
        extensions: the allowed suffixes (lower case, with the dot); empty: any.
        inputs: the command's inputs, which must not be overwritten.

    Returns:
        ``path`` as a ``Path``; a path on a store as its ``str`` (extension and inputs checked).

    Raises:
        TfclfError: an unknown extension, an existing folder, an input of the command,
            or a parent folder that cannot be created.
    """
    if urls.is_remote(path):
        _check_extension(str(path), urls.name(str(path)), flag, extensions)
        return _check_remote_names(str(path), flag, "file", inputs)
    path = Path(path).expanduser()
    shown = repr(str(path))
    if path.is_dir():
        raise TfclfError(f"{flag} {shown} is an existing folder; expected a file path, e.g. "
                         f"{str(path / ('predictions' + (extensions[0] if extensions else '.out')))!r}.")
    _check_extension(str(path), path.name, flag, extensions)
    target = _resolved(path)
    for item in inputs:
        if item.path is None or str(item.path) in ("", "-") or urls.is_remote(item.path):
            continue
        source = _resolved(item.path)
        if source == target or source in target.parents and not item.outputs_inside:
            raise TfclfError(f"{flag} {shown} is {'the input' if source == target else 'inside the input'} "
                             f"{item.flag} {str(item.path)!r}; tfclf never overwrites its inputs. "
                             "Choose another output path.")
    if not path.parent.exists():
        _creatable(path.parent, flag, shown)
    elif not path.parent.is_dir():
        raise TfclfError(f"{flag} {shown} cannot be created: {str(path.parent)!r} is a file.")
    return path


def _check_extension(shown: str, name: str, flag: str, extensions: Sequence[str]) -> None:
    suffix = Path(name).suffix
    if extensions and suffix.lower() not in extensions:
        raise TfclfError(f"{flag} must end in one of {list(extensions)}. Received: {shown!r} "
                         f"(extension {suffix or 'none'!r}).")


def _check_remote_names(url: str, flag: str, what: str, inputs: Sequence[Input]) -> str:
    """A store path is not an input of the command, nor inside one, nor a folder holding one."""
    def within(inner: str, outer: str) -> bool:
        return inner.startswith(outer.rstrip("/") + "/")

    target = url.rstrip("/")
    for item in inputs:
        if item.path is None or not urls.is_remote(item.path):
            continue
        source = str(item.path).rstrip("/")
        if source == target or within(source, target) or (within(target, source) and not item.outputs_inside):
            raise TfclfError(f"{flag} {url!r} {'is' if source == target else 'overlaps'} the input {item.flag} "
                             f"{str(item.path)!r}; tfclf never writes over or into its inputs. Choose "
                             f"another place for the {what} output.")
    return url


def replace_dir(staged: PathLike, path: PathLike, kind: OutputKind) -> Path:
    """Marks ``staged`` as ``kind`` and swaps it in as ``path``; the old folder goes last.

    Readers never see a missing or half-built ``path``: the old folder (which must
    carry the same kind's marker, or be empty) is renamed aside, the staged one
    renamed into place, and only then is the old one deleted.

    Raises:
        TfclfError: ``path`` is something tfclf must not replace (checked again here,
            since time passed since ``check_dir``).
    """
    staged, path = Path(staged), Path(path)
    if not (staged / MARKER).is_file():
        mark(staged, kind)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, path)
        return path
    found = read_kind(path) if path.is_dir() else None
    if not path.is_dir() or (found != kind.value and (found is not None or any(path.iterdir()))):
        raise TfclfError(f"{str(path)!r} changed while tfclf was working and is no longer a "
                         f"{kind.value} folder it may replace; the new output stays in {str(staged)!r}.")
    old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old-"))
    os.replace(path, old / path.name)
    os.replace(staged, path)
    shutil.rmtree(old, ignore_errors=True)
    return path


def remove_dir(path: PathLike, kind: OutputKind) -> None:
    """Deletes a folder only if it carries ``kind``'s marker (a partial run being discarded).

    Raises:
        TfclfError: the folder is not a ``kind`` folder that tfclf created.
    """
    path = Path(path)
    if read_kind(path) != kind.value:
        raise TfclfError(f"{str(path)!r} is not {kind.article} {kind.value} folder that tfclf created "
                         f"(no {MARKER} of that kind); tfclf does not delete it. Remove it yourself "
                         "if you are sure.")
    shutil.rmtree(path)


@contextlib.contextmanager
def directory(path: PathLike, kind: OutputKind, *, flag: str, overwrite: bool = False,
              inputs: Sequence[Input] = (), checked: bool = False) -> Iterator[Path]:
    """Yields an empty marked folder beside ``path`` that replaces it when the block succeeds.

    Args:
        path, kind, flag, overwrite, inputs: as in ``check_dir``.
        checked: the caller already ran ``check_dir`` (before reading data); the rules
            are applied again at the swap.

    Raises:
        TfclfError: from ``check_dir``; on any error inside the block the temporary
            folder is removed and ``path`` is left as it was.
    """
    path = Path(path).expanduser()
    if not checked:
        check_dir(path, kind, flag=flag, overwrite=overwrite, inputs=inputs)
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    os.chmod(staged, 0o777 & ~_umask())  # mkdtemp creates 0700
    try:
        mark(staged, kind)
        yield staged
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    replace_dir(staged, path, kind)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
