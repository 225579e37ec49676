"""Examples/s and peak memory of ``python -m tfclf.predict_beam`` (DirectRunner) vs ``python -m tfclf.predict``.

Both score the same N synthetic rows (``--rows``, default 100000, written as ``--files`` CSV
files into a temporary folder, not the repository) with the same export, each as a fresh
``python -m`` process, so start-up, model loading and writing are counted on both sides:

* ``predict``: one process, one file after the other (``--batch-size``);
* ``beam``: ``--runner DirectRunner --direct_num_workers W --direct_running_mode
  multi_processing`` (W = ``--workers``, default 2): W worker processes, each loading the
  model, Beam batching the texts (``--max-batch-size``), output in shards.

Peak memory is the largest sum of the RSS of the process and all its children, sampled
every 0.1 s. Without ``--model`` an untrained classifier is exported over ``--encoder``:
``tiny`` (a random 2-layer BERT of width 64, built here in seconds: it measures the
pipeline's overhead more than the model) or any encoder name of the registry (``minilm``).

Usage (in the Beam venv: ``bash scripts/test_beam.sh`` builds .venv-beam)::

    .venv-beam/bin/python benchmarks/predict_beam.py                           # 100k rows, tiny
    .venv-beam/bin/python benchmarks/predict_beam.py --encoder minilm --rows 5000
    .venv-beam/bin/python benchmarks/predict_beam.py --model serving/tickets --rows 20000

Writes ``benchmarks/results/predict_beam_<cpu>.json``.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import json
import logging
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from cpu_info import OtherCpuUse, lscpu, package_versions  # noqa: E402

logger = logging.getLogger("predict_beam")

WORDS = ("the my a is and please help with to it order refund charge invoice package delivery late "
         "password login email account billing shipping card payment arrived lost damaged again today "
         "cannot open app error screen thanks hello need want still waiting week").split()
LABELS = ["account", "billing", "shipping"]


def write_rows(folder: Path, rows: int, files: int, seed: int = 0) -> list[Path]:
    """``rows`` synthetic support-ticket texts (5-40 words) as ``files`` CSVs ``id,text``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"part-{i:03d}.csv" for i in range(files)]
    per_file = [rows // files + (1 if i < rows % files else 0) for i in range(files)]
    n = 0
    for path, count in zip(paths, per_file):
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["id", "text"])
            for _ in range(count):
                w.writerow([f"r{n}", " ".join(rng.choice(WORDS, size=int(rng.integers(5, 41))))])
                n += 1
    return paths


def export_model(encoder: str, folder: Path) -> Path:
    """An untrained 3-label classifier export over ``encoder`` (``tiny``: a random BERT built here)."""
    from predict_throughput import export_untrained

    if encoder == "tiny":
        from tfclf.hub_format import export_tiny_bert

        vocab = sorted(set(WORDS)) + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"] + list("abcdefghijklmnopqrstuvwxyz.,!?")
        tiny = export_tiny_bert(folder / "tiny_bert", vocab_tokens=vocab, do_lower_case=True, hidden=64, layers=2,
                                heads=2, intermediate=128, default_seq_length=64)
        encoder = str(tiny.root)
    return export_untrained(encoder, len(LABELS), 64, folder / "export")


def run_measured(cmd: list[str], env: dict[str, str]) -> dict:
    """Runs ``cmd``; wall seconds and the peak RSS of it and its children (MiB), sampled every 0.1 s."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        parent = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                tree = [parent, *parent.children(recursive=True)]
                peak[0] = max(peak[0], sum(_rss(p) for p in tree))
            except psutil.NoSuchProcess:
                pass
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = proc.communicate()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} exited {proc.returncode}:\n{output[-4000:]}")
    return {"seconds": round(seconds, 2), "peak_rss_mib": round(peak[0] / 2**20, 1), "log_tail": output[-1500:]}


def _rss(p: psutil.Process) -> int:
    try:
        return p.memory_info().rss
    except psutil.NoSuchProcess:
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="A tfclf export (default: an untrained --encoder classifier).")
    parser.add_argument("--encoder", default="tiny", help="Encoder of the default export: tiny (default) or a "
                                                          "registry name such as minilm.")
    parser.add_argument("--rows", type=int, default=100_000, help="Synthetic rows (default: 100000).")
    parser.add_argument("--files", type=int, default=4, help="Input CSV files the rows are split into (default: 4).")
    parser.add_argument("--workers", type=int, default=2, help="DirectRunner worker processes (default: 2).")
    parser.add_argument("--batch-size", type=int, default=64, help="tfclf.predict --batch-size (default: 64).")
    parser.add_argument("--max-batch-size", type=int, default=64,
                        help="predict_beam --max-batch-size (default: 64, as tfclf.predict's batches).")
    parser.add_argument("--skip", choices=["predict", "beam"], default=None, help="Measure only the other one.")
    parser.add_argument("--note", default="", help="Free text stored in the JSON (e.g. machine state).")
    parser.add_argument("--output", type=Path, default=None,
                        help="JSON file (default: benchmarks/results/predict_beam_<cpu>.json).")
    return parser


def run(args: argparse.Namespace) -> dict:
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    load_start = os.getloadavg()
    result: dict = {}
    with tempfile.TemporaryDirectory(prefix="tfclf-bench-beam-") as tmp, OtherCpuUse() as others:
        tmp = Path(tmp)
        model = args.model or str(export_model(args.encoder, tmp / "model"))
        files = write_rows(tmp / "data", args.rows, args.files)
        logger.info("%d rows in %d files; model %s", args.rows, len(files), model)
        if args.skip != "predict":
            runs = []
            for path in files:  # tfclf.predict reads one file per call
                runs.append(run_measured([sys.executable, "-m", "tfclf.predict", "--model", model, "--input", str(path),
                                          "--output", str(tmp / "predict" / f"{path.stem}.csv"), "--quiet",
                                          "--batch-size", str(args.batch_size)], env))
            seconds = sum(r["seconds"] for r in runs)
            result["predict"] = {"seconds": round(seconds, 2), "examples_per_sec": round(args.rows / seconds, 1),
                                 "peak_rss_mib": max(r["peak_rss_mib"] for r in runs), "processes": len(runs),
                                 "batch_size": args.batch_size}
            logger.info("tfclf.predict: %s", result["predict"])
        if args.skip != "beam":
            beam = run_measured([sys.executable, "-m", "tfclf.predict_beam", "--model", model,
                                 "--input", str(tmp / "data" / "part-*.csv"), "--output", str(tmp / "beam" / "p"),
                                 "--max-batch-size", str(args.max_batch_size), "--runner", "DirectRunner",
                                 "--direct_num_workers", str(args.workers), "--direct_running_mode",
                                 "multi_processing"], env)
            summary = json.loads((tmp / "beam" / "p-summary.json").read_text(encoding="utf-8"))
            assert summary["counters"]["rows_predicted"] == args.rows, summary["counters"]
            result["beam"] = {"seconds": beam["seconds"], "examples_per_sec": round(args.rows / beam["seconds"], 1),
                              "peak_rss_mib": beam["peak_rss_mib"], "pipeline_seconds": summary["seconds"],
                              "workers": args.workers, "max_batch_size": args.max_batch_size,
                              "counters": summary["counters"]}
            logger.info("tfclf.predict_beam: %s", {k: v for k, v in result["beam"].items() if k != "counters"})
    load_end = os.getloadavg()
    cpu = lscpu()
    return {
        "benchmark": "predict_beam",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": {"cpu": cpu, "cpu_count": os.cpu_count(), "platform": platform.platform(),
                 "load_average_start": [round(x, 2) for x in load_start],
                 "load_average_end": [round(x, 2) for x in load_end],
                 "other_processes_cpu_fraction": others.fraction, "note": args.note},
        "settings": {"rows": args.rows, "files": args.files,
                     "model": args.model or f"untrained {args.encoder} classifier export (3 labels, seq 64)",
                     "command_beam": "python -m tfclf.predict_beam --runner DirectRunner --direct_num_workers "
                                     f"{args.workers} --direct_running_mode multi_processing",
                     "command_predict": "python -m tfclf.predict, once per input file"},
        **result,
        **({"speedup_beam_over_predict": round(result["beam"]["examples_per_sec"] /
                                               result["predict"]["examples_per_sec"], 2)}
           if "beam" in result and "predict" in result else {}),
        "versions": _versions(),
    }


def _versions() -> dict[str, str]:
    return package_versions(("tensorflow", "tensorflow-text", "apache-beam", "pyarrow", "protobuf"))


def main(argv: Optional[list[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    args = build_parser().parse_args(argv)
    result = run(args)
    slug = re.sub(r"[^a-z0-9]+", "_", result["host"]["cpu"]["model"].lower()).strip("_") or "cpu"
    output = args.output or ROOT / "benchmarks" / "results" / f"predict_beam_{slug}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(json.dumps({k: result.get(k) for k in ("predict", "beam", "speedup_beam_over_predict")},
                                indent=2) + "\n")
    sys.stdout.write(f"Wrote {output}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
