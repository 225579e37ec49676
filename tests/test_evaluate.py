import csv
import json

import numpy as np
import pytest
from sklearn import metrics as skm

from tfclf import evaluate


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
    m = evaluate.classification_metrics(y, probs, ["a", "b", "c"])
    for key in ("accuracy", "f1_macro", "f1_weighted", "precision_macro", "recall_macro", "mcc",
                "per_class", "confusion_matrix", "n_examples", "roc_auc", "ece", "confidence_by_class"):
        assert key in m
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert {k: v for k, v in m["per_class"]["b"].items() if k != "roc_auc"} == {
        "precision": pytest.approx(2 / 3), "recall": 1.0, "f1": pytest.approx(0.8), "support": 2}
    assert m["n_examples"] == 6
    evaluate.write_metrics(m, tmp_path / "metrics.json")
    assert json.loads((tmp_path / "metrics.json").read_text())["accuracy"] == pytest.approx(4 / 6)
    table = evaluate.format_table(m, "test")
    assert "accuracy" in table and "0.6667" in table and "support" in table and "roc_auc" in table


def test_multiclass_metrics_equal_sklearn():
    y, p = random_predictions()
    names = ["w", "x", "y", "z"]
    m = evaluate.classification_metrics(y, p, names)
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
    m = evaluate.classification_metrics(y, p, ["neg", "pos"])
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p[:, 1]))
    assert m["roc_auc_info"]["average"] == "binary"


def test_classes_absent_from_the_truth_are_skipped_not_fatal():
    y, p = random_predictions(c=4, seed=2)
    keep = y != 2  # class "c" never occurs in the truth, but the model may still predict it
    y, p = y[keep], p[keep]
    m = evaluate.classification_metrics(y, p, ["a", "b", "c", "d"])
    expected = np.mean([skm.roc_auc_score(y == i, p[:, i]) for i in (0, 1, 3)])
    assert m["roc_auc"] == pytest.approx(expected)
    assert m["roc_auc_info"]["skipped"] == ["c"] and m["roc_auc_info"]["classes"] == ["a", "b", "d"]
    assert "absent" in m["roc_auc_info"]["note"]
    assert m["per_class"]["c"]["roc_auc"] is None and m["per_class"]["c"]["support"] == 0

    one = evaluate.classification_metrics(np.zeros(5, int), np.full((5, 3), 1 / 3), ["a", "b", "c"])
    assert one["roc_auc"] is None and "undefined" in one["roc_auc_info"]["note"]
    assert one["roc_auc_info"]["skipped"] == ["a", "b", "c"]


# Four predictions: confidences 0.9 (right), 0.9 (wrong), 0.7 (right), 0.45 (wrong).
CALIBRATION_Y = np.array([0, 1, 1, 2])
CALIBRATION_P = np.array([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.45, 0.35, 0.2]])


def test_expected_calibration_error_by_hand():
    # 15 bins: 0.9 -> (0.867, 0.933]: |0.5 - 0.9| * 2/4; 0.7 -> (0.667, 0.733]: |1 - 0.7| / 4;
    # 0.45 -> (0.4, 0.467]: |0 - 0.45| / 4.
    m = evaluate.classification_metrics(CALIBRATION_Y, CALIBRATION_P, ["a", "b", "c"])
    assert m["ece"] == pytest.approx(0.2 + 0.075 + 0.1125)
    assert m["calibration"]["bins"] == 15
    bins = m["calibration"]["reliability"]
    assert len(bins) == 15 and sum(b["count"] for b in bins) == 4
    assert bins[13] == {"lower": pytest.approx(13 / 15), "upper": pytest.approx(14 / 15), "count": 2,
                        "accuracy": 0.5, "confidence": pytest.approx(0.9)}
    assert bins[0]["accuracy"] is None
    # One bin: |accuracy 0.5 - mean confidence 0.7375|.
    ece, _ = evaluate.expected_calibration_error(CALIBRATION_Y, CALIBRATION_P, bins=1)
    assert ece == pytest.approx(0.2375)
    # Upper edges are inclusive: confidence 0.5 belongs to (0.4, 0.5] with 10 bins.
    _, rel = evaluate.expected_calibration_error(np.array([0]), np.array([[0.5, 0.5]]), bins=10)
    assert rel[4]["count"] == 1


def test_confidence_quartiles_by_predicted_class_by_hand():
    m = evaluate.classification_metrics(CALIBRATION_Y, CALIBRATION_P, ["a", "b", "c"])
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
        evaluate.classification_metrics(np.array([0, 1]), np.ones((2, 3)) / 3, ["a", "b"])


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
    m = evaluate.write_evaluation(tmp_path, y, p, names, split="test",
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
    evaluate.write_evaluation(tmp_path, y, p, ["a", "b", "c"], split="validation")
    assert not (tmp_path / "learning_curves.png").exists()
    assert "Learning curves" not in (tmp_path / "report.md").read_text()
    assert (tmp_path / "confusion_matrix.png").is_file()


# ------------------------------------------------------------------- python -m tfclf.evaluate

KEYWORDS = {"billing": ["refund", "charge", "invoice"], "shipping": ["package", "delivery", "late"],
            "account": ["password", "login", "email"]}
FILLER = ["the", "my", "is", "and", "please", "help", "with", "a", "to", "it"]


def keyword_file(path, n, seed, delimiter=","):
    rng = np.random.default_rng(seed)
    labels = sorted(KEYWORDS)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(["body", "queue"])
        for i in range(n):
            words = list(rng.choice(FILLER, size=rng.integers(3, 9)))
            words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(KEYWORDS[labels[i % 3]])))
            w.writerow([" ".join(words), labels[i % 3]])
    return path


@pytest.fixture(scope="module")
def trained_run(tiny_bert, tmp_path_factory):
    import tfclf.fit  # noqa: F401  (the CLI module must not shadow the API call)
    from tfclf import train
    from tfclf.config import DataConfig, ModelConfig, OptimizerConfig, Pooling, RunConfig, TrainConfig

    tmp = tmp_path_factory.mktemp("evaluate")
    files = {name: keyword_file(tmp / f"{name}.tsv", n, seed, delimiter="\t")
             for name, n, seed in (("train", 90, 0), ("validation", 15, 1), ("test", 40, 2))}
    config = RunConfig(
        data=DataConfig(**{k: str(v) for k, v in files.items()}, text_column=("body",), label_column=("queue",)),
        model=ModelConfig(encoder=str(tiny_bert.root), seq_length=16, pooling=Pooling.MEAN),
        optimizer=OptimizerConfig(values=(1e-2, 3e-3), boundaries=(30,)),
        train=TrainConfig(epochs=2, batch_size=8, output_dir=str(tmp / "run")))
    return train.fit(config, verbose=0), files


def test_reevaluation_reproduces_the_training_time_numbers(trained_run, capsys):
    run, files = trained_run
    # The run's columns (body, queue) and tab delimiter come from its config.yaml.
    assert evaluate.main(["--model", str(run.output_dir), "--test", str(files["test"])]) == 0
    out_dir = run.output_dir / "eval-test"
    assert f"Evaluation directory: {out_dir}" in capsys.readouterr().out
    again = json.loads((out_dir / "metrics.json").read_text())
    before = json.loads((run.output_dir / "metrics.json").read_text())
    assert again["confusion_matrix"] == before["confusion_matrix"] and again["n_examples"] == 40
    for key in evaluate.SUMMARY_KEYS:
        assert again[key] == pytest.approx(before[key], abs=1e-6), key
    for label, stats in before["confidence_by_class"].items():
        assert again["confidence_by_class"][label] == pytest.approx(stats, abs=1e-6)
    for name in ("report.md", "confusion_matrix.png", "confidence_by_class.png", "learning_curves.png"):
        assert (out_dir / name).is_file(), name
    assert again["model"] == str(run.output_dir) and again["data"] == str(files["test"])


def test_reevaluation_flags_and_errors(trained_run, tmp_path, capsys):
    run, files = trained_run
    csv_file = tmp_path / "other.csv"
    csv_file.write_text("text,label\nplease refund my charge,billing\nmy package is late,shipping\n"
                        "reset my password,account\n")
    out = tmp_path / "eval"
    assert evaluate.main(["--model", str(run.output_dir), "--test", str(csv_file), "--text-column", "text",
                          "--label-column", "label", "--delimiter", ",", "--output-dir", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text())["n_examples"] == 3
    assert evaluate.main(["--model", str(run.output_dir), "--test", str(csv_file), "--text-column", "text",
                          "--label-column", "label", "--delimiter", ",", "--output-dir", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err

    unknown = tmp_path / "unknown.csv"
    unknown.write_text("text,label\nplease refund,refunds\nlate,shipping\nlost,lost\nlost again,lost\n")
    code = evaluate.main(["--model", str(run.output_dir), "--test", str(unknown), "--text-column", "text",
                          "--label-column", "label", "--delimiter", ",", "--output-dir", str(tmp_path / "u")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "2 label(s) the model does not know: ['lost (2 rows)', 'refunds (1 rows)']" in err
    assert "Known labels: ['account', 'billing', 'shipping']" in err
    assert not (tmp_path / "u").exists()

    assert evaluate.main(["--model", str(run.output_dir), "--test", str(csv_file), "--train", "x.csv"]) == 2
    assert "--train is not used" in capsys.readouterr().err
    assert evaluate.main(["--model", str(tmp_path), "--test", str(csv_file)]) == 2
    assert "is not a tfclf run directory" in capsys.readouterr().err
