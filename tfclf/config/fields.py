"""Config dataclasses <-> YAML values and command-line flags: tfclf's one flag generator.

A config section is a frozen dataclass whose fields are made with ``field`` (a
default and the help text). From that one definition:

* ``add_dataclass_arguments`` adds a ``--flag`` per field to a parser, and
  ``given_arguments`` reads back the ones the user typed;
* ``coerce`` converts a YAML or flag value to the field's type, and ``build_section``
  builds the dataclass from a YAML mapping;
* ``section_to_dict`` writes it back as plain YAML values.

Every config class uses these: the run's sections (``RunConfig``), ``TuneConfig``,
``ExportConfig`` and ``BaselineConfig``.
"""
from __future__ import annotations

import argparse
import dataclasses
import enum
import types
import typing
from typing import Any

from tfclf.errors import TfclfError


def field(default: Any, help: str, **kwargs: Any) -> Any:
    """A config dataclass field whose ``help`` is its flag's help text (``add_dataclass_arguments``).

    Args:
        default: the default; sequences are tuples, so that the dataclass stays frozen.
        help: one or two sentences, shown by ``--help`` followed by ``(default: ...)``.
        **kwargs: more ``metadata``.
    """
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples for sequence defaults")
    return dataclasses.field(default=default, metadata={"help": help, **kwargs})


def section_to_dict(section: Any) -> dict[str, Any]:
    """A config dataclass as plain YAML values: enums by value, tuples as lists."""
    out = {}
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def strip_optional(tp: Any) -> tuple[Any, bool]:
    """``(T, True)`` for ``Optional[T]``, else ``(tp, False)``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Converts a YAML or CLI value to a config field's type.

    Args:
        value: a string from the command line, or any YAML value.
        tp: the field's type hint: int, float, str, bool, an Enum, ``tuple[T, ...]``
            (a list, or a comma-separated string) or ``Optional`` of one of them
            (``none``, ``null`` or an empty string mean None).
        where: names the value in errors: a flag (``--epochs``) or a YAML key.

    Raises:
        TfclfError: naming ``where``, when ``value`` cannot be converted.
    """
    base, optional = strip_optional(tp)
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "null", "")):
        if optional:
            return None
        raise TfclfError(f"{where} must not be empty.")
    try:
        if isinstance(base, type) and issubclass(base, enum.Enum):
            try:
                return base(value)
            except ValueError:
                raise TfclfError(
                    f"{where} must be one of {[m.value for m in base]}. Received: {value!r}") from None
        if base is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "yes", "1", "on"):
                return True
            if str(value).lower() in ("false", "no", "0", "off"):
                return False
            raise ValueError(value)
        if typing.get_origin(base) is tuple:
            (item_tp, _ellipsis) = typing.get_args(base)
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(coerce(item.strip() if isinstance(item, str) else item, item_tp, where)
                         for item in items if not (isinstance(item, str) and not item.strip()))
        if base is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if base is float:
            return float(value)
        if base is str:
            return str(value)
    except (TypeError, ValueError):
        raise TfclfError(
            f"{where} expects {getattr(base, '__name__', base)}. Received: {value!r}") from None
    raise TypeError(f"unsupported config type {tp}")  # a programming error, not user input


def build_section(cls: type, values: dict[str, Any], where: str) -> Any:
    """The config dataclass ``cls`` from a YAML mapping, each value converted by ``coerce``.

    Raises:
        TfclfError: naming ``where``, on an unknown key or a value of the wrong type;
            or the dataclass's own validation error.
    """
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(names), key=str)  # YAML keys may be numbers too
    if unknown:
        raise TfclfError(
            f"Unknown key {unknown[0]!r} in {where}. Valid keys: {names}")
    kwargs = {k: coerce(v, hints[k], f"{where}.{k}") for k, v in values.items()}
    return cls(**kwargs)


def add_dataclass_arguments(parser: "argparse.ArgumentParser | argparse._ArgumentGroup", cls: type, *,
                            dest_prefix: str = "", exclude: "tuple[str, ...] | frozenset[str]" = ()) -> None:
    """Adds one ``--flag`` per field of the config dataclass ``cls``: tfclf's one flag generator.

    A field ``seq_length`` becomes ``--seq-length``, stored as ``args.<dest_prefix>seq_length``
    only when the user typed it (its default is ``argparse.SUPPRESS``), so that only what
    was typed overrides a YAML file; ``given_arguments`` reads them back. Values stay
    strings until then, so a bad value is reported in tfclf's own words.

    * help: the field's ``metadata["help"]`` (see ``field``), then ``(default: ...)``;
    * an Enum field takes ``choices`` (the values); a bool field ``--x/--no-x``;
    * any other field shows a metavar: ``N``, ``X``, ``STR`` or ``A,B,...`` for tuples.

    Args:
        parser: an ``argparse.ArgumentParser`` or one of its argument groups.
        cls: a dataclass whose fields carry ``metadata["help"]``.
        dest_prefix: prepended to each field name to make its ``dest``, e.g.
            ``"train."``, so that several dataclasses share one parser.
        exclude: fields that get no flag (they mean nothing to this CLI).
    """
    hints = typing.get_type_hints(cls)
    defaults = _defaults(cls)
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        base, _ = strip_optional(hints[f.name])
        default = defaults[f.name]
        if isinstance(default, enum.Enum):
            default = default.value
        help_text = f"{f.metadata.get('help', '')} (default: {default})".replace("%", "%%")  # argparse %-formats it
        kwargs: dict[str, Any] = dict(dest=dest_prefix + f.name, default=argparse.SUPPRESS, help=help_text)
        if isinstance(base, type) and issubclass(base, enum.Enum):
            kwargs["choices"] = [m.value for m in base]
        elif base is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["metavar"] = _metavar(base)
        parser.add_argument("--" + f.name.replace("_", "-"), **kwargs)


def given_arguments(args: argparse.Namespace, cls: type, *, dest_prefix: str = "") -> dict[str, Any]:
    """The fields of ``cls`` the user typed (flags of ``add_dataclass_arguments``), converted.

    Args:
        args: the parsed arguments.
        cls: the dataclass the flags were made from.
        dest_prefix: as given to ``add_dataclass_arguments``.

    Returns:
        ``{field: value}`` for the flags on the command line only, each converted to
        the field's type (``coerce``); not yet validated by the dataclass.

    Raises:
        TfclfError: naming the flag, when a value cannot be converted.
    """
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    given = {}
    for dest, value in vars(args).items():
        name = dest[len(dest_prefix):] if dest.startswith(dest_prefix) else None
        if name in names:
            given[name] = coerce(value, hints[name], "--" + name.replace("_", "-"))
    return given


def _defaults(cls: type) -> dict[str, Any]:
    """Each field's default as an instance holds it (after ``__post_init__``), for --help."""
    try:
        instance = cls()
    except TfclfError:  # e.g. a section that cannot be valid without some value
        return {f.name: f.default for f in dataclasses.fields(cls)}
    return {f.name: getattr(instance, f.name) for f in dataclasses.fields(cls)}


def _metavar(base: Any) -> str:
    if typing.get_origin(base) is tuple:
        return "A,B,..."
    return {int: "N", float: "X", str: "STR"}.get(base, "VALUE")
