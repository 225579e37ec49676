"""TensorBoard logs: a tiny run's RUN/logs/ read back from its event files, and the helpers.

The run trains the tiny TF Hub BERT for 2 epochs of 6 steps (36 training rows, batch 6)
with ``--log-every-steps 3``; the learning rate drops from 1e-2 to 3e-3 after step 6.
"""
import io
import json
import math
import re
from collections import defaultdict

import numpy as np
import pytest
import tensorflow as tf
import yaml
from PIL import Image
from tensorboard.plugins.hparams import plugin_data_pb2

from tfclf import config as config_lib, rundir, tensorboard_logs, training
from tfclf.fit import build_parser as fit_parser
from tfclf.errors import TfclfError
from tfclf.tensorboard_logs import Misclassified, flat_hparams, worst_misclassified

from keyword_data import keyword_csv


def cli_config(tiny_bert, tmp_path, *flags):
    """The run config that ``python -m tfclf.fit`` builds from these flags."""
    data = keyword_csv(tmp_path / "data.csv", n=60)
    args = fit_parser().parse_args([
        "--data", str(data), "--split", "0.6,0.2,0.2", "--encoder", str(tiny_bert.root), "--seq-length", "16",
        "--pooling", "mean", "--values", "1e-2,3e-3", "--boundaries", "6", "--epochs", "2", "--batch-size", "6",
        "--output-dir", str(tmp_path / "run"), *flags])
    return config_lib.from_args(args)


def read_events(folder):
    """``{tag: [(step, value)]}`` of every event file in ``folder`` (not below it); a value is a
    float for a scalar, else the summary's ``Summary.Value``."""
    found = defaultdict(list)
    for path in sorted(tf.io.gfile.glob(str(folder / "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                data = float(tf.make_ndarray(value.tensor)) if plugin == "scalars" else value
                found[value.tag].append((event.step, data))
    return dict(found)


@pytest.fixture(scope="module")
def logged_run(tiny_bert, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tensorboard")
    config = cli_config(tiny_bert, tmp, "--log-every-steps", "3")
    run = training.fit(config, verbose=0)
    logs = run.output_dir / rundir.LOGS
    return {"run": run, "config": config,
            "events": {name: read_events(logs / name) for name in ("", "train", "validation", "evaluation")}}


def test_cli_flags_set_the_config(tiny_bert, tmp_path):
    config = cli_config(tiny_bert, tmp_path, "--no-tensorboard", "--log-every-steps", "7")
    assert (config.train.tensorboard, config.train.log_every_steps) == (False, 7)
    assert cli_config(tiny_bert, tmp_path).train.tensorboard is True  # on by default
    assert cli_config(tiny_bert, tmp_path).train.log_every_steps == 50
    with pytest.raises(TfclfError, match=r"--log-every-steps must be >= 1. Received: log_every_steps=0"):
        cli_config(tiny_bert, tmp_path, "--log-every-steps", "0")


def test_step_summaries_every_n_steps(logged_run):
    run, train = logged_run["run"], logged_run["events"]["train"]
    assert run.metrics["optimizer_steps"] == 12
    assert [s for s, _ in train["step/loss"]] == [3, 6, 9, 12]
    assert [s for s, _ in train["step/learning_rate"]] == [3, 6, 9, 12]
    # PiecewiseConstantDecay(boundaries=[6]): updates 1-7 use step counts 0-6, so 1e-2 until step 7.
    assert [v for _, v in train["step/learning_rate"]] == pytest.approx([1e-2, 1e-2, 3e-3, 3e-3])
    # At an epoch's last step, the running mean loss is the epoch's loss in history.csv.
    history = rundir.read_history(run.output_dir / rundir.HISTORY)
    losses = dict(train["step/loss"])
    assert [losses[6], losses[12]] == pytest.approx(history["loss"], rel=1e-5)
    assert all(math.isfinite(v) and v > 0 for v in losses.values())


def test_epoch_metrics_for_train_and_validation(logged_run):
    history = rundir.read_history(logged_run["run"].output_dir / rundir.HISTORY)
    for split, prefix in (("train", ""), ("validation", "val_")):
        events = logged_run["events"][split]
        for metric in tensorboard_logs.EPOCH_METRICS:
            values = events[f"epoch/{metric}"]
            assert [s for s, _ in values] == [0, 1], (split, metric)
            assert [v for _, v in values] == pytest.approx(history[prefix + metric], rel=1e-5), (split, metric)
    assert "step/loss" not in logged_run["events"]["validation"]


def test_evaluation_scalars_image_and_worst_misclassified(logged_run):
    run, events = logged_run["run"], logged_run["events"]["evaluation"]
    metrics = json.loads((run.output_dir / rundir.METRICS).read_text())
    assert metrics["split"] == "test"
    for name in tensorboard_logs.EVAL_METRICS[False]:
        assert events[f"eval/{name}"] == [(12, pytest.approx(metrics[name], rel=1e-6))], name

    [(step, image)] = events["confusion_matrix"]
    assert step == 12 and image.metadata.plugin_data.plugin_name == "images"
    width, height, png = tf.make_ndarray(image.tensor)
    assert Image.open(io.BytesIO(png)).size == Image.open(run.output_dir / "confusion_matrix.png").size
    assert (int(width), int(height)) == Image.open(run.output_dir / "confusion_matrix.png").size

    [(_, text)] = events["worst_misclassified"]
    table = tf.make_ndarray(text.tensor).item().decode()
    # The best epoch's validation accuracy says how many of the 12 validation rows are wrong.
    history = rundir.read_history(run.output_dir / rundir.HISTORY)
    best = rundir.best_epoch(history["val_f1_macro"], "val_f1_macro")
    wrong = round(12 * (1 - history["val_accuracy"][best]))
    rows = [line.split(" | ") for line in table.splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(rows) == wrong, table
    if not wrong:
        assert table == "No misclassified example in the validation split."
        return
    assert table.startswith(f"The {wrong} wrong predictions of the validation split")
    texts = (run.output_dir.parent / "data.csv").read_text()
    probabilities = [float(r[1]) for r in rows]
    assert probabilities == sorted(probabilities, reverse=True) and all(p > 1 / 3 for p in probabilities)
    for _, _, true, predicted, text in rows:
        assert true != predicted and true in {"account", "billing", "shipping"}
        assert text.rstrip(" |") in texts


def test_hparams_hold_the_run_config(logged_run):
    config, events = logged_run["config"], logged_run["events"][""]
    [(_, experiment)] = events["_hparams_/experiment"]
    [(_, session)] = events["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(
        session.metadata.plugin_data.content).session_start_info
    hparams = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind")) for k, v in start.hparams.items()}
    assert hparams["train.log_every_steps"] == 3 and hparams["train.batch_size"] == 6
    assert hparams["train.epochs"] == 2 and hparams["train.tensorboard"] is True
    assert hparams["optimizer.values"] == "0.01,0.003" and hparams["optimizer.boundaries"] == "6"
    assert hparams["model.pooling"] == "mean" and hparams["model.encoder"] == config.model.encoder
    assert hparams["optimizer.learning_rate"] == "none"
    # The resolved config, as config.yaml records it (data.task auto -> single-label, ...).
    saved = yaml.safe_load((logged_run["run"].output_dir / rundir.CONFIG).read_text())
    saved.pop(rundir.RESOLVED_ENCODER)
    assert hparams == flat_hparams(saved) and hparams["data.task"] == "single-label"

    summary = plugin_data_pb2.HParamsPluginData.FromString(
        experiment.metadata.plugin_data.content).experiment
    assert {h.name for h in summary.hparam_infos} == set(hparams)
    metrics = {(m.name.group, m.name.tag) for m in summary.metric_infos}
    assert {("validation", "epoch/f1_macro"), ("train", "epoch/loss"), ("evaluation", "eval/accuracy")} <= metrics


def test_no_tensorboard_writes_no_logs(tiny_bert, tmp_path):
    run = training.fit(cli_config(tiny_bert, tmp_path, "--no-tensorboard", "--epochs", "1"), verbose=0)
    assert not (run.output_dir / rundir.LOGS).exists()
    assert (run.output_dir / rundir.METRICS).is_file() and (run.output_dir / rundir.MODEL_CARD).is_file()


# ------------------------------------------------------------------------------ helpers

def test_flat_hparams_turns_sections_into_plugin_types():
    flat = flat_hparams({"model": {"encoder": "minilm", "dropout": 0.1, "trainable": "all"},
                         "optimizer": {"values": [5e-5, 1e-5], "boundaries": [1000], "learning_rate": None},
                         "train": {"epochs": 3, "tensorboard": False, "seeds": []},
                         "data": {"where": {"lang": "en"}}})
    assert flat == {"model.encoder": "minilm", "model.dropout": 0.1, "model.trainable": "all",
                    "optimizer.values": "5e-05,1e-05", "optimizer.boundaries": "1000",
                    "optimizer.learning_rate": "none", "train.epochs": 3, "train.tensorboard": False,
                    "train.seeds": "", "data.where": "{'lang': 'en'}"}
    assert all(isinstance(v, (bool, int, float, str)) for v in flat.values())


def test_worst_misclassified_orders_by_confidence_and_skips_right_answers():
    names = ["a", "b", "c"]
    y = np.array([0, 1, 2, 0, 1])
    p = np.array([[0.1, 0.6, 0.3],    # wrong (b), 0.6
                  [0.1, 0.8, 0.1],    # right
                  [0.9, 0.05, 0.05],  # wrong (a), 0.9
                  [0.2, 0.2, 0.6],    # wrong (c), 0.6: a tie keeps the row order
                  [0.5, 0.4, 0.1]])   # wrong (a), 0.5
    rows = worst_misclassified(y, p, names)
    assert [(r.index, r.true, r.predicted) for r in rows] == [(2, "c", "a"), (0, "a", "b"), (3, "a", "c"),
                                                              (4, "b", "a")]
    assert [r.probability for r in rows] == pytest.approx([0.9, 0.6, 0.6, 0.5])
    assert [r.index for r in worst_misclassified(y, p, names, k=2)] == [2, 0]
    assert worst_misclassified(np.array([1]), np.array([[0.2, 0.7, 0.1]]), names) == []


def test_worst_misclassified_multi_label_ranks_the_surest_wrong_decision():
    names = ["a", "b"]
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], np.float32)
    p = np.array([[0.9, 0.2],    # right
                  [0.7, 0.8],    # a wrongly predicted at 0.7
                  [0.95, 0.05],  # b wrongly left out: sure at 1 - 0.05
                  [0.1, 0.55]])  # b wrongly predicted at 0.55; with b's threshold 0.6: right
    rows = worst_misclassified(y, p, names)
    assert [(r.index, r.true, r.predicted) for r in rows] == [(2, "a, b", "a"), (1, "b", "a, b"), (3, "(none)", "b")]
    assert [r.probability for r in rows] == pytest.approx([0.95, 0.7, 0.55])
    assert [r.index for r in worst_misclassified(y, p, names, thresholds=np.array([0.5, 0.6]))] == [2, 1]


def test_misclassified_markdown_escapes_and_cuts_texts():
    rows = [Misclassified(4, "a", "b", 0.91234, "x | y\nz " + "w" * 400)]
    table = tensorboard_logs.misclassified_markdown(rows, "validation")
    line = table.splitlines()[-1]
    assert line.startswith("| 4 | 0.9123 | a | b | x \\| y z w")
    assert line.endswith("… |") and len(line) < 340
    assert tensorboard_logs.misclassified_markdown([], "test") == "No misclassified example in the test split."


def test_training_logs_rejects_a_bad_interval(tmp_path):
    with pytest.raises(ValueError, match="every_steps must be >= 1. Received: 0"):
        tensorboard_logs.TrainingLogs(tmp_path, 0, {})
