"""The tuner: trial configs, searches, results, resume, Hyperband budgets, refit, trial models.

Most tests replace ``training.fit`` with a fake whose validation history is a known function
of the hyperparameters, so Keras Tuner's oracles, resuming and the results files are
checked in seconds. tests/test_tune.py runs real searches on the tiny encoder.
"""
import csv
import json
import math
from pathlib import Path

import pytest
import yaml

from tfclf import config as config_lib
from tfclf import rundir, training
from tfclf.config import DataConfig, ModelConfig, OptimizerConfig, Pooling, RunConfig, TrainConfig
from tfclf.tuning import results, tuner
from tfclf.tuning.config import TuneConfig, TunerKind
from tfclf.tuning.space import config_for_trial, parse_search_space
from tfclf.errors import TfclfError


def write_data(path, n=60):
    labels = ["billing", "shipping", "account"]
    words = {"billing": "refund", "shipping": "package", "account": "password"}
    rows = [f"please help with my {words[labels[i % 3]]} {i},{labels[i % 3]}" for i in range(n)]
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture
def base(tiny_bert, tmp_path):
    return RunConfig(
        data=DataConfig(data=str(write_data(tmp_path / "data.csv"))),
        model=ModelConfig(encoder=str(tiny_bert.root), seq_length=16, pooling=Pooling.MEAN),
        optimizer=OptimizerConfig(values=(1e-2, 3e-3), boundaries=(30,)),
        train=TrainConfig(epochs=2, batch_size=16))


def space(data, base_config=None):
    return parse_search_space(data, base_config or RunConfig())


def fake_score(config, epoch):
    """The fake validation F1 after ``epoch`` (1-based): best at learning rate 10^-2.5."""
    lr = config.optimizer.learning_rate or config.optimizer.values[0]
    return 1 - abs(math.log10(lr) + 2.5) / 3 - config.model.dropout / 10 - 0.1 / epoch


class FakeFit:
    """Stands in for training.fit: records configs, writes a run folder, returns a history."""

    def __init__(self, fail_if=None, interrupt_on_call=None):
        self.configs = []
        self.fail_if = fail_if
        self.interrupt_on_call = interrupt_on_call

    def __call__(self, config, verbose=0):
        self.configs.append(config)
        if self.interrupt_on_call == len(self.configs):
            raise KeyboardInterrupt  # what Ctrl-C (or a kill) does mid-trial
        if self.fail_if and self.fail_if(config):
            raise TfclfError("fake failure for this configuration")
        out = config.train.output_dir
        import pathlib

        pathlib.Path(out, "saved_model").mkdir(parents=True)
        f1 = [fake_score(config, e) for e in range(1, config.train.epochs + 1)]
        history = {"val_f1_macro": f1, "val_loss": [1 - v for v in f1], "loss": [0.5] * len(f1)}
        return training.Run(output_dir=pathlib.Path(out), metrics={}, config=config, labels=None,
                         history=history, eval_split="test")


@pytest.fixture
def fake_fit(monkeypatch):
    fake = FakeFit()
    monkeypatch.setattr(training, "fit", fake)
    return fake


def read_trials(out):
    with open(out / results.TRIALS_CSV, newline="") as f:
        return list(csv.DictReader(f))


LR_SPACE = {"learning_rate": {"min": 1e-4, "max": 1e-1, "sampling": "log"}, "dropout": [0.0, 0.2]}


# ------------------------------------------------------------------------ trials and metrics

def test_hyperparameters_map_onto_the_trial_config():
    s = space({"learning_rate": {"min": 1e-5, "max": 1e-3, "sampling": "log"},
               "batch_size": {"min": 8, "max": 64, "step": 2, "sampling": "log"},
               "boundaries": [[500], [1000]], "trainable": ["all", "top-1"], "pooling": ["mean", "cls"],
               "warmup_fraction": 0.1})
    hp = tuner.declare_hyperparameters(s)
    kinds = {p.name: type(p).__name__ for p in hp.space}
    assert kinds == {"learning_rate": "Float", "batch_size": "Int", "boundaries": "Choice",
                     "trainable": "Choice", "pooling": "Choice", "warmup_fraction": "Fixed"}
    assert hp.space[1].get_config()["step"] == 2 and hp.space[1].get_config()["sampling"] == "log"
    assert hp.space[2].get_config()["values"] == ["500", "1000"]  # lists travel as strings
    values = {"learning_rate": 3e-4, "batch_size": 32, "boundaries": "1000", "trainable": "top-1",
              "pooling": "cls", "warmup_fraction": 0.1, "tuner/epochs": 4, "tuner/round": 1}
    cfg = config_for_trial(RunConfig(), "val_loss", values, "/x/run")
    assert cfg.optimizer.learning_rate == 3e-4 and cfg.optimizer.boundaries == (1000,)
    assert cfg.optimizer.warmup_fraction == 0.1 and cfg.train.batch_size == 32
    assert cfg.model.trainable == "top-1" and cfg.model.pooling is Pooling.CLS
    assert cfg.train.epochs == 4  # Hyperband's budget
    assert cfg.train.monitor == "val_loss" and cfg.train.output_dir == "/x/run"


# --------------------------------------------------------------------- searches (fake fit)

@pytest.mark.parametrize("kind", [TunerKind.RANDOM, TunerKind.BAYESIAN])
def test_search_ranks_trials_by_the_objective(kind, base, fake_fit, tmp_path):
    out = tmp_path / "search"
    result = tuner.search(base, TuneConfig(tuner=kind, max_trials=4), space(LR_SPACE, base), output_dir=out)
    assert len(fake_fit.configs) == 4
    rows = read_trials(out)
    assert [r["trial_id"] for r in rows] == ["0", "1", "2", "3"]
    assert {r["status"] for r in rows} == {"COMPLETED"}
    # Each trial reports its best epoch (the last: the fake improves every epoch).
    expected = [fake_score(c, c.train.epochs) for c in fake_fit.configs]
    assert [float(r["val_f1_macro"]) for r in rows] == pytest.approx(expected)
    assert [r["best_epoch"] for r in rows] == ["2"] * 4 and [r["epochs_run"] for r in rows] == ["2"] * 4
    assert all(float(r["duration_seconds"]) >= 0 for r in rows)
    assert {c.train.monitor for c in fake_fit.configs} == {"val_f1_macro"}
    best_i = max(range(4), key=lambda i: expected[i])
    assert result.best.trial_id == rows[best_i]["trial_id"]
    # Keras Tuner's own queries agree.
    assert result.tuner.get_best_hyperparameters()[0].values == result.best.hyperparameters
    assert result.tuner.oracle.get_best_trials()[0].trial_id == result.best.trial_id
    best = yaml.safe_load((out / results.BEST_HYPERPARAMETERS).read_text())
    assert best["trial_id"] == result.best.trial_id
    assert best["objective"] == {"name": "val_f1_macro", "direction": "max",
                                 "value": pytest.approx(expected[best_i])}
    assert best["hyperparameters"]["learning_rate"] == pytest.approx(
        fake_fit.configs[best_i].optimizer.learning_rate)
    # best_config.yaml is the best trial's configuration, ready for `fit --config`.
    best_config = config_lib.from_dict(yaml.safe_load((out / results.BEST_CONFIG).read_text()))
    assert best_config == fake_fit.configs[best_i].replace("train", output_dir=None)
    summary = (out / results.SUMMARY_MD).read_text()
    ranked_ids = [line.split("|")[2].strip() for line in summary.splitlines() if line.startswith("| ") and
                  line.split("|")[1].strip().isdigit()]
    assert ranked_ids == [rows[i]["trial_id"] for i in sorted(range(4), key=lambda i: -expected[i])]
    assert f"Best: trial {result.best.trial_id}" in summary
    # The trials' SavedModels are deleted once recorded (--keep-trial-saved-models keeps them).
    assert not list(out.glob("keras_tuner/trial_*/run/saved_model"))
    assert len(list(out.glob("keras_tuner/trial_*/run"))) == 4


def test_trial_saved_models_can_be_kept(base, fake_fit, tmp_path):
    out = tmp_path / "search"
    tuner.search(base, TuneConfig(max_trials=2, keep_trial_saved_models=True), space(LR_SPACE, base),
                 output_dir=out)
    assert len(list(out.glob("keras_tuner/trial_*/run/saved_model"))) == 2


def test_interrupted_search_resumes_without_repeating_or_losing_trials(base, monkeypatch, tmp_path):
    out = tmp_path / "search"
    first = FakeFit(interrupt_on_call=2)  # stopped during the second trial
    monkeypatch.setattr(training, "fit", first)
    tune = TuneConfig(max_trials=3)
    with pytest.raises(KeyboardInterrupt):
        tuner.search(base, tune, space(LR_SPACE, base), output_dir=out)
    rows = read_trials(out)
    assert [(r["trial_id"], r["status"]) for r in rows] == [("0", "COMPLETED")]
    second = FakeFit()
    monkeypatch.setattr(training, "fit", second)
    result = tuner.search(base, tune, space(LR_SPACE, base), output_dir=out)
    # Trial 0 is not trained again; the interrupted trial 1 runs again with its own values.
    assert [c.train.output_dir for c in second.configs] == [
        str(out / "keras_tuner" / f"trial_{i}" / "run") for i in ("1", "2")]
    assert second.configs[0].optimizer == first.configs[1].optimizer
    assert [(r.trial_id, r.status) for r in result.trials] == [("0", "COMPLETED"), ("1", "COMPLETED"),
                                                                ("2", "COMPLETED")]
    assert read_trials(out)[0] == rows[0]
    # A finished search run again trains nothing; a larger --max-trials extends it.
    tuner.search(base, tune, space(LR_SPACE, base), output_dir=out)
    tuner.search(base, TuneConfig(max_trials=4), space(LR_SPACE, base), output_dir=out)
    assert len(second.configs) == 3 and len(read_trials(out)) == 4


def test_trained_but_unreported_trial_is_not_trained_again(base, fake_fit, tmp_path):
    out = tmp_path / "search"
    tuner.search(base, TuneConfig(max_trials=1), space(LR_SPACE, base), output_dir=out)
    result_file = out / "keras_tuner" / "trial_0" / tuner.RESULT_FILE
    reported = result_file.read_text()
    # Make the oracle forget the report, as a kill between training and reporting would.
    oracle_file = out / "keras_tuner" / "oracle.json"
    state = json.loads(oracle_file.read_text())
    state["ongoing_trials"] = {"tuner0": "0"}
    state["end_order"] = []
    oracle_file.write_text(json.dumps(state))
    trial_file = out / "keras_tuner" / "trial_0" / "trial.json"
    trial = json.loads(trial_file.read_text())
    trial["status"], trial["score"], trial["metrics"] = "RUNNING", None, {"metrics": {}}
    trial_file.write_text(json.dumps(trial))
    tuner.search(base, TuneConfig(max_trials=1), space(LR_SPACE, base), output_dir=out)
    assert len(fake_fit.configs) == 1
    assert result_file.read_text() == reported
    assert read_trials(out)[0]["status"] == "COMPLETED"


def test_a_different_search_in_the_same_folder_is_refused(base, fake_fit, tmp_path):
    out = tmp_path / "search"
    tuner.search(base, TuneConfig(max_trials=1), space(LR_SPACE, base), output_dir=out)
    with pytest.raises(TfclfError) as e:
        tuner.search(base, TuneConfig(max_trials=1), space({"dropout": [0.0, 0.1]}, base), output_dir=out)
    assert "holds a different search (search" in str(e.value) and "--overwrite" in str(e.value)
    with pytest.raises(TfclfError, match=r"train.batch_size: was 16, now 8"):
        tuner.search(base.replace("train", batch_size=8), TuneConfig(max_trials=1),
                     space(LR_SPACE, base), output_dir=out)
    # --overwrite starts over.
    tuner.search(base.replace("train", overwrite=True), TuneConfig(max_trials=2),
                 space({"dropout": [0.0, 0.1]}, base), output_dir=out)
    assert [r["dropout"] for r in read_trials(out)] != [] and "learning_rate" not in read_trials(out)[0]


def test_hyperband_gives_each_trial_its_epoch_budget(base, fake_fit, tmp_path):
    out = tmp_path / "search"
    tune = TuneConfig(tuner=TunerKind.HYPERBAND, max_epochs=3, factor=3, max_trials=20)
    result = tuner.search(base, tune, space(LR_SPACE, base), output_dir=out)
    epochs = [c.train.epochs for c in fake_fit.configs]
    # max_epochs 3, factor 3: a bracket of 3 one-epoch trials whose best is promoted to 3 epochs,
    # then a bracket of 2 three-epoch trials.
    assert epochs == [1, 1, 1, 3, 3, 3]
    promoted = next(r for r in result.trials if r.hyperparameters.get("tuner/trial_id"))
    parent = next(r for r in result.trials[:3] if r.trial_id == promoted.hyperparameters["tuner/trial_id"])
    assert parent.score == max(r.score for r in result.trials[:3])
    assert ({k: promoted.hyperparameters[k] for k in LR_SPACE}
            == {k: parent.hyperparameters[k] for k in LR_SPACE})
    assert [r["epochs_run"] for r in read_trials(out)] == ["1", "1", "1", "3", "3", "3"]
    with pytest.raises(TfclfError, match="search.epochs cannot be searched with --tuner hyperband"):
        tuner.search(base, tune, space({"epochs": [1, 2]}, base), output_dir=tmp_path / "other")


def test_failed_trials_are_recorded_and_repeated_failures_stop(base, monkeypatch, tmp_path):
    fake = FakeFit(fail_if=lambda c: c.model.dropout > 0)
    monkeypatch.setattr(training, "fit", fake)
    out = tmp_path / "search"
    tuner.search(base, TuneConfig(max_trials=4), space({"dropout": [0.0, 0.1, 0.2, 0.3]}, base),
                 output_dir=out)
    rows = {r["dropout"]: r for r in read_trials(out)}
    assert rows["0.0"]["status"] == "COMPLETED"
    failed = [r for d, r in rows.items() if d != "0.0"]
    assert {r["status"] for r in failed} == {"FAILED"} and len(failed) == 3
    assert failed[0]["message"] == "tfclf.errors.TfclfError: fake failure for this configuration"
    summary = (out / results.SUMMARY_MD).read_text()
    assert "1 completed, 3 failed" in summary
    monkeypatch.setattr(training, "fit", FakeFit(fail_if=lambda c: True))
    with pytest.raises(TfclfError, match="The search stopped: Number of consecutive failures"):
        tuner.search(base, TuneConfig(max_trials=5), space(LR_SPACE, base), output_dir=tmp_path / "s2")


def test_refit_trains_the_best_configuration_into_best(base, fake_fit, tmp_path):
    out = tmp_path / "search"
    result = tuner.search(base, TuneConfig(max_trials=3, refit=True), space(LR_SPACE, base), output_dir=out)
    refit_config = fake_fit.configs[-1]
    assert len(fake_fit.configs) == 4 and refit_config.train.output_dir == str(out / "best")
    assert refit_config.replace("train", output_dir=None) == result.best_config
    assert result.refit.output_dir == out / "best"
    # Run again: the refit of the same best trial is kept.
    again = tuner.search(base, TuneConfig(max_trials=3, refit=True), space(LR_SPACE, base), output_dir=out)
    assert len(fake_fit.configs) == 4 and again.refit is None


def test_bad_data_fails_before_any_trial(base, fake_fit, tmp_path):
    bad = base.replace("data", data=str(tmp_path / "missing.csv"))
    with pytest.raises(TfclfError, match="missing.csv"):
        tuner.search(bad, TuneConfig(max_trials=2), space(LR_SPACE, base), output_dir=tmp_path / "s")
    assert fake_fit.configs == [] and not (tmp_path / "s").exists()


@pytest.mark.parametrize("mixed_precision, runtime", [("none", "native"), ("mixed_bfloat16", "hub"),
                                                      ("mixed_bfloat16", "native")])
def test_a_trial_model_is_rebuilt_under_its_runs_keras_policy(base, tmp_path, mixed_precision, runtime):
    """A hub mixed_bfloat16 run's head computes in bfloat16: the rebuild must too, or its
    probabilities drift from the run's saved model (by 5e-4 in one run). A native run
    evaluates and exports a float32 twin (its encoder would compute in bfloat16 too), and
    the rebuild is float32 like it."""
    import numpy as np
    import tensorflow as tf
    import tf_keras

    import tfclf
    from tfclf import encoders
    from tfclf.config import MixedPrecision
    from tfclf.preprocessing import TextPreprocessor

    from tfclf.config import EncoderRuntime

    cfg = base.replace("train", epochs=1, output_dir=str(tmp_path / "run"),
                       mixed_precision=MixedPrecision(mixed_precision))
    cfg = cfg.replace("model", encoder_runtime=EncoderRuntime(runtime))
    run = training.fit(cfg, verbose=0)
    assert run.config.model.encoder_runtime.value == runtime
    classifier = tuner.load_trial_model(run.output_dir)
    expected = "bfloat16" if (mixed_precision, runtime) == ("mixed_bfloat16", "hub") else "float32"
    assert classifier.get_layer("pooling").compute_dtype == expected  # logits are float32 either way
    assert tf_keras.mixed_precision.global_policy().name == "float32"  # not left set
    texts = ["please refund the invoice", "my package is late", "login email password"]
    resolved = encoders.resolve(cfg.model.encoder)
    ids = TextPreprocessor(resolved.preprocessor_path, run.config.model.seq_length)(tf.constant(texts))
    probs = tf.nn.softmax(classifier(ids, training=False), axis=-1).numpy()
    _, expected = tfclf.load(run.output_dir).predict(texts)
    np.testing.assert_allclose(probs, expected, atol=1e-5)


@pytest.mark.parametrize("content, message", [
    ("- 1\n", "expected a mapping of sections [data, model, optimizer, train]; Received: a list"),
    ("model: 5\n", "expected section 'model' to be a mapping"),
    ("model: [unclosed\n", "not valid YAML"),
])
def test_a_corrupt_run_config_is_a_clear_error_naming_the_file(tmp_path, content, message):
    (tmp_path / "config.yaml").write_text(content)
    with pytest.raises(TfclfError) as e:
        tuner.load_trial_model(tmp_path)
    assert f"run {tmp_path / 'config.yaml'}" in str(e.value) and message in str(e.value)


@pytest.mark.parametrize("held, resumable", [
    ([], False),  # killed between creating the folder and writing into it
    ([".tfclf-output.json"], False),
    (["config.yaml"], False),  # killed before labels.txt
    (["config.yaml", "labels.txt", "checkpoints/"], True),  # a real resume point: kept
])
def test_a_trial_killed_while_its_run_was_being_created_starts_over(base, monkeypatch, tmp_path,
                                                                    held, resumable):
    """A kill right after ``training.fit`` made the trial's partial run folder left one with no
    config.yaml; the re-run read it as a different configuration and the trial FAILED."""

    def killed_while_creating(config, verbose=0):
        partial = rundir.partial_dir(Path(config.train.output_dir))
        partial.mkdir(parents=True)
        for name in held:
            if name.endswith("/"):
                (partial / name).mkdir()
            else:
                (partial / name).write_text("x\n")
        raise KeyboardInterrupt

    out = tmp_path / "search"
    monkeypatch.setattr(training, "fit", killed_while_creating)
    with pytest.raises(KeyboardInterrupt):
        tuner.search(base, TuneConfig(max_trials=1), space(LR_SPACE, base), output_dir=out)
    fake, kept = FakeFit(), []

    def resumed(config, verbose=0):
        kept.append(rundir.partial_dir(Path(config.train.output_dir)).is_dir())
        return fake(config, verbose)

    monkeypatch.setattr(training, "fit", resumed)
    result = tuner.search(base, TuneConfig(max_trials=1), space(LR_SPACE, base), output_dir=out)
    assert kept == [resumable]
    assert [(r.trial_id, r.status) for r in result.trials] == [("0", "COMPLETED")]


def test_a_real_multi_label_search_optimises_micro_f1(tiny_bert, tmp_path):
    """Multi-label trials are ordinary fit runs: the objective val_f1_micro is read from their
    history, and a trial's model rebuilds with sigmoid outputs that match its saved model."""
    import sys

    import numpy as np
    import tensorflow as tf

    import tfclf
    from tfclf import encoders
    from tfclf.preprocessing import TextPreprocessor

    sys.path.insert(0, str(Path(__file__).parent))
    from keyword_data import multilabel_keyword_csv

    base = RunConfig(
        data=DataConfig(data=str(multilabel_keyword_csv(tmp_path / "ml.csv", n=120)), label_column="labels",
                        label_separator="|", blank_labels="empty"),
        model=ModelConfig(encoder=str(tiny_bert.root), seq_length=16, pooling=Pooling.MEAN),
        optimizer=OptimizerConfig(values=(1e-2, 3e-3), boundaries=(30,)),
        train=TrainConfig(epochs=1, batch_size=16))
    out = tmp_path / "search"
    result = tuner.search(base, TuneConfig(max_trials=1, objective="val_f1_micro",
                                                keep_trial_saved_models=True),
                          space({"dropout": [0.0, 0.1]}, base), output_dir=out)
    trial = read_trials(out)[0]
    assert trial["status"] == "COMPLETED" and 0 <= float(trial["val_f1_micro"]) <= 1
    assert result.best_config.data.task.value == "multi-label"
    run_dir = next(out.glob("keras_tuner/trial_*/run"))
    classifier = tuner.load_trial_model(run_dir)
    texts = ["please refund the invoice", "my package is late and my password", "hello"]
    resolved = encoders.resolve(base.model.encoder)
    ids = TextPreprocessor(resolved.preprocessor_path, 16)(tf.constant(texts))
    probs = tf.sigmoid(classifier(ids, training=False)).numpy()
    _, served = tfclf.load(run_dir).predict(texts)
    np.testing.assert_allclose(probs, served, atol=1e-5)


def test_a_search_on_a_store_is_published_and_resumes_from_it(base, fake_fit, tmp_path, monkeypatch):
    import shutil
    import tempfile
    import uuid

    import tensorflow as tf

    from tfclf import object_storage
    from tfclf.data import filesystem

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the local staging folder goes here
    root = f"ram://tfclf-tune-{uuid.uuid4().hex[:8]}"
    url = f"{root}/search"
    try:
        result = tuner.search(base, TuneConfig(max_trials=2), space(LR_SPACE, base), output_dir=url)
        assert result.published == url and len(fake_fit.configs) == 2
        with tf.io.gfile.GFile(f"{url}/{results.TRIALS_CSV}") as f:
            assert len(list(csv.DictReader(f))) == 2
        with tf.io.gfile.GFile(f"{url}/.tfclf-output.json") as f:
            assert json.load(f)["kind"] == "tuning"
        # Another machine (no local staging copy) resumes the published search: no trial runs twice.
        shutil.rmtree(object_storage.staging_dir(url))
        tuner.search(base, TuneConfig(max_trials=3), space(LR_SPACE, base), output_dir=url)
        assert len(fake_fit.configs) == 3
        with tf.io.gfile.GFile(f"{url}/{results.TRIALS_CSV}") as f:
            assert [r["trial_id"] for r in csv.DictReader(f)] == ["0", "1", "2"]
    finally:
        filesystem.remove(root)
