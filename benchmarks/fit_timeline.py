"""Per-step timeline of one MiniLM training epoch, as ``fit`` trains it, on emotion rows.

Builds the classifier and compiles it with ``tfclf.training.compile_classifier``, feeds
the pipeline ``fit`` uses (``make_dataset`` with ``--length-grouping``) on the same
stratified sample as ``compare_hf.py``, and times every training batch with a
callback. Reports the first step (tracing the train step and its gradient, the first
kernels), the median and sum of the others, examples/s with and without the first
step, and the tokens each example paid for (batch width x rows / rows).
``--mixed-precision`` (default ``none``, as ``fit``) applies ``fit``'s Keras policy and,
for ``mixed_bfloat16`` on CPU, its bfloat16 graph rewrite (see ``tfclf.precision``).

    python benchmarks/fit_timeline.py --rows 2000 --length-grouping windows \
        --output benchmarks/results/fit_timeline_windows.json
    python benchmarks/fit_timeline.py --mixed-precision auto --output /tmp/fit_timeline_bf16.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def timeline(rows: int, grouping: str, sort_window: int, seed: int, mixed_precision: str = "none",
             bf16_graph_rewrite: bool = True) -> dict:
    import numpy as np

    import tfclf  # noqa: F401  (its Keras 2 and oneDNN defaults, before TensorFlow loads)
    import tf_keras
    from compare_hf import sample_rows

    from tfclf import encoders, precision, training
    from tfclf.config import DataConfig, LengthGrouping, MixedPrecision, RunConfig, TrainConfig
    from tfclf.data.pipeline import make_dataset
    from tfclf.model import build_classifier
    from tfclf.preprocessing import TextPreprocessor

    config = RunConfig(data=DataConfig(data="unused"),
                       train=TrainConfig(length_grouping=LengthGrouping(grouping), sort_window=sort_window,
                                         seed=seed))
    tc = config.train
    rows_df, _ = sample_rows(rows, seed)
    names = sorted(set(rows_df["label"]))
    y = np.array([names.index(v) for v in rows_df["label"]])
    order = np.random.default_rng(seed).permutation(len(rows_df))  # as Prepared.dataset
    resolved = encoders.resolve("minilm")
    preprocess = TextPreprocessor(resolved.preprocessor_path, resolved.seq_length)
    ds = make_dataset(rows_df["text"].to_numpy()[order], y[order], preprocess, batch_size=tc.batch_size,
                      shuffle=True, seed=seed, length_grouping=grouping, sort_window=sort_window,
                      length_buckets=tc.length_buckets)
    tf_keras.utils.set_random_seed(seed)
    choice = precision.resolve(MixedPrecision(mixed_precision))
    with precision.keras_policy(choice):
        classifier = build_classifier(resolved.encoder_path, len(names), pooling=resolved.pooling).classifier
        training.compile_classifier(classifier, config, len(names), total_steps=int(ds.cardinality()))

    class Clock(tf_keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.times = [time.perf_counter()]

        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter())

    clock = Clock()
    with precision.training_precision(choice, graph_rewrite=bf16_graph_rewrite) as rewrite:
        classifier.fit(ds, epochs=1, callbacks=[clock], verbose=0)
    steps = np.diff(clock.times)
    paid = sum(int(np.prod(f["input_mask"].shape)) for f, _ in ds)  # another epoch's batches
    total = clock.times[-1] - clock.times[0]
    rest_rows = len(rows_df) - tc.batch_size
    return {"rows": len(rows_df), "length_grouping": grouping, "sort_window": sort_window,
            "mixed_precision": choice.value, "bf16_graph_rewrite": rewrite,
            "steps": len(steps), "first_step_seconds": round(float(steps[0]), 3),
            "median_step_seconds": round(float(np.median(steps[1:])), 4),
            "other_steps_seconds": round(float(steps[1:].sum()), 2),
            "epoch_seconds": round(total, 2),
            "train_examples_per_sec": round(len(rows_df) / total, 2),
            "train_examples_per_sec_after_first_step": round(rest_rows / float(steps[1:].sum()), 2),
            "tokens_paid_per_example": round(paid / len(rows_df), 2),
            "slowest_steps_seconds": [round(float(s), 3) for s in sorted(steps[1:])[-5:]]}


def main() -> None:
    from tfclf.config import MixedPrecision

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--length-grouping", default="windows", choices=["windows", "buckets", "none"])
    parser.add_argument("--sort-window", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mixed-precision", default="none", choices=[m.value for m in MixedPrecision])
    parser.add_argument("--no-bf16-graph-rewrite", action="store_true")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "fit_timeline.json"))
    args = parser.parse_args()
    result = timeline(args.rows, args.length_grouping, args.sort_window, args.seed, args.mixed_precision,
                      not args.no_bf16_graph_rewrite)
    print(json.dumps(result), flush=True)
    from tensorflow.python.util import _pywrap_util_port

    out = {"benchmark": "fit_timeline", "encoder": "minilm", "result": result,
           "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                       "onednn": bool(_pywrap_util_port.IsMklEnabled()), "load_avg_at_end": os.getloadavg()}}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
