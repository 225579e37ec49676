import numpy as np
import pytest
import tensorflow as tf

from tfclf.config import Pooling
from tfclf.errors import TfclfError
from tfclf.model import build_classifier
from tfclf.serving import loaded, signatures

LABELS = ["negative", "neutral", "positive"]


@pytest.fixture(scope="module")
def module(tiny_bert):
    models = build_classifier(str(tiny_bert.encoder), 3, pooling=Pooling.MEAN)
    return signatures.ServingModule(str(tiny_bert.preprocessor), 16, models.classifier, models.embedder, LABELS)


def test_saved_model_reloads_with_identical_outputs(module, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS) + "\n")
    path = signatures.save_serving_model(module, tmp_path / "model", asset_files=[labels])
    texts = ["great service", "the app crashed again", "", "é ü 東京 🙂"]
    model = loaded.load(path)
    got_labels, probs = model.predict(texts, batch_size=3)
    expected = module.serve(tf.constant(texts))["probabilities"].numpy()
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    assert got_labels == [LABELS[i] for i in expected.argmax(1)]
    # Batched by length (order 2, 3, 0, 1 here), answered in input order.
    assert loaded.length_order(texts).tolist() == [2, 3, 0, 1]
    np.testing.assert_allclose(model.embed(texts, batch_size=3),
                               module.embed(tf.constant(texts))["embedding"].numpy(), atol=1e-5)
    sig = tf.saved_model.load(str(path)).signatures["serving_default"]
    assert sig.structured_input_signature[1]["text"].shape.as_list() == [None]
    assert set(sig.structured_outputs) == {"probabilities", "label", "label_id", "confidence"}


def test_load_rejects_a_folder_that_is_no_model(tmp_path):
    with pytest.raises(TfclfError, match="neither a tfclf run directory nor a SavedModel"):
        loaded.load(tmp_path)


def test_tfclf_load_is_the_serving_loader():
    import tfclf

    assert tfclf.load is loaded.load
