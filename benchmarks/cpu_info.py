"""The machine a benchmark ran on: figures are compared only within one machine and one run."""
from __future__ import annotations

import os
import subprocess
import time
from typing import Optional

# /proc/stat "cpu" fields: user nice system idle iowait irq softirq steal (guest time is in user)
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)


def lscpu() -> dict:
    """``lscpu``'s CPU model, CPU count and vector/matrix flags (avx*, amx*, fma)."""
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    flags = fields.get("Flags", "").split()
    return {"model": fields.get("Model name", "").strip(), "cpus": fields.get("CPU(s)", "").strip(),
            "flags_of_note": sorted(f for f in flags if f.startswith(("avx", "amx", "fma")))}


def package_versions(packages) -> dict:
    """``{"python": ..., package: version}`` for the installed ones of ``packages``, for benchmark JSON."""
    import platform
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in packages:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def busy_seconds(stat_text: str, ticks_per_second: int) -> float:
    """Seconds all CPUs spent busy since boot, from the text of ``/proc/stat``."""
    for line in stat_text.splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            return sum(int(parts[1 + i]) for i in _BUSY_FIELDS if 1 + i < len(parts)) / ticks_per_second
    raise ValueError("no aggregate 'cpu' line in /proc/stat")


def other_cpu_fraction(machine_busy: float, own_cpu: float, elapsed: float, cpus: int) -> float:
    """The share of the machine (0 to 1) that processes other than this one used.

    ``machine_busy``: CPU-seconds all processes used in ``elapsed`` wall seconds;
    ``own_cpu``: CPU-seconds this process (and its waited-for children) used meanwhile.
    """
    if elapsed <= 0 or cpus <= 0:
        return 0.0
    return min(1.0, max(0.0, (machine_busy - own_cpu) / (elapsed * cpus)))


class OtherCpuUse:
    """Measures, around a block, how much CPU other processes took while it ran.

    Unlike the load average (a decaying 1-minute mean, which still shows the previous
    benchmark's threads for a minute after they ended), this counts what others used
    during the block itself: ``/proc/stat``'s busy time minus this process's own CPU time.
    ``fraction`` is None where ``/proc/stat`` cannot be read (not Linux).
    """

    def __init__(self) -> None:
        self.fraction: Optional[float] = None
        self._start: Optional[tuple[float, float, float]] = None

    @staticmethod
    def _sample() -> Optional[tuple[float, float, float]]:
        try:
            with open("/proc/stat", encoding="ascii") as f:
                busy = busy_seconds(f.read(), os.sysconf("SC_CLK_TCK"))
        except (OSError, ValueError):
            return None
        t = os.times()
        return busy, t.user + t.system + t.children_user + t.children_system, time.monotonic()

    def __enter__(self) -> "OtherCpuUse":
        self._start = self._sample()
        return self

    def __exit__(self, *exc) -> None:
        end = self._sample()
        if self._start is not None and end is not None:
            (b0, o0, t0), (b1, o1, t1) = self._start, end
            self.fraction = round(other_cpu_fraction(b1 - b0, o1 - o0, t1 - t0, os.cpu_count() or 1), 3)


def run_child(argv, **kwargs) -> tuple[subprocess.CompletedProcess, Optional[float]]:
    """``subprocess.run(argv, check=True, **kwargs)`` and the share of the CPUs other
    processes used meanwhile (``OtherCpuUse.fraction``; the child's own time is not counted)."""
    with OtherCpuUse() as others:
        completed = subprocess.run(argv, check=True, **kwargs)
    return completed, others.fraction
