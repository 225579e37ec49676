import json

import numpy as np
import pytest

from tfclf import evaluate, report

PNG = b"\x89PNG\r\n\x1a\n"


def metrics_for(y, p, names, **extra):
    return {**evaluate.classification_metrics(np.array(y), np.array(p), names), "split": "test", **extra}


def test_read_history_keeps_the_last_row_of_a_repeated_epoch(tmp_path):
    path = tmp_path / "history.csv"
    # An interrupted epoch 1 was logged, then the resumed run logged it again.
    path.write_text("epoch,loss,val_loss,val_f1_macro\n0,1.0,0.9,0.5\n1,0.8,0.85,0.6\n1,0.7,0.8,0.65\n"
                    "2,0.5,0.7,nan\n")
    h = report.read_history(path)
    assert h["epoch"] == [0, 1, 2]
    assert h["loss"] == [1.0, 0.7, 0.5]
    assert h["val_f1_macro"][:2] == [0.5, 0.65] and np.isnan(h["val_f1_macro"][2])


def test_learning_curves_for_each_monitor(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,accuracy,f1_macro,loss,mcc,val_accuracy,val_f1_macro,val_loss,val_mcc\n"
                    "0,0.5,0.4,1.0,0.2,0.55,0.5,0.9,0.3\n1,0.8,0.7,0.6,0.6,0.75,0.7,0.7,0.6\n")
    for monitor in ("val_f1_macro", "val_loss", "val_mcc"):
        out = tmp_path / f"{monitor}.png"
        assert report.plot_learning_curves(path, out, monitor)
        assert out.read_bytes()[:8] == PNG
    (tmp_path / "empty.csv").write_text("epoch,accuracy\n")
    assert not report.plot_learning_curves(tmp_path / "empty.csv", tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_monitor_of_reads_the_run_config(tmp_path):
    assert report.monitor_of(tmp_path) == "val_f1_macro"
    (tmp_path / "config.yaml").write_text("train:\n  monitor: val_loss\n")
    assert report.monitor_of(tmp_path) == "val_loss"


def test_plots_handle_many_classes_and_classes_never_predicted(tmp_path):
    rng = np.random.default_rng(0)
    names = [f"class_{i}" for i in range(35)]
    y = rng.integers(0, 35, 300)
    p = rng.dirichlet(np.ones(35), 300)
    p[:, 7] = 0  # never predicted
    p /= p.sum(1, keepdims=True)
    m = metrics_for(y, p, names)
    made = report.write_plots(tmp_path, m, y, p)
    assert set(made) == {"confusion_matrix", "confidence_by_class"}
    for name in made.values():
        assert (tmp_path / name).read_bytes()[:8] == PNG
    assert m["confidence_by_class"]["class_7"]["n"] == 0


def test_report_shows_baselines_side_by_side_and_escapes_labels(tmp_path):
    names = ["a|b", "c"]
    y, p = [0, 0, 1, 1], [[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.8, 0.2]]
    model = metrics_for(y, p, names, train_examples_per_sec=10.0)
    for method, probs in (("majority", [[0.5, 0.5]] * 4), ("tfidf-logreg", [[0.6, 0.4], [0.4, 0.6]] * 2)):
        d = tmp_path / "baselines" / method
        d.mkdir(parents=True)
        evaluate.write_metrics(metrics_for(y, probs, names, method=method), d / "metrics.json")
    path = report.write_report(tmp_path, model, title="demo")
    text = path.read_text()
    assert text.startswith("# Evaluation report: demo\n")
    assert "| metric | model | majority | tfidf-logreg |" in text
    assert f"| accuracy | 0.7500 | 0.5000 | 0.5000 |" in text
    assert "| a\\|b | 0.8000 | 0.6667 | 0.5000 |" in text  # F1 by class, side by side
    assert "| true \\ predicted | a\\|b | c |" in text
    assert "| a\\|b | 2 | 0 |" in text and "| c | 1 | 1 |" in text
    assert "train_examples_per_sec" in text and "## Data" not in text


def test_data_report_renders_nested_json(tmp_path):
    data = {"rows": 120, "splits": {"train": {"rows": 96}, "test": {"rows": 24}},
            "warnings": ["2 blank texts dropped"]}
    text = report.render_report(metrics_for([0, 1], [[0.7, 0.3], [0.2, 0.8]], ["x", "y"]), title="t",
                                data_report=data)
    assert "## Data" in text and "| rows | 120 |" in text
    assert "| train | 96 |" in text and "2 blank texts dropped" in text


def test_unreadable_baseline_is_skipped(tmp_path):
    (tmp_path / "baselines" / "broken").mkdir(parents=True)
    (tmp_path / "baselines" / "broken" / "metrics.json").write_text("{not json")
    assert report.read_baselines(tmp_path) == {}
    assert json.loads(json.dumps(report.read_baselines(tmp_path / "nowhere"))) == {}


@pytest.mark.parametrize("value, expected", [(None, "–"), (0.123456, "0.1235"), (3, "3"), ("a|b", "a\\|b")])
def test_cells(value, expected):
    assert report._cell(value) == expected
