import csv
import json
import tracemalloc

import numpy as np
import pytest
from sklearn import metrics as skm

from tfclf import evaluation


def random_predictions(n=400, c=4, seed=0, skill=1.5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    logits = rng.normal(size=(n, c))
    logits[np.arange(n), y] += skill
    p = np.exp(logits)
    return y, p / p.sum(1, keepdims=True)


def test_metrics_payload_has_required_keys_and_values(tmp_path):
    y = np.array([0, 0, 1, 1, 2, 2])
    probs = np.eye(3)[[0, 1, 1, 1, 2, 0]] * 0.8 + 0.2 / 3
    m = evaluation.classification_metrics(y, probs, ["a", "b", "c"])
    for key in ("accuracy", "f1_macro", "f1_weighted", "precision_macro", "recall_macro", "mcc",
                "per_class", "confusion_matrix", "n_examples", "roc_auc", "ece", "confidence_by_class"):
        assert key in m
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert {k: v for k, v in m["per_class"]["b"].items() if k != "roc_auc"} == {
        "precision": pytest.approx(2 / 3), "recall": 1.0, "f1": pytest.approx(0.8), "support": 2}
    assert m["n_examples"] == 6
    evaluation.write_metrics(m, tmp_path / "metrics.json")
    assert json.loads((tmp_path / "metrics.json").read_text())["accuracy"] == pytest.approx(4 / 6)
    table = evaluation.format_table(m, "test")
    assert "accuracy" in table and "0.6667" in table and "support" in table and "roc_auc" in table


def test_multiclass_metrics_equal_sklearn():
    y, p = random_predictions()
    names = ["w", "x", "y", "z"]
    m = evaluation.classification_metrics(y, p, names)
    pred = p.argmax(1)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    for avg in ("macro", "weighted"):
        assert m[f"precision_{avg}"] == pytest.approx(skm.precision_score(y, pred, average=avg))
        assert m[f"recall_{avg}"] == pytest.approx(skm.recall_score(y, pred, average=avg))
        assert m[f"f1_{avg}"] == pytest.approx(skm.f1_score(y, pred, average=avg))
    assert m["mcc"] == pytest.approx(skm.matthews_corrcoef(y, pred))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))
    assert m["roc_auc_info"] == {"average": "macro-ovr", "classes": names, "skipped": []}
    f1 = skm.f1_score(y, pred, average=None)
    for i, name in enumerate(names):
        assert m["per_class"][name]["f1"] == pytest.approx(f1[i])
        assert m["per_class"][name]["support"] == int((y == i).sum())
        assert m["per_class"][name]["roc_auc"] == pytest.approx(skm.roc_auc_score(y == i, p[:, i]))
    assert m["confusion_matrix"] == skm.confusion_matrix(y, pred).tolist()
    json.dumps(m)  # serialisable: no numpy scalars


def test_binary_auc_is_plain_auc_of_the_second_label():
    y, p = random_predictions(c=2, seed=1)
    m = evaluation.classification_metrics(y, p, ["neg", "pos"])
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p[:, 1]))
    assert m["roc_auc_info"]["average"] == "binary"


def test_classes_absent_from_the_truth_are_skipped_not_fatal():
    y, p = random_predictions(c=4, seed=2)
    keep = y != 2  # class "c" never occurs in the truth, but the model may still predict it
    y, p = y[keep], p[keep]
    m = evaluation.classification_metrics(y, p, ["a", "b", "c", "d"])
    expected = np.mean([skm.roc_auc_score(y == i, p[:, i]) for i in (0, 1, 3)])
    assert m["roc_auc"] == pytest.approx(expected)
    assert m["roc_auc_info"]["skipped"] == ["c"] and m["roc_auc_info"]["classes"] == ["a", "b", "d"]
    assert "absent" in m["roc_auc_info"]["note"]
    assert m["per_class"]["c"]["roc_auc"] is None and m["per_class"]["c"]["support"] == 0

    one = evaluation.classification_metrics(np.zeros(5, int), np.full((5, 3), 1 / 3), ["a", "b", "c"])
    assert one["roc_auc"] is None and "undefined" in one["roc_auc_info"]["note"]
    assert one["roc_auc_info"]["skipped"] == ["a", "b", "c"]


# Four predictions: confidences 0.9 (right), 0.9 (wrong), 0.7 (right), 0.45 (wrong).
CALIBRATION_Y = np.array([0, 1, 1, 2])
CALIBRATION_P = np.array([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.45, 0.35, 0.2]])


def test_expected_calibration_error_by_hand():
    # 15 bins: 0.9 -> (0.867, 0.933]: |0.5 - 0.9| * 2/4; 0.7 -> (0.667, 0.733]: |1 - 0.7| / 4;
    # 0.45 -> (0.4, 0.467]: |0 - 0.45| / 4.
    m = evaluation.classification_metrics(CALIBRATION_Y, CALIBRATION_P, ["a", "b", "c"])
    assert m["ece"] == pytest.approx(0.2 + 0.075 + 0.1125)
    assert m["calibration"]["bins"] == 15
    bins = m["calibration"]["reliability"]
    assert len(bins) == 15 and sum(b["count"] for b in bins) == 4
    assert bins[13] == {"lower": pytest.approx(13 / 15), "upper": pytest.approx(14 / 15), "count": 2,
                        "accuracy": 0.5, "confidence": pytest.approx(0.9)}
    assert bins[0]["accuracy"] is None
    # One bin: |accuracy 0.5 - mean confidence 0.7375|.
    ece, _ = evaluation.expected_calibration_error(CALIBRATION_Y, CALIBRATION_P, bins=1)
    assert ece == pytest.approx(0.2375)
    # Upper edges are inclusive: confidence 0.5 belongs to (0.4, 0.5] with 10 bins.
    _, rel = evaluation.expected_calibration_error(np.array([0]), np.array([[0.5, 0.5]]), bins=10)
    assert rel[4]["count"] == 1


def test_confidence_quartiles_by_predicted_class_by_hand():
    m = evaluation.classification_metrics(CALIBRATION_Y, CALIBRATION_P, ["a", "b", "c"])
    conf = m["confidence_by_class"]
    # Predicted as "a": 0.45, 0.9, 0.9 (numpy linear percentiles).
    assert conf["a"] == {"n": 3, "mean": pytest.approx(0.75), "min": pytest.approx(0.45),
                         "q1": pytest.approx(0.675), "median": pytest.approx(0.9),
                         "q3": pytest.approx(0.9), "max": pytest.approx(0.9)}
    assert conf["b"]["n"] == 1 and conf["b"]["q1"] == pytest.approx(0.7)
    assert conf["c"] == {"n": 0, "mean": None, "min": None, "q1": None, "median": None, "q3": None,
                         "max": None}


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match="probabilities must be"):
        evaluation.classification_metrics(np.array([0, 1]), np.ones((2, 3)) / 3, ["a", "b"])


def write_history(path, rows=4):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "accuracy", "f1_macro", "loss", "mcc", "val_accuracy", "val_f1_macro",
                    "val_loss", "val_mcc"])
        for e in range(rows):
            w.writerow([e, 0.5 + 0.1 * e, 0.4 + 0.1 * e, 1 - 0.2 * e, 0.3, 0.5, 0.5 + 0.05 * (e % 3), 0.9, 0.3])
    return path


def test_write_evaluation_writes_metrics_plots_and_report(tmp_path):
    y, p = random_predictions(n=120, c=3, seed=3)
    names = ["account", "billing", "shipping"]
    write_history(tmp_path / "history.csv")
    (tmp_path / "data_report.json").write_text(json.dumps({"train": {"rows": 96, "labels": 3},
                                                           "test": {"rows": 120, "labels": 3}}))
    m = evaluation.write_evaluation(tmp_path, y, p, names, split="test",
                                  extra={"train_examples_per_sec": 12.5, "epochs_run": 4})
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(m))
    assert saved["split"] == "test" and saved["train_examples_per_sec"] == 12.5
    for name in ("learning_curves.png", "confusion_matrix.png", "confidence_by_class.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, name
    report = (tmp_path / "report.md").read_text()
    for text in ("## Metrics", "## Per class", "## Confusion matrix", "## Confidence by predicted class",
                 "## Calibration", "![learning curves](learning_curves.png)",
                 "![confusion matrix](confusion_matrix.png)", "![confidence by class](confidence_by_class.png)",
                 "train_examples_per_sec", "## Data", "| train | 96 | 3 |", f"| accuracy | {m['accuracy']:.4f} |"):
        assert text in report, text
    assert not list(tmp_path.glob(".*.tmp"))


def test_write_evaluation_without_history_has_no_learning_curves(tmp_path):
    y, p = random_predictions(n=50, c=3, seed=4)
    evaluation.write_evaluation(tmp_path, y, p, ["a", "b", "c"], split="validation")
    assert not (tmp_path / "learning_curves.png").exists()
    assert "Learning curves" not in (tmp_path / "report.md").read_text()
    assert (tmp_path / "confusion_matrix.png").is_file()


def test_run_data_config_reads_new_files_like_the_run_but_not_its_files(tmp_path):
    from tfclf.config import DataConfig, RunConfig, save_yaml

    run = tmp_path / "run"
    run.mkdir()
    save_yaml(RunConfig(data=DataConfig(train="train.tsv", test="test.tsv", delimiter="tab",
                                        text_column=("body",), label_column=("queue",), lowercase=True)),
              run / "config.yaml")
    data = evaluation.run_data_config(run)
    assert (data.delimiter, data.text_column, data.label_column, data.lowercase) == ("\t", ("body",),
                                                                                     ("queue",), True)
    assert (data.data, data.train, data.validation, data.test) == (None, None, None, None)
    assert evaluation.run_data_config(run, overrides={"text_column": ("text",)}).text_column == ("text",)
    assert evaluation.run_data_config(tmp_path / "no_config") == DataConfig()  # the defaults


# ------------------------------------------------------------------------------- multi-label

# Four examples, three labels; "c" has no true example. At 0.5 the predictions are
# {a}, {a}, {b, c}, {}: a 2 TP; b 1 TP, 1 FN (e1's 0.4); c 1 FP.
ML_NAMES = ["a", "b", "c"]
ML_Y = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]])
ML_P = np.array([[0.9, 0.45, 0.1], [0.6, 0.4, 0.3], [0.3, 0.7, 0.6], [0.2, 0.1, 0.2]])


def test_multilabel_metrics_by_hand():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # label c (no positives) must not warn: its AUCs are skipped, MCC 0
        m = evaluation.multilabel_metrics(ML_Y, ML_P, ML_NAMES)
    assert m["task"] == "multi-label" and m["n_examples"] == 4 and m["labels"] == ML_NAMES
    # micro: TP 3, FP 1, FN 1.
    assert m["f1_micro"] == pytest.approx(0.75)
    assert (m["precision_micro"], m["recall_micro"]) == (pytest.approx(0.75), pytest.approx(0.75))
    assert m["f1_macro"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert m["f1_weighted"] == pytest.approx((2 * 1 + 2 * 2 / 3) / 4)  # c has support 0
    assert m["f1_samples"] == pytest.approx((1 + 2 / 3 + 2 / 3 + 0) / 4)  # e3: nothing true or predicted -> 0
    assert m["subset_accuracy"] == m["accuracy"] == pytest.approx(0.5)  # e0 and e3 exactly right
    assert m["hamming_loss"] == pytest.approx(2 / 12)  # e1/b and e2/c wrong
    assert m["cardinality"] == {"true": 1.0, "predicted": 1.0}
    assert m["per_label"]["b"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2,
                                   "predicted": 1, "accuracy": 0.75, "mcc": pytest.approx(1 / np.sqrt(3)),
                                   "roc_auc": 0.75, "pr_auc": pytest.approx(5 / 6), "threshold": 0.5}
    assert m["per_label"]["a"]["roc_auc"] == 1.0 and m["per_label"]["a"]["mcc"] == pytest.approx(1.0)
    c = m["per_label"]["c"]
    assert (c["support"], c["predicted"], c["f1"], c["mcc"], c["roc_auc"], c["pr_auc"]) == (0, 1, 0.0, 0.0,
                                                                                           None, None)
    assert m["mcc"] == pytest.approx((1 + 1 / np.sqrt(3) + 0) / 3)
    assert m["roc_auc"] == pytest.approx((1 + 0.75) / 2) and m["pr_auc"] == pytest.approx((1 + 5 / 6) / 2)
    assert m["roc_auc_info"]["skipped"] == ["c"] and m["roc_auc_info"]["classes"] == ["a", "b"]
    assert m["thresholds"] == {"a": 0.5, "b": 0.5, "c": 0.5} and m["threshold_strategy"] == "fixed"
    json.dumps(m)  # serialisable: no numpy scalars


def test_multilabel_thresholds_decide_the_predictions():
    # b's threshold 0.4: e1's 0.4 is predicted (at or above), and so is e0's 0.45 (a false positive).
    m = evaluation.multilabel_metrics(ML_Y, ML_P, ML_NAMES, thresholds=np.array([0.5, 0.4, 0.5], np.float32),
                                      threshold_strategy="per-label-f1")
    assert m["per_label"]["b"]["predicted"] == 3 and m["per_label"]["b"]["f1"] == pytest.approx(0.8)
    assert m["f1_micro"] == pytest.approx(0.8)  # TP 4, FP 2, FN 0
    assert m["f1_macro"] == pytest.approx((1 + 0.8 + 0) / 3)
    assert m["subset_accuracy"] == pytest.approx(0.5)  # e1 now right, e0 now wrong
    assert m["thresholds"] == {"a": 0.5, "b": 0.4, "c": 0.5}  # float32 shown as 0.4, not 0.4000000059
    assert m["per_label"]["b"]["threshold"] == 0.4 and m["threshold_strategy"] == "per-label-f1"
    # Raising c's threshold above 0.6 removes the one false positive of c.
    high_c = evaluation.multilabel_metrics(ML_Y, ML_P, ML_NAMES, thresholds=[0.5, 0.5, 0.65])
    assert high_c["per_label"]["c"]["predicted"] == 0 and high_c["subset_accuracy"] == pytest.approx(0.75)
    # The threshold-free AUCs do not move.
    assert m["roc_auc"] == high_c["roc_auc"] == pytest.approx(0.875)


def test_multilabel_metrics_equal_sklearn():
    rng = np.random.default_rng(5)
    y = (rng.random((200, 5)) < 0.3).astype(int)
    p = np.clip(y * 0.4 + rng.random((200, 5)) * 0.6, 0, 1)
    thresholds = np.array([0.3, 0.4, 0.5, 0.6, 0.7])
    m = evaluation.multilabel_metrics(y, p, list("vwxyz"), thresholds=thresholds)
    pred = (p.astype(np.float32) >= thresholds.astype(np.float32)).astype(int)
    for avg in ("micro", "macro", "weighted", "samples"):
        assert m[f"f1_{avg}"] == pytest.approx(skm.f1_score(y, pred, average=avg, zero_division=0))
        assert m[f"precision_{avg}"] == pytest.approx(skm.precision_score(y, pred, average=avg, zero_division=0))
        assert m[f"recall_{avg}"] == pytest.approx(skm.recall_score(y, pred, average=avg, zero_division=0))
    assert m["subset_accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["hamming_loss"] == pytest.approx(skm.hamming_loss(y, pred))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p, average="macro"))
    assert m["pr_auc"] == pytest.approx(skm.average_precision_score(y, p, average="macro"))
    assert m["mcc"] == pytest.approx(np.mean([skm.matthews_corrcoef(y[:, c], pred[:, c]) for c in range(5)]))


def test_multilabel_with_one_label_is_not_read_as_binary():
    y = np.array([[1], [0], [1], [0]])
    p = np.array([[0.8], [0.7], [0.2], [0.1]])  # TP, FP, FN, TN
    m = evaluation.multilabel_metrics(y, p, ["only"])
    assert m["f1_micro"] == m["f1_macro"] == m["per_label"]["only"]["f1"] == pytest.approx(0.5)
    assert m["f1_samples"] == pytest.approx(0.25)  # only e0 has its label set right and non-empty
    assert m["per_label"]["only"]["support"] == 2 and m["subset_accuracy"] == pytest.approx(0.5)


def test_multilabel_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="must both be"):
        evaluation.multilabel_metrics(ML_Y, ML_P[:, :2], ML_NAMES)
    with pytest.raises(ValueError, match="0/1"):
        evaluation.multilabel_metrics(ML_Y * 2, ML_P, ML_NAMES)
    with pytest.raises(ValueError, match="one per label"):
        evaluation.multilabel_metrics(ML_Y, ML_P, ML_NAMES, thresholds=[0.5, 0.5])


def test_format_table_multilabel():
    m = evaluation.multilabel_metrics(ML_Y, ML_P, ML_NAMES, thresholds=[0.5, 0.4, 0.5],
                                      threshold_strategy="per-label-f1")
    table = evaluation.format_table(m, "test")
    lines = table.splitlines()
    assert lines[0] == "Metrics on the test split (4 examples, multi-label, 3 labels, thresholds: per-label-f1)"
    assert "  f1_micro         0.8000" in lines and "  subset_accuracy  0.5000" in lines
    assert "  hamming_loss     0.1667" in lines and "  f1_samples       0.5833" in lines  # (2/3 + 1 + 2/3 + 0) / 4
    assert "  labels/example   1.000 true, 1.500 predicted" in lines
    assert any(line.split() == ["label", "precision", "recall", "f1", "support", "predicted", "threshold"]
               for line in lines)
    assert any(line.split() == ["b", "0.6667", "1.0000", "0.8000", "2", "3", "0.4000"] for line in lines)


def test_write_evaluation_multilabel_writes_metrics_plots_and_report(tmp_path):
    rng = np.random.default_rng(6)
    names = ["billing", "bug", "shipping", "urgent"]
    y = (rng.random((80, 4)) < 0.35).astype(np.float32)
    y[:, 3] = 0  # "urgent" never true
    p = np.clip(y * 0.5 + rng.random((80, 4)) * 0.5, 0, 1)
    with open(tmp_path / "history.csv", "w") as f:
        f.write("epoch,accuracy,f1_macro,f1_micro,loss,mcc,val_accuracy,val_f1_macro,val_f1_micro,val_loss,val_mcc\n"
                "0,0.2,0.3,0.35,0.7,0.1,0.25,0.3,0.4,0.65,0.2\n1,0.4,0.5,0.55,0.5,0.3,0.35,0.45,0.5,0.6,0.3\n")
    m = evaluation.write_evaluation(tmp_path, y, p, names, split="test", multi_label=True,
                                    thresholds=[0.5, 0.55, 0.6, 0.5], threshold_strategy="per-label-f1",
                                    extra={"train_examples_per_sec": 9.5}, monitor="val_f1_micro")
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(m))
    assert saved["task"] == "multi-label" and saved["split"] == "test" and saved["train_examples_per_sec"] == 9.5
    assert saved["thresholds"] == {"billing": 0.5, "bug": 0.55, "shipping": 0.6, "urgent": 0.5}
    assert saved["roc_auc_info"]["skipped"] == ["urgent"]
    for name in ("learning_curves.png", "per_label_metrics.png", "probabilities_by_label.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, name
    assert not (tmp_path / "confusion_matrix.png").exists() and not (tmp_path / "confidence_by_class.png").exists()
    report = (tmp_path / "report.md").read_text()
    bug = m["per_label"]["bug"]
    for text in ("## Metrics", f"| F1 (micro) | {m['f1_micro']:.4f} |",
                 f"| subset accuracy | {m['subset_accuracy']:.4f} |",
                 f"| Hamming loss (lower is better) | {m['hamming_loss']:.4f} |", "`per-label-f1`",
                 "Label cardinality (mean labels per example): "
                 f"{m['cardinality']['true']:.3f} true, {m['cardinality']['predicted']:.3f} predicted.",
                 "## Per label", "| label | precision | recall | F1 | support | predicted | accuracy | MCC | ROC-AUC "
                 "| PR-AUC | threshold |",
                 f"| bug | {bug['precision']:.4f} | {bug['recall']:.4f} | {bug['f1']:.4f} | {bug['support']} | "
                 f"{bug['predicted']} | {bug['accuracy']:.4f} | {bug['mcc']:.4f} | {bug['roc_auc']:.4f} | "
                 f"{bug['pr_auc']:.4f} | 0.5500 |",
                 "![per-label metrics](per_label_metrics.png)", "![probabilities by label](probabilities_by_label.png)",
                 "![learning curves](learning_curves.png)", "| train_examples_per_sec | 9.500 |", "['urgent']"):
        assert text in report, text
    for absent in ("Confusion matrix", "confidence", "| thresholds", "threshold_strategy", "cardinality |"):
        assert absent not in report, absent
    assert not list(tmp_path.glob(".*.tmp"))


def test_single_label_payload_names_its_task():
    y, p = random_predictions(n=20, c=3, seed=7)
    assert evaluation.classification_metrics(y, p, ["a", "b", "c"])["task"] == "single-label"


# ----------------------------------------------------------------------------------- bootstrap

def test_bootstrap_of_perfect_and_inverted_predictions_is_exact():
    y = np.array([0, 1, 2, 1, 0, 2, 2, 1] * 5)
    right = evaluation.bootstrap_intervals(y, y, 200, seed=0)
    for metric in ("accuracy", "f1_macro", "mcc"):
        assert right[metric] == {"low": 1.0, "high": 1.0, "std": 0.0, "n_resamples": 200, "confidence": 0.95,
                                 "seed": 0}
    binary = y % 2
    wrong = evaluation.bootstrap_intervals(binary, 1 - binary, 200, seed=0)
    assert (wrong["accuracy"]["low"], wrong["accuracy"]["high"]) == (0.0, 0.0)
    assert wrong["mcc"]["low"] == pytest.approx(-1.0) and wrong["mcc"]["high"] == pytest.approx(-1.0)


def test_bootstrap_accuracy_matches_the_binomial_standard_error():
    n, p = 400, 0.8
    y = np.arange(n) % 3
    pred = np.where(np.arange(n) < p * n, y, (y + 1) % 3)  # exactly 320 of 400 right
    ci = evaluation.bootstrap_intervals(y, pred, 2000, seed=1)["accuracy"]
    se = np.sqrt(p * (1 - p) / n)
    assert ci["std"] == pytest.approx(se, rel=0.15)
    assert ci["low"] < p < ci["high"]
    assert ci["high"] - ci["low"] == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_bootstrap_intervals_are_percentiles_of_sklearn_on_each_resample():
    # The resamples are documented: default_rng(seed).integers(0, N, size=(n, N)), here one block.
    y, probs = random_predictions(n=60, c=4, seed=8, skill=1.0)
    y[y == 3] = 2  # label 3 is in the label set but never true: macro-F1 still averages over it
    pred = probs.argmax(1)
    ci = evaluation.bootstrap_intervals(y, pred, 150, seed=5, confidence=0.9, n_classes=4)
    idx = np.random.default_rng(5).integers(0, 60, size=(150, 60))
    expected = {
        "accuracy": [skm.accuracy_score(y[i], pred[i]) for i in idx],
        "f1_macro": [skm.f1_score(y[i], pred[i], labels=[0, 1, 2, 3], average="macro", zero_division=0)
                     for i in idx],
        "mcc": [skm.matthews_corrcoef(y[i], pred[i]) for i in idx],
    }
    for metric, values in expected.items():
        low, high = np.percentile(values, [5, 95])
        assert (ci[metric]["low"], ci[metric]["high"]) == (pytest.approx(low), pytest.approx(high)), metric
        assert ci[metric]["std"] == pytest.approx(np.std(values, ddof=1)), metric
        assert ci[metric]["confidence"] == 0.9


def test_bootstrap_intervals_contain_the_point_estimates():
    y, probs = random_predictions(n=300, c=4, seed=9, skill=1.2)
    m = evaluation.classification_metrics(y, probs, ["w", "x", "y", "z"])
    ci = evaluation.bootstrap_intervals(y, probs.argmax(1), 500, seed=42, n_classes=4)
    for metric in ("accuracy", "f1_macro", "mcc"):
        assert ci[metric]["low"] < m[metric] < ci[metric]["high"], metric
        assert 0 < ci[metric]["std"] < 0.1


def test_bootstrap_multilabel_is_percentiles_of_multilabel_metrics():
    rng = np.random.default_rng(10)
    y = (rng.random((40, 3)) < 0.4).astype(int)
    y[:, 2] = 0  # a label never true: its F1 is 0, its MCC 0
    pred = np.where(rng.random((40, 3)) < 0.8, y, 1 - y)
    ci = evaluation.bootstrap_intervals(y, pred, 120, seed=3)
    assert set(ci) == {"f1_micro", "f1_macro", "subset_accuracy", "mcc"}
    idx = np.random.default_rng(3).integers(0, 40, size=(120, 40))
    per_resample = [evaluation.multilabel_metrics(y[i], pred[i].astype(float), ["a", "b", "c"]) for i in idx]
    for metric in ci:
        low, high = np.percentile([m[metric] for m in per_resample], [2.5, 97.5])
        assert (ci[metric]["low"], ci[metric]["high"]) == (pytest.approx(low), pytest.approx(high)), metric


def test_bootstrap_is_reproducible_by_seed_and_bounded_in_memory():
    rng = np.random.default_rng(11)
    y = rng.integers(0, 5, 25_000)
    pred = np.where(rng.random(25_000) < 0.7, y, rng.integers(0, 5, 25_000))
    first = evaluation.bootstrap_intervals(y, pred, 100, seed=7)
    assert evaluation.bootstrap_intervals(y, pred, 100, seed=7) == first
    other = evaluation.bootstrap_intervals(y, pred, 100, seed=8)
    assert other["accuracy"]["low"] != first["accuracy"]["low"] and other["mcc"]["std"] != first["mcc"]["std"]
    assert other["accuracy"]["seed"] == 8
    # 25,000 examples x 1000 resamples: 25 million indices, 200 MB as one int64 array, drawn in blocks.
    tracemalloc.start()
    try:
        evaluation.bootstrap_intervals(y, pred, 1000, seed=7)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 80e6


@pytest.mark.parametrize("args, message", [
    ((np.array([], int), np.array([], int), 100, 0), "at least one example"),
    ((np.array([0, 1]), np.array([0, 1, 1]), 100, 0), "must both be"),
    ((np.array([0, 1]), np.array([0, 1]), 0, 0), "n must be >= 1"),
])
def test_bootstrap_rejects_what_it_cannot_resample(args, message):
    with pytest.raises(ValueError, match=message):
        evaluation.bootstrap_intervals(*args)


def test_write_evaluation_with_bootstrap_writes_intervals_to_metrics_table_and_report(tmp_path):
    y, p = random_predictions(n=150, c=3, seed=12)
    names = ["account", "billing", "shipping"]
    m = evaluation.write_evaluation(tmp_path, y, p, names, split="test", plots=False, bootstrap=300,
                                    bootstrap_seed=42)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["bootstrap"] == evaluation.bootstrap_intervals(y, p.argmax(1), 300, 42, n_classes=3)
    assert set(saved["bootstrap"]) == {"accuracy", "f1_macro", "mcc"}
    acc = saved["bootstrap"]["accuracy"]
    lines = evaluation.format_table(m, "test").splitlines()
    assert lines[0] == "Metrics on the test split (150 examples; CIs: 300 bootstrap resamples, seed 42)"
    assert f"  accuracy         {m['accuracy']:.4f}  95% CI [{acc['low']:.4f}, {acc['high']:.4f}]" in lines
    assert any(line.startswith("  mcc ") and "95% CI [" in line for line in lines)
    assert not any(line.startswith("  f1_weighted") and "CI" in line for line in lines)
    report = (tmp_path / "report.md").read_text()
    assert f"| accuracy | {m['accuracy']:.4f} (95% CI {acc['low']:.4f}–{acc['high']:.4f}) |" in report
    assert "95% CI: percentile bootstrap interval over 300 resamples of the 150 examples (seed 42)" in report

    plain = evaluation.write_evaluation(tmp_path / "plain", y, p, names, split="test", plots=False)
    assert "bootstrap" not in plain and "CI" not in evaluation.format_table(plain, "test")


def test_write_evaluation_multilabel_with_bootstrap(tmp_path):
    m = evaluation.write_evaluation(tmp_path, ML_Y, ML_P, ML_NAMES, split="test", plots=False, multi_label=True,
                                    thresholds=[0.5, 0.4, 0.5], bootstrap=100, bootstrap_seed=3)
    pred = (ML_P >= np.array([0.5, 0.4, 0.5])).astype(int)
    assert m["bootstrap"] == evaluation.bootstrap_intervals(ML_Y, pred, 100, 3)
    table = evaluation.format_table(m, "test")
    assert "CIs: 100 bootstrap resamples, seed 3" in table.splitlines()[0]
    assert "  f1_micro         0.8000  95% CI [" in table
    report = (tmp_path / "report.md").read_text()
    f1 = m["bootstrap"]["f1_micro"]
    assert f"| F1 (micro) | 0.8000 (95% CI {f1['low']:.4f}–{f1['high']:.4f}) |" in report


# ---------------------------------------------------------------------- group level (--eval-group-by)

# u1: three examples of "b" whose argmaxes say a, a, b (a majority vote says "a"), but whose
# mean probability of "b" is 0.6167; u2: two of "a", mean 0.3 for "b"; u3: one "b" at 0.35.
GROUPS = ["u1", "u1", "u1", "u2", "u2", "u3"]
Y_GROUPED = np.array([1, 1, 1, 0, 0, 1])
P_B = np.array([0.45, 0.45, 0.95, 0.2, 0.4, 0.35])
P_GROUPED = np.stack([1 - P_B, P_B], axis=1)


def test_group_level_averages_probabilities_which_can_flip_a_majority_vote():
    level = evaluation.group_level_metrics(GROUPS, Y_GROUPED, P_GROUPED, ["a", "b"], group_by="user")
    assert (level["group_by"], level["n_groups"]) == ("user", 3)
    assert level["examples_per_group"] == {"min": 1, "median": 2.0, "max": 3}
    # Groups predicted b (mean 0.6167), a (0.3), a (0.35) against b, a, b: 2 of 3 right;
    # a majority vote of the examples' argmaxes (a, a, a) would get 1 of 3.
    assert level["accuracy"] == pytest.approx(2 / 3)
    assert level["confusion_matrix"] == [[1, 0], [1, 1]]
    # a: P 1/2, R 1; b: P 1, R 1/2; both F1 2/3. MCC: (1*1 - 0*1) / sqrt(1*2*1*2) = 0.5.
    assert level["f1_macro"] == pytest.approx(2 / 3) and level["mcc"] == pytest.approx(0.5)
    assert level["per_class"]["b"]["support"] == 2 and "n_examples" not in level
    means = np.array([[1.15 / 3, 1.85 / 3], [0.7, 0.3], [0.65, 0.35]])
    expected = evaluation.classification_metrics(np.array([1, 0, 1]), means, ["a", "b"])
    for key in ("accuracy", "f1_macro", "mcc", "roc_auc", "ece"):
        assert level[key] == pytest.approx(expected[key]), key
    assert level["per_class"] == expected["per_class"] and level["confusion_matrix"] == expected["confusion_matrix"]
    example_level = evaluation.classification_metrics(Y_GROUPED, P_GROUPED, ["a", "b"])
    assert example_level["accuracy"] == pytest.approx(0.5)


def test_group_level_multilabel_averages_each_label_then_applies_its_threshold():
    # g1: mean [0.45, 0.35] -> x below 0.5, y at or above 0.3: {y}, its examples' set; each of
    # its examples alone predicts the wrong set or the right one. g2: {x}.
    y = np.array([[0, 1], [0, 1], [1, 0]])
    p = np.array([[0.6, 0.2], [0.3, 0.5], [0.9, 0.1]])
    level = evaluation.group_level_metrics(["g1", "g1", "g2"], y, p, ["x", "y"], group_by="account",
                                           multi_label=True, thresholds=[0.5, 0.3])
    assert level["n_groups"] == 2 and level["task"] == "multi-label"
    assert level["subset_accuracy"] == 1.0 and level["f1_micro"] == 1.0
    assert level["per_label"]["y"]["predicted"] == 1 and level["thresholds"] == {"x": 0.5, "y": 0.3}
    assert evaluation.multilabel_metrics(y, p, ["x", "y"], thresholds=[0.5, 0.3])["subset_accuracy"] == \
        pytest.approx(2 / 3)


def test_group_level_refuses_a_group_whose_examples_disagree_on_the_label():
    from tfclf.errors import TfclfError

    y = np.array([1, 0, 1, 0, 0, 1])  # u1's examples: b, a, b
    with pytest.raises(TfclfError, match=r"--eval-group-by 'user': group 'u1' has examples with different "
                                         r"labels: 'b', 'a' \(1 of 3 groups disagree\)"):
        evaluation.group_level_metrics(GROUPS, y, P_GROUPED, ["a", "b"], group_by="user")
    with pytest.raises(TfclfError, match=r"group 'g1' has examples with different labels: "
                                         r"\['y'\], \['x'\] \(1 of 1 groups"):
        evaluation.group_level_metrics(["g1", "g1"], np.array([[0, 1], [1, 0]]), np.full((2, 2), 0.5),
                                       ["x", "y"], group_by="g", multi_label=True)


def test_group_level_bootstrap_resamples_groups():
    level = evaluation.group_level_metrics(GROUPS, Y_GROUPED, P_GROUPED, ["a", "b"], group_by="user",
                                           bootstrap=200, bootstrap_seed=7)
    expected = evaluation.bootstrap_intervals(np.array([1, 0, 1]), np.array([1, 0, 0]), 200, 7, n_classes=2)
    assert level["bootstrap"] == expected


def test_write_evaluation_with_groups_writes_group_level_table_and_report(tmp_path):
    metrics = evaluation.write_evaluation(tmp_path, Y_GROUPED, P_GROUPED, ["a", "b"], split="test",
                                          groups=GROUPS, group_by="user", bootstrap=100, bootstrap_seed=1)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["group_level"]["n_groups"] == 3 and saved["n_examples"] == 6
    assert saved["group_level"]["bootstrap"]["accuracy"]["n_resamples"] == 100
    table = evaluation.format_table(metrics, "test")
    assert "Group level by user (3 groups of 1-3 examples, median 2" in table
    assert "    accuracy       0.6667  95% CI [" in table and "    f1_macro       0.6667" in table
    report_md = (tmp_path / "report.md").read_text()
    assert "## Group level" in report_md and "form 3 groups by `user`" in report_md
    assert "| accuracy | 0.5000 (95% CI" in report_md and "resamples of the 3 groups" in report_md
    assert "### group_level" not in report_md  # its own section, not the generic JSON dump
    without = evaluation.write_evaluation(tmp_path / "plain", Y_GROUPED, P_GROUPED, ["a", "b"], split="test")
    assert "group_level" not in without and "Group level" not in evaluation.format_table(without, "test")


def test_format_table_multilabel_mentions_group_level(tmp_path):
    y = np.array([[0, 1], [0, 1], [1, 0]])
    p = np.array([[0.6, 0.2], [0.3, 0.5], [0.9, 0.1]])
    metrics = evaluation.write_evaluation(tmp_path, y, p, ["x", "y"], split="test", multi_label=True,
                                          thresholds=[0.5, 0.3], groups=["g1", "g1", "g2"], group_by="row",
                                          plots=False)
    table = evaluation.format_table(metrics, "test")
    assert "Group level by row (2 groups of 1-2 examples" in table
    assert "    subset_accuracy1.0000" in table.replace(" 1.0000", "1.0000")
    assert "## Group level" in (tmp_path / "report.md").read_text()
