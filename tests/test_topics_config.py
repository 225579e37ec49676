"""TopicsConfig: BERTopic's defaults, the flags, the YAML, and the errors."""
from __future__ import annotations

import argparse

import pytest

from tfclf.errors import TfclfError
from tfclf.topics import config as topics_config
from tfclf.topics.config import TopicsConfig, parse_n_topics


def test_defaults_are_bertopics():
    """The fields mirror what BERTopic() builds when given nothing (its documented defaults)."""
    from bertopic import BERTopic

    default = BERTopic()
    ours = TopicsConfig()
    assert (ours.min_topic_size, ours.top_n_words, ours.nr_topics) == \
        (default.min_topic_size, default.top_n_words, default.nr_topics)
    assert (ours.umap_neighbors, ours.umap_components, ours.umap_min_dist) == \
        (default.umap_model.n_neighbors, default.umap_model.n_components, default.umap_model.min_dist)
    assert default.umap_model.metric == "cosine"
    assert default.hdbscan_model.min_cluster_size == ours.min_topic_size
    assert (default.hdbscan_model.cluster_selection_method, default.hdbscan_model.metric) == ("eom", "euclidean")
    assert ours.stop_words == "english" and TopicsConfig(language="multilingual").stop_words is None


def test_build_passes_every_field_to_bertopic():
    from tfclf.topics import modeling

    config = TopicsConfig(min_topic_size=7, umap_neighbors=9, umap_components=3, umap_min_dist=0.1,
                          min_samples=2, n_topics="12", top_n_words=6, ngram_max=2, min_df=3, seed=5)
    model = modeling.build(config)
    assert (model.min_topic_size, model.nr_topics, model.top_n_words) == (7, 12, 6)
    assert (model.umap_model.n_neighbors, model.umap_model.n_components, model.umap_model.min_dist,
            model.umap_model.random_state) == (9, 3, 0.1, 5)
    assert (model.hdbscan_model.min_cluster_size, model.hdbscan_model.min_samples) == (7, 2)
    assert model.vectorizer_model.ngram_range == (1, 2) and model.vectorizer_model.min_df == 3
    assert model.vectorizer_model.stop_words == "english"


@pytest.mark.parametrize("value,expected", [("none", None), ("auto", "auto"), ("AUTO", "auto"), ("12", 12),
                                            (2, 2)])
def test_n_topics(value, expected):
    assert parse_n_topics(value) == expected


@pytest.mark.parametrize("kwargs,match", [
    ({"n_topics": "1"}, r"--n-topics must be none, auto or a number >= 2\. Received: n_topics='1'"),
    ({"n_topics": "many"}, r"--n-topics .* Received: n_topics='many'"),
    ({"min_topic_size": 1}, r"--min-topic-size must be >= 2.*min_topic_size=1"),
    ({"umap_neighbors": 1}, r"--umap-neighbors must be >= 2"),
    ({"umap_min_dist": 2.0}, r"--umap-min-dist must be in \[0, 1\]"),
    ({"batch_size": 0}, r"--batch-size must be >= 1\. Received: batch_size=0"),
    ({"seq_length": 2}, r"--seq-length must be >= 3"),
    ({"min_samples": 0}, r"--min-samples must be >= 1"),
    ({"language": " "}, r"--language must not be empty"),
])
def test_errors_name_the_flag_and_the_value(kwargs, match):
    with pytest.raises(TfclfError, match=match):
        TopicsConfig(**kwargs)


def _parse(argv):
    parser = argparse.ArgumentParser()
    topics_config.add_arguments(parser)
    return topics_config.from_args(parser.parse_args(argv))


def test_flags_override_the_yaml(tmp_path):
    yaml_file = tmp_path / "t.yaml"
    yaml_file.write_text("data:\n  data: docs.csv\n  strip_email_headers: true\n"
                         "topics:\n  min_topic_size: 20\n  encoder: labse\n  n_topics: auto\n")
    config = _parse(["--config", str(yaml_file), "--min-topic-size", "5", "--no-labels"])
    assert (config.data.data, config.data.strip_email_headers) == ("docs.csv", True)
    assert (config.topics.min_topic_size, config.topics.encoder, config.topics.nr_topics) == (5, "labse", "auto")
    assert config.topics.labels is False
    assert config.to_dict()["topics"]["min_topic_size"] == 5


@pytest.mark.parametrize("text,match", [
    ("topics:\n  min_topic_sise: 3\n", r"Unknown key 'min_topic_sise' in --config .*: topics"),
    ("model:\n  encoder: minilm\n", r"Unknown section 'model' .* Valid sections: \['data', 'topics'\]"),
    ("topics: [1, 2]\n", r"expected section 'topics' to be a mapping; Received: list"),
    ("- a\n", r"expected a mapping with sections"),
])
def test_yaml_errors_name_the_file_and_key(tmp_path, text, match):
    yaml_file = tmp_path / "t.yaml"
    yaml_file.write_text(text)
    with pytest.raises(TfclfError, match=match):
        _parse(["--config", str(yaml_file)])


@pytest.mark.parametrize("name", ["topics_20news.yaml", "topics_twitter.yaml"])
def test_the_experiment_yamls_load(name):
    from pathlib import Path

    from tfclf.config import load_yaml

    path = Path(__file__).resolve().parents[1] / "experiments" / name
    config = topics_config.from_dict(load_yaml(path), str(path))
    assert config.topics.encoder == "minilm" and config.data.data.startswith("../shared/datasets/")


def test_training_only_data_flags_are_not_offered():
    parser = argparse.ArgumentParser()
    topics_config.add_arguments(parser)
    flags = {o for a in parser._actions for o in a.option_strings}
    assert {"--data", "--text-column", "--label-column", "--strip-email-headers", "--where",
            "--explode-text", "--min-topic-size", "--no-labels"} <= flags
    assert not {"--split", "--eval-split", "--class-weight", "--eval-group-by", "--dedupe"} & flags
    with pytest.raises(SystemExit):
        parser.parse_args(["--split", "0.8,0.1,0.1"])
