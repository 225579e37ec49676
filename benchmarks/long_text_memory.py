"""Peak memory of --long-text chunks training: 32 documents of 20 windows each, MiniLM.

Each case trains one epoch in a fresh process and reports its peak RSS (``ru_maxrss``)
and the RSS once the model is built, so the difference is what the batches cost:

* ``truncate-32``: 32 texts truncated at ``--seq-length``, one batch of 32 windows: the
  reference the memory rule compares with;
* ``chunks-budget-32``: the 32 documents of 20 windows with ``--batch-windows 32`` (the
  default, ``--batch-size``): ``max(1, 32 // 20) = 1`` document, 20 windows, per batch;
* ``chunks-budget-N``: the same documents with a larger ``--batch-windows`` (several
  documents per batch), to show that the cost follows the window budget.

The rule (README, "Long documents"): a chunks training batch holds at most
``max(batch_windows, max_chunks)`` windows, so its activation memory is that of a
truncate batch of that many texts at the same ``--seq-length``.

    python benchmarks/long_text_memory.py --output benchmarks/results/long_text_memory.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from long_text_imdb import lscpu  # noqa: E402

DOCS = 32
WINDOWS = 20


def child(case: str, seq_length: int, budget: int) -> dict:
    import numpy as np

    import tfclf  # noqa: F401
    import tf_keras
    from tfclf import encoders
    from tfclf.config import ChunkPooling, LongText
    from tfclf.data import pipeline
    from tfclf.long_text import LongTextSpec
    from tfclf.model import build_classifier
    from tfclf.preprocessing import TextPreprocessor

    tf_keras.utils.set_random_seed(0)
    resolved = encoders.resolve("minilm", seq_length=seq_length)
    mode = LongText.TRUNCATE if case.startswith("truncate") else LongText.CHUNKS
    spec = LongTextSpec(mode=mode, seq_length=seq_length, max_chunks=WINDOWS)
    pre = TextPreprocessor(resolved.preprocessor_path, seq_length, spec)
    rng = np.random.default_rng(0)
    words = "the movie was good bad great awful plot actor scene film story ending music".split()
    # Single-wordpiece words: each document has exactly WINDOWS windows of seq_length - 2.
    n_words = WINDOWS * (seq_length - 2)
    texts = [" ".join(rng.choice(words, size=n_words)) for _ in range(DOCS)]
    labels = np.arange(DOCS) % 2
    ds = pipeline.make_dataset(texts, labels, pre, batch_size=DOCS, shuffle=True, seed=0,
                               batch_windows=budget if mode is LongText.CHUNKS else None)
    shapes = [tuple(f["input_word_ids"].shape) for f, _ in ds]
    models = build_classifier(resolved.encoder_path, 2, pooling=resolved.pooling,
                              chunk_pooling=ChunkPooling.MEAN if mode is LongText.CHUNKS else None)
    models.classifier.compile(optimizer=tf_keras.optimizers.Adam(1e-5),
                              loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    built_mb = _rss_now_mb()
    models.classifier.fit(ds, epochs=1, verbose=0)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    windows = [int(np.prod(s[:2])) if len(s) == 3 else s[0] for s in shapes]
    return {"case": case, "seq_length": seq_length, "batch_windows": budget if mode is LongText.CHUNKS else None,
            "documents": DOCS, "windows_per_document": WINDOWS if mode is LongText.CHUNKS else 1,
            "batches": len(shapes), "max_windows_per_batch": max(windows), "batch_shapes": sorted(set(shapes)),
            "rss_after_build_mb": round(built_mb, 1), "peak_rss_mb": round(peak_mb, 1),
            "training_cost_mb": round(peak_mb - built_mb, 1)}


def _rss_now_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--budgets", default="32,128", help="--batch-windows values for the chunks cases")
    parser.add_argument("--output", required=True)
    parser.add_argument("--child", nargs=3, metavar=("CASE", "SEQ", "BUDGET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        case, seq, budget = args.child
        print(json.dumps(child(case, int(seq), int(budget))))
        return 0
    cases = [("truncate-32", 32)] + [(f"chunks-budget-{b}", int(b)) for b in args.budgets.split(",")]
    results = []
    for case, budget in cases:
        proc = subprocess.run([sys.executable, __file__, "--output", args.output, "--child", case,
                               str(args.seq_length), str(budget)], capture_output=True, text=True,
                              env={**os.environ, "TF_USE_LEGACY_KERAS": "1"})
        if proc.returncode:
            sys.stderr.write(proc.stderr[-3000:])
            return proc.returncode
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]))
    reference = results[0]["training_cost_mb"]
    for r in results:
        r["cost_vs_truncate_32"] = round(r["training_cost_mb"] / reference, 2) if reference > 0 else None
    payload = {"benchmark": "long_text_memory", "machine": {**lscpu(), "python": platform.python_version()},
               "command": " ".join([os.path.basename(sys.executable), *sys.argv]), "encoder": "minilm",
               "rule": "a chunks training batch holds at most max(batch_windows, max_chunks) windows",
               "results": results}
    out = Path(args.output)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
