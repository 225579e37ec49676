"""Sharded inputs whose texts are row numbers, and one worker of the 2-worker file-sharding test.

``write_shards`` makes a folder of CSV shards; ``row_ids`` is a fake preprocessor that
turns a batch back into the row numbers it holds. Run as a script (with ``TF_CONFIG``
set), this is one worker: it builds the training split the way ``tfclf.fit`` does
(``training.split_dataset``) in memory and streamed, iterates two epochs through
``MultiWorkerMirroredStrategy`` recording the rows its replicas got, fits a tiny Keras
model on it, and writes what it saw to a JSON file.

    python tests/file_shard_worker.py DATA_FOLDER OUT.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

SIZES = (30, 20, 25, 15, 10)  # rows per shard: uneven, so the workers' shares differ


def write_shards(folder: Path, sizes=SIZES) -> Path:
    """``part-0000i.csv`` holding rows numbered ``100 * i + r``: a row's number tells its shard."""
    folder.mkdir(parents=True)
    for i, n in enumerate(sizes):
        rows = "".join(f"{100 * i + r},{'ab'[r % 2]}\n" for r in range(n))
        (folder / f"part-{i:05d}.csv").write_text("text,label\n" + rows)
    return folder


def row_ids(text):
    """The fake preprocessor: ``[batch] tf.string`` row numbers -> one-token BERT inputs."""
    import tensorflow as tf

    ids = tf.strings.to_number(text, tf.int32)[:, None]
    return {"input_word_ids": ids, "input_mask": tf.ones_like(ids), "input_type_ids": tf.zeros_like(ids)}


def main(folder: str, out: str) -> None:
    from tfclf import data, distribute, training
    from tfclf.config import DataConfig, Strategy, TrainConfig
    from tfclf.data import readers

    dist = distribute.get_distribution(Strategy.MULTI_WORKER)  # before any other TensorFlow work
    import tensorflow as tf
    import tf_keras

    opened: list[str] = []
    iter_chunks = readers.iter_chunks

    def recording(source, *args, **kwargs):
        opened.append(str(source.path))
        return iter_chunks(source, *args, **kwargs)

    result = {"worker_id": dist.tf_config.worker_id, "modes": {}}
    for stream in (False, True):
        prepared = data.prepare(DataConfig(data=folder, stream=stream), seed=0)
        tc = TrainConfig(batch_size=8, seed=0, epochs=2)
        ds = training.split_dataset(prepared, "train", row_ids, tc, dist, shuffle=True)
        readers.iter_chunks, opened[:] = recording, []
        epochs = []
        for _ in range(2):
            rows, steps = [], 0
            for features, _ in dist.strategy.experimental_distribute_dataset(ds):
                local = dist.strategy.experimental_local_results(features["input_word_ids"])
                rows += [int(i) for t in local for i in t.numpy().reshape(-1)]
                steps += 1
            epochs.append({"rows": rows, "steps": steps})
        readers.iter_chunks = iter_chunks

        with dist.strategy.scope():
            inputs = {name: tf_keras.Input(shape=(None,), dtype=tf.int32, name=name)
                      for name in ("input_word_ids", "input_mask", "input_type_ids")}
            x = tf_keras.layers.Lambda(  # [batch, 1]: the row number
                lambda t: tf.cast(tf.reduce_max(t, axis=1, keepdims=True), tf.float32) / 500.0)(inputs["input_word_ids"])
            model = tf_keras.Model(inputs, tf_keras.layers.Dense(2, name="logits")(x))
            model.compile(tf_keras.optimizers.SGD(0.1),
                          tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        batches: list[int] = []
        count = tf_keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: batches.append(0),
                                                  on_train_batch_end=lambda batch, logs: batches.__setitem__(-1, batch + 1))
        history = model.fit(ds, epochs=2, verbose=0, callbacks=[count])
        result["modes"]["stream" if stream else "memory"] = {
            "epochs": epochs, "opened": sorted(set(opened)), "cardinality": int(ds.cardinality()),
            "policy": ds.options().experimental_distribute.auto_shard_policy.name,
            "keras_steps": int(model.optimizer.iterations.numpy()), "keras_batches": batches, "loss": history.history["loss"],
            "kernel": model.get_layer("logits").kernel.numpy().round(6).tolist()}
    Path(out).write_text(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:])
