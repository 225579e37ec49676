"""Make a topic map of a corpus, and put new texts on a saved one.

``make``: read (``corpus``) -> embed in batches (``embedding``) -> BERTopic (``modeling``)
-> a 2-D layout for the picture -> every file of ``report`` in a staged folder that
replaces ``--output-dir`` only when all of it is written (``tfclf.outputs``: a folder
tfclf made for topics may be replaced with ``--overwrite``, nothing else).

``assign``: a saved map, an input any ``predict`` reads, an output file: each text's
topic by the saved map's rule (``modeling.transform``).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import platform
import subprocess
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import yaml

from tfclf import atomic, object_storage, outputs, urls
from tfclf.data.columns import LABEL, TEXT
from tfclf.data.report import Tally
from tfclf.errors import TfclfError
from tfclf.outputs import OutputKind
from tfclf.topics import corpus as corpus_lib
from tfclf.topics.config import TopicsRunConfig

logger = logging.getLogger(__name__)

CONFIG = "config.yaml"
SUMMARY = "summary.json"
OUTPUT_FORMATS = (".csv", ".tsv", ".jsonl", ".parquet")


def _cpu() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        return next((line.split(":", 1)[1].strip() for line in out.splitlines()
                     if line.startswith("Model name")), platform.processor() or "unknown")
    except (OSError, subprocess.SubprocessError):
        return platform.processor() or "unknown"


def check(config: TopicsRunConfig, output_dir: str, *, overwrite: bool = False) -> None:
    """Refuses, before anything is read or loaded, an output folder that may not be written
    (local, or on a store: ``gs://``)."""
    object_storage.check_dir(output_dir, OutputKind.TOPICS, flag="--output-dir", overwrite=overwrite,
                      inputs=[outputs.Input(flag, path) for flag, path in corpus_lib.input_paths(config.data)])


def make(config: TopicsRunConfig, output_dir: str, *, overwrite: bool = False, progress: bool = True,
         embeddings_from: Optional[str] = None) -> dict[str, Any]:
    """Makes a topic map of ``config.data`` into ``output_dir``.

    Args:
        embeddings_from: a map folder made earlier from the same texts with the same
            encoder settings: its ``embeddings.npy`` is used instead of embedding again
            (to try other --min-topic-size, --n-topics, UMAP settings in seconds).

    Returns:
        The summary written to ``summary.json``.

    Raises:
        TfclfError: bad input (named by flag, file and line), too few documents, no topic
            found, an output folder that may not be written, ``embeddings_from`` made from
            other texts or encoder settings. Nothing is written then.
    """
    from tfclf.progress import Progress
    from tfclf.topics import embedding, modeling

    check(config, output_dir, overwrite=overwrite)
    plan = corpus_lib.plan(config.data, config.topics.labels)
    if embeddings_from:
        with object_storage.local_copy(embeddings_from, "--embeddings-from") as local:
            reused = _saved_embeddings(str(local), config, shown=embeddings_from)
    else:
        reused = None
    embedder = None if reused else embedding.for_config(config.topics)

    tally = Tally()
    texts: list[str] = []
    labels: list[str] = []
    sources: list[str] = []
    parts: list[np.ndarray] = []
    bar = Progress(enabled=progress, what="embed")
    embedded = 0

    def advance(n: int) -> None:
        nonlocal embedded
        embedded += n
        bar.update(embedded, None)

    start = time.monotonic()
    for frame in corpus_lib.iter_frames(plan, config.data, tally):
        chunk = frame[TEXT].tolist()
        if not chunk:
            continue
        if embedder is not None:
            parts.append(embedder(chunk, progress=advance))
        texts.extend(chunk)
        sources.extend(frame[corpus_lib.SOURCE].tolist())
        if plan.with_labels:
            labels.extend(str(x) for x in frame[LABEL])
    if embedder is not None:
        bar.close(len(texts))
    embed_seconds = time.monotonic() - start
    tally.log()
    modeling.check_corpus_size(len(texts), config.topics)
    digest = texts_digest(texts)
    if reused is not None:
        embeddings, describe = reused
        if digest != describe["texts_sha256"] or len(texts) != len(embeddings):
            raise TfclfError(
                f"--embeddings-from {embeddings_from!r} was made from other texts ({len(embeddings):,} "
                f"documents, sha256 {describe['texts_sha256'][:12]}); these are {len(texts):,} documents, "
                f"sha256 {digest[:12]}. Use the same --data, columns and cleaning flags, or embed again.")
        describe = describe["embedder"]
        logger.info("Reused the embeddings of %s (%d texts, %d dimensions).", embeddings_from, len(texts),
                    embeddings.shape[1])
    else:
        embeddings = np.concatenate(parts)
        describe = embedder.describe
        logger.info("Embedded %d texts in %.1f s (%d dimensions).", len(texts), embed_seconds,
                    embeddings.shape[1])

    start = time.monotonic()
    fitted = modeling.fit(texts, embeddings, config.topics)
    fit_seconds = time.monotonic() - start
    align = modeling.alignment(fitted.topics, labels) if plan.with_labels else None
    agreement = modeling.centroid_agreement(fitted.model, embeddings, fitted.topics)
    n_topics = sum(1 for t in fitted.names if t != modeling.OUTLIER)
    n_outliers = int((fitted.topics == modeling.OUTLIER).sum())
    logger.info("%d topics, %d outliers (%.1f%%)%s.", n_topics, n_outliers, 100 * n_outliers / len(texts),
                f"; against the labels ARI {align['ari']:.3f}, NMI {align['nmi']:.3f}" if align else "")

    import bertopic

    from tfclf.topics import report

    start = time.monotonic()
    xy = layout_2d(embeddings, config.topics)
    summary: dict[str, Any] = {
        "name": urls.name(output_dir) if urls.is_remote(output_dir) else Path(output_dir).name,
        "output_dir": str(output_dir),
        "inputs": [f"{flag} {path}" for flag, path in corpus_lib.input_paths(config.data)],
        "n_documents": len(texts), "n_topics": n_topics, "n_outliers": n_outliers,
        "outlier_share": n_outliers / len(texts), "dropped": dict(tally.dropped),
        "embedder": describe, "embedding_dim": int(embeddings.shape[1]),
        "bertopic_version": bertopic.__version__, "config": config.to_dict()["topics"],
        "label_column": ",".join(config.data.label_column) if plan.with_labels else None,
        "centroid_agreement": agreement,
        "alignment": {k: v for k, v in align.items() if k != "contingency"} if align else None,
        "machine": {"cpu": _cpu(), "python": platform.python_version()},
    }
    # Staged in a local folder; made visible whole (renamed, or uploaded with the marker last on a store).
    with object_storage.directory(output_dir, OutputKind.TOPICS, flag="--output-dir", overwrite=overwrite,
                                  checked=True) as staged:
        info = report.write_topics_csv(staged / "topics.csv", fitted, len(texts))
        report.write_documents_csv(staged / "documents.csv", fitted, texts, sources,
                                   labels if plan.with_labels else None)
        if align is not None:
            align["contingency"].to_csv(staged / "contingency.csv")
        summary["map_html"] = report.write_map_html(staged / "topic_map.html", fitted, texts, xy)
        title = f"{summary['name']}: {n_topics} topics, {len(texts):,} documents"
        report.plot_map(staged / "topic_map.png", fitted, xy, info, title)
        report.plot_barchart(staged / "barchart.png", info)
        if config.topics.to_labels:
            summary["to_labels_rows"] = report.write_to_labels(staged / "to_labels.csv", fitted, texts)
        modeling.save(fitted.model, staged)
        atomic.write_text(staged / CONFIG, yaml.safe_dump(
            {**config.to_dict(), "embedder": describe}, sort_keys=False, allow_unicode=True))
        np.save(staged / EMBEDDINGS, embeddings)
        atomic.write_text(staged / EMBEDDINGS_INFO, json.dumps(
            {"texts_sha256": digest, "n": len(texts), "dim": int(embeddings.shape[1]), "embedder": describe,
             "reused_from": str(embeddings_from) if embeddings_from else None}, indent=2) + "\n")
        summary["embeddings_reused_from"] = str(embeddings_from) if embeddings_from else None
        summary["seconds"] = {"embed": embed_seconds, "fit": fit_seconds, "plots": time.monotonic() - start}
        summary["peak_rss_mb"] = modeling.peak_rss_mb() or 0.0
        atomic.write_text(staged / "report.md", report.report_markdown(summary, info, align))
        atomic.write_text(staged / SUMMARY, json.dumps(summary, indent=2, default=str) + "\n")
    return summary


EMBEDDINGS = "embeddings.npy"
EMBEDDINGS_INFO = "embeddings.json"
_EMBEDDING_FIELDS = ("encoder", "preprocessor", "seq_length", "pooling")


def texts_digest(texts: list[str]) -> str:
    """sha256 over the texts in order (what a saved ``embeddings.npy`` was computed from)."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", errors="surrogateescape"))
        h.update(b"\x00")
    return h.hexdigest()


def _saved_embeddings(folder: str, config: TopicsRunConfig, shown: Optional[str] = None
                      ) -> tuple[np.ndarray, dict[str, Any]]:
    """``(embeddings, embeddings.json)`` of an earlier map made with the same encoder settings.

    ``folder`` is local (a store's map is read from a local copy); ``shown`` is what the user named.

    Raises:
        TfclfError: not a map folder, no embeddings in it, or other encoder settings.
    """
    shown = shown or folder
    saved = read_map_config(folder, flag="--embeddings-from", shown=shown)
    root = Path(folder).expanduser()
    if not (root / EMBEDDINGS).is_file() or not (root / EMBEDDINGS_INFO).is_file():
        raise TfclfError(f"--embeddings-from {shown!r} holds no {EMBEDDINGS} (made by an older tfclf?); "
                         "make the map again without --embeddings-from.")
    differ = {f: (getattr(saved.topics, f), getattr(config.topics, f)) for f in _EMBEDDING_FIELDS
              if getattr(saved.topics, f) != getattr(config.topics, f)}
    if differ:
        shown = ", ".join(f"--{f.replace('_', '-')} {a!r} there, {b!r} here" for f, (a, b) in differ.items())
        raise TfclfError(f"--embeddings-from {shown!r} was embedded with other settings: {shown}. "
                         "Use the same encoder settings, or embed again.")
    return np.load(root / EMBEDDINGS), json.loads((root / EMBEDDINGS_INFO).read_text(encoding="utf-8"))


def layout_2d(embeddings: np.ndarray, config) -> np.ndarray:
    """``[N, 2]``: UMAP of the embeddings to two dimensions (cosine, the map's neighbours and seed)."""
    from umap import UMAP

    neighbors = min(config.umap_neighbors, len(embeddings) - 1)
    return UMAP(n_neighbors=neighbors, n_components=2, min_dist=0.0, metric="cosine",
                random_state=config.seed).fit_transform(embeddings)


@dataclasses.dataclass(frozen=True)
class AssignSummary:
    rows: int
    output: str
    topics: dict[str, int]


def read_map_config(model_dir: str, flag: str = "--model", shown: Optional[str] = None) -> TopicsRunConfig:
    """The config a topic map folder (local: a store's is read from a local copy) was made with.

    ``shown`` is the folder as the user named it (a ``gs://`` URL), for messages.

    Raises:
        TfclfError: the folder is not a topic map (no marker or no config.yaml).
    """
    from tfclf.config import load_yaml
    from tfclf.topics.config import from_dict

    shown = shown or model_dir
    root = Path(model_dir).expanduser()
    if not root.is_dir() or outputs.read_kind(root) != OutputKind.TOPICS.value or not (root / CONFIG).is_file():
        raise TfclfError(f"{flag} {shown!r} is not a topic map folder (one written by python -m "
                         f"tfclf.topics, with {outputs.MARKER} and {CONFIG}).")
    data = load_yaml(root / CONFIG, flag)
    data = {k: v for k, v in data.items() if k != "embedder"}
    return from_dict(data, f"{flag} {shown}/{CONFIG}")


def assign(model_dir: str, input: str, output: str, *, text_column: str = "text",
           delimiter: Optional[str] = None, encoding: str = "utf-8", lines: bool = False,
           batch_size: int = 256, progress: bool = True) -> AssignSummary:
    """Writes each input row with its topic, the topic's name and the cosine score.

    Raises:
        TfclfError: a folder that is not a topic map, a bad input (as ``predict``), a bad output path.
    """
    from tfclf.data.inputs import open_input
    from tfclf.prediction import RowWriter
    from tfclf.progress import Progress
    from tfclf.topics import embedding, modeling

    object_storage.check_file(output, flag="--output", extensions=OUTPUT_FORMATS,
                              inputs=[outputs.Input("--input", input), outputs.Input("--model", model_dir)])
    with object_storage.local_copy(model_dir, "--model") as local:  # a map on a store: a local copy
        config = read_map_config(str(local), shown=model_dir)
        model = modeling.load(local)
    names = modeling.topic_names(model)
    embedder = embedding.for_config(config.topics)
    counts: dict[str, int] = {}
    rows = 0
    bar = Progress(enabled=progress, what="assign")
    with open_input(input, text_column=text_column, delimiter=delimiter, encoding=encoding,
                    lines=lines) as table:
        writer = RowWriter(output, table.columns + ["topic", "topic_name", "topic_score"])
        ok = False
        try:
            batch: list[list[str]] = []
            for row in table.rows:
                batch.append(row)
                if len(batch) == batch_size:
                    rows += _assign_batch(batch, table.text_index, embedder, model, names, writer, counts)
                    batch = []
                    bar.update(rows, table.progress())
            if batch:
                rows += _assign_batch(batch, table.text_index, embedder, model, names, writer, counts)
            ok = True
        finally:
            writer.close(ok)
    bar.close(rows)
    return AssignSummary(rows, output, counts)


def _assign_batch(batch, text_index, embedder, model, names, writer, counts) -> int:
    from tfclf.topics import modeling

    vectors = embedder([row[text_index] for row in batch])
    topics, scores = modeling.transform(model, vectors)
    out = []
    for row, t, s in zip(batch, topics, scores):
        name = names.get(int(t), "")
        counts[name] = counts.get(name, 0) + 1
        out.append(list(row) + [str(int(t)), name, f"{s:.4f}"])
    writer.write(out)
    return len(out)
