"""BERTopic on given embeddings: fit, alignment numbers, the saved map's rule, the errors."""
from __future__ import annotations

import numpy as np
import pytest

from tfclf.errors import TfclfError
from tfclf.topics import modeling
from tfclf.topics.config import TopicsConfig

WORDS = {"space": "rocket orbit launch moon planet", "food": "bread butter oven recipe flour",
         "sport": "goal match team league score"}


def _blobs(n_per=40, dim=24, seed=0, spread=0.15):
    """Three well-separated clusters of embeddings and documents with each theme's words."""
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[:3] * 3.0
    texts, labels, vectors = [], [], []
    for k, (theme, words) in enumerate(WORDS.items()):
        for _ in range(n_per):
            texts.append(" ".join(rng.choice(words.split(), 6)))
            labels.append(theme)
            vectors.append(centres[k] + rng.normal(scale=spread, size=dim))
    return texts, labels, np.asarray(vectors, np.float32)


@pytest.fixture(scope="module")
def fitted():
    texts, labels, vectors = _blobs()
    return modeling.fit(texts, vectors, TopicsConfig(min_topic_size=10, seed=0)), texts, labels, vectors


def test_three_clusters_become_three_topics_named_by_their_words(fitted):
    result, texts, labels, vectors = fitted
    align = modeling.alignment(result.topics, labels)
    assert (align["ari"], align["nmi"], align["purity"], align["outlier_share"]) == (1.0, 1.0, 1.0, 0.0)
    info = result.info()
    assert info["size"].tolist() == [40, 40, 40]
    for row in info.itertuples():  # each topic's top words are its theme's five words
        theme = labels[int(np.flatnonzero(result.topics == row.topic)[0])]
        assert set(row.words[:5]) == set(WORDS[theme].split()), (row.words, theme)
        assert row.weights == sorted(row.weights, reverse=True)
    assert result.probabilities.shape == (120,) and (result.probabilities > 0).all()


def test_the_saved_rule_agrees_with_hdbscan_and_survives_save_and_load(fitted, tmp_path):
    result, texts, labels, vectors = fitted
    assert modeling.centroid_agreement(result.model, vectors, result.topics) == 1.0
    modeling.save(result.model, tmp_path)
    assert (tmp_path / modeling.MODEL_DIR / "topic_embeddings.safetensors").is_file()
    assert not list((tmp_path / modeling.MODEL_DIR).glob("*.pkl")) and not list(tmp_path.rglob("*.bin"))
    loaded = modeling.load(tmp_path)
    topics, scores = modeling.transform(loaded, vectors[[0, 50, 100]])
    assert topics.tolist() == result.topics[[0, 50, 100]].tolist()
    assert (scores > 0.9).all()
    assert modeling.topic_names(loaded) == result.names


def test_alignment_numbers_by_hand():
    topics = np.array([0, 0, 1, 1, -1, -1])
    labels = ["a", "a", "b", "a", "b", "a"]
    align = modeling.alignment(topics, labels)
    assert align["outlier_share"] == pytest.approx(1 / 3)
    assert align["purity"] == pytest.approx(3 / 4)  # topic 0: a a; topic 1: b a -> 3 of 4
    assert align["contingency"].loc[1].to_dict() == {"a": 1, "b": 1}
    same = modeling.alignment(np.array([3, 3, 7, 7]), ["x", "x", "y", "y"])  # ids do not matter
    assert (same["ari"], same["nmi"], same["ari_assigned"]) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("n,config,match", [
    (0, TopicsConfig(), r"The corpus is empty"),
    (15, TopicsConfig(min_topic_size=10), r"Too few documents for a topic map: 15 read; at least 20 are needed"),
    (30, TopicsConfig(min_topic_size=5, umap_neighbors=40), r"at least 41 .*--umap-neighbors 40"),
])
def test_too_few_documents(n, config, match):
    with pytest.raises(TfclfError, match=match):
        modeling.check_corpus_size(n, config)


def test_no_topic_is_an_error():
    rng = np.random.default_rng(0)  # uniform noise in many dimensions: no dense cluster of 30
    with pytest.raises(TfclfError, match=r"No topic found: HDBSCAN left all 60 documents as outliers"):
        modeling.fit(["word"] * 60, rng.uniform(size=(60, 16)).astype(np.float32),
                     TopicsConfig(min_topic_size=30, umap_neighbors=5))


def test_load_refuses_a_folder_without_a_map(tmp_path):
    with pytest.raises(TfclfError, match=r"holds no saved topic map"):
        modeling.load(tmp_path)
