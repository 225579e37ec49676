"""Files on disk -> tables of (text, label) -> tf.data of (token ids, label id).

Readers:
  * class-folder trees ``root/<label>/*.txt`` and ``root/{train,test}/<label>/*.txt``;
  * delimited files (CSV, TSV, ``text;label``), with or without a header. In a
    headerless file, a row with more fields than two keeps the last field as the
    label and rejoins the rest as the text, so ``text;label`` lines whose text
    contains ``;`` split on the last delimiter.

Splits given with ``--train/--validation/--test`` are used as they are; missing
ones are carved out of the training data, stratified by label, with ``--seed``.
"""
from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import logging
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pandas as pd

from tfclf.config import DataConfig
from tfclf.errors import TfclfError

logger = logging.getLogger(__name__)

TEXT, LABEL = "text", "label"
SPLIT_NAMES = ("train", "validation", "test")
_EXTENSION_DELIMITERS = {".csv": ",", ".tsv": "\t", ".txt": ";"}
_IGNORED_DIRS = {"unsup"}


@dataclasses.dataclass
class Splits:
    """The three splits as DataFrames with columns ``text`` and ``label`` (strings).

    ``validation`` or ``test`` is None when the data gives none and none was carved out.
    """

    train: pd.DataFrame
    validation: Optional[pd.DataFrame]
    test: Optional[pd.DataFrame]

    def items(self):
        return [(name, df) for name, df in zip(SPLIT_NAMES, (self.train, self.validation, self.test))
                if df is not None]


# ------------------------------------------------------------------------------------ readers

def read_examples(path: str, config: DataConfig, *, role: str = "--data") -> pd.DataFrame:
    """Reads one file or class-folder directory into a DataFrame of (text, label).

    Args:
        path: a delimited file or a directory of ``<label>/*.txt`` folders.
        config: column names, delimiter and encoding.
        role: the flag the path came from, used in error messages.

    Raises:
        TfclfError: missing or empty input, missing columns, undecodable bytes,
            ragged rows, or no usable rows.
    """
    p = Path(path)
    if not p.exists():
        raise TfclfError(f"{role}: no such file or directory: {str(p)!r}")
    if p.is_dir():
        df = _read_class_folders(p, config, role)
    else:
        df = _read_delimited(p, config, role)
    return _drop_unusable(df, f"{role} {p}")


def _read_class_folders(root: Path, config: DataConfig, role: str) -> pd.DataFrame:
    label_dirs = sorted(d for d in root.iterdir() if d.is_dir() and d.name not in _IGNORED_DIRS
                        and not d.name.startswith("."))
    ignored = sorted(d.name for d in root.iterdir()
                     if not (d.is_dir() and d in label_dirs))
    if ignored:
        logger.info("%s: ignoring non-label entries %s", root, ignored[:10])
    texts, labels = [], []
    for d in label_dirs:
        files = sorted(d.glob("*.txt"))
        for f in files:
            texts.append(_decode(f.read_bytes(), f, config.encoding))
            labels.append(d.name)
    if not texts:
        raise TfclfError(
            f"{role}: directory {str(root)!r} has no label folders with .txt files. "
            "Expected the layout root/<label>/*.txt (e.g. train/pos/1.txt). "
            f"Found: {sorted(e.name for e in root.iterdir())[:10]}")
    return pd.DataFrame({TEXT: texts, LABEL: labels})


def _decode(raw: bytes, path: Path, encoding: str, line_offset: int = 0) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + raw.count(b"\r", 0, e.start) - raw.count(b"\r\n", 0, e.start)
        raise TfclfError(
            f"{path}: line {line + 1 + line_offset}, byte offset {e.start}: cannot decode byte "
            f"0x{raw[e.start]:02x} as {encoding}. Pass --encoding latin-1 (or the file's real encoding).") from None
    except LookupError:
        raise TfclfError(f"--encoding {encoding!r} is not a known text encoding.") from None


def delimiter_for(path: Path, config: DataConfig) -> str:
    if config.delimiter:
        return "\t" if config.delimiter in ("\\t", "tab") else config.delimiter
    try:
        return _EXTENSION_DELIMITERS[path.suffix.lower()]
    except KeyError:
        raise TfclfError(
            f"Cannot guess the delimiter of {str(path)!r} from its extension {path.suffix!r}. "
            f"Known: {_EXTENSION_DELIMITERS}. Pass --delimiter.") from None


def _read_delimited(path: Path, config: DataConfig, role: str) -> pd.DataFrame:
    raw = path.read_bytes()
    if not raw.strip():
        raise TfclfError(f"{role}: file {str(path)!r} is empty.")
    content = _decode(raw, path, config.encoding)
    if content.startswith("\ufeff"):
        content = content[1:]
    delimiter = delimiter_for(path, config)
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    rows: list[list[str]] = []
    line_numbers: list[int] = []
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            rows.append(row)
            line_numbers.append(reader.line_num)
    except csv.Error as e:
        raise TfclfError(f"{path}: line {reader.line_num}: malformed {delimiter!r}-delimited row ({e}).") from None
    if not rows:
        raise TfclfError(f"{role}: file {str(path)!r} has no rows.")

    header = rows[0]
    has_header = config.text_column in header and config.label_column in header
    if has_header:
        text_i, label_i = header.index(config.text_column), header.index(config.label_column)
        body, body_lines = rows[1:], line_numbers[1:]
        for row, line in zip(body, body_lines):
            if len(row) != len(header):
                raise TfclfError(
                    f"{path}: line {line}: expected {len(header)} fields like the header, found "
                    f"{len(row)}. Check --delimiter (now {delimiter!r}) and quoting.")
        texts = [row[text_i] for row in body]
        labels = [row[label_i] for row in body]
    else:
        custom = (config.text_column, config.label_column) != ("text", "label")
        if custom or len(header) > 2 and delimiter in (",", "\t") and _looks_like_header(header):
            raise TfclfError(
                f"{path}: line {line_numbers[0]}: columns text_column={config.text_column!r} and "
                f"label_column={config.label_column!r} are not both in the header. "
                f"Columns found: {header}")
        texts, labels = [], []
        for row, line in zip(rows, line_numbers):
            if len(row) < 2:
                raise TfclfError(
                    f"{path}: line {line}: delimiter {delimiter!r} not found; expected "
                    f"'text{delimiter}label'. Pass --delimiter if the file uses another one.")
            texts.append(delimiter.join(row[:-1]))
            labels.append(row[-1])
        logger.info("%s: no header with columns %r/%r; reading rows as (text, label).",
                    path, config.text_column, config.label_column)
    return pd.DataFrame({TEXT: texts, LABEL: [label.strip() for label in labels]})


def _looks_like_header(row: list[str]) -> bool:
    return all(cell and not cell.replace(".", "").isdigit() and len(cell) < 40 for cell in row)


def _drop_unusable(df: pd.DataFrame, where: str) -> pd.DataFrame:
    blank_text = df[TEXT].str.strip() == ""
    blank_label = df[LABEL].str.strip() == ""
    n_text, n_label = int(blank_text.sum()), int((blank_label & ~blank_text).sum())
    if n_text or n_label:
        logger.warning("%s: dropped %d rows with blank text and %d with a blank label.", where, n_text, n_label)
    kept = df[~blank_text & ~blank_label].reset_index(drop=True)
    if kept.empty:
        raise TfclfError(f"{where}: every row has a blank text or label; nothing to train on.")
    return kept


# ------------------------------------------------------------------------------------- splits

def load_splits(config: DataConfig, seed: int, default_data: Optional[str] = None) -> Splits:
    """Reads the configured inputs and returns train/validation/test.

    Args:
        config: the data section of the run config.
        seed: seed for carving missing splits and for --limit-train sampling.
        default_data: file used when the config names no input (the bundled sample).

    Raises:
        TfclfError: on unreadable inputs or splits too small to use.
    """
    if config.train:
        train_path, val_path, test_path = config.train, config.validation, config.test
        given = {"train": read_examples(train_path, config, role="--train")}
        if Path(train_path).is_dir() and not val_path and not test_path:
            nested = _nested_split_dirs(Path(train_path))
            if nested:
                given = {k: read_examples(str(v), config, role=f"--train ({k})") for k, v in nested.items()}
        if val_path:
            given["validation"] = read_examples(val_path, config, role="--validation")
        if test_path:
            given["test"] = read_examples(test_path, config, role="--test")
    else:
        data_path = config.data or default_data
        if data_path is None:
            raise TfclfError("No input: pass --data, or --train [--validation] [--test].")
        nested = _nested_split_dirs(Path(data_path)) if Path(data_path).is_dir() else {}
        if nested:
            given = {k: read_examples(str(v), config, role=f"--data ({k})") for k, v in nested.items()}
        else:
            given = {"train": read_examples(data_path, config, role="--data")}

    train = given["train"]
    validation, test = given.get("validation"), given.get("test")
    r_train, r_val, r_test = config.split
    if validation is None and test is None:
        if r_val > 0 or r_test > 0:
            parts = stratified_split(train, (r_train, r_val, r_test), seed)
            train, validation, test = parts
            validation = validation if len(validation) else None
            test = test if len(test) else None
    elif validation is None and r_val > 0:
        train, validation, _ = stratified_split(train, (r_train, r_val, 0.0), seed)
    splits = Splits(train=train, validation=validation, test=test)
    if config.limit_train is not None and len(splits.train) > config.limit_train:
        splits.train = stratified_sample(splits.train, config.limit_train, seed)
        logger.info("--limit-train: kept a stratified sample of %d training rows.", len(splits.train))
    for name, df in splits.items():
        logger.info("%s: %d rows, labels %s", name, len(df), df[LABEL].value_counts().sort_index().to_dict())
    return splits


def _nested_split_dirs(root: Path) -> dict[str, Path]:
    """Finds root/train, root/test (and root/val|validation|dev) holding label folders."""
    found = {}
    aliases = {"train": ("train",), "validation": ("validation", "val", "dev"), "test": ("test",)}
    for split, names in aliases.items():
        for name in names:
            d = root / name
            if d.is_dir() and any(c.is_dir() for c in d.iterdir()):
                found[split] = d
                break
    return found if "train" in found else {}


def stratified_split(df: pd.DataFrame, ratios: tuple[float, float, float], seed: int
                     ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Splits rows into three parts per label, in the given ratios, deterministically.

    Every label keeps at least one training row; small labels may be absent from
    the smaller parts.
    """
    rng = np.random.default_rng(seed)
    total = sum(ratios)
    parts: list[list[int]] = [[], [], []]
    for _, index in sorted(df.groupby(LABEL, sort=True).groups.items()):
        idx = np.array(index)
        rng.shuffle(idx)
        n = len(idx)
        n_val = int(round(n * ratios[1] / total))
        n_test = int(round(n * ratios[2] / total))
        if n - n_val - n_test < 1:  # keep one training row
            n_test = max(0, n - 1 - n_val)
            n_val = min(n_val, n - 1)
        parts[1].extend(idx[:n_val])
        parts[2].extend(idx[n_val:n_val + n_test])
        parts[0].extend(idx[n_val + n_test:])
    return tuple(df.loc[sorted(p)].reset_index(drop=True) for p in parts)  # type: ignore[return-value]


def stratified_sample(df: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """At most n rows, label proportions kept (each label keeps at least one row)."""
    frac = n / len(df)
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for _, index in sorted(df.groupby(LABEL, sort=True).groups.items()):
        idx = np.array(index)
        rng.shuffle(idx)
        keep.extend(idx[:max(1, int(round(len(idx) * frac)))])
    rng.shuffle(keep)
    return df.loc[sorted(keep[:n])].reset_index(drop=True)


# ----------------------------------------------------------------------------------- tf.data

def make_dataset(texts, label_ids, preprocess: Callable, *, batch_size: int, shuffle: bool,
                 seed: int, shuffle_buffer: int = 10000, dynamic_padding: bool = True):
    """Builds the input pipeline: raw strings are tokenised inside tf.data.

    Args:
        texts: sequence of N strings.
        label_ids: int array [N], or None for unlabelled data.
        preprocess: maps ``[batch] tf.string`` to the BERT input dict of
            ``[batch, seq_length] int32`` tensors (``preprocessing.TextPreprocessor``).
        batch_size: examples per batch.
        shuffle: reshuffle every epoch (training).
        seed: shuffle seed.
        shuffle_buffer: bound on rows held for shuffling.
        dynamic_padding: trim each batch to its longest row, so short texts do not
            pay for --seq-length tokens.

    Returns:
        ``tf.data.Dataset`` of ``(features, label_id)`` (or ``features``) where
        features are ``input_word_ids``, ``input_mask``, ``input_type_ids``:
        ``[batch, <= seq_length] int32``; label_id: ``[batch] int64``.
    """
    import tensorflow as tf

    texts = np.asarray(list(texts), dtype=object)
    if label_ids is None:
        ds = tf.data.Dataset.from_tensor_slices(texts)
    else:
        ds = tf.data.Dataset.from_tensor_slices((texts, np.asarray(label_ids, dtype=np.int64)))
    if shuffle:
        ds = ds.shuffle(min(len(texts), shuffle_buffer), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    def tokenize(text, *label):
        features = preprocess(text)
        if dynamic_padding:
            features = trim_to_longest(features)
        return (features, *label) if label else features

    return ds.map(tokenize, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def trim_to_longest(features):
    """Cuts BERT inputs ``[batch, seq]`` to the longest row in the batch (rows are left-aligned)."""
    import tensorflow as tf

    length = tf.reduce_max(tf.reduce_sum(tf.cast(features["input_mask"], tf.int32), axis=1))
    return {k: v[:, :length] for k, v in features.items()}
