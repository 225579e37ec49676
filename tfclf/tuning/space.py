"""What to search: ``SearchSpace``, the tuning YAML's ``search:`` section, and each trial's config.

Each key of ``search:`` is a config field (``SEARCH_TARGETS`` maps it to its
section) and its value a list of choices, a numeric range or one fixed value::

    search:
      learning_rate: {min: 1.0e-5, max: 1.0e-4, sampling: log}
      batch_size: [16, 32]
      boundaries: [[500], [1000]]
      trainable: [all, top-2]

No TensorFlow import: the search space is validated before anything heavy loads.
"""
from __future__ import annotations

import dataclasses
import enum
import os
import typing
from typing import Any, Optional, Union

from tfclf.config import SECTIONS, Monitor, RunConfig, coerce, strip_optional
from tfclf.errors import TfclfError


class Sampling(str, enum.Enum):
    """How a numeric range is sampled (Keras Tuner's ``sampling``)."""

    LINEAR = "linear"
    LOG = "log"  # uniform in log space; learning rates
    REVERSE_LOG = "reverse_log"  # dense near max


# Search key -> the config section whose field of the same name it sets. Making another
# field searchable is one line here; a key whose field this tfclf lacks is rejected.
SEARCH_TARGETS: dict[str, str] = {
    "learning_rate": "optimizer",
    "schedule": "optimizer",
    "warmup_fraction": "optimizer",
    "boundaries": "optimizer",
    "values": "optimizer",
    "weight_decay": "optimizer",
    "clip_norm": "optimizer",
    "batch_size": "train",
    "epochs": "train",
    "label_smoothing": "train",
    "dropout": "model",
    "trainable": "model",
    "pooling": "model",
    "seq_length": "model",
    "long_text": "model",
    "head_tokens": "model",
    "chunk_stride": "model",
    "max_chunks": "model",
    "chunk_pooling": "model",
    "batch_windows": "train",
}

RANGE_KEYS = ("min", "max", "step", "sampling")

# Searched when the YAML has no `search:` section: the knobs that matter most when
# fine-tuning a BERT-style encoder, over ranges that suit 768-wide encoders.
DEFAULT_SEARCH: dict[str, Any] = {
    "learning_rate": {"min": 1e-5, "max": 1e-4, "sampling": "log"},
    "batch_size": [16, 32],
    "dropout": {"min": 0.0, "max": 0.3, "step": 0.1},
}


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One searched config field: a list of choices, or a numeric range.

    Attributes:
        name: the config field (a key of ``SEARCH_TARGETS``).
        section: the config section holding it.
        choices: candidate values, converted to the field's type (tuple fields hold
            tuples, enum fields enums); empty for a range.
        min, max, step, sampling: the range (``min``/``max`` are None for choices);
            with ``sampling: log`` on an int field, ``step`` multiplies.
    """

    name: str
    section: str
    choices: tuple[Any, ...] = ()
    min: Optional[float] = None
    max: Optional[float] = None
    step: Optional[float] = None
    sampling: Sampling = Sampling.LINEAR

    @property
    def is_range(self) -> bool:
        return self.min is not None

    @property
    def value_type(self) -> Any:
        """The field's type without Optional: int, float, str, bool, an Enum or a tuple type."""
        return strip_optional(typing.get_type_hints(SECTIONS[self.section])[self.name])[0]

    def extremes(self) -> tuple[Any, ...]:
        """The values to validate: every choice, or both ends of the range."""
        return (self.min, self.max) if self.is_range else self.choices

    def to_yaml(self) -> Any:
        """The YAML form ``parse_search_space`` reads back."""
        if self.is_range:
            out = {"min": self.min, "max": self.max}
            if self.step is not None:
                out["step"] = self.step
            if self.sampling is not Sampling.LINEAR:
                out["sampling"] = self.sampling.value
            return out
        return [_plain(c) for c in self.choices]


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """The hyperparameters a search varies; every other field comes from the base config."""

    dimensions: tuple[Dimension, ...]

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    def __getitem__(self, name: str) -> Dimension:
        return next(d for d in self.dimensions if d.name == name)

    def to_yaml(self) -> dict[str, Any]:
        return {d.name: d.to_yaml() for d in self.dimensions}


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _search_section(name: str, where: str) -> str:
    if name not in SEARCH_TARGETS:
        raise TfclfError(f"Unknown key {name!r} in {where}. Valid keys: {list(SEARCH_TARGETS)}")
    section = SEARCH_TARGETS[name]
    if name not in {f.name for f in dataclasses.fields(SECTIONS[section])}:
        raise TfclfError(
            f"{where}.{name} sets the config field {section}.{name}, which this version of "
            "tfclf does not have.")
    return section


def _parse_dimension(name: str, spec: Any, where: str) -> Dimension:
    key = f"{where}.{name}"
    section = _search_section(name, where)
    hint = typing.get_type_hints(SECTIONS[section])[name]
    base = strip_optional(hint)[0]
    if isinstance(spec, dict):
        if not spec:
            raise TfclfError(
                f"{key} is an empty range. Give min and max, or a list of choices. Received: {{}}")
        unknown = sorted(set(spec) - set(RANGE_KEYS))
        if unknown:
            raise TfclfError(f"Unknown key {unknown[0]!r} in {key}. Valid keys: {list(RANGE_KEYS)}")
        if base not in (int, float):
            raise TfclfError(
                f"{key} takes a list of choices, not a range: {name} is not a number. Received: {spec!r}")
        if "min" not in spec or "max" not in spec:
            raise TfclfError(f"{key} needs both min and max. Received: {spec!r}")
        lo = coerce(spec["min"], base, f"{key}.min")
        hi = coerce(spec["max"], base, f"{key}.max")
        if lo > hi:
            raise TfclfError(f"{key}: min must be <= max. Received: min={lo}, max={hi}")
        step = spec.get("step")
        if step is not None:
            step = coerce(step, base, f"{key}.step")
            if step <= 0:
                raise TfclfError(f"{key}.step must be positive. Received: step={step}")
        sampling = coerce(spec.get("sampling", "linear"), Sampling, f"{key}.sampling")
        if sampling is not Sampling.LINEAR and lo <= 0:
            raise TfclfError(
                f"{key}: {sampling.value} sampling needs min > 0. Received: min={lo}")
        if sampling is not Sampling.LINEAR and step is not None and base is int and step < 2:
            raise TfclfError(
                f"{key}.step multiplies with {sampling.value} sampling, so it must be >= 2. "
                f"Received: step={step}")
        return Dimension(name, section, min=lo, max=hi, step=step, sampling=sampling)
    values = spec if isinstance(spec, list) else [spec]
    if not values:
        raise TfclfError(f"{key} is an empty list of choices. Received: []")
    if any(v is None for v in values):
        raise TfclfError(f"{key} choices must not be null. Received: {values!r}")
    choices = tuple(coerce(v, base, key) for v in values)
    if len(set(choices)) != len(choices):
        raise TfclfError(f"{key} lists a choice twice. Received: {values!r}")
    return Dimension(name, section, choices=choices)


def parse_search_space(data: Any, base: RunConfig, where: str = "search") -> SearchSpace:
    """Reads and validates the YAML ``search:`` section against the base configuration.

    Each key is a config field (see ``SEARCH_TARGETS``) and its value a list of
    choices (``[16, 32]``; lists for list fields: ``boundaries: [[500], [1000]]``),
    a range (``{min: 1.0e-5, max: 1.0e-4, step: ..., sampling: log}``) for numbers,
    or one value (kept fixed). No section, or an empty one, means ``DEFAULT_SEARCH``.

    Every choice and both ends of every range are applied to ``base`` alone and in
    pairs, so values that no trial could use fail here rather than mid-search.

    Raises:
        TfclfError: naming the key, on unknown keys, empty or inverted ranges, values
            of the wrong type, or values the config rejects.
    """
    if data is None or data == {}:
        data = DEFAULT_SEARCH
    if not isinstance(data, dict):
        raise TfclfError(
            f"{where} must be a mapping of config fields to choices or ranges. Received: {data!r}")
    space = SearchSpace(tuple(_parse_dimension(str(k), v, where) for k, v in data.items()))
    # Each candidate, then each pair of candidates, with the other searched fields at
    # their first candidate: a trial sets every searched field at once.
    dims = space.dimensions
    first = {d.name: d.extremes()[0] for d in dims}
    for dim in dims:
        for value in dim.extremes():
            _check_candidates(base, first, {dim.name: value}, where)
    for i, dim in enumerate(dims):
        for other in dims[i + 1:]:
            for value in dim.extremes():
                for other_value in other.extremes():
                    _check_candidates(base, first, {dim.name: value, other.name: other_value}, where)
    return space


def _check_candidates(base: RunConfig, first: dict[str, Any], focus: dict[str, Any], where: str) -> None:
    values = {**first, **focus}
    try:
        _apply(base, values, where)
    except TfclfError as e:
        shown = ", ".join(f"{k}={_plain(v)!r}" for k, v in focus.items())
        rest = ", ".join(f"{k}={_plain(v)!r}" for k, v in values.items() if k not in focus)
        raise TfclfError(f"{where}: {shown}{f' (with {rest})' if rest else ''} gives an invalid "
                         f"configuration: {e}") from None


def apply_search_values(base: RunConfig, values: dict[str, Any], where: str = "search") -> RunConfig:
    """The base config with searched fields set to ``values`` (converted and validated).

    Args:
        base: the configuration every trial starts from.
        values: search key -> value; list fields also accept "a,b" strings.
        where: names the source in errors.

    Raises:
        TfclfError: naming the keys and values, if the resulting config is invalid.
    """
    try:
        return _apply(base, values, where)
    except TfclfError as e:
        shown = ", ".join(f"{k}={_plain(v)!r}" for k, v in values.items())
        raise TfclfError(f"{where}: {shown} gives an invalid configuration: {e}") from None


def _apply(base: RunConfig, values: dict[str, Any], where: str) -> RunConfig:
    changes: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        section = _search_section(name, where)
        hint = typing.get_type_hints(SECTIONS[section])[name]
        changes.setdefault(section, {})[name] = coerce(value, hint, f"{where}.{name}")
    for section, fields in changes.items():
        base = base.replace(section, **fields)
    return base


def hyperparameter_value(value: Any) -> Union[int, float, str, bool]:
    """A config value as Keras Tuner can hold it: tuples become "a,b" strings, enums strings."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return ",".join(str(hyperparameter_value(v)) for v in value)
    return value


def config_for_trial(base: RunConfig, objective: Union[Monitor, str], values: dict[str, Any],
                     output_dir: Union[str, os.PathLike], where: str = "trial") -> RunConfig:
    """The run configuration of one trial.

    Args:
        base: the configuration every trial starts from.
        objective: the metric the search optimises; it becomes ``train.monitor``, so
            each trial keeps (and reports) its best epoch by it.
        values: the trial's hyperparameter values; Hyperband's ``tuner/epochs`` sets
            ``train.epochs`` (its budget), its other ``tuner/...`` values are ignored.
        output_dir: the trial's run directory.
        where: names the trial in errors.
    """
    searched = {k: v for k, v in values.items() if not k.startswith("tuner/")}
    config = apply_search_values(base, searched, where=where)
    train_changes: dict[str, Any] = {"monitor": Monitor.parse(objective, "--objective"),
                                     "output_dir": str(output_dir), "overwrite": False}
    if "tuner/epochs" in values:
        train_changes["epochs"] = int(values["tuner/epochs"])
    return config.replace("train", **train_changes)
