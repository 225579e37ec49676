"""Where a ``RunConfig`` comes from: YAML files, a run's saved config.yaml, and flags.

Precedence when resolving a run: dataclass defaults < ``--config experiments/NAME.yaml``
< command-line flags. A file or section that is not what it should be is a
``TfclfError`` naming the flag (or role) and the file.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from tfclf import atomic, urls
from tfclf.config.fields import add_dataclass_arguments, build_section, given_arguments
from tfclf.config.sections import SECTIONS, RunConfig
from tfclf.errors import TfclfError

logger = logging.getLogger(__name__)


_RENAMED_KEYS: dict[tuple[str, str], tuple[str, Callable[[Any], Any]]] = {
    ("optimizer", "jit_compile_update"): ("update", lambda old: "xla" if old else "keras"),
}


def _renamed(section: str, values: dict[str, Any], where: str) -> dict[str, Any]:
    """Maps keys an older tfclf wrote (a saved run's config.yaml) to today's."""
    out = dict(values)
    for (sec, old), (new, convert) in _RENAMED_KEYS.items():
        if sec == section and old in out:
            value = out.pop(old)
            if new not in out:
                out[new] = convert(value)
                logger.warning("%s: %s.%s is now %s.%s; read %s: %r as %s: %r.", where, section, old,
                               section, new, old, value, new, out[new])
    return out


# Sections of a tuning YAML, which tfclf.tuning reads; `fit --config` accepts such a file too.
# Here they are only checked to be mappings (described without importing tfclf.tuning).
TUNING_SECTIONS: dict[str, str] = {
    "tune": "its fields, such as tuner: ... or max_trials: ...",
    "search": "config fields to choices or ranges, such as learning_rate: {min: ..., max: ...}",
}


def from_dict(data: dict[str, Any], where: str = "config") -> RunConfig:
    """Builds a validated RunConfig from nested dicts (YAML or saved config.yaml).

    Args:
        data: {section: {field: value}}; ``tune`` and ``search`` (read by tfclf.tuning)
            are checked for their type and otherwise ignored.
        where: names the source in errors, e.g. ``--config experiments/x.yaml``.

    Raises:
        TfclfError: on a top level or section that is not a mapping, unknown sections
            or keys, or values of the wrong type.
    """
    _check_sections(data, where)
    unknown = sorted(set(data) - set(SECTIONS) - set(TUNING_SECTIONS), key=str)
    if unknown:
        raise TfclfError(f"Unknown section {unknown[0]!r} in {where}. Valid sections: {list(SECTIONS)}")
    sections = {}
    for name, cls in SECTIONS.items():
        values = data.get(name) or {}
        sections[name] = build_section(cls, _renamed(name, values, where), f"{where}: {name}")
    return RunConfig(**sections)


def _section_contents(name: str) -> str:
    if name in TUNING_SECTIONS:
        return TUNING_SECTIONS[name]
    first, second = (f.name for f in dataclasses.fields(SECTIONS[name])[:2])
    return f"its fields, such as {first}: ... or {second}: ..."


def _received(value: Any) -> str:
    """Names an unexpected YAML value in an error: its kind, then a short preview."""
    kinds = ((bool, "a boolean"), (int, "a number"), (float, "a number"), (str, "a string"),
             (list, "a list"), (dict, "a mapping"))
    kind = next((name for tp, name in kinds if isinstance(value, tp)), f"a {type(value).__name__}")
    preview = repr(value)
    return f"{kind} ({preview if len(preview) <= 60 else preview[:57] + '...'})"


def _check_sections(data: Any, where: str) -> dict[str, Any]:
    """``data`` itself, once it and each section it has are mappings (an empty section is None).

    Raises:
        TfclfError: naming ``where``, what was expected and what was received.
    """
    if not isinstance(data, dict):
        raise TfclfError(f"{where}: expected a mapping of sections [{', '.join(SECTIONS)}]; "
                         f"Received: {_received(data)}")
    for name in (*SECTIONS, *TUNING_SECTIONS):
        values = data.get(name)
        if values is not None and not isinstance(values, dict):
            raise TfclfError(f"{where}: expected section {name!r} to be a mapping of "
                             f"{_section_contents(name)}; Received: {_received(values)}")
    return data


# Reads one file on a store (``gs://...``) whole: ``tfclf.data.filesystem.read_bytes``. The
# config package stays free of TensorFlow, so callers that accept store paths pass it in.
Reader = Callable[[str], bytes]


def load_yaml(path: str | os.PathLike, role: str = "--config", *, read: Optional[Reader] = None) -> Any:
    """Reads a YAML file, with errors that name the flag (``role``), the file and the line.

    Args:
        path: a local file, or a store path (``gs://bucket/exp.yaml``) when ``read`` is given.
        role: what named the file, for errors.
        read: reads a store path's bytes (``tfclf.data.filesystem.read_bytes``).

    Returns:
        The parsed document, of any type; {} for an empty file.

    Raises:
        TfclfError: the path is missing or a directory, cannot be read, is not UTF-8
            (naming the byte offset and line) or is not valid YAML (naming the line).
    """
    if urls.is_remote(path):
        if read is None:
            raise TfclfError(f"{role} {path}: this command reads {role} from a local file only. "
                             f"Received: a {urls.scheme(path)}:// path")
        return parse_yaml(read(str(path)), f"{role} {path}")
    path = Path(path)
    if path.is_dir():
        raise TfclfError(f"{role} {path}: expected a YAML file; Received: a directory")
    if not path.is_file():
        raise TfclfError(f"{role} file not found: {str(path)!r}")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise TfclfError(f"{role} {path}: cannot be read ({e.strerror or e})") from None
    return parse_yaml(raw, f"{role} {path}")


def parse_yaml(raw: bytes, where: str) -> Any:
    """A YAML document's bytes -> its value ({} when empty); errors start with ``where`` (flag and file).

    Raises:
        TfclfError: not UTF-8 (naming the byte offset and line) or not valid YAML (naming the line).
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise TfclfError(
            f"{where}: expected UTF-8 text; Received: byte 0x{raw[e.start]:02x} at offset "
            f"{e.start} (line {line}), which is not UTF-8. Save the file as UTF-8.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise TfclfError(f"{where}{line}: not valid YAML ({getattr(e, 'problem', e)})") from None
    return {} if data is None else data  # a number, a string or a list is the caller's to refuse


def load_sections(path: str | os.PathLike, role: str = "--config", *,
                  read: Optional[Reader] = None) -> dict[str, Any]:
    """Reads a config file (an experiment YAML, a run's config.yaml) as {section: mapping}.

    Args:
        path: the YAML file.
        role: what named the file, for errors: ``--config``, ``--model``, ``RUN_DIR``, ...

    Raises:
        TfclfError: as ``load_yaml``; or when the file, or one of its sections, is not
            a mapping. Unknown sections and keys are ``from_dict``'s to refuse.
    """
    return _check_sections(load_yaml(path, role, read=read), f"{role} {path}")


def save_yaml(config: RunConfig, path: str | os.PathLike, extra: Optional[dict] = None) -> None:
    """Writes the fully resolved config (atomically) so the run can be reproduced."""
    payload = config.to_dict()
    if extra:
        payload.update(extra)
    atomic.write_text(path, yaml.safe_dump(payload, sort_keys=False, allow_unicode=True))


def add_arguments(parser: argparse.ArgumentParser, sections: tuple[str, ...] = tuple(SECTIONS)) -> None:
    """Adds --config and, in one group per section, a --flag per field of the given sections.

    Flags default to "not given" so that only what the user typed overrides the YAML;
    ``from_args`` resolves them.
    """
    parser.add_argument("--config", metavar="YAML", help="Experiment YAML; flags override its values.")
    for name in sections:
        add_dataclass_arguments(parser.add_argument_group(name), SECTIONS[name], dest_prefix=f"{name}.")


def from_args(args: argparse.Namespace, base: Optional[RunConfig] = None, *,
              read: Optional[Reader] = None) -> RunConfig:
    """Resolves defaults < --config YAML (else ``base``) < flags into a validated RunConfig.

    ``read`` reads a --config on a store (``gs://``); without it, --config must be local.

    Raises:
        TfclfError: a flag's value is reported as the flag, a YAML's as the file and key.
    """
    data: dict[str, dict[str, Any]] = {}
    where = "command line"
    if getattr(args, "config", None):
        data = load_sections(args.config, "--config", read=read)
        where = f"--config {args.config}"
    elif base is not None:
        data = base.to_dict()
    # Flag values are converted first so that a bad flag is reported as a flag, not as the YAML file.
    merged = {name: {**(data.get(name) or {}), **given_arguments(args, cls, dest_prefix=f"{name}.")}
              for name, cls in SECTIONS.items()}
    extra = {k: v for k, v in data.items() if k not in SECTIONS}
    return from_dict({**merged, **extra}, where=where)
