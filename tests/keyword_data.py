"""The keyword dataset the training tests share: a tiny encoder learns it in seconds.

Each text is 3-8 filler words with one keyword of its label inserted at a random place;
the labels cycle through account, billing, shipping (or follow ``labels``).
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

KEYWORDS = {"billing": ["refund", "charge", "invoice"], "shipping": ["package", "delivery", "late"],
            "account": ["password", "login", "email"]}
FILLER = ["the", "my", "is", "and", "please", "help", "with", "a", "to", "it"]


def keyword_rows(n: int, seed: int = 0, labels: Optional[Sequence[str]] = None) -> list[tuple[str, str]]:
    """n (text, label) rows; ``labels`` gives each row's label (default: cycling, sorted)."""
    rng = np.random.default_rng(seed)
    names = sorted(KEYWORDS)
    rows = []
    for i in range(n):
        label = names[i % len(names)] if labels is None else labels[i]
        words = list(rng.choice(FILLER, size=rng.integers(3, 9)))
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(KEYWORDS[label])))
        rows.append((" ".join(words), label))
    return rows


def keyword_csv(path: Path, n: int = 150, seed: int = 0, *, header: Sequence[str] = ("text", "label"),
                delimiter: str = ",") -> Path:
    """Writes ``keyword_rows(n, seed)`` as a delimited file with ``header``; returns ``path``."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(list(header))
        w.writerows(keyword_rows(n, seed))
    return path


def multilabel_keyword_rows(n: int, seed: int = 0, *, probability: float = 0.45) -> list[tuple[str, str]]:
    """n multi-label (text, labels) rows: each label of ``KEYWORDS`` is present with
    ``probability``, independently (so some rows have none, some all three); a present
    label inserts one of its keywords. Labels are joined by ``|`` in sorted order."""
    rng = np.random.default_rng(seed)
    names = sorted(KEYWORDS)
    rows = []
    for _ in range(n):
        present = [name for name in names if rng.random() < probability]
        words = list(rng.choice(FILLER, size=rng.integers(3, 9)))
        for name in present:
            words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(KEYWORDS[name])))
        rows.append((" ".join(words), "|".join(present)))
    return rows


def multilabel_keyword_csv(path: Path, n: int = 200, seed: int = 0) -> Path:
    """Writes ``multilabel_keyword_rows(n, seed)`` as ``text,labels`` CSV; returns ``path``.
    Read it with ``--label-separator '|'``."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "labels"])
        w.writerows(multilabel_keyword_rows(n, seed))
    return path
