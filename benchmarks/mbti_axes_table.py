"""Tables of the MBTI experiment (issue 15) from its run directories' metrics.json.

Reads the four-axis multi-label run (``experiments/mbti_axes.yaml``) and the J/P
single-label run (``experiments/mbti_jp.yaml``), with the baselines ``fit --baselines``
wrote beside them (``RUN/baselines/<method>/metrics.json``), and prints Markdown:

* per axis (I/E, N/S, T/F, J/P): accuracy, F1 of the first letter and MCC of the
  model and of each baseline, from ``per_label``;
* the multi-label summary: micro/macro F1, subset accuracy, Hamming loss, mean MCC,
  mean ROC-AUC, and the thresholds;
* J/P: the single-label run against the four-axis model's J column. The J column's
  confusion matrix is rebuilt from ``per_label["J"]`` (support, predicted, recall and
  n_examples), which gives its P-side F1 and so a macro-F1 comparable with the
  single-label run's;
* the 95% interval of an accuracy on the test-set size (Wald half-width and Wilson).

``--extra NAME=PATH`` adds another metrics.json (e.g. a ``python -m tfclf.baseline``
run on the same split) as a column. ``--overlap`` re-reads the data of both runs
(``tfclf.data.prepare`` on their config.yaml, no TensorFlow model) and reports how many
test users the two runs share.

    python benchmarks/mbti_axes_table.py --axes runs/mbti_axes --jp runs/mbti_jp --overlap
    python benchmarks/mbti_axes_table.py --extra 'tfidf-logreg balanced=/tmp/mbti/tfidf_bal' \
        --output /tmp/mbti_tables.md
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tfclf import rundir  # noqa: E402

AXES = (("I", "E"), ("N", "S"), ("T", "F"), ("J", "P"))


def read_metrics(path: str | Path) -> dict[str, Any]:
    """metrics.json of a run, baseline or evaluation directory (or the file itself)."""
    path = Path(path)
    if path.is_file():
        path = path.parent
    return rundir.RunDirectory(path, role="metrics").metrics()


def baselines_of(run: Path) -> dict[str, dict[str, Any]]:
    """``{method: metrics}`` of the baselines ``fit --baselines`` wrote in ``run``."""
    folder = run / rundir.BASELINES
    if not folder.is_dir():
        return {}
    return {d.name: read_metrics(d) for d in sorted(folder.iterdir()) if (d / rundir.METRICS).is_file()}


def binary_counts(per_label: dict[str, Any], n: int) -> tuple[int, int, int, int]:
    """``(tp, fp, fn, tn)`` of one label, from its support, predicted count and recall."""
    support, predicted = int(per_label["support"]), int(per_label["predicted"])
    tp = int(round(per_label["recall"] * support))
    fp, fn = predicted - tp, support - tp
    return tp, fp, fn, n - tp - fp - fn


def f1(tp: int, fp: int, fn: int) -> float:
    return 0.0 if 2 * tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)


def wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``p`` measured on ``n`` trials."""
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def fmt(x: Optional[float], digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def per_axis_table(columns: dict[str, dict[str, Any]]) -> str:
    """Rows: axes; for each column (method): accuracy, F1 of the first letter, MCC."""
    names = list(columns)
    head = "| axis (F1 of) | " + " | ".join(f"{m} acc | {m} F1 | {m} MCC" for m in names) + " |"
    rule = "|---|" + "---:|" * (3 * len(names))
    rows = [head, rule]
    for first, second in AXES:
        cells = []
        for m in names:
            label = columns[m]["per_label"].get(first)
            cells += ["n/a"] * 3 if label is None else [fmt(label["accuracy"]), fmt(label["f1"]), fmt(label["mcc"])]
        rows.append(f"| {first}/{second} ({first}) | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def summary_table(columns: dict[str, dict[str, Any]]) -> str:
    keys = ("f1_micro", "f1_macro", "subset_accuracy", "hamming_loss", "mcc", "roc_auc")
    rows = ["| | " + " | ".join(keys) + " | thresholds (I, J, N, T) |", "|---|" + "---:|" * len(keys) + "---|"]
    for m, metrics in columns.items():
        thresholds = metrics.get("thresholds") or {}
        t = ", ".join(f"{thresholds[k]:.3f}" for k in sorted(thresholds))
        rows.append(f"| {m} | " + " | ".join(fmt(metrics.get(k)) for k in keys)
                    + f" | {t} ({metrics.get('threshold_strategy')}) |")
    return "\n".join(rows)


def jp_rows(axes_model: dict[str, Any], jp_columns: dict[str, dict[str, Any]]) -> str:
    """The J/P single-label run(s) and the four-axis model's J column, side by side."""
    rows = ["| | test users (J) | accuracy | F1 J | F1 P | macro-F1 | MCC | ROC-AUC |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    n = int(axes_model["n_examples"])
    j = axes_model["per_label"]["J"]
    tp, fp, fn, tn = binary_counts(j, n)
    f1_j, f1_p = f1(tp, fp, fn), f1(tn, fn, fp)
    rows.append(f"| four-axis model, J column (threshold {j['threshold']:.3f}) | {n} ({j['support']}) | "
                f"{fmt(j['accuracy'])} | {fmt(f1_j)} | {fmt(f1_p)} | {fmt((f1_j + f1_p) / 2)} | {fmt(j['mcc'])} | "
                f"{fmt(j.get('roc_auc'))} |")
    for name, m in jp_columns.items():
        pc = m["per_class"]
        rows.append(f"| {name} | {m['n_examples']} ({pc['J']['support']}) | {fmt(m['accuracy'])} | "
                    f"{fmt(pc['J']['f1'])} | {fmt(pc['P']['f1'])} | {fmt(m['f1_macro'])} | {fmt(m['mcc'])} | "
                    f"{fmt(m.get('roc_auc'))} |")
    return "\n".join(rows)


def interval_rows(ns: list[int], ps: tuple[float, ...] = (0.5, 0.7, 0.9)) -> str:
    rows = ["| test users | accuracy | Wald ± (95%) | Wilson 95% |", "|---:|---:|---:|---|"]
    for n in ns:
        for p in ps:
            lo, hi = wilson(p, n)
            rows.append(f"| {n} | {p:.2f} | {1.96 * math.sqrt(p * (1 - p) / n):.3f} | [{lo:.3f}, {hi:.3f}] |")
    return "\n".join(rows)


def overlap(axes_run: Path, jp_run: Path) -> str:
    """How many test users the two runs share (rows of the same input file, by line)."""
    import logging

    from tfclf.data import prepare

    logging.getLogger("tfclf").setLevel(logging.WARNING)
    tests = {}
    for name, run in (("axes", axes_run), ("jp", jp_run)):
        config = rundir.RunDirectory(run).config()
        tests[name] = set(prepare(config.data, config.train.seed).splits().test["line"])
    common = tests["axes"] & tests["jp"]
    return (f"Test users: four-axis run {len(tests['axes'])}, J/P run {len(tests['jp'])}, "
            f"in both {len(common)}.")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--axes", default="runs/mbti_axes", help="The four-axis run directory.")
    parser.add_argument("--jp", default="runs/mbti_jp", help="The J/P run directory (skipped when absent).")
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=PATH",
                        help="Another multi-label metrics.json (or its folder) on the four-axis split.")
    parser.add_argument("--extra-jp", action="append", default=[], metavar="NAME=PATH",
                        help="Another single-label J/P metrics.json (or its folder).")
    parser.add_argument("--overlap", action="store_true", help="Count the test users both runs share.")
    parser.add_argument("--output", help="Also write the Markdown here.")
    args = parser.parse_args(argv)

    axes_run, jp_run = Path(args.axes), Path(args.jp)
    axes_model = read_metrics(axes_run)
    columns = {"MiniLM": axes_model, **baselines_of(axes_run)}
    for item in args.extra:
        name, _, path = item.partition("=")
        columns[name] = read_metrics(path)
    parts = ["Per axis (test, %d users):" % axes_model["n_examples"], per_axis_table(columns),
             "Multi-label summary:", summary_table(columns)]
    ns = [int(axes_model["n_examples"])]
    if (jp_run / rundir.METRICS).is_file():
        jp_model = read_metrics(jp_run)
        jp_columns = {"J/P single-label MiniLM": jp_model,
                      **{f"J/P {k}": v for k, v in baselines_of(jp_run).items()}}
        for item in args.extra_jp:
            name, _, path = item.partition("=")
            jp_columns[name] = read_metrics(path)
        parts += ["J/P:", jp_rows(axes_model, jp_columns)]
        ns.append(int(jp_model["n_examples"]))
        if args.overlap:
            parts.append(overlap(axes_run, jp_run))
    parts += ["95% intervals of an accuracy:", interval_rows(sorted(set(ns)))]
    text = "\n\n".join(parts) + "\n"
    sys.stdout.write(text)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
