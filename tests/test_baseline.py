"""``python -m tfclf.baseline``: the flags, the folder, the printed table."""
import csv
import json


from tfclf import baseline
from tfclf.config import DataConfig
from tfclf.data import LABEL, load_splits

from keyword_data import KEYWORDS, keyword_rows


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
