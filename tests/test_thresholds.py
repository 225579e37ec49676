"""tfclf.thresholds: per-label F1 tuning, the >= rule, thresholds.json."""
import json

import numpy as np
import pytest
from sklearn.metrics import f1_score

from tfclf import thresholds
from tfclf.errors import TfclfError


def test_tuned_threshold_maximises_each_labels_f1():
    rng = np.random.default_rng(0)
    y = (rng.random((200, 3)) < [0.5, 0.2, 0.05]).astype(int)
    p = np.clip(y * 0.3 + rng.random((200, 3)) * 0.6, 0, 1)  # positives score higher on average
    t = thresholds.tune_per_label_f1(y, p)
    for c in range(3):
        best = f1_score(y[:, c], p[:, c] >= t[c])
        # no other cut does better
        for cut in np.unique(p[:, c]):
            assert f1_score(y[:, c], p[:, c] >= cut) <= best + 1e-12
        assert 0 < t[c] < 1
    fixed = f1_score(y, p >= 0.5, average="macro", zero_division=0)
    assert f1_score(y, thresholds.predict(p, t), average="macro") > fixed


def test_threshold_sits_between_the_kept_and_the_dropped_score():
    y = np.array([[1], [1], [0], [0]])
    p = np.array([[0.9], [0.4], [0.3], [0.1]])
    assert thresholds.tune_per_label_f1(y, p)[0] == pytest.approx(0.35)


def test_label_without_positives_keeps_the_default():
    y = np.array([[1, 0], [0, 0]])
    p = np.array([[0.8, 0.9], [0.2, 0.1]])
    assert thresholds.tune_per_label_f1(y, p, default=0.42)[1] == pytest.approx(0.42)


def test_predict_is_greater_or_equal_in_float32():
    p = np.array([[0.5, 0.49999]], np.float32)
    assert thresholds.predict(p, [0.5, 0.5]).tolist() == [[True, False]]


def test_shapes_must_match():
    with pytest.raises(ValueError, match=r"\[N, C\]"):
        thresholds.tune_per_label_f1(np.zeros((3, 2)), np.zeros((3, 1)))


def test_save_load_round_trip(tmp_path):
    t = thresholds.Thresholds({"b": 0.3, "a": 0.7}, "per-label-f1", "validation")
    t.save(tmp_path)
    back = thresholds.load(tmp_path)
    assert back == t
    assert back.array(["a", "b"]).tolist() == pytest.approx([0.7, 0.3])
    assert thresholds.load(tmp_path / "none") is None


def test_damaged_or_incomplete_file_is_named(tmp_path):
    (tmp_path / "thresholds.json").write_text(json.dumps({"thresholds": {"a": 1.5}}))
    with pytest.raises(TfclfError, match=r"thresholds.json.*outside \(0, 1\)"):
        thresholds.load(tmp_path)
    thresholds.Thresholds.fixed(["a"]).save(tmp_path)
    with pytest.raises(TfclfError, match=r"no threshold for label\(s\) \['b'\]"):
        thresholds.load(tmp_path).array(["a", "b"])


def test_a_float64_probability_equal_to_a_float32_threshold_decides_as_the_server_does():
    # 0.4 in float64 is below float32(0.4); TF Serving compares float32 with float32: predicted.
    assert thresholds.predict(np.array([[0.4]]), np.array([0.4], np.float32)).tolist() == [[True]]


def test_mcc_tuning_weighs_absence_like_presence():
    # A frequent label (80% positive): F1 of its presence buys the last positive with a false
    # positive; MCC keeps the cut that also gets the negatives right.
    y = np.array([[1]] * 8 + [[0]] * 2)
    p = np.array([[0.9], [0.85], [0.8], [0.75], [0.7], [0.65], [0.6], [0.2], [0.3], [0.1]])
    f1_cut = thresholds.tune_per_label(y, p, metric="f1")[0]
    mcc_cut = thresholds.tune_per_label(y, p, metric="mcc")[0]
    # F1 keeps the positive at 0.2 and so the negative at 0.3: 16/17 = 0.941 beats 14/15 at 0.45
    assert f1_cut == pytest.approx(0.15)
    # MCC: 0.764 at 0.45 (one positive missed, both negatives right) against 0.667 at 0.15
    assert mcc_cut == pytest.approx(0.45)
    from sklearn.metrics import matthews_corrcoef
    assert matthews_corrcoef(y[:, 0], p[:, 0] >= mcc_cut) > matthews_corrcoef(y[:, 0], p[:, 0] >= f1_cut)


def test_mcc_tuning_keeps_the_default_for_a_label_that_is_always_present():
    y = np.array([[1, 1], [1, 0]])
    p = np.array([[0.9, 0.8], [0.4, 0.3]])
    assert thresholds.tune_per_label(y, p, metric="mcc", default=0.42)[0] == pytest.approx(0.42)
    with pytest.raises(ValueError, match="f1 or mcc"):
        thresholds.tune_per_label(y, p, metric="auc")
