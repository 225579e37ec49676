"""Gzip-compressed inputs, read transparently: ``tickets.csv.gz`` is read as ``tickets.csv``.

Every reader opens input files through ``tfclf.data.filesystem.open_binary`` /
``open_text``, which decompress a ``.gz`` file (local or remote), and asks ``data_suffix``
for the format-giving extension, so a ``.gz`` suffix changes nothing but the bytes'
decompression. Parquet is compressed inside its own format, so ``.parquet.gz`` is refused.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Optional

GZIP_SUFFIX = ".gz"
# What a corrupt or truncated gzip stream raises while it is being read.
CORRUPT_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


def is_gzip(path: Path) -> bool:
    return path.suffix.lower() == GZIP_SUFFIX


def data_suffix(path: Path) -> str:
    """The lower-case extension that gives the format: ``.csv`` for ``a.csv`` and ``a.csv.gz``."""
    return Path(path.stem).suffix.lower() if is_gzip(path) else path.suffix.lower()


def corrupt_message(path: Path, error: BaseException, line: Optional[int] = None) -> str:
    """The message for a gzip stream that cannot be read to its end (at ``line``, when known)."""
    where = f"{path}: line {line}" if line is not None else str(path)
    return (f"{where}: cannot decompress the file ({error}); expected a complete gzip file "
            "(a .gz suffix means gzip). Check that it was copied whole.")
