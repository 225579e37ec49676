"""The native encoder runtime: the hub weights in Keras layers, checked, and the same outputs."""
import dataclasses
import logging
import shutil

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tfclf import native_encoder, precision
from tfclf.config import EncoderRuntime, MixedPrecision, Pooling
from tfclf.errors import TfclfError
from tfclf.model import FineTunedKerasLayer, build_classifier, trainable_filter
from tfclf.preprocessing import TextPreprocessor
from tfclf.serving.check import adversarial_cases


def _adversarial_ids(preprocessor_path, seq_length=32):
    texts = tf.constant(adversarial_cases()["mixed"])
    return {k: v for k, v in TextPreprocessor(str(preprocessor_path), seq_length)(texts).items()}


def _max_diff(a, b, mask):
    real = np.asarray(mask).astype(bool)
    seq = np.abs(np.asarray(a["sequence_output"], np.float32)[real] - np.asarray(b["sequence_output"], np.float32)[real])
    pooled = np.abs(np.asarray(a["pooled_output"], np.float32) - np.asarray(b["pooled_output"], np.float32))
    return float(max(seq.max(), pooled.max()))


@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_labse"])
def test_native_equals_hub_on_the_adversarial_strings(fixture, request):
    encoder = request.getfixturevalue(fixture)
    source = native_encoder.load(encoder.encoder)
    assert source.architecture.source == native_encoder.KERAS_METADATA
    assert source.architecture.normalize_pooled is (fixture == "tiny_labse")
    layer = native_encoder.build(source, name="native")
    ids = _adversarial_ids(encoder.preprocessor)
    assert int(tf.reduce_sum(ids["input_mask"])) > 0 and ids["input_mask"].shape[0] == len(adversarial_cases()["mixed"])
    hub_model = tf.saved_model.load(str(encoder.encoder))  # a fresh load: not the source's own object
    diff = _max_diff(layer(ids, training=False), hub_model(ids, training=False), ids["input_mask"])
    assert diff <= 1e-5, diff
    if fixture == "tiny_labse":
        norms = np.linalg.norm(np.asarray(layer(ids, training=False)["pooled_output"]), axis=-1)
        np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_every_variable_is_mapped_by_name_and_shape(tiny_bert):
    source = native_encoder.load(tiny_bert.encoder)
    layer = native_encoder.build(source, name="native")
    pairs = native_encoder.variable_map(layer, source)
    assert len(pairs) == len(layer.weights) == len(source.hub_model.trainable_variables)
    for native, hub in pairs:
        assert native.name.endswith(hub.name) and native.shape == hub.shape
        np.testing.assert_array_equal(native.numpy(), hub.numpy())
    # A hub variable that the native encoder cannot take (another shape) is refused by name.
    broken = dict(source.variables)
    name = "transformer/layer_0/intermediate/kernel"
    broken[name] = tf.Variable(tf.zeros([3, 3]), name=name)
    with pytest.raises(native_encoder.NativeUnavailable, match="intermediate/kernel: native shape"):
        native_encoder.variable_map(layer, native_encoder.NativeSource(source.path, source.architecture, broken))
    # And a trainable hub variable left over means the map is incomplete.
    extra = {**source.variables, "adapter/kernel": tf.Variable(tf.zeros([2]), name="adapter/kernel")}
    with pytest.raises(native_encoder.NativeUnavailable, match="no native counterpart"):
        native_encoder.variable_map(layer, native_encoder.NativeSource(source.path, source.architecture, extra))


@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_labse"])
def test_without_keras_metadata_the_shapes_and_the_probe_decide(fixture, request, tmp_path):
    encoder = request.getfixturevalue(fixture)
    bare = tmp_path / "encoder"
    shutil.copytree(encoder.encoder, bare)
    (bare / native_encoder.KERAS_METADATA).unlink()
    source = native_encoder.load(bare)
    with_metadata = native_encoder.load(encoder.encoder).architecture
    assert source.architecture.source == "variable shapes"
    assert source.architecture.normalize_pooled is with_metadata.normalize_pooled  # found by the probe
    assert source.architecture.activations == with_metadata.activations == ("exact_gelu",)
    assert (source.architecture.num_layers, source.architecture.hidden_size, source.architecture.inner_dim) == \
        (with_metadata.num_layers, with_metadata.hidden_size, with_metadata.inner_dim)
    assert source.max_abs_diff <= 1e-5


def test_an_architecture_the_variables_cannot_show_fails_the_probe(tiny_bert, monkeypatch):
    """Whether pooled_output is normalised leaves no variable: the probe is what catches it."""
    read = native_encoder._from_metadata
    monkeypatch.setattr(native_encoder, "_from_metadata", lambda nodes: dataclasses.replace(
        read(nodes), normalize_pooled=True))
    native_encoder._CACHE.clear()
    try:
        with pytest.raises(native_encoder.NativeUnavailable, match=r"beyond 1e-05 .*exact_gelu, normalised: \d"):
            native_encoder.load(tiny_bert.encoder)
    finally:
        native_encoder._CACHE.clear()


def test_resolve_runtime(tiny_bert, monkeypatch, caplog):
    assert native_encoder.resolve_runtime(tiny_bert.encoder, EncoderRuntime.HUB) == (EncoderRuntime.HUB, None)
    runtime, source = native_encoder.resolve_runtime(tiny_bert.encoder, EncoderRuntime.AUTO)
    assert runtime is EncoderRuntime.NATIVE and source.max_abs_diff <= 1e-5

    def unavailable(path):
        raise native_encoder.NativeUnavailable("inner activation 'relu' is not a GELU")

    monkeypatch.setattr(native_encoder, "load", unavailable)
    with caplog.at_level(logging.INFO, logger="tfclf.native_encoder"):
        assert native_encoder.resolve_runtime(tiny_bert.encoder, "auto") == (EncoderRuntime.HUB, None)
    assert "--encoder-runtime auto: hub" in caplog.text and "not a GELU" in caplog.text
    with pytest.raises(TfclfError, match="--encoder-runtime native: .* cannot run natively: inner activation"):
        native_encoder.resolve_runtime(tiny_bert.encoder, EncoderRuntime.NATIVE)


def test_mixed_policy_reaches_the_native_encoders_dense_layers(tiny_bert):
    source = native_encoder.load(tiny_bert.encoder)
    with precision.keras_policy(MixedPrecision.MIXED_BFLOAT16):
        models = build_classifier(str(tiny_bert.encoder), 3, pooling=Pooling.MEAN, native=source)
    encoder = models.classifier.get_layer("encoder")
    dense = [layer for layer in encoder.bert._flatten_layers() if isinstance(layer, tf_keras.layers.EinsumDense)]
    assert len(dense) >= 4 * source.architecture.num_layers  # query, key, value, attention output, ffn
    assert {layer.compute_dtype for layer in dense} == {"bfloat16"}
    assert {v.dtype for v in models.classifier.weights} == {tf.float32}  # variables stay float32
    hidden = source.architecture.hidden_size
    assert dense[0](tf.zeros([1, 2, hidden])).dtype == tf.bfloat16  # computes in bfloat16
    ids = _adversarial_ids(tiny_bert.preprocessor, 16)
    # tf-models keeps its layer norms float32, so each block's output is float32 again.
    assert encoder(ids)["sequence_output"].dtype == tf.float32
    assert models.classifier(ids).dtype == tf.float32  # logits
    # The hub runtime under the same policy: its encoder stays float32 (hence the rewrite).
    with precision.keras_policy(MixedPrecision.MIXED_BFLOAT16):
        hub = build_classifier(str(tiny_bert.encoder), 3, pooling=Pooling.MEAN)
    assert hub.classifier.get_layer("encoder")(ids)["sequence_output"].dtype == tf.float32


@pytest.mark.parametrize("spec", ["none", "top-1", "all"])
def test_trainable_selects_the_same_variables_as_the_hub_runtime(tiny_bert, spec):
    source = native_encoder.load(tiny_bert.encoder)
    native = build_classifier(str(tiny_bert.encoder), 2, trainable=spec, native=source).classifier
    hub = build_classifier(str(tiny_bert.encoder), 2, trainable=spec).classifier

    def trainable(model):
        return sorted(native_encoder._match(v.name, set(source.variables)) or v.name.split("/", 1)[-1]
                      for v in model.trainable_weights)

    assert trainable(native) == trainable(hub)
    keep = trainable_filter("top-1", sorted(source.variables))
    expected = {"none": 0, "top-1": sum(keep(n) for n in source.variables), "all": len(source.variables) - 1}[spec]
    encoder_trainable = [v for v in native.get_layer("encoder").trainable_weights]
    assert len(encoder_trainable) == expected  # all: every variable but do_lower_case


def test_native_classifier_trains_and_matches_hub_before_training(tiny_bert):
    """Same weights, same inputs: the two runtimes' classifiers agree (head weights copied)."""
    source = native_encoder.load(tiny_bert.encoder)
    tf_keras.utils.set_random_seed(0)
    native = build_classifier(str(tiny_bert.encoder), 3, pooling=Pooling.MEAN, native=source).classifier
    hub = build_classifier(str(tiny_bert.encoder), 3, pooling=Pooling.MEAN).classifier
    hub.get_layer("logits").set_weights(native.get_layer("logits").get_weights())
    assert isinstance(hub.get_layer("encoder"), FineTunedKerasLayer)
    ids = _adversarial_ids(tiny_bert.preprocessor, 16)
    np.testing.assert_allclose(native(ids, training=False).numpy(), hub(ids, training=False).numpy(), atol=1e-5)
    y = np.arange(ids["input_mask"].shape[0]) % 3
    native.compile(optimizer=tf_keras.optimizers.Adam(1e-3),
                   loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = native.evaluate(ids, y, verbose=0)
    native.fit(ids, y, epochs=8, batch_size=16, verbose=0)
    assert native.evaluate(ids, y, verbose=0) < before  # gradients reach the encoder and the head
    moved = native.get_layer("encoder").bert._transformer_layers[0].weights[0]
    hub_value = source.variables[native_encoder._match(moved.name, set(source.variables))]
    assert not np.allclose(moved.numpy(), hub_value.numpy())  # the encoder itself trained


def test_native_gradients_equal_hub_gradients(tiny_bert):
    """Same weights and inputs, no dropout: the loss gradient of every encoder variable and of
    the head is the same in both runtimes, so the two train alike up to their random streams
    (dropout masks, head initialisation), not by a different backward pass."""
    source = native_encoder.load(tiny_bert.encoder)
    native = build_classifier(str(tiny_bert.encoder), 3, pooling=Pooling.MEAN, dropout=0.0, native=source).classifier
    hub = build_classifier(str(tiny_bert.encoder), 3, pooling=Pooling.MEAN, dropout=0.0).classifier
    hub.get_layer("logits").set_weights(native.get_layer("logits").get_weights())
    ids = _adversarial_ids(tiny_bert.preprocessor, 16)
    y = tf.constant(np.arange(ids["input_mask"].shape[0]) % 3)
    loss_fn = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    names = set(source.variables)

    def gradients(model):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(ids, training=False))
        grads = tape.gradient(loss, model.trainable_weights)
        keyed = {}
        for v, g in zip(model.trainable_weights, grads):
            if g is not None:
                keyed[native_encoder._match(v.name, names) or v.name] = tf.convert_to_tensor(g).numpy()
        return float(loss), keyed

    native_loss, native_grads = gradients(native)
    hub_loss, hub_grads = gradients(hub)
    assert native_loss == pytest.approx(hub_loss, abs=1e-5)
    # The restored hub function also returns a gradient for the pooler, which mean pooling
    # does not use: zero. The native graph has none for it.
    for key in set(hub_grads) - set(native_grads):
        assert key.startswith("pooler_transform/") and not np.any(hub_grads[key]), key
    assert set(native_grads) <= set(hub_grads)
    assert {"logits/kernel:0", "logits/bias:0"} <= set(native_grads)
    assert len(native_grads) == len(source.variables) - 3 + 2  # less pooler and do_lower_case, plus the head
    for key, g in native_grads.items():
        scale = max(1.0, float(np.abs(hub_grads[key]).max()))
        np.testing.assert_allclose(g, hub_grads[key], atol=1e-5 * scale, err_msg=key)


def test_native_runs_of_one_seed_are_identical(tiny_bert, tmp_path, caplog):
    """The native runtime's dropout is seeded by --seed, so two runs of one seed on one machine
    give the same model. (The hub runtime's restored graph has unseeded dropout ops: its runs
    differ, and TensorFlow's op determinism refuses that graph; README "Known limits".)

    With mean pooling the pooler is off the loss's path: no Keras warning about missing
    gradients (it asked whether a `loss` argument was forgotten), a debug line instead."""
    import logging

    import tfclf
    from tfclf.config import DataConfig, ModelConfig, Pooling, RunConfig, TrainConfig
    from tfclf.data import SAMPLE_DATA

    probabilities = []
    tf_logger = logging.getLogger("tensorflow")  # Keras warns there; it does not propagate to caplog
    tf_logger.addHandler(caplog.handler)
    try:
        for i in range(2):
            config = RunConfig(data=DataConfig(data=str(SAMPLE_DATA), limit_train=48),
                               model=ModelConfig(encoder=str(tiny_bert.encoder),
                                                 preprocessor=str(tiny_bert.preprocessor), seq_length=16,
                                                 pooling=Pooling.MEAN, encoder_runtime=EncoderRuntime.NATIVE),
                               train=TrainConfig(epochs=1, batch_size=8, seed=3, output_dir=str(tmp_path / f"run{i}")))
            with caplog.at_level(logging.DEBUG, logger="tfclf.optimization"):
                run = tfclf.fit(config, verbose=0)
            _, p = tfclf.load(run.output_dir).predict(["refund my order please", "the app crashes", "great team"])
            probabilities.append(np.asarray(p))
    finally:
        tf_logger.removeHandler(caplog.handler)
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "Gradients do not exist" in m]
    assert [m for m in messages if m.startswith("No gradient") and "pooler_transform" in m]
    assert probabilities[0].shape == (3, 5)  # the sample's five labels
    np.testing.assert_array_equal(probabilities[0], probabilities[1])
