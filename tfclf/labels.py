"""Label vocabulary: sorted, stable ids, saved as labels.txt next to every model."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from tfclf import atomic
from tfclf.errors import TfclfError


class LabelVocabulary:
    """Maps label strings to ids 0..C-1 in sorted order, so ids never depend on row order."""

    def __init__(self, labels: Iterable[str]):
        names = sorted({str(label) for label in labels})
        broken = [n for n in names if "\n" in n or "\r" in n]
        if broken:
            shown = [n if len(n) <= 60 else n[:57] + "..." for n in broken[:3]]
            raise TfclfError(
                f"Labels must not contain line breaks (labels.txt stores one label per line): {len(broken)} "
                "label(s) do, so the label column looks like free text; check --label-column (and "
                f"--text-column). Received: {shown}")
        if len(names) < 2:
            raise TfclfError(
                f"Need at least 2 classes to train a classifier. Received: {len(names)} class(es) {names}")
        self.names: tuple[str, ...] = tuple(names)
        self._ids = {name: i for i, name in enumerate(self.names)}

    def __len__(self) -> int:
        return len(self.names)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelVocabulary) and self.names == other.names

    def __repr__(self) -> str:
        return f"LabelVocabulary({list(self.names)})"

    def encode(self, labels: Sequence[str], where: str = "labels") -> np.ndarray:
        """Label strings -> int64 ids.

        Raises:
            TfclfError: if a label is not in the vocabulary (names it and the valid ones).
        """
        try:
            return np.fromiter((self._ids[str(x)] for x in labels), dtype=np.int64, count=len(labels))
        except KeyError as e:
            raise TfclfError(
                f"{where}: label {e.args[0]!r} does not occur in the training data. "
                f"Training labels: {list(self.names)}") from None

    def encode_sets(self, label_sets: Sequence[Sequence[str]], where: str = "labels") -> np.ndarray:
        """Label sets (multi-label) -> ``[N, C] float32`` multi-hot in vocabulary order.

        Raises:
            TfclfError: if a label is not in the vocabulary (names it and the valid ones).
        """
        sets = [tuple(s) for s in label_sets]
        out = np.zeros((len(sets), len(self.names)), dtype=np.float32)
        rows = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
        out[rows, self.encode([name for s in sets for name in s], where=where)] = 1.0
        return out

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.names[int(i)] for i in ids]

    def save(self, path: str | os.PathLike) -> None:
        atomic.write_text(path, "".join(name + "\n" for name in self.names))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LabelVocabulary":
        path = Path(path)
        if not path.is_file():
            raise TfclfError(f"Label file not found: {str(path)!r}")
        names = path.read_text(encoding="utf-8").splitlines()
        vocab = cls(names)
        if list(vocab.names) != names:
            raise TfclfError(f"{path}: labels must be unique and sorted, one per line.")
        return vocab
