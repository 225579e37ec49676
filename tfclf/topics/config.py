"""``TopicsConfig``: the ``topics:`` section of a topics YAML and the flags of ``python -m tfclf.topics``.

A topics YAML has a ``data:`` section (``DataConfig``: files, columns, cleaning) and a
``topics:`` section (this class), the same names as the flags::

    data:
      data: ../shared/datasets/20newsgroups/train.jsonl
      label_column: [label_name]
      strip_email_headers: true
    topics:
      encoder: minilm
      min_topic_size: 10

The defaults are BERTopic's (``min_topic_size`` 10, no topic reduction, UMAP with 15
neighbours, 5 components, ``min_dist`` 0 and the cosine metric, HDBSCAN with
``min_cluster_size`` = ``min_topic_size``, 10 words per topic), with two additions it
recommends in its best-practices guide: English stop words removed from topic words
(``--language english``), and a fixed ``--seed`` so a map can be reproduced.

No TensorFlow import: the CLI checks its flags with this first.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Optional, Union

from tfclf import config as config_lib
from tfclf.config import DataConfig, Pooling, field
from tfclf.errors import TfclfError

STOP_WORD_LANGUAGES = ("english",)  # scikit-learn ships only an English list
SECTIONS = ("data", "topics")


@dataclasses.dataclass(frozen=True)
class TopicsConfig:
    """How topics are found; the YAML ``topics:`` section and the flags of ``python -m tfclf.topics``."""

    encoder: str = field(
        "minilm", "Embeddings from: a registry name (minilm, labse, ...), a TF Hub URL, an encoder "
        "folder, or a tfclf run directory / SavedModel (its embed signature: the fine-tuned encoder).")
    preprocessor: Optional[str] = field(None, "TF Hub preprocessor handle; default: the encoder's.")
    seq_length: int = field(
        256, "Tokens per text, [CLS] and [SEP] included; longer texts are truncated (256 is what "
        "sentence-transformers' all-MiniLM-L6-v2 reads). A run directory uses its own length.")
    pooling: Optional[Pooling] = field(None, "Pooling of the encoder outputs; default: the encoder's.")
    batch_size: int = field(64, "Texts per encoder call.")
    min_topic_size: int = field(
        10, "Smallest topic, in documents (HDBSCAN's min_cluster_size; BERTopic's default 10).")
    n_topics: str = field(
        "none", "Topic reduction after clustering: none (keep HDBSCAN's topics, BERTopic's default), "
        "auto (merge similar topics) or a number N (merge down to N topics, outliers included).")
    seed: int = field(42, "UMAP's random_state: the same seed and input give the same topics.")
    umap_neighbors: int = field(15, "UMAP n_neighbors: larger gives fewer, broader topics.")
    umap_components: int = field(5, "UMAP n_components: dimensions HDBSCAN clusters in.")
    umap_min_dist: float = field(0.0, "UMAP min_dist.")
    min_samples: Optional[int] = field(
        None, "HDBSCAN min_samples; default: min_topic_size. Lower gives fewer outliers.")
    language: str = field(
        "english", "Language of the texts: english removes scikit-learn's English stop words from "
        "topic words; any other value (e.g. multilingual) keeps every word.")
    top_n_words: int = field(10, "Words per topic (c-TF-IDF).")
    ngram_max: int = field(1, "Topic words are n-grams of up to this many words.")
    min_df: int = field(1, "A word must occur in at least this many documents to be a topic word.")
    labels: Optional[bool] = field(
        None, "Read --label-column to report how topics align with the labels (adjusted Rand index, "
        "NMI, contingency table); default: when every input has that column. --no-labels: texts only.")
    to_labels: bool = field(
        False, "Also write to_labels.csv: text,label with each document's topic name as its label "
        "(outliers left out), a file python -m tfclf.fit reads.")

    def __post_init__(self) -> None:
        if self.pooling is not None and not isinstance(self.pooling, Pooling):
            object.__setattr__(self, "pooling", Pooling(self.pooling))
        for name in ("batch_size", "top_n_words", "ngram_max", "min_df", "umap_components"):
            if getattr(self, name) < 1:
                raise TfclfError(f"--{name.replace('_', '-')} must be >= 1. Received: {name}={getattr(self, name)}")
        if self.min_topic_size < 2:
            raise TfclfError(f"--min-topic-size must be >= 2 (HDBSCAN's smallest cluster). "
                             f"Received: min_topic_size={self.min_topic_size}")
        if self.umap_neighbors < 2:
            raise TfclfError(f"--umap-neighbors must be >= 2. Received: umap_neighbors={self.umap_neighbors}")
        if not 0.0 <= self.umap_min_dist <= 1.0:
            raise TfclfError(f"--umap-min-dist must be in [0, 1]. Received: umap_min_dist={self.umap_min_dist}")
        if self.min_samples is not None and self.min_samples < 1:
            raise TfclfError(f"--min-samples must be >= 1. Received: min_samples={self.min_samples}")
        if self.seq_length < 3:
            raise TfclfError(f"--seq-length must be >= 3 ([CLS], one token, [SEP]). "
                             f"Received: seq_length={self.seq_length}")
        parse_n_topics(self.n_topics)
        if not self.language.strip():
            raise TfclfError("--language must not be empty. Received: language=''")

    @property
    def nr_topics(self) -> Union[None, str, int]:
        """``n_topics`` as BERTopic's ``nr_topics``: None, ``"auto"`` or an int."""
        return parse_n_topics(self.n_topics)

    @property
    def stop_words(self) -> Optional[str]:
        return self.language.lower() if self.language.lower() in STOP_WORD_LANGUAGES else None


def parse_n_topics(value: Any) -> Union[None, str, int]:
    """``none`` -> None, ``auto`` -> ``"auto"``, ``"12"`` -> 12.

    Raises:
        TfclfError: anything else, or a number below 2.
    """
    text = str(value).strip().lower()
    if text == "none":
        return None
    if text == "auto":
        return "auto"
    if re.fullmatch(r"\d+", text) and int(text) >= 2:
        return int(text)
    raise TfclfError(f"--n-topics must be none, auto or a number >= 2. Received: n_topics={value!r}")


@dataclasses.dataclass(frozen=True)
class TopicsRunConfig:
    """A topics run: what to read (``data``) and how to find topics (``topics``)."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    topics: TopicsConfig = dataclasses.field(default_factory=TopicsConfig)

    def to_dict(self) -> dict[str, Any]:
        return {"data": config_lib.section_to_dict(self.data), "topics": config_lib.section_to_dict(self.topics)}


_CLASSES = {"data": DataConfig, "topics": TopicsConfig}


def from_dict(data: Any, where: str) -> TopicsRunConfig:
    """Builds a validated ``TopicsRunConfig`` from ``{data: ..., topics: ...}``.

    Raises:
        TfclfError: a top level or section that is not a mapping, an unknown section or key,
            a value of the wrong type.
    """
    if not isinstance(data, dict):
        raise TfclfError(f"{where}: expected a mapping with sections {list(SECTIONS)}; "
                         f"Received: {type(data).__name__}")
    unknown = sorted(set(data) - set(SECTIONS), key=str)
    if unknown:
        raise TfclfError(f"Unknown section {unknown[0]!r} in {where}. Valid sections: {list(SECTIONS)}")
    sections = {}
    for name, cls in _CLASSES.items():
        values = data.get(name) or {}
        if not isinstance(values, dict):
            raise TfclfError(f"{where}: expected section {name!r} to be a mapping; "
                             f"Received: {type(values).__name__}")
        sections[name] = config_lib.build_section(cls, values, f"{where}: {name}")
    return TopicsRunConfig(**sections)


# DataConfig fields about splitting, training and multi-label tasks: a topic map reads every
# input whole, so they get no flag here (in a YAML's data: section they are accepted and unused).
TRAINING_ONLY_DATA_FIELDS = frozenset({
    "task", "blank_labels", "label_axes", "max_invalid_codes", "group_column", "eval_group_by",
    "class_weight", "split", "stratify", "dedupe", "limit_train", "stream", "stream_threshold_mb",
    "shuffle_buffer", "length_sample", "max_labels", "min_class_examples", "eval_split"})


def add_arguments(parser) -> None:
    """--config and one flag per field of ``data`` (those a topic map uses) and ``topics``."""
    parser.add_argument("--config", metavar="YAML", help="Topics YAML (data: and topics:); flags override it.")
    config_lib.add_dataclass_arguments(parser.add_argument_group("data"), DataConfig, dest_prefix="data.",
                                       exclude=TRAINING_ONLY_DATA_FIELDS)
    config_lib.add_dataclass_arguments(parser.add_argument_group("topics"), TopicsConfig, dest_prefix="topics.")


def from_args(args, *, read: Optional[config_lib.Reader] = None) -> TopicsRunConfig:
    """defaults < --config YAML < flags; ``read`` reads a --config on a store (``gs://``).

    Raises:
        TfclfError: a bad flag (named as the flag) or YAML value (named by file and key).
    """
    data: dict[str, Any] = {}
    where = "command line"
    if getattr(args, "config", None):
        data = config_lib.load_yaml(args.config, "--config", read=read)
        where = f"--config {args.config}"
        if not isinstance(data, dict):
            raise TfclfError(f"{where}: expected a mapping with sections {list(SECTIONS)}; "
                             f"Received: {type(data).__name__}")
    for name in _CLASSES:
        if data.get(name) is not None and not isinstance(data[name], dict):
            raise TfclfError(f"{where}: expected section {name!r} to be a mapping; "
                             f"Received: {type(data[name]).__name__}")
    merged = {name: {**(data.get(name) or {}),
                     **config_lib.given_arguments(args, cls, dest_prefix=f"{name}.")}
              for name, cls in _CLASSES.items()}
    extra = {k: v for k, v in data.items() if k not in _CLASSES}
    return from_dict({**merged, **extra}, where)
