"""BERTopic on tfclf's embeddings: build, fit, measure against labels, save and load.

BERTopic is the engine (UMAP -> HDBSCAN -> class-based TF-IDF), given precomputed
embeddings, so neither sentence-transformers nor PyTorch is needed: tfclf installs
BERTopic with ``--no-deps`` and pins its real runtime dependencies (requirements.txt).

A fitted map is saved with BERTopic's ``safetensors`` serialisation (topic embeddings,
c-TF-IDF, vocabulary, topic words and names; no pickle is loaded back). Such a model
assigns a new text the topic whose embedding (the mean of its documents' embeddings) is
most similar by cosine, and the similarity is its score; the fit itself assigned topics
with HDBSCAN. ``centroid_agreement`` measures how often the two agree on the fitted
documents, and the report states it.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from tfclf.errors import TfclfError
from tfclf.topics.config import TopicsConfig

logger = logging.getLogger(__name__)

OUTLIER = -1


class _NoTopics(Exception):
    """HDBSCAN put every document in no cluster."""


def check_corpus_size(n_docs: int, config: TopicsConfig) -> None:
    """Enough documents for UMAP's neighbourhoods and two HDBSCAN clusters.

    Raises:
        TfclfError: naming the flags and the numbers.
    """
    if n_docs == 0:
        raise TfclfError("The corpus is empty: every row was blank or dropped (see the counts above). "
                         "Check --data, --text-column and the cleaning flags.")
    need = max(2 * config.min_topic_size, config.umap_neighbors + 1)
    if n_docs < need:
        raise TfclfError(
            f"Too few documents for a topic map: {n_docs} read; at least {need} are needed "
            f"(two topics of --min-topic-size {config.min_topic_size}, and more than --umap-neighbors "
            f"{config.umap_neighbors}). Lower --min-topic-size or --umap-neighbors, or add documents.")


def build(config: TopicsConfig):
    """An unfitted BERTopic with BERTopic's defaults made explicit and seeded."""
    from bertopic import BERTopic
    from hdbscan import HDBSCAN
    from sklearn.feature_extraction.text import CountVectorizer
    from umap import UMAP

    umap_model = UMAP(n_neighbors=config.umap_neighbors, n_components=config.umap_components,
                      min_dist=config.umap_min_dist, metric="cosine", random_state=config.seed)
    class Clusterer(HDBSCAN):
        """HDBSCAN that stops the fit when it finds no cluster (BERTopic's c-TF-IDF fails on that)."""

        def fit(self, X, y=None):
            super().fit(X, y)
            if (np.asarray(self.labels_) == OUTLIER).all():
                raise _NoTopics()
            return self

    hdbscan_model = Clusterer(min_cluster_size=config.min_topic_size, min_samples=config.min_samples,
                              metric="euclidean", cluster_selection_method="eom", prediction_data=True)
    vectorizer = CountVectorizer(stop_words=config.stop_words, ngram_range=(1, config.ngram_max),
                                 min_df=config.min_df)
    return BERTopic(language=config.language, top_n_words=config.top_n_words, min_topic_size=config.min_topic_size,
                    nr_topics=config.nr_topics, umap_model=umap_model, hdbscan_model=hdbscan_model,
                    vectorizer_model=vectorizer, calculate_probabilities=False, verbose=False)


@dataclasses.dataclass
class FittedTopics:
    """A fitted map and the per-document results.

    Attributes:
        model: the fitted BERTopic.
        topics: [N] int, each document's topic (-1: outlier).
        probabilities: [N] float, HDBSCAN's membership strength of each document in its topic.
    """

    model: Any
    topics: np.ndarray
    probabilities: np.ndarray

    @property
    def names(self) -> dict[int, str]:
        """topic id -> BERTopic's name, e.g. ``0_game_team_hockey_season``."""
        return {int(k): str(v) for k, v in self.model.topic_labels_.items()}

    def info(self) -> pd.DataFrame:
        """One row per topic, largest first, outliers last: topic, name, size, words, weights."""
        sizes = pd.Series(self.topics).value_counts()
        rows = []
        for topic, name in self.names.items():
            words = self.model.get_topic(topic) or []
            rows.append({"topic": topic, "name": name, "size": int(sizes.get(topic, 0)),
                         "words": [w for w, _ in words], "weights": [float(s) for _, s in words]})
        info = pd.DataFrame(rows)
        info["outlier"] = info["topic"] == OUTLIER
        return info.sort_values(["outlier", "size", "topic"], ascending=[True, False, True]) \
                   .drop(columns="outlier").reset_index(drop=True)


def fit(texts: Sequence[str], embeddings: np.ndarray, config: TopicsConfig) -> FittedTopics:
    """Fits BERTopic on the texts and their embeddings.

    Raises:
        TfclfError: too few documents, or no topic found (every document an outlier).
    """
    check_corpus_size(len(texts), config)
    model = build(config)
    try:
        topics, probabilities = model.fit_transform(list(texts), embeddings)
    except _NoTopics:
        topics, probabilities = np.full(len(texts), OUTLIER), None
    topics = np.asarray(topics, dtype=np.int64)
    if (topics == OUTLIER).all():
        raise TfclfError(
            f"No topic found: HDBSCAN left all {len(texts)} documents as outliers. Lower --min-topic-size "
            f"({config.min_topic_size}) or --min-samples, or add documents.")
    probabilities = np.zeros(len(texts)) if probabilities is None else np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim == 2:
        probabilities = probabilities.max(axis=1)
    return FittedTopics(model, topics, probabilities)


def alignment(topics: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """How topics match known labels.

    Returns:
        ``ari`` and ``nmi`` over every document (the outliers as one more cluster),
        ``ari_assigned`` and ``nmi_assigned`` over documents with a topic, ``outlier_share``,
        ``purity`` (share of assigned documents whose topic's majority label is theirs), and
        ``contingency``: a DataFrame, topics x labels, of document counts.
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    topics = np.asarray(topics)
    labels = np.asarray([str(x) for x in labels], dtype=object)
    assigned = topics != OUTLIER
    contingency = pd.crosstab(pd.Series(topics, name="topic"), pd.Series(labels, name="label"))
    kept = contingency.drop(index=OUTLIER, errors="ignore")
    return {
        "ari": float(adjusted_rand_score(labels, topics)),
        "nmi": float(normalized_mutual_info_score(labels, topics)),
        "ari_assigned": float(adjusted_rand_score(labels[assigned], topics[assigned])) if assigned.any() else 0.0,
        "nmi_assigned": float(normalized_mutual_info_score(labels[assigned], topics[assigned]))
        if assigned.any() else 0.0,
        "outlier_share": float(1 - assigned.mean()),
        "purity": float(kept.max(axis=1).sum() / max(int(kept.to_numpy().sum()), 1)),
        "n_documents": int(len(topics)),
        "n_labels": int(len(set(labels))),
        "contingency": contingency,
    }


def centroid_assign(model, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(topic, cosine similarity) of each embedding's most similar topic embedding, outliers excluded."""
    from sklearn.metrics.pairwise import cosine_similarity

    ids = sorted(int(t) for t in model.topic_labels_ if int(t) != OUTLIER)
    table = np.asarray(model.topic_embeddings_)
    offset = 1 if OUTLIER in model.topic_labels_ else 0
    similarity = cosine_similarity(embeddings, table[[offset + i for i in ids]])
    best = similarity.argmax(axis=1)
    return np.asarray(ids)[best], similarity[np.arange(len(best)), best]


def centroid_agreement(model, embeddings: np.ndarray, topics: np.ndarray) -> float:
    """Share of the documents with a topic that ``centroid_assign`` (a saved map's rule) gives the same topic."""
    assigned = np.asarray(topics) != OUTLIER
    if not assigned.any():
        return 0.0
    predicted, _ = centroid_assign(model, embeddings[assigned])
    return float((predicted == np.asarray(topics)[assigned]).mean())


MODEL_DIR = "bertopic"


def save(model, folder: Path) -> None:
    """BERTopic's safetensors serialisation (no pickle), without an embedding model."""
    model.save(str(folder / MODEL_DIR), serialization="safetensors", save_ctfidf=True,
               save_embedding_model=False)


def load(folder: Path):
    """A map saved by ``save``, ready for ``transform``."""
    from bertopic import BERTopic

    path = Path(folder) / MODEL_DIR
    if not (path / "topic_embeddings.safetensors").is_file():
        raise TfclfError(f"--model {str(folder)!r} holds no saved topic map ({MODEL_DIR}/topic_embeddings."
                         "safetensors); expected a folder written by python -m tfclf.topics.")
    return BERTopic.load(str(path))


def transform(model, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(topic, score) for new documents of a loaded map: the most similar topic embedding and the cosine."""
    return centroid_assign(model, embeddings)


def topic_names(model) -> dict[int, str]:
    return {int(k): str(v) for k, v in model.topic_labels_.items()}


def peak_rss_mb() -> Optional[float]:
    """This process's peak resident memory in MiB (Linux ``ru_maxrss``), or None."""
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    except (ImportError, OSError):
        return None
