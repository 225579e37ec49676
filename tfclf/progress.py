"""Progress on stderr while a person waits: every progress display tfclf draws.

Two displays, for two kinds of wait:

* ``progress(iterable, total, desc)``: a ``tqdm`` bar over a loop, one step per item
  (or ``weight(item)`` steps: rows per chunk). Data preparation (rows read per input),
  the MiniLM conversion (tensors), baselines (methods; texts embedded for zero-shot)
  and ``export --check`` (its steps) use it. ``bar(total, desc)`` is the same bar for
  code that is a sequence of steps rather than a loop.
* ``Progress``: the one-line rows / rows-per-second / time-left display of streamed
  prediction and topic maps, whose input is measured in bytes read, not items.

``progress`` and ``bar`` draw only when stderr is a terminal (``enabled()``): in logs
and CI, where redrawn lines would pile up, they are off and the loop runs unchanged.
They also wait ``DELAY`` seconds before drawing, so quick loops draw nothing, and
clear themselves when done; what was done is logged as before.

Example::

    for chunk in progress(read_chunks(path), desc=f"reading {path}", unit="rows", weight=len):
        ...
"""
from __future__ import annotations

import sys
import time
from typing import IO, Callable, Iterable, Iterator, Optional, TypeVar

from tqdm import tqdm

T = TypeVar("T")

DELAY = 0.5  # seconds before a bar appears: loops that finish sooner draw nothing
MININTERVAL = 0.1  # seconds between redraws


def enabled(stream: Optional[IO] = None) -> bool:
    """Whether bars are drawn on ``stream`` (default ``sys.stderr``): only on a terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def bar(total: Optional[float] = None, desc: Optional[str] = None, unit: str = "it", *,
        stream: Optional[IO] = None) -> tqdm:
    """A ``tqdm`` bar on ``stream`` (default stderr), disabled unless it is a terminal.

    Use it as a context manager and call ``update(n)``; a disabled bar ignores both.

    Args:
        total: the steps to expect, or None when unknown (counts and rate only).
        desc: what is being waited for, e.g. ``"reading --data tickets.csv"``.
        unit: what a step is (``"rows"``, ``"tensors"``).
        stream: where to draw; default ``sys.stderr``.
    """
    stream = sys.stderr if stream is None else stream
    return tqdm(total=total, desc=desc, unit=unit, file=stream, disable=not enabled(stream), leave=False,
                delay=DELAY, mininterval=MININTERVAL, dynamic_ncols=True)


def progress(iterable: Iterable[T], total: Optional[float] = None, desc: Optional[str] = None,
             unit: str = "it", *, weight: Optional[Callable[[T], float]] = None,
             stream: Optional[IO] = None) -> Iterator[T]:
    """Yields the items of ``iterable`` while a ``bar`` counts them.

    A step is counted once the loop body has processed the item, so the rate is that of
    the whole loop. Breaking out of the loop (or an exception in it) closes the bar.

    Args:
        iterable: the items.
        total: the steps to expect; default ``len(iterable)`` when it has one and no
            ``weight`` is given, else unknown.
        desc, unit, stream: as in ``bar``.
        weight: the steps an item counts for (e.g. ``len`` of a chunk of rows); default 1.
    """
    if total is None and weight is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with bar(total, desc, unit, stream=stream) as b:
        for item in iterable:
            yield item
            b.update(weight(item) if weight is not None else 1)


class Progress:
    """A one-line progress display on stderr: rows, percent, rows/s and time left.

    For streamed input measured by the fraction of bytes read (``predict``, topic maps).
    On a terminal it redraws in place at most every 0.2 s; otherwise (logs, CI) it
    writes a line every ``log_every`` seconds.
    """

    def __init__(self, enabled: bool = True, stream: Optional[IO] = None, log_every: float = 10.0,
                 what: str = "predict"):
        self.enabled = enabled
        self.what = what
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = 0.2 if self.tty else log_every
        self.start = time.monotonic()
        self.last = 0.0
        self.rows = 0

    def update(self, rows: int, fraction: Optional[float]) -> None:
        self.rows = rows
        now = time.monotonic()
        if self.enabled and now - self.last >= self.interval:
            self.last = now
            self._draw(fraction, now)

    def _draw(self, fraction: Optional[float], now: float, end: str = "") -> None:
        elapsed = max(now - self.start, 1e-9)
        rate = self.rows / elapsed
        text = f"{self.what}: {self.rows:,} rows  {rate:,.0f} rows/s  {elapsed:.0f}s"
        if fraction:
            left = elapsed * (1 - fraction) / fraction
            bar = "#" * int(20 * fraction)
            text = f"{self.what}: [{bar:<20}] {100 * fraction:3.0f}%  {self.rows:,} rows  {rate:,.0f} rows/s  " \
                   f"{elapsed:.0f}s elapsed, ~{left:.0f}s left"
        self.stream.write(("\r" + text + "\033[K" if self.tty else text + "\n") + end)
        self.stream.flush()

    def close(self, rows: int) -> None:
        self.rows = rows
        if self.enabled:
            self._draw(1.0 if rows else None, time.monotonic(), end="\n" if self.tty else "")
