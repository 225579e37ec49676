"""A real ``python -m tfclf.fit`` process, killed with SIGKILL once its first epoch is in history.csv."""
from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Sequence


def kill_after_first_epoch(cmd: Sequence[str], partial: Path, *, extra_seconds: float = 0.0,
                           timeout: float = 240) -> None:
    """Runs ``cmd``, waits until ``partial/history.csv`` holds an epoch (then ``extra_seconds``
    more, to land mid-epoch), and kills it with SIGKILL. Fails if it exits first."""
    proc = subprocess.Popen(list(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            history = partial / "history.csv"
            if history.is_file() and len(history.read_text().splitlines()) >= 2:
                time.sleep(extra_seconds)
                break
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
