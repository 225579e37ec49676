import numpy as np
import pytest
import tensorflow as tf

from tfclf import export
from tfclf.config import Pooling
from tfclf.errors import TfclfError
from tfclf.model import build_classifier

LABELS = ["negative", "neutral", "positive"]


@pytest.fixture(scope="module")
def module(tiny_bert):
    models = build_classifier(str(tiny_bert.encoder), 3, pooling=Pooling.MEAN)
    return export.ServingModule(str(tiny_bert.preprocessor), 16, models.classifier, models.embedder, LABELS)


def test_serving_signature_outputs(module):
    out = module.serve(tf.constant(["great service", "", "bad " * 100]))
    assert out["probabilities"].shape == (3, 3) and out["probabilities"].dtype == tf.float32
    assert out["label"].dtype == tf.string and out["label_id"].dtype == tf.int64
    np.testing.assert_allclose(out["probabilities"].numpy().sum(1), 1, atol=1e-6)
    ids = out["label_id"].numpy()
    assert [x.decode() for x in out["label"].numpy()] == [LABELS[i] for i in ids]
    np.testing.assert_allclose(out["confidence"].numpy(), out["probabilities"].numpy().max(1))
    assert module.embed(tf.constant(["a", "b"]))["embedding"].shape == (2, 32)


def test_saved_model_reloads_with_identical_outputs(module, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS) + "\n")
    path = export.save_serving_model(module, tmp_path / "model", asset_files=[labels])
    texts = ["great service", "the app crashed again", "", "é ü 東京 🙂"]
    loaded = export.load(path)
    got_labels, probs = loaded.predict(texts, batch_size=3)
    expected = module.serve(tf.constant(texts))["probabilities"].numpy()
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    assert got_labels == [LABELS[i] for i in expected.argmax(1)]
    sig = tf.saved_model.load(str(path)).signatures["serving_default"]
    assert sig.structured_input_signature[1]["text"].shape.as_list() == [None]
    assert set(sig.structured_outputs) == {"probabilities", "label", "label_id", "confidence"}


def test_save_refuses_to_overwrite(module, tmp_path):
    (tmp_path / "model").mkdir()
    with pytest.raises(TfclfError, match="overwrite"):
        export.save_serving_model(module, tmp_path / "model")


def test_load_rejects_a_folder_that_is_no_model(tmp_path):
    with pytest.raises(TfclfError, match="neither a tfclf run directory nor a SavedModel"):
        export.load(tmp_path)
