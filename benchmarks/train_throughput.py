"""Training examples/s of the offline MiniLM classifier at fixed sequence lengths.

Measures the id-taking Keras model (the one ``fit`` trains: hub encoder, mean pooling,
dropout, dense head, AdamW) on full batches of fixed length, after warm-up steps, so
the number is the model's speed with no padding savings. Each length runs in a fresh
process.

    python benchmarks/train_throughput.py --seq-lengths 64,128 --batch-size 32 \\
        --output benchmarks/results/train_throughput.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from cpu_info import lscpu, run_child  # benchmarks/cpu_info.py, beside this script

ROOT = Path(__file__).resolve().parent.parent


def measure(seq_length: int, batch_size: int, warmup: int, steps: int, policy: str) -> dict:
    sys.path.insert(0, str(ROOT))
    import numpy as np

    import tfclf  # noqa: F401  (its Keras 2 and oneDNN defaults, before TensorFlow loads)
    import tensorflow as tf
    import tf_keras

    from tfclf import encoders, optimization
    from tfclf.config import OptimizerConfig
    from tfclf.losses import SparseCrossentropyWithSmoothing
    from tfclf.model import build_classifier

    tf_keras.utils.set_random_seed(0)
    tf_keras.mixed_precision.set_global_policy(policy)
    resolved = encoders.resolve("minilm")
    model = build_classifier(resolved.encoder_path, 6, pooling=resolved.pooling).classifier
    model.compile(optimizer=optimization.build_optimizer(OptimizerConfig()),
                  loss=SparseCrossentropyWithSmoothing())
    rng = np.random.default_rng(0)
    x = {"input_word_ids": rng.integers(1000, 30000, (batch_size, seq_length)).astype(np.int32),
         "input_mask": np.ones((batch_size, seq_length), np.int32),
         "input_type_ids": np.zeros((batch_size, seq_length), np.int32)}
    y = rng.integers(0, 6, batch_size)
    data = tf.data.Dataset.from_tensors((x, y)).repeat()
    model.fit(data, steps_per_epoch=warmup, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    return {"seq_length": seq_length, "batch_size": batch_size, "policy": policy, "warmup_steps": warmup,
            "steps": steps, "seconds": round(seconds, 2),
            "train_examples_per_sec": round(steps * batch_size / seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seq-lengths", default="64,128")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--policy", default="float32", choices=["float32", "mixed_bfloat16"])
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "train_throughput.json"))
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.batch_size, args.warmup_steps, args.steps, args.policy)))
        return
    runs = []
    for length in (int(x) for x in args.seq_lengths.split(",")):
        out, others = run_child([sys.executable, __file__, "--one", str(length), "--batch-size", str(args.batch_size),
                                 "--warmup-steps", str(args.warmup_steps), "--steps", str(args.steps),
                                 "--policy", args.policy],
                                capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        runs.append({**json.loads(out.stdout.strip().splitlines()[-1]), "other_processes_cpu_fraction": others})
        print(runs[-1], flush=True)
    result = {"benchmark": "train_throughput", "encoder": "minilm", "runs": runs,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "lscpu": lscpu(),
                          "load_avg_at_end": os.getloadavg()}}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
