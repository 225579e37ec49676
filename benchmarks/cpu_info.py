"""The machine a benchmark ran on: figures are compared only within one machine and one run."""
from __future__ import annotations

import subprocess


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
