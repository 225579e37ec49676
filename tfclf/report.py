"""What a person reads after a run: the PNG plots and report.md, built from files in the run directory.

* ``learning_curves.png``: training and validation loss, and the monitored metric,
  per epoch, from ``history.csv``; the best epoch is marked.
* ``confusion_matrix.png``: counts, coloured by the share of each true label.
* ``confidence_by_class.png``: the confidence (largest probability) of the
  examples predicted as each label, as box plots with the single predictions on
  top, right ones and wrong ones in two colours.
* ``report.md``: the metric tables (with baselines side by side when
  ``baselines/<method>/metrics.json`` exist), the per-class table, the confusion
  matrix, the confidence quartiles, the calibration bins, the data summary of
  ``data_report.json`` when it exists, and links to the plots.

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
REPORT = "report.md"
_MAX_POINTS = 3000  # confidence_by_class draws at most this many single predictions

_METRIC_NAMES = {
    "accuracy": "accuracy", "precision_macro": "precision (macro)", "precision_weighted": "precision (weighted)",
    "recall_macro": "recall (macro)", "recall_weighted": "recall (weighted)", "f1_macro": "F1 (macro)",
    "f1_weighted": "F1 (weighted)", "mcc": "MCC", "roc_auc": "ROC-AUC", "ece": "ECE (lower is better)",
}
# Keys of the metrics.json schema that have their own section in report.md.
_SCHEMA_KEYS = set(_METRIC_NAMES) | {"per_class", "roc_auc_info", "calibration", "confidence_by_class",
                                     "confusion_matrix", "labels", "n_examples", "split"}


# ---------------------------------------------------------------------------------------- plots

def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _save(fig, path: Path) -> None:
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

    fig = _figure(10, 4)
    panels = [("loss", "Loss")] + ([(metric, _METRIC_NAMES.get(metric, metric))] if metric else [])
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
    _save(fig, path)
    return True


def plot_confusion_matrix(confusion: Sequence[Sequence[int]], labels: Sequence[str], path: Path) -> None:
    """Draws the confusion matrix: counts in the cells, colour = share of the true label's row."""
    counts = np.asarray(confusion, dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    n = len(labels)
    size = min(4 + 0.6 * n, 20)
    fig = _figure(size + 1.5, size)
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
    _save(fig, path)


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
    fig = _figure(max(6, 1.0 * n + 2), 4.5)
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
    _save(fig, path)


def write_plots(out_dir: Path, metrics: Mapping[str, Any], y_true: np.ndarray, probabilities: np.ndarray,
                *, history: Optional[Path] = None,
                monitor: Union[Monitor, str] = Monitor.default()) -> dict[str, str]:
    """Writes the three PNGs (learning curves only with a history).

    Returns:
        ``{"learning_curves"|"confusion_matrix"|"confidence_by_class": file name}`` of
        the plots written.
    """
    out_dir = Path(out_dir)
    made = {}
    if history is not None and plot_learning_curves(history, out_dir / LEARNING_CURVES, monitor):
        made["learning_curves"] = LEARNING_CURVES
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
        metrics: the metrics.json payload.
        title: the heading.
        plots: ``{"learning_curves"|"confusion_matrix"|"confidence_by_class": file}``.
        baselines: ``{method: metrics}`` shown beside ``metrics``.
        data_report: the parsed ``data_report.json``, if any.
    """
    plots = dict(plots or {})
    baselines = dict(baselines or {})
    labels = list(metrics["labels"])
    name = str(metrics.get("method") or "model")
    lines = [f"# Evaluation report: {title}", "",
             f"{metrics['n_examples']} examples of the **{metrics.get('split', '?')}** split, "
             f"{len(labels)} labels."]
    for key, text in (("model", "Model"), ("data", "Data")):
        if metrics.get(key):
            lines.append(f"{text}: `{metrics[key]}`.")
    lines.append("")

    lines += ["## Metrics", ""]
    if baselines:
        lines += ["Baselines (`fit --baselines`, `python -m tfclf.baseline`) were evaluated on the same "
                  "split; they are in `baselines/<method>/`.", ""]
    header = ["metric", name] + list(baselines)
    lines += _table(header, [[_METRIC_NAMES[k], metrics.get(k)] + [b.get(k) for b in baselines.values()]
                             for k in _METRIC_NAMES])
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
    lines += [f"* {n}" for n in notes] + [""]

    extra = {k: v for k, v in metrics.items() if k not in _SCHEMA_KEYS | {"model", "data", "method"}}
    scalars = {k: v for k, v in extra.items() if isinstance(v, (int, float, str, bool)) or v is None}
    if scalars:
        lines += ["## Run", ""] + _table(["", "value"], list(scalars.items()), digits=3)
    for k, v in extra.items():
        if k not in scalars:
            lines += _json_section(v, k, 3)

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

    if "learning_curves" in plots:
        lines += ["## Learning curves", "", f"![learning curves]({plots['learning_curves']})", ""]
    if data_report is not None:
        lines += _json_section(data_report, "Data", 2)
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
