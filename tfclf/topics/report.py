"""The files of a topic map folder: tables, pictures and the report.

* ``topics.csv``: topic, name, size, share, top words as ``word:weight`` (c-TF-IDF), and
  BERTopic's three representative documents (each cut to ``REPR_CHARS`` characters);
* ``documents.csv``: row, source (file and line), topic, name, probability (HDBSCAN's
  membership strength; 0 for outliers), label (when read) and text;
* ``contingency.csv`` (labels only): topics x labels, document counts;
* ``topic_map.html``: BERTopic's interactive intertopic distance map (with fewer than
  ``MIN_TOPICS_FOR_MAP`` topics, where that map is undefined, its document map instead);
  plotly.js is embedded, so it opens offline;
* ``topic_map.png``: every document in 2-D (UMAP of the embeddings, cosine, seeded),
  coloured by topic, with the largest topics named;
* ``barchart.png``: the top words of the largest topics with their c-TF-IDF weights;
* ``report.md``: the numbers, the tables above in short, and how to read them;
* ``embeddings.npy`` + ``embeddings.json``: the document embeddings, in ``documents.csv``
  order, with a digest of the texts, for ``--embeddings-from``;
* ``to_labels.csv`` (``--to-labels``): text,label with topic names as labels, outliers out.
"""
from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from tfclf.report import new_figure, save_figure
from tfclf.topics.modeling import OUTLIER, FittedTopics

logger = logging.getLogger(__name__)

REPR_CHARS = 500
MIN_TOPICS_FOR_MAP = 4  # BERTopic's intertopic map runs UMAP over the topics themselves
BAR_TOPICS = 8
BAR_WORDS = 8
NAMED_ON_MAP = 15


def _short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def _write_csv(path: Path, header: Sequence[str], rows) -> None:
    with open(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def write_topics_csv(path: Path, fitted: FittedTopics, n_docs: int) -> pd.DataFrame:
    info = fitted.info()
    rows = []
    for r in info.itertuples():
        docs = fitted.model.get_representative_docs(r.topic) if r.topic != OUTLIER else []
        docs = [_short(d, REPR_CHARS) for d in (docs or [])][:3]
        rows.append([r.topic, r.name, r.size, f"{r.size / max(n_docs, 1):.4f}",
                     " ".join(f"{w}:{s:.4f}" for w, s in zip(r.words, r.weights)),
                     *(docs + [""] * (3 - len(docs)))])
    _write_csv(path, ["topic", "name", "size", "share", "top_words", "representative_1",
                      "representative_2", "representative_3"], rows)
    return info


def write_documents_csv(path: Path, fitted: FittedTopics, texts: Sequence[str], sources: Sequence[str],
                        labels: Optional[Sequence[str]]) -> None:
    names = fitted.names
    header = ["row", "source", "topic", "name", "probability"] + (["label"] if labels is not None else []) + ["text"]
    rows = ([i, src, int(t), names.get(int(t), ""), f"{p:.4f}"] + ([labels[i]] if labels is not None else []) + [text]
            for i, (src, t, p, text) in enumerate(zip(sources, fitted.topics, fitted.probabilities, texts)))
    _write_csv(path, header, rows)


def write_to_labels(path: Path, fitted: FittedTopics, texts: Sequence[str]) -> int:
    """text,label per document with a topic; returns the rows written."""
    names = fitted.names
    rows = [(text, names[int(t)]) for text, t in zip(texts, fitted.topics) if int(t) != OUTLIER]
    _write_csv(path, ["text", "label"], rows)
    return len(rows)


def write_map_html(path: Path, fitted: FittedTopics, texts: Sequence[str], xy: np.ndarray) -> str:
    """BERTopic's intertopic map, or its document map when there are too few topics; returns which."""
    n_topics = sum(1 for t in fitted.names if t != OUTLIER)
    if n_topics >= MIN_TOPICS_FOR_MAP:
        fig = fitted.model.visualize_topics(top_n_topics=None)
        kind = "intertopic distance map"
    else:
        logger.info("%d topics: BERTopic's intertopic map needs at least %d; topic_map.html shows the "
                    "documents instead.", n_topics, MIN_TOPICS_FOR_MAP)
        fig = fitted.model.visualize_documents([_short(t, 200) for t in texts], reduced_embeddings=xy,
                                               hide_annotations=False)
        kind = "document map"
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)
    return kind


def plot_map(path: Path, fitted: FittedTopics, xy: np.ndarray, info: pd.DataFrame, title: str) -> None:
    """Every document at its 2-D position, coloured by topic; outliers light grey."""
    from matplotlib import colormaps

    fig = new_figure(9, 7.5)
    ax = fig.add_subplot()
    topics = fitted.topics
    outlier = topics == OUTLIER
    size = max(1.0, min(12.0, 4000.0 / max(len(topics), 1)))
    ax.scatter(xy[outlier, 0], xy[outlier, 1], s=size, c="#d0d0d0", linewidths=0, label="outliers")
    ranked = [int(t) for t in info["topic"] if int(t) != OUTLIER]
    cmap = colormaps["tab20"]
    for rank, topic in enumerate(ranked):
        mask = topics == topic
        ax.scatter(xy[mask, 0], xy[mask, 1], s=size, color=cmap(rank % 20), linewidths=0)
    for rank, topic in enumerate(ranked[:NAMED_ON_MAP]):
        mask = topics == topic
        cx, cy = np.median(xy[mask], axis=0)
        ax.annotate(_short(fitted.names[topic], 32), (cx, cy), fontsize=7, ha="center",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.75, "lw": 0})
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    save_figure(fig, path)


def plot_barchart(path: Path, info: pd.DataFrame) -> None:
    """The top words of the largest topics, with their c-TF-IDF weights."""
    shown = info[info["topic"] != OUTLIER].head(BAR_TOPICS)
    cols = min(4, max(len(shown), 1))
    rows = max(1, -(-len(shown) // cols))
    fig = new_figure(3.2 * cols, 2.6 * rows)
    for i, r in enumerate(shown.itertuples()):
        ax = fig.add_subplot(rows, cols, i + 1)
        words, weights = list(r.words[:BAR_WORDS])[::-1], list(r.weights[:BAR_WORDS])[::-1]
        ax.barh(words, weights, color="#4c72b0")
        ax.set_title(f"topic {r.topic} ({r.size:,} docs)", fontsize=9)
        ax.tick_params(labelsize=7)
    save_figure(fig, path)


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def report_markdown(summary: dict[str, Any], info: pd.DataFrame, align: Optional[dict[str, Any]]) -> str:
    """``report.md``: what was read, what was found, how it aligns with labels, what it cost."""
    s = summary
    out = [f"# Topic map: {s['name']}", "",
           f"{s['n_documents']:,} documents from {', '.join(s['inputs'])}; embeddings from "
           f"`{s['embedder']['encoder']}` ({s['embedding_dim']} dimensions); BERTopic {s['bertopic_version']} "
           f"(UMAP {s['config']['umap_neighbors']} neighbours, {s['config']['umap_components']} components, "
           f"seed {s['config']['seed']}; HDBSCAN min cluster size {s['config']['min_topic_size']}; "
           f"reduction: {s['config']['n_topics']}).", "",
           f"**{s['n_topics']} topics**; {s['n_outliers']:,} documents ({100 * s['outlier_share']:.1f}%) are "
           "outliers (topic -1: HDBSCAN put them in no topic).", ""]
    if s.get("dropped"):
        out += [f"Rows not used: {s['dropped']} (blank text after cleaning, --where, or a label fit would drop).", ""]
    top = info[info["topic"] != OUTLIER].head(20)
    out += ["## Largest topics", "",
            _markdown_table(["topic", "size", "top words (c-TF-IDF)"],
                            [[r.topic, f"{r.size:,}", ", ".join(r.words[:8])] for r in top.itertuples()]), "",
            "![topic map](topic_map.png)", "", "![top words](barchart.png)", "",
            f"Interactive: `topic_map.html` ({s['map_html']}). All topics: `topics.csv`; every document: "
            "`documents.csv`.", ""]
    if align is not None:
        out += ["## Topics and labels", "",
                f"Against `{s['label_column']}` ({align['n_labels']} labels): adjusted Rand index "
                f"**{align['ari']:.3f}**, normalised mutual information **{align['nmi']:.3f}** over all "
                f"documents (outliers as one cluster); over the {s['n_documents'] - s['n_outliers']:,} "
                f"documents with a topic: ARI {align['ari_assigned']:.3f}, NMI {align['nmi_assigned']:.3f}, "
                f"purity {align['purity']:.3f} (share of documents whose topic's most common label is "
                "theirs). Full table: `contingency.csv`.", ""]
        table = align["contingency"]
        kept = table.drop(index=OUTLIER, errors="ignore")
        order = kept.sum(axis=1).sort_values(ascending=False).index[:15]
        rows = []
        for t in order:
            counts = kept.loc[t].sort_values(ascending=False)
            lead = ", ".join(f"{label} {n}" for label, n in counts.head(3).items() if n)
            rows.append([t, f"{int(counts.sum()):,}", lead])
        out += [_markdown_table(["topic", "docs", "most common labels"], rows), ""]
    out += ["## New texts", "",
            f"`python -m tfclf.topics --model {s['output_dir']} --input new.csv --output topics.csv` gives each "
            "text the topic whose embedding (the mean of its documents') is most similar by cosine. On the "
            f"documents of this map that rule agrees with HDBSCAN's topic for {100 * s['centroid_agreement']:.1f}% "
            "of those with a topic.", "",
            "## Cost", "",
            (f"Embeddings reused from `{s['embeddings_reused_from']}`" if s.get("embeddings_reused_from") else
             f"Embedding {s['seconds']['embed']:.1f} s "
             f"({s['n_documents'] / max(s['seconds']['embed'], 1e-9):.1f} texts/s)")
            + f", topic model {s['seconds']['fit']:.1f} s, 2-D map and plots {s['seconds']['plots']:.1f} s; "
            f"peak memory {s['peak_rss_mb']:.0f} MiB. CPU: {s['machine']['cpu']}.", ""]
    return "\n".join(out)
