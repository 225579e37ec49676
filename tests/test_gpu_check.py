"""benchmarks/gpu_check.sh is kept correct on CPU: every command it would run on a GPU parses."""
import importlib
import os
import subprocess
from pathlib import Path

import pytest

from tfclf.config import EncoderRuntime, MixedPrecision, from_args

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"
fit_cli = importlib.import_module("tfclf.fit")  # the CLI modules (tfclf.fit is also the API function)
export_cli = importlib.import_module("tfclf.export")


@pytest.fixture(scope="module")
def steps(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check")
    env = {**os.environ, "GPU_CHECK_DRY_RUN": "1", "OUT": str(out), "PYTHON": "python"}
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = [line.split("\0")[:-1] for line in result.stdout.splitlines() if line]
    assert not list(out.iterdir())  # a dry run writes nothing
    return {words[0]: words[1:] for words in lines}


def test_the_script_is_valid_bash():
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0


def test_it_runs_the_precision_distribution_and_native_tests(steps):
    words = steps["tests"]
    files = [w for w in words if w.startswith("tests/")]
    assert files == ["tests/test_distribute.py", "tests/test_precision.py", "tests/test_native_encoder.py"]
    assert all((ROOT / f).is_file() for f in files)


def test_every_fit_parses_and_covers_both_runtimes_and_precisions(steps):
    fits = {name: words for name, words in steps.items() if name.startswith("fit-")}
    seen = set()
    for name, words in fits.items():
        argv = words[words.index("tfclf.fit") + 1:]
        config = from_args(fit_cli.build_parser().parse_args(argv))
        assert config.train.epochs == 1 and config.data.limit_train == 2000 and not config.train.tensorboard
        assert name == f"fit-{config.model.encoder_runtime.value}-{config.train.mixed_precision.value}"
        seen.add((config.model.encoder_runtime, config.train.mixed_precision))
    assert {(EncoderRuntime.NATIVE, MixedPrecision.NONE), (EncoderRuntime.NATIVE, MixedPrecision.MIXED_BFLOAT16),
            (EncoderRuntime.HUB, MixedPrecision.NONE), (EncoderRuntime.HUB, MixedPrecision.MIXED_BFLOAT16),
            (EncoderRuntime.HUB, MixedPrecision.MIXED_FLOAT16)} <= seen


def test_the_export_checks_a_trained_run(steps):
    words = steps["export"]
    argv = words[words.index("tfclf.export") + 1:]
    args = export_cli.build_parser().parse_args(argv)
    assert args.check is not None and str(args.run_dir).endswith("runs/native-none")
