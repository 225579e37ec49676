"""tfclf as a library: setup.cfg declares ranges that admit the lock, and the built wheel installs and trains.

requirements*.txt pin the versions tested together (what scripts/venv.sh, CI and
Docker install); setup.cfg's install_requires and extras declare compatible ranges
so tfclf installs beside other packages. The fast checks keep the two from drifting
apart; the slow one builds the wheel and installs it into a fresh virtualenv.
"""
from __future__ import annotations

import configparser
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def pins(path: Path) -> dict[str, str]:
    """``{canonical name: version}`` of a requirements file, following ``-r``."""
    found: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r"):
            found.update(pins(path.parent / line[2:].strip()))
        elif line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", f"{path.name}: not pinned with ==: {raw!r}"
            found[canonicalize_name(req.name)] = spec.version
    return found


def declared(key: str) -> dict[str, Requirement]:
    """setup.cfg's ``install_requires`` (key ``""``) or the extra ``key``, by canonical name."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    value = cfg["options"]["install_requires"] if not key else cfg["options.extras_require"][key]
    reqs = [Requirement(line.strip()) for line in value.splitlines() if line.strip()]
    return {canonicalize_name(r.name): r for r in reqs}


@pytest.mark.parametrize("extra, lock", [("", "requirements.txt"), ("bench", "requirements-bench.txt"),
                                         ("test", "requirements-dev.txt"), ("beam", "requirements-beam.txt"),
                                         ("", "requirements-beam.txt")])
def test_declared_ranges_admit_the_pinned_versions(extra, lock):
    locked = pins(ROOT / lock)
    reqs = declared(extra)
    assert reqs, f"setup.cfg declares nothing for {extra or 'install_requires'}"
    missing = sorted(set(reqs) - set(locked))
    assert not missing, f"declared in setup.cfg but not pinned in {lock}: {missing}"
    outside = {name: (str(r.specifier), locked[name]) for name, r in reqs.items()
               if not r.specifier.contains(locked[name], prereleases=True)}
    assert not outside, f"setup.cfg ranges that exclude the {lock} pin: {outside}"


def test_the_lock_pins_exactly_what_is_declared():
    """A package pinned in requirements.txt but not declared would be missing from a library install."""
    assert set(pins(ROOT / "requirements.txt")) == set(declared(""))


@pytest.mark.parametrize("extra", ["", "bench", "test", "beam"])
def test_declared_requirements_are_bounded_ranges(extra):
    """Ranges, not pins (a pin would clash with any other package's), each with an upper bound."""
    for name, req in declared(extra).items():
        operators = {spec.operator for spec in req.specifier}
        assert "==" not in operators and "<" in operators, f"{name}: {req.specifier} is not a range with an upper bound"


def test_a_range_that_excludes_a_pin_is_caught(tmp_path):
    lock = tmp_path / "requirements.txt"
    lock.write_text("-r base.txt\n")
    (tmp_path / "base.txt").write_text("# the stack\nNumPy==2.4.6  # comment\n")
    assert pins(lock) == {"numpy": "2.4.6"}
    assert not Requirement("numpy>=2.5,<3").specifier.contains(pins(lock)["numpy"])


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert out.returncode == 0, f"{cmd} exited {out.returncode}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.mark.slow
def test_the_wheel_installs_into_a_fresh_venv_and_trains(tmp_path):
    """python -m build; pip install the wheel -c requirements.txt plus the --no-deps step; tfclf fit."""
    started = time.monotonic()
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)], timeout=600)
    (wheel,) = dist.glob("tfclf-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    # Every file of the package, modules and data (the bundled sample the demo trains on).
    package = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tfclf").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert "tfclf/resources/support_tickets.csv" in package
    assert not package - names, f"missing from {wheel.name}: {sorted(package - names)}"
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(wheel) as zf:
        assert "tfclf = tfclf.__main__:main" in zf.read(entry_points).decode()

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run(pip + [str(wheel), "-c", str(ROOT / "requirements.txt")], timeout=1800)
    _run(pip + ["--no-deps", "-r", str(ROOT / "requirements-nodeps.txt")], timeout=600)

    # Away from the checkout, so the installed package is the one imported.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(TFCLF_CACHE_DIR=str(tmp_path / "encoders"), PATH=f"{venv / 'bin'}:{env.get('PATH', '')}")
    version = _run([str(venv / "bin" / "tfclf"), "--version"], cwd=tmp_path, env=env).stdout
    where = _run([str(python), "-c", "import tfclf; print(tfclf.__file__)"], cwd=tmp_path, env=env).stdout
    assert version.split() == ["tfclf", wheel.name.split("-")[1]]
    assert str(venv) in where

    # The demo (scripts/demo.sh: MiniLM, offline, on the bundled sample), one epoch.
    run_dir = tmp_path / "run"
    out = _run([str(venv / "bin" / "tfclf"), "fit", "--epochs", "1", "--output-dir", str(run_dir)],
               cwd=tmp_path, env=env, timeout=1800)
    assert "Run directory" in out.stdout
    assert {"config.yaml", "labels.txt", "metrics.json"} <= {p.name for p in run_dir.iterdir()}
    print(f"wheel build + fresh install + demo fit: {time.monotonic() - started:.0f} s")
