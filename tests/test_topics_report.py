"""The files of a topic map folder, from a fitted map of three clusters."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from tfclf.topics import modeling, report
from tfclf.topics.config import TopicsConfig

WORDS = {"space": "rocket orbit launch moon planet", "food": "bread butter oven recipe flour",
         "sport": "goal match team league score"}


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    texts, labels, vectors = [], [], []
    for k, (theme, words) in enumerate(WORDS.items()):
        for _ in range(30):
            texts.append(" ".join(rng.choice(words.split(), 6)))
            labels.append(theme)
            vectors.append(np.eye(16)[k] * 3 + rng.normal(scale=0.15, size=16))
    vectors = np.asarray(vectors, np.float32)
    result = modeling.fit(texts, vectors, TopicsConfig(min_topic_size=10, seed=0))
    result.topics[0] = modeling.OUTLIER  # one outlier, to see how each file treats it
    return result, texts, labels, vectors


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_tables(fitted, tmp_path):
    result, texts, labels, _ = fitted
    info = report.write_topics_csv(tmp_path / "topics.csv", result, len(texts))
    rows = _rows(tmp_path / "topics.csv")
    sizes = [int(r["size"]) for r in rows]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) == 89  # largest first; the outlier in no topic
    assert all(r["representative_1"] and len(r["top_words"].split()) == 10 for r in rows)
    assert float(rows[0]["share"]) == pytest.approx(int(rows[0]["size"]) / 90, abs=1e-4)
    assert info["topic"].tolist() == [int(r["topic"]) for r in rows]
    report.write_documents_csv(tmp_path / "documents.csv", result, texts, [f"f: line {i + 2}" for i in range(90)],
                               labels)
    docs = _rows(tmp_path / "documents.csv")
    assert (docs[0]["topic"], docs[0]["name"], docs[0]["probability"]) == ("-1", "", f"{result.probabilities[0]:.4f}")
    assert docs[5]["label"] == labels[5] and docs[5]["name"] == result.names[int(docs[5]["topic"])]
    assert report.write_to_labels(tmp_path / "to_labels.csv", result, texts) == 89  # the outlier is left out
    assert len(_rows(tmp_path / "to_labels.csv")) == 89


def test_pictures_and_report(fitted, tmp_path):
    result, texts, labels, vectors = fitted
    info = result.info()
    xy = vectors[:, :2]
    report.plot_map(tmp_path / "map.png", result, xy, info, "three themes")
    report.plot_barchart(tmp_path / "bar.png", info)
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "bar.png").stat().st_size > 5000
    assert not list(tmp_path.glob(".*.tmp"))
    assert report.write_map_html(tmp_path / "map.html", result, texts, xy) == "document map"  # 3 topics < 4
    align = modeling.alignment(result.topics, labels)
    summary = {"name": "demo", "inputs": ["--data d.csv"], "embedder": {"encoder": "minilm"}, "embedding_dim": 16,
               "bertopic_version": "0.17.4", "config": TopicsConfig().__dict__ | {"n_topics": "none"},
               "n_topics": 3, "n_outliers": 1, "outlier_share": 1 / 90, "n_documents": 90, "dropped": {},
               "map_html": "document map", "label_column": "label", "output_dir": "topics/demo",
               "centroid_agreement": 1.0, "seconds": {"embed": 2.0, "fit": 3.0, "plots": 1.0},
               "peak_rss_mb": 900.0, "machine": {"cpu": "test cpu"}}
    text = report.report_markdown(summary, info, align)
    assert "**3 topics**; 1 documents (1.1%) are outliers" in text
    assert f"adjusted Rand index **{align['ari']:.3f}**" in text and "purity 1.000" in text
    assert "Embedding 2.0 s (45.0 texts/s)" in text and "peak memory 900 MiB" in text
