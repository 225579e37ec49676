import numpy as np
import pytest
import tf_keras

from tfclf.losses import SparseCrossentropyWithSmoothing


def test_without_smoothing_equals_sparse_crossentropy():
    logits = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3]], np.float32)
    y = np.array([0, 2])
    ours = SparseCrossentropyWithSmoothing()(y, logits)
    ref = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits)
    assert float(ours) == pytest.approx(float(ref), rel=1e-6)


def test_smoothing_matches_its_definition():
    logits = np.array([[2.0, -1.0, 0.5]], np.float32)
    s = 0.1
    target = np.array([1 - s + s / 3, s / 3, s / 3])
    log_p = logits[0] - np.log(np.exp(logits[0]).sum())
    expected = -(target * log_p).sum()
    got = SparseCrossentropyWithSmoothing(label_smoothing=s)(np.array([0]), logits)
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_config_round_trip():
    loss = SparseCrossentropyWithSmoothing(label_smoothing=0.2)
    assert SparseCrossentropyWithSmoothing.from_config(loss.get_config()).label_smoothing == 0.2
