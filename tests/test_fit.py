"""The CLI shell: argv -> config -> train.fit, exit codes, and what a user sees."""
import json
import os
import subprocess
import sys

import pytest

from tfclf import fit


def write_csv(path, rows):
    path.write_text("text,label\n" + "".join(f"{t},{l}\n" for t, l in rows))
    return path


def test_cli_trains_and_prints_metrics_table(tiny_bert, tmp_path):
    rows = [(f"please refund the invoice {i}", "billing") for i in range(12)] + \
           [(f"my package is late {i}", "shipping") for i in range(12)]
    data = write_csv(tmp_path / "d.csv", rows)
    out = subprocess.run(
        [sys.executable, "-m", "tfclf.fit", "--encoder", str(tiny_bert.root), "--data", str(data),
         "--epochs", "1", "--batch-size", "8", "--seq-length", "16", "--split", "0.5,0.25,0.25",
         "--output-dir", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300, env={**os.environ})
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Metrics on the test split (6 examples)" in out.stdout
    assert "f1_macro" in out.stdout and "Run directory:" in out.stdout
    assert "2/2 [==============================]" in out.stdout  # Keras progress bar stays on
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["n_examples"] == 6


@pytest.mark.parametrize("argv, message", [
    (["--data", "missing.csv"], "--data: no such file"),
    (["--epochs", "0"], "--epochs must be >= 1"),
    (["--pooling", "max"], "invalid choice: 'max'"),  # argparse checks enum choices itself
    (["--encoder", "bert-huge"], "--encoder must be one of"),
    (["--split", "0.5,0.5,0.5"], "sum to 1"),
])
def test_bad_input_exits_2_with_one_message(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        code = fit.main(argv + ["--output-dir", str(tmp_path / "run")])
    except SystemExit as e:
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert message in err
    assert not (tmp_path / "run").exists()
