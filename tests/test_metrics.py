import numpy as np
import pytest
from sklearn.metrics import f1_score, matthews_corrcoef

from tfclf import metrics


def one_hot_logits(pred, c):
    return np.eye(c, dtype=np.float32)[pred]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_streaming_metrics_match_sklearn_over_batches(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, 101)
    p = np.where(rng.random(101) < 0.6, y, rng.integers(0, 4, 101))
    f1, mcc = metrics.F1Macro(4), metrics.MatthewsCorrelation(4)
    for start in range(0, 101, 32):  # batches accumulate; the result is over all of them
        for m in (f1, mcc):
            m.update_state(y[start:start + 32], one_hot_logits(p[start:start + 32], 4))
    assert float(f1.result()) == pytest.approx(f1_score(y, p, average="macro", labels=range(4)), abs=1e-6)
    assert float(mcc.result()) == pytest.approx(matthews_corrcoef(y, p), abs=1e-6)
    f1.reset_state()
    assert float(f1.result()) == 0.0


def test_class_never_seen_counts_zero_in_macro_f1():
    f1 = metrics.F1Macro(3)
    f1.update_state(np.array([0, 1]), one_hot_logits(np.array([0, 1]), 3))
    assert float(f1.result()) == pytest.approx(2 / 3)


# ------------------------------------------------------------------------------ multi-label

def _logits(p):
    p = np.clip(np.asarray(p, np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p)).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1])
def test_multilabel_streaming_metrics_match_sklearn_over_batches(seed):
    from sklearn.metrics import accuracy_score

    rng = np.random.default_rng(seed)
    y = (rng.random((77, 4)) < 0.4).astype(np.float32)
    p = np.where(rng.random((77, 4)) < 0.7, y * 0.8 + 0.1, rng.random((77, 4)))
    pred = p >= 0.5
    ms = {"micro": metrics.MultiLabelF1(4, "micro"), "macro": metrics.MultiLabelF1(4, "macro"),
          "acc": metrics.SubsetAccuracy(4), "mcc": metrics.MultiLabelMCC(4)}
    for start in range(0, 77, 16):
        for m in ms.values():
            m.update_state(y[start:start + 16], _logits(p[start:start + 16]))
    assert float(ms["micro"].result()) == pytest.approx(f1_score(y, pred, average="micro"), abs=1e-6)
    assert float(ms["macro"].result()) == pytest.approx(f1_score(y, pred, average="macro", zero_division=0),
                                                        abs=1e-6)
    assert float(ms["acc"].result()) == pytest.approx(accuracy_score(y, pred), abs=1e-6)
    assert float(ms["mcc"].result()) == pytest.approx(
        np.mean([matthews_corrcoef(y[:, c], pred[:, c]) for c in range(4)]), abs=1e-6)
    assert [m.name for m in ms.values()] == ["f1_micro", "f1_macro", "accuracy", "mcc"]


def test_multilabel_metrics_decide_at_their_threshold():
    y = np.array([[1, 0]], np.float32)
    logits = _logits([[0.6, 0.2]])
    loose, strict = metrics.MultiLabelF1(2, "micro", threshold=0.5), metrics.MultiLabelF1(2, "micro",
                                                                                       threshold=0.7)
    loose.update_state(y, logits)
    strict.update_state(y, logits)
    assert float(loose.result()) == pytest.approx(1.0)
    assert float(strict.result()) == pytest.approx(0.0)


def test_multilabel_metric_config_round_trip():
    m = metrics.MultiLabelF1(3, "macro", threshold=0.3)
    back = metrics.MultiLabelF1.from_config(m.get_config())
    assert (back.num_labels, back.average, back.threshold, back.name) == (3, "macro", 0.3, "f1_macro")
