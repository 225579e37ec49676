"""--long-text on IMDb: truncate 128/256, head-tail 128, chunks 128 (mean, max) with MiniLM.

Reads ``../shared/datasets/imdb/aclImdb.tar.gz`` (extracted once into a cache folder
outside the repository), draws stratified train and test subsets of the sizes given
(seeded; the same subsets for every row), fine-tunes MiniLM once per row with the same
epochs, seed and optimiser, and writes one JSON with test accuracy, macro-F1, training
and prediction examples/s per row, the data report's token statistics and the machine
(``lscpu``).

    python benchmarks/long_text_imdb.py --train 3000 --test 3000 --epochs 1 \\
        --output benchmarks/results/long_text_imdb.json
    python benchmarks/long_text_imdb.py --rows head-tail-128,chunks-mean-128 --seeds 1,2 ...

Each row's run directory is kept under ``--work-dir`` (default: a temporary folder).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from cpu_info import lscpu  # benchmarks/cpu_info.py, beside this script

import tfclf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)

ROOT = Path(__file__).resolve().parent.parent
TARBALL = ROOT.parent / "shared" / "datasets" / "imdb" / "aclImdb.tar.gz"

# row name -> ModelConfig fields
ROWS = {
    "truncate-128": {"long_text": "truncate", "seq_length": 128},
    "truncate-256": {"long_text": "truncate", "seq_length": 256},
    "head-tail-128": {"long_text": "head-tail", "seq_length": 128},
    "chunks-mean-128": {"long_text": "chunks", "seq_length": 128, "chunk_pooling": "mean"},
    "chunks-max-128": {"long_text": "chunks", "seq_length": 128, "chunk_pooling": "max"},
}


def extract(cache: Path) -> Path:
    """``cache/aclImdb`` from the shared tarball (extracted once; train/test pos/neg only)."""
    root = cache / "aclImdb"
    if (root / "test" / "neg").is_dir():
        return root
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=cache, prefix=".extract-"))
    with tarfile.open(TARBALL) as tar:
        members = [m for m in tar.getmembers()
                   if m.isfile() and any(f"/{s}/{c}/" in m.name for s in ("train", "test") for c in ("pos", "neg"))]
        tar.extractall(tmp, members=members, filter="data")
    (tmp / "aclImdb").rename(root)
    tmp.rmdir()
    return root


def subset(root: Path, split: str, n: int, seed: int, out: Path) -> Path:
    """A stratified class-folder subset (n/2 pos, n/2 neg) as symlinks under ``out/split``."""
    rng = random.Random(seed)
    for label in ("neg", "pos"):
        files = sorted((root / split / label).glob("*.txt"))
        target = out / split / label
        target.mkdir(parents=True, exist_ok=True)
        for f in rng.sample(files, n // 2):
            (target / f.name).symlink_to(f)
    return out / split


def run_row(name: str, fields: dict, args, data: dict, seed: int, work: Path) -> dict:
    from tfclf import training
    from tfclf.config import DataConfig, ModelConfig, OptimizerConfig, RunConfig, TrainConfig

    out = work / f"{name}-seed{seed}"
    config = RunConfig(
        data=DataConfig(train=str(data["train"]), test=str(data["test"]), split=(0.9, 0.1, 0.0),
                        strip_html=True),
        model=ModelConfig(encoder="minilm", **fields),
        optimizer=OptimizerConfig(values=(args.learning_rate, args.learning_rate / 5),
                                  boundaries=(10_000,), warmup_fraction=0.1),
        train=TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=seed, output_dir=str(out)))
    start = time.monotonic()
    run = training.fit(config, verbose=2)
    wall = time.monotonic() - start
    metrics = run.metrics
    texts = [p.read_text(encoding="utf-8") for p in sorted(Path(data["test"]).glob("*/*.txt"))][:args.predict_rows]
    model = tfclf.load(out)
    model.predict(texts[:32])  # trace once
    t0 = time.monotonic()
    model.predict(texts, batch_size=args.batch_size)
    predict_seconds = time.monotonic() - t0
    report = json.loads((out / "data_report.json").read_text())["lengths"]["train"]
    return {
        "row": name, "seed": seed, **fields,
        "test_accuracy": metrics["accuracy"], "test_f1_macro": metrics["f1_macro"],
        "train_examples_per_sec": metrics.get("train_examples_per_sec"),
        "train_seconds": metrics.get("train_seconds"),
        "predict_examples_per_sec": round(len(texts) / predict_seconds, 2),
        "predict_rows": len(texts), "wall_seconds": round(wall, 1),
        "train_tokens": report.get("tokens"), "windows_per_document": report.get("windows_per_document"),
        "dropped_token_share": report.get("dropped_token_share"),
        "run_dir": str(out),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=3000, help="training reviews (half pos, half neg)")
    parser.add_argument("--test", type=int, default=3000, help="test reviews (half pos, half neg)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, of {list(ROWS)}")
    parser.add_argument("--seeds", default="0", help="training seeds, e.g. 0 or 1,2")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the subsets (kept fixed)")
    parser.add_argument("--predict-rows", type=int, default=1000, help="test reviews timed through predict")
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "tfclf" / "datasets"))
    parser.add_argument("--work-dir", default=None)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    rows = args.rows.split(",")
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        parser.error(f"--rows must be among {list(ROWS)}. Received: {unknown}")
    root = extract(Path(args.cache))
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="long_text_imdb-"))
    data_dir = work / f"imdb-{args.train}-{args.test}-seed{args.data_seed}"
    if not data_dir.is_dir():
        subset(root, "train", args.train, args.data_seed, data_dir)
        subset(root, "test", args.test, args.data_seed + 1, data_dir)
    data = {"train": data_dir / "train", "test": data_dir / "test"}
    results = []
    out = Path(args.output)
    for seed in (int(s) for s in args.seeds.split(",")):
        for name in rows:
            results.append(run_row(name, ROWS[name], args, data, seed, work))
            payload = {
                "benchmark": "long_text_imdb", "machine": {**lscpu(), "python": platform.python_version()},
                "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
                "train_reviews": args.train, "test_reviews": args.test, "validation": "10% of train",
                "epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
                "encoder": "minilm", "results": results}
            tmp = out.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(payload, indent=2) + "\n")
            tmp.replace(out)  # after every row: a partial table survives an interruption
            logging.info("%s seed %d: accuracy %.4f, macro-F1 %.4f, train %.1f ex/s, predict %.1f ex/s",
                         name, seed, results[-1]["test_accuracy"], results[-1]["test_f1_macro"],
                         results[-1]["train_examples_per_sec"] or 0, results[-1]["predict_examples_per_sec"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
