import json

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
