import json

import numpy as np
import pytest

from tfclf import evaluate

from keyword_data import keyword_csv

# The summary metrics of metrics.json (tfclf.evaluation's schema) a re-evaluation must reproduce.
SUMMARY_KEYS = ("accuracy", "precision_macro", "precision_weighted", "recall_macro", "recall_weighted",
                "f1_macro", "f1_weighted", "mcc", "roc_auc", "ece")


# ------------------------------------------------------------------- python -m tfclf.evaluate


@pytest.fixture(scope="module")
def trained_run(tiny_bert, tmp_path_factory):
    import tfclf.fit  # noqa: F401  (the CLI module must not shadow the API call)
    from tfclf import training
    from tfclf.config import DataConfig, ModelConfig, OptimizerConfig, Pooling, RunConfig, TrainConfig

    tmp = tmp_path_factory.mktemp("evaluate")
    files = {name: keyword_csv(tmp / f"{name}.tsv", n, seed, header=("body", "queue"), delimiter="\t")
             for name, n, seed in (("train", 90, 0), ("validation", 15, 1), ("test", 40, 2))}
    config = RunConfig(
        data=DataConfig(**{k: str(v) for k, v in files.items()}, text_column=("body",), label_column=("queue",)),
        model=ModelConfig(encoder=str(tiny_bert.root), seq_length=16, pooling=Pooling.MEAN),
        optimizer=OptimizerConfig(values=(1e-2, 3e-3), boundaries=(30,)),
        train=TrainConfig(epochs=2, batch_size=8, output_dir=str(tmp / "run")))
    return training.fit(config, verbose=0), files


def test_reevaluation_reproduces_the_training_time_numbers(trained_run, capsys):
    run, files = trained_run
    # The run's columns (body, queue) and tab delimiter come from its config.yaml.
    assert evaluate.main(["--model", str(run.output_dir), "--test", str(files["test"])]) == 0
    out_dir = run.output_dir / "eval-test"
    assert f"Evaluation directory: {out_dir}" in capsys.readouterr().out
    again = json.loads((out_dir / "metrics.json").read_text())
    before = json.loads((run.output_dir / "metrics.json").read_text())
    assert again["confusion_matrix"] == before["confusion_matrix"] and again["n_examples"] == 40
    for key in SUMMARY_KEYS:
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

    # --bootstrap: intervals drawn with the run's --seed (42), validated as fit's flag, nothing written when bad.
    boot = tmp_path / "boot"
    assert evaluate.main(["--model", str(run.output_dir), "--test", str(files["test"]), "--bootstrap", "200",
                          "--output-dir", str(boot)]) == 0
    intervals = json.loads((boot / "metrics.json").read_text())["bootstrap"]
    assert set(intervals) == {"accuracy", "f1_macro", "mcc"}
    assert intervals["accuracy"]["n_resamples"] == 200 and intervals["accuracy"]["seed"] == 42
    assert "CIs: 200 bootstrap resamples, seed 42" in capsys.readouterr().out
    assert "(95% CI " in (boot / "report.md").read_text()
    assert evaluate.main(["--model", str(run.output_dir), "--test", str(csv_file), "--bootstrap", "50",
                          "--output-dir", str(tmp_path / "b50")]) == 2
    assert "--bootstrap must be 0 (off) or at least 100" in capsys.readouterr().err
    assert not (tmp_path / "b50").exists()

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


# ------------------------------------------------------- multi-label: python -m tfclf.evaluate
#
# Needs tfclf.fit to train multi-label runs (--label-separator): a run whose thresholds
# were tuned (per-label-f1) is re-evaluated from its saved_model/ and thresholds.json.
# Its own fixture, not conftest's multilabel_run: the test split must be a file on disk
# so that the re-evaluation can reproduce the training-time metrics.json.

ML_SUMMARY_KEYS = ("f1_micro", "f1_macro", "f1_weighted", "f1_samples", "precision_micro", "recall_micro",
                   "subset_accuracy", "accuracy", "hamming_loss", "mcc", "roc_auc", "pr_auc")


@pytest.fixture(scope="module")
def multilabel_eval_run(tiny_bert, tmp_path_factory):
    import tfclf.fit  # noqa: F401  (the CLI module must not shadow the API call)
    from tfclf import training
    from tfclf.config import (DataConfig, ModelConfig, OptimizerConfig, Pooling, RunConfig, ThresholdStrategy,
                              TrainConfig)
    from keyword_data import multilabel_keyword_csv

    tmp = tmp_path_factory.mktemp("evaluate-multilabel")
    files = {name: multilabel_keyword_csv(tmp / f"{name}.csv", n, seed)
             for name, n, seed in (("train", 120, 0), ("validation", 30, 1), ("test", 40, 2))}
    config = RunConfig(
        data=DataConfig(**{k: str(v) for k, v in files.items()}, text_column=("text",), label_column=("labels",),
                        label_separator="|"),
        model=ModelConfig(encoder=str(tiny_bert.root), seq_length=16, pooling=Pooling.MEAN),
        optimizer=OptimizerConfig(values=(1e-2, 3e-3), boundaries=(30,)),
        train=TrainConfig(epochs=2, batch_size=8, output_dir=str(tmp / "run"),
                          threshold_strategy=ThresholdStrategy.PER_LABEL_F1))
    return training.fit(config, verbose=0), files


def test_multilabel_reevaluation_reproduces_the_training_time_numbers(multilabel_eval_run, capsys):
    from keyword_data import multilabel_keyword_rows
    from tfclf import thresholds

    run, files = multilabel_eval_run
    assert evaluate.main(["--model", str(run.output_dir), "--test", str(files["test"])]) == 0
    out = capsys.readouterr().out
    assert "multi-label, 3 labels, thresholds: per-label-f1" in out and "subset_accuracy" in out
    out_dir = run.output_dir / "eval-test"
    again = json.loads((out_dir / "metrics.json").read_text())
    before = json.loads((run.output_dir / "metrics.json").read_text())
    assert again["task"] == before["task"] == "multi-label"
    with_labels = sum(1 for _, labels in multilabel_keyword_rows(40, 2) if labels)  # blank label cells drop
    assert again["n_examples"] == before["n_examples"] == with_labels
    saved = thresholds.load(run.output_dir)
    assert saved is not None and saved.strategy == "per-label-f1"
    assert again["thresholds"] == pytest.approx(saved.values, abs=1e-6)
    assert again["threshold_strategy"] == "per-label-f1"
    assert again["thresholds"] == pytest.approx(before["thresholds"], abs=1e-6)
    for key in ML_SUMMARY_KEYS:
        assert again[key] == pytest.approx(before[key], abs=1e-6), key
    for label, stats in before["per_label"].items():
        assert again["per_label"][label] == pytest.approx(stats, abs=1e-6), label
    assert again["cardinality"] == pytest.approx(before["cardinality"], abs=1e-6)
    for name in ("report.md", "per_label_metrics.png", "probabilities_by_label.png", "learning_curves.png"):
        assert (out_dir / name).is_file(), name
    assert "## Per label" in (out_dir / "report.md").read_text()


def test_multilabel_reevaluation_uses_thresholds_json_and_names_unknown_labels(
        multilabel_eval_run, tmp_path, capsys, caplog):
    import shutil

    from tfclf import evaluation, thresholds

    run, files = multilabel_eval_run
    copy = tmp_path / "run"
    shutil.copytree(run.output_dir, copy, ignore=shutil.ignore_patterns("eval-*"))
    names = json.loads((run.output_dir / "metrics.json").read_text())["labels"]
    thresholds.Thresholds({name: 0.999 for name in names}, "fixed").save(copy)
    with caplog.at_level("WARNING"):
        _, metrics = evaluation.evaluate_run(copy, files["test"], output_dir=tmp_path / "high")
    assert metrics["thresholds"] == {name: 0.999 for name in names}
    base = json.loads((run.output_dir / "metrics.json").read_text())
    assert metrics["cardinality"]["predicted"] < base["cardinality"]["predicted"]
    assert metrics["roc_auc"] == pytest.approx(base["roc_auc"], abs=1e-6)  # threshold-free
    assert "other label sets than its thresholds give" in caplog.text  # saved_model/ keeps the tuned ones
    (copy / "thresholds.json").unlink()  # absent: --threshold of the run's config (0.5), as the export does
    _, metrics = evaluation.evaluate_run(copy, files["test"], output_dir=tmp_path / "fixed")
    assert set(metrics["thresholds"].values()) == {0.5} and metrics["threshold_strategy"] == "fixed"

    unknown = tmp_path / "unknown.csv"
    unknown.write_text("text,labels\nplease refund,billing|refunds\nlate,shipping|lost\nlost again,lost\n")
    capsys.readouterr()  # the library calls above logged through the previous test's CLI handler
    code = evaluate.main(["--model", str(run.output_dir), "--test", str(unknown), "--output-dir", str(tmp_path / "u")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"--test {str(unknown)!r}: 2 label(s) the model does not know: ['lost (2 rows)', 'refunds (1 rows)']" in err
    assert f"Known labels: {names}" in err
    assert not (tmp_path / "u").exists()


# ------------------------------------------------------------------- --eval-group-by on new data

def test_eval_group_by_scores_the_files_groups(trained_run, tmp_path, capsys):
    from keyword_data import keyword_rows
    from tfclf import evaluation
    from tfclf.serving import loaded

    run, _ = trained_run
    users = ["ann", "ann", "bo", "cy", "cy", "cy", "", "dee"]
    labels = ["billing", "billing", "shipping", "account", "account", "account", "billing", "shipping"]
    rows = [(t, label, u) for (t, label), u in zip(keyword_rows(8, 3, labels=labels), users)]
    grouped = tmp_path / "grouped.tsv"
    grouped.write_text("body\tqueue\tuser\n" + "".join("\t".join(r) + "\n" for r in rows))
    out = tmp_path / "eval"
    assert evaluate.main(["--model", str(run.output_dir), "--test", str(grouped), "--eval-group-by", "user",
                          "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    level = json.loads((out / "metrics.json").read_text())["group_level"]
    # ann, bo, cy, dee, and the row with a blank user as a group of its own.
    assert level["n_groups"] == 5 and level["examples_per_group"] == {"min": 1, "median": 1.0, "max": 3}
    assert "Group level by user (5 groups of 1-3 examples, median 1" in printed
    _, probabilities = loaded.load(run.output_dir).predict([r[0] for r in rows])
    names = ["account", "billing", "shipping"]
    again = evaluation.group_level_metrics(["ann", "ann", "bo", "cy", "cy", "cy", "row 8", "dee"],
                                           np.array([names.index(label) for label in labels]), probabilities,
                                           names, group_by="user")
    assert level["accuracy"] == pytest.approx(again["accuracy"]) and level["f1_macro"] == pytest.approx(
        again["f1_macro"])

    # The file must have the column; the examples of a group must share their label; nothing is written.
    plain = tmp_path / "plain.tsv"
    plain.write_text("body\tqueue\nmy refund\tbilling\n")
    assert evaluate.main(["--model", str(run.output_dir), "--test", str(plain), "--eval-group-by", "user",
                          "--output-dir", str(tmp_path / "e2")]) == 2
    assert "--eval-group-by 'user' is not a column" in capsys.readouterr().err
    mixed = tmp_path / "mixed.tsv"
    mixed.write_text("body\tqueue\tuser\nmy refund\tbilling\tann\nmy package\tshipping\tann\n")
    assert evaluate.main(["--model", str(run.output_dir), "--test", str(mixed), "--eval-group-by", "user",
                          "--output-dir", str(tmp_path / "e3")]) == 2
    assert "group 'ann' has examples with different labels: 'billing', 'shipping'" in capsys.readouterr().err
    assert not (tmp_path / "e2").exists() and not (tmp_path / "e3").exists()
    # --group-column only splits training data: evaluate refuses it rather than require its column.
    assert evaluate.main(["--model", str(run.output_dir), "--test", str(plain), "--group-column", "user"]) == 2
    assert "--group-column is not used" in capsys.readouterr().err
