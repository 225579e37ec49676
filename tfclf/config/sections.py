"""The sections of a run's configuration besides ``data``, their choices, and ``RunConfig``.

``SECTIONS`` names them in YAML order: ``data``, ``model``, ``optimizer``, ``train``.
``ExportConfig`` (``python -m tfclf.export``) is not part of a run's config.yaml.
"""
from __future__ import annotations

import dataclasses
import enum
import re
from pathlib import Path
from typing import Any, Optional

from tfclf.config.data import DataConfig
from tfclf.config.fields import field, section_to_dict
from tfclf.errors import TfclfError


class Pooling(str, enum.Enum):
    """How the encoder's outputs become one vector per text."""

    POOLED = "pooled"  # the encoder's own pooled_output (BERT pooler, LaBSE's normalised one)
    CLS = "cls"  # sequence_output[:, 0]
    MEAN = "mean"  # mean of sequence_output over the attention mask (sentence-transformers)


class LongText(enum.StrEnum):
    """How a text longer than --seq-length reaches the encoder (``tfclf.long_text``)."""

    TRUNCATE = "truncate"  # the first seq_length - 2 wordpieces
    HEAD_TAIL = "head-tail"  # the first --head-tokens and the last seq_length - 2 - head_tokens
    CHUNKS = "chunks"  # windows of seq_length - 2 wordpieces, each encoded, pooled per document


class ChunkPooling(enum.StrEnum):
    """How ``--long-text chunks`` pools a document's window vectors into one."""

    MEAN = "mean"
    MAX = "max"
    ATTENTION = "attention"  # a learned score per window, softmax over the document's windows


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


class EncoderRuntime(str, enum.Enum):
    """--encoder-runtime (see tfclf.native_encoder); a run's config.yaml never records auto."""

    AUTO = "auto"  # native when the hub variables map completely and the outputs agree, else hub
    HUB = "hub"  # the SavedModel's restored function (hub.KerasLayer)
    NATIVE = "native"  # the same weights in tf-models Keras layers


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


class Monitor(enum.StrEnum):
    """A validation metric that picks the best epoch (--monitor) and the best trial (--objective).

    A StrEnum, so it is also the metric's name: the Keras log key and history.csv column.
    """

    VAL_F1_MACRO = "val_f1_macro"
    VAL_F1_MICRO = "val_f1_micro"  # multi-label: F1 over all label decisions; single-label: = accuracy
    VAL_LOSS = "val_loss"
    VAL_ACCURACY = "val_accuracy"
    VAL_MCC = "val_mcc"

    @property
    def mode(self) -> str:
        """``min`` for a loss, ``max`` for a score (the Keras callback ``mode``)."""
        return "min" if self is Monitor.VAL_LOSS else "max"

    @classmethod
    def default(cls) -> "Monitor":
        return cls.VAL_F1_MACRO

    @classmethod
    def parse(cls, value: Any, flag: str = "--monitor") -> "Monitor":
        """The member named ``value``; a TfclfError naming ``flag`` and the choices otherwise."""
        try:
            return cls(value)
        except ValueError:
            name = flag.lstrip("-").replace("-", "_")
            raise TfclfError(f"{flag} must be one of {[m.value for m in cls]}. "
                             f"Received: {name}={value!r}") from None


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    encoder: str = field(
        "minilm", "Registry name (see `python -m tfclf.encoders list`), TF Hub URL or local folder.")
    preprocessor: Optional[str] = field(
        None, "Preprocessor URL or folder; default: the registry's match for --encoder.")
    seq_length: Optional[int] = field(
        None, "Maximum tokens per text, [CLS] and [SEP] included; default: the encoder's.")
    pooling: Optional[Pooling] = field(None, "Pooling of encoder outputs; default: the encoder's.")
    dropout: float = field(0.1, "Dropout rate before the classification layer.")
    encoder_runtime: EncoderRuntime = field(
        EncoderRuntime.HUB, "How the encoder runs: hub (the TF Hub SavedModel's restored function, "
        "hub.KerasLayer), native (the same weights loaded, variable by variable, into tf-models "
        "Keras layers that the mixed-precision policy and XLA reach; BERT-architecture encoders "
        "only), or auto: native when every hub variable maps and the outputs agree with the hub "
        "model's, else hub. Default hub: on CPU in float32 both train at the same speed and hub "
        "starts about 5 s sooner (experiments/RESULTS.md); use auto or native for mixed precision "
        "on a GPU. config.yaml records the one that ran.")
    trainable: str = field(
        "all", "Encoder weights to fine-tune: all, none (train only the head), or top-N "
        "(the top N transformer layers and the pooler; embeddings and lower layers stay frozen).")
    long_text: LongText = field(
        LongText.TRUNCATE, "How a text longer than --seq-length is read: truncate (its first "
        "seq_length - 2 wordpieces), head-tail (its first --head-tokens and its last "
        "seq_length - 2 - head_tokens wordpieces; Sun et al. 2019) or chunks (windows of "
        "seq_length - 2 wordpieces overlapping by --chunk-stride, at most --max-chunks from the "
        "start, each encoded and pooled into one document vector by --chunk-pooling; trained end "
        "to end). Done in the TF graph, in tf.data and in the served model alike.")
    head_tokens: Optional[int] = field(
        None, "head-tail: wordpieces kept from the start of a long text; the rest of the "
        "seq_length - 2 come from its end. Default: a quarter of seq_length - 2, rounded down.")
    chunk_stride: int = field(
        0, "chunks: wordpieces shared by consecutive windows (the stride of Hugging Face "
        "tokenizers); windows start every seq_length - 2 - chunk_stride wordpieces.")
    max_chunks: int = field(
        8, "chunks: windows per document at most, counted from its start; the wordpieces after "
        "the last window are dropped (python -m tfclf.data reports how many).")
    chunk_pooling: ChunkPooling = field(
        ChunkPooling.MEAN, "chunks: how a document's window vectors become one: mean, max, or "
        "attention (a learned score per window, softmax over the document's windows).")

    @property
    def window_pooling(self) -> Optional[ChunkPooling]:
        """``chunk_pooling`` when ``long_text`` is chunks (the model pools windows), else None."""
        return ChunkPooling(self.chunk_pooling) if LongText(self.long_text) is LongText.CHUNKS else None

    def __post_init__(self) -> None:
        if self.head_tokens is not None and self.head_tokens < 0:
            raise TfclfError(f"--head-tokens must be >= 0. Received: head_tokens={self.head_tokens}")
        if self.chunk_stride < 0:
            raise TfclfError(f"--chunk-stride must be >= 0. Received: chunk_stride={self.chunk_stride}")
        if self.max_chunks < 1:
            raise TfclfError(f"--max-chunks must be >= 1. Received: max_chunks={self.max_chunks}")
        if self.seq_length is not None:
            content = self.seq_length - 2
            if self.head_tokens is not None and self.head_tokens > content:
                raise TfclfError(f"--head-tokens must be at most seq_length - 2 = {content}. "
                                 f"Received: head_tokens={self.head_tokens}, seq_length={self.seq_length}")
            if self.chunk_stride >= content:
                raise TfclfError(f"--chunk-stride must be below seq_length - 2 = {content} (windows must "
                                 f"advance). Received: chunk_stride={self.chunk_stride}, "
                                 f"seq_length={self.seq_length}")
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
    schedule: Schedule = field(
        Schedule.PIECEWISE, "Learning-rate schedule: piecewise (--boundaries/--values, the LaBSE recipe), or "
        "linear, polynomial or cosine decay from the peak rate (--values[0]) to --end-learning-rate "
        "over the whole run.")
    warmup_fraction: float = field(
        0.0, "Fraction of all training steps spent warming the rate up linearly from 0 to its peak.")
    end_learning_rate: float = field(0.0, "Final rate of the linear, polynomial and cosine schedules.")
    polynomial_power: float = field(2.0, "Power of the polynomial schedule.")
    learning_rate: Optional[float] = field(
        None, "Shortcut: rescale --values so the first equals this learning rate.")
    boundaries: tuple[int, ...] = field(
        (1000,), "Step boundaries of the piecewise-constant learning-rate schedule (LaBSE recipe).")
    values: tuple[float, ...] = field(
        (5e-5, 1e-5), "Learning rates between the boundaries; one more than --boundaries.")
    weight_decay: float = field(
        1e-6, "Decoupled weight decay per step at the initial learning rate; it follows the "
        "schedule (effective decay = weight_decay * lr(t) / lr(0)), as in the LaBSE recipe. "
        "It is a separate pass over the weights after each step; 0 skips it.")
    exclude_from_weight_decay: tuple[str, ...] = field(
        ("layer_norm", "LayerNorm", "bias"),
        "Regexes of variable names that get no weight decay.")
    beta_1: float = field(0.9, "Adam beta_1.")
    beta_2: float = field(0.999, "Adam beta_2.")
    epsilon: float = field(1e-6, "Adam epsilon (BERT recipes use 1e-6).")
    clip_norm: Optional[float] = field(None, "Clip gradients by this global norm; none by default.")
    update: AdamUpdate = field(
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


class ThresholdStrategy(enum.StrEnum):
    """How a multi-label run chooses its per-label decision thresholds (``tfclf.thresholds``)."""

    FIXED = "fixed"  # --threshold for every label
    PER_LABEL_F1 = "per-label-f1"  # each label's F1-maximising threshold on the validation split
    PER_LABEL_MCC = "per-label-mcc"  # each label's MCC-maximising threshold (absence counts as much)


class BaselineMethod(enum.StrEnum):
    """A baseline of ``tfclf.baselines`` (``--method``, ``--baselines``); its registry is keyed by these.

    Named here, with no TensorFlow import, so that ``TrainConfig`` validates ``--baselines``
    before anything heavy is loaded.
    """

    MAJORITY = "majority"
    TFIDF_LOGREG = "tfidf-logreg"
    ZERO_SHOT = "zero-shot"


MIN_BOOTSTRAP = 100  # --bootstrap: at 100 resamples the 2.5% tail is already only 2.5 draws


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    epochs: int = field(3, "Maximum number of passes over the training data.")
    batch_size: int = field(32, "Global batch size (summed over replicas).")
    seed: int = field(42, "Seed for splits, shuffling, initialisation and dropout.")
    monitor: Monitor = field(
        Monitor.VAL_F1_MACRO, "Validation metric that selects the best epoch and drives early stopping "
        "(minimised if a loss, else maximised).")
    patience: Optional[int] = field(
        None, "Stop after this many epochs without improvement of --monitor; none: never.")
    label_smoothing: float = field(
        0.0, "Label smoothing of the cross-entropy loss. Multi-label: each label's binary target "
        "becomes (1 - s) * y + s / 2.")
    threshold_strategy: ThresholdStrategy = field(
        ThresholdStrategy.FIXED, "Multi-label: how each label's decision threshold is chosen after "
        "training. fixed: --threshold for every label; per-label-f1: for each label, the threshold "
        "that maximises its F1 on the validation split (fixed when there is none); per-label-mcc: "
        "the same for its Matthews correlation, which counts a label's absence as much as its "
        "presence (binary axes from --label-axes: F1 of J alone rewards predicting J for everyone). "
        "Saved in thresholds.json and used by evaluate, predict and the export.")
    threshold: float = field(
        0.5, "Multi-label: probability at or above which a label is predicted, with "
        "--threshold-strategy fixed (and during training, for the per-epoch F1 and accuracy).")
    seeds: tuple[int, ...] = field(
        (), "Train once per seed (e.g. 0,1,2) into seeds/<seed>/; metrics.json gains mean and std. "
        "Overrides --seed.")
    save_every_steps: int = field(
        200, "Save a resumable checkpoint every N training steps (0: only at epoch ends). "
        "Re-running an interrupted command resumes from the last one.")
    dynamic_padding: bool = field(
        True, "Pad each batch to its longest text (capped at --seq-length) instead of --seq-length.")
    length_grouping: LengthGrouping = field(
        LengthGrouping.WINDOWS,
        "With --dynamic-padding, how training batches are made of texts of similar token length, "
        "so that a batch of short texts is not padded to one long text: windows (shuffle, sort "
        "each window of --sort-window batches' rows by length, cut it into batches, shuffle "
        "those; the HF Trainer's group_by_length; in memory and streamed), buckets (tf.data "
        "bucket_by_sequence_length over --length-buckets; in memory only, streamed splits get "
        "random batches) or none (random batches). Validation, test and prediction keep the "
        "row order.")
    batch_windows: Optional[int] = field(
        None, "--long-text chunks: encoder windows per training batch at most, the memory bound: "
        "documents of k windows train in batches of max(1, batch_windows // k) documents, so a "
        "batch holds no more windows than a truncate batch of batch_windows texts. Default: "
        "--batch-size.")
    sort_window: int = field(
        50, "Batches per sorted window of --length-grouping windows (the HF Trainer uses 50): "
        "larger pads less, smaller mixes lengths more.")
    length_buckets: tuple[int, ...] = field(
        (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512),
        "Upper token lengths of --length-grouping buckets; those >= --seq-length fold into one.")
    mixed_precision: MixedPrecision = field(
        MixedPrecision.NONE,
        "Mixed precision: none (float32), auto (mixed_bfloat16 where the machine has no GPU and "
        "the CPU computes bfloat16 natively, avx512_bf16 or amx_bf16; else none), mixed_float16 "
        "or mixed_bfloat16. config.yaml records what auto chose. On a Zen 5 CPU bf16 trained "
        "MiniLM 1.13-1.22x faster and 0.37 points less accurate on the emotion recipe, so "
        "float32 stays the default (experiments/RESULTS.md). See tfclf.precision.")
    bf16_graph_rewrite: bool = field(
        True, "Hub runtime only (--encoder-runtime hub): with mixed_bfloat16 on CPU, also run "
        "Grappler's oneDNN bfloat16 rewrite while training, and with mixed_float16 on a GPU its "
        "auto_mixed_precision (float16) rewrite, so that the hub encoder computes in half "
        "precision too (a Keras policy reaches only pooling and dropout). Variables stay float32; "
        "the final evaluation and the export run the float32 encoder graphs. The native runtime "
        "needs no rewrite: the policy reaches its every layer.")
    strategy: Strategy = field(
        Strategy.AUTO, "tf.distribute strategy: auto (mirrored when more than one GPU is visible, "
        "else default), default, mirrored, multi-worker (the cluster in TF_CONFIG) or tpu. "
        "--batch-size stays the global batch size.")
    jit_compile: bool = field(
        False, "XLA-compile the id-taking model. Off by default: on CPU it is slower to compile "
        "than to train, and TF-Text ops never enter the compiled graph anyway.")
    output_dir: Optional[str] = field(
        None, "Run directory; default runs/<encoder>-<YYYYmmdd-HHMMSS>.")
    overwrite: bool = field(False, "Replace an existing finished run in --output-dir.")
    baselines: tuple[str, ...] = field(
        (), f"Baselines to evaluate on the same split and show beside the model in report.md, "
        f"any of {','.join(BaselineMethod)} (see python -m tfclf.baseline).")
    bootstrap: int = field(
        0, "Resamples (with replacement) of the evaluated split for 95% percentile bootstrap "
        "confidence intervals of accuracy, macro-F1 and MCC (multi-label: micro- and macro-F1, "
        "subset accuracy and MCC), in metrics.json (bootstrap), report.md and the printed table. "
        f"0: off; else at least {MIN_BOOTSTRAP}, e.g. 1000. Drawn with --seed, so a run repeats "
        "them. They measure the sampling noise of the evaluated examples, not the variation "
        "between training runs (--seeds).")
    tensorboard: bool = field(
        True, "Write TensorBoard logs into RUN/logs/ (tensorboard --logdir runs/): the training "
        "loss and learning rate every --log-every-steps steps, the per-epoch training and "
        "validation metrics, the final confusion matrix, the worst misclassified validation "
        "examples and the run's config as HParams. --no-tensorboard writes none.")
    log_every_steps: int = field(
        50, "With --tensorboard, write the training loss and learning rate every N optimiser steps.")

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise TfclfError(f"--epochs must be >= 1. Received: epochs={self.epochs}")
        if self.batch_size < 1:
            raise TfclfError(f"--batch-size must be >= 1. Received: batch_size={self.batch_size}")
        object.__setattr__(self, "monitor", Monitor.parse(self.monitor, "--monitor"))
        if self.patience is not None and self.patience < 0:
            raise TfclfError(f"--patience must be >= 0. Received: {self.patience}")
        if not 0 <= self.label_smoothing < 1:
            raise TfclfError(f"--label-smoothing must be in [0, 1). Received: {self.label_smoothing}")
        try:
            object.__setattr__(self, "threshold_strategy", ThresholdStrategy(self.threshold_strategy))
        except ValueError:
            raise TfclfError(f"--threshold-strategy must be one of {[t.value for t in ThresholdStrategy]}. "
                             f"Received: threshold_strategy={self.threshold_strategy!r}") from None
        if not 0 < self.threshold < 1:
            raise TfclfError(f"--threshold must be in (0, 1). Received: threshold={self.threshold}")
        if len(set(self.seeds)) != len(self.seeds):
            raise TfclfError(f"--seeds must be distinct. Received: {list(self.seeds)}")
        if self.save_every_steps < 0:
            raise TfclfError(f"--save-every-steps must be >= 0. Received: {self.save_every_steps}")
        if any(b < 2 for b in self.length_buckets) or list(self.length_buckets) != sorted(set(self.length_buckets)):
            raise TfclfError("--length-buckets must be increasing token lengths >= 2 (e.g. 16,32,64,128). "
                             f"Received: {','.join(map(str, self.length_buckets))}")
        if self.batch_windows is not None and self.batch_windows < 1:
            raise TfclfError(f"--batch-windows must be >= 1. Received: batch_windows={self.batch_windows}")
        if self.sort_window < 1:
            raise TfclfError(f"--sort-window must be >= 1. Received: {self.sort_window}")
        if self.length_grouping is LengthGrouping.BUCKETS and not self.length_buckets:
            raise TfclfError("--length-grouping buckets needs --length-buckets (e.g. 16,32,64,128). "
                             "Received: an empty list (for random batches use --length-grouping none)")
        if self.strategy is Strategy.TPU and self.dynamic_padding:
            raise TfclfError(  # XLA on TPUs compiles once per shape: batches need one shape
                "--strategy tpu needs fixed-length batches: add --no-dynamic-padding. "
                "Received: dynamic_padding=True")
        if self.log_every_steps < 1:
            raise TfclfError(f"--log-every-steps must be >= 1. Received: log_every_steps={self.log_every_steps}")
        if self.bootstrap != 0 and self.bootstrap < MIN_BOOTSTRAP:
            raise TfclfError(f"--bootstrap must be 0 (off) or at least {MIN_BOOTSTRAP} resamples: fewer give "
                             f"meaningless 2.5% and 97.5% percentiles. Received: bootstrap={self.bootstrap}")
        names = [m.value for m in BaselineMethod]
        bad = [m for m in self.baselines if m not in names]
        if bad or len(set(self.baselines)) != len(self.baselines):
            raise TfclfError(f"--baselines must be distinct names from {names}. "
                             f"Received: baselines={','.join(self.baselines)}")


class ExportFormat(str, enum.Enum):
    """What an export's ``serving_default`` takes."""

    TEXT = "text"  # raw strings; the graph tokenises with TF-Text ops
    IDS = "ids"  # token ids; the vocabulary is in assets/ for client-side tokenisation


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """``python -m tfclf.export RUN_DIR``: not part of a run's config.yaml."""

    export_dir: Optional[str] = field(
        None, "Model folder TF Serving watches, e.g. serving/tickets; versions go in <N>/ below it.")
    version: Optional[int] = field(None, "Version folder to write; default: the next integer.")
    overwrite: bool = field(False, "Replace an existing version folder.")
    format: ExportFormat = field(
        ExportFormat.TEXT, "text: raw strings in (needs TF-Text ops in the server); ids: token ids "
        "in, vocabulary in assets/, for runtimes without TF-Text.")
    threshold: Optional[float] = field(
        None, "Multi-label models: one probability at or above which every label is output, "
        "instead of the run's thresholds.json (its --threshold-strategy's choice).")
    model_name: Optional[str] = field(
        None, "Model name in models.config and the warmup requests; default: the --export-dir folder name.")
    warmup_requests: bool = field(
        True, "Write assets.extra/tf_serving_warmup_requests so TF Serving traces before serving.")

    def __post_init__(self) -> None:
        if self.version is not None and self.version < 1:
            raise TfclfError(f"--version must be >= 1. Received: version={self.version}")
        if self.threshold is not None and not 0 < self.threshold < 1:
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
