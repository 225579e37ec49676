"""Typed run configuration: one definition for CLI flags, YAML keys and the saved config.yaml.

Every field carries its help text in ``metadata["help"]``. Sections are frozen
dataclasses; a ``RunConfig`` groups them. Precedence when resolving a run:
dataclass defaults < ``--config experiments/NAME.yaml`` < command-line flags.

YAML layout (the same names as the flags, with dashes as underscores)::

    data:
      train: ../shared/datasets/emotion/train.txt
      delimiter: ";"
    model:
      encoder: minilm
    optimizer:
      values: [5.0e-5, 1.0e-5]
    train:
      epochs: 3
"""
from __future__ import annotations

import argparse
import dataclasses
import enum
import os
import types
import typing
from pathlib import Path
from typing import Any, Optional

import yaml

from tfclf import atomic
from tfclf.errors import TfclfError


def _field(default: Any, help: str, **kwargs: Any) -> Any:
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples for sequence defaults")
    return dataclasses.field(default=default, metadata={"help": help, **kwargs})


class Pooling(str, enum.Enum):
    """How the encoder's outputs become one vector per text."""

    POOLED = "pooled"  # the encoder's own pooled_output (BERT pooler, LaBSE's normalised one)
    CLS = "cls"  # sequence_output[:, 0]
    MEAN = "mean"  # mean of sequence_output over the attention mask (sentence-transformers)


class MixedPrecision(str, enum.Enum):
    NONE = "none"
    MIXED_FLOAT16 = "mixed_float16"
    MIXED_BFLOAT16 = "mixed_bfloat16"


@dataclasses.dataclass(frozen=True)
class DataConfig:
    data: Optional[str] = _field(
        None, "One file or folder to split into train/validation/test with --split and --seed.")
    train: Optional[str] = _field(None, "Training file or class-folder directory.")
    validation: Optional[str] = _field(None, "Validation file or directory (else split from train).")
    test: Optional[str] = _field(None, "Test file or directory (else split from train).")
    text_column: str = _field("text", "Column holding the text (headerless 2-column files: column 0).")
    label_column: str = _field("label", "Column holding the label (headerless 2-column files: column 1).")
    delimiter: Optional[str] = _field(
        None, "Field delimiter; default by extension: .csv ',', .tsv '\\t', .txt ';'.")
    encoding: str = _field("utf-8", "Text encoding of input files (e.g. latin-1).")
    split: tuple[float, ...] = _field(
        (0.8, 0.1, 0.1),
        "Train/validation/test ratios used when splits are not given; stratified by label.")
    limit_train: Optional[int] = _field(
        None, "Keep a stratified sample of at most N training rows.")
    shuffle_buffer: int = _field(10000, "Shuffle buffer size (rows) for the training stream.")

    def __post_init__(self) -> None:
        if self.data and (self.train or self.validation or self.test):
            raise TfclfError(
                "--data cannot be combined with --train/--validation/--test. "
                f"Received: data={self.data!r}, train={self.train!r}, "
                f"validation={self.validation!r}, test={self.test!r}")
        if (self.validation or self.test) and not (self.train or self.data):
            raise TfclfError("--validation/--test need --train. Received: train=None")
        if len(self.split) != 3 or any(r < 0 for r in self.split) or abs(sum(self.split) - 1) > 1e-6:
            raise TfclfError(
                "--split must be three non-negative ratios that sum to 1, e.g. 0.8,0.1,0.1. "
                f"Received: split={','.join(str(r) for r in self.split)}")
        if self.split[0] <= 0:
            raise TfclfError(f"--split needs a positive train ratio. Received: split={self.split}")
        if self.limit_train is not None and self.limit_train < 1:
            raise TfclfError(f"--limit-train must be >= 1. Received: limit_train={self.limit_train}")
        if self.shuffle_buffer < 1:
            raise TfclfError(f"--shuffle-buffer must be >= 1. Received: {self.shuffle_buffer}")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    encoder: str = _field(
        "minilm", "Registry name (see `python -m tfclf.encoders list`), TF Hub URL or local folder.")
    preprocessor: Optional[str] = _field(
        None, "Preprocessor URL or folder; default: the registry's match for --encoder.")
    seq_length: Optional[int] = _field(
        None, "Maximum tokens per text, [CLS] and [SEP] included; default: the encoder's.")
    pooling: Optional[Pooling] = _field(None, "Pooling of encoder outputs; default: the encoder's.")
    dropout: float = _field(0.1, "Dropout rate before the classification layer.")
    trainable: bool = _field(True, "Fine-tune the encoder (false: train only the head).")

    def __post_init__(self) -> None:
        if self.seq_length is not None and not 8 <= self.seq_length <= 512:
            raise TfclfError(f"--seq-length must be in [8, 512]. Received: seq_length={self.seq_length}")
        if not 0 <= self.dropout < 1:
            raise TfclfError(f"--dropout must be in [0, 1). Received: dropout={self.dropout}")


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    learning_rate: Optional[float] = _field(
        None, "Shortcut: rescale --values so the first equals this learning rate.")
    boundaries: tuple[int, ...] = _field(
        (1000,), "Step boundaries of the piecewise-constant learning-rate schedule (LaBSE recipe).")
    values: tuple[float, ...] = _field(
        (5e-5, 1e-5), "Learning rates between the boundaries; one more than --boundaries.")
    weight_decay: float = _field(
        1e-6, "Decoupled weight decay per step at the initial learning rate; it follows the "
        "schedule (effective decay = weight_decay * lr(t) / lr(0)), as in the LaBSE recipe.")
    exclude_from_weight_decay: tuple[str, ...] = _field(
        ("layer_norm", "LayerNorm", "bias"),
        "Regexes of variable names that get no weight decay.")
    beta_1: float = _field(0.9, "Adam beta_1.")
    beta_2: float = _field(0.999, "Adam beta_2.")
    epsilon: float = _field(1e-6, "Adam epsilon (BERT recipes use 1e-6).")
    clip_norm: Optional[float] = _field(None, "Clip gradients by this global norm; none by default.")

    def __post_init__(self) -> None:
        if len(self.values) != len(self.boundaries) + 1:
            raise TfclfError(
                "--values must have exactly one more entry than --boundaries. Received: "
                f"boundaries={list(self.boundaries)}, values={list(self.values)}")
        if list(self.boundaries) != sorted(set(self.boundaries)) or any(b <= 0 for b in self.boundaries):
            raise TfclfError(
                f"--boundaries must be increasing positive steps. Received: {list(self.boundaries)}")
        if any(v <= 0 for v in self.values):
            raise TfclfError(f"--values must be positive. Received: {list(self.values)}")
        if self.learning_rate is not None and self.learning_rate <= 0:
            raise TfclfError(f"--learning-rate must be positive. Received: {self.learning_rate}")
        if self.weight_decay < 0:
            raise TfclfError(f"--weight-decay must be >= 0. Received: {self.weight_decay}")
        if self.clip_norm is not None and self.clip_norm <= 0:
            raise TfclfError(f"--clip-norm must be positive. Received: {self.clip_norm}")

    def schedule_values(self) -> tuple[float, ...]:
        """The learning rates actually used, with --learning-rate applied."""
        if self.learning_rate is None:
            return tuple(self.values)
        scale = self.learning_rate / self.values[0]
        return tuple(v * scale for v in self.values)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    epochs: int = _field(3, "Maximum number of passes over the training data.")
    batch_size: int = _field(32, "Global batch size (summed over replicas).")
    seed: int = _field(42, "Seed for splits, shuffling, initialisation and dropout.")
    monitor: str = _field(
        "val_f1_macro", "Validation metric that selects the best epoch and drives early stopping.")
    patience: Optional[int] = _field(
        None, "Stop after this many epochs without improvement of --monitor; none: never.")
    dynamic_padding: bool = _field(
        True, "Pad each batch to its longest text (capped at --seq-length) instead of --seq-length.")
    mixed_precision: MixedPrecision = _field(MixedPrecision.NONE, "Keras mixed-precision policy.")
    jit_compile: bool = _field(
        False, "XLA-compile the id-taking model. Off by default: on CPU it is slower to compile "
        "than to train, and TF-Text ops never enter the compiled graph anyway.")
    output_dir: Optional[str] = _field(
        None, "Run directory; default runs/<encoder>-<YYYYmmdd-HHMMSS>.")
    overwrite: bool = _field(False, "Replace an existing finished run in --output-dir.")

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise TfclfError(f"--epochs must be >= 1. Received: epochs={self.epochs}")
        if self.batch_size < 1:
            raise TfclfError(f"--batch-size must be >= 1. Received: batch_size={self.batch_size}")
        valid = ("val_f1_macro", "val_loss", "val_accuracy", "val_mcc")
        if self.monitor not in valid:
            raise TfclfError(f"--monitor must be one of {list(valid)}. Received: monitor={self.monitor!r}")
        if self.patience is not None and self.patience < 0:
            raise TfclfError(f"--patience must be >= 0. Received: {self.patience}")


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "optimizer": OptimizerConfig,
    "train": TrainConfig,
}


@dataclasses.dataclass(frozen=True)
class RunConfig:
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: section_to_dict(getattr(self, name)) for name in SECTIONS}

    def replace(self, section: str, **changes: Any) -> "RunConfig":
        """A copy with fields of one section changed (validated again)."""
        return dataclasses.replace(
            self, **{section: dataclasses.replace(getattr(self, section), **changes)})


def section_to_dict(section: Any) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Converts a YAML or CLI value to the field's type, or raises TfclfError naming `where`."""
    base, optional = _strip_optional(tp)
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
            return tuple(_coerce(item.strip() if isinstance(item, str) else item, item_tp, where)
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


def _build_section(cls: type, values: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise TfclfError(
            f"Unknown key {unknown[0]!r} in {where}. Valid keys: {names}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in values.items()}
    return cls(**kwargs)


def from_dict(data: dict[str, Any], where: str = "config") -> RunConfig:
    """Builds a validated RunConfig from nested dicts (YAML or saved config.yaml).

    Raises:
        TfclfError: on unknown sections or keys, or values of the wrong type.
    """
    if not isinstance(data, dict):
        raise TfclfError(f"{where} must be a mapping of sections {list(SECTIONS)}. Received: {type(data).__name__}")
    unknown = sorted(set(data) - set(SECTIONS) - {"search"})
    if unknown:
        raise TfclfError(f"Unknown section {unknown[0]!r} in {where}. Valid sections: {list(SECTIONS)}")
    sections = {}
    for name, cls in SECTIONS.items():
        values = data.get(name) or {}
        if not isinstance(values, dict):
            raise TfclfError(f"Section {name!r} in {where} must be a mapping. Received: {values!r}")
        sections[name] = _build_section(cls, values, f"{where}: {name}")
    return RunConfig(**sections)


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a YAML config file into nested dicts, with errors that name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise TfclfError(f"--config file not found: {str(path)!r}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise TfclfError(f"{path}{line}: not valid YAML ({getattr(e, 'problem', e)})") from None
    return data or {}


def save_yaml(config: RunConfig, path: str | os.PathLike, extra: Optional[dict] = None) -> None:
    """Writes the fully resolved config (atomically) so the run can be reproduced."""
    payload = config.to_dict()
    if extra:
        payload.update(extra)
    atomic.write_text(path, yaml.safe_dump(payload, sort_keys=False, allow_unicode=True))


# ----------------------------------------------------------------------------------- CLI flags

def add_arguments(parser: argparse.ArgumentParser, sections: tuple[str, ...] = tuple(SECTIONS)) -> None:
    """Adds one --flag per config field of the given sections, plus --config.

    Flags default to "not given" so that only what the user typed overrides the YAML.
    """
    parser.add_argument("--config", metavar="YAML", help="Experiment YAML; flags override its values.")
    for name in sections:
        group = parser.add_argument_group(name)
        cls = SECTIONS[name]
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            base, _ = _strip_optional(hints[f.name])
            flag = "--" + f.name.replace("_", "-")
            help_text = f.metadata.get("help", "")
            default = getattr(cls(), f.name) if _has_default(cls) else f.default
            if isinstance(default, enum.Enum):
                default = default.value
            help_text += f" (default: {default})"
            if isinstance(base, type) and issubclass(base, enum.Enum):
                group.add_argument(flag, dest=f"{name}.{f.name}", default=argparse.SUPPRESS,
                                   choices=[m.value for m in base], help=help_text)
            elif base is bool:
                group.add_argument(flag, dest=f"{name}.{f.name}", default=argparse.SUPPRESS,
                                   action=argparse.BooleanOptionalAction, help=help_text)
            else:
                group.add_argument(flag, dest=f"{name}.{f.name}", default=argparse.SUPPRESS,
                                   metavar=_metavar(base), help=help_text)


def _has_default(cls: type) -> bool:
    try:
        cls()
        return True
    except TfclfError:
        return False


def _metavar(base: Any) -> str:
    if typing.get_origin(base) is tuple:
        return "A,B,..."
    return {int: "N", float: "X", str: "STR"}.get(base, "VALUE")


def from_args(args: argparse.Namespace, base: Optional[RunConfig] = None) -> RunConfig:
    """Resolves defaults < --config YAML < flags into a validated RunConfig."""
    data: dict[str, dict[str, Any]] = {}
    where = "command line"
    if getattr(args, "config", None):
        data = load_yaml(args.config)
        where = str(args.config)
    elif base is not None:
        data = base.to_dict()
    merged = {name: dict(data.get(name) or {}) for name in SECTIONS}
    # Coerce flag values first so a bad flag is reported as a flag, not as the YAML file.
    for dest, value in vars(args).items():
        if "." not in dest:
            continue
        section, key = dest.split(".", 1)
        hints = typing.get_type_hints(SECTIONS[section])
        merged[section][key] = _coerce(value, hints[key], "--" + key.replace("_", "-"))
    extra = {k: v for k, v in data.items() if k not in SECTIONS}
    return from_dict({**merged, **extra}, where=where)
