"""Checks for the bundled demo dataset tfclf/resources/support_tickets.csv."""
from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tfclf" / "resources" / "support_tickets.csv"
SCRIPT = ROOT / "scripts" / "make_sample.py"
LABELS = {"billing", "technical", "account", "shipping", "feedback"}


@pytest.fixture(scope="module")
def raw() -> bytes:
    return DATA.read_bytes()


@pytest.fixture(scope="module")
def rows(raw: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))


def test_encoding_and_line_endings(raw: bytes) -> None:
    raw.decode("utf-8")  # raises if not UTF-8
    assert not raw.startswith(b"\xef\xbb\xbf"), "no BOM"
    assert b"\r" not in raw, "LF line endings only"
    assert raw.endswith(b"\n")
    assert len(raw) < 60_000


def test_header(rows: list[list[str]]) -> None:
    assert rows[0] == ["text", "label"]
    assert all(len(r) == 2 for r in rows[1:])


def test_row_count(rows: list[list[str]]) -> None:
    assert 400 <= len(rows) - 1 <= 600


def test_labels_balanced(rows: list[list[str]]) -> None:
    counts = Counter(label for _, label in rows[1:])
    assert set(counts) == LABELS
    mean = sum(counts.values()) / len(counts)
    for label, n in counts.items():
        assert abs(n - mean) <= 0.15 * mean, (label, n, mean)


def test_texts_nonempty_unique_and_short(rows: list[list[str]]) -> None:
    texts = [text for text, _ in rows[1:]]
    assert all(t.strip() for t in texts)
    assert all(t == t.strip() for t in texts)
    dupes = [t for t, n in Counter(texts).items() if n > 1]
    assert not dupes
    word_counts = [len(t.split()) for t in texts]
    assert min(word_counts) >= 5 and max(word_counts) <= 30


def test_parses_with_pandas() -> None:
    pd = pytest.importorskip("pandas")
    df = pd.read_csv(DATA, keep_default_na=False)
    assert list(df.columns) == ["text", "label"]
    assert df["text"].is_unique
    assert set(df["label"]) == LABELS


def test_regeneration_is_byte_identical(raw: bytes, tmp_path: Path) -> None:
    out = tmp_path / "tickets.csv"
    # A different hash seed than the current process makes hash-order leaks visible.
    env = dict(os.environ, PYTHONHASHSEED="12345")
    subprocess.run([sys.executable, str(SCRIPT), "--output", str(out)],
                   check=True, env=env, capture_output=True)
    assert out.read_bytes() == raw, "regenerate with: python scripts/make_sample.py"
