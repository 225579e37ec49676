"""Baselines on the same data and splits as ``fit``, with the same metrics.json schema.

Methods (``--method``):

* ``majority``: always the most frequent training label; the probabilities are the
  training label frequencies (so ROC-AUC is 0.5).
* ``tfidf-logreg``: scikit-learn ``TfidfVectorizer`` (word 1..``--tfidf-ngram-max``
  grams, lower-cased, sublinear tf) and ``LogisticRegression`` (lbfgs,
  ``--logreg-c``, ``random_state=--seed``), trained on the training split.
* ``zero-shot``: no training. The encoder (``--encoder``, its pooling, L2-normalised)
  embeds the texts and one description per label; each text gets the label whose
  description is nearest by cosine similarity. Descriptions are the label names
  through ``--label-template`` (underscores and hyphens read as spaces), or the
  lines of ``--label-descriptions FILE``: YAML ``label: description`` (a list of
  descriptions per label is averaged) or plain ``label: description`` lines.
  Probabilities are ``softmax(cosine / --zero-shot-temperature)``.

Multi-label data (``--task multi-label``, ``--label-separator``, several
``--label-column`` or ``--label-axes``) gets one yes/no decision per label: a label is
predicted when its probability is at least ``--threshold`` (default 0.5, every label),
and metrics.json has the multi-label schema (``tfclf.evaluation``). The label
vocabulary is the sorted union of the training labels, as for ``fit``.

* ``majority``: each label's probability is its share of the training rows; at
  ``--threshold`` 0.5 every text gets exactly the labels present in at least half of
  the training rows (often none).
* ``tfidf-logreg``: one-vs-rest, one logistic regression per label on the same
  TF-IDF features; a label present in every training row (or in none) gets the
  constant probability 1 (or 0).
* ``zero-shot``: ``sigmoid((cosine - --zero-shot-bias) / --zero-shot-temperature)``
  per label: at ``--threshold`` 0.5, the labels whose description has a cosine
  similarity of at least ``--zero-shot-bias`` (default 0.25) with the text.

The splits come from ``tfclf.data.load_splits`` with the same data flags and
``--seed`` as ``fit``, and the evaluated split is the same (test, else validation).

Usage::

    python -m tfclf.baseline --method tfidf-logreg --train train.txt --test test.txt
    python -m tfclf.baseline --method zero-shot --config experiments/emotion_minilm.yaml
    python -m tfclf.fit ... --baselines majority,tfidf-logreg   # beside the model in report.md
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional

from tfclf import baselines, cli, config as config_lib, evaluation
from tfclf.config import BaselineMethod
from tfclf.data import filesystem  # TensorFlow only when a --config is on a store


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfclf baseline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", required=True, choices=[m.value for m in BaselineMethod],
                        help="The baseline to run.")
    parser.add_argument("--seed", type=int, default=None,
                        help="Seed of the splits and of tfidf-logreg (default: the --config's, else 42, as fit).")
    parser.add_argument("--threshold", type=float, default=None,
                        help="Multi-label: probability at or above which a label is predicted, for every label "
                             "(default: the --config's, else 0.5, as fit's --threshold).")
    parser.add_argument("--bootstrap", type=int, default=None, metavar="N",
                        help="Bootstrap resamples of the evaluated split for 95%% confidence intervals, 0 for "
                             "none (default: the --config's, else fit's default), as fit's --bootstrap.")
    parser.add_argument("--output-dir", default=None, metavar="DIR",
                        help="Where to write (default: runs/baseline-<method>-<YYYYmmdd-HHMMSS>).")
    parser.add_argument("--overwrite", action="store_true", help="Replace an existing --output-dir.")
    config_lib.add_dataclass_arguments(parser.add_argument_group("baseline"), baselines.BaselineConfig,
                                       dest_prefix="baseline.")
    config_lib.add_arguments(parser, sections=("data", "model"))
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> None:
        baseline_config = baselines.BaselineConfig(
            **config_lib.given_arguments(args, baselines.BaselineConfig, dest_prefix="baseline."))
        config = config_lib.from_args(args, read=filesystem.read_bytes)
        if args.seed is not None:
            config = config.replace("train", seed=args.seed)
        if args.threshold is not None:
            config = config.replace("train", threshold=args.threshold)
        if args.bootstrap is not None:
            config = config.replace("train", bootstrap=args.bootstrap)
        metrics, out = baselines.write_baseline(args.method, config, output_dir=args.output_dir,
                                                overwrite=args.overwrite, baseline_config=baseline_config)
        sys.stdout.write(evaluation.format_table(metrics, metrics["split"]) + "\n")
        sys.stdout.write(f"Baseline directory: {out}\n")

    return cli.run_main(body)


if __name__ == "__main__":
    sys.exit(main())
