"""Evaluation: predictions -> metrics.json, plots and report.md.

The metrics.json schema (the same for a training run, a re-evaluation and a baseline):

* ``accuracy``, ``precision_macro``, ``precision_weighted``, ``recall_macro``,
  ``recall_weighted``, ``f1_macro``, ``f1_weighted``, ``mcc`` (Matthews correlation);
* ``roc_auc``: binary tasks: the AUC of the second label's probability; more
  classes: the unweighted mean of the one-vs-rest AUCs. Classes absent from the
  true labels have no AUC: they are skipped and listed in
  ``roc_auc_info["skipped"]``; ``roc_auc`` is null when no class is left;
* ``ece``: expected calibration error of the confidence (the largest probability),
  over ``calibration["bins"]`` (default 15) equal-width bins of [0, 1]:
  ``sum_b |B_b| / N * |accuracy(B_b) - mean confidence(B_b)|``; the bins are in
  ``calibration["reliability"]``;
* ``per_class``: ``{label: {precision, recall, f1, support, roc_auc}}``;
* ``confidence_by_class``: ``{label: {n, mean, min, q1, median, q3, max}}`` of the
  confidence of the examples **predicted as** that label (what a caller of the
  serving signature sees in ``confidence`` when ``label`` is that class); quartiles
  are numpy's linear-interpolation percentiles; null statistics when n is 0;
* ``confusion_matrix``: rows are true labels, columns predicted, in ``labels`` order;
* ``labels``, ``n_examples``, ``split`` and whatever the caller adds (training speed).

``evaluate_run`` re-evaluates a saved run on a labelled file (``python -m tfclf.evaluate``):
the file is read like the run read its data (columns, delimiter, encoding, cleaning,
label map from the run's config.yaml).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np
from sklearn import metrics as skm

from tfclf import atomic, outputs, report as report_lib, rundir
from tfclf.config import DataConfig, RunConfig
from tfclf.errors import TfclfError
from tfclf.outputs import OutputKind

logger = logging.getLogger(__name__)

DEFAULT_CALIBRATION_BINS = 15


# ------------------------------------------------------------------------------------- metrics

def classification_metrics(y_true: np.ndarray, probabilities: np.ndarray, label_names: Sequence[str],
                           *, calibration_bins: int = DEFAULT_CALIBRATION_BINS) -> dict[str, Any]:
    """Computes the metrics.json payload (see the module docstring for every key).

    Args:
        y_true: ``[N]`` int label ids in ``[0, C)``.
        probabilities: ``[N, C]`` float class probabilities (rows sum to 1).
        label_names: the C label names, in id order.
        calibration_bins: number of equal-width confidence bins for ``ece``.

    Returns:
        The payload as a JSON-serialisable dict.

    Raises:
        ValueError: shapes that do not match, or ids out of range.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n_classes = len(label_names)
    if probabilities.ndim != 2 or probabilities.shape != (len(y_true), n_classes):
        raise ValueError(f"probabilities must be [N={len(y_true)}, C={n_classes}]. "
                         f"Received: shape={probabilities.shape}")
    if len(y_true) and (y_true.min() < 0 or y_true.max() >= n_classes):
        raise ValueError(f"y_true ids must be in [0, {n_classes}). Received: {sorted(set(y_true.tolist()))}")
    y_pred = probabilities.argmax(axis=-1)
    ids = list(range(n_classes))
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0)

    def average(fn, avg: str) -> float:
        return float(fn(y_true, y_pred, labels=ids, average=avg, zero_division=0))

    auc, auc_info, per_class_auc = roc_auc(y_true, probabilities, label_names)
    ece, reliability = expected_calibration_error(y_true, probabilities, bins=calibration_bins)
    out: dict[str, Any] = {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "precision_macro": average(skm.precision_score, "macro"),
        "precision_weighted": average(skm.precision_score, "weighted"),
        "recall_macro": average(skm.recall_score, "macro"),
        "recall_weighted": average(skm.recall_score, "weighted"),
        "f1_macro": average(skm.f1_score, "macro"),
        "f1_weighted": average(skm.f1_score, "weighted"),
        "mcc": _mcc(y_true, y_pred),
        "roc_auc": auc,
        "ece": ece,
        "per_class": {
            name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i]),
                   "roc_auc": per_class_auc[name]}
            for i, name in enumerate(label_names)
        },
        "roc_auc_info": auc_info,
        "calibration": {
            "bins": calibration_bins,
            "binning": "equal-width bins of the confidence (largest probability) over [0, 1], "
                       "upper edge inclusive",
            "reliability": reliability,
        },
        "confidence_by_class": confidence_by_class(probabilities, label_names),
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=ids).tolist(),
        "labels": list(label_names),
        "n_examples": int(len(y_true)),
    }
    return out


def _mcc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    import warnings

    with warnings.catch_warnings():  # one label in truth and predictions: MCC is 0, no need to warn
        warnings.simplefilter("ignore", UserWarning)
        return float(skm.matthews_corrcoef(y_true, y_pred))


def roc_auc(y_true: np.ndarray, probabilities: np.ndarray, label_names: Sequence[str]
            ) -> tuple[Optional[float], dict[str, Any], dict[str, Optional[float]]]:
    """ROC-AUC that never fails on missing classes.

    Args:
        y_true: ``[N]`` int label ids.
        probabilities: ``[N, C]`` float probabilities.
        label_names: the C names.

    Returns:
        ``(auc, info, per_class)``: ``auc`` is the binary AUC (C == 2, scored on the
        second label's probability) or the macro mean of one-vs-rest AUCs over the
        classes present in ``y_true`` (None when it cannot be computed); ``info`` says
        how (``average``, ``classes``, ``skipped``, ``note``); ``per_class`` maps each
        label to its one-vs-rest AUC or None.
    """
    y_true = np.asarray(y_true)
    present = set(np.unique(y_true).tolist())
    per_class: dict[str, Optional[float]] = {}
    for i, name in enumerate(label_names):
        # One-vs-rest needs positives and negatives of class i.
        if i in present and len(present) > 1:
            per_class[name] = float(skm.roc_auc_score(y_true == i, probabilities[:, i]))
        else:
            per_class[name] = None
    used = [name for name in label_names if per_class[name] is not None]
    skipped = [name for name in label_names if per_class[name] is None]
    info: dict[str, Any] = {"average": "binary" if len(label_names) == 2 else "macro-ovr",
                            "classes": used, "skipped": skipped}
    if len(present) < 2:
        info["note"] = (f"only {len(present)} class present in the true labels: "
                        "ROC-AUC is undefined")
        return None, info, per_class
    if skipped:
        info["note"] = f"classes absent from the true labels are left out of the mean: {skipped}"
    if len(label_names) == 2:
        return per_class[label_names[1]], info, per_class
    return float(np.mean([per_class[name] for name in used])), info, per_class


def expected_calibration_error(y_true: np.ndarray, probabilities: np.ndarray,
                               bins: int = DEFAULT_CALIBRATION_BINS) -> tuple[float, list[dict[str, Any]]]:
    """Expected calibration error over equal-width confidence bins (Guo et al., 2017).

    Bin ``b`` holds the examples with confidence in ``(b / bins, (b + 1) / bins]``
    (the first bin also holds confidence 0).

    Args:
        y_true: ``[N]`` int label ids.
        probabilities: ``[N, C]`` float probabilities.
        bins: number of bins.

    Returns:
        ``(ece, reliability)``: ``ece`` = sum over bins of ``count / N * |accuracy -
        mean confidence|``; ``reliability`` lists every bin as ``{lower, upper, count,
        accuracy, confidence}`` (accuracy and confidence are None for empty bins).
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1. Received: bins={bins}")
    y_true = np.asarray(y_true)
    confidence = probabilities.max(axis=-1)
    correct = probabilities.argmax(axis=-1) == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece, reliability = 0.0, []
    for b in range(bins):
        in_bin = (confidence > edges[b]) & (confidence <= edges[b + 1])
        if b == 0:
            in_bin |= confidence <= edges[0]
        count = int(in_bin.sum())
        acc = float(correct[in_bin].mean()) if count else None
        conf = float(confidence[in_bin].mean()) if count else None
        if count:
            ece += count / len(y_true) * abs(acc - conf)
        reliability.append({"lower": float(edges[b]), "upper": float(edges[b + 1]), "count": count,
                            "accuracy": acc, "confidence": conf})
    return float(ece), reliability


def confidence_by_class(probabilities: np.ndarray, label_names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Quartiles of the confidence (largest probability) of the examples predicted as each label.

    Returns:
        ``{label: {n, mean, min, q1, median, q3, max}}``; the statistics are None when
        no example is predicted as the label.
    """
    confidence = probabilities.max(axis=-1)
    predicted = probabilities.argmax(axis=-1)
    out = {}
    for i, name in enumerate(label_names):
        c = confidence[predicted == i]
        if len(c):
            q = np.percentile(c, [0, 25, 50, 75, 100])
            out[name] = {"n": int(len(c)), "mean": float(c.mean()), "min": float(q[0]), "q1": float(q[1]),
                         "median": float(q[2]), "q3": float(q[3]), "max": float(q[4])}
        else:
            out[name] = {"n": 0, **{k: None for k in ("mean", "min", "q1", "median", "q3", "max")}}
    return out


# ------------------------------------------------------------------------------------- outputs

def write_metrics(metrics: dict[str, Any], path: Path) -> None:
    """Writes metrics.json atomically."""
    atomic.write_text(path, json.dumps(metrics, indent=2, sort_keys=False) + "\n")


def write_evaluation(out_dir: str | os.PathLike, y_true: np.ndarray, probabilities: np.ndarray,
                     label_names: Sequence[str], *, split: str, extra: Optional[Mapping[str, Any]] = None,
                     history: Optional[str | os.PathLike] = None, monitor: Optional[str] = None,
                     title: Optional[str] = None, plots: bool = True, report: bool = True,
                     calibration_bins: int = DEFAULT_CALIBRATION_BINS) -> dict[str, Any]:
    """Computes the metrics and writes metrics.json, the plots and report.md into ``out_dir``.

    The one call a training run, ``python -m tfclf.evaluate`` and the baselines make.
    report.md also picks up ``out_dir/data_report.json`` and the baselines' metrics
    in ``out_dir/baselines/<method>/metrics.json`` when they exist.

    Example::

        metrics = evaluation.write_evaluation(run_dir, y_test, probabilities, labels.names,
                                              split="test", extra={"train_examples_per_sec": 41.5})

    Args:
        out_dir: folder to write into (created if missing).
        y_true: ``[N]`` int label ids.
        probabilities: ``[N, C]`` float probabilities.
        label_names: the C label names in id order.
        split: name of the evaluated split, stored as ``split``.
        extra: more top-level keys for metrics.json (speed, source files).
        history: a Keras ``history.csv`` for learning_curves.png; default
            ``out_dir/history.csv`` when it exists.
        monitor: the validation metric that picked the best epoch (marked on the
            curves); default: ``train.monitor`` of ``out_dir/config.yaml``, else
            ``val_f1_macro``.
        title: report heading; default the folder name.
        plots: write the PNGs.
        report: write report.md.
        calibration_bins: bins of the expected calibration error.

    Returns:
        The metrics.json payload.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics = classification_metrics(y_true, probabilities, label_names, calibration_bins=calibration_bins)
    metrics["split"] = split
    metrics.update(extra or {})
    write_metrics(metrics, out / rundir.METRICS)
    history_path = Path(history) if history else out / rundir.HISTORY
    made: dict[str, str] = {}
    if plots:
        made = report_lib.write_plots(out, metrics, np.asarray(y_true), np.asarray(probabilities),
                                      history=history_path if history_path.is_file() else None,
                                      monitor=monitor or rundir.RunDirectory(out).monitor())
    if report:
        report_lib.write_report(out, metrics, plots=made, title=title or out.name.lstrip(".").removesuffix(
            ".partial"))
    return metrics


def format_table(metrics: dict[str, Any], split: str) -> str:
    """A plain-text metrics table for the terminal."""
    lines = [f"Metrics on the {split} split ({metrics['n_examples']} examples)"]
    for key in ("accuracy", "f1_macro", "f1_weighted", "precision_macro", "recall_macro", "mcc",
                "roc_auc", "ece"):
        if metrics.get(key) is not None:
            lines.append(f"  {key:<17}{metrics[key]:.4f}")
    if "train_examples_per_sec" in metrics:
        lines.append(f"  {'train ex/s':<17}{metrics['train_examples_per_sec']:.1f}")
    width = max(len(n) for n in metrics["per_class"]) + 2
    lines.append(f"  {'class':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}")
    for name, m in metrics["per_class"].items():
        lines.append(f"  {name:<{width}}{m['precision']:>10.4f}{m['recall']:>10.4f}{m['f1']:>10.4f}"
                     f"{m['support']:>9d}")
    return "\n".join(lines)


# ------------------------------------------------------------------------- re-evaluating a run

# Data fields that choose files or rows of the training run, not how a file is read.
RUN_ONLY_DATA_FIELDS = ("data", "train", "validation", "test", "limit_train")


def run_data_config(run_dir: str | os.PathLike, overrides: Optional[Mapping[str, Any]] = None) -> DataConfig:
    """The ``DataConfig`` that reads new files the way the run read its own.

    Format and cleaning fields (columns, delimiter, encoding, lower-casing, label
    map, ...) come from the run's config.yaml; the files it named do not. A folder
    without config.yaml gives the defaults.

    Args:
        run_dir: the run directory.
        overrides: ``{field: value}`` taking precedence (already typed, as from flags).

    Raises:
        TfclfError: the run's config.yaml is damaged or holds invalid values, naming it.
    """
    run = rundir.RunDirectory(run_dir, role="--model")
    data = run.config().data if (run / rundir.CONFIG).is_file() else DataConfig()
    fresh = DataConfig()
    return dataclasses.replace(data, **{name: getattr(fresh, name) for name in RUN_ONLY_DATA_FIELDS},
                               **dict(overrides or {}))


def evaluate_run(model_dir: str | os.PathLike, test: str | os.PathLike, *,
                 data_config: Optional[DataConfig] = None, output_dir: Optional[str | os.PathLike] = None,
                 batch_size: Optional[int] = None, overwrite: bool = False) -> tuple[Path, dict[str, Any]]:
    """Re-evaluates a saved run on a labelled file: metrics.json, plots and report.md.

    Predicts with the run's raw-string SavedModel (``tfclf.load``) in batches of the
    run's ``--batch-size``, so on the run's own test file the numbers equal those
    written at training time.

    Example::

        out, metrics = evaluation.evaluate_run("runs/demo", "new_tickets.csv")

    Args:
        model_dir: a run directory (with ``saved_model/`` and ``config.yaml``).
        test: a labelled file or class-folder directory.
        data_config: how to read ``test``; default ``run_data_config(model_dir)``
            (the run's columns, delimiter, encoding and cleaning).
        output_dir: where to write; default ``<model_dir>/eval-<test file stem>``.
        batch_size: prediction batch size; default the run's.
        overwrite: replace an existing ``output_dir``.

    Returns:
        ``(output_dir, metrics)``.

    Raises:
        TfclfError: not a run directory, unreadable data, labels the model does not
            know, or an existing ``output_dir`` without ``overwrite``.
    """
    from tfclf.data import LABEL, TEXT, read_examples
    from tfclf.serving import loaded  # TensorFlow: after the run and the output folder are checked

    run = rundir.RunDirectory(model_dir, role="--model")
    run_dir = run.path
    if not run_dir.is_dir():
        raise TfclfError(f"--model {str(run_dir)!r}: no such run directory.")
    if not (run / rundir.SAVED_MODEL).is_dir():
        found = sorted(p.name for p in run_dir.iterdir())[:10]
        if (run / rundir.CONFIG).is_file():
            raise TfclfError(f"--model {str(run_dir)!r} is an unfinished tfclf run directory: it has no "
                             f"{rundir.SAVED_MODEL}/ folder (found: {found}). Re-run fit to finish it.")
        raise TfclfError(f"--model {str(run_dir)!r} is not a tfclf run directory (it has no "
                         f"{rundir.SAVED_MODEL}/ folder; found: {found}).")
    config = run.config() if (run / rundir.CONFIG).is_file() else RunConfig()
    data_config = data_config if data_config is not None else run_data_config(run_dir)
    if batch_size is None:
        batch_size = config.train.batch_size
    if batch_size < 1:
        raise TfclfError(f"--batch-size must be >= 1. Received: batch_size={batch_size}")
    test_name = Path(str(test).rstrip("/")).name
    out = outputs.check_dir(
        Path(output_dir) if output_dir else run_dir / f"eval-{Path(test_name).stem}",
        OutputKind.EVALUATION, flag="--output-dir", overwrite=overwrite,
        inputs=[outputs.Input("--model", run_dir, outputs_inside=True), outputs.Input("--test", test)])

    if data_config.multi_label:
        raise TfclfError("python -m tfclf.evaluate supports single-label runs only; this run is multi-label "
                         "(--label-separator or several --label-column).")
    df = read_examples(str(test), data_config, role="--test")
    model = loaded.load(run_dir)
    names = list(model.label_names)
    unknown = sorted(set(df[LABEL]) - set(names))
    if unknown:
        counts = df[LABEL].value_counts()
        raise TfclfError(
            f"--test {str(test)!r}: {len(unknown)} label(s) the model does not know: "
            f"{[f'{u} ({counts[u]} rows)' for u in unknown[:10]]}. Known labels: {names}. "
            "Check --label-column, or drop those rows.")
    ids = {name: i for i, name in enumerate(names)}
    y_true = np.array([ids[label] for label in df[LABEL]], dtype=np.int64)
    logger.info("Predicting %d examples of %s with %s (batch %d).", len(df), test, model.path, batch_size)
    _, probabilities = model.predict(df[TEXT].tolist(), batch_size=batch_size)
    with outputs.directory(out, OutputKind.EVALUATION, flag="--output-dir", overwrite=overwrite,
                           checked=True) as tmp:
        metrics = write_evaluation(
            tmp, y_true, probabilities, names, split="test", extra={"model": str(run_dir), "data": str(test)},
            history=run / rundir.HISTORY, monitor=config.train.monitor,
            title=f"{run_dir.name} on {test_name}")
    logger.info("Evaluation written to %s", out)
    return out, metrics
