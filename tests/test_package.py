"""What ``import tfclf`` sets up before TensorFlow is imported (tfclf/__init__.py)."""
import os
import platform
import subprocess
import sys

import pytest

PROBE = ("import tfclf, tensorflow as tf, tf_keras; "
         "from tensorflow.python.util import _pywrap_util_port as p; "
         "print(p.IsMklEnabled(), type(tf.keras.layers.Dense(1)).__module__.split('.')[0])")


def _probe(**env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_ENABLE_ONEDNN_OPTS", "TF_USE_LEGACY_KERAS")}
    env.update(env_overrides)
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    onednn, keras = out.stdout.split()
    return onednn == "True", keras


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="oneDNN default is x86-64 only")
def test_import_turns_on_onednn_and_legacy_keras():
    assert _probe() == (True, "tf_keras")


def test_the_users_own_settings_win():
    assert _probe(TF_ENABLE_ONEDNN_OPTS="0", TF_USE_LEGACY_KERAS="0") == (False, "keras")


def test_no_source_file_is_git_ignored():
    """An ignore rule meant for output folders (serving/, tuning/) must not hide a package of the same name."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        pytest.skip("not a git checkout")
    sources = [str(p.relative_to(root)) for folder in ("tfclf", "tests", "benchmarks", "experiments")
               for p in (root / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    out = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], cwd=root, input="\n".join(sources),
                         capture_output=True, text=True)
    ignored = [line for line in out.stdout.splitlines() if not line.endswith(".tmp")]
    assert out.returncode in (0, 1), out.stderr
    assert not ignored, f"git ignores these source files, so a clone would lack them: {ignored[:10]}"
