"""``python -m tfclf.baseline``: the flags, the folder, the printed table."""
import csv
import json


from tfclf import baseline
from tfclf.config import DataConfig
from tfclf.data import LABEL, load_splits

from keyword_data import KEYWORDS, keyword_rows
from test_baselines import ML_LABELS, multi_label_rows


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)
    return path


def test_cli_uses_the_same_splits_as_fit(tmp_path, capsys):
    data = write_csv(tmp_path / "d.csv", keyword_rows(60, 2))
    code = baseline.main(["--method", "tfidf-logreg", "--data", str(data), "--seed", "5",
                          "--split", "0.6,0.2,0.2", "--logreg-c", "2", "--output-dir", str(tmp_path / "out")])
    assert code == 0
    out = capsys.readouterr().out
    assert "Metrics on the test split" in out and "Baseline directory:" in out
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    splits = load_splits(DataConfig(data=str(data), split=(0.6, 0.2, 0.2)), 5)
    assert m["n_examples"] == len(splits.test)
    assert [m["per_class"][k]["support"] for k in sorted(KEYWORDS)] == \
        [int((splits.test[LABEL] == k).sum()) for k in sorted(KEYWORDS)]
    assert m["baseline"]["logreg_c"] == 2.0 and m["baseline"]["seed"] == 5
    assert (tmp_path / "out" / "report.md").is_file()
    # An existing folder is refused (exit 2, one message).
    assert baseline.main(["--method", "majority", "--data", str(data), "--output-dir",
                          str(tmp_path / "out")]) == 2
    assert "already exists" in capsys.readouterr().err


def test_baseline_flags_are_checked_like_every_other_flag(tmp_path, capsys):
    """The flags come from the one generator: a bad value is a TfclfError naming the flag (exit 2,
    one line), as for --epochs; the baseline's own converter used to leave it to argparse."""
    data = write_csv(tmp_path / "d.csv", keyword_rows(60, 2))
    argv = ["--method", "tfidf-logreg", "--data", str(data), "--output-dir", str(tmp_path / "out")]
    assert baseline.main(argv + ["--logreg-c", "abc"]) == 2
    err = capsys.readouterr().err
    assert "--logreg-c expects float. Received: 'abc'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    assert baseline.main(argv + ["--tfidf-max-features", "none", "--logreg-class-weight", "balanced"]) == 0
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert m["baseline"]["tfidf_max_features"] is None and m["baseline"]["logreg_class_weight"] == "balanced"


def test_cli_multi_label_with_a_label_separator(tmp_path, capsys):
    rows = [(text, "|".join(labels)) for text, labels in multi_label_rows(140, 4)]
    data = write_csv(tmp_path / "d.csv", rows)
    argv = ["--data", str(data), "--label-separator", "|", "--seed", "5", "--split", "0.6,0.2,0.2"]
    assert baseline.main(["--method", "tfidf-logreg", *argv, "--output-dir", str(tmp_path / "tfidf")]) == 0
    out = capsys.readouterr().out
    assert "multi-label" in out and "f1_micro" in out and "Baseline directory:" in out
    m = json.loads((tmp_path / "tfidf" / "metrics.json").read_text())
    splits = load_splits(DataConfig(data=str(data), label_separator="|", split=(0.6, 0.2, 0.2)), 5)
    assert m["task"] == "multi-label" and m["labels"] == list(ML_LABELS)
    assert m["n_examples"] == len(splits.test) == 28
    assert [m["per_label"][k]["support"] for k in ML_LABELS] == \
        [sum(k in labels for labels in splits.test[LABEL]) for k in ML_LABELS]
    assert m["f1_micro"] > 0.95
    assert (tmp_path / "tfidf" / "report.md").is_file()
    # Every label is in 48 of the 84 training rows (0.571): majority predicts all three at the
    # default threshold 0.5, none at --threshold 0.6 (every label's threshold).
    assert [sum(k in labels for labels in splits.train[LABEL]) for k in ML_LABELS] == [48, 48, 48]
    assert len(splits.train) == 84
    for threshold, predicted in ((None, ML_LABELS), ("0.6", ())):
        folder = tmp_path / f"majority-{threshold}"
        flags = ["--threshold", threshold] if threshold else []
        assert baseline.main(["--method", "majority", *argv, *flags, "--output-dir", str(folder)]) == 0
        m = json.loads((folder / "metrics.json").read_text())
        assert m["thresholds"] == {k: float(threshold or 0.5) for k in ML_LABELS}
        assert m["threshold_strategy"] == "fixed"
        assert m["baseline"]["majority_labels"] == list(predicted)
        assert m["cardinality"]["predicted"] == len(predicted)
        assert [m["per_label"][k]["predicted"] for k in ML_LABELS] == [28 * (k in predicted) for k in ML_LABELS]
    capsys.readouterr()
    assert baseline.main(["--method", "majority", *argv, "--threshold", "1.5",
                          "--output-dir", str(tmp_path / "bad")]) == 2
    assert "--threshold must be in (0, 1). Received: threshold=1.5" in capsys.readouterr().err


def test_cli_bootstrap_and_eval_split(tmp_path, capsys):
    """--bootstrap N gives the baseline fit's confidence intervals; --eval-split picks the split."""
    data = write_csv(tmp_path / "d.csv", keyword_rows(60, 2))
    argv = ["--method", "tfidf-logreg", "--data", str(data), "--split", "0.6,0.2,0.2"]
    assert baseline.main(argv + ["--bootstrap", "200", "--eval-split", "validation",
                                 "--output-dir", str(tmp_path / "out")]) == 0
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    ci = m["bootstrap"]["accuracy"]
    assert m["split"] == "validation" and ci["n_resamples"] == 200 and ci["confidence"] == 0.95
    assert 0.0 <= ci["low"] <= m["accuracy"] <= ci["high"] <= 1.0
    assert "Metrics on the validation split" in capsys.readouterr().out
    assert baseline.main(argv + ["--bootstrap", "5", "--output-dir", str(tmp_path / "few")]) == 2
    assert "bootstrap" in capsys.readouterr().err and not (tmp_path / "few").exists()
