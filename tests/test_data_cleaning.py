"""Cleaning steps: what each one changes, and the per-step counts of changed rows."""
import itertools
import json
import os

import pandas as pd
import pytest
from sklearn.datasets import _twenty_newsgroups as sk_newsgroups

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


# ------------------------------------------------------------------ e-mail / Usenet steps

NEWSGROUPS = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets", "20newsgroups",
                          "train.jsonl")


def test_strip_email_headers_drops_a_header_block_up_to_the_first_blank_line():
    config = DataConfig(strip_email_headers=True)
    assert cleaning.clean_strings(
        ["From: a@b.c\nSubject: hi\n\nBody line\n\nmore",
         "From: a@b.c\r\nSubject: a long\r\n  folded subject\r\n\r\nCRLF body\r\n",
         "\n\nstarts blank"],
        config) == ["Body line\n\nmore", "CRLF body\r\n", "starts blank"]


def test_strip_email_headers_keeps_texts_without_a_header_block():
    """Nothing silently emptied: a tweet, a review with paragraphs, a mail body without headers."""
    texts = pd.Series(["no blank line at all", "A review.\n\nSecond paragraph.",
                       "Note: this line looks like a header\nbut this one does not\n\nbody",
                       "Subject: real\n\nbody"], dtype=object)
    tally = Tally()
    out = cleaning.clean(texts, DataConfig(strip_email_headers=True), tally)
    assert out.tolist() == texts.tolist()[:3] + ["body"]
    assert dict(tally.cleaned) == {"strip_email_headers": 1}


def test_strip_signatures_drops_the_block_after_the_last_blank_or_dash_line():
    config = DataConfig(strip_signatures=True)
    assert cleaning.clean_strings([
        "Body text\nmore body\n\n-- \nJohn Doe\njohn@x.org\n",
        "Text\n-----\nsig",
        "\nHello\nWorld\n",  # no separator after stripping: returned as it was, ends kept
        "one line",
    ], config) == ["Body text\nmore body\n", "Text", "\nHello\nWorld\n", "one line"]


def test_strip_quotes_drops_quoted_and_attribution_lines():
    config = DataConfig(strip_quotes=True)
    text = ("In article <1@x.y>, bob@y.z (Bob) writes:\n> old text\n| piped\nMy reply.\n"
            "He said: no.\n  > indented\nIn articles we trust\nkept")
    # sklearn's rule: ^ anchors the line start, the attributions match anywhere in a line.
    assert cleaning.clean_strings([text], config) == ["My reply.\n  > indented\nkept"]


def test_email_steps_run_first_while_line_breaks_remain():
    config = DataConfig(strip_email_headers=True, strip_signatures=True, strip_quotes=True,
                        strip_html=True, normalize_whitespace=True)
    message = ("From: bob@y.z\nSubject: Re: cars\n\nbob@y.z wrote:\n> Which car?\n"
               "A <b>red</b> one.\n\n--\nBob")
    assert cleaning.clean_strings([message], config) == ["A red one."]


def test_email_steps_are_tallied_per_changed_row():
    texts = pd.Series(["H: 1\n\nbody\n\nsig", "H: 2\n\n> quote\nbody", "H: 3\n\nbody"], dtype=object)
    tally = Tally()
    out = cleaning.clean(texts, DataConfig(strip_email_headers=True, strip_signatures=True,
                                           strip_quotes=True), tally)
    assert out.tolist() == ["body", "body", "body"]
    assert dict(tally.cleaned) == {"strip_email_headers": 3, "strip_signatures": 1, "strip_quotes": 1}
    tally = Tally()  # rows not counted (being dropped) are cleaned but not tallied
    cleaning.clean(texts, DataConfig(strip_email_headers=True, strip_quotes=True), tally,
                   counted=pd.Series([True, False, True]).to_numpy())
    assert dict(tally.cleaned) == {"strip_email_headers": 2, "strip_quotes": 0}  # an enabled step shows 0


def test_email_steps_match_sklearn_remove_headers_footers_quotes():
    if not os.path.isfile(NEWSGROUPS):
        pytest.skip("../shared/datasets/20newsgroups/train.jsonl is not present")
    with open(NEWSGROUPS, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in itertools.islice(f, 300)]
    expected = [sk_newsgroups.strip_newsgroup_quoting(sk_newsgroups.strip_newsgroup_footer(
        sk_newsgroups.strip_newsgroup_header(t))) for t in texts]
    config = DataConfig(strip_email_headers=True, strip_signatures=True, strip_quotes=True)
    tally = Tally()
    out = cleaning.clean(pd.Series(texts, dtype=object), config, tally).tolist()
    assert out == expected
    assert all(tally.cleaned[step] > 0 for step in cleaning.enabled_steps(config))
