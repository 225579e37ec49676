"""Multi-label end to end on the tiny encoder: fit -> thresholds -> evaluate -> export -> predict -> resume.

The data is ``multilabel_keyword_csv``: each of account, billing, shipping is present
independently, and a present label puts one of its keywords in the text, so a model
that reads the keywords gets every label set right.
"""
import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from fit_process import kill_after_first_epoch
from keyword_data import multilabel_keyword_csv
from sklearn.metrics import f1_score, hamming_loss

from tfclf import evaluation, prediction, rundir, thresholds
from tfclf.config import ExportConfig
from tfclf.serving import check, loaded, tf_serving

NAMES = ["account", "billing", "shipping"]


def multi_hot(label_cells):
    return np.array([[name in cell.split("|") for name in NAMES] for cell in label_cells], dtype=int)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_trains_to_high_micro_f1_and_records_the_task(multilabel_run):
    metrics = json.loads((multilabel_run / rundir.METRICS).read_text())
    assert metrics["task"] == "multi-label"
    assert metrics["f1_micro"] >= 0.9, metrics["f1_micro"]
    assert metrics["subset_accuracy"] >= 0.7, metrics["subset_accuracy"]
    assert set(metrics["per_label"]) == set(NAMES)
    config = yaml.safe_load((multilabel_run / rundir.CONFIG).read_text())
    assert config["data"]["task"] == "multi-label"
    assert config["train"]["threshold_strategy"] == "per-label-f1"
    history = rundir.read_history(multilabel_run / rundir.HISTORY)
    assert {"val_f1_micro", "val_f1_macro", "val_accuracy", "val_mcc"} <= set(history)


def test_thresholds_are_tuned_on_validation_saved_and_scored(multilabel_run):
    saved = thresholds.load(multilabel_run)
    assert saved.strategy == "per-label-f1" and saved.split == "validation"
    assert list(saved.values) == NAMES and all(0 < t < 1 for t in saved.values.values())
    assert len(set(saved.values.values())) > 1  # tuned, not the fixed 0.5 repeated
    metrics = json.loads((multilabel_run / rundir.METRICS).read_text())
    assert metrics["thresholds"] == pytest.approx(saved.values)
    # The run's own SavedModel carries them.
    assert json.loads((multilabel_run / rundir.SAVED_MODEL / "assets" / rundir.THRESHOLDS).read_text())[
        "thresholds"] == pytest.approx(saved.values)


def test_export_serves_exactly_the_label_sets_evaluate_scored(multilabel_run, tmp_path):
    new = multilabel_keyword_csv(tmp_path / "new.csv", n=80, seed=7)
    rows = read_csv(new)
    out, metrics = evaluation.evaluate_run(multilabel_run, new, output_dir=tmp_path / "eval")
    assert metrics["task"] == "multi-label" and metrics["n_examples"] == len(rows)

    result = tf_serving.export_run(multilabel_run, ExportConfig(export_dir=str(tmp_path / "serving"),
                                                                warmup_requests=False))
    served, probabilities = loaded.load(result.path).predict([r["text"] for r in rows])
    assert loaded.export_info(result.path)["thresholds"] == pytest.approx(
        list(thresholds.load(multilabel_run).values.values()))
    y_served = np.array([[name in s for name in NAMES] for s in served], dtype=int)
    y_true = multi_hot([r["labels"] for r in rows])
    # Served sets are the thresholded probabilities, and score what metrics.json says.
    assert (y_served == thresholds.predict(probabilities, thresholds.load(multilabel_run).array(NAMES))).all()
    assert f1_score(y_true, y_served, average="micro") == pytest.approx(metrics["f1_micro"], abs=1e-12)
    assert f1_score(y_true, y_served, average="macro", zero_division=0) == pytest.approx(
        metrics["f1_macro"], abs=1e-12)
    assert hamming_loss(y_true, y_served) == pytest.approx(metrics["hamming_loss"], abs=1e-12)
    # And on the adversarial set the export equals the run's rebuilt model, label for label.
    report = check.check(result.path, multilabel_run)
    assert report.passed, report


def test_predict_writes_label_sets_and_per_label_probabilities(multilabel_run, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("text\nrefund my password\nthe delivery is late\nhello there\n", encoding="utf-8")
    model = loaded.load(multilabel_run)
    prediction.predict_file(model, str(src), str(tmp_path / "out.csv"), progress=False)
    rows = read_csv(tmp_path / "out.csv")
    assert list(rows[0]) == ["text", "labels", "n_labels", *(f"probability_{n}" for n in NAMES)]
    served, probabilities = model.predict([r["text"] for r in rows])
    for row, labels, p in zip(rows, served, probabilities):
        assert row["labels"] == "|".join(labels) and int(row["n_labels"]) == len(labels)
        # Batches padded to another length differ in the last float32 bits.
        np.testing.assert_allclose([np.float32(row[f"probability_{n}"]) for n in NAMES], p, atol=1e-6)
    assert set(rows[0]["labels"].split("|")) == {"account", "billing"}
    assert rows[1]["labels"] == "shipping"


def test_predict_group_output_thresholds_the_mean_of_each_groups_probabilities(multilabel_run, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("text,user\nrefund my password,u1\nthe delivery is late,u1\nhello there,u2\n"
                   "my invoice,u2\nlogin email,u3\n", encoding="utf-8")
    model = loaded.load(multilabel_run)
    tuned = thresholds.load(multilabel_run).array(NAMES)
    np.testing.assert_array_equal(model.thresholds, tuned)  # the run's thresholds.json, from assets/
    summary = prediction.predict_file(model, str(src), str(tmp_path / "out.csv"), group_by="user",
                                      group_output=str(tmp_path / "groups.tsv"), progress=False)
    assert summary.groups == 3
    rows = read_csv(tmp_path / "out.csv")
    with open(tmp_path / "groups.tsv", newline="", encoding="utf-8") as f:
        groups = list(csv.DictReader(f, delimiter="\t"))
    assert list(groups[0]) == ["user", "n_rows", "labels", "n_labels", *(f"probability_{n}" for n in NAMES)]
    for g in groups:
        members = np.array([[float(r[f"probability_{n}"]) for n in NAMES] for r in rows if r["user"] == g["user"]])
        mean = members.mean(axis=0)
        np.testing.assert_allclose([float(g[f"probability_{n}"]) for n in NAMES], mean, atol=1e-7)
        chosen = [NAMES[c] for c in np.argsort(-mean, kind="stable") if mean[c] >= tuned[c]]
        assert g["labels"] == "|".join(chosen) and int(g["n_labels"]) == len(chosen) and \
            int(g["n_rows"]) == len(members)


def test_a_multi_label_run_resumes_after_kill_9(tiny_bert, tmp_path):
    data = multilabel_keyword_csv(tmp_path / "data.csv", n=240)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "tfclf.fit", "--encoder", str(tiny_bert.root), "--data", str(data),
           "--label-column", "labels", "--label-separator", "|", "--blank-labels", "empty", "--threshold-strategy", "per-label-f1",
           "--seq-length", "16", "--pooling", "mean", "--batch-size", "8", "--epochs", "3",
           "--values", "1e-2,3e-3", "--save-every-steps", "4", "--output-dir", str(out)]
    partial = rundir.partial_dir(out)
    kill_after_first_epoch(cmd, partial)
    assert not out.exists() and (partial / rundir.CONFIG).is_file()
    assert yaml.safe_load((partial / rundir.CONFIG).read_text())["data"]["task"] == "multi-label"
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Resuming the interrupted run" in again.stderr
    with open(out / rundir.HISTORY) as f:
        epochs = [r["epoch"] for r in csv.DictReader(f)]
    assert epochs[0] == "0" and epochs[-1] == "2" and len(set(epochs)) == 3
    metrics = json.loads((out / rundir.METRICS).read_text())
    assert metrics["task"] == "multi-label" and metrics["threshold_strategy"] == "per-label-f1"
    assert thresholds.load(out).strategy == "per-label-f1"
    assert not partial.exists()


def test_streamed_multi_label_data_and_seeds(tiny_bert, tmp_path):
    """--stream re-reads the file each epoch with multi-hot targets; --seeds averages the
    multi-label metrics and keeps the selected seed's thresholds beside its saved model."""
    import tfclf
    from tfclf.config import DataConfig, ModelConfig, OptimizerConfig, Pooling, RunConfig, TrainConfig

    config = RunConfig(
        data=DataConfig(data=str(multilabel_keyword_csv(tmp_path / "ml.csv", n=200)), label_column="labels",
                        label_separator="|", blank_labels="empty", stream=True),
        model=ModelConfig(encoder=str(tiny_bert.root), seq_length=16, pooling=Pooling.MEAN),
        optimizer=OptimizerConfig(values=(1e-2, 3e-3), boundaries=(40,)),
        train=TrainConfig(epochs=3, batch_size=16, seeds=(0, 1), threshold_strategy="per-label-f1",
                          output_dir=str(tmp_path / "run")))
    run = tfclf.fit(config, verbose=0)
    m = run.metrics
    assert m["task"] == "multi-label" and m["seeds"] == [0, 1]
    per_seed = [m["per_seed"][s]["f1_micro"] for s in ("0", "1")]
    assert m["mean"]["f1_micro"] == pytest.approx(np.mean(per_seed))
    assert m["std"]["f1_micro"] == pytest.approx(np.std(per_seed, ddof=1))
    assert min(per_seed) > 0.5
    selected = run.output_dir / rundir.SEEDS / str(m["selected_seed"])
    assert thresholds.load(run.output_dir) == thresholds.load(selected)
    report = json.loads((run.output_dir / rundir.DATA_REPORT).read_text())
    assert report["multi_label"] is True and report["streaming"] is True
