"""The run directory's contract: one history parser, one best-epoch rule, one reader per file."""
import json
import math

import pytest

from tfclf import rundir
from tfclf.config import DataConfig, Monitor, RunConfig, TrainConfig, save_yaml
from tfclf.errors import TfclfError
from tfclf.labels import LabelVocabulary

NAN = float("nan")
# An interrupted epoch 1 was logged, then the resumed session logged it again.
RESUMED = ("epoch,loss,val_loss,val_f1_macro\n0,1.0,0.9,0.5\n1,0.8,0.85,0.6\n1,0.7,0.8,0.65\n"
           "2,0.5,0.7,nan\n")


def test_names_and_partial_dir(tmp_path):
    assert rundir.BEST_WEIGHTS == "checkpoints/best" and rundir.SAVED_MODEL == "saved_model"
    assert (rundir.CONFIG, rundir.LABELS, rundir.HISTORY, rundir.METRICS) == (
        "config.yaml", "labels.txt", "history.csv", "metrics.json")
    assert rundir.partial_dir(tmp_path / "runs" / "demo") == tmp_path / "runs" / ".demo.partial"
    assert rundir.partial_dir(str(tmp_path / "demo")) == tmp_path / ".demo.partial"


# ------------------------------------------------------------------------------ read_history

def test_read_history_keeps_the_last_row_of_a_repeated_epoch(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text(RESUMED)
    h = rundir.read_history(path)
    assert list(h) == ["loss", "val_loss", "val_f1_macro"]  # one value per epoch; no "epoch" column
    assert h["loss"] == [1.0, 0.7, 0.5] and h["val_loss"] == [0.9, 0.8, 0.7]
    assert h["val_f1_macro"][:2] == [0.5, 0.65] and math.isnan(h["val_f1_macro"][2])


def test_read_history_sorts_by_epoch_and_reads_csvlogger_na(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss,val_loss\n1,0.4,0.3\n0,0.5,NA\n")
    h = rundir.read_history(path)
    assert h["loss"] == [0.5, 0.4] and math.isnan(h["val_loss"][0]) and h["val_loss"][1] == 0.3


def test_read_history_of_a_missing_or_empty_file_is_empty(tmp_path):
    assert rundir.read_history(tmp_path / "nowhere.csv") == {}
    (tmp_path / "header.csv").write_text("epoch,loss\n")
    assert rundir.read_history(tmp_path / "header.csv") == {}
    (tmp_path / "empty.csv").write_text("")
    assert rundir.read_history(tmp_path / "empty.csv") == {}


def test_run_history_and_best_epoch_after_a_resume(tmp_path):
    """The best epoch indexes the deduplicated history: the repeated epoch counts once."""
    (tmp_path / "history.csv").write_text(RESUMED)
    run = rundir.RunDirectory(tmp_path)
    assert len(run.history()["val_loss"]) == 3
    assert run.best_epoch() == 1  # val_f1_macro: 0.65 (the kept row of epoch 1), epoch 2 is nan
    assert run.best_epoch("val_loss") == 2
    assert run.best_epoch(Monitor.VAL_ACCURACY) is None  # not in the history
    assert rundir.RunDirectory(tmp_path / "nowhere").best_epoch() is None


# -------------------------------------------------------------------------------- best_epoch

@pytest.mark.parametrize("monitor, values, expected", [
    ("val_f1_macro", [0.5, 0.7, 0.6], 1),
    ("val_loss", [0.9, 0.7, 0.8], 1),
    # NaN never wins: np.argmax/argmin (train's old restore log) and min/max (its old
    # checkpoint threshold and seed choice) picked it when it came first.
    ("val_f1_macro", [NAN, 0.2, 0.1], 1),
    ("val_loss", [NAN, 0.7, 0.8], 1),
    ("val_accuracy", [0.3, NAN, 0.4], 2),
    ("val_loss", [0.9, NAN, 0.8, NAN], 2),
    # Infinities never win either: ModelCheckpoint never saves them.
    ("val_loss", [math.inf, 0.7], 1),
    # Ties: the earliest, the one ModelCheckpoint kept (it saves on a strict improvement).
    ("val_f1_macro", [0.5, 0.8, 0.8, 0.2], 1),
    ("val_loss", [0.9, 0.4, 0.6, 0.4], 1),
    ("val_mcc", [0.1, 0.1], 0),
])
def test_best_epoch(monitor, values, expected):
    assert rundir.best_epoch(values, monitor) == expected
    assert rundir.best_epoch(values, Monitor(monitor)) == expected


def test_best_epoch_is_none_without_a_finite_value():
    assert rundir.best_epoch([], "val_loss") is None
    assert rundir.best_epoch([NAN, NAN], "val_f1_macro") is None
    assert rundir.best_epoch([None, NAN], "val_loss") is None


def test_best_epoch_refuses_an_unknown_monitor():
    with pytest.raises(TfclfError, match=r"--monitor must be one of \[.*'val_loss'.*\]. Received: monitor='loss'"):
        rundir.best_epoch([0.1], "loss")


# ----------------------------------------------------------------------------- RunDirectory

def saved_run(path, config=None, **extra):
    path.mkdir(parents=True, exist_ok=True)
    save_yaml(config or RunConfig(data=DataConfig(data="d.csv"), train=TrainConfig(monitor="val_loss")),
              path / rundir.CONFIG, extra=extra or None)
    return rundir.RunDirectory(path, role="--model")


def test_config_reads_the_saved_run_config(tmp_path):
    config = RunConfig(data=DataConfig(data="d.csv"), train=TrainConfig(monitor="val_accuracy", epochs=2))
    run = saved_run(tmp_path / "run", config,
                    resolved_encoder={"encoder": "/enc", "preprocessor": "/pre"})
    assert run.config() == config and run.config().train.monitor is Monitor.VAL_ACCURACY
    assert run.config_dict()["resolved_encoder"] == {"encoder": "/enc", "preprocessor": "/pre"}
    assert run.config_dict()["train"]["epochs"] == 2
    assert run.resolved_encoder() == {"encoder": "/enc", "preprocessor": "/pre"}
    assert run.monitor() is Monitor.VAL_ACCURACY
    assert rundir.RunDirectory(tmp_path / "nowhere").config_dict() == {}
    assert rundir.RunDirectory(tmp_path / "nowhere").resolved_encoder() == {}


def test_config_errors_name_the_run_and_the_file(tmp_path):
    run = rundir.RunDirectory(tmp_path, role="--model")
    with pytest.raises(TfclfError, match=r"--model '.*' has no config.yaml: it is not a tfclf run directory"):
        run.config()
    (tmp_path / "config.yaml").write_text("train: [1, 2\n")
    with pytest.raises(TfclfError, match=r"--model .*config.yaml"):
        run.config()
    with pytest.raises(TfclfError, match=r"--model .*config.yaml"):
        run.config_dict()
    (tmp_path / "config.yaml").write_text("train:\n  epochs: 0\n")
    with pytest.raises(TfclfError, match=r"--epochs must be >= 1"):
        run.config()
    (tmp_path / "config.yaml").write_text("train:\n  monitor: val_f2\n")
    with pytest.raises(TfclfError, match=r"--model .*config.yaml: train.monitor must be one of \[.*\]. "
                                         r"Received: 'val_f2'"):
        run.config()


@pytest.mark.parametrize("text", [None, "train: [1, 2\n", "train: 3\n", "- a\n", "train:\n  monitor: val_f2\n",
                                  "train:\n  epochs: 2\n", "\xff"])
def test_monitor_defaults_when_config_is_missing_or_damaged(tmp_path, text):
    if text is not None:
        (tmp_path / "config.yaml").write_bytes(text.encode("latin-1"))
    assert rundir.RunDirectory(tmp_path).monitor() is Monitor.default() is Monitor.VAL_F1_MACRO


def test_monitor_reads_the_run_config(tmp_path):
    (tmp_path / "config.yaml").write_text("train:\n  monitor: val_loss\n")
    assert rundir.RunDirectory(tmp_path).monitor() is Monitor.VAL_LOSS
    assert rundir.RunDirectory(tmp_path).monitor().mode == "min"


def test_labels(tmp_path):
    LabelVocabulary(["b", "a"]).save(tmp_path / "labels.txt")
    assert rundir.RunDirectory(tmp_path).labels().names == ("a", "b")
    with pytest.raises(TfclfError, match=r"--model '.*nowhere' has no labels.txt"):
        rundir.RunDirectory(tmp_path / "nowhere", role="--model").labels()
    (tmp_path / "labels.txt").write_text("b\na\n")
    with pytest.raises(TfclfError, match="labels must be unique and sorted"):
        rundir.RunDirectory(tmp_path).labels()


def test_metrics(tmp_path):
    run = rundir.RunDirectory(tmp_path, role="RUN_DIR")
    with pytest.raises(TfclfError, match=r"RUN_DIR '.*' has no metrics.json"):
        run.metrics()
    (tmp_path / "metrics.json").write_text('{"accuracy": 0.5, "split": "test"}')
    assert run.metrics() == {"accuracy": 0.5, "split": "test"}
    (tmp_path / "metrics.json").write_text('{"accuracy": ')
    with pytest.raises(TfclfError, match=r"metrics.json: not a JSON file"):
        run.metrics()
    (tmp_path / "metrics.json").write_bytes(b'{"a": "\xff"}')
    with pytest.raises(TfclfError, match=r"metrics.json: not a JSON file"):
        run.metrics()
    (tmp_path / "metrics.json").write_text(json.dumps([0.5]))
    with pytest.raises(TfclfError, match=r"metrics.json: expected a JSON object of metrics. Received: list"):
        run.metrics()
    (tmp_path / "metrics.json").unlink()
    (tmp_path / "metrics.json").mkdir()
    with pytest.raises(TfclfError, match=r"has no metrics.json"):
        run.metrics()


def test_require_names_what_is_missing(tmp_path):
    with pytest.raises(TfclfError, match=r"RUN_DIR: no such directory: '.*nowhere'"):
        rundir.RunDirectory(tmp_path / "nowhere", role="RUN_DIR").require(rundir.CONFIG)
    run = saved_run(tmp_path / "run")
    run.require(rundir.CONFIG)
    with pytest.raises(TfclfError,
                       match=r"is not a finished tfclf run: missing \['labels.txt', 'checkpoints/best'\]\.$"):
        run.require(rundir.CONFIG, rundir.LABELS, rundir.BEST_WEIGHTS)
    (run / rundir.SEEDS / "1").mkdir(parents=True)
    with pytest.raises(TfclfError, match=r"a multi-seed run: use one of its seeds/<seed>/ folders"):
        run.require(rundir.BEST_WEIGHTS)
    (run / rundir.CHECKPOINTS).mkdir()
    (run / f"{rundir.BEST_WEIGHTS}.index").write_bytes(b"")
    assert run.has_best_weights and run.is_multi_seed and not run.has_saved_model
    run.require(rundir.BEST_WEIGHTS)  # a checkpoint prefix: present when its .index is
    assert run / "x" == run.path / "x" and run.exists(rundir.CONFIG) and not run.exists(rundir.METRICS)
