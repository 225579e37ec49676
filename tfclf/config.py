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
import logging
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from tfclf import atomic
from tfclf.errors import TfclfError

logger = logging.getLogger(__name__)


def _field(default: Any, help: str, **kwargs: Any) -> Any:
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples for sequence defaults")
    return dataclasses.field(default=default, metadata={"help": help, **kwargs})


class Pooling(str, enum.Enum):
    """How the encoder's outputs become one vector per text."""

    POOLED = "pooled"  # the encoder's own pooled_output (BERT pooler, LaBSE's normalised one)
    CLS = "cls"  # sequence_output[:, 0]
    MEAN = "mean"  # mean of sequence_output over the attention mask (sentence-transformers)


class Schedule(str, enum.Enum):
    PIECEWISE = "piecewise"
    LINEAR = "linear"
    POLYNOMIAL = "polynomial"
    COSINE = "cosine"


class AdamUpdate(str, enum.Enum):
    FUSED = "fused"
    XLA = "xla"
    KERAS = "keras"


class MixedPrecision(str, enum.Enum):
    """--mixed-precision (see tfclf.precision); a run's config.yaml never records auto."""

    AUTO = "auto"  # mixed_bfloat16 on a CPU-only machine with native bf16, else none
    NONE = "none"
    MIXED_FLOAT16 = "mixed_float16"
    MIXED_BFLOAT16 = "mixed_bfloat16"


class LengthGrouping(str, enum.Enum):
    """How training batches are grouped by token length (see tfclf.data.pipeline)."""

    WINDOWS = "windows"
    BUCKETS = "buckets"
    NONE = "none"


class Strategy(str, enum.Enum):
    """The tf.distribute strategy a run trains under (see tfclf.distribute)."""

    AUTO = "auto"  # mirrored when more than one GPU is visible, else default
    DEFAULT = "default"  # no distribution: one device
    MIRRORED = "mirrored"  # MirroredStrategy: all local GPUs, synchronous
    MULTI_WORKER = "multi-worker"  # MultiWorkerMirroredStrategy over the hosts in TF_CONFIG
    TPU = "tpu"  # TPUStrategy on the local TPU (TPU VM)


class DataFormat(str, enum.Enum):
    """How input files are read; ``auto`` decides by extension and folder layout."""

    AUTO = "auto"
    FOLDERS = "folders"  # root/[<split>/]<label>/*.txt
    DELIMITED = "delimited"  # CSV, TSV, text;label
    PARALLEL = "parallel"  # {split}_text.txt + {split}_labels.txt, one example per line
    JSONL = "jsonl"
    PARQUET = "parquet"


class EvalSplit(str, enum.Enum):
    """--eval-split: the split final metrics are computed on."""

    TEST = "test"
    VALIDATION = "validation"
    TRAIN = "train"  # only when asked for: metrics on training rows flatter the model


_CLASS_WEIGHT_CHOICES = ("none", "balanced", "sqrt")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    data: Optional[str] = _field(
        None, "One file or folder to split into train/validation/test with --split and --seed. "
        "A folder holding train.*/val.*/test.* files, {split}_text.txt + {split}_labels.txt "
        "pairs or <split>/<label>/ folders gives its own splits.")
    train: Optional[str] = _field(None, "Training file or class-folder directory.")
    validation: Optional[str] = _field(None, "Validation file or directory (else split from train).")
    test: Optional[str] = _field(None, "Test file or directory (else split from train).")
    format: DataFormat = _field(
        DataFormat.AUTO, "Input format; auto: by extension (.csv .tsv .txt .jsonl .parquet) "
        "and folder layout.")
    encoding: str = _field("utf-8", "Text encoding of input files (e.g. latin-1).")
    delimiter: Optional[str] = _field(
        None, "Field delimiter (one character, or 'tab'); default by extension: .csv ',', "
        ".tsv tab, .txt ';', else sniffed.")
    header: Optional[bool] = _field(
        None, "Whether the first row of a delimited file is a header; default: it is when it "
        "names --text-column and --label-column. A first row that looks like a header (every "
        "field non-empty, non-numeric, distinct and short, and none repeated in its column "
        "below) but does not name them is an error: pass the header's names, or --no-header "
        "if the row is data.")
    skip_rows: int = _field(0, "Lines to skip at the top of delimited files, before the header.")
    text_column: tuple[str, ...] = _field(
        ("text",), "Column(s) holding the text, e.g. description,text; several are joined with "
        "--text-separator (blank parts skipped). Headerless files: a --column-names name or a "
        "0-based field index (e.g. 3); headerless 2-column text<delimiter>label files: text.")
    text_separator: str = _field(" ", "Joins several --text-column values.")
    label_column: tuple[str, ...] = _field(
        ("label",), "Column holding the label (headerless files: a --column-names name or a "
        "0-based field index; 2-column files: label, the last field); several columns are binary "
        "0/1 columns of a multi-label task, named by their headers.")
    column_names: tuple[str, ...] = _field(
        (), "Names of the columns of a headerless delimited file, in order, e.g. "
        "source,label,mark,sentence; --text-column/--label-column/--group-column then pick among "
        "them. The file must have no header: a first row that looks like one is an error (pass "
        "--skip-rows 1 to replace the header's names, or --no-header to read that row as data); "
        "--header with --column-names is refused. Default: none (a headerless file with more "
        "than two fields then needs 0-based indices, e.g. --text-column 3 --label-column 1).")
    label_separator: Optional[str] = _field(
        None, "Multi-label: the label column holds labels joined by this string, e.g. '|'.")
    group_column: Optional[str] = _field(
        None, "Column whose value keeps rows together: no group is in two splits (e.g. a user "
        "name); a 0-based field index in headerless files.")
    where: Optional[str] = _field(
        None, "Keep only rows matching this pandas query over the input's columns, e.g. "
        "'`gender:confidence` >= 0.6'.")
    empty_text: Optional[str] = _field(
        None, "Placeholder for blank texts; without it rows with blank text are dropped and counted.")
    label_map: tuple[str, ...] = _field(
        (), "Relabel with old=new, drop with old=drop; comma-separated, e.g. unknown=drop,0=negative.")
    class_weight: str = _field(
        "none", "Loss weight per class: none, balanced (n_rows / (n_classes * n_class_rows) on the "
        "training split), sqrt (the square root of balanced: a softer push towards rare classes), "
        "or a .yaml file mapping every label to a weight.")
    strip_urls: bool = _field(False, "Remove http(s):// and www. URLs from texts.")
    strip_mentions: bool = _field(False, "Remove @mentions from texts.")
    strip_html: bool = _field(False, "Replace HTML tags (e.g. <br />) by spaces and unescape entities.")
    normalize_unicode: bool = _field(False, "Normalise texts to Unicode NFC.")
    normalize_whitespace: bool = _field(
        False, "Collapse runs of whitespace (line breaks included) to one space and trim.")
    lowercase: bool = _field(False, "Lowercase texts.")
    split: tuple[float, ...] = _field(
        (0.8, 0.1, 0.1),
        "Train/validation/test ratios used when splits are not given (a missing validation "
        "split is carved from train with ratio validation/(train+validation)).")
    stratify: bool = _field(
        True, "Stratify ratio splits by label (in memory; streamed splits hash each row's key).")
    dedupe: bool = _field(
        False, "Drop validation rows whose text is in train, and test rows whose text is in train "
        "or validation.")
    limit_train: Optional[int] = _field(
        None, "Keep a stratified sample of at most N training rows.")
    stream: Optional[bool] = _field(
        None, "Stream inputs in chunks instead of loading them (flat memory; splits by hash of "
        "the text or --group-column). Default: stream when inputs exceed --stream-threshold-mb.")
    stream_threshold_mb: float = _field(
        256.0, "Input size (MB on disk) above which inputs are streamed unless --no-stream.")
    shuffle_buffer: int = _field(10000, "Shuffle buffer size (rows) for the training stream.")
    length_sample: int = _field(
        5000, "Texts per split sampled for the report's length statistics (0: none).")
    max_labels: int = _field(
        1000, "Most distinct training labels accepted (default 1000). More, or more than 20 that "
        "are also more than half the training rows, means the label column looks like free text: "
        "an error.")
    min_class_examples: int = _field(
        5, "Warn about classes with fewer training rows than this (default 5). A class with fewer "
        "than 2 is an error when the split is stratified (a ratio split in memory with --stratify).")
    eval_split: Optional[EvalSplit] = _field(
        None, "Split the final metrics are computed on: test, validation or train. Default: test, "
        "else validation; with neither, an error (pass --eval-split train to accept metrics on "
        "training rows).")

    def __post_init__(self) -> None:
        # Python callers may pass a comma-separated string, as on the command line.
        for name in ("text_column", "label_column", "label_map", "column_names"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, tuple(v.strip() for v in value.split(",") if v.strip()))
            elif not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
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
        for name in ("text_column", "label_column"):
            columns = getattr(self, name)
            if not columns or any(not c.strip() for c in columns) or len(set(columns)) != len(columns):
                raise TfclfError(
                    f"--{name.replace('_', '-')} must name one or more distinct, non-blank columns. "
                    f"Received: {name}={list(columns)}")
        if self.label_separator is not None and len(self.label_column) > 1:
            raise TfclfError(
                "--label-separator applies to a single --label-column; several label columns are "
                f"read as binary 0/1 columns. Received: label_column={list(self.label_column)}, "
                f"label_separator={self.label_separator!r}")
        if self.label_separator == "":
            raise TfclfError("--label-separator must not be empty. Received: label_separator=''")
        self.label_mapping()  # validates the old=new items
        if self.delimiter is not None:
            delimiter = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(self.delimiter, self.delimiter)
            if len(delimiter) != 1 or delimiter in "\"\r\n":
                raise TfclfError(
                    "--delimiter must be one character other than a quote or line break, or 'tab'. "
                    f"Received: delimiter={self.delimiter!r}")
            object.__setattr__(self, "delimiter", delimiter)
        import codecs

        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise TfclfError(
                f"--encoding must be a Python text encoding such as utf-8 or latin-1. "
                f"Received: encoding={self.encoding!r}") from None
        if self.skip_rows < 0:
            raise TfclfError(f"--skip-rows must be >= 0. Received: skip_rows={self.skip_rows}")
        if self.class_weight not in _CLASS_WEIGHT_CHOICES and not self.class_weight.endswith(
                (".yaml", ".yml")):
            raise TfclfError(
                f"--class-weight must be one of {list(_CLASS_WEIGHT_CHOICES)} or a .yaml file of "
                f"{{label: weight}}. Received: class_weight={self.class_weight!r}")
        if self.class_weight != "none" and self.multi_label:
            raise TfclfError(
                "--class-weight needs single-label data; multi-label data (--label-separator or "
                f"several --label-column) trains one binary loss per label. Received: "
                f"class_weight={self.class_weight!r}")
        if self.where is not None and not self.where.strip():
            raise TfclfError("--where must be a pandas query, e.g. 'confidence >= 0.6'. Received: ''")
        if self.stream_threshold_mb <= 0:
            raise TfclfError(
                f"--stream-threshold-mb must be > 0. Received: stream_threshold_mb={self.stream_threshold_mb}")
        if self.length_sample < 0:
            raise TfclfError(f"--length-sample must be >= 0. Received: length_sample={self.length_sample}")
        if any(not c.strip() for c in self.column_names) or len(set(self.column_names)) != len(self.column_names):
            raise TfclfError("--column-names must name every column once, non-blank, e.g. "
                             f"source,label,mark,sentence. Received: column_names={list(self.column_names)}")
        if self.column_names and self.header:
            raise TfclfError(
                "--column-names names the columns of a headerless file; it cannot be combined with "
                "--header. Drop --column-names to use the header's names, or pass --skip-rows 1 "
                f"--column-names ... to replace them. Received: column_names={list(self.column_names)}")
        if self.max_labels < 2:
            raise TfclfError(f"--max-labels must be >= 2. Received: max_labels={self.max_labels}")
        if self.min_class_examples < 1:
            raise TfclfError(
                f"--min-class-examples must be >= 1. Received: min_class_examples={self.min_class_examples}")
        if self.eval_split is not None and not isinstance(self.eval_split, EvalSplit):
            try:
                object.__setattr__(self, "eval_split", EvalSplit(self.eval_split))
            except ValueError:
                raise TfclfError(f"--eval-split must be one of {[m.value for m in EvalSplit]}. "
                                 f"Received: eval_split={self.eval_split!r}") from None

    @property
    def multi_label(self) -> bool:
        """Several labels per row: a --label-separator or several binary --label-column."""
        return self.label_separator is not None or len(self.label_column) > 1

    def label_mapping(self) -> dict[str, Optional[str]]:
        """``--label-map`` as {old: new}; None means drop the row.

        Raises:
            TfclfError: an item is not ``old=new`` or an old label repeats.
        """
        mapping: dict[str, Optional[str]] = {}
        for item in self.label_map:
            old, sep, new = item.partition("=")
            if not sep or not old.strip() or not new.strip():
                raise TfclfError(
                    "--label-map items must look like old=new or old=drop. "
                    f"Received: label_map={item!r}")
            if old.strip() in mapping:
                raise TfclfError(f"--label-map maps {old.strip()!r} twice. Received: {list(self.label_map)}")
            mapping[old.strip()] = None if new.strip() == "drop" else new.strip()
        return mapping


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
    trainable: str = _field(
        "all", "Encoder weights to fine-tune: all, none (train only the head), or top-N "
        "(the top N transformer layers and the pooler; embeddings and lower layers stay frozen).")

    def __post_init__(self) -> None:
        if self.seq_length is not None and not 8 <= self.seq_length <= 512:
            raise TfclfError(f"--seq-length must be in [8, 512]. Received: seq_length={self.seq_length}")
        if not 0 <= self.dropout < 1:
            raise TfclfError(f"--dropout must be in [0, 1). Received: dropout={self.dropout}")
        if not re.fullmatch(r"all|none|top-\d+", str(self.trainable)):
            raise TfclfError(
                "--trainable must be one of [all, none, top-N] (e.g. top-2). "
                f"Received: trainable={self.trainable!r}")


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    schedule: Schedule = _field(
        Schedule.PIECEWISE, "Learning-rate schedule: piecewise (--boundaries/--values, the LaBSE recipe), or "
        "linear, polynomial or cosine decay from the peak rate (--values[0]) to --end-learning-rate "
        "over the whole run.")
    warmup_fraction: float = _field(
        0.0, "Fraction of all training steps spent warming the rate up linearly from 0 to its peak.")
    end_learning_rate: float = _field(0.0, "Final rate of the linear, polynomial and cosine schedules.")
    polynomial_power: float = _field(2.0, "Power of the polynomial schedule.")
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
    update: AdamUpdate = _field(
        AdamUpdate.FUSED, "How each variable's AdamW step is computed (same arithmetic): fused (TF's "
        "one-pass ResourceApplyAdam kernel, no compilation), xla (Keras' update compiled with XLA, "
        "about 20 s of compilation for MiniLM on a 2-core CPU) or keras (Keras' unfused update, "
        "about ten element-wise passes per variable). The model is never compiled by this "
        "(see --jit-compile).")

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
        if not 0 <= self.warmup_fraction < 1:
            raise TfclfError(f"--warmup-fraction must be in [0, 1). Received: {self.warmup_fraction}")
        if self.end_learning_rate < 0 or self.polynomial_power <= 0:
            raise TfclfError(
                "--end-learning-rate must be >= 0 and --polynomial-power > 0. Received: "
                f"end_learning_rate={self.end_learning_rate}, polynomial_power={self.polynomial_power}")

    def schedule_values(self) -> tuple[float, ...]:
        """The learning rates actually used, with --learning-rate applied."""
        if self.learning_rate is None:
            return tuple(self.values)
        scale = self.learning_rate / self.values[0]
        return tuple(v * scale for v in self.values)


# Methods of tfclf.baseline (named here so TrainConfig can validate --baselines without importing it).
BASELINE_METHODS = ("majority", "tfidf-logreg", "zero-shot")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    epochs: int = _field(3, "Maximum number of passes over the training data.")
    batch_size: int = _field(32, "Global batch size (summed over replicas).")
    seed: int = _field(42, "Seed for splits, shuffling, initialisation and dropout.")
    monitor: str = _field(
        "val_f1_macro", "Validation metric that selects the best epoch and drives early stopping.")
    patience: Optional[int] = _field(
        None, "Stop after this many epochs without improvement of --monitor; none: never.")
    label_smoothing: float = _field(0.0, "Label smoothing of the cross-entropy loss.")
    seeds: tuple[int, ...] = _field(
        (), "Train once per seed (e.g. 0,1,2) into seeds/<seed>/; metrics.json gains mean and std. "
        "Overrides --seed.")
    save_every_steps: int = _field(
        200, "Save a resumable checkpoint every N training steps (0: only at epoch ends). "
        "Re-running an interrupted command resumes from the last one.")
    dynamic_padding: bool = _field(
        True, "Pad each batch to its longest text (capped at --seq-length) instead of --seq-length.")
    length_grouping: LengthGrouping = _field(
        LengthGrouping.WINDOWS,
        "With --dynamic-padding, how training batches are made of texts of similar token length, "
        "so that a batch of short texts is not padded to one long text: windows (shuffle, sort "
        "each window of --sort-window batches' rows by length, cut it into batches, shuffle "
        "those; the HF Trainer's group_by_length; in memory and streamed), buckets (tf.data "
        "bucket_by_sequence_length over --length-buckets; in memory only, streamed splits get "
        "random batches) or none (random batches). Validation, test and prediction keep the "
        "row order.")
    sort_window: int = _field(
        50, "Batches per sorted window of --length-grouping windows (the HF Trainer uses 50): "
        "larger pads less, smaller mixes lengths more.")
    length_buckets: tuple[int, ...] = _field(
        (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512),
        "Upper token lengths of --length-grouping buckets; those >= --seq-length fold into one.")
    mixed_precision: MixedPrecision = _field(
        MixedPrecision.NONE,
        "Mixed precision: none (float32), auto (mixed_bfloat16 where the machine has no GPU and "
        "the CPU computes bfloat16 natively, avx512_bf16 or amx_bf16; else none), mixed_float16 "
        "or mixed_bfloat16. config.yaml records what auto chose. On a Zen 5 CPU bf16 trained "
        "MiniLM 1.13-1.22x faster and 0.37 points less accurate on the emotion recipe, so "
        "float32 stays the default (experiments/RESULTS.md). See tfclf.precision.")
    bf16_graph_rewrite: bool = _field(
        True, "With mixed_bfloat16 on CPU, also run Grappler's oneDNN bfloat16 rewrite while "
        "training, so that the hub encoder computes in bfloat16 too (a Keras policy reaches only "
        "pooling and dropout). Variables stay float32; the final evaluation and the export run "
        "the float32 encoder graphs.")
    strategy: Strategy = _field(
        Strategy.AUTO, "tf.distribute strategy: auto (mirrored when more than one GPU is visible, "
        "else default), default, mirrored, multi-worker (the cluster in TF_CONFIG) or tpu. "
        "--batch-size stays the global batch size.")
    jit_compile: bool = _field(
        False, "XLA-compile the id-taking model. Off by default: on CPU it is slower to compile "
        "than to train, and TF-Text ops never enter the compiled graph anyway.")
    output_dir: Optional[str] = _field(
        None, "Run directory; default runs/<encoder>-<YYYYmmdd-HHMMSS>.")
    overwrite: bool = _field(False, "Replace an existing finished run in --output-dir.")
    baselines: tuple[str, ...] = _field(
        (), f"Baselines to evaluate on the same split and show beside the model in report.md, "
        f"any of {','.join(BASELINE_METHODS)} (see python -m tfclf.baseline).")

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
        if not 0 <= self.label_smoothing < 1:
            raise TfclfError(f"--label-smoothing must be in [0, 1). Received: {self.label_smoothing}")
        if len(set(self.seeds)) != len(self.seeds):
            raise TfclfError(f"--seeds must be distinct. Received: {list(self.seeds)}")
        if self.save_every_steps < 0:
            raise TfclfError(f"--save-every-steps must be >= 0. Received: {self.save_every_steps}")
        if any(b < 2 for b in self.length_buckets) or list(self.length_buckets) != sorted(set(self.length_buckets)):
            raise TfclfError("--length-buckets must be increasing token lengths >= 2 (e.g. 16,32,64,128). "
                             f"Received: {','.join(map(str, self.length_buckets))}")
        if self.sort_window < 1:
            raise TfclfError(f"--sort-window must be >= 1. Received: {self.sort_window}")
        if self.length_grouping is LengthGrouping.BUCKETS and not self.length_buckets:
            raise TfclfError("--length-grouping buckets needs --length-buckets (e.g. 16,32,64,128). "
                             "Received: an empty list (for random batches use --length-grouping none)")
        if self.strategy is Strategy.TPU and self.dynamic_padding:
            raise TfclfError(  # XLA on TPUs compiles once per shape: batches need one shape
                "--strategy tpu needs fixed-length batches: add --no-dynamic-padding. "
                "Received: dynamic_padding=True")
        bad = [m for m in self.baselines if m not in BASELINE_METHODS]
        if bad or len(set(self.baselines)) != len(self.baselines):
            raise TfclfError(f"--baselines must be distinct names from {list(BASELINE_METHODS)}. "
                             f"Received: baselines={','.join(self.baselines)}")


class ExportFormat(str, enum.Enum):
    """What an export's ``serving_default`` takes."""

    TEXT = "text"  # raw strings; the graph tokenises with TF-Text ops
    IDS = "ids"  # token ids; the vocabulary is in assets/ for client-side tokenisation


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """``python -m tfclf.export RUN_DIR``: not part of a run's config.yaml."""

    export_dir: Optional[str] = _field(
        None, "Model folder TF Serving watches, e.g. serving/tickets; versions go in <N>/ below it.")
    version: Optional[int] = _field(None, "Version folder to write; default: the next integer.")
    overwrite: bool = _field(False, "Replace an existing version folder.")
    format: ExportFormat = _field(
        ExportFormat.TEXT, "text: raw strings in (needs TF-Text ops in the server); ids: token ids "
        "in, vocabulary in assets/, for runtimes without TF-Text.")
    threshold: float = _field(0.5, "Multi-label models: probability at or above which a label is output.")
    model_name: Optional[str] = _field(
        None, "Model name in models.config and the warmup requests; default: the --export-dir folder name.")
    warmup_requests: bool = _field(
        True, "Write assets.extra/tf_serving_warmup_requests so TF Serving traces before serving.")

    def __post_init__(self) -> None:
        if self.version is not None and self.version < 1:
            raise TfclfError(f"--version must be >= 1. Received: version={self.version}")
        if not 0 < self.threshold < 1:
            raise TfclfError(f"--threshold must be in (0, 1). Received: threshold={self.threshold}")


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

    def input_paths(self) -> list[tuple[str, str]]:
        """``(flag, path)`` of each local file or folder a run reads: data, a class-weight
        file, a local encoder or preprocessor. Outputs must not replace them."""
        items = [("--" + name, getattr(self.data, name))
                 for name in ("data", "train", "validation", "test") if getattr(self.data, name)]
        if self.data.class_weight.endswith((".yaml", ".yml")):
            items.append(("--class-weight", self.data.class_weight))
        for name in ("encoder", "preprocessor"):
            handle = getattr(self.model, name)
            if handle and "://" not in handle and Path(handle).expanduser().exists():
                items.append(("--" + name, handle))
        return items


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
    unknown = sorted(set(values) - set(names), key=str)  # YAML keys may be numbers too
    if unknown:
        raise TfclfError(
            f"Unknown key {unknown[0]!r} in {where}. Valid keys: {names}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in values.items()}
    return cls(**kwargs)


# Keys of older tfclf versions: (section, old key) -> (new key, old value -> new value).
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


def from_dict(data: dict[str, Any], where: str = "config") -> RunConfig:
    """Builds a validated RunConfig from nested dicts (YAML or saved config.yaml).

    Args:
        data: {section: {field: value}}; ``tune`` and ``search`` (read by tfclf.tune)
            are checked for their type and otherwise ignored.
        where: names the source in errors, e.g. ``--config experiments/x.yaml``.

    Raises:
        TfclfError: on a top level or section that is not a mapping, unknown sections
            or keys, or values of the wrong type.
    """
    _check_sections(data, where)
    unknown = sorted(set(data) - set(SECTIONS) - set(_TUNE_SECTIONS), key=str)
    if unknown:
        raise TfclfError(f"Unknown section {unknown[0]!r} in {where}. Valid sections: {list(SECTIONS)}")
    sections = {}
    for name, cls in SECTIONS.items():
        values = data.get(name) or {}
        sections[name] = _build_section(cls, _renamed(name, values, where), f"{where}: {name}")
    return RunConfig(**sections)


# Sections of a tuning YAML that tfclf.tune reads; `fit --config` accepts such a file too.
_TUNE_SECTIONS = ("tune", "search")


def _section_contents(name: str) -> str:
    if name == "search":
        return "config fields to choices or ranges, such as learning_rate: {min: ..., max: ...}"
    cls = SECTIONS.get(name) or TuneConfig
    first, second = (f.name for f in dataclasses.fields(cls)[:2])
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
    for name in (*SECTIONS, *_TUNE_SECTIONS):
        values = data.get(name)
        if values is not None and not isinstance(values, dict):
            raise TfclfError(f"{where}: expected section {name!r} to be a mapping of "
                             f"{_section_contents(name)}; Received: {_received(values)}")
    return data


def load_yaml(path: str | os.PathLike, role: str = "--config") -> Any:
    """Reads a YAML file, with errors that name the flag (``role``), the file and the line.

    Returns:
        The parsed document, of any type; {} for an empty file.

    Raises:
        TfclfError: the path is missing or a directory, cannot be read, is not UTF-8
            (naming the byte offset and line) or is not valid YAML (naming the line).
    """
    path = Path(path)
    if path.is_dir():
        raise TfclfError(f"{role} {path}: expected a YAML file; Received: a directory")
    if not path.is_file():
        raise TfclfError(f"{role} file not found: {str(path)!r}")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise TfclfError(f"{role} {path}: cannot be read ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise TfclfError(
            f"{role} {path}: expected UTF-8 text; Received: byte 0x{raw[e.start]:02x} at offset "
            f"{e.start} (line {line}), which is not UTF-8. Save the file as UTF-8.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise TfclfError(f"{role} {path}{line}: not valid YAML ({getattr(e, 'problem', e)})") from None
    return {} if data is None else data  # a number, a string or a list is the caller's to refuse


def load_sections(path: str | os.PathLike, role: str = "--config") -> dict[str, Any]:
    """Reads a config file (an experiment YAML, a run's config.yaml) as {section: mapping}.

    Args:
        path: the YAML file.
        role: what named the file, for errors: ``--config``, ``--model``, ``RUN_DIR``, ...

    Raises:
        TfclfError: as ``load_yaml``; or when the file, or one of its sections, is not
            a mapping. Unknown sections and keys are ``from_dict``'s to refuse.
    """
    return _check_sections(load_yaml(path, role), f"{role} {path}")


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
        _add_section_arguments(parser, name, SECTIONS[name])


def _add_section_arguments(parser: argparse.ArgumentParser, name: str, cls: type) -> None:
    """One --flag per field of ``cls``, stored as ``args.<name>.<field>`` only when given."""
    group = parser.add_argument_group(name)
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
        data = load_sections(args.config, "--config")
        where = f"--config {args.config}"
    elif base is not None:
        data = base.to_dict()
    merged = {name: dict(data.get(name) or {}) for name in SECTIONS}
    # Coerce flag values first so a bad flag is reported as a flag, not as the YAML file.
    for dest, value in vars(args).items():
        if "." not in dest or dest.split(".", 1)[0] not in SECTIONS:  # e.g. tune.* flags
            continue
        section, key = dest.split(".", 1)
        hints = typing.get_type_hints(SECTIONS[section])
        merged[section][key] = _coerce(value, hints[key], "--" + key.replace("_", "-"))
    extra = {k: v for k, v in data.items() if k not in SECTIONS}
    return from_dict({**merged, **extra}, where=where)


# ------------------------------------------------------------------------ tuning (tfclf.tune)
#
# A tuning YAML is a normal experiment YAML (the base configuration every trial starts
# from, so `fit --config` accepts it too) plus two sections:
#
#     tune:                      # how to search: TuneConfig, the same names as the flags
#       tuner: random
#       max_trials: 20
#     search:                    # what to search: a SearchSpace
#       learning_rate: {min: 1.0e-5, max: 1.0e-4, sampling: log}
#       batch_size: [16, 32]
#       trainable: [all, top-2]


class TunerKind(str, enum.Enum):
    """The Keras Tuner oracle that proposes trials."""

    RANDOM = "random"
    BAYESIAN = "bayesian"  # Gaussian-process Bayesian optimisation
    HYPERBAND = "hyperband"  # successive halving: many short trials, few long ones


class Role(str, enum.Enum):
    """This process's part in a search (Keras Tuner's chief/worker mode)."""

    STANDALONE = "standalone"  # holds the oracle and runs the trials
    CHIEF = "chief"  # serves the oracle over gRPC at --oracle and writes the results; runs no trials
    WORKER = "worker"  # asks the chief at --oracle for trials and runs them


OBJECTIVES = ("val_f1_macro", "val_loss", "val_accuracy", "val_mcc")


@dataclasses.dataclass(frozen=True)
class TuneConfig:
    """How to search; the YAML ``tune:`` section and the flags of ``python -m tfclf.tune``."""

    tuner: TunerKind = _field(
        TunerKind.RANDOM, "Search algorithm: random, bayesian (Gaussian process) or hyperband "
        "(successive halving of the epoch budget).")
    max_trials: int = _field(
        10, "Number of trials; hyperband stops earlier when its brackets are done.")
    objective: str = _field(
        "val_f1_macro", "Validation metric at each trial's best epoch to optimise (minimised if it "
        f"ends in loss, else maximised); it is also each trial's --monitor. One of {list(OBJECTIVES)}.")
    max_epochs: Optional[int] = _field(
        None, "Hyperband: epochs of its longest trials; default: --epochs.")
    factor: int = _field(
        3, "Hyperband: each round keeps 1/factor of the trials and trains them factor times longer.")
    refit: bool = _field(
        False, "After the search, train the best configuration into <output-dir>/best/, "
        "a normal run directory.")
    keep_trial_saved_models: bool = _field(
        False, "Keep each trial's run/saved_model/ (as large as the model). Off: it is deleted once "
        "the trial is recorded; the trial's best weights stay in run/checkpoints/.")
    role: Role = _field(
        Role.STANDALONE, "standalone; or chief (serves the oracle, runs no trials) or worker "
        "(runs trials) of a search spread over processes or machines; both need --oracle.")
    oracle: Optional[str] = _field(
        None, "HOST:PORT of the chief's oracle: where the chief listens and the workers connect.")
    tuner_id: Optional[str] = _field(
        None, "Worker name, unique within the search; a worker restarted under the same name "
        "takes back its unfinished trial. Default: worker-<host>-<pid>.")

    def __post_init__(self) -> None:
        if self.max_trials < 1:
            raise TfclfError(f"--max-trials must be >= 1. Received: max_trials={self.max_trials}")
        if self.objective not in OBJECTIVES:
            raise TfclfError(
                f"--objective must be one of {list(OBJECTIVES)}. Received: objective={self.objective!r}")
        if self.max_epochs is not None and self.max_epochs < 1:
            raise TfclfError(f"--max-epochs must be >= 1. Received: max_epochs={self.max_epochs}")
        if self.factor < 2:
            raise TfclfError(f"--factor must be >= 2. Received: factor={self.factor}")
        if self.role is not Role.STANDALONE and not self.oracle:
            raise TfclfError(
                f"--role {self.role.value} needs --oracle HOST:PORT (the chief's address). "
                "Received: oracle=None")
        if self.oracle is not None:
            if self.role is Role.STANDALONE:
                raise TfclfError(
                    f"--oracle needs --role chief or --role worker. Received: oracle={self.oracle!r}")
            self.oracle_address()
        if self.tuner_id is not None:
            if self.role is not Role.WORKER:
                raise TfclfError(
                    f"--tuner-id names a worker; it needs --role worker. Received: role={self.role.value!r}")
            # Keras Tuner treats any id containing "chief" as the chief.
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.tuner_id) or "chief" in self.tuner_id:
                raise TfclfError(
                    "--tuner-id must be letters, digits, '_', '.' or '-', without 'chief'. "
                    f"Received: tuner_id={self.tuner_id!r}")

    def oracle_address(self) -> tuple[str, int]:
        """``--oracle`` as (host, port)."""
        host, _, port = (self.oracle or "").rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise TfclfError(
                "--oracle must be HOST:PORT, e.g. 10.0.0.5:8000. "
                f"Received: oracle={self.oracle!r}")
        return host, int(port)


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
        return _strip_optional(typing.get_type_hints(SECTIONS[self.section])[self.name])[0]

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
    base = _strip_optional(hint)[0]
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
        lo = _coerce(spec["min"], base, f"{key}.min")
        hi = _coerce(spec["max"], base, f"{key}.max")
        if lo > hi:
            raise TfclfError(f"{key}: min must be <= max. Received: min={lo}, max={hi}")
        step = spec.get("step")
        if step is not None:
            step = _coerce(step, base, f"{key}.step")
            if step <= 0:
                raise TfclfError(f"{key}.step must be positive. Received: step={step}")
        sampling = _coerce(spec.get("sampling", "linear"), Sampling, f"{key}.sampling")
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
    choices = tuple(_coerce(v, base, key) for v in values)
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
        changes.setdefault(section, {})[name] = _coerce(value, hint, f"{where}.{name}")
    for section, fields in changes.items():
        base = base.replace(section, **fields)
    return base


def add_tune_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the TuneConfig flags (--tuner, --max-trials, ...) in a "tune" group."""
    _add_section_arguments(parser, "tune", TuneConfig)


def tune_from_args(args: argparse.Namespace, base: RunConfig) -> tuple[TuneConfig, SearchSpace]:
    """Resolves defaults < the --config YAML's ``tune:`` and ``search:`` < flags.

    Args:
        args: parsed flags of a parser set up with ``add_arguments`` and
            ``add_tune_arguments``.
        base: the resolved run configuration (``from_args``), against which the
            search space is validated.
    """
    data: dict[str, Any] = {}
    where = "command line"
    if getattr(args, "config", None):
        data = load_sections(args.config, "--config")
        where = f"--config {args.config}"
    values = data.get("tune") or {}
    if not isinstance(values, dict):
        raise TfclfError(f"Section 'tune' in {where} must be a mapping. Received: {values!r}")
    values = dict(values)
    hints = typing.get_type_hints(TuneConfig)
    for dest, value in vars(args).items():
        if dest.startswith("tune."):
            key = dest.split(".", 1)[1]
            values[key] = _coerce(value, hints[key], "--" + key.replace("_", "-"))
    tune = _build_section(TuneConfig, values, f"{where}: tune")
    space = parse_search_space(data.get("search"), base, where=f"{where}: search")
    return tune, space
