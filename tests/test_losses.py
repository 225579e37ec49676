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


# ------------------------------------------------------------------------------ multi-label

from tfclf.losses import BinaryCrossentropyWithPositiveWeights  # noqa: E402


def _bce(y, logits, pos_weight=None):
    p = 1 / (1 + np.exp(-logits))
    w = np.ones(logits.shape[-1]) if pos_weight is None else np.asarray(pos_weight)
    return -(w * y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=-1).mean()


def test_binary_crossentropy_equals_keras_without_weights():
    logits = np.array([[2.0, -1.0, 0.5], [0.1, -2.0, 3.0]], np.float32)
    y = np.array([[1, 0, 1], [0, 0, 1]], np.float32)
    ours = BinaryCrossentropyWithPositiveWeights()(y, logits)
    ref = tf_keras.losses.BinaryCrossentropy(from_logits=True)(y, logits)
    assert float(ours) == pytest.approx(float(ref), rel=1e-6)
    assert float(ours) == pytest.approx(_bce(y, logits), rel=1e-5)


def test_positive_weights_scale_only_the_positive_term_of_their_label():
    logits = np.array([[2.0, -1.0, 0.5], [0.1, -2.0, 3.0]], np.float32)
    y = np.array([[1, 0, 1], [0, 1, 1]], np.float32)
    w = [3.0, 1.0, 0.5]
    got = float(BinaryCrossentropyWithPositiveWeights(pos_weight=w)(y, logits))
    assert got == pytest.approx(_bce(y, logits, w), rel=1e-5)
    assert got != pytest.approx(_bce(y, logits), rel=1e-3)
    # a negative-only label ignores its weight
    y0 = np.zeros_like(y)
    assert float(BinaryCrossentropyWithPositiveWeights(pos_weight=w)(y0, logits)) == pytest.approx(
        _bce(y0, logits), rel=1e-5)


def test_binary_smoothing_moves_targets_toward_one_half():
    logits = np.array([[2.0, -1.0]], np.float32)
    y = np.array([[1.0, 0.0]], np.float32)
    s = 0.2
    expected = _bce(y * (1 - s) + s / 2, logits)
    assert float(BinaryCrossentropyWithPositiveWeights(label_smoothing=s)(y, logits)) == pytest.approx(
        expected, rel=1e-5)
    ref = tf_keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=s)(y, logits)
    assert float(BinaryCrossentropyWithPositiveWeights(label_smoothing=s)(y, logits)) == pytest.approx(
        float(ref), rel=1e-5)


def test_binary_config_round_trip():
    loss = BinaryCrossentropyWithPositiveWeights(label_smoothing=0.1, pos_weight=[2.0, 0.5])
    back = BinaryCrossentropyWithPositiveWeights.from_config(loss.get_config())
    assert (back.label_smoothing, back.pos_weight) == (0.1, [2.0, 0.5])
