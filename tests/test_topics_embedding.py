"""Embeddings for topic maps: a hub encoder (frozen, batched by length) or a run's embed signature."""
from __future__ import annotations

import json

import numpy as np

from topic_data import MIN_ARI, theme_csv


def test_embedding_does_not_depend_on_the_batch(tiny_bert):
    from tfclf.topics import embedding
    from tfclf.topics.config import TopicsConfig

    embedder = embedding.for_config(TopicsConfig(encoder=str(tiny_bert.root), pooling="mean", seq_length=32,
                                                 batch_size=2))
    texts = ["refund please", "the courier lost my parcel and the tracking is wrong again today", "login"]
    together = embedder(texts)
    alone = np.concatenate([embedder([t]) for t in texts])
    assert together.shape == (3, 32)
    np.testing.assert_allclose(together, alone, atol=1e-5)  # sorted, batched, cut to the longest: same vectors
    assert not np.allclose(together[0], together[2])


def test_a_fine_tuned_run_embeds_with_its_embed_signature(tiny_bert, tmp_path):
    """--encoder RUN_DIR: the run's fine-tuned encoder, through the export's embed signature."""
    import tfclf
    import tfclf.fit  # noqa: F401
    from tfclf.config import DataConfig, ModelConfig, OptimizerConfig, Pooling, RunConfig, TrainConfig
    from tfclf.topics import embedding
    from tfclf.topics.__main__ import main
    from tfclf.topics.config import TopicsConfig

    data = theme_csv(tmp_path / "train.csv", n=90, seed=1)
    run = tfclf.fit(RunConfig(
        data=DataConfig(data=str(data)),
        model=ModelConfig(encoder=str(tiny_bert.root), seq_length=16, pooling=Pooling.MEAN),
        optimizer=OptimizerConfig(values=(1e-2, 3e-3), boundaries=(30,)),
        train=TrainConfig(epochs=2, batch_size=8, output_dir=str(tmp_path / "run"))), verbose=0).output_dir
    embedder = embedding.for_config(TopicsConfig(encoder=str(run)))
    assert embedder.describe["kind"] == "model"
    texts = ["refund the invoice", "reset my password"]
    np.testing.assert_allclose(embedder(texts), tfclf.load(run).embed(texts), atol=1e-5)
    assert main(["--data", str(data), "--encoder", str(run), "--output-dir", str(tmp_path / "map"),
                 "--no-progress", "--seed", "0"]) == 0
    summary = json.loads((tmp_path / "map" / "summary.json").read_text())
    assert summary["alignment"]["ari"] >= MIN_ARI
