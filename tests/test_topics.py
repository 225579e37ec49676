"""python -m tfclf.topics end to end on the tiny encoder: themes recovered, every output, no torch."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
import yaml

from topic_data import MIN_ARI, THEMES, theme_csv

def _argv(data, encoder, out, *extra):
    return ["--data", str(data), "--encoder", str(encoder), "--pooling", "mean", "--seq-length", "32",
            "--seed", "0", "--output-dir", str(out), "--no-progress", *extra]


@pytest.fixture(scope="module")
def topic_map(tiny_bert, tmp_path_factory):
    """A map made by ``python -m tfclf.topics`` in a fresh interpreter where torch cannot be imported."""
    tmp = tmp_path_factory.mktemp("topics")
    data = theme_csv(tmp / "themes.csv")
    out = tmp / "map"
    code = ("import sys\n"
            "class NoTorch:  # `import torch` raises ImportError, as if it were not installed\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('torch', 'sentence_transformers'):\n"
            "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
            "sys.meta_path.insert(0, NoTorch())\n"
            "from tfclf.topics.__main__ import main\n"
            f"rc = main({_argv(data, tiny_bert.root, out, '--to-labels')!r})\n"
            "print('TORCH', [m for m in ('torch', 'sentence_transformers') if m in sys.modules])\n"
            "sys.exit(rc)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"out": out, "data": data, "stdout": proc.stdout, "stderr": proc.stderr, "tmp": tmp}


def test_no_torch_on_the_topics_path(topic_map):
    assert "TORCH []" in topic_map["stdout"]


def test_topics_recover_the_themes(topic_map):
    summary = json.loads((topic_map["out"] / "summary.json").read_text())
    assert summary["n_topics"] == 3 and summary["n_documents"] == 90
    assert summary["alignment"]["ari"] >= MIN_ARI and summary["alignment"]["nmi"] >= MIN_ARI
    assert summary["embedder"]["kind"] == "encoder" and summary["embedder"]["pooling"] == "mean"
    assert "3 topics over 90 documents" in topic_map["stdout"]


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_outputs_exist_and_are_well_formed(topic_map):
    out = topic_map["out"]
    topics = _rows(out / "topics.csv")
    assert [int(r["size"]) for r in topics if r["topic"] != "-1"] == [30, 30, 30]
    for r in topics:
        words = dict(pair.rsplit(":", 1) for pair in r["top_words"].split())
        theme = next(t for t, ws in THEMES.items() if set(ws) & set(words))
        assert set(list(words)[:5]) == set(THEMES[theme])  # its theme's words lead
        assert r["name"].startswith(f"{r['topic']}_") and r["representative_1"]
    docs = _rows(out / "documents.csv")
    assert len(docs) == 90 and list(docs[0]) == ["row", "source", "topic", "name", "probability", "label", "text"]
    assert docs[0]["source"].endswith("themes.csv: line 2")
    assert all(0.0 <= float(d["probability"]) <= 1.0 for d in docs)
    table = _rows(out / "contingency.csv")
    assert sorted(sum(int(v) for k, v in r.items() if k != "topic") for r in table) == [30, 30, 30]
    assert (out / "topic_map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "barchart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "topic_map.html").read_text()
    assert "plotly" in html and "https://cdn.plot.ly" not in html[:2000]  # plotly.js embedded: opens offline
    report = (out / "report.md").read_text()
    assert "**3 topics**" in report and "adjusted Rand index **1.000**" in report
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["topics"]["min_topic_size"] == 10 and config["data"]["data"] == str(topic_map["data"])
    assert json.loads((out / ".tfclf-output.json").read_text())["kind"] == "topics"
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(".map.tmp")]


def test_to_labels_is_a_file_fit_reads(topic_map):
    from tfclf.config import DataConfig
    from tfclf.data.prepare import read_examples

    names = {r["topic"]: r["name"] for r in _rows(topic_map["out"] / "topics.csv")}
    frame = read_examples(str(topic_map["out"] / "to_labels.csv"), DataConfig())
    assert len(frame) == 90 and set(frame["label"]) == {names["0"], names["1"], names["2"]}
    docs = _rows(topic_map["out"] / "documents.csv")
    assert frame["label"].tolist() == [d["name"] for d in docs]


def test_new_texts_get_their_themes_topic(topic_map, tmp_path):
    from tfclf.topics.__main__ import main

    new = tmp_path / "new.csv"
    new.write_text("id,text\n1,my parcel and the courier tracking\n2,refund the invoice payment\n"
                   "3,reset my password login\n")
    out = tmp_path / "assigned.csv"
    assert main(["--model", str(topic_map["out"]), "--input", str(new), "--output", str(out), "--no-progress"]) == 0
    rows = _rows(out)
    assert list(rows[0]) == ["id", "text", "topic", "topic_name", "topic_score"]
    docs = _rows(topic_map["out"] / "documents.csv")
    topic_of = {d["label"]: d["topic"] for d in docs}
    assert [r["topic"] for r in rows] == [topic_of["shipping"], topic_of["billing"], topic_of["account"]]
    assert all(float(r["topic_score"]) > 0.5 for r in rows)


def test_embeddings_from_an_earlier_map(topic_map, tiny_bert, tmp_path):
    """Other clustering settings on the same embeddings, without loading the encoder; other texts refused."""
    import numpy as np

    from tfclf.errors import TfclfError
    from tfclf.topics import embedding
    from tfclf.topics.__main__ import main

    saved = np.load(topic_map["out"] / "embeddings.npy")
    assert saved.shape == (90, 32) and saved.dtype == np.float32

    def no_encoder(*a, **k):
        raise AssertionError("the encoder was loaded")

    original = embedding.for_config
    embedding.for_config = no_encoder
    try:
        out = tmp_path / "again"
        assert main(_argv(topic_map["data"], tiny_bert.root, out, "--embeddings-from", str(topic_map["out"]),
                          "--min-topic-size", "12")) == 0
        summary = json.loads((out / "summary.json").read_text())
        assert summary["n_topics"] == 3 and summary["embeddings_reused_from"] == str(topic_map["out"])
        assert "Embeddings reused from" in (out / "report.md").read_text()
        other = theme_csv(tmp_path / "other.csv", seed=5)
        assert main(_argv(other, tiny_bert.root, tmp_path / "x", "--embeddings-from", str(topic_map["out"]))) == 2
        assert main(_argv(topic_map["data"], tiny_bert.root, tmp_path / "y", "--embeddings-from",
                          str(topic_map["out"]), "--seq-length", "16")) == 2
        assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
    finally:
        embedding.for_config = original
    with pytest.raises(TfclfError, match=r"was made from other texts"):
        from tfclf.topics import config as topics_config, topic_map as topic_map_lib

        cfg = topics_config.from_dict({"data": {"data": str(other)}, "topics": {
            "encoder": str(tiny_bert.root), "pooling": "mean", "seq_length": 32}}, "test")
        topic_map_lib.make(cfg, str(tmp_path / "z"), progress=False, embeddings_from=str(topic_map["out"]))


def test_topic_maps_on_a_store(topic_map, tiny_bert, tmp_path, monkeypatch):
    """--data, --embeddings-from, --output-dir, --model, --input and --output on TensorFlow's ram:// store:
    the map is published with its marker, and assignment reads a map and writes its rows there."""
    import uuid

    import tensorflow as tf

    from tfclf import object_storage
    from tfclf.data import filesystem
    from tfclf.outputs import MARKER, OutputKind
    from tfclf.topics import embedding
    from tfclf.topics.__main__ import main

    store = f"ram://topics-{uuid.uuid4().hex[:8]}"
    try:
        object_storage.publish(topic_map["out"], f"{store}/map", OutputKind.TOPICS)
        filesystem.upload(topic_map["data"], f"{store}/themes.csv")

        def no_encoder(*a, **k):
            raise AssertionError("the encoder was loaded")

        with monkeypatch.context() as m:  # the saved embeddings are reused: no encoder
            m.setattr(embedding, "for_config", no_encoder)
            assert main(_argv(f"{store}/themes.csv", tiny_bert.root, f"{store}/again",
                              "--embeddings-from", f"{store}/map", "--min-topic-size", "12")) == 0
        with tf.io.gfile.GFile(f"{store}/again/summary.json") as f:
            summary = json.load(f)
        assert summary["n_topics"] == 3 and summary["n_documents"] == 90 and summary["name"] == "again"
        assert tf.io.gfile.exists(f"{store}/again/{MARKER}") and tf.io.gfile.exists(f"{store}/again/topics.csv")

        new = tmp_path / "new.csv"
        new.write_text("id,text\n1,my parcel and the courier tracking\n2,refund the invoice payment\n")
        filesystem.upload(new, f"{store}/new.csv")
        assert main(["--model", f"{store}/map", "--input", f"{store}/new.csv", "--output",
                     f"{store}/out/assigned.csv", "--no-progress"]) == 0
        with tf.io.gfile.GFile(f"{store}/out/assigned.csv") as f:
            rows = list(csv.DictReader(f))
        topic_of = {d["label"]: d["topic"] for d in _rows(topic_map["out"] / "documents.csv")}
        assert [r["topic"] for r in rows] == [topic_of["shipping"], topic_of["billing"]]
        # A folder on the store without the marker is refused as incomplete, naming the flag.
        tf.io.gfile.makedirs(f"{store}/half")
        assert main(["--model", f"{store}/half", "--input", f"{store}/new.csv", "--output",
                     str(tmp_path / "x.csv"), "--no-progress"]) == 2
        assert not (tmp_path / "x.csv").exists()
    finally:
        filesystem.remove(store)
