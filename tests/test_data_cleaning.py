"""Cleaning steps: what each one changes, and the per-step counts of changed rows."""
import pandas as pd

from tfclf.config import DataConfig
from tfclf.data import cleaning
from tfclf.data.report import Tally

TEXTS = [
    "Great film!<br /><br />Loved it &amp; more",
    "see https://t.co/abc and www.example.com now",
    "@user hi @Bob_2, mail me at a@b.c",
    "Cafe\u0301  MIXED   Case\n\tend ",
    "plain",
]


def run(**flags):
    tally = Tally()
    out = cleaning.clean(pd.Series(TEXTS, dtype=object), DataConfig(**flags), tally)
    return out.tolist(), dict(tally.cleaned)


def test_nothing_changes_without_flags():
    assert run() == (TEXTS, {})


def test_strip_html_replaces_tags_and_unescapes_entities():
    out, counts = run(strip_html=True)
    assert out[0] == "Great film!  Loved it & more"
    assert counts == {"strip_html": 1}


def test_strip_urls_and_mentions():
    out, counts = run(strip_urls=True, strip_mentions=True)
    assert out[1] == "see  and  now"
    assert out[2] == " hi , mail me at a@b.c"  # e-mail addresses are not mentions
    assert counts == {"strip_urls": 1, "strip_mentions": 1}


def test_unicode_lowercase_whitespace_in_order():
    out, counts = run(normalize_unicode=True, lowercase=True, normalize_whitespace=True)
    assert out[3] == "café mixed case end" and len(out[3]) == 19  # NFC: one code point for é
    assert counts == {"normalize_unicode": 1, "lowercase": 3, "normalize_whitespace": 1}


def test_all_steps_together_on_an_imdb_like_review():
    config = DataConfig(strip_html=True, strip_urls=True, normalize_whitespace=True, lowercase=True)
    assert cleaning.clean_strings(["A <i>Good</i> movie.<br /><br />http://imdb.com"], config) == \
        ["a good movie."]
