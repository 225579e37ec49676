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
