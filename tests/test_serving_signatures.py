import numpy as np
import pytest
import tensorflow as tf

from tfclf import model as model_lib
from tfclf.config import Pooling
from tfclf.errors import TfclfError
from tfclf.model import build_classifier
from tfclf.serving import loaded, signatures

LABELS = ["negative", "neutral", "positive"]


@pytest.fixture(scope="module")
def module(tiny_bert):
    models = build_classifier(str(tiny_bert.encoder), 3, pooling=Pooling.MEAN)
    return signatures.ServingModule(str(tiny_bert.preprocessor), 16, models.classifier, models.embedder, LABELS)


def test_input_names_are_defined_once_by_the_model():
    assert signatures.INPUT_NAMES is model_lib.INPUT_NAMES
    assert [s.name for s in signatures.IDS_SPECS] == list(model_lib.INPUT_NAMES)


def test_serving_signature_outputs(module):
    out = module.serve(tf.constant(["great service", "", "bad " * 100]))
    assert out["probabilities"].shape == (3, 3) and out["probabilities"].dtype == tf.float32
    assert out["label"].dtype == tf.string and out["label_id"].dtype == tf.int64
    np.testing.assert_allclose(out["probabilities"].numpy().sum(1), 1, atol=1e-6)
    ids = out["label_id"].numpy()
    assert [x.decode() for x in out["label"].numpy()] == [LABELS[i] for i in ids]
    np.testing.assert_allclose(out["confidence"].numpy(), out["probabilities"].numpy().max(1))
    assert module.embed(tf.constant(["a", "b"]))["embedding"].shape == (2, 32)


def test_invalid_utf8_is_read_as_replacement_characters(module):
    bad = module.serve(tf.constant([b"\xff refund", b"caf\xe9", b"\xc3\x28"]))["probabilities"].numpy()
    good = module.serve(tf.constant(["\ufffd refund", "caf\ufffd", "\ufffd("]))["probabilities"].numpy()
    np.testing.assert_array_equal(bad, good)


def test_save_refuses_to_overwrite(module, tmp_path):
    (tmp_path / "model").mkdir()
    with pytest.raises(TfclfError, match="overwrite"):
        signatures.save_serving_model(module, tmp_path / "model")


def test_multi_label_signature_thresholds_sigmoids(tiny_bert, tmp_path):
    models = build_classifier(str(tiny_bert.encoder), 3, pooling=Pooling.MEAN)
    head = models.classifier.get_layer("logits")
    kernel, bias = head.get_weights()
    head.set_weights([kernel, np.array([3.0, 0.0, -3.0], np.float32)])  # labels above, near, below 0.5
    module = signatures.ServingModule(str(tiny_bert.preprocessor), 16, models.classifier, models.embedder,
                                      LABELS, multi_label=True, threshold=0.5)
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS) + "\n")
    model = loaded.load(signatures.save_serving_model(module, tmp_path / "model", asset_files=[labels]))
    sig = model._serve
    assert {k: (v.dtype, v.shape.as_list()) for k, v in sig.structured_outputs.items()} == {
        "probabilities": (tf.float32, [None, 3]), "labels": (tf.string, [None, 3])}
    texts = ["refund please", "my package", ""]
    out = model.outputs(texts)
    features = signatures.text_features(module.preprocessor, 16, tf.constant(texts))
    expected = tf.sigmoid(models.classifier(features, training=False)).numpy()
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-6)
    assert not np.allclose(out["probabilities"].sum(1), 1)
    predicted, _ = model.predict(texts)
    for row, p in zip(predicted, expected):
        assert row == [LABELS[i] for i in np.argsort(-p, kind="stable") if p[i] >= 0.5]
    assert all("negative" in row and "positive" not in row for row in predicted)
    assert model.multi_label


def test_multi_label_outputs_use_one_threshold_per_label():
    logits = tf.constant([[3.0, 0.0, -3.0], [0.2, 0.2, 0.2]])  # sigmoid: .953 .5 .047 / .55 .55 .55
    names = tf.constant(LABELS)
    scalar = signatures.classification_outputs(logits, names, multi_label=True, threshold=0.5)
    per_label = signatures.classification_outputs(logits, names, multi_label=True,
                                                  threshold=tf.constant([0.96, 0.5, 0.04]))
    decoded = lambda out: [[s.decode() for s in row if s] for row in out["labels"].numpy()]  # noqa: E731
    assert decoded(scalar) == [[LABELS[0], LABELS[1]], list(LABELS)]
    # label 0 now needs .96 (0.953 misses it); label 2 only .04 (0.047 reaches it); ranked by probability
    assert decoded(per_label) == [[LABELS[1], LABELS[2]], [LABELS[1], LABELS[2]]]
    from tfclf import thresholds
    p = tf.sigmoid(logits).numpy()
    assert thresholds.predict(p, [0.96, 0.5, 0.04]).tolist() == [[False, True, True], [False, True, True]]
