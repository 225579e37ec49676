import numpy as np
import pytest
import tensorflow as tf
import tensorflow_hub as hub
import tf_keras

from tfclf.config import Pooling
from tfclf.model import EncoderPooling, build_classifier


def batch(lengths, seq=10, vocab=40, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.array([[1] * n + [0] * (seq - n) for n in lengths], np.int32)
    ids = rng.integers(5, vocab, size=mask.shape).astype(np.int32) * mask
    return {"input_word_ids": ids, "input_mask": mask, "input_type_ids": np.zeros_like(mask)}


@pytest.mark.parametrize("pooling", list(Pooling))
def test_pooling_matches_its_definition(tiny_bert, pooling):
    models = build_classifier(str(tiny_bert.encoder), 3, pooling=pooling, dropout=0.0)
    x = batch([3, 10, 6])
    raw = hub.KerasLayer(str(tiny_bert.encoder))(x)
    seq, pooled = raw["sequence_output"].numpy(), raw["pooled_output"].numpy()
    expected = {
        Pooling.POOLED: pooled,
        Pooling.CLS: seq[:, 0],
        Pooling.MEAN: (seq * x["input_mask"][..., None]).sum(1) / x["input_mask"].sum(1, keepdims=True),
    }[pooling]
    np.testing.assert_allclose(models.embedder(x).numpy(), expected, atol=1e-5)
    assert models.classifier(x).shape == (3, 3)


def test_mean_pooling_ignores_padding(tiny_bert):
    models = build_classifier(str(tiny_bert.encoder), 2, pooling=Pooling.MEAN, dropout=0.0)
    short = batch([4], seq=4)
    padded = {k: np.pad(v, ((0, 0), (0, 6))) for k, v in short.items()}
    np.testing.assert_allclose(models.embedder(short).numpy(), models.embedder(padded).numpy(), atol=1e-5)


def test_frozen_encoder_trains_only_the_head(tiny_bert):
    frozen = build_classifier(str(tiny_bert.encoder), 4, trainable="none")
    tuned = build_classifier(str(tiny_bert.encoder), 4, trainable="all")
    assert [v.name for v in frozen.classifier.trainable_variables] == ["logits/kernel:0", "logits/bias:0"]
    assert len(tuned.classifier.trainable_variables) == 39 + 2  # every encoder variable + head


def test_top_n_selects_top_layers_and_pooler(tiny_bert):
    models = build_classifier(str(tiny_bert.encoder), 2, trainable="top-1")
    names = {v.name for v in models.classifier.trainable_variables}
    assert any(n.startswith("transformer/layer_1/") for n in names)
    assert not any("layer_0/" in n or "embeddings" in n for n in names)
    assert {"pooler_transform/kernel:0", "logits/kernel:0"} <= names
    assert len(models.classifier.weights) == 39 + 2 + 1  # frozen ones are still weights


def test_training_step_changes_only_trainable_variables(tiny_bert):
    from tfclf import optimization
    from tfclf.config import OptimizerConfig

    models = build_classifier(str(tiny_bert.encoder), 2, trainable="top-1", dropout=0.0)
    model = models.classifier
    model.compile(optimizer=optimization.build_optimizer(OptimizerConfig(values=(1e-2, 1e-2))),
                  loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = {v.name: v.numpy().copy() for v in model.weights}
    x = batch([5, 7, 3, 9])
    model.fit(x, np.array([0, 1, 0, 1]), epochs=1, verbose=0)
    trainable = {v.name for v in model.trainable_variables}
    for v in model.weights:
        changed = not np.array_equal(before[v.name], v.numpy())
        if v.name in trainable:
            # The attention key bias adds the same q.b to every key's score: softmax
            # cancels it, so its gradient is exactly 0 (and biases get no weight decay).
            assert changed or "key/bias" in v.name, f"{v.name} should have trained"
        else:
            assert not changed, f"{v.name} is frozen but changed"


@pytest.mark.parametrize("spec, message", [("top-3", "more layers than the encoder's 2")])
def test_top_n_beyond_depth_is_an_error(tiny_bert, spec, message):
    from tfclf.errors import TfclfError

    with pytest.raises(TfclfError, match=message):
        build_classifier(str(tiny_bert.encoder), 2, trainable=spec)


def test_filter_on_tf1_style_names():
    from tfclf.model import trainable_filter

    names = [f"bert/encoder/layer_{i}/attention/self/query/kernel" for i in range(12)] + [
        "bert/embeddings/word_embeddings", "bert/pooler/dense/kernel"]
    keep = trainable_filter("top-2", names)
    assert [n for n in names if keep(n)] == names[10:12] + ["bert/pooler/dense/kernel"]


@pytest.mark.parametrize("pooling", [Pooling.CLS, Pooling.MEAN])
def test_the_trainable_variables_do_not_depend_on_pooling(tiny_bert, pooling):
    """Keras keys the optimiser's slots by their position (``optimizer/_variables/<i>``) and
    builds them for every trainable variable, so a resume checkpoint restores only into the
    same trainable list. cls and mean never read the pooler (its gradient is zero on the hub
    runtime, None on native), yet freezing it would shift every later slot and break the
    resume of a run started before such a change."""
    def trainable(p):
        return [v.name for v in build_classifier(str(tiny_bert.encoder), 2, pooling=p).classifier.trainable_weights]

    names = trainable(pooling)
    assert names == trainable(Pooling.POOLED)
    assert {"pooler_transform/kernel:0", "pooler_transform/bias:0"} <= set(names)


def test_logits_stay_float32_under_mixed_precision(tiny_bert):
    tf_keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        models = build_classifier(str(tiny_bert.encoder), 2)
        assert models.classifier(batch([5])).dtype == tf.float32
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")


def test_pooling_layer_config_round_trip():
    layer = EncoderPooling("mean", name="pool")
    again = EncoderPooling.from_config(layer.get_config())
    assert again.mode == "mean" and again.name == "pool"
