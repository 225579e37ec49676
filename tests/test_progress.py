"""tfclf.progress: bars only on a terminal, counting every item (or its weight)."""
import io
import sys

import pytest

from tfclf import progress
from tfclf.progress import Progress


class Tty(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def draw_at_once(monkeypatch):
    """No delay and no redraw interval, so every step is drawn."""
    monkeypatch.setattr(progress, "DELAY", 0)
    monkeypatch.setattr(progress, "MININTERVAL", 0)


def test_off_when_stderr_is_not_a_terminal(draw_at_once, capsys):
    assert not progress.enabled()  # pytest captures stderr: not a terminal
    assert not progress.enabled(io.StringIO())
    closed = io.StringIO()
    closed.close()  # isatty() raises ValueError
    assert not progress.enabled(closed) and not progress.enabled(object())
    out = io.StringIO()
    assert list(progress.progress(range(5), desc="reading", stream=out)) == [0, 1, 2, 3, 4]
    assert out.getvalue() == ""
    assert list(progress.progress(iter("abc"), desc="reading")) == ["a", "b", "c"]
    assert capsys.readouterr().err == ""
    with progress.bar(3, "steps", stream=out) as b:
        b.update()
        assert b.disable
    assert out.getvalue() == ""


def test_counts_every_item_on_a_terminal(draw_at_once):
    out = Tty()
    assert list(progress.progress(["a", "b", "c"], desc="tensors", unit="t", stream=out)) == ["a", "b", "c"]
    text = out.getvalue()
    assert "tensors" in text and "3/3" in text and "0/3" in text
    assert "4/3" not in text


def test_weights_count_rows_of_chunks_and_total_may_be_unknown(draw_at_once):
    out = Tty()
    chunks = [[1, 2, 3], [4], [5, 6]]
    assert list(progress.progress(iter(chunks), desc="reading", unit="rows", weight=len, stream=out)) == chunks
    text = out.getvalue()
    assert "6rows" in text.replace(" ", "") and "/" not in text.split("reading")[-1].split("rows")[0]
    out = Tty()
    list(progress.progress(chunks, total=6, desc="reading", unit="rows", weight=len, stream=out))
    assert "6/6" in out.getvalue() and "3/6" in out.getvalue()


def test_a_step_counts_once_the_loop_body_is_done_and_break_closes_the_bar(draw_at_once):
    out = Tty()
    seen = []
    for i in progress.progress(range(10), desc="x", stream=out):
        seen.append(out.getvalue().count(f"{i}/10"))
        if i == 3:
            break
    assert seen == [1, 1, 1, 1]  # item i is shown as i done (i/10) while the body runs
    assert "4/10" not in out.getvalue()


def test_quick_loops_draw_nothing_even_on_a_terminal():
    out = Tty()
    list(progress.progress(range(1000), desc="quick", stream=out))
    assert "quick" not in out.getvalue()


def test_rows_display_on_a_terminal_and_in_logs():
    out = Tty()
    bar = Progress(stream=out)
    bar.update(50, 0.5)
    bar.close(100)
    text = out.getvalue()
    assert "\r" in text and "50%" in text and "100 rows" in text and text.endswith("\n")
    logs = io.StringIO()
    bar = Progress(stream=logs, log_every=3600)
    bar.update(50, 0.5)  # the first line is written at once, then one per log_every
    bar.update(60, 0.6)
    bar.close(100)
    assert "\r" not in logs.getvalue() and len(logs.getvalue().splitlines()) == 2
    assert Progress().stream is sys.stderr
