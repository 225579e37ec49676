"""Opt-in text cleaning; each step is a ``DataConfig`` flag and counts the rows it changed.

Steps run in this order: ``strip_email_headers`` (everything up to the first blank
line, when those lines are header fields: other texts are left as they are), ``strip_signatures`` (the last block, after the last line that is blank or only
dashes), ``strip_quotes`` (quoted lines and the lines that introduce them) -- these three
are scikit-learn's ``fetch_20newsgroups(remove=('headers', 'footers', 'quotes'))``, in its
order, and need the text's line breaks, so they run first; ``strip_html`` (tags become
spaces, entities are unescaped: IMDb's ``<br />``), ``strip_urls``, ``strip_mentions``,
``normalize_unicode`` (NFC), ``lowercase``, ``normalize_whitespace`` (runs of
whitespace become one space; ends trimmed).

Cleaning applies to training and evaluation data. The exported model receives raw
strings, so a model trained on cleaned text should be served cleaned text too
(``clean_strings`` is the same function for a list of strings).
"""
from __future__ import annotations

import html
import re
import unicodedata
from typing import Callable, Optional

import numpy as np
import pandas as pd

from tfclf.config import DataConfig
from tfclf.data.report import Tally

_TAG = re.compile(r"<[^<>]{0,1000}>")
_URL = re.compile(r"(?:\bhttps?://|\bwww\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@])@\w+")
_SPACE = re.compile(r"\s+")
# scikit-learn's _QUOTE_RE, searched line by line: so ^ is a line start.
_QUOTE = re.compile(r"(writes in|writes:|wrote:|says:|said:|^In article|^Quoted from|^\||^>)")


# The blank line that ends a header block, in LF or CRLF text.
_BLANK_LINE = re.compile(r"\r?\n\r?\n")
# An RFC 5322 header field ("Subject: hi") or a folded continuation of one (leading space or tab).
_HEADER_LINE = re.compile(r"[!-9;-~]+:|[ \t]")


def _strip_email_header(text: str) -> str:
    """Drops the header block up to the first blank line, when the text has one: every line
    before that blank line is a header field or its continuation. Any other text (a tweet,
    a review, a message without headers) is returned unchanged rather than emptied."""
    blank = _BLANK_LINE.search(text)
    if blank is None or blank.start() == 0:
        return text[blank.end():] if blank is not None else text
    if all(_HEADER_LINE.match(line) for line in text[:blank.start()].replace("\r\n", "\n").split("\n")):
        return text[blank.end():]
    return text


def _strip_signature(text: str) -> str:
    # sklearn's strip_newsgroup_footer, to the letter: the text is returned unchanged (not
    # stripped) when the only separator is the first line or there is none.
    lines = text.strip().split("\n")
    for cut in range(len(lines) - 1, -1, -1):
        if lines[cut].strip().strip("-") == "":
            break
    return "\n".join(lines[:cut]) if cut > 0 else text


def _strip_quotes(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if not _QUOTE.search(line))


def _strip_html(texts: pd.Series) -> pd.Series:
    out = texts.str.replace(_TAG, " ", regex=True)
    has_entity = out.str.contains("&", regex=False)
    if has_entity.any():
        out[has_entity] = out[has_entity].map(html.unescape)
    return out


def _nfc(texts: pd.Series) -> pd.Series:
    return texts.map(lambda t: t if unicodedata.is_normalized("NFC", t) else unicodedata.normalize("NFC", t))


STEPS: dict[str, Callable[[pd.Series], pd.Series]] = {
    "strip_email_headers": lambda t: t.map(_strip_email_header),
    "strip_signatures": lambda t: t.map(_strip_signature),
    "strip_quotes": lambda t: t.map(_strip_quotes),
    "strip_html": _strip_html,
    "strip_urls": lambda t: t.str.replace(_URL, "", regex=True),
    "strip_mentions": lambda t: t.str.replace(_MENTION, "", regex=True),
    "normalize_unicode": _nfc,
    "lowercase": lambda t: t.str.lower(),
    "normalize_whitespace": lambda t: t.str.replace(_SPACE, " ", regex=True).str.strip(),
}


def enabled_steps(config: DataConfig) -> list[str]:
    return [name for name in STEPS if getattr(config, name)]


def clean(texts: pd.Series, config: DataConfig, tally: Optional[Tally] = None,
          counted: Optional[np.ndarray] = None) -> pd.Series:
    """Applies the enabled steps.

    Args:
        texts: [rows] object Series of str.
        config: which steps are on.
        tally: receives ``cleaned[step] += rows changed``.
        counted: [rows] bool, rows to count (the others are being dropped anyway).

    Returns:
        The cleaned texts, same index.
    """
    for name in enabled_steps(config):
        new = STEPS[name](texts).astype(object)
        if tally is not None:
            changed = np.array(new != texts, dtype=bool)
            if counted is not None:
                changed &= counted
            tally.cleaned[name] += int(changed.sum())
        texts = new
    return texts


def clean_strings(texts: list[str], config: DataConfig) -> list[str]:
    """``clean`` for a list of strings, e.g. before ``LoadedModel.predict``."""
    return clean(pd.Series(texts, dtype=object), config).tolist()
