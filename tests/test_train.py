import csv
import json

import numpy as np
import pytest
import yaml

import tfclf
from tfclf import config as config_lib
from tfclf import train
from tfclf.config import DataConfig, ModelConfig, OptimizerConfig, Pooling, RunConfig, TrainConfig
from tfclf.errors import TfclfError

KEYWORDS = {"billing": ["refund", "charge", "invoice"], "shipping": ["package", "delivery", "late"],
            "account": ["password", "login", "email"]}
FILLER = ["the", "my", "is", "and", "please", "help", "with", "a", "to", "it"]


def keyword_csv(path, n=150, seed=0):
    """Texts whose label is given by one keyword among filler words: learnable by a tiny encoder."""
    rng = np.random.default_rng(seed)
    labels = sorted(KEYWORDS)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(n):
            label = labels[i % len(labels)]
            words = list(rng.choice(FILLER, size=rng.integers(3, 9)))
            words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(KEYWORDS[label])))
            w.writerow([" ".join(words), label])
    return path


def tiny_config(tiny, tmp_path, **train_kwargs):
    data = keyword_csv(tmp_path / "data.csv")
    return RunConfig(
        data=DataConfig(data=str(data)),
        # A random tiny encoder learns keywords fast with mean pooling and a high rate.
        model=ModelConfig(encoder=str(tiny.root), seq_length=16, pooling=Pooling.MEAN),
        optimizer=OptimizerConfig(values=(1e-2, 3e-3), boundaries=(30,)),
        train=TrainConfig(**{"epochs": 5, "batch_size": 16, "output_dir": str(tmp_path / "run"),
                             **train_kwargs}),
    )


@pytest.fixture(scope="module")
def finished_run(tiny_bert, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train")
    import tfclf.fit  # the CLI module must not shadow the API call

    return tfclf.fit(tiny_config(tiny_bert, tmp), verbose=0)


def test_run_directory_is_complete(finished_run):
    assert isinstance(finished_run, train.Run)
    out = finished_run.output_dir
    for name in ("config.yaml", "labels.txt", "metrics.json", "history.csv", "saved_model/saved_model.pb",
                 "saved_model/assets/labels.txt", "saved_model/assets/config.yaml"):
        assert (out / name).exists(), name
    assert (out / "labels.txt").read_text() == "account\nbilling\nshipping\n"
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("accuracy", "f1_macro", "f1_weighted", "precision_macro", "recall_macro", "mcc",
                "per_class", "confusion_matrix", "n_examples", "train_examples_per_sec"):
        assert key in metrics, key
    assert metrics["n_examples"] == 15 and metrics["split"] == "test"
    assert metrics["train_examples_per_sec"] > 0
    assert sum(map(sum, metrics["confusion_matrix"])) == 15
    with open(out / "history.csv") as f:
        assert len(list(csv.DictReader(f))) == 5
    assert not list(out.parent.glob(".*.partial"))


def test_saved_config_reproduces_the_run_config(finished_run):
    saved = yaml.safe_load((finished_run.output_dir / "config.yaml").read_text())
    again = config_lib.from_dict({k: v for k, v in saved.items() if k != "resolved_encoder"})
    assert again == finished_run.config
    assert again.model.seq_length == 16 and again.model.pooling.value == "mean"
    assert saved["resolved_encoder"]["encoder"].endswith("encoder")


def test_fine_tuning_learns_the_keywords(finished_run):
    assert finished_run.metrics["accuracy"] >= 0.9
    assert finished_run.metrics["f1_macro"] >= 0.9


def test_loaded_model_predicts_raw_strings_like_the_evaluation(finished_run):
    model = tfclf.load(finished_run.output_dir)
    labels, probs = model.predict(["please refund the invoice", "my package is late", "login email"])
    assert model.label_names == ["account", "billing", "shipping"]
    assert labels == ["billing", "shipping", "account"]
    assert probs.shape == (3, 3) and np.allclose(probs.sum(1), 1, atol=1e-5)


def test_best_epoch_is_restored(tiny_bert, tmp_path):
    cfg = tiny_config(tiny_bert, tmp_path, epochs=4, monitor="val_accuracy")
    cfg = cfg.replace("data", split=(0.8, 0.2, 0.0))  # no test split: metrics are on validation
    run = train.fit(cfg, verbose=0)
    assert run.eval_split == "validation"
    assert run.metrics["accuracy"] == pytest.approx(max(run.history["val_accuracy"]), abs=1e-6)


def test_bad_input_writes_nothing(tiny_bert, tmp_path):
    good = keyword_csv(tmp_path / "train.csv")
    bad = tmp_path / "test.csv"
    bad.write_text("text,label\nhello,refunds\n")
    cfg = RunConfig(data=DataConfig(train=str(good), test=str(bad)),
                    model=ModelConfig(encoder=str(tiny_bert.root)),
                    train=TrainConfig(output_dir=str(tmp_path / "run")))
    with pytest.raises(TfclfError, match="'refunds'"):
        train.fit(cfg, verbose=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test.csv", "train.csv"]


def test_existing_output_dir_is_refused(tiny_bert, tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(TfclfError, match="--overwrite"):
        train.fit(tiny_config(tiny_bert, tmp_path), verbose=0)


def test_throughput_counts_training_time_only():
    cb = train.TrainThroughput()
    import time

    cb.on_epoch_begin(0)
    time.sleep(0.05)
    cb.on_test_begin()
    time.sleep(0.2)  # validation time is excluded
    cb.on_epoch_end(0)
    assert 0.04 < cb.seconds < 0.15 and cb.epochs == 1
