import csv
import json

import numpy as np
import pytest
import yaml

import tfclf
from tfclf import config as config_lib
from tfclf import rundir, training
from tfclf.config import DataConfig, EncoderRuntime, ModelConfig, OptimizerConfig, Pooling, RunConfig, TrainConfig
from tfclf.errors import TfclfError

from keyword_data import keyword_csv, keyword_rows


def tiny_config(tiny, tmp_path, rows=150, **train_kwargs):
    data = keyword_csv(tmp_path / "data.csv", n=rows)
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

    # 300 rows: with 150, a 5-epoch run only just converged (val macro-F1 reached 1.0 at
    # epoch 4 or 5 for most encoder initialisations), and CI's CPU once ended at 0.8 test
    # accuracy; with 300, every initialisation tried reached 1.0 by epoch 2.
    return tfclf.fit(tiny_config(tiny_bert, tmp, rows=300), verbose=0)


def test_run_directory_is_complete(finished_run):
    assert isinstance(finished_run, training.Run)
    out = finished_run.output_dir
    for name in ("config.yaml", "labels.txt", "metrics.json", "history.csv", "data_report.json",
                 "report.md", "learning_curves.png", "confusion_matrix.png", "saved_model/saved_model.pb",
                 "saved_model/assets/labels.txt", "saved_model/assets/config.yaml"):
        assert (out / name).exists(), name
    assert (out / "labels.txt").read_text() == "account\nbilling\nshipping\n"
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("accuracy", "f1_macro", "f1_weighted", "precision_macro", "recall_macro", "mcc",
                "per_class", "confusion_matrix", "n_examples", "train_examples_per_sec"):
        assert key in metrics, key
    assert metrics["n_examples"] == 30 and metrics["split"] == "test"
    assert metrics["train_examples_per_sec"] > 0
    assert sum(map(sum, metrics["confusion_matrix"])) == 30
    with open(out / "history.csv") as f:
        assert len(list(csv.DictReader(f))) == 5
    assert not list(out.parent.glob(".*.partial"))


def test_saved_config_reproduces_the_run_config(finished_run):
    saved = yaml.safe_load((finished_run.output_dir / "config.yaml").read_text())
    again = config_lib.from_dict({k: v for k, v in saved.items() if k != "resolved_encoder"})
    assert again == finished_run.config
    assert again.model.seq_length == 16 and again.model.pooling.value == "mean"
    assert saved["resolved_encoder"]["encoder"].endswith("encoder")


@pytest.mark.parametrize("choice, rewrite", [("mixed_bfloat16", True), ("mixed_bfloat16", False),
                                             ("none", True), ("auto", True)])
def test_bf16_graph_rewrite_is_on_for_training_only(tiny_bert, tmp_path, monkeypatch, choice, rewrite):
    """The rewrite covers fit (training and validation); the evaluation and export run without it.

    The CPU is made to report avx512_bf16, so ``auto`` resolves as on a bf16 CPU (where
    oneDNN is on) and config.yaml records that choice, never ``auto``.
    """
    import tensorflow as tf
    import tf_keras

    from tfclf import precision
    from tfclf.config import MixedPrecision

    seen = []

    def spy(method, label):  # records (rewrite on?, label) at each call of Model.<method>
        def wrapper(model, *args, **kwargs):
            seen.append((bool(tf.config.optimizer.get_experimental_options().get(precision.GRAPPLER_BF16)),
                         label()))
            return method(model, *args, **kwargs)
        return wrapper

    monkeypatch.setattr(tf_keras.Model, "fit",
                        spy(tf_keras.Model.fit, lambda: tf_keras.mixed_precision.global_policy().name))
    monkeypatch.setattr(tf_keras.Model, "predict", spy(tf_keras.Model.predict, lambda: "predict"))
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda flags=None: ("avx512_bf16",))  # no emulation warning
    cfg = tiny_config(tiny_bert, tmp_path, rows=300, epochs=3, mixed_precision=MixedPrecision(choice),
                      bf16_graph_rewrite=rewrite, patience=None)
    cfg = cfg.replace("model", encoder_runtime=EncoderRuntime.HUB)  # the rewrite is for the hub runtime
    resolved = precision.resolve(MixedPrecision(choice)).value
    assert resolved != "auto"
    if choice == "auto" and precision.onednn_enabled() and not tf.config.list_physical_devices("GPU"):
        assert resolved == "mixed_bfloat16"
    run = training.fit(cfg, verbose=0)
    policy = "float32" if resolved == "none" else resolved
    # fit, then the evaluation's predict (and the TensorBoard logs' pass over validation): no rewrite.
    assert seen[0] == (resolved == "mixed_bfloat16" and rewrite, policy)
    assert len(seen) >= 2 and set(seen[1:]) == {(False, "predict")}
    assert not tf.config.optimizer.get_experimental_options().get(precision.GRAPPLER_BF16)
    assert tf_keras.mixed_precision.global_policy().name == "float32"  # fit does not leak its policy
    saved = yaml.safe_load((run.output_dir / "config.yaml").read_text())["train"]
    assert (saved["mixed_precision"], saved["bf16_graph_rewrite"]) == (resolved, rewrite)
    assert run.metrics["accuracy"] >= 0.9  # bfloat16 training still learns the keywords (1.0 seen)


def test_the_default_runtime_is_hub_and_config_records_it(finished_run):
    saved = yaml.safe_load((finished_run.output_dir / "config.yaml").read_text())["model"]
    assert saved["encoder_runtime"] == "hub"
    assert finished_run.config.model.encoder_runtime is EncoderRuntime.HUB


def test_auto_runtime_trains_natively_records_it_and_exports(tiny_bert, tmp_path, monkeypatch):
    """auto on a tf-models BERT export runs natively: trained, recorded as native (never auto),
    rebuilt natively, and its export (the native encoder) passes --check."""
    import tensorflow as tf

    from tfclf import precision
    from tfclf.config import ExportConfig, MixedPrecision
    from tfclf.native_encoder import NativeEncoder
    from tfclf.serving import check, restore, tf_serving

    seen = []
    real = precision.training_precision

    def spy(*args, **kwargs):
        seen.append(kwargs.get("native"))
        return real(*args, **kwargs)

    monkeypatch.setattr(precision, "training_precision", spy)
    cfg = tiny_config(tiny_bert, tmp_path, rows=150, epochs=2).replace("model", encoder_runtime=EncoderRuntime.AUTO)
    run = training.fit(cfg, verbose=0)
    assert seen == [True]
    assert yaml.safe_load((run.output_dir / "config.yaml").read_text())["model"]["encoder_runtime"] == "native"
    assert run.metrics["accuracy"] >= 0.5  # it learns (3 classes; 2 epochs of 120 rows)
    models = restore.restore_classifier(restore.read_run(run.output_dir))
    assert isinstance(models.classifier.get_layer("encoder"), NativeEncoder)
    exported = tf_serving.export_run(run.output_dir, ExportConfig(export_dir=str(tmp_path / "serving")))
    report = check.check(exported.path)
    assert report.passed and report.max_abs_diff <= 1e-5
    # And the native runtime under mixed_bfloat16 needs no graph rewrite: the policy reaches it.
    assert not precision.uses_graph_rewrite(MixedPrecision.MIXED_BFLOAT16, True, gpus=[], native=True)
    assert precision.uses_graph_rewrite(MixedPrecision.MIXED_BFLOAT16, True, gpus=[], native=False)
    assert tf.config.optimizer.get_experimental_options().get(precision.GRAPPLER_BF16) in (None, False)


def test_fine_tuning_learns_the_keywords(finished_run):
    assert finished_run.metrics["accuracy"] >= 0.9
    assert finished_run.metrics["f1_macro"] >= 0.9


def test_loaded_model_predicts_raw_strings_like_the_evaluation(finished_run):
    model = tfclf.load(finished_run.output_dir)
    # Texts like the training rows (one keyword among filler words): "login email", two
    # keywords and no filler, is outside what the tiny model saw, and once came out billing.
    labels, probs = model.predict(["please refund the invoice", "my package is late", "help with my login please"])
    assert model.label_names == ["account", "billing", "shipping"]
    assert labels == ["billing", "shipping", "account"]
    assert probs.shape == (3, 3) and np.allclose(probs.sum(1), 1, atol=1e-5)


def test_best_epoch_is_restored(tiny_bert, tmp_path):
    cfg = tiny_config(tiny_bert, tmp_path, epochs=4, monitor="val_accuracy")
    cfg = cfg.replace("data", split=(0.8, 0.2, 0.0))  # no test split: metrics are on validation
    run = training.fit(cfg, verbose=0)
    assert run.eval_split == "validation"
    assert run.metrics["accuracy"] == pytest.approx(max(run.history["val_accuracy"]), abs=1e-6)


def test_step_count_is_the_steps_run_not_the_best_epochs(tiny_bert, tmp_path):
    """The best epoch's weights checkpoint carries the optimiser: restoring it must not
    roll back the reported step count."""
    steps_per_epoch = -(-120 // 16)  # 150 rows, 80% train, batch 16 (sorted windows keep it)
    cfg = tiny_config(tiny_bert, tmp_path, epochs=3, monitor="val_loss", patience=None)
    # A sane first epoch, then a rate that wrecks the weights: the best epoch is the first.
    cfg = cfg.replace("optimizer", values=(1e-2, 3.0), boundaries=(steps_per_epoch,), warmup_fraction=0.0)
    run = training.fit(cfg, verbose=0)
    assert int(np.argmin(run.history["val_loss"])) == 0, run.history["val_loss"]
    assert run.metrics["optimizer_steps"] == 3 * steps_per_epoch


def test_compiled_classifier_traces_its_train_step_once(tiny_bert, tmp_path):
    import tensorflow as tf

    from tfclf.model import build_classifier

    cfg = tiny_config(tiny_bert, tmp_path)
    classifier = build_classifier(str(tiny_bert.encoder), 3).classifier
    training.compile_classifier(classifier, cfg, 3, total_steps=10)
    slots = len(classifier.optimizer.variables)
    assert slots == 1 + 2 * len(classifier.trainable_variables)  # iterations, then Adam's m and v
    ids = tf.constant([[2, 10, 3, 0], [2, 11, 12, 3]], tf.int32)  # vocabulary of 378
    x = {"input_word_ids": ids, "input_mask": tf.cast(ids > 0, tf.int32), "input_type_ids": tf.zeros_like(ids)}
    before = [v.numpy().copy() for v in classifier.trainable_variables]
    classifier.fit(tf.data.Dataset.from_tensors((x, tf.constant([0, 2]))).repeat(2), verbose=0)
    assert classifier.train_function.experimental_get_tracing_count() == 1  # not twice
    assert len(classifier.optimizer.variables) == slots and int(classifier.optimizer.iterations) == 2
    assert any((b != v.numpy()).any() for b, v in zip(before, classifier.trainable_variables))


def test_bad_input_writes_nothing(tiny_bert, tmp_path):
    good = keyword_csv(tmp_path / "train.csv")
    bad = tmp_path / "test.csv"
    bad.write_text("text,label\nhello,refunds\n")
    cfg = RunConfig(data=DataConfig(train=str(good), test=str(bad)),
                    model=ModelConfig(encoder=str(tiny_bert.root)),
                    train=TrainConfig(output_dir=str(tmp_path / "run")))
    with pytest.raises(TfclfError, match="'refunds'"):
        training.fit(cfg, verbose=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test.csv", "train.csv"]


def test_existing_output_dir_is_refused(tiny_bert, tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(TfclfError, match="--overwrite"):
        training.fit(tiny_config(tiny_bert, tmp_path), verbose=0)


def test_throughput_counts_training_time_only():
    import time

    cb = training.TrainThroughput(examples_per_epoch=100, batch_size=32, steps_per_epoch=4)
    cb.on_epoch_begin(0)
    for step in range(4):
        cb.on_train_batch_end(step)
    time.sleep(0.05)
    cb.on_test_begin()
    time.sleep(0.2)  # validation time is excluded
    cb.on_epoch_end(0)
    cb.on_epoch_begin(1)  # a resumed epoch that ran only 2 of its 4 steps
    cb.on_train_batch_end(0)
    cb.on_train_batch_end(1)
    cb.on_epoch_end(1)
    assert 0.04 < cb.seconds < 0.15 and cb.epochs == 2
    assert cb.examples == 100 + 2 * 32


def test_throughput_counts_rows_not_windows_in_a_resumed_chunked_epoch():
    # --long-text chunks: 100 documents in 10 batches of windows, not 4 batches of 32 rows.
    cb = training.TrainThroughput(examples_per_epoch=100, batch_size=32, steps_per_epoch=10)
    cb.on_epoch_begin(0)  # a resumed epoch that ran 4 of its 10 steps
    for step in range(4):
        cb.on_train_batch_end(step)
    cb.on_epoch_end(0)
    assert cb.examples == 40  # not 4 * 32 = 128, more documents than the epoch holds


def test_repeated_seeds_aggregate_mean_and_std(tiny_bert, tmp_path):
    cfg = tiny_config(tiny_bert, tmp_path, epochs=2, seeds=(1, 2), bootstrap=100)
    run = training.fit(cfg, verbose=0)
    out = run.output_dir
    per_seed = {s: json.loads((out / "seeds" / str(s) / "metrics.json").read_text()) for s in (1, 2)}
    assert run.metrics["seeds"] == [1, 2] and run.metrics["selected_seed"] in (1, 2)
    # Each seed's intervals are drawn with its seed; the top level holds means, which they do not describe.
    assert [per_seed[s]["bootstrap"]["accuracy"]["seed"] for s in (1, 2)] == [1, 2]
    assert "bootstrap" not in run.metrics and run.metrics["per_seed"]["1"]["bootstrap"] == per_seed[1]["bootstrap"]
    accs = [per_seed[s]["accuracy"] for s in (1, 2)]
    assert run.metrics["mean"]["accuracy"] == pytest.approx(np.mean(accs))
    assert run.metrics["std"]["accuracy"] == pytest.approx(np.std(accs, ddof=1))
    assert run.metrics["accuracy"] == pytest.approx(np.mean(accs))
    assert (out / "saved_model" / "saved_model.pb").is_file()
    assert (out / "seeds" / "1" / "saved_model" / "saved_model.pb").is_file()
    saved = yaml.safe_load((out / "seeds" / "2" / "config.yaml").read_text())
    assert saved["train"]["seed"] == 2 and saved["train"]["seeds"] == []


def test_interrupted_partial_with_other_config_is_refused(tiny_bert, tmp_path):
    cfg = tiny_config(tiny_bert, tmp_path)
    partial = rundir.partial_dir(tmp_path / "run")
    partial.mkdir()
    (partial / "config.yaml").write_text("train: {epochs: 99}\n")
    with pytest.raises(TfclfError, match="different configuration"):
        training.fit(cfg, verbose=0)
    run = training.fit(cfg.replace("train", overwrite=True, epochs=1), verbose=0)
    assert run.metrics["epochs_run"] == 1 and not partial.exists()


def test_a_partial_folder_tfclf_did_not_create_is_never_deleted(tiny_bert, tmp_path):
    cfg = tiny_config(tiny_bert, tmp_path).replace("train", overwrite=True)
    partial = rundir.partial_dir(tmp_path / "run")
    partial.mkdir()
    (partial / "thesis.tex").write_text("months of work")
    with pytest.raises(TfclfError, match="does not delete it"):
        training.fit(cfg, verbose=0)
    assert (partial / "thesis.tex").read_text() == "months of work"
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_kill_9_mid_epoch_then_rerun_resumes(tiny_bert, tmp_path):
    """A real training subprocess is SIGKILLed mid-epoch; the same command continues it."""
    import subprocess
    import sys

    from fit_process import kill_after_first_epoch

    data = keyword_csv(tmp_path / "data.csv", n=600)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "tfclf.fit", "--encoder", str(tiny_bert.root), "--data", str(data),
           "--seq-length", "16", "--pooling", "mean", "--batch-size", "4", "--epochs", "3",
           "--values", "1e-2,3e-3", "--save-every-steps", "5", "--output-dir", str(out)]
    partial = rundir.partial_dir(out)
    kill_after_first_epoch(cmd, partial, extra_seconds=1.5)  # epoch 2 under way
    assert not out.exists() and (partial / "resume").is_dir()
    import tensorflow as tf

    backup = tf.train.latest_checkpoint(str(partial / "resume" / "chief"))
    saved_steps = int(tf.train.load_variable(backup, "model/optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"))
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Resuming the interrupted run" in again.stderr
    with open(out / "history.csv") as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == ["0", "1", "2"]  # no epoch repeated
    metrics = json.loads((out / "metrics.json").read_text())
    steps_per_epoch = -(-480 // 4)  # 600 rows, 80% train
    log = [line for line in again.stderr.splitlines() if "tfclf.training" in line]
    assert metrics["optimizer_steps"] == 3 * steps_per_epoch, log  # the step count continued
    assert saved_steps >= steps_per_epoch, saved_steps  # killed after the first epoch
    # The second process ran only the steps after the backup's: it did not start over.
    assert metrics["train_examples"] == (3 * steps_per_epoch - saved_steps) * 4
    assert not (out / "resume").exists() and not partial.exists()


def test_history_reader_accepts_csvlogger_na(tmp_path):
    (tmp_path / "h.csv").write_text("epoch,loss,val_loss\n0,0.5,NA\n1,0.4,0.3\n")
    h = rundir.read_history(tmp_path / "h.csv")
    assert h["loss"] == [0.5, 0.4] and np.isnan(h["val_loss"][0]) and h["val_loss"][1] == 0.3


# After a resume, history.csv repeats the epoch the last session re-ran: its last row is
# the one whose weights were kept. train's own parser kept every row, report's the last.
RESUMED_HISTORY = ("epoch,loss,val_loss,val_f1_macro\n0,1.0,nan,nan\n1,0.8,0.85,0.6\n1,0.7,0.8,0.65\n"
                   "2,0.5,0.9,0.62\n")


def fake_prepared(monitor="val_f1_macro", rows=32):
    from types import SimpleNamespace

    return SimpleNamespace(config=RunConfig(train=TrainConfig(monitor=monitor, batch_size=16)),
                           labels=None, data=SimpleNamespace(rows={"train": rows}, multi_label=False))


def test_a_finished_seed_reads_its_history_like_every_reader(tmp_path):
    (tmp_path / "history.csv").write_text(RESUMED_HISTORY)
    (tmp_path / "metrics.json").write_text('{"accuracy": 1.0, "split": "validation"}')
    run = training._load_finished(tmp_path, fake_prepared())
    assert list(run.history) == ["loss", "val_loss", "val_f1_macro"]
    assert run.history["loss"] == [1.0, 0.7, 0.5] and run.history["val_loss"][1:] == [0.8, 0.9]
    assert run.eval_split == "validation" and run.metrics["accuracy"] == 1.0


def test_restored_best_epoch_is_nan_safe_and_counts_a_repeated_epoch_once(tmp_path, caplog):
    from types import SimpleNamespace

    class Classifier:
        loaded = None

        def load_weights(self, path):
            self.loaded = path
            return SimpleNamespace(expect_partial=lambda: None)

    (tmp_path / "history.csv").write_text(RESUMED_HISTORY)
    history = rundir.read_history(tmp_path / "history.csv")
    classifier, dist = Classifier(), SimpleNamespace(multi_worker=False)
    with caplog.at_level("INFO", logger="tfclf.training"):
        best = training._restore_best(classifier, tmp_path, tmp_path, history, fake_prepared(), dist,
                                   has_validation=True)
    # np.argmax picked the NaN of epoch 0; all rows counted, epoch 1's first row was a candidate.
    assert best == 1 and classifier.loaded == str(tmp_path / "checkpoints" / "best")
    assert "Restored the best epoch (2) by val_f1_macro = 0.6500" in caplog.text
    assert training._restore_best(classifier, tmp_path, tmp_path, history, fake_prepared("val_loss"), dist,
                               has_validation=True) == 1
    with pytest.raises(TfclfError, match="No epoch gave a finite val_accuracy"):
        training._restore_best(classifier, tmp_path, tmp_path, {"val_accuracy": [float("nan")]},
                            fake_prepared("val_accuracy"), dist, has_validation=True)


@pytest.mark.parametrize("monitor, threshold", [("val_f1_macro", 0.65), ("val_loss", 0.8)])
def test_resumed_checkpoint_starts_from_the_best_finite_value(tmp_path, monitor, threshold):
    """min/max over a history whose first value is NaN returned NaN, and a NaN threshold
    made ModelCheckpoint refuse every later epoch of the resumed run."""
    import tf_keras

    (tmp_path / "history.csv").write_text(RESUMED_HISTORY)
    datasets = training.Datasets(train=None, validation=object(), steps_per_epoch=2, make=None)
    callbacks, _ = training._build_callbacks(tmp_path, tmp_path, fake_prepared(monitor), datasets)
    checkpoint = next(c for c in callbacks if isinstance(c, tf_keras.callbacks.ModelCheckpoint))
    assert checkpoint.best == threshold and checkpoint.monitor == monitor


def test_selected_seed_is_nan_safe():
    def run(values):
        return training.Run(output_dir=None, metrics={}, config=None, labels=None, history={"val_loss": values},
                         eval_split="test")

    nan = float("nan")
    assert training._select_seed({1: run([nan, 0.5]), 2: run([0.6, 0.4])}, "val_loss") == 2  # min() kept seed 1's NaN
    assert training._select_seed({1: run([0.3, 0.5]), 2: run([0.6, 0.3])}, "val_loss") == 1  # a tie: the first
    assert training._select_seed({1: run([0.3]), 2: run([0.6])}, "val_f1_macro") == 1  # no val_f1_macro: the first


def test_lists_in_a_jsonl_label_column_make_the_run_multi_label_and_the_config_says_so(tiny_bert, tmp_path):
    from keyword_data import multilabel_keyword_rows

    rows = multilabel_keyword_rows(60, seed=3)
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"text": t, "label": l.split("|") if l else []}) + "\n"
                                              for t, l in rows))
    config = tiny_config(tiny_bert, tmp_path).replace("data", data=str(tmp_path / "d.jsonl"))
    assert config.data.task.value == "auto"
    prepared = training.prepare(config)
    assert prepared.config.data.task.value == "multi-label" and prepared.data.multi_label
    assert prepared.data.targets("train").shape[1] == 3


# ------------------------------------------------------------------------------- --eval-group-by

def grouped_csv(path, sizes, seed):
    """text,label,user rows: user u<k> has sizes[k] rows, all of one label."""
    from keyword_data import KEYWORDS

    names = sorted(KEYWORDS)
    labels = [names[k % 3] for k, n in enumerate(sizes) for _ in range(n)]
    users = [f"u{k}" for k, n in enumerate(sizes) for _ in range(n)]
    rows = keyword_rows(len(labels), seed, labels=labels)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label", "user"])
        w.writerows([(t, label, u) for (t, label), u in zip(rows, users)])
    return path


def test_fit_scores_the_test_split_per_group_and_evaluate_reproduces_it(tiny_bert, tmp_path):
    from tfclf import evaluation

    train = grouped_csv(tmp_path / "train.csv", [2, 3, 1] * 7, seed=0)  # 42 rows, 21 users
    test = grouped_csv(tmp_path / "test.csv", [3, 1, 2, 2, 3, 1, 2], seed=1)  # 14 rows, 7 users
    config = RunConfig(
        data=DataConfig(train=str(train), test=str(test), eval_group_by="user"),
        model=ModelConfig(encoder=str(tiny_bert.root), seq_length=16, pooling=Pooling.MEAN),
        optimizer=OptimizerConfig(values=(1e-2, 3e-3), boundaries=(30,)),
        train=TrainConfig(epochs=2, batch_size=16, bootstrap=100, output_dir=str(tmp_path / "run")))
    run = training.fit(config, verbose=0)
    out = run.output_dir
    metrics = json.loads((out / "metrics.json").read_text())
    level = metrics["group_level"]
    assert metrics["n_examples"] == 14 and level["n_groups"] == 7 and level["group_by"] == "user"
    assert level["examples_per_group"] == {"min": 1, "median": 2.0, "max": 3}
    assert sum(map(sum, level["confusion_matrix"])) == 7 and level["bootstrap"]["accuracy"]["n_resamples"] == 100
    assert "## Group level" in (out / "report.md").read_text()
    assert json.loads((out / "data_report.json").read_text())["eval_groups"] == {
        "group_by": "user", "split": "test", "groups": 7}
    assert yaml.safe_load((out / "config.yaml").read_text())["data"]["eval_group_by"] == "user"
    # The group level is the mean of the probabilities the served model gives each example.
    model = tfclf.load(out)
    with open(test, newline="") as f:
        rows = list(csv.DictReader(f))
    _, probabilities = model.predict([r["text"] for r in rows])
    ids = {name: i for i, name in enumerate(model.label_names)}
    again = evaluation.group_level_metrics([r["user"] for r in rows], np.array([ids[r["label"]] for r in rows]),
                                           probabilities, model.label_names, group_by="user")
    for key in ("accuracy", "f1_macro", "mcc", "roc_auc"):
        assert again[key] == pytest.approx(level[key], abs=1e-6), key
    # python -m tfclf.evaluate reads the run's --eval-group-by from its config.yaml.
    _, evaluated = evaluation.evaluate_run(out, test, output_dir=tmp_path / "eval")
    assert evaluated["group_level"]["n_groups"] == 7
    assert evaluated["group_level"]["accuracy"] == pytest.approx(level["accuracy"], abs=1e-6)


def test_seeds_aggregate_the_group_level_too():
    per_seed = {s: {"accuracy": a, "group_level": {"n_groups": 5, "accuracy": g, "bootstrap": {"x": s}}}
                for s, a, g in ((1, 0.5, 0.6), (2, 0.7, 1.0))}
    out = training.aggregate_seed_metrics(per_seed, selected=2)
    assert out["group_level"]["accuracy"] == pytest.approx(0.8) and out["group_level"]["n_groups"] == 5
    assert out["group_level"]["std"]["accuracy"] == pytest.approx(np.std([0.6, 1.0], ddof=1))
    assert "bootstrap" not in out["group_level"] and out["per_seed"]["1"]["group_level"]["bootstrap"] == {"x": 1}
    assert "group_level" not in training.aggregate_seed_metrics({1: {"accuracy": 0.5}}, selected=1)


@pytest.mark.parametrize("multi_label", [False, True])
def test_split_probabilities_predicts_each_split_once(multi_label):
    """Thresholds, evaluation and TensorBoard share one prediction pass per split."""
    import tensorflow as tf
    import tf_keras

    logits = {"validation": np.array([[2.0, 0.0], [0.0, 1.0]], np.float32),
              "test": np.array([[0.5, 0.5], [3.0, -1.0], [1.0, 0.0]], np.float32)}
    made = []

    def make(split, shuffle):
        assert shuffle is False
        made.append(split)
        return tf.data.Dataset.from_tensor_slices(logits[split]).batch(2)

    identity = tf_keras.Sequential([tf_keras.layers.Lambda(lambda x: x, input_shape=(2,))])
    datasets = training.Datasets(train=None, validation=None, steps_per_epoch=1, make=make)
    probabilities = training.SplitProbabilities(identity, datasets, multi_label=multi_label)
    first = probabilities("validation")
    assert probabilities("test").shape == (3, 2)
    assert probabilities("validation") is first
    assert probabilities.passes == 2 and made == ["validation", "test"]
    expected = (1 / (1 + np.exp(-logits["validation"])) if multi_label
                else np.exp(logits["validation"]) / np.exp(logits["validation"]).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(first, expected, rtol=1e-6)
