"""What every ``python -m tfclf.X`` shares: logging setup and turning errors into exit codes.

Exit codes: 0 success, 2 bad input or environment (a ``TfclfError``, message only,
no traceback), 130 interrupted.
"""
from __future__ import annotations

import logging
import sys
from typing import Callable

from tfclf.errors import TfclfError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _StderrHandler(logging.StreamHandler):
    """Writes to the ``sys.stderr`` of the moment, not the one at setup: a ``main()`` called
    from a notebook or a test whose stderr is swapped and closed later keeps logging."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", handlers=[_StderrHandler()], force=True)
    # TensorFlow's absl logger repeats warnings we already handle.
    logging.getLogger("absl").setLevel(logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def run_main(body: Callable[[], object]) -> int:
    """Runs a CLI body; a TfclfError becomes one clear message and exit code 2."""
    setup_logging()
    try:
        body()
    except TfclfError as e:
        logging.getLogger("tfclf").error("%s", e)
        return EXIT_USAGE
    except KeyboardInterrupt:
        logging.getLogger("tfclf").error("Interrupted.")
        return EXIT_INTERRUPTED
    return 0
