"""The row ledger: a compact record of every example, for the report and for ``--dedupe``.

Each example is recorded as (text hash, label code, split), 13 bytes, and, with
``--group-column``, (group hash, split), 9 bytes. Records are not kept in memory:
they are appended to ``PARTITIONS`` temporary files chosen by the top bits of the
hash, so all copies of a text (or group) land in the same file. Questions that
compare rows (duplicates within and across splits, conflicting labels, groups in
several splits, which validation/test rows ``--dedupe`` drops) are answered one
partition at a time. Memory stays flat however many rows there are; disk use is
about 13-22 bytes per row in ``$TMPDIR``, deleted by ``close()``.

Label counts per split, the first line of each label (for messages), a bounded
random sample of texts (for length statistics) and the number of label changes in
row order (to warn about sorted files; the examples of one row, which share its line
and label, count as one row there) are kept in memory; they do not grow with rows.
"""
from __future__ import annotations

import collections
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
import pandas as pd

from tfclf.data.splits import SPLIT_NAMES, hash_unit, label_keys, text_hashes

PARTITIONS = 128
_FLUSH_ROWS = 1 << 18  # records buffered before a write: bounds memory at ~3.4 MB + sort
_TEXT_RECORD = np.dtype([("h", "<u8"), ("c", "<i4"), ("s", "u1")])
_GROUP_RECORD = np.dtype([("h", "<u8"), ("s", "u1")])
_SPLIT_ID = {name: i for i, name in enumerate(SPLIT_NAMES)}


class _Spill:
    """Structured records appended to PARTITIONS files by hash, read back one file at a time."""

    def __init__(self, root: Path, name: str, dtype: np.dtype):
        self.dir = root / name
        self.dir.mkdir()
        self.dtype = dtype
        self._buffer: list[np.ndarray] = []
        self._buffered = 0

    def append(self, records: np.ndarray) -> None:
        self._buffer.append(records)
        self._buffered += len(records)
        if self._buffered >= _FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        records = np.concatenate(self._buffer)
        self._buffer, self._buffered = [], 0
        part = (records["h"] >> np.uint64(64 - PARTITIONS.bit_length() + 1)).astype(np.int64)
        order = np.argsort(part, kind="stable")
        records, bounds = records[order], np.searchsorted(part[order], np.arange(PARTITIONS + 1))
        for p in range(PARTITIONS):
            if bounds[p + 1] > bounds[p]:
                with open(self.dir / f"{p:03d}", "ab") as f:
                    records[bounds[p]:bounds[p + 1]].tofile(f)

    def partitions(self) -> Iterator[np.ndarray]:
        self.flush()
        for path in sorted(self.dir.iterdir()):
            yield np.fromfile(path, dtype=self.dtype)


class RowLedger:
    """Records examples split by split, chunk by chunk, in bounded memory.

    Args:
        length_sample: texts kept per split for length statistics.
        seed: sampling seed.
        grouped: also record group hashes (``--group-column``).
    """

    def __init__(self, length_sample: int, seed: int, grouped: bool = False):
        self.length_sample = length_sample
        self._rng = np.random.default_rng(seed)
        self._root = Path(tempfile.mkdtemp(prefix="tfclf-data-"))
        self._finalizer = weakref.finalize(self, shutil.rmtree, self._root, True)
        self._texts = _Spill(self._root, "texts", _TEXT_RECORD)
        self._groups = _Spill(self._root, "groups", _GROUP_RECORD) if grouped else None
        self.label_values: list[Any] = []  # code -> label (str, or tuple of str)
        self._codes: dict[int, int] = {}  # label key -> code
        self.counts: dict[str, collections.Counter] = {}  # split -> {code: rows}
        self.first_seen: dict[tuple[str, int], int] = {}  # (split, code) -> line
        self._samples: dict[str, list[tuple[float, str]]] = {}
        self.label_changes = 0
        self.train_row_runs = 0  # training rows, counting a row's adjacent examples once
        self._last_train_code: Optional[int] = None

    def close(self) -> None:
        """Deletes the temporary files (samples and counts stay)."""
        self._finalizer()

    @property
    def splits(self) -> list[str]:
        return [s for s in SPLIT_NAMES if sum(self.counts.get(s, {}).values())]

    def rows(self, split: str) -> int:
        return sum(self.counts.get(split, {}).values())

    def add(self, split: str, examples: pd.DataFrame, text_hash: Optional[np.ndarray] = None) -> np.ndarray:
        """Records examples (``text``, ``label``, ``line``, optional ``group``) of one split.

        Returns:
            [rows] int32 label codes (indices into ``label_values``).
        """
        if not len(examples):
            return np.zeros(0, dtype=np.int32)
        texts = examples["text"].to_numpy()
        hashes = text_hash if text_hash is not None else text_hashes(texts)
        keys, first, inverse = np.unique(label_keys(examples["label"].tolist()), return_index=True,
                                         return_inverse=True)
        lookup = np.empty(len(keys), dtype=np.int32)
        for j, (key, i) in enumerate(zip(keys.tolist(), first.tolist())):
            if key not in self._codes:
                self._codes[key] = len(self.label_values)
                self.label_values.append(examples["label"].iat[i])
            lookup[j] = code = self._codes[key]
            self.first_seen.setdefault((split, code), int(examples["line"].iat[i]))
        codes = lookup[inverse.ravel()]
        counts = self.counts.setdefault(split, collections.Counter())
        for code, n in zip(*np.unique(codes, return_counts=True)):
            counts[int(code)] += int(n)
        if split == "train":
            previous = codes[:-1] if self._last_train_code is None else np.concatenate(
                [[self._last_train_code], codes[:-1]])
            self.label_changes += int((codes[len(codes) - len(previous):] != previous).sum())
            self._last_train_code = int(codes[-1])
            lines = examples["line"].to_numpy()
            self.train_row_runs += 1 + int((lines[1:] != lines[:-1]).sum())
        record = np.empty(len(codes), dtype=_TEXT_RECORD)
        record["h"], record["c"], record["s"] = hashes, codes, _SPLIT_ID[split]
        self._texts.append(record)
        if self._groups is not None:
            group = np.empty(len(codes), dtype=_GROUP_RECORD)
            group["h"], group["s"] = text_hashes(examples["group"].to_numpy()), _SPLIT_ID[split]
            self._groups.append(group)
        self._sample(split, texts)
        return codes

    def _sample(self, split: str, texts: np.ndarray) -> None:
        if not self.length_sample:
            return
        # Bottom-k of random priorities: a uniform sample of everything added so far.
        priority = self._rng.random(len(texts))
        k = self.length_sample
        top = np.argpartition(priority, k)[:k] if len(texts) > k else np.arange(len(texts))
        sample = self._samples.setdefault(split, [])
        sample.extend(zip(priority[top].tolist(), texts[top].tolist()))
        if len(sample) > 2 * k:
            self._samples[split] = sorted(sample)[:k]

    def sample(self, split: str) -> list[str]:
        return [t for _, t in sorted(self._samples.get(split, []))[:self.length_sample]]

    def label_counts(self, counts: dict[int, int]) -> collections.Counter:
        """{code: rows} -> {label: rows} (multi-label: rows carrying each label)."""
        out: collections.Counter = collections.Counter()
        for code, n in counts.items():
            value = self.label_values[code]
            for name in (value if isinstance(value, tuple) else (value,)):
                out[name] += n
        return out

    def partitions(self) -> Iterator[dict[str, tuple[np.ndarray, np.ndarray]]]:
        """Per partition: {split: (text hashes uint64, label codes int32)}, rows in input order."""
        for records in self._texts.partitions():
            yield {name: (records["h"][records["s"] == i], records["c"][records["s"] == i])
                   for name, i in _SPLIT_ID.items() if (records["s"] == i).any()}

    # ----------------------------------------------------------------------- statistics

    def duplicates(self) -> dict[str, Any]:
        """Exact-duplicate texts within each split and across each pair of splits."""
        within = {s: {"rows": self.rows(s), "distinct_texts": 0, "extra_copies": 0, "conflicting_labels": 0}
                  for s in self.splits}
        names = self.splits
        across = {f"{a}/{b}": 0 for i, a in enumerate(names) for b in names[i + 1:]}
        for part in self.partitions():
            distinct = {}
            for split, (text, codes) in part.items():
                distinct[split] = np.unique(text)
                pairs = np.unique(np.stack([text, codes.astype(np.uint64)], axis=1), axis=0)
                within[split]["distinct_texts"] += len(distinct[split])
                within[split]["conflicting_labels"] += int((np.unique(pairs[:, 0], return_counts=True)[1] > 1).sum())
            for key in across:
                a, b = key.split("/")
                if a in distinct and b in distinct:
                    across[key] += len(np.intersect1d(distinct[a], distinct[b], assume_unique=True))
        for stats in within.values():
            stats["extra_copies"] = stats["rows"] - stats["distinct_texts"]
        return {"within": within, "across": across}

    def groups_in_multiple_splits(self) -> tuple[int, dict[str, int]]:
        """Groups present in more than one split, and distinct groups per split."""
        leaked, per_split = 0, collections.Counter()
        for records in self._groups.partitions():
            pairs = np.unique(np.stack([records["h"], records["s"].astype(np.uint64)], axis=1), axis=0)
            leaked += int((np.unique(pairs[:, 0], return_counts=True)[1] > 1).sum())
            for i, n in zip(*np.unique(pairs[:, 1], return_counts=True)):
                per_split[SPLIT_NAMES[int(i)]] += int(n)
        return leaked, {s: per_split[s] for s in SPLIT_NAMES if s in per_split}


def row_masks(part: dict[str, tuple[np.ndarray, np.ndarray]], known: np.ndarray, dedupe: bool
              ) -> tuple[dict[str, np.ndarray], dict[str, collections.Counter], dict[str, np.ndarray]]:
    """Which validation/test rows survive unknown labels and ``--dedupe``.

    Works on a whole split (in memory) or on one ledger partition (streamed): every
    copy of a text is in the same partition, so the decisions are the same.

    Args:
        part: {split: (text hashes [n] uint64, label codes [n] int32)}.
        known: [codes] bool, label codes that occur in training.
        dedupe: drop validation rows whose text is in train, and test rows whose text
            is in train or in the kept validation rows.

    Returns:
        keep ({split: [n] bool}), dropped ({reason: {split: rows}}) and, with
        ``dedupe``, the text hashes each split is checked against ({split: sorted uint64}).
    """
    keep = {s: np.ones(len(text), dtype=bool) for s, (text, _) in part.items()}
    dropped = {"label_not_in_train": collections.Counter(), "duplicate_across_splits": collections.Counter()}
    for split, (_, codes) in part.items():
        if split != "train":
            unknown = ~known[codes]
            keep[split] &= ~unknown
            dropped["label_not_in_train"][split] += int(unknown.sum())
    against: dict[str, np.ndarray] = {}
    if dedupe:
        seen = np.unique(part["train"][0]) if "train" in part else np.zeros(0, dtype=np.uint64)
        for split in ("validation", "test"):
            if split not in part:
                continue
            text = part[split][0]
            against[split] = seen
            dup = np.isin(text, seen) & keep[split]
            keep[split] &= ~dup
            dropped["duplicate_across_splits"][split] += int(dup.sum())
            seen = np.union1d(seen, text[keep[split]])
    return keep, dropped, against


def limit_threshold(ledger: RowLedger, limit: int, seed: int, bins: int = 1 << 16) -> float:
    """The largest hash threshold that keeps at most ``limit`` training rows (``hash_unit < t``)."""
    histogram = np.zeros(bins, dtype=np.int64)
    for part in ledger.partitions():
        if "train" in part:
            u = hash_unit(part["train"][0], seed, stream=2)
            histogram += np.bincount(np.minimum((u * bins).astype(np.int64), bins - 1), minlength=bins)
    below = np.concatenate([[0], np.cumsum(histogram)])  # below[b]: rows with u < b / bins
    return float(np.searchsorted(below, limit, side="right") - 1) / bins
