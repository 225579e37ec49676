"""What a person reads after a run: the PNG plots and report.md, built from files in the run directory.

* ``learning_curves.png``: training and validation loss, and the monitored metric,
  per epoch, from ``history.csv``; the best epoch is marked.
* ``confusion_matrix.png``: counts, coloured by the share of each true label.
* ``confidence_by_class.png``: the confidence (largest probability) of the
  examples predicted as each label, as box plots with the single predictions on
  top, right ones and wrong ones in two colours.
* ``report.md``: the metric tables (with baselines side by side when
  ``baselines/<method>/metrics.json`` exist, and bootstrap confidence intervals when
  metrics.json has ``bootstrap``), a "Group level" section when metrics.json has
  ``group_level`` (``--eval-group-by``: the group-level metrics beside the per-example
  ones, and the per-class table over groups), the per-class table, the confusion
  matrix, the confidence quartiles, the calibration bins, the data summary of
  ``data_report.json`` when it exists, and links to the plots.

A multi-label evaluation (metrics.json ``task: multi-label``) has no confusion matrix
and no single confidence; instead of those two plots it gets:

* ``per_label_metrics.png``: precision, recall and F1 of each label as grouped bars;
* ``probabilities_by_label.png``: each label's probabilities for the examples that
  have it and those that do not, with the label's decision threshold;
* ``report.md``: the headline metrics (micro/macro/samples F1, subset accuracy,
  Hamming loss, ...), baselines compared on F1 micro/macro, subset accuracy and Hamming
  loss, the label cardinality, and the per-label table with each label's threshold.

Plots use matplotlib's ``Figure`` API with the Agg canvas: no display, no pyplot state.
"""
from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from tfclf import atomic, rundir
from tfclf.config import Monitor

logger = logging.getLogger(__name__)

LEARNING_CURVES = "learning_curves.png"
CONFUSION_MATRIX = "confusion_matrix.png"
CONFIDENCE_BY_CLASS = "confidence_by_class.png"
PER_LABEL_METRICS = "per_label_metrics.png"
PROBABILITIES_BY_LABEL = "probabilities_by_label.png"
REPORT = "report.md"
_MAX_POINTS = 3000  # confidence_by_class draws at most this many single predictions

_METRIC_NAMES = {
    "accuracy": "accuracy", "precision_macro": "precision (macro)", "precision_weighted": "precision (weighted)",
    "recall_macro": "recall (macro)", "recall_weighted": "recall (weighted)", "f1_macro": "F1 (macro)",
    "f1_weighted": "F1 (weighted)", "mcc": "MCC", "roc_auc": "ROC-AUC", "ece": "ECE (lower is better)",
}
# Keys of the metrics.json schema that have their own section in report.md.
_SCHEMA_KEYS = set(_METRIC_NAMES) | {"per_class", "roc_auc_info", "calibration", "confidence_by_class",
                                     "confusion_matrix", "labels", "n_examples", "split", "task", "bootstrap",
                                     "group_level"}
MULTI_LABEL = "multi-label"  # metrics.json "task" of tfclf.evaluation.multilabel_metrics
_MULTILABEL_METRIC_NAMES = {
    "f1_micro": "F1 (micro)", "f1_macro": "F1 (macro)", "f1_weighted": "F1 (weighted)",
    "f1_samples": "F1 (samples)", "precision_micro": "precision (micro)", "precision_macro": "precision (macro)",
    "precision_weighted": "precision (weighted)", "precision_samples": "precision (samples)",
    "recall_micro": "recall (micro)", "recall_macro": "recall (macro)", "recall_weighted": "recall (weighted)",
    "recall_samples": "recall (samples)", "subset_accuracy": "subset accuracy",
    "hamming_loss": "Hamming loss (lower is better)", "mcc": "MCC (mean over labels)",
    "roc_auc": "ROC-AUC (mean over labels)", "pr_auc": "PR-AUC (mean over labels)",
}
# What report.md compares a multi-label model and its baselines on.
_MULTILABEL_BASELINE_KEYS = ("f1_micro", "f1_macro", "subset_accuracy", "hamming_loss", "mcc", "roc_auc")
_MULTILABEL_SCHEMA_KEYS = set(_MULTILABEL_METRIC_NAMES) | {
    "task", "accuracy", "per_label", "roc_auc_info", "cardinality", "thresholds", "threshold_strategy",
    "labels", "n_examples", "split", "bootstrap", "group_level"}
# Panel titles of learning_curves.png.
_CURVE_NAMES = {**_METRIC_NAMES, "f1_micro": "F1 (micro)"}


# ---------------------------------------------------------------------------------------- plots

def new_figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def save_figure(fig, path: Path) -> None:
    # Written beside the target and renamed, like tfclf.atomic does for text.
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def plot_learning_curves(history: Path, path: Path, monitor: Union[Monitor, str] = Monitor.default()) -> bool:
    """Draws loss and the monitored metric per epoch (training dashed, validation solid).

    Args:
        history: a Keras ``history.csv`` (columns ``epoch, loss, accuracy, ...,
            val_loss, val_accuracy, ...``).
        path: the PNG to write.
        monitor: the validation column that selected the best epoch (marked by
            ``rundir.best_epoch``'s rule); when it is a loss, the right panel shows
            ``val_f1_macro`` instead.

    Returns:
        False (and nothing written) when the history has no loss column or no rows.
    """
    monitor = Monitor.parse(monitor)
    columns = rundir.read_history(history)
    if not columns.get("loss"):
        logger.warning("%s has no loss column; skipping %s.", history, path.name)
        return False
    epochs = list(range(1, len(columns["loss"]) + 1))  # one value per epoch, in order
    metric = monitor.removeprefix("val_")
    if metric == "loss" or (metric not in columns and monitor not in columns):
        metric = next((m for m in ("f1_macro", "accuracy", "mcc") if m in columns or f"val_{m}" in columns), "")
    best = rundir.best_epoch(columns.get(monitor, []), monitor)

    fig = new_figure(10, 4)
    panels = [("loss", "Loss")] + ([(metric, _CURVE_NAMES.get(metric, metric))] if metric else [])
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (key, name) in zip(axes, panels):
        for column, label, style in ((key, "training", "--"), (f"val_{key}", "validation", "-")):
            if column in columns:
                ax.plot(epochs, columns[column], style, marker="o", label=label)
        if best is not None:
            ax.axvline(epochs[best], color="grey", linestyle=":",
                       label=f"best epoch ({epochs[best]}, by {monitor})")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_xticks(epochs if len(epochs) <= 20 else epochs[::max(1, len(epochs) // 10)])
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    save_figure(fig, path)
    return True


def plot_confusion_matrix(confusion: Sequence[Sequence[int]], labels: Sequence[str], path: Path) -> None:
    """Draws the confusion matrix: counts in the cells, colour = share of the true label's row."""
    counts = np.asarray(confusion, dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    n = len(labels)
    size = min(4 + 0.6 * n, 20)
    fig = new_figure(size + 1.5, size)
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="share of the true label", shrink=0.8)
    ax.set_xticks(range(n), labels=labels, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(n), labels=labels)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    ax.set_title("Confusion matrix")
    if n <= 30:
        fontsize = "medium" if n <= 10 else "x-small"
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=fontsize,
                        color="white" if share[i, j] > 0.5 else "black")
    save_figure(fig, path)


def plot_confidence_by_class(y_true: np.ndarray, probabilities: np.ndarray, labels: Sequence[str],
                             path: Path) -> None:
    """Box plots of the confidence of the examples predicted as each label, with the predictions on top.

    Args:
        y_true: ``[N]`` int label ids.
        probabilities: ``[N, C]`` float probabilities.
        labels: the C names.
        path: the PNG to write.
    """
    confidence = probabilities.max(axis=-1)
    predicted = probabilities.argmax(axis=-1)
    correct = predicted == np.asarray(y_true)
    n = len(labels)
    fig = new_figure(max(6, 1.0 * n + 2), 4.5)
    ax = fig.subplots()
    groups = [confidence[predicted == i] for i in range(n)]
    positions = [i for i in range(n) if len(groups[i])]
    if positions:
        ax.boxplot([groups[i] for i in positions], positions=positions, widths=0.5, showfliers=False,
                   medianprops={"color": "black"})
    rng = np.random.default_rng(0)
    shown = np.arange(len(confidence))
    if len(shown) > _MAX_POINTS:
        shown = np.sort(rng.choice(shown, _MAX_POINTS, replace=False))
    jitter = rng.uniform(-0.18, 0.18, size=len(shown))
    for mask, colour, name in ((correct[shown], "tab:green", "right"), (~correct[shown], "tab:red", "wrong")):
        idx = shown[mask]
        ax.scatter(predicted[idx] + jitter[mask], confidence[idx], s=8, alpha=0.35, color=colour,
                   label=f"{name} ({int((correct if name == 'right' else ~correct).sum())})", zorder=3)
    few = n <= 8
    ax.set_xticks(range(n), labels=[f"{name}{chr(10) if few else ' '}(n={len(groups[i])})"
                                    for i, name in enumerate(labels)],
                  rotation=0 if few else 45, ha="center" if few else "right", rotation_mode="anchor")
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("confidence (largest probability)")
    ax.set_title("Confidence by predicted class")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    save_figure(fig, path)


def plot_per_label_metrics(per_label: Mapping[str, Mapping[str, Any]], path: Path) -> None:
    """Grouped bars of each label's precision, recall and F1 (multi-label), support under the name.

    Args:
        per_label: metrics.json ``per_label`` (``{label: {precision, recall, f1, support, ...}}``).
        path: the PNG to write.
    """
    labels = list(per_label)
    n = len(labels)
    x = np.arange(n)
    fig = new_figure(min(max(6, 0.55 * n + 2), 30), 4.5)
    ax = fig.subplots()
    width = 0.27
    for k, (key, name, colour) in enumerate((("precision", "precision", "tab:blue"),
                                            ("recall", "recall", "tab:orange"), ("f1", "F1", "tab:green"))):
        ax.bar(x + (k - 1) * width, [per_label[label][key] for label in labels], width, label=name, color=colour)
    few = n <= 8
    ax.set_xticks(x, labels=[f"{label}{chr(10) if few else ' '}(n={per_label[label]['support']})"
                             for label in labels],
                  rotation=0 if few else 45, ha="center" if few else "right", rotation_mode="anchor")
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score at the label's threshold")
    ax.set_title("Precision, recall and F1 per label (n = true examples)")
    ax.grid(axis="y", alpha=0.3)
    fig.legend(loc="outside lower center", ncols=3, fontsize="small")  # below the axes: bars reach 1
    save_figure(fig, path)


def plot_probabilities_by_label(y_true: np.ndarray, probabilities: np.ndarray, labels: Sequence[str],
                                thresholds: Sequence[float], path: Path) -> None:
    """Each label's probabilities for the examples that have it (left) and those that do not
    (right), as box plots with the single examples on top and the label's threshold as a bar.

    Args:
        y_true: ``[N, C]`` 0/1 targets.
        probabilities: ``[N, C]`` per-label probabilities.
        labels: the C names.
        thresholds: ``[C]`` decision thresholds.
        path: the PNG to write.
    """
    truth = np.asarray(y_true) > 0.5
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n_rows, n = truth.shape
    fig = new_figure(max(6, 1.0 * n + 2), 4.5)
    ax = fig.subplots()
    rng = np.random.default_rng(0)
    shown = np.arange(n_rows)
    per_label = max(1, _MAX_POINTS // max(n, 1))
    if len(shown) > per_label:
        shown = np.sort(rng.choice(shown, per_label, replace=False))
    for has, offset, colour, name in ((True, -0.2, "tab:green", "has the label"),
                                      (False, 0.2, "tab:grey", "does not")):
        groups = [probabilities[truth[:, c] == has, c] for c in range(n)]
        positions = [c + offset for c in range(n) if len(groups[c])]
        if positions:
            ax.boxplot([g for g in groups if len(g)], positions=positions, widths=0.3, showfliers=False,
                       medianprops={"color": "black"})
        xs, ys = [], []
        for c in range(n):
            rows = shown[truth[shown, c] == has]
            xs.append(c + offset + rng.uniform(-0.1, 0.1, size=len(rows)))
            ys.append(probabilities[rows, c])
        ax.scatter(np.concatenate(xs), np.concatenate(ys), s=8, alpha=0.35, color=colour, zorder=3,
                   label=f"{name} ({int(sum((truth[:, c] == has).sum() for c in range(n)))})")
    ax.hlines(thresholds, np.arange(n) - 0.45, np.arange(n) + 0.45, colors="tab:red", linewidth=1.5,
              label="threshold", zorder=4)
    few = n <= 8
    ax.set_xticks(range(n), labels=list(labels), rotation=0 if few else 45, ha="center" if few else "right",
                  rotation_mode="anchor")
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("probability of the label")
    ax.set_title("Probabilities by label: examples with the label (left), without (right)")
    ax.grid(axis="y", alpha=0.3)
    fig.legend(loc="outside lower center", ncols=3, fontsize="small")  # below the axes: points fill [0, 1]
    save_figure(fig, path)


def write_plots(out_dir: Path, metrics: Mapping[str, Any], y_true: np.ndarray, probabilities: np.ndarray,
                *, history: Optional[Path] = None,
                monitor: Union[Monitor, str] = Monitor.default()) -> dict[str, str]:
    """Writes the PNGs (learning curves only with a history): single-label the confusion matrix
    and confidence by class, multi-label the per-label metrics and probabilities by label.

    Args:
        out_dir: the folder.
        metrics: the metrics.json payload (its ``task`` picks the plots).
        y_true: ``[N]`` int label ids; multi-label ``[N, C]`` 0/1 targets.
        probabilities: ``[N, C]`` float probabilities.
        history: ``history.csv`` for the learning curves.
        monitor: the metric that picked the best epoch.

    Returns:
        ``{"learning_curves"|"confusion_matrix"|"confidence_by_class"|"per_label_metrics"|
        "probabilities_by_label": file name}`` of the plots written.
    """
    out_dir = Path(out_dir)
    made = {}
    if history is not None and plot_learning_curves(history, out_dir / LEARNING_CURVES, monitor):
        made["learning_curves"] = LEARNING_CURVES
    if metrics.get("task") == MULTI_LABEL:
        plot_per_label_metrics(metrics["per_label"], out_dir / PER_LABEL_METRICS)
        made["per_label_metrics"] = PER_LABEL_METRICS
        plot_probabilities_by_label(y_true, probabilities, metrics["labels"],
                                    [metrics["thresholds"][label] for label in metrics["labels"]],
                                    out_dir / PROBABILITIES_BY_LABEL)
        made["probabilities_by_label"] = PROBABILITIES_BY_LABEL
        return made
    plot_confusion_matrix(metrics["confusion_matrix"], metrics["labels"], out_dir / CONFUSION_MATRIX)
    made["confusion_matrix"] = CONFUSION_MATRIX
    plot_confidence_by_class(y_true, probabilities, metrics["labels"], out_dir / CONFIDENCE_BY_CLASS)
    made["confidence_by_class"] = CONFIDENCE_BY_CLASS
    return made


# ------------------------------------------------------------------------------------ report.md

def _cell(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = 4) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(_cell(v, digits) for v in row) + " |" for row in rows]
    return lines + [""]


def read_baselines(run_dir: Path) -> dict[str, dict[str, Any]]:
    """``{method: metrics}`` from ``run_dir/baselines/<method>/metrics.json``, sorted by method."""
    root = Path(run_dir) / rundir.BASELINES
    out = {}
    for path in sorted(root.glob("*/metrics.json")) if root.is_dir() else []:
        try:
            out[path.parent.name] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            logger.warning("Skipping unreadable baseline %s: %s", path, e)
    return out


_SCALARS = (str, int, float, bool, type(None))
_MAX_COLUMNS = 30


def _is_scalar(value: Any) -> bool:
    """Scalars, and short lists of scalars (shown joined by '; ')."""
    return isinstance(value, _SCALARS) or (
        isinstance(value, list) and len(value) <= 10 and all(isinstance(v, _SCALARS) for v in value))


def _scalar(value: Any) -> Any:
    if isinstance(value, list):
        return "; ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in value)
    return value


def _flat_row(value: Any) -> Optional[dict[str, Any]]:
    """A mapping of scalars and mappings of scalars as one row (``labels.joy``), else None."""
    if not isinstance(value, Mapping):
        return None
    row: dict[str, Any] = {}
    for k, v in value.items():
        if _is_scalar(v):
            row[str(k)] = _scalar(v)
        elif isinstance(v, Mapping) and all(_is_scalar(x) for x in v.values()):
            row.update({f"{k}.{kk}": _scalar(x) for kk, x in v.items()})
        else:
            return None
    return row


def _json_section(value: Any, heading: str, level: int) -> list[str]:
    """Renders a JSON value for people: scalars and (nested) mappings as tables, the rest as JSON."""
    lines = [f"{'#' * level} {heading}", ""] if heading else []
    if isinstance(value, Mapping):
        flat = {k: _scalar(v) for k, v in value.items() if _is_scalar(v)}
        nested = {k: v for k, v in value.items() if not _is_scalar(v)}
        if flat:
            lines += _table(["", "value"], list(flat.items()))
        rows = {k: _flat_row(v) for k, v in nested.items()}
        columns = list(dict.fromkeys(c for r in rows.values() if r for c in r))
        # Records of one kind (per split, per label) read best as one table.
        same_kind = len(nested) >= 2 and len({frozenset(v) if isinstance(v, Mapping) else None
                                               for v in nested.values()}) == 1
        if same_kind and all(r is not None for r in rows.values()) and len(columns) <= _MAX_COLUMNS:
            lines += _table([""] + columns, [[k] + [r.get(c) for c in columns] for k, r in rows.items()])
        else:
            for k, v in nested.items():
                lines += _json_section(v, str(k), min(level + 1, 6))
    elif isinstance(value, list) and len(value) <= 20 and all(isinstance(v, _SCALARS) for v in value):
        lines += [f"* {_cell(v)}" for v in value] + [""]
    else:
        lines += ["```json", json.dumps(value, indent=2)[:5000], "```", ""]
    return lines


def render_report(metrics: Mapping[str, Any], *, title: str, plots: Mapping[str, str] = (),
                  baselines: Optional[Mapping[str, Mapping[str, Any]]] = None,
                  data_report: Any = None) -> str:
    """The report.md text.

    Args:
        metrics: the metrics.json payload (either task).
        title: the heading.
        plots: ``{"learning_curves"|"confusion_matrix"|"confidence_by_class": file}``
            (multi-label: ``per_label_metrics``, ``probabilities_by_label``).
        baselines: ``{method: metrics}`` shown beside ``metrics``.
        data_report: the parsed ``data_report.json``, if any.
    """
    plots = dict(plots or {})
    baselines = dict(baselines or {})
    if metrics.get("task") == MULTI_LABEL:
        return _render_multilabel_report(metrics, title=title, plots=plots, baselines=baselines,
                                         data_report=data_report)
    labels = list(metrics["labels"])
    name = str(metrics.get("method") or "model")
    lines = _heading(metrics, title)

    lines += ["## Metrics", ""]
    if baselines:
        lines += ["Baselines (`fit --baselines`, `python -m tfclf.baseline`) were evaluated on the same "
                  "split; they are in `baselines/<method>/`.", ""]
    header = ["metric", name] + list(baselines)
    lines += _table(header, [[_METRIC_NAMES[k], _with_interval(metrics, k)] +
                             [_with_interval(b, k) for b in baselines.values()] for k in _METRIC_NAMES])
    info = metrics.get("roc_auc_info") or {}
    calibration = metrics.get("calibration") or {}
    notes = []
    if info:
        notes.append("ROC-AUC: " + ("binary, scored on the probability of "
                                    f"`{labels[-1]}`" if info.get("average") == "binary"
                                    else "mean of the one-vs-rest AUCs (macro)")
                     + (f"; {info['note']}" if info.get("note") else "") + ".")
    if calibration:
        notes.append(f"ECE: expected calibration error over {calibration.get('bins')} "
                     f"{calibration.get('binning', 'bins')}.")
    notes.append("MCC: Matthews correlation coefficient (1 perfect, 0 chance).")
    notes += _bootstrap_notes(metrics)
    lines += [f"* {n}" for n in notes] + [""]

    lines += _group_level_section(metrics, baselines, _METRIC_NAMES, "per_class", "class")
    lines += _run_section(metrics, _SCHEMA_KEYS)

    lines += ["## Per class", ""]
    conf = metrics.get("confidence_by_class") or {}
    lines += _table(
        ["class", "precision", "recall", "F1", "support", "ROC-AUC", "predicted", "median confidence"],
        [[label, m["precision"], m["recall"], m["f1"], m["support"], m.get("roc_auc"),
          (conf.get(label) or {}).get("n"), (conf.get(label) or {}).get("median")]
         for label, m in metrics["per_class"].items()])
    if baselines:
        lines += ["F1 by class, side by side:", ""]
        lines += _table(["class", name] + list(baselines),
                        [[label, metrics["per_class"][label]["f1"]] +
                         [((b.get("per_class") or {}).get(label) or {}).get("f1") for b in baselines.values()]
                         for label in labels])

    lines += ["## Confusion matrix", "", "Rows: true label; columns: predicted label.", ""]
    lines += _table(["true \\ predicted"] + labels,
                    [[label] + list(row) for label, row in zip(labels, metrics["confusion_matrix"])])
    if "confusion_matrix" in plots:
        lines += [f"![confusion matrix]({plots['confusion_matrix']})", ""]

    if conf:
        lines += ["## Confidence by predicted class", "",
                  "Confidence is the largest probability (the serving signature's `confidence`), "
                  "grouped by the label the model predicted.", ""]
        lines += _table(["predicted", "n", "mean", "min", "Q1", "median", "Q3", "max"],
                        [[label, c["n"], c["mean"], c["min"], c["q1"], c["median"], c["q3"], c["max"]]
                         for label, c in conf.items()], digits=3)
        if "confidence_by_class" in plots:
            lines += [f"![confidence by class]({plots['confidence_by_class']})", ""]

    bins = [b for b in calibration.get("reliability", []) if b["count"]]
    if bins:
        lines += ["## Calibration", "",
                  f"Non-empty confidence bins; ECE = {_cell(metrics.get('ece'))} is the count-weighted "
                  "mean of |accuracy − confidence|.", ""]
        lines += _table(["confidence bin", "count", "accuracy", "mean confidence", "gap"],
                        [[f"({b['lower']:.3f}, {b['upper']:.3f}]", b["count"], b["accuracy"], b["confidence"],
                          b["accuracy"] - b["confidence"]] for b in bins], digits=3)

    lines += _closing_sections(plots, data_report)
    return "\n".join(lines).rstrip() + "\n"


def _with_interval(metrics: Mapping[str, Any], key: str) -> Any:
    """``metrics[key]``, as ``"0.8120 (95% CI 0.7810–0.8420)"`` when ``metrics["bootstrap"]`` has it."""
    value = metrics.get(key)
    ci = (metrics.get("bootstrap") or {}).get(key)
    if value is None or not ci:
        return value
    return f"{_cell(value)} ({ci['confidence']:.0%} CI {_cell(ci['low'])}–{_cell(ci['high'])})"


def _bootstrap_notes(metrics: Mapping[str, Any], unit: str = "examples") -> list[str]:
    """How the confidence intervals were made, when metrics.json (or its ``group_level``,
    ``unit="groups"``) has ``bootstrap``."""
    first = next(iter((metrics.get("bootstrap") or {}).values()), None)
    if not first:
        return []
    count = metrics.get("n_groups" if unit == "groups" else "n_examples")
    return [f"{first['confidence']:.0%} CI: percentile bootstrap interval over {first['n_resamples']} resamples "
            f"of the {count} {unit} (seed {first['seed']}): the sampling noise of this "
            "split, not the variation between training runs."]


def _group_level_section(metrics: Mapping[str, Any], baselines: Mapping[str, Mapping[str, Any]],
                         names: Mapping[str, str], per_key: str, per_name: str) -> list[str]:
    """"Group level" (``--eval-group-by``): metrics.json's ``group_level`` beside the per-example
    metrics (and the baselines' group level), then its per-class (per-label) table."""
    level = metrics.get("group_level")
    if not level:
        return []
    sizes = level["examples_per_group"]
    decided = ("each label whose mean probability reaches the label's threshold"
               if metrics.get("task") == MULTI_LABEL else "the label with the largest mean probability")
    lines = ["## Group level", "",
             f"The {metrics.get('n_examples')} examples form {level['n_groups']} groups by `{level['group_by']}` "
             f"({sizes['min']}–{sizes['max']} examples per group, median {sizes['median']:g}). A group's "
             f"probabilities are the mean of its examples'; it is predicted {decided}, and scored against "
             "the label its examples share.", ""]
    name = str(metrics.get("method") or "model")
    others = {m: b["group_level"] for m, b in baselines.items() if b.get("group_level")}
    lines += _table(["metric", f"{name} (examples)", f"{name} (groups)"] + [f"{m} (groups)" for m in others],
                    [[text, _with_interval(metrics, k), _with_interval(level, k)] +
                     [_with_interval(o, k) for o in others.values()] for k, text in names.items()])
    notes = _bootstrap_notes(level, unit="groups")
    lines += [f"* {n}" for n in notes] + ([""] if notes else [])
    per = level.get(per_key) or {}
    if per:
        lines += [f"Per {per_name}, over groups (support: groups):", ""]
        lines += _table([per_name, "precision", "recall", "F1", "support"],
                        [[label, m["precision"], m["recall"], m["f1"], m["support"]] for label, m in per.items()])
    return lines


def _heading(metrics: Mapping[str, Any], title: str) -> list[str]:
    lines = [f"# Evaluation report: {title}", "",
             f"{metrics['n_examples']} examples of the **{metrics.get('split', '?')}** split, "
             f"{len(metrics['labels'])} labels."]
    for key, text in (("model", "Model"), ("data", "Data")):
        if metrics.get(key):
            lines.append(f"{text}: `{metrics[key]}`.")
    return lines + [""]


def _run_section(metrics: Mapping[str, Any], schema_keys: set[str]) -> list[str]:
    """What the caller added to metrics.json (speed, source files): scalars as a table, the rest rendered."""
    lines: list[str] = []
    extra = {k: v for k, v in metrics.items() if k not in schema_keys | {"model", "data", "method"}}
    scalars = {k: v for k, v in extra.items() if isinstance(v, (int, float, str, bool)) or v is None}
    if scalars:
        lines += ["## Run", ""] + _table(["", "value"], list(scalars.items()), digits=3)
    for k, v in extra.items():
        if k not in scalars:
            lines += _json_section(v, k, 3)
    return lines


def _closing_sections(plots: Mapping[str, str], data_report: Any) -> list[str]:
    lines: list[str] = []
    if "learning_curves" in plots:
        lines += ["## Learning curves", "", f"![learning curves]({plots['learning_curves']})", ""]
    if data_report is not None:
        lines += _json_section(data_report, "Data", 2)
    return lines


def _render_multilabel_report(metrics: Mapping[str, Any], *, title: str, plots: Mapping[str, str],
                              baselines: Mapping[str, Mapping[str, Any]], data_report: Any) -> str:
    """report.md of a multi-label evaluation (``render_report`` with ``task: multi-label``)."""
    labels = list(metrics["labels"])
    name = str(metrics.get("method") or "model")
    strategy = metrics.get("threshold_strategy", "fixed")
    lines = _heading(metrics, title)
    lines[-1:] = [f"Multi-label: each label is predicted when its probability is at least its threshold "
                  f"(`{strategy}`; see the per-label table).", ""]

    lines += ["## Metrics", ""]
    lines += _table(["metric", name], [[text, _with_interval(metrics, k)]
                                       for k, text in _MULTILABEL_METRIC_NAMES.items()])
    cardinality = metrics.get("cardinality") or {}
    info = metrics.get("roc_auc_info") or {}
    notes = []
    if cardinality:
        notes.append(f"Label cardinality (mean labels per example): {_cell(cardinality.get('true'), 3)} true, "
                     f"{_cell(cardinality.get('predicted'), 3)} predicted.")
    notes += ["Micro: over all (example, label) decisions; macro: unweighted mean over labels; weighted: "
              "mean weighted by each label's support; samples: mean over examples of each example's score.",
              "Subset accuracy: share of examples whose predicted label set is exactly the true one "
              "(metrics.json `accuracy` holds the same number).",
              "MCC: mean over labels of each label's Matthews correlation (1 perfect, 0 chance)."]
    if info:
        notes.append("ROC-AUC, PR-AUC (average precision): threshold-free, mean over the labels with both "
                     "positive and negative true examples" + (f"; {info['note']}" if info.get("note") else "")
                     + ".")
    notes += _bootstrap_notes(metrics)
    lines += [f"* {n}" for n in notes] + [""]
    if baselines:
        lines += ["Baselines (`fit --baselines`, `python -m tfclf.baseline`) on the same split; they are in "
                  "`baselines/<method>/`.", ""]
        lines += _table(["metric", name] + list(baselines),
                        [[_MULTILABEL_METRIC_NAMES[k], _with_interval(metrics, k)] +
                         [_with_interval(b, k) for b in baselines.values()] for k in _MULTILABEL_BASELINE_KEYS])

    lines += _group_level_section(metrics, baselines, _MULTILABEL_METRIC_NAMES, "per_label", "label")
    lines += _run_section(metrics, _MULTILABEL_SCHEMA_KEYS)

    lines += ["## Per label", "",
              "support: examples with the label; predicted: examples predicted with it; accuracy: share of "
              "examples whose decision for the label is right.", ""]
    per_label = metrics["per_label"]
    lines += _table(
        ["label", "precision", "recall", "F1", "support", "predicted", "accuracy", "MCC", "ROC-AUC", "PR-AUC",
         "threshold"],
        [[label, m["precision"], m["recall"], m["f1"], m["support"], m["predicted"], m["accuracy"], m["mcc"],
          m.get("roc_auc"), m.get("pr_auc"), m.get("threshold")] for label, m in per_label.items()])
    if "per_label_metrics" in plots:
        lines += [f"![per-label metrics]({plots['per_label_metrics']})", ""]
    if baselines:
        lines += ["F1 by label, side by side:", ""]
        lines += _table(["label", name] + list(baselines),
                        [[label, per_label[label]["f1"]] +
                         [((b.get("per_label") or {}).get(label) or {}).get("f1") for b in baselines.values()]
                         for label in labels])
    if "probabilities_by_label" in plots:
        lines += ["## Probabilities by label", "",
                  "Each label's probability for the examples that have it (left) and those that do not "
                  "(right); the red bar is the label's threshold.", "",
                  f"![probabilities by label]({plots['probabilities_by_label']})", ""]

    lines += _closing_sections(plots, data_report)
    return "\n".join(lines).rstrip() + "\n"


def write_report(run_dir: Path, metrics: Mapping[str, Any], *, plots: Mapping[str, str] = (),
                 title: Optional[str] = None) -> Path:
    """Writes ``run_dir/report.md``, picking up ``baselines/`` and ``data_report.json`` found there."""
    run_dir = Path(run_dir)
    data_report = None
    data_file = run_dir / rundir.DATA_REPORT
    if data_file.is_file():
        try:
            data_report = json.loads(data_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            logger.warning("Skipping unreadable %s: %s", data_file, e)
    text = render_report(metrics, title=title or run_dir.name, plots=plots,
                         baselines=read_baselines(run_dir), data_report=data_report)
    path = run_dir / REPORT
    atomic.write_text(path, text)
    return path
