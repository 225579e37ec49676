"""A tiny corpus of three well-separated themes, in words the tiny test encoder knows."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

THEMES = {
    "shipping": "parcel courier tracking delivery shipped".split(),
    "billing": "refund invoice payment charged billing".split(),
    "account": "password login username locked reset".split(),
}
FILLER = "the my is and please".split()
MIN_ARI = 0.9  # the stated bound; the tiny encoder with mean pooling separates these themes exactly


def theme_csv(path: Path, n: int = 90, seed: int = 0) -> Path:
    """``n`` texts, a third per theme: eight of its five words and two filler words, shuffled."""
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(n):
            theme = sorted(THEMES)[i % 3]
            words = list(rng.choice(THEMES[theme], 8)) + list(rng.choice(FILLER, 2))
            rng.shuffle(words)
            w.writerow([" ".join(words), theme])
    return path
