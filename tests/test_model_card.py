"""MODEL_CARD.md: rendered from hand-written run files (fast), and written by a real run and export."""
import json
import re

import pytest
import yaml

from tfclf import model_card, rundir


def section(card, title):
    """The lines of ``## title`` up to the next ``## ``."""
    body = card.split(f"\n## {title}\n", 1)[1]
    return body.split("\n## ", 1)[0]


def write_run(folder, *, bootstrap=True, multi_label=False, train_counts=(120, 30, 400)):
    """A run folder with hand-written config.yaml, labels.txt, metrics.json and data_report.json."""
    folder.mkdir(parents=True)
    labels = ["account", "billing", "shipping"]
    (folder / rundir.LABELS).write_text("\n".join(labels) + "\n")
    (folder / rundir.CONFIG).write_text(yaml.safe_dump({
        "data": {"data": "tickets.csv", "task": "multi-label" if multi_label else "single-label"},
        "model": {"encoder": "minilm", "seq_length": 128, "pooling": "mean", "long_text": "truncate",
                  "trainable": "all", "dropout": 0.1},
        "optimizer": {"schedule": "piecewise", "values": [5e-5, 1e-5], "boundaries": [1000]},
        "train": {"epochs": 3, "batch_size": 32, "monitor": "val_f1_macro", "seed": 42, "seeds": []},
        rundir.RESOLVED_ENCODER: {"encoder": "/cache/minilm/encoder", "preprocessor": "/cache/minilm/preprocessor"},
    }, sort_keys=False))
    metrics = {
        "task": "multi-label" if multi_label else "single-label", "split": "test", "n_examples": 250,
        "accuracy": 0.872, "f1_macro": 0.81234, "f1_weighted": 0.86, "mcc": 0.79, "roc_auc": 0.95, "ece": 0.031,
        "labels": labels,
        "per_class": {"account": {"precision": 0.9, "recall": 0.95, "f1": 0.92, "support": 100},
                      "billing": {"precision": 0.7, "recall": 0.5, "f1": 0.5833, "support": 50},
                      "shipping": {"precision": 0.88, "recall": 0.9, "f1": 0.89, "support": 100}},
        "confusion_matrix": [[95, 3, 2], [20, 25, 5], [4, 6, 90]],
    }
    if bootstrap:
        metrics["bootstrap"] = {
            "accuracy": {"low": 0.83, "high": 0.91, "std": 0.02, "n_resamples": 1000, "confidence": 0.95, "seed": 42},
            "f1_macro": {"low": 0.76, "high": 0.86, "std": 0.025, "n_resamples": 1000, "confidence": 0.95, "seed": 42}}
    (folder / rundir.METRICS).write_text(json.dumps(metrics))
    counts = dict(zip(labels, train_counts))
    (folder / rundir.DATA_REPORT).write_text(json.dumps({
        "inputs": [{"role": "--data", "path": "tickets.csv", "format": "delimited", "rows_read": 900}],
        "multi_label": multi_label,
        "splits": {"train": {"rows": sum(counts.values()), "labels": counts},
                   "validation": {"rows": 60, "labels": {"account": 20, "billing": 20, "shipping": 20}},
                   "test": {"rows": 250, "labels": {"account": 100, "billing": 50, "shipping": 100}}},
        "dropped": {"empty_text": 7, "unknown_label": 0},
        "duplicates": {"across": {"train/test": 3, "train/validation": 0}},
        "lengths": {"train": {"chars": {"p50": 180.0, "p95": 900.4, "max": 4000},
                              "tokens": {"p50": 45.0, "p95": 220.0, "max": 1000},
                              "seq_length": 128, "truncated_rate": 0.083}},
    }))
    return folder


VERSIONS = {"tfclf": "9.9.9", "tensorflow": "2.20.0", "tensorflow-text": "2.20.1"}


def test_card_of_hand_written_run_files(tmp_path):
    card = model_card.render_model_card(write_run(tmp_path / "tickets"), versions=VERSIONS)
    assert card.startswith("# Model card: tickets\n")
    assert "Not available" not in card
    model = section(card, "Model")
    assert "Encoder: `minilm`, loaded from `/cache/minilm/encoder`" in model
    assert "Preprocessor (tokeniser): `/cache/minilm/preprocessor`" in model
    assert "single-label" in model and "over 3 labels" in model and "sequence length 128" in model
    assert "`account`, `billing`, `shipping`" in section(card, "Labels")

    data = section(card, "Training data")
    assert "`--data` `tickets.csv` (delimited): 900 rows read." in data
    assert "| label | train | validation | test |" in data
    assert "| billing | 30 | 20 | 50 |" in data and "| **rows** | 550 | 60 | 250 |" in data
    assert "Dropped before training: 7 (empty_text)." in data and "unknown_label" not in data
    assert "Identical texts in two splits: 3 (train/test)" in data

    evaluation = section(card, "Evaluation")
    assert "On the `test` split, 250 examples." in evaluation
    assert "| accuracy | 0.8720 | 95% CI 0.8300–0.9100 |" in evaluation
    assert "| f1_macro | 0.8123 | 95% CI 0.7600–0.8600 |" in evaluation
    assert "| mcc | 0.7900 | - |" in evaluation  # no interval recorded for it
    assert "bootstrap over 1000 resamples" in evaluation

    weaknesses = section(card, "Weaknesses")
    assert weaknesses.index("`billing` (F1 0.5833") < weaknesses.index("`shipping` (F1 0.8900") \
        < weaknesses.index("`account` (F1 0.9200")
    assert "Lowest recall (the labels it misses most): `billing` (0.5000)" in weaknesses
    confusions = re.findall(r"^- `(\w+)` → `(\w+)`: (\d+) of (\d+)", weaknesses, re.M)
    assert confusions[:3] == [("billing", "account", "20", "50"), ("shipping", "billing", "6", "100"),
                              ("billing", "shipping", "5", "50")]
    assert len(confusions) == model_card.TOP_CONFUSIONS

    limits = section(card, "Intended use and limits")
    assert "Intended use:" in limits and "no \"other\" or \"unsure\" answer" in limits
    assert "180 characters at the median, 900 at the 95th percentile and 4000 at most" in limits
    assert "It reads at most 128 tokens per text" in limits and "8.3% of the training texts were longer" in limits
    assert "Few training examples (under 50): `billing` (30);" in limits
    assert "Small evaluation set: 250 examples" in limits and "(see the intervals above)" in limits

    usage = section(card, "How to call it")
    assert "`serving_default`: `text`: `[batch] tf.string`" in usage and "`embed`:" in usage
    assert "python -m tfclf.export RUN_DIR --export-dir serving/tickets" in usage
    assert '"signature_name": "embed"' in usage

    versions = section(card, "Versions")
    assert "| tfclf | 9.9.9 |" in versions and "| tensorflow-text | 2.20.1 |" in versions


def test_card_without_intervals_says_how_to_get_them(tmp_path):
    card = model_card.render_model_card(write_run(tmp_path / "r", bootstrap=False, train_counts=(60, 60, 60)),
                                        versions=VERSIONS)
    evaluation = section(card, "Evaluation")
    assert "| accuracy | 0.8720 | - |" in evaluation
    assert "No confidence intervals: the run was trained without `--bootstrap`." in evaluation
    assert "`--bootstrap 1000` measures by how much" in card
    assert "Few training examples" not in card


def test_card_names_missing_and_damaged_files(tmp_path):
    run = write_run(tmp_path / "r")
    (run / rundir.DATA_REPORT).unlink()
    (run / rundir.METRICS).write_text("{not json")
    card = model_card.render_model_card(run, versions=VERSIONS)
    assert "**Not available:** `metrics.json` (unreadable: " in card and "`data_report.json` (missing)" in card
    assert "data_report.json is missing: nothing is known here about the training data." in card
    assert "metrics.json is missing: this model has no recorded evaluation." in card
    assert "Encoder: `minilm`" in card  # what the remaining files say is still there


def test_export_card_uses_the_export_info(tmp_path):
    run = write_run(tmp_path / "r")
    info = {"tfclf_version": "1.2.3", "format": "ids", "model_name": "tickets", "version": 7,
            "run_dir": str(run), "tensorflow": "2.20.0", "tensorflow_text": "2.20.1",
            "serving_image": "tensorflow/serving:2.20.0"}
    path = model_card.write_model_card(tmp_path / "7" / "assets.extra" / rundir.MODEL_CARD, run, export_info=info)
    card = path.read_text()
    assert card.startswith("# Model card: tickets\n") and "for export version 7" in card
    assert "Export: `--format ids`, model name `tickets`, version 7" in card
    usage = section(card, "How to call it")
    assert "`input_word_ids`, `input_mask`, `input_type_ids`" in usage
    assert "/v1/models/tickets/versions/7:predict" in usage and "`tensorflow/serving:2.20.0`" in usage
    assert 'model_spec.name = "tickets"' in usage and "tfclf.load" not in usage
    # The export's recorded versions, not this environment's.
    assert "| tfclf | 1.2.3 |" in section(card, "Versions")
    assert not [p for p in path.parent.iterdir() if p.name != rundir.MODEL_CARD]  # no temporary file left


def test_multi_label_card(tmp_path):
    run = write_run(tmp_path / "r", multi_label=True)
    metrics = json.loads((run / rundir.METRICS).read_text())
    metrics.update({"f1_micro": 0.7, "subset_accuracy": 0.5, "hamming_loss": 0.12,
                    "per_label": metrics.pop("per_class")})
    (run / rundir.METRICS).write_text(json.dumps(metrics))
    card = model_card.render_model_card(run, versions=VERSIONS)
    assert "multi-label (any subset of the labels per text)" in card
    assert "| f1_micro | 0.7000 | - |" in card and "| hamming_loss | 0.1200 | - |" in card
    assert "A text may get no label at all" in card
    assert "`labels` `[batch, C] tf.string`" in card and "`billing` (F1 0.5833" in card


# ------------------------------------------------------------------------ real runs

def test_a_real_run_writes_its_card(run_dir):
    card = (run_dir / rundir.MODEL_CARD).read_text()
    assert card == model_card.render_model_card(run_dir)
    saved = yaml.safe_load((run_dir / rundir.CONFIG).read_text())
    metrics = json.loads((run_dir / rundir.METRICS).read_text())
    report = json.loads((run_dir / rundir.DATA_REPORT).read_text())
    assert f"loaded from `{saved[rundir.RESOLVED_ENCODER]['encoder']}`" in card
    assert f"| **rows** | {report['splits']['train']['rows']} |" in card
    assert f"| accuracy | {metrics['accuracy']:.4f} | - |" in card
    assert f"On the `{metrics['split']}` split, {metrics['n_examples']} examples." in card
    assert "`serving_default`" in card and "`embed`" in card
    for package, version in model_card.installed_versions().items():
        assert f"| {package} | {version} |" in card


@pytest.mark.parametrize("name", ["tensorflow", "tf-keras", "tensorflow-hub", "tensorflow-text"])
def test_installed_versions_names_the_serving_packages(name):
    import importlib.metadata

    assert model_card.installed_versions()[name] == importlib.metadata.version(name)
