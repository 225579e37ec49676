"""Per-step timeline of one MiniLM training epoch, as ``fit`` trains it, on emotion rows.

Builds the classifier and compiles it with ``tfclf.training.compile_classifier``, feeds
the pipeline ``fit`` uses (``make_dataset`` with ``--length-grouping``) on the same
stratified sample as ``compare_hf.py``, and times every training batch with a
callback. Reports the first step (tracing the train step and its gradient, the first
kernels), the median and sum of the others, examples/s with and without the first
step, and the tokens each example paid for (batch width x rows / rows).
``--mixed-precision`` (default ``none``, as ``fit``) applies ``fit``'s Keras policy and,
for ``mixed_bfloat16`` on CPU with the hub runtime, its bfloat16 graph rewrite (see
``tfclf.precision``). ``--encoder-runtime hub,native`` times each runtime
(``tfclf.native_encoder``) in its own process, alternating, ``--repeats`` times each, so
that the figures compared were measured side by side; ``setup_seconds`` is the time to
build and compile the model (for native: loading the hub model, the parity probe and
the variable copy).

    python benchmarks/fit_timeline.py --rows 2000 --encoder-runtime hub,native --repeats 2 \
        --output benchmarks/results/fit_timeline_runtimes.json
    python benchmarks/fit_timeline.py --mixed-precision auto --output /tmp/fit_timeline_bf16.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from cpu_info import lscpu, run_child  # noqa: E402  (benchmarks/ is on the path from here)


def timeline(rows: int, grouping: str, sort_window: int, seed: int, mixed_precision: str = "none",
             bf16_graph_rewrite: bool = True, encoder_runtime: str = "hub", jit_compile: bool = False,
             split_first_step: bool = False, grappler_options: Optional[dict] = None) -> dict:
    import numpy as np

    import tfclf  # noqa: F401  (its Keras 2 and oneDNN defaults, before TensorFlow loads)
    import tensorflow as tf
    import tf_keras
    from compare_hf import sample_rows

    from tfclf import encoders, native_encoder, precision, training
    from tfclf.config import (DataConfig, EncoderRuntime, LengthGrouping, MixedPrecision, RunConfig,
                              TrainConfig)
    from tfclf.data.pipeline import make_dataset
    from tfclf.model import build_classifier
    from tfclf.preprocessing import TextPreprocessor

    if grappler_options:  # tf.config.optimizer.set_experimental_options, before anything is traced
        tf.config.optimizer.set_experimental_options(grappler_options)
    config = RunConfig(data=DataConfig(data="unused"),
                       train=TrainConfig(length_grouping=LengthGrouping(grouping), sort_window=sort_window,
                                         seed=seed, jit_compile=jit_compile))
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
    start = time.perf_counter()
    runtime, native = native_encoder.resolve_runtime(resolved.encoder_path, EncoderRuntime(encoder_runtime))
    with precision.keras_policy(choice):
        classifier = build_classifier(resolved.encoder_path, len(names), pooling=resolved.pooling,
                                      native=native).classifier
        training.compile_classifier(classifier, config, len(names), total_steps=int(ds.cardinality()))
    setup = time.perf_counter() - start

    class Clock(tf_keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.times = [time.perf_counter()]

        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter())

    # The first step, split: tracing the train step (Python: forward, gradient, update) ahead
    # of fit, on an iterator of the same dataset; fit then reuses the trace when its tracing
    # count stays 1 (recorded), and its first step is Grappler plus the first execution.
    trace_seconds = None
    if split_first_step:
        start = time.perf_counter()
        classifier.make_train_function().get_concrete_function(iter(ds))
        trace_seconds = time.perf_counter() - start
    clock = Clock()
    with precision.training_precision(choice, graph_rewrite=bf16_graph_rewrite,
                                      native=native is not None) as rewrite:
        classifier.fit(ds, epochs=1, callbacks=[clock], verbose=0)
    traces = classifier.train_function.experimental_get_tracing_count()
    steps = np.diff(clock.times)
    paid = sum(int(np.prod(f["input_mask"].shape)) for f, _ in ds)  # another epoch's batches
    total = clock.times[-1] - clock.times[0]
    rest_rows = len(rows_df) - tc.batch_size
    return {"rows": len(rows_df), "length_grouping": grouping, "sort_window": sort_window,
            "grappler_options": grappler_options or {},
            "encoder_runtime": runtime.value, "jit_compile": jit_compile,
            "mixed_precision": choice.value, "bf16_graph_rewrite": rewrite,
            "setup_seconds": round(setup, 2),
            "trace_seconds_before_fit": None if trace_seconds is None else round(trace_seconds, 2),
            "train_function_traces": traces,
            "steps": len(steps), "first_step_seconds": round(float(steps[0]), 3),
            "median_step_seconds": round(float(np.median(steps[1:])), 4),
            "other_steps_seconds": round(float(steps[1:].sum()), 2),
            "epoch_seconds": round(total, 2),
            "train_examples_per_sec": round(len(rows_df) / total, 2),
            "train_examples_per_sec_after_first_step": round(rest_rows / float(steps[1:].sum()), 2),
            "tokens_paid_per_example": round(paid / len(rows_df), 2),
            "slowest_steps_seconds": [round(float(s), 3) for s in sorted(steps[1:])[-5:]]}


def grappler_options_arg(value: str) -> dict:
    """``--grappler-options``: a JSON object of Grappler option names to true/false (or an
    integer, for ``min_graph_nodes``); anything else is an argparse error (exit 2)."""
    try:
        options = json.loads(value)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not JSON ({e}): {value!r}") from None
    if not isinstance(options, dict) or not all(isinstance(v, (bool, int)) for v in options.values()):
        raise argparse.ArgumentTypeError(
            "expected a JSON object of Grappler option names to true/false (or an integer for "
            f"min_graph_nodes), e.g. '{{\"disable_meta_optimizer\": true}}'; received {value!r}")
    return options


def main() -> None:
    from tfclf.config import MixedPrecision

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--length-grouping", default="windows", choices=["windows", "buckets", "none"])
    parser.add_argument("--sort-window", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mixed-precision", default="none", choices=[m.value for m in MixedPrecision])
    parser.add_argument("--no-bf16-graph-rewrite", action="store_true")
    parser.add_argument("--encoder-runtime", default="hub",
                        help="hub, native, or a comma list timed side by side (one process per run)")
    parser.add_argument("--jit-compile", action="store_true", help="XLA-compile the train step")
    parser.add_argument("--repeats", type=int, default=1, help="runs per runtime, alternating")
    parser.add_argument("--split-first-step", action="store_true",
                        help="trace the train step before fit and time it apart (trace_seconds_before_fit)")
    parser.add_argument("--grappler-options", type=grappler_options_arg, default=None,
                        help='JSON for tf.config.optimizer.set_experimental_options, e.g. '
                             '\'{"disable_meta_optimizer": true}\' (what Grappler costs in the first step)')
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)  # a child process
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "fit_timeline.json"))
    args = parser.parse_args()
    runtimes = [r.strip() for r in args.encoder_runtime.split(",") if r.strip()]
    if args.single:
        result = timeline(args.rows, args.length_grouping, args.sort_window, args.seed, args.mixed_precision,
                          not args.no_bf16_graph_rewrite, runtimes[0], args.jit_compile, args.split_first_step,
                          args.grappler_options)
        Path(args.output).write_text(json.dumps(result) + "\n")
        return
    results = []
    for repeat in range(args.repeats):
        for runtime in runtimes if repeat % 2 == 0 else runtimes[::-1]:  # alternate the order
            with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
                argv = [sys.executable, __file__, "--single", "--rows", str(args.rows),
                        "--length-grouping", args.length_grouping, "--sort-window", str(args.sort_window),
                        "--seed", str(args.seed), "--mixed-precision", args.mixed_precision,
                        "--encoder-runtime", runtime, "--output", tmp.name]
                argv += ["--no-bf16-graph-rewrite"] if args.no_bf16_graph_rewrite else []
                argv += ["--jit-compile"] if args.jit_compile else []
                argv += ["--split-first-step"] if args.split_first_step else []
                argv += ["--grappler-options", json.dumps(args.grappler_options)] if args.grappler_options else []
                _, others = run_child(argv)
                result = {"repeat": repeat, **json.loads(Path(tmp.name).read_text()),
                          "other_processes_cpu_fraction": others}
            print(json.dumps(result), flush=True)
            results.append(result)
    from tensorflow.python.util import _pywrap_util_port

    out = {"benchmark": "fit_timeline", "encoder": "minilm", "results": results,
           "machine": {"cpus": os.cpu_count(), "lscpu": lscpu(), "platform": platform.platform(),
                       "onednn": bool(_pywrap_util_port.IsMklEnabled()), "load_avg_at_end": os.getloadavg()}}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
