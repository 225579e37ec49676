"""``python -m tfclf.export``: the command line over ``tfclf.serving`` (tests/test_serving_*.py)."""
import subprocess
import sys

import pytest

import tfclf
from tfclf import export
from tfclf.serving import check


def test_list_ops_cli_marks_tf_text_ops(exported, capsys):
    assert export.main(["--list-ops", str(exported.path)]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("CaseFoldUTF8") and line.endswith("TF-Text") for line in out.splitlines())
    assert "0 unregistered" in out


def test_cli_export_carries_the_model_card(run_dir, tmp_path, capsys):
    assert export.main([str(run_dir), "--export-dir", str(tmp_path / "tickets"), "--no-warmup-requests"]) == 0
    extra = tmp_path / "tickets" / "1" / "assets.extra"
    assert sorted(p.name for p in extra.iterdir()) == ["MODEL_CARD.md", "metrics.json", "tfclf_export.json"]
    card = (extra / "MODEL_CARD.md").read_text()
    assert "/v1/models/tickets/versions/1:predict" in card
    assert '`signature_name = "serving_default"` or `"embed"`' in card


def test_cli_refuses_an_existing_version(run_dir, serving_root, exported, capsys):
    code = export.main([str(run_dir), "--export-dir", str(serving_root), "--version", "1"])
    assert code == 2
    assert "already exists. Pass --overwrite" in capsys.readouterr().err


def test_cli_saved_model_cli_wrapper_registers_tf_text_ops(exported):
    proc = subprocess.run([sys.executable, "-m", "tfclf.export", "--saved-model-cli", "run", "--dir",
                           str(exported.path), "--tag_set", "serve", "--signature_def", "serving_default",
                           "--input_exprs", 'text=["my password login", "refund"]'],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    labels = check._printed_strings(check.parse_saved_model_cli_run(proc.stdout)["label"])
    assert labels == tfclf.load(exported.path).predict(["my password login", "refund"])[0]


def test_cli_flags_are_the_export_config_fields(capsys):
    from tfclf.config import ExportConfig

    with pytest.raises(SystemExit):
        export.build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    for name in ExportConfig.__dataclass_fields__:
        assert "--" + name.replace("_", "-") in out, name
    assert export.main(["x", "--export-dir", "s", "--version", "0"]) == 2
    assert "--version must be >= 1" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_exports_ids_format_and_checks_it(run_dir, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tfclf.export", str(run_dir), "--export-dir",
                           str(tmp_path / "ids"), "--format", "ids", "--check"],
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[0] == str(tmp_path / "ids" / "1")
    assert "PASSED" in proc.stdout
