import json

import numpy as np
import pytest

from tfclf import evaluate


def test_metrics_payload_has_required_keys_and_values(tmp_path):
    y = np.array([0, 0, 1, 1, 2, 2])
    probs = np.eye(3)[[0, 1, 1, 1, 2, 0]] * 0.8 + 0.2 / 3
    m = evaluate.classification_metrics(y, probs, ["a", "b", "c"])
    for key in ("accuracy", "f1_macro", "f1_weighted", "precision_macro", "recall_macro", "mcc",
                "per_class", "confusion_matrix", "n_examples"):
        assert key in m
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["per_class"]["b"] == {"precision": pytest.approx(2 / 3), "recall": 1.0,
                                   "f1": pytest.approx(0.8), "support": 2}
    assert m["n_examples"] == 6
    evaluate.write_metrics(m, tmp_path / "metrics.json")
    assert json.loads((tmp_path / "metrics.json").read_text())["accuracy"] == pytest.approx(4 / 6)
    table = evaluate.format_table(m, "test")
    assert "accuracy" in table and "0.6667" in table and "support" in table
