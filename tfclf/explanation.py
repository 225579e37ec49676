"""Which words push a saved model toward its predictions: SHAP values over the raw-string model.

A ``shap`` Text masker splits each text into words and hides subsets of them
(replaced by ``...``); a Partition explainer runs the raw-string model on the
masked texts and attributes each label's probability to the words. ``explain``
writes SHAP's interactive text plot (HTML) and, per text, the predicted label(s),
the probabilities and the top words (JSON). ``python -m tfclf.explain`` is its
command line; ``read_texts`` reads texts from an input the way prediction does
(``tfclf.data.inputs``).

Cost: about ``max_evals`` model calls per text, batched ``batch_size`` at a time.
Blank texts have no words to attribute; they are reported with empty ``top_tokens``.
A one-word text (SHAP's partition tree needs two) gets its exact Shapley value,
``f(text) - f(masked)``, and is left out of the HTML text plot.
"""
from __future__ import annotations

import html
import json
import logging
import os
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from tfclf import object_storage, outputs, urls
from tfclf.data import inputs
from tfclf.errors import TfclfError

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]


def _shap():
    import warnings

    with warnings.catch_warnings():  # shap 0.51 uses matplotlib colormap setters due for deprecation
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap
        import shap.plots  # noqa: F401
    return shap


def _explained(probabilities: np.ndarray, label_names: Sequence[str], labels: Any,
               multi_label: bool) -> tuple[list[str], list[str]]:
    """``(predicted, explained)`` labels of one text.

    Multi-label: every label the model output (each label's own sigmoid is explained);
    when none reached its threshold the prediction is empty and the most probable label
    is explained instead, so the record still says which words came closest.
    """
    if multi_label:
        predicted = list(labels)
        return predicted, predicted or [label_names[int(np.argmax(probabilities))]]
    return [labels], [labels]


def explain_texts(model, texts: Sequence[str], *, max_evals: int = 200, top_k: int = 10,
                  batch_size: int = 256):
    """SHAP values of the model's probabilities with respect to the words of each text.

    Args:
        model: a ``tfclf.serving.loaded.LoadedModel`` (``--format text`` export or run directory).
        texts: N texts.
        max_evals: model evaluations per text (more: finer attributions, slower).
        top_k: words kept per predicted label in the records.
        batch_size: masked texts per model call.

    Returns:
        ``(explanation, records)``: a ``shap.Explanation`` of shape
        ``[n_explained, (words), C]`` for the non-blank texts (None if all are blank),
        and N JSON-ready dicts with ``text``, ``labels``, ``confidence``,
        ``probabilities`` ({label: p}), ``base_values`` and ``top_tokens``
        ({predicted label: [{"token", "value", "position"}, ...]}). Multi-label
        models: ``labels`` is the predicted set (every label's own probability is
        attributed); an empty set explains the most probable label and says so in ``note``.

    Raises:
        TfclfError: bad arguments.
    """
    shap = _shap()

    if max_evals < 2 or top_k < 1 or batch_size < 1:
        raise TfclfError("--max-evals must be >= 2, --top-k and --batch-size >= 1. Received: "
                         f"max_evals={max_evals}, top_k={top_k}, batch_size={batch_size}")
    texts = list(texts)
    labels, probabilities = model.predict(texts, batch_size=batch_size)
    names = list(model.label_names)

    def f(masked):  # shap passes a numpy array of (masked) strings
        return model.predict([str(t) for t in masked], batch_size=batch_size)[1]

    masker = shap.maskers.Text()
    # SHAP's partition tree needs two tokens; a one-word text is a one-player game whose
    # exact Shapley value is f(text) - f(masked), computed directly below.
    n_tokens = [sum(1 for t in masker.tokenizer(t)["input_ids"] if t.strip()) if t.strip() else 0
                for t in texts]
    explained = [i for i, n in enumerate(n_tokens) if n >= 2]
    single = [i for i, n in enumerate(n_tokens) if n == 1]
    masked_base = f(np.array([masker.mask_token]))[0] if single else None
    explanation = None
    if explained:
        explainer = shap.Explainer(f, masker, output_names=names, algorithm="partition")
        explanation = explainer([texts[i] for i in explained], max_evals=max_evals, batch_size=batch_size,
                                silent=True)
    records = []
    position = {i: j for j, i in enumerate(explained)}
    for i, text in enumerate(texts):
        predicted, explained_labels = _explained(probabilities[i], names, labels[i], model.multi_label)
        record: dict[str, Any] = {
            "text": text,
            "labels": predicted,
            "confidence": float(max(probabilities[i][names.index(p)] for p in explained_labels)),
            "probabilities": {n: float(p) for n, p in zip(names, probabilities[i])},
            "top_tokens": {},
        }
        if not predicted:
            record["note"] = ("no label reached its threshold; top_tokens shows the most probable label, "
                              f"{explained_labels[0]}")
        if i in position:
            row = explanation[position[i]]
            record["base_values"] = {n: float(v) for n, v in zip(names, np.ravel(row.base_values))}
            tokens = [str(t) for t in row.data]
            for label in explained_labels:
                values = row.values[:, names.index(label)]
                order = [j for j in np.argsort(-values, kind="stable") if values[j] > 0 and tokens[j].strip()]
                record["top_tokens"][label] = [
                    {"token": tokens[j].strip(), "value": float(values[j]), "position": int(j)}
                    for j in order[:top_k]]
        elif n_tokens[i] == 1:
            record["base_values"] = {n: float(v) for n, v in zip(names, masked_base)}
            for label in explained_labels:
                c = names.index(label)
                value = float(probabilities[i][c] - masked_base[c])
                record["top_tokens"][label] = ([{"token": text.strip(), "value": value, "position": 0}]
                                               if value > 0 else [])
        else:
            record["note"] = "blank text: no words to attribute"
        records.append(record)
    return explanation, records


def html_report(explanation, records: Sequence[dict], title: str) -> str:
    """A standalone HTML page: a summary table and SHAP's interactive text plot."""
    shap = _shap()

    rows = "".join(
        f"<tr><td>{i}</td><td>{html.escape(r['text'][:200])}</td><td>{html.escape(', '.join(r['labels']))}"
        f"</td><td>{r['confidence']:.3f}</td><td>{html.escape(', '.join(t['token'] for l in r['labels'] for t in r['top_tokens'].get(l, [])[:5]))}</td></tr>"
        for i, r in enumerate(records))
    plot = shap.plots.text(explanation, display=False) if explanation is not None else ""
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title></head><body>\n"
            f"<h1>{html.escape(title)}</h1>\n"
            "<table border=\"1\" cellpadding=\"4\"><tr><th>#</th><th>text</th><th>predicted</th>"
            f"<th>confidence</th><th>top words</th></tr>{rows}</table>\n"
            "<h2>SHAP values per word (click a label to switch the output shown)</h2>\n"
            f"{plot}\n</body></html>\n")


def explain(model, texts: Sequence[str], output: PathLike, json_output: Optional[PathLike] = None, *,
            max_evals: int = 200, top_k: int = 10, batch_size: int = 256) -> list[dict]:
    """Explains texts and writes the HTML plot and the JSON of top words.

    Args:
        model: a ``LoadedModel`` or a path for ``tfclf.load``.
        texts: the texts to explain.
        output: the HTML file.
        json_output: the JSON file; default ``output`` with the suffix ``.json``.
        max_evals, top_k, batch_size: see ``explain_texts``.

    Returns:
        The JSON records (see ``explain_texts``).
    """
    if not texts:
        raise TfclfError("Nothing to explain: pass --text and/or --input.")
    check_outputs(output, json_output)
    from tfclf.serving import loaded  # TensorFlow: after the arguments are checked

    if not isinstance(model, loaded.LoadedModel):
        model = loaded.load(model)
    explanation, records = explain_texts(model, texts, max_evals=max_evals, top_k=top_k,
                                         batch_size=batch_size)
    json_output = json_output or json_beside(output)
    payload = {"model": str(model.path), "label_names": list(model.label_names), "max_evals": max_evals,
               "method": "shap.Explainer(partition) with shap.maskers.Text over the raw-string model; "
                         "values are contributions to each label's probability",
               "texts": records}
    object_storage.write_text(json_output, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    object_storage.write_text(output, html_report(explanation, records, f"tfclf explanations: {model.path}"))
    logger.info("Explained %d texts: %s, %s", len(records), output, json_output)
    return records


def check_outputs(output: PathLike, json_output: Optional[PathLike] = None,
                  inputs: Sequence[outputs.Input] = ()) -> None:
    """Refuses, before any work, an HTML or JSON output path that is a folder, an input,
    of another format, or cannot be created."""
    object_storage.check_file(output, flag="--output", extensions=(".html", ".htm"), inputs=inputs)
    json_output = json_output or json_beside(output)
    object_storage.check_file(json_output, flag="--json", extensions=(".json",), inputs=inputs)


def json_beside(output: PathLike) -> str:
    """``report.html`` -> ``report.json`` (the default ``--json``), for a local path or a URL."""
    text = str(output)
    suffix = Path(urls.name(text) if urls.is_remote(text) else text).suffix
    return text[:len(text) - len(suffix)] + ".json"


def read_texts(texts: Sequence[str] = (), input: Optional[str] = None, *, limit: int = 20,
               text_column: str = "text", delimiter: Optional[str] = None, encoding: str = "utf-8",
               lines: bool = False) -> list[str]:
    """``texts`` followed by the first ``limit`` texts of ``input`` (read as ``tfclf.data.inputs``
    reads it: any format prediction reads).

    Raises:
        TfclfError: ``limit`` < 1, or a bad input (``tfclf.data.inputs.open_input``).
    """
    texts = list(texts)
    if input:
        if limit < 1:
            raise TfclfError(f"--limit must be >= 1. Received: limit={limit}")
        with inputs.open_input(input, text_column=text_column, delimiter=delimiter, encoding=encoding,
                               lines=lines) as table:
            for n, row in enumerate(table.rows):
                if n >= limit:
                    break
                texts.append(row[table.text_index])
    return texts


def summary_line(record: dict) -> str:
    """One record as ``labels<TAB>confidence<TAB>top words (value)<TAB>text``, for the terminal."""
    words = ", ".join(f"{t['token']} ({t['value']:+.3f})" for label in record["top_tokens"]
                      for t in record["top_tokens"][label][:5])
    return f"{'|'.join(record['labels']) or '(none)'}\t{record['confidence']:.3f}\t{words}\t{record['text'][:80]}"
