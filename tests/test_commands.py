"""``tfclf COMMAND`` (tfclf/__main__.py over the registry in tfclf/commands.py) is ``python -m tfclf.COMMAND``."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tfclf
from tfclf import commands
from tfclf.__main__ import main
from tfclf.errors import TfclfError

PACKAGE = Path(tfclf.__file__).resolve().parent


def cli_modules() -> set[str]:
    """Every module of the package with a top-level ``main()``: the ``python -m`` CLIs."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        if any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in ast.parse(path.read_text("utf-8")).body):
            found.add(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
    return found - {"tfclf.__main__"}


def test_every_cli_is_a_command():
    assert {c.module for c in commands.COMMANDS.values()} == cli_modules()
    # The command is the module's name: `tfclf data` is `python -m tfclf.data`.
    for name, command in commands.COMMANDS.items():
        assert command.module.removesuffix(".__main__") == f"tfclf.{name}"


def test_an_unknown_command_lists_the_valid_ones(capsys):
    with pytest.raises(TfclfError, match=r"must be one of \['fit', 'data', .*'topics'.*\]\. Received: command='fitt'"):
        commands.get_command("fitt")
    assert main(["fitt", "--epochs", "1"]) == 2
    assert "Received: command='fitt'" in capsys.readouterr().err


def test_version_help_and_no_command(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"tfclf {tfclf.__version__}\n"
    assert main(["--help"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.split("commands:\n")[1].split("\n\n")[0].splitlines()}
    assert listed == set(commands.COMMANDS)
    assert main([]) == 2
    assert "commands:" in capsys.readouterr().err


def test_the_arguments_after_the_command_go_to_its_main(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["fit", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: tfclf fit [-h]")  # the README's form of the command
    assert "--encoder" in out and "--epochs" in out and "--output-dir" in out
    # Bad input of the command: its own exit status and message.
    assert main(["fit", "--epochs", "0"]) == 2
    assert "--epochs must be >= 1" in capsys.readouterr().err


def test_python_dash_m_tfclf_and_the_installed_console_script():
    script = shutil.which("tfclf", path=str(Path(sys.executable).parent))
    assert script, "no `tfclf` script beside the interpreter: reinstall (pip install --no-deps -e .)"
    for cmd in ([script], [sys.executable, "-m", "tfclf"]):
        out = subprocess.run(cmd + ["--version"], capture_output=True, text=True, timeout=120)
        assert (out.returncode, out.stdout) == (0, f"tfclf {tfclf.__version__}\n"), out.stderr
    out = subprocess.run([script, "nope"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "must be one of" in out.stderr and "Traceback" not in out.stderr
