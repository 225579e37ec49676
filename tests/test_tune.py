"""``python -m tfclf.tune`` for real: tiny encoder searches, killed and resumed, and distributed.

Every search here trains the tiny TF Hub BERT for one epoch per trial in subprocesses,
as a user would run it. Each subprocess has a timeout and is killed in ``finally``.
"""
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from tfclf import tune
from tfclf.tuning import tuner as tune_lib

TIMEOUT = 420  # seconds per tuner process; a whole search here takes about a minute


def write_keyword_csv(path, n=60, seed=0):
    """Texts labelled by one keyword among filler words: the tiny encoder learns them in an epoch."""
    rng = np.random.default_rng(seed)
    keywords = {"account": ["password", "login", "email"], "billing": ["refund", "charge", "invoice"],
                "shipping": ["package", "delivery", "late"]}
    filler = ["the", "my", "is", "and", "please", "help", "with", "a", "to", "it"]
    labels = sorted(keywords)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(n):
            label = labels[i % 3]
            words = list(rng.choice(filler, size=rng.integers(3, 8)))
            words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(keywords[label])))
            w.writerow([" ".join(words), label])
    return path


def write_experiment(tmp_path, tiny_bert, max_trials=3):
    path = tmp_path / "tiny_search.yaml"
    path.write_text(yaml.safe_dump({
        "data": {"data": str(write_keyword_csv(tmp_path / "tickets.csv")), "split": [0.6, 0.2, 0.2]},
        "model": {"encoder": str(tiny_bert.root), "seq_length": 16, "pooling": "mean"},
        "optimizer": {"boundaries": [30], "values": [1.0e-2, 3.0e-3]},
        "train": {"epochs": 1, "batch_size": 16},
        "tune": {"tuner": "random", "max_trials": max_trials, "objective": "val_f1_macro"},
        "search": {"learning_rate": {"min": 1.0e-3, "max": 3.0e-2, "sampling": "log"},
                   "dropout": [0.0, 0.2]},
    }))
    return path


def start(args, log_path):
    """Starts ``python -m tfclf.tune ARGS`` with stdout and stderr in ``log_path``."""
    log = open(log_path, "w")
    return subprocess.Popen([sys.executable, "-m", "tfclf.tune", *map(str, args)], stdout=log,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ}), log


def stop(processes):
    for proc, log in processes:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        log.close()


def wait_for(condition, timeout, processes=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        for proc, _ in processes:
            assert proc.poll() is None, f"a tuner process exited early with {proc.returncode}"
        time.sleep(0.2)
    raise AssertionError("timed out")


def read_trials(out):
    with open(out / "trials.csv", newline="") as f:
        return list(csv.DictReader(f))


def describe_trials(rows):
    """trials.csv rows as "id status: message" lines, for assertion messages."""
    return "\n".join(f"trial {r['trial_id']} {r['status']}: {r['message']}" for r in rows)


def started_trials(log_text):
    return [line.split("Trial ", 1)[1].split(" ", 1)[0] for line in log_text.splitlines()
            if " started: " in line and "tfclf.tuning.tuner" in line]


# ---------------------------------------------------------------- killed, resumed, refit

@pytest.fixture(scope="module")
def resumed_search(tiny_bert, tmp_path_factory):
    """A 3-trial search killed with SIGKILL during trial 1, then re-run with --refit.

    It keeps the trials' SavedModels, which test_a_trial_model_reloads_as_tf_keras compares with.
    """
    tmp = tmp_path_factory.mktemp("tune")
    experiment = write_experiment(tmp, tiny_bert)
    out = tmp / "tuning"
    args = ["--config", experiment, "--output-dir", out, "--keep-trial-saved-models"]
    trials = out / "keras_tuner"
    processes = []
    try:
        first = start(args, tmp / "first.log")
        processes.append(first)
        # Mid-trial: trial 0 reported, trial 1's run folder is being written.
        wait_for(lambda: (trials / "trial_0" / "result.json").is_file()
                 and (trials / "trial_1" / ".run.partial").is_dir(), TIMEOUT, [first])
        first[0].send_signal(signal.SIGKILL)
        first[0].wait(timeout=30)
        trial_0_run = trials / "trial_0" / "run" / "metrics.json"
        before = {"trial_0_mtime": trial_0_run.stat().st_mtime_ns,
                  # What trial 1's partial run held at the kill: it may be only just created.
                  "trial_1_partial": sorted(p.name for p in (trials / "trial_1" / ".run.partial").iterdir()),
                  "trials_csv": read_trials(out),
                  "oracle": json.loads((trials / "oracle.json").read_text())}
        second = start(args + ["--refit"], tmp / "second.log")
        processes.append(second)
        second[0].wait(timeout=TIMEOUT)
        logs = [(tmp / name).read_text() for name in ("first.log", "second.log")]
        assert second[0].returncode == 0, logs[1][-3000:]
    finally:
        stop(processes)
    return {"out": out, "before": before, "logs": logs, "trial_0_run": trial_0_run}


def test_killed_search_resumes_without_repeating_or_losing_a_trial(resumed_search):
    out, before, (first_log, second_log) = (resumed_search[k] for k in ("out", "before", "logs"))
    # At the kill: trial 0 recorded, trial 1 handed out and unfinished.
    assert [(r["trial_id"], r["status"]) for r in before["trials_csv"]] == [("0", "COMPLETED")]
    assert before["oracle"]["ongoing_trials"] == {"tuner0": "1"}
    assert started_trials(first_log) == ["0", "1"]
    # The re-run trains trial 1 again and then trial 2; never trial 0.
    assert started_trials(second_log) == ["1", "2"]
    assert "Resuming the search" in second_log and "1 of 3 trials finished" in second_log
    assert resumed_search["trial_0_run"].stat().st_mtime_ns == before["trial_0_mtime"]
    rows = read_trials(out)
    assert [(r["trial_id"], r["status"]) for r in rows] == [("0", "COMPLETED"), ("1", "COMPLETED"),
                                                             ("2", "COMPLETED")], (
        describe_trials(rows), "trial 1's partial run at the kill:", before["trial_1_partial"])
    assert rows[0] == before["trials_csv"][0]
    for r in rows:
        assert r["epochs_run"] == "1" and float(r["duration_seconds"]) > 0
        assert 0 <= float(r["val_f1_macro"]) <= 1
        assert sorted(p.name for p in (out / "keras_tuner" / f"trial_{r['trial_id']}").iterdir()) == [
            "result.json", "run", "trial.json"]


def test_the_best_trial_is_chosen_by_the_objective(resumed_search):
    out, second_log = resumed_search["out"], resumed_search["logs"][1]
    rows = read_trials(out)
    assert all(r["status"] == "COMPLETED" for r in rows), describe_trials(rows)  # else no objective
    best_row = max(rows, key=lambda r: (float(r["val_f1_macro"]), -int(r["trial_id"])))
    best = yaml.safe_load((out / "best_hyperparameters.yaml").read_text())
    assert best["trial_id"] == best_row["trial_id"]
    assert best["objective"]["value"] == pytest.approx(float(best_row["val_f1_macro"]))
    assert best["hyperparameters"]["learning_rate"] == pytest.approx(float(best_row["learning_rate"]))
    # The summary ranks by the objective and the CLI prints it.
    table = [line.split("|") for line in (out / "summary.md").read_text().splitlines()
             if line.startswith("| ") and line.split("|")[1].strip().isdigit()]
    scores = [float(cells[3]) for cells in table]
    assert scores == sorted(scores, reverse=True) and table[0][2].strip() == best_row["trial_id"]
    assert "# Tuning summary" in second_log and f"Best: trial {best_row['trial_id']}" in second_log


def test_refit_is_a_normal_run_directory_that_exports(resumed_search, tmp_path):
    import tfclf
    from tfclf import config as config_lib
    from tfclf.serving import tf_serving

    out = resumed_search["out"]
    best_dir = out / "best"
    for name in ("config.yaml", "labels.txt", "metrics.json", "history.csv", "saved_model/saved_model.pb"):
        assert (best_dir / name).exists(), name
    assert not list(out.glob(".best*"))  # no partial folder left behind
    saved = yaml.safe_load((best_dir / "config.yaml").read_text())
    best_config = yaml.safe_load((out / "best_config.yaml").read_text())
    assert saved["optimizer"]["learning_rate"] == best_config["optimizer"]["learning_rate"]
    assert saved["train"]["monitor"] == "val_f1_macro"
    assert "Refit run directory:" in resumed_search["logs"][1]
    exported = tf_serving.export_run(best_dir, config_lib.ExportConfig(
        export_dir=str(tmp_path / "serving" / "tickets"), warmup_requests=False))
    labels, probs = tfclf.load(exported.path).predict(["please refund the invoice", "my package is late"])
    assert probs.shape == (2, 3) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert set(labels) <= {"account", "billing", "shipping"}


def session_hparams(logs):
    """The HParams of every ``session_start_info`` in the event files directly in ``logs``."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import plugin_data_pb2

    found = []
    for path in sorted(tf.io.gfile.glob(str(logs / "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == "_hparams_/session_start_info":
                    start = plugin_data_pb2.HParamsPluginData.FromString(
                        value.metadata.plugin_data.content).session_start_info
                    found.append({k: getattr(v, v.WhichOneof("kind")) for k, v in start.hparams.items()})
    return found


def test_each_trial_logs_its_hyperparameters_for_tensorboard(resumed_search):
    """``tensorboard --logdir SEARCH`` compares the trials: each run has its logs and HParams."""
    out = resumed_search["out"]
    rows = read_trials(out)
    assert len(rows) == 3
    for r in rows:
        logs = out / "keras_tuner" / f"trial_{r['trial_id']}" / "run" / "logs"
        # Trial 1 was killed and resumed: each session wrote its own (equal) HParams.
        sessions = session_hparams(logs)
        assert sessions and all(s == sessions[0] for s in sessions), r["trial_id"]
        hparams = sessions[0]
        assert hparams["optimizer.learning_rate"] == pytest.approx(float(r["learning_rate"]))
        assert hparams["model.dropout"] == pytest.approx(float(r["dropout"]))
        assert hparams["train.monitor"] == "val_f1_macro" and hparams["train.epochs"] == 1
        assert hparams["train.output_dir"].endswith(f"trial_{r['trial_id']}/run")
        for split in ("train", "validation", "evaluation"):
            assert list((logs / split).glob("events.out.tfevents.*")), (r["trial_id"], split)
    learning_rates = {session_hparams(out / "keras_tuner" / f"trial_{r['trial_id']}" / "run" / "logs")[0]
                      ["optimizer.learning_rate"] for r in rows}
    assert len(learning_rates) == 3  # the table has something to compare
    assert session_hparams(out / "best" / "logs")  # --refit is a normal run with logs too


def test_a_trial_model_reloads_as_tf_keras(resumed_search):
    """``FineTuningTuner.load_model``'s rebuild gives the trial's saved model's probabilities."""
    import tensorflow as tf

    import tfclf
    from tfclf import encoders
    from tfclf.tuning import tuner
    from tfclf.preprocessing import TextPreprocessor

    run_dir = resumed_search["out"] / "keras_tuner" / "trial_0" / "run"
    classifier = tuner.load_trial_model(run_dir)
    assert classifier.name == "classifier"
    texts = ["please refund the invoice", "my package is late", "login email password"]
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    resolved = encoders.resolve(config["model"]["encoder"])
    ids = TextPreprocessor(resolved.preprocessor_path, config["model"]["seq_length"])(tf.constant(texts))
    probs = tf.nn.softmax(classifier(ids, training=False), axis=-1).numpy()
    _, expected = tfclf.load(run_dir).predict(texts)
    np.testing.assert_allclose(probs, expected, atol=1e-5)


# ----------------------------------------------------------------------------- distributed

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_chief_and_two_workers_record_every_trial_once(tiny_bert, tmp_path):
    experiment = write_experiment(tmp_path, tiny_bert, max_trials=3)
    out = tmp_path / "tuning"
    oracle = f"127.0.0.1:{free_port()}"
    common = ["--config", experiment, "--output-dir", out, "--oracle", oracle]
    processes = []
    try:
        # Workers first: they wait for the oracle without touching --output-dir, which the
        # chief must find empty (CI once saw a worker create it first and the chief refuse it).
        for name in ("worker-a", "worker-b"):
            processes.append(start(common + ["--role", "worker", "--tuner-id", name],
                                   tmp_path / f"{name}.log"))
        time.sleep(2)
        processes.append(start(common + ["--role", "chief"], tmp_path / "chief.log"))
        deadline = time.monotonic() + TIMEOUT
        for (proc, _), name in zip(processes, ["worker-a", "worker-b", "chief"]):
            try:
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"{name} still running after {TIMEOUT} s:\n" + "\n".join(
                    f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(tmp_path.glob("*.log"))))
        # A worker that starts after the search is over stops at once, even with the chief gone.
        late = start(common + ["--role", "worker", "--tuner-id", "late"], tmp_path / "late.log")
        processes.append(late)
        late[0].wait(timeout=TIMEOUT)
        logs = {p: p.read_text() for p in sorted(tmp_path.glob("*.log"))}
        for (proc, _), path in zip(processes, ["worker-a.log", "worker-b.log", "chief.log", "late.log"]):
            assert proc.returncode == 0, (path, logs[tmp_path / path][-3000:])
    finally:
        stop(processes)
    assert "search is over and its chief has left" in logs[tmp_path / "late.log"]
    assert started_trials(logs[tmp_path / "late.log"]) == []
    assert json.loads((out / "search_finished.json").read_text()) == {"trials_ended": 3, "max_trials": 3}
    rows = read_trials(out)
    assert [(r["trial_id"], r["status"]) for r in rows] == [("0", "COMPLETED"), ("1", "COMPLETED"),
                                                             ("2", "COMPLETED")]
    ran = {name: started_trials(logs[tmp_path / f"{name}.log"]) for name in ("worker-a", "worker-b")}
    assert sorted(ran["worker-a"] + ran["worker-b"]) == ["0", "1", "2"]  # each trial exactly once
    assert started_trials(logs[tmp_path / "chief.log"]) == []  # the chief only serves the oracle
    assert "Oracle serving at " + oracle in logs[tmp_path / "chief.log"]
    assert logs[tmp_path / "chief.log"].count(" completed in ") == 3  # the chief logs every report
    assert "# Tuning summary" in logs[tmp_path / "chief.log"]
    for name in ("worker-a", "worker-b"):
        assert f"Worker {name} done" in logs[tmp_path / f"{name}.log"]
    for r in rows:
        trial_dir = out / "keras_tuner" / f"trial_{r['trial_id']}"
        assert (trial_dir / "run" / "metrics.json").is_file() and (trial_dir / "result.json").is_file()
        # By default a trial keeps its best weights but not a SavedModel.
        assert (trial_dir / "run" / "checkpoints").is_dir()
        assert not (trial_dir / "run" / "saved_model").exists()


def test_a_worker_without_a_chief_stops_after_oracle_wait(tiny_bert, tmp_path, monkeypatch, capsys):
    for var in tune_lib.ENV_VARS:  # the worker sets them; the fixture restores them
        monkeypatch.setenv(var, "unset")
    experiment = write_experiment(tmp_path, tiny_bert)
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    args = ["--config", str(experiment), "--output-dir", str(tmp_path / "tuning"), "--role", "worker",
            "--oracle", address, "--oracle-wait", "1.5"]
    started = time.monotonic()
    assert tune.main(args) == 2
    assert time.monotonic() - started < 120  # bounded, not Keras Tuner's hour (generous for busy CI)
    err = capsys.readouterr().err
    assert f"--oracle {address}: no oracle answered within --oracle-wait 1.5 s" in err
    assert "Traceback" not in err

    # The same worker, once the folder says the search is over, stops at once with exit 0.
    (tmp_path / "tuning").mkdir(exist_ok=True)
    (tmp_path / "tuning" / tune_lib.FINISHED_FILE).write_text("{}")
    assert tune.main(args) == 0
    err = capsys.readouterr().err
    assert "the search is over and its chief has left" in err and " started: " not in err


# ------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("search, argv, message", [
    ({"learning_rate": {"min": 1.0e-3, "max": 1.0e-5}}, [],
     "search.learning_rate: min must be <= max. Received: min=0.001, max=1e-05"),
    ({"learnig_rate": [1.0e-3]}, [], "Unknown key 'learnig_rate' in"),
    ({"batch_size": []}, [], "search.batch_size is an empty list of choices"),
    ({"dropout": [0.1]}, ["--role", "worker"], "--role worker needs --oracle HOST:PORT"),
    ({"dropout": [0.1]}, ["--tuner", "grid"], "invalid choice: 'grid'"),
])
def test_bad_search_input_exits_2_with_one_message(search, argv, message, tmp_path, capsys):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({"search": search}))
    try:
        code = tune.main(["--config", str(path), "--output-dir", str(tmp_path / "out"), *argv])
    except SystemExit as e:  # argparse
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
