import json

import numpy as np
import pytest

from tfclf import evaluation, report

PNG = b"\x89PNG\r\n\x1a\n"


def metrics_for(y, p, names, **extra):
    return {**evaluation.classification_metrics(np.array(y), np.array(p), names), "split": "test", **extra}


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


def test_learning_curves_after_a_resume_and_without_a_finite_monitor(tmp_path, monkeypatch):
    """history.csv is read by rundir.read_history (a repeated epoch counts once) and the
    best-epoch marker follows rundir.best_epoch (no marker when every value is NaN)."""
    drawn = {}
    save = report.save_figure

    def spy(fig, path):
        drawn[path.name] = [t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()]
        save(fig, path)

    monkeypatch.setattr(report, "save_figure", spy)
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss,val_loss,val_f1_macro\n0,1.0,0.9,nan\n1,0.8,0.85,0.6\n1,0.7,0.8,0.65\n"
                    "2,0.6,0.8,0.65\n")
    assert report.plot_learning_curves(path, tmp_path / "resumed.png", "val_f1_macro")
    assert report.plot_learning_curves(path, tmp_path / "loss.png", "val_loss")
    path.write_text("epoch,loss,val_loss,val_f1_macro\n0,1.0,nan,nan\n1,0.8,nan,nan\n")
    assert report.plot_learning_curves(path, tmp_path / "nan.png", "val_loss")
    assert "best epoch (2, by val_f1_macro)" in drawn["resumed.png"]  # the earliest of the tie, not the NaN
    assert "best epoch (2, by val_loss)" in drawn["loss.png"]
    assert not any(text.startswith("best epoch") for text in drawn["nan.png"])
    for name in drawn:
        assert (tmp_path / name).read_bytes()[:8] == PNG


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
        evaluation.write_metrics(metrics_for(y, probs, names, method=method), d / "metrics.json")
    path = report.write_report(tmp_path, model, title="demo")
    text = path.read_text()
    assert text.startswith("# Evaluation report: demo\n")
    assert "| metric | model | majority | tfidf-logreg |" in text
    assert "| accuracy | 0.7500 | 0.5000 | 0.5000 |" in text
    assert "| a\\|b | 0.8000 | 0.6667 | 0.5000 |" in text  # F1 by class, side by side
    assert "| true \\ predicted | a\\|b | c |" in text
    assert "| a\\|b | 2 | 0 |" in text and "| c | 1 | 1 |" in text
    assert "train_examples_per_sec" in text and "## Data" not in text


def test_bootstrap_intervals_sit_beside_their_metric_for_the_model_and_each_baseline():
    def ci(low, high):
        return {"low": low, "high": high, "std": 0.01, "n_resamples": 1000, "confidence": 0.95, "seed": 7}

    y, p = [0, 0, 1, 1], [[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.8, 0.2]]
    model = metrics_for(y, p, ["x", "y"], bootstrap={"accuracy": ci(0.5, 1.0), "mcc": ci(-0.2, 1.0)})
    with_ci = metrics_for(y, [[0.5, 0.5]] * 4, ["x", "y"], bootstrap={"accuracy": ci(0.25, 0.75)})
    without = metrics_for(y, [[0.6, 0.4], [0.4, 0.6]] * 2, ["x", "y"])
    text = report.render_report(model, title="t", baselines={"majority": with_ci, "tfidf-logreg": without})
    assert ("| accuracy | 0.7500 (95% CI 0.5000–1.0000) | 0.5000 (95% CI 0.2500–0.7500) | 0.5000 |"
            in text)
    assert f"| MCC | {model['mcc']:.4f} (95% CI -0.2000–1.0000) |" in text
    assert f"| F1 (macro) | {model['f1_macro']:.4f} |" in text  # no interval in the payload: the bare number
    assert ("* 95% CI: percentile bootstrap interval over 1000 resamples of the 4 examples (seed 7): the "
            "sampling noise of this split, not the variation between training runs.") in text
    assert "### bootstrap" not in text and "n_resamples" not in text  # not dumped as a caller's extra
    assert "percentile bootstrap" not in report.render_report(without, title="t")


def test_group_level_section_sits_beside_the_examples_and_the_baselines_groups():
    groups, y = ["a", "a", "b", "c"], [0, 0, 1, 1]
    p = [[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.8, 0.2]]

    def with_groups(probabilities):
        return {**metrics_for(y, probabilities, ["x", "y"]), "group_level": evaluation.group_level_metrics(
            groups, np.array(y), np.array(probabilities), ["x", "y"], group_by="user")}

    model, majority = with_groups(p), with_groups([[0.5, 0.5]] * 4)
    text = report.render_report(model, title="t", baselines={"majority": majority})
    assert "## Group level" in text
    assert "The 4 examples form 3 groups by `user` (1–2 examples per group, median 1)" in text
    assert "| metric | model (examples) | model (groups) | majority (groups) |" in text
    assert "| accuracy | 0.5000 | 0.6667 | 0.3333 |" in text  # c: one example of y, predicted x
    assert "| y | 1.0000 | 0.5000 | 0.6667 | 2 |" in text  # per class, over groups
    assert "### group_level" not in text and "## Group level" not in report.render_report(
        metrics_for(y, p, ["x", "y"]), title="t")


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


# ------------------------------------------------------------------------------- multi-label

ML_Y = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]])
ML_P = np.array([[0.9, 0.45, 0.1], [0.6, 0.4, 0.3], [0.3, 0.7, 0.6], [0.2, 0.1, 0.2]])


def multilabel_metrics_for(p, names=("a|b", "c", "d"), **extra):
    return {**evaluation.multilabel_metrics(ML_Y, np.array(p), list(names)), "split": "test", **extra}


def test_multilabel_plots_replace_the_confusion_matrix(tmp_path):
    rng = np.random.default_rng(1)
    names = [f"label_{i}" for i in range(25)]
    y = (rng.random((150, 25)) < 0.2).astype(int)
    y[:, 4] = 0  # never true
    p = rng.random((150, 25))
    m = {**evaluation.multilabel_metrics(y, p, names), "split": "test"}
    made = report.write_plots(tmp_path, m, y, p)
    assert made == {"per_label_metrics": "per_label_metrics.png",
                    "probabilities_by_label": "probabilities_by_label.png"}
    for name in made.values():
        assert (tmp_path / name).read_bytes()[:8] == PNG
    assert not (tmp_path / "confusion_matrix.png").exists()


def test_multilabel_learning_curves_on_f1_micro(tmp_path, monkeypatch):
    titles = {}
    save = report.save_figure

    def spy(fig, path):
        titles[path.name] = [ax.get_title() for ax in fig.axes]
        save(fig, path)

    monkeypatch.setattr(report, "save_figure", spy)
    path = tmp_path / "history.csv"
    path.write_text("epoch,f1_micro,loss,val_f1_micro,val_loss\n0,0.3,0.7,0.35,0.6\n1,0.5,0.5,0.45,0.55\n")
    assert report.plot_learning_curves(path, tmp_path / "curves.png", "val_f1_micro")
    assert titles["curves.png"] == ["Loss", "F1 (micro)"]


def test_multilabel_report_compares_baselines_on_six_metrics(tmp_path):
    model = multilabel_metrics_for(ML_P, train_examples_per_sec=10.0)
    for method, probs in (("majority", np.full((4, 3), 0.3)), ("tfidf-logreg", ML_P[::-1])):
        d = tmp_path / "baselines" / method
        d.mkdir(parents=True)
        evaluation.write_metrics(multilabel_metrics_for(probs, method=method), d / "metrics.json")
    text = report.write_report(tmp_path, model, title="demo").read_text()
    table = text[text.index("| metric | model | majority | tfidf-logreg |"):]
    table = table[:table.index("\n\n")].splitlines()
    # majority predicts nothing: subset accuracy 1/4 (e3's empty set), Hamming loss 4/12.
    assert table[2:] == ["| F1 (micro) | 0.7500 | 0.0000 | 0.2500 |",
                         "| F1 (macro) | 0.5556 | 0.0000 | 0.2222 |",  # reversed: only b scores, 2/3
                         "| subset accuracy | 0.5000 | 0.2500 | 0.0000 |",
                         "| Hamming loss (lower is better) | 0.1667 | 0.3333 | 0.5000 |",
                         # a constant prior has no skill on either side of a label: MCC 0, AUC 0.5
                         "| MCC (mean over labels) | 0.5258 | 0.0000 | -0.1409 |",
                         "| ROC-AUC (mean over labels) | 0.8750 | 0.5000 | 0.3750 |"]
    assert "| a\\|b | 1.0000 | 0.0000 | 0.0000 |" in text  # F1 by label, side by side
    assert "| a\\|b | 1.0000 | 1.0000 | 1.0000 | 2 | 2 | 1.0000 | 1.0000 | 1.0000 | 1.0000 | 0.5000 |" in text
    assert "Label cardinality (mean labels per example): 1.000 true, 1.000 predicted." in text
    assert "| train_examples_per_sec | 10.000 |" in text
    for absent in ("Confusion matrix", "Confidence", "Calibration", "ECE", "## Data"):
        assert absent not in text, absent


def test_report_without_task_key_is_single_label():
    """metrics.json written before multi-label support has no "task": it renders as single-label."""
    m = metrics_for([0, 1], [[0.7, 0.3], [0.2, 0.8]], ["x", "y"])
    del m["task"]
    assert report.render_report(m, title="t") == report.render_report(
        metrics_for([0, 1], [[0.7, 0.3], [0.2, 0.8]], ["x", "y"]), title="t")
