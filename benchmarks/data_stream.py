"""Streaming input pipeline: rows/s and peak memory at 300k and 3M rows of tweet-length text.

For each size, a CSV (text,label) is generated in a temporary folder (never in the
repository) and a fresh subprocess runs what ``fit`` runs before and during training
with ``--stream``:

1. ``tfclf.data.prepare``: the counting pass (read in chunks, split by hash, label
   vocabulary, report statistics spilled to disk);
2. one epoch of the training ``tf.data`` pipeline: chunks from disk -> shuffle buffer
   -> batch -> tokenisation with the encoder's TF Hub preprocessor (MiniLM's by
   default) -> dynamic padding.

Peak RSS is the subprocess's ``ru_maxrss`` (everything: TensorFlow, the preprocessor,
the pipeline). Flat memory means the 3M-row peak is within 10% of the 300k-row peak.

Usage::

    python benchmarks/data_stream.py                      # 300k and 3M rows -> results/data_stream.json
    python benchmarks/data_stream.py --sizes 20000,200000 --out /tmp/quick.json
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cpu_info import OtherCpuUse, lscpu  # benchmarks/cpu_info.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
WORDS = """
the a to and of in is it you that for on my this with be have just so at me not are
but your all was like what get can do if we out up now about one how love day good
new time people know will see when go more today think back really got they her his
need still want make from one would there who going why great only too much thank
thanks some work been off last over night them happy best because after here lol
could first our feel right well life home never than even world game show first
tonight tomorrow week weekend morning school friends family music video news live
watch read play team win vote city coffee food phone twitter follow please check
update free sale deal shop online brand store order delivery service support help
""".split()
LABELS = ("brand", "female", "male")
KEYWORDS = {"brand": ["sale", "deal", "shop", "order"], "female": ["love", "happy", "friends"],
            "male": ["game", "team", "win"]}


def generate_csv(path: Path, rows: int, seed: int = 0, block: int = 100_000) -> int:
    """Writes ``rows`` tweets (8-30 words, mentions, hashtags, links) with 3 labels; returns bytes."""
    rng = np.random.default_rng(seed)
    words = np.array(WORDS, dtype=object)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for start in range(0, rows, block):
            n = min(block, rows - start)
            lengths = rng.integers(8, 31, size=n)
            picks = rng.integers(0, len(words), size=(n, 30))
            labels = rng.integers(0, 3, size=n)
            extra = rng.random(size=(n, 3))
            out = []
            for i in range(n):
                tokens = list(words[picks[i, :lengths[i]]])
                label = LABELS[labels[i]]
                tokens[int(picks[i, 0]) % len(tokens)] = KEYWORDS[label][int(picks[i, 1]) % len(KEYWORDS[label])]
                if extra[i, 0] < 0.3:
                    tokens.insert(0, f"@user{int(picks[i, 2]) * 7919 % 100000}")
                if extra[i, 1] < 0.2:
                    tokens.append(f"#{words[picks[i, 3]]}{start + i}")
                if extra[i, 2] < 0.15:
                    tokens.append(f"https://t.co/{start + i:08x}")
                out.append((" ".join(tokens), label))
            w.writerows(out)
    return path.stat().st_size


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def worker(csv_path: str, encoder: str, batch_size: int, seq_length: int, shuffle_buffer: int) -> dict:
    """Runs the counting pass and one training epoch in this process; returns the measurements."""
    import tfclf  # noqa: F401  (selects Keras 2 before TensorFlow loads)
    from tfclf import encoders
    from tfclf.config import DataConfig
    from tfclf.data import prepare
    from tfclf.preprocessing import TextPreprocessor

    resolved = encoders.resolve(encoder, seq_length=seq_length)
    preprocess = TextPreprocessor(resolved.preprocessor_path, resolved.seq_length)
    rss_loaded = _max_rss_mib()

    start = time.perf_counter()
    prepared = prepare(DataConfig(data=csv_path, stream=True, split=(0.98, 0.01, 0.01),
                                  shuffle_buffer=shuffle_buffer), seed=0)
    prepare_seconds = time.perf_counter() - start
    rss_prepared = _max_rss_mib()

    ds = prepared.dataset("train", preprocess, batch_size=batch_size, shuffle=True, seed=0)
    start, rows, tokens = time.perf_counter(), 0, 0
    for features, labels in ds:
        rows += int(labels.shape[0])
        tokens += int(features["input_mask"].numpy().sum())
    epoch_seconds = time.perf_counter() - start
    rows_read = prepared.report["inputs"][0]["rows_read"]
    return {
        "rows_in_file": rows_read,
        "train_rows": prepared.rows["train"],
        "rows_through_pipeline": rows,
        "tokens_through_pipeline": tokens,
        "prepare_seconds": round(prepare_seconds, 2),
        "prepare_rows_per_sec": round(rows_read / prepare_seconds, 1),
        "epoch_seconds": round(epoch_seconds, 2),
        "pipeline_rows_per_sec": round(rows / epoch_seconds, 1),
        "rss_after_loading_tf_and_preprocessor_mib": round(rss_loaded, 1),
        "peak_rss_after_prepare_mib": round(rss_prepared, 1),
        "peak_rss_mib": round(_max_rss_mib(), 1),
        "encoder": encoder,
        "preprocessor": resolved.preprocessor_handle,
        "seq_length": resolved.seq_length,
        "batch_size": batch_size,
        "shuffle_buffer": shuffle_buffer,
        "labels": list(prepared.labels.names),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="300000,3000000", help="Comma-separated row counts.")
    parser.add_argument("--encoder", default="minilm", help="Encoder whose preprocessor tokenises.")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--shuffle-buffer", type=int, default=10000)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "data_stream.json"))
    parser.add_argument("--worker", metavar="CSV", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        result = worker(args.worker, args.encoder, args.batch_size, args.seq_length, args.shuffle_buffer)
        print(json.dumps(result))
        return 0

    runs = []
    load_before = os.getloadavg()
    for size in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory(prefix="tfclf-bench-") as tmp:
            path = Path(tmp) / f"tweets_{size}.csv"
            start = time.perf_counter()
            size_bytes = generate_csv(path, size)
            print(f"{size} rows: generated {size_bytes / 2**20:.0f} MiB in {time.perf_counter() - start:.0f} s",
                  file=sys.stderr)
            load = os.getloadavg()
            with OtherCpuUse() as others:
                proc = subprocess.run(
                    [sys.executable, __file__, "--worker", str(path), "--encoder", args.encoder,
                     "--batch-size", str(args.batch_size), "--seq-length", str(args.seq_length),
                     "--shuffle-buffer", str(args.shuffle_buffer)],
                    capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr[-5000:])
                return proc.returncode
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            result.update(rows=size, file_mib=round(size_bytes / 2**20, 1),
                          loadavg_1min_during=[round(load[0], 2), round(os.getloadavg()[0], 2)],
                          other_processes_cpu_fraction=others.fraction)
            runs.append(result)
            print(json.dumps(result), file=sys.stderr)
    peaks = [r["peak_rss_mib"] for r in runs]
    summary = {
        "benchmark": "tfclf.data streaming input pipeline (benchmarks/data_stream.py)",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "lscpu": lscpu(),
                    "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                    "note": "Throughput depends on what else ran (each run's other_processes_cpu_fraction: "
                            "the share of the CPUs other processes used meanwhile); memory does not."},
        "runs": runs,
        "peak_rss_ratio_largest_to_smallest": round(peaks[-1] / peaks[0], 4),
        "flat_memory_within_10_percent": abs(peaks[-1] / peaks[0] - 1) <= 0.10,
        "peak_rss_under_2_gib": max(peaks) < 2048,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: summary[k] for k in ("peak_rss_ratio_largest_to_smallest",
                                              "flat_memory_within_10_percent", "peak_rss_under_2_gib")}))
    print(f"Wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
