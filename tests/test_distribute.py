"""tf.distribute strategies: choice, TF_CONFIG, worker folders, and real training under
MirroredStrategy and MultiWorkerMirroredStrategy (two processes on 127.0.0.1) on CPU."""
import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

import tfclf
from tfclf import distribute
from tfclf.config import (DataConfig, ModelConfig, OptimizerConfig, Pooling, RunConfig,
                          Strategy, TrainConfig)
from tfclf.errors import TfclfError

from keyword_data import keyword_csv


def tf_config(ports, index, task_type="worker"):
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": task_type, "index": index}})


# ----------------------------------------------------------------------------- TF_CONFIG

def test_tf_config_roles_follow_tensorflow_chief_rule():
    w0 = distribute.parse_tf_config(tf_config([2222, 2223], 0))
    w1 = distribute.parse_tf_config(tf_config([2222, 2223], 1))
    assert w0.is_chief and not w1.is_chief
    assert (w1.task, w1.num_workers, w1.cluster["worker"]) == ("worker:1", 2, ("127.0.0.1:2222", "127.0.0.1:2223"))
    with_chief = {"cluster": {"chief": ["h0:1"], "worker": ["h1:1", "h2:1"]}}
    chief = distribute.parse_tf_config(json.dumps({**with_chief, "task": {"type": "chief", "index": 0}}))
    worker0 = distribute.parse_tf_config(json.dumps({**with_chief, "task": {"type": "worker", "index": 0}}))
    assert chief.is_chief and not worker0.is_chief and chief.num_workers == 3


@pytest.mark.parametrize("text, message", [
    (None, "TF_CONFIG, which is not set"),
    ("{not json", "TF_CONFIG must be JSON"),
    ('{"cluster": {"worker": ["h:1"]}}', "must have a 'cluster' and a 'task'"),
    ('{"cluster": {"ps": ["h:1"]}, "task": {"type": "ps", "index": 0}}', "task types must be one of"),
    ('{"cluster": {"worker": ["h"]}, "task": {"type": "worker", "index": 0}}', "'host:port' strings"),
    ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "chief", "index": 0}}', "task.type must be one of"),
    ('{"cluster": {"worker": ["h:1", "h:2"]}, "task": {"type": "worker", "index": 2}}',
     r"task.index must be in \[0, 1\]"),
])
def test_bad_tf_config_is_an_actionable_error(text, message):
    with pytest.raises(TfclfError, match=message):
        distribute.parse_tf_config(text)


def test_multi_worker_without_tf_config_fails_before_creating_a_strategy():
    with pytest.raises(TfclfError, match="TF_CONFIG='.*\"cluster\""):
        distribute.get_distribution(Strategy.MULTI_WORKER, environ={})


def test_multi_worker_needs_an_explicit_output_dir(tmp_path):
    config = RunConfig(data=DataConfig(data=str(keyword_csv(tmp_path / "d.csv", 30))),
                       train=TrainConfig(strategy=Strategy.MULTI_WORKER))
    with pytest.raises(TfclfError, match="--strategy multi-worker needs --output-dir"):
        tfclf.fit(config)


# ----------------------------------------------------------------------------- choice

@pytest.mark.parametrize("gpus, expected", [
    ([], Strategy.DEFAULT),
    (["/physical_device:GPU:0"], Strategy.DEFAULT),
    (["/physical_device:GPU:0", "/physical_device:GPU:1"], Strategy.MIRRORED),
    ([f"/physical_device:GPU:{i}" for i in range(8)], Strategy.MIRRORED),
])
def test_auto_picks_mirrored_only_with_several_gpus(gpus, expected):
    assert distribute.resolve_strategy(Strategy.AUTO, gpus) is expected
    assert distribute.resolve_strategy("auto", gpus) is expected
    for explicit in (Strategy.DEFAULT, Strategy.MIRRORED, Strategy.MULTI_WORKER, Strategy.TPU):
        assert distribute.resolve_strategy(explicit, gpus) is explicit
    assert distribute.get_distribution(Strategy.AUTO, environ={}, gpus=gpus).kind is expected


def test_strategies_on_this_cpu():
    import tensorflow as tf

    auto = distribute.get_distribution(Strategy.AUTO, environ={})
    assert auto.kind is Strategy.DEFAULT and auto.num_replicas == 1 and auto.is_chief  # no GPU here
    mirrored = distribute.get_distribution(Strategy.MIRRORED, environ={})
    assert isinstance(mirrored.strategy, tf.distribute.MirroredStrategy) and mirrored.num_replicas == 1
    assert distribute.get_distribution(Strategy.MIRRORED, environ={}) is mirrored  # created once
    mirrored.barrier()  # a no-op outside a cluster


def test_tpu_strategy_errors_without_a_tpu_and_needs_fixed_padding():
    with pytest.raises(TfclfError, match="--no-dynamic-padding"):
        TrainConfig(strategy=Strategy.TPU)
    assert TrainConfig(strategy=Strategy.TPU, dynamic_padding=False).strategy is Strategy.TPU
    with pytest.raises(TfclfError, match="--strategy tpu found no TPU on this host"):
        distribute.get_distribution(Strategy.TPU, environ={})


def test_strategy_flag_yaml_and_saved_config(tmp_path):
    import argparse

    from tfclf import config as config_lib

    parser = argparse.ArgumentParser()
    config_lib.add_arguments(parser)
    config = config_lib.from_args(parser.parse_args(["--strategy", "multi-worker", "--output-dir", "x"]))
    assert config.train.strategy is Strategy.MULTI_WORKER
    assert RunConfig().train.strategy is Strategy.AUTO
    config_lib.save_yaml(config, tmp_path / "c.yaml")
    assert "strategy: multi-worker" in (tmp_path / "c.yaml").read_text()
    with pytest.raises(SystemExit):
        parser.parse_args(["--strategy", "horovod"])


# ----------------------------------------------------------------------------- worker folders

def fake_worker(index: int) -> distribute.Distribution:
    """A Distribution with a worker's role (its strategy is the default one: no cluster is started)."""
    import tensorflow as tf

    return distribute.Distribution(Strategy.MULTI_WORKER, tf.distribute.get_strategy(),
                                   distribute.parse_tf_config(tf_config([1, 2], index)))


def test_workers_write_a_private_temporary_folder_the_chief_writes_the_shared_one(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    shared = tmp_path / "runs" / ".r.partial"
    with fake_worker(0).write_dir(shared) as root:
        assert root == shared
    worker = fake_worker(1)
    with worker.write_dir(shared) as root:
        assert root.name == shared.name and (tmp_path / "tmp") in root.parents
        assert root.parent.name.startswith("tfclf-worker1-")
        assert worker.shared_path(root / "seeds" / "3") == shared / "seeds" / "3"
        assert worker.shared_path(root) == shared
        root.mkdir()
        (root / "history.csv").write_text("x")
        (shared / "resume" / "workertemp_1").mkdir(parents=True)
        worker.remove_keras_temp(shared / "resume")
        assert not (shared / "resume" / "workertemp_1").exists()
    assert list((tmp_path / "tmp").iterdir()) == []  # removed on exit
    assert worker.shared_path(root) == root  # no longer mapped
    with pytest.raises(TfclfError, match="must be on a filesystem every worker shares"):
        worker.require_shared(tmp_path / "missing" / "config.yaml")


def test_multi_worker_datasets_shard_by_data():
    import tensorflow as tf

    ds = tf.data.Dataset.range(8).batch(4)
    policy = tf.data.experimental.AutoShardPolicy
    assert fake_worker(1).prepare_dataset(ds).options().experimental_distribute.auto_shard_policy == policy.DATA
    local = distribute.get_distribution(Strategy.DEFAULT, environ={})
    assert local.prepare_dataset(ds).options().experimental_distribute.auto_shard_policy == policy.AUTO
    assert fake_worker(1).prepare_dataset(None) is None  # a run without a validation split
    assert local.prepare_dataset(ds, by_file=True) is ds  # no cluster: nothing to shard


def test_a_dataset_of_this_workers_files_is_not_sharded_again_and_has_no_length():
    import tensorflow as tf

    ds = tf.data.Dataset.range(8).batch(4)
    mine = fake_worker(1).prepare_dataset(ds, by_file=True)
    assert mine.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.OFF
    # Keras would take a known length for the steps of an epoch, which differ between workers.
    assert int(ds.cardinality()) == 2 and int(mine.cardinality()) == tf.data.UNKNOWN_CARDINALITY
    assert [b.tolist() for b in mine.as_numpy_iterator()] == [[0, 1, 2, 3], [4, 5, 6, 7]]


@pytest.mark.parametrize("cluster, task, expected", [
    ({"worker": ["a:1", "b:1", "c:1"]}, ("worker", 2), 2),
    ({"chief": ["a:1"], "worker": ["b:1", "c:1"]}, ("chief", 0), 0),
    ({"chief": ["a:1"], "worker": ["b:1", "c:1"]}, ("worker", 1), 2),
])
def test_worker_id_is_tensorflows_id_in_cluster(cluster, task, expected):
    from tensorflow.python.distribute import multi_worker_util
    from tensorflow.python.training import server_lib

    config = distribute.parse_tf_config(json.dumps({"cluster": cluster, "task": {"type": task[0], "index": task[1]}}))
    assert config.worker_id == expected == multi_worker_util.id_in_cluster(server_lib.ClusterSpec(cluster), *task)


def test_a_split_is_sharded_by_file_only_with_a_file_for_every_worker(caplog):
    import logging

    caplog.set_level(logging.INFO, logger="tfclf.distribute")
    local = distribute.get_distribution(Strategy.DEFAULT, environ={})
    assert local.file_shard(8, "train") is None
    assert fake_worker(0).file_shard(1, "train") is None  # one file: DATA sharding, as always
    assert fake_worker(1).file_shard(2, "train") == (1, 2)
    assert fake_worker(0).file_shard(5, "train") == (0, 2)
    assert "Worker worker:0 reads 3 of the 5 input files of the train split" in caplog.text
    three = distribute.Distribution(Strategy.MULTI_WORKER, None, distribute.parse_tf_config(tf_config([1, 2, 3], 2)))
    assert three.file_shard(2, "train") is None  # a worker would have no file
    assert "fewer than the 3 workers" in caplog.text
    assert three.file_shard(3, "train") == (2, 3)


def test_weights_digest_changes_with_any_value_shape_or_order():
    a = [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(3, np.float32)]
    digest = distribute.weights_digest(a)
    assert re.fullmatch(r"[0-9a-f]{16}", digest)
    assert distribute.weights_digest([w.copy() for w in a]) == digest
    b = [a[0].copy(), a[1].copy()]
    b[1][2] = np.nextafter(np.float32(1), np.float32(2))
    assert distribute.weights_digest(b) != digest
    assert distribute.weights_digest([a[0].reshape(3, 2), a[1]]) != digest
    assert distribute.weights_digest(a[::-1]) != digest


# ----------------------------------------------------------------------------- precision

@pytest.mark.parametrize("policy, loss_scaled", [("mixed_float16", True), ("mixed_bfloat16", False),
                                                 ("float32", False)])
def test_keras_adds_loss_scaling_for_float16_only(tiny_bert, policy, loss_scaled):
    import tf_keras

    from tfclf import optimization
    from tfclf.model import build_classifier

    tf_keras.mixed_precision.set_global_policy(policy)
    try:
        with distribute.get_distribution(Strategy.MIRRORED, environ={}).strategy.scope():
            models = build_classifier(str(tiny_bert.encoder), 3, pooling=Pooling.MEAN, dropout=0.1,
                                      trainable="all")
            models.classifier.compile(optimizer=optimization.build_optimizer(OptimizerConfig(), total_steps=10),
                                      loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")
    optimizer = models.classifier.optimizer
    assert isinstance(optimizer, tf_keras.mixed_precision.LossScaleOptimizer) is loss_scaled
    if loss_scaled:
        assert optimizer.dynamic  # Keras' dynamic loss scale, starting at 2**15
        assert float(optimizer.initial_scale) == 2.0 ** 15
    assert models.classifier.outputs[0].dtype == "float32"  # logits stay float32


# ----------------------------------------------------------------------------- training

def tiny_run_config(tiny, tmp_path, n, trainable="all", **train):
    return RunConfig(
        data=DataConfig(data=str(keyword_csv(tmp_path / "data.csv", n))),
        model=ModelConfig(encoder=str(tiny.root), seq_length=16, pooling=Pooling.MEAN, trainable=trainable),
        optimizer=OptimizerConfig(values=(1e-2, 3e-3), boundaries=(30,)),
        train=TrainConfig(**{"epochs": 2, "batch_size": 16, "save_every_steps": 0, **train}),
    )


def test_one_replica_mirrored_strategy_matches_the_default_strategy(tiny_bert, tmp_path):
    """Same seed, same numbers: data, loss reduction, metrics, checkpoints and evaluation.

    The encoder is frozen (``--trainable none``) because the TF Hub encoder's own dropout
    ops, active while it is fine-tuned, draw from per-device random streams that differ
    between strategies (measured: losses 1.440 vs 1.442 after one epoch); the head's Keras
    Dropout is seeded and identical under both, and stays on.
    """
    runs = {}
    for kind in (Strategy.DEFAULT, Strategy.MIRRORED):
        config = tiny_run_config(tiny_bert, tmp_path, n=60, trainable="none", strategy=kind,
                                 output_dir=str(tmp_path / kind.value))
        runs[kind] = tfclf.fit(config, verbose=0)
    default, mirrored = runs[Strategy.DEFAULT], runs[Strategy.MIRRORED]
    assert mirrored.config.train.strategy is Strategy.MIRRORED
    for key in ("loss", "val_loss", "accuracy", "val_accuracy", "val_f1_macro"):
        np.testing.assert_allclose(mirrored.history[key], default.history[key], rtol=1e-5, atol=1e-6,
                                   err_msg=key)
    for key in ("accuracy", "f1_macro", "mcc", "ece"):
        assert mirrored.metrics[key] == pytest.approx(default.metrics[key], abs=1e-6), key
    assert mirrored.metrics["confusion_matrix"] == default.metrics["confusion_matrix"]
    assert default.history["loss"][1] < default.history["loss"][0]  # it trained


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_two_workers_on_cpu_stay_in_sync_and_only_the_chief_writes(tiny_bert, tmp_path):
    data = keyword_csv(tmp_path / "data.csv", 60)  # 48 train rows: 3 steps of the global batch 16
    out = tmp_path / "shared" / "run"
    ports = _free_ports(2)
    args = [sys.executable, "-m", "tfclf.fit", "--strategy", "multi-worker", "--encoder", str(tiny_bert.root),
            "--data", str(data), "--seq-length", "16", "--pooling", "mean", "--values", "1e-2,3e-3",
            "--boundaries", "30", "--epochs", "1", "--batch-size", "16", "--save-every-steps", "0",
            "--output-dir", str(out)]
    procs, logs, tmpdirs = [], [], []
    try:
        for i in range(2):
            tmpdirs.append(tmp_path / f"tmp{i}")
            tmpdirs[i].mkdir()
            logs.append(open(tmp_path / f"worker{i}.log", "w"))
            env = {**os.environ, "TF_CONFIG": tf_config(ports, i), "TMPDIR": str(tmpdirs[i])}
            procs.append(subprocess.Popen(args, cwd=tmp_path, env=env, stdout=logs[i], stderr=subprocess.STDOUT,
                                          start_new_session=True))
        deadline = time.monotonic() + 600
        for p in procs:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        for f in logs:
            f.close()
    text = [(tmp_path / f"worker{i}.log").read_text() for i in range(2)]
    for i, p in enumerate(procs):
        assert p.returncode == 0, f"worker {i} exited {p.returncode}:\n{text[i][-4000:]}"
    # Both trained as two replicas in sync and ended with the same weights.
    for i in range(2):
        assert "Strategy multi-worker (CollectiveAllReduceStrategy): 2 replica(s) in sync" in text[i]
        assert "Global batch 16 = 2 replicas x 8" in text[i]
    digests = [re.findall(rf"Worker worker:{i} weights sha256 ([0-9a-f]{{16}})", text[i]) for i in range(2)]
    assert len(digests[0]) == 1 and digests[0] == digests[1]
    assert "task worker:0 (chief)" in text[0] and "Run written to" in text[0]
    assert "Worker worker:1 finished; the chief writes the run to" in text[1]
    # Only the chief wrote the run; the worker's temporary folder was used, then removed.
    assert re.search(rf"Worker worker:1 writes to the temporary {re.escape(str(tmpdirs[1]))}/tfclf-worker1-", text[1])
    assert list(tmpdirs[1].iterdir()) == [] and list(tmpdirs[0].iterdir()) == []
    assert sorted(p.name for p in out.parent.iterdir()) == ["run"]  # no .run.partial left
    assert not [p for p in out.rglob("*") if "workertemp" in p.name]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_examples"] == 6 and metrics["optimizer_steps"] == 3
    assert (out / "saved_model" / "saved_model.pb").is_file()
    with open(out / "history.csv") as f:
        assert len(list(csv.DictReader(f))) == 1
    # The logged digest is that of the weights the chief saved (the run's runtime: hub, the default).
    from tfclf.model import build_classifier

    assert yaml.safe_load((out / "config.yaml").read_text())["model"]["encoder_runtime"] == "hub"
    models = build_classifier(str(tiny_bert.encoder), 3, pooling=Pooling.MEAN, dropout=0.1, trainable="all")
    models.classifier.load_weights(str(out / "checkpoints" / "best")).expect_partial()
    assert distribute.weights_digest(models.classifier.get_weights()) == digests[0][0]


def test_two_workers_shard_a_folder_by_file_and_see_each_row_once_per_epoch(tmp_path):
    """Two MultiWorkerMirroredStrategy processes on 127.0.0.1 over five uneven CSV shards."""
    from tfclf import data

    from file_shard_worker import write_shards

    folder = write_shards(tmp_path / "shards")
    expected = {mode: sorted(int(t) for texts, _ in data.prepare(DataConfig(data=str(folder), stream=stream), seed=0)
                             .chunks("train") for t in texts)
                for mode, stream in (("memory", False), ("stream", True))}
    ports = _free_ports(2)
    script = Path(__file__).with_name("file_shard_worker.py")
    procs, logs = [], []
    try:
        for i in range(2):
            logs.append(open(tmp_path / f"worker{i}.log", "w"))
            env = {**os.environ, "TF_CONFIG": tf_config(ports, i)}
            procs.append(subprocess.Popen([sys.executable, str(script), str(folder), str(tmp_path / f"w{i}.json")],
                                          cwd=tmp_path, env=env, stdout=logs[i], stderr=subprocess.STDOUT,
                                          start_new_session=True))
        deadline = time.monotonic() + 300
        for p in procs:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        for f in logs:
            f.close()
    for i, p in enumerate(procs):
        assert p.returncode == 0, f"worker {i} exited {p.returncode}:\n{(tmp_path / f'worker{i}.log').read_text()[-4000:]}"
    results = [json.loads((tmp_path / f"w{i}.json").read_text()) for i in range(2)]
    assert [r["worker_id"] for r in results] == [0, 1]
    shard_files = [{f"part-{j:05d}.csv" for j in range(5) if j % 2 == i} for i in range(2)]
    for mode in ("memory", "stream"):
        runs = [r["modes"][mode] for r in results]
        for epoch in range(2):
            seen = [run["epochs"][epoch]["rows"] for run in runs]
            # Each worker got rows of its own files only, and together every row exactly once.
            for i in range(2):
                assert seen[i] and {row // 100 % 2 for row in seen[i]} == {i}, (mode, epoch, i)
            assert sorted(seen[0] + seen[1]) == expected[mode], (mode, epoch)
            # The workers' shares differ (65 and 35 rows before the split), yet they stepped together.
            assert len(seen[0]) != len(seen[1])
            assert runs[0]["epochs"][epoch]["steps"] == runs[1]["epochs"][epoch]["steps"]
        assert runs[0]["epochs"][0]["rows"] != runs[0]["epochs"][1]["rows"]  # reshuffled
        for i, run in enumerate(runs):
            assert run["policy"] == "OFF" and run["cardinality"] == -2
            if mode == "stream":  # the epochs re-read this worker's files only
                assert {Path(p).name for p in run["opened"]} == shard_files[i], run["opened"]
        # Keras ran the same steps on both workers (each epoch to the end of the longer share),
        # and the replicas stayed in sync. On data of unknown length Keras takes one more
        # optimizer step in the first epoch, on empty batches, when it reaches the end (as with
        # TensorFlow's own AutoShardPolicy.DATA: see the distribute module docstring).
        steps = runs[0]["epochs"][0]["steps"]
        assert runs[0]["keras_batches"] == runs[1]["keras_batches"] == [steps, steps]
        assert runs[0]["keras_steps"] == runs[1]["keras_steps"] in (2 * steps, 2 * steps + 1)
        assert runs[0]["kernel"] == runs[1]["kernel"] and runs[0]["loss"] == runs[1]["loss"]
