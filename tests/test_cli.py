import subprocess
import sys

import pytest

from tfclf import cli
from tfclf.errors import TfclfError


def test_tfclf_error_becomes_exit_2_and_one_log_line(capsys):
    def body():
        raise TfclfError("--data: no such file or directory: 'x.csv'")

    assert cli.run_main(body) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith("ERROR tfclf: --data: no such file or directory: 'x.csv'")


def test_logging_follows_sys_stderr_after_it_is_swapped(monkeypatch):
    """A main() run from a test or notebook sets logging up under one stderr; when that one
    is closed and replaced, later log lines go to the new one instead of a 'Logging error'."""
    import io
    import logging

    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    cli.setup_logging()
    logging.getLogger("tfclf").info("one")
    first.close()
    monkeypatch.setattr(sys, "stderr", second)
    logging.getLogger("tfclf").info("two")
    assert second.getvalue().rstrip().endswith("INFO tfclf: two")
    assert "Logging error" not in second.getvalue()


def test_interrupt_is_130_and_success_is_0():
    def interrupted():
        raise KeyboardInterrupt

    assert cli.run_main(interrupted) == 130
    assert cli.run_main(lambda: None) == 0


# The CLI body in a fresh interpreter: whether TensorFlow was imported is only visible there.
FRESH_MAIN = """
import sys
from {module} import main
code = main(sys.argv[1:])
print("tensorflow imported:", "tensorflow" in sys.modules)
sys.exit(code)
"""


@pytest.mark.parametrize("module, argv, message", [
    ("tfclf.fit", ["--epochs", "0"], "--epochs must be >= 1. Received: epochs=0"),
    ("tfclf.fit", ["--config", "list.yaml"], "--config list.yaml: expected a mapping of sections"),
    ("tfclf.fit", ["--output-dir", ".", "--overwrite"], "--output-dir '.' is the current directory"),
    ("tfclf.fit", ["--data", "list.yaml", "--output-dir", "list.yaml", "--overwrite"],
     "--output-dir 'list.yaml' is the input --data"),
    ("tfclf.data.__main__", ["--limit-train", "0"], "--limit-train must be >= 1"),
    ("tfclf.data.__main__", ["--config", "list.yaml"], "--config list.yaml: expected a mapping"),
    ("tfclf.tune", ["--epochs", "0"], "--epochs must be >= 1. Received: epochs=0"),
    ("tfclf.tune", ["--max-trials", "0"], "--max-trials must be >= 1"),
    ("tfclf.tune", ["--config", "search.yaml"], "--config search.yaml: expected section 'search'"),
])
def test_bad_config_is_reported_before_tensorflow_is_imported(module, argv, message, tmp_path):
    (tmp_path / "list.yaml").write_text("- 1\n")
    (tmp_path / "search.yaml").write_text("search: 5\n")
    out = subprocess.run([sys.executable, "-c", FRESH_MAIN.format(module=module), *argv],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-3000:]
    assert message in out.stderr and "Traceback" not in out.stderr
    assert "tensorflow imported: False" in out.stdout, "the error came after importing TensorFlow"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.yaml", "search.yaml"]
