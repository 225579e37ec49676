"""``python -m tfclf.predict_beam``: Beam RunInference over an export equals ``tfclf.predict`` and ``tfclf.evaluate``.

The pipeline tests are marked ``beam``: they need Apache Beam, which lives in its own venv
(``.venv-beam``, requirements-beam.txt: Beam 2.77 needs pyarrow<26 and protobuf<7), and
run with ``bash scripts/test_beam.sh`` (part of ``bash scripts/test.sh``). The default run
(``-m "not slow and not beam"``) keeps the tests that need no Beam: the sufficient
statistics against ``classification_metrics``, and the message when Beam is missing.

One DirectRunner pipeline (module fixture ``beam_run``) reads a labelled CSV with two
malformed rows into 3 shards; the tests check its outputs against ``tfclf.predict`` and
``tfclf.evaluate`` on the same rows.
"""
from __future__ import annotations

import csv
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from keyword_data import keyword_rows
from tfclf import evaluation
from tfclf.beam.sufficient_statistics import SufficientStatistics

HAS_BEAM = importlib.util.find_spec("apache_beam") is not None
beam = pytest.mark.beam
needs_beam = pytest.mark.skipif(not HAS_BEAM, reason="needs apache-beam: bash scripts/test_beam.sh (.venv-beam)")
N_ROWS = 40
DIRECT = ["--runner", "DirectRunner"]


# ------------------------------------------------------------------------------ no Beam needed

def _probabilities(n: int, c: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    logits = rng.normal(size=(n, c)) * 2
    logits[np.arange(n), y] += 1.5
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, p.astype(np.float32)


def test_small_statistics_give_exactly_classification_metrics():
    y, p = _probabilities(300, 4, 0)
    names = ["a", "b", "c", "d"]
    parts = [SufficientStatistics(4).add(y[i:i + 70], p[i:i + 70]) for i in range(0, 300, 70)]
    merged = parts[0]
    for part in parts[1:]:
        merged.merge(part)
    assert merged.exact
    assert merged.metrics(names) == evaluation.classification_metrics(y, p, names)


def test_large_statistics_are_exact_from_the_confusion_matrix_and_close_elsewhere():
    y, p = _probabilities(6000, 4, 1)
    names = ["a", "b", "c", "d"]
    a, b = SufficientStatistics(4, exact_limit=1000), SufficientStatistics(4, exact_limit=1000)
    a.add(y[:2500], p[:2500])
    b.add(y[2500:], p[2500:])
    got = a.merge(b).metrics(names)
    want = evaluation.classification_metrics(y, p, names)
    assert not a.exact and got["approximated"]["keys"]
    for key in ("accuracy", "precision_macro", "precision_weighted", "recall_macro", "recall_weighted", "f1_macro",
                "f1_weighted", "mcc", "ece"):
        assert got[key] == pytest.approx(want[key], abs=1e-12), key
    assert got["confusion_matrix"] == want["confusion_matrix"]
    _close(got["calibration"], want["calibration"])
    assert got["roc_auc"] == pytest.approx(want["roc_auc"], abs=1e-4)
    for name in names:
        g, w = got["per_class"][name], want["per_class"][name]
        assert {k: g[k] for k in ("precision", "recall", "f1", "support")} == \
               pytest.approx({k: w[k] for k in ("precision", "recall", "f1", "support")}, abs=1e-12)
        assert g["roc_auc"] == pytest.approx(w["roc_auc"], abs=1e-4)
        gc, wc = got["confidence_by_class"][name], want["confidence_by_class"][name]
        assert {k: gc[k] for k in ("n", "mean", "min", "max")} == \
               pytest.approx({k: wc[k] for k in ("n", "mean", "min", "max")}, abs=1e-12)
        assert [gc[k] for k in ("q1", "median", "q3")] == pytest.approx([wc[k] for k in ("q1", "median", "q3")],
                                                                         abs=5e-3)


@pytest.mark.skipif(HAS_BEAM, reason="checks the message when Apache Beam is not installed")
def test_without_beam_the_command_says_how_to_install_it(tmp_path, capsys):
    from tfclf import predict_beam

    code = predict_beam.main(["--model", str(tmp_path), "--input", "x.csv", "--output", str(tmp_path / "p")])
    assert code == 2
    assert "requirements-beam.txt" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------ Beam pipelines

def _write_input(path: Path, malformed: bool) -> Path:
    """id,text,label rows of the keyword data; with ``malformed``, two rows that do not parse."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "text", "label"])
        for i, (text, label) in enumerate(keyword_rows(N_ROWS, seed=7)):
            w.writerow([f"r{i}", text, label])
            if malformed and i == 10:
                f.write('bad1,"too",many,fields\n')  # 4 fields under a 3-field header
            if malformed and i == 20:
                f.write('bad2,"closed"then text,billing\n')  # text after a closing quote: csv.Error
    return path


def _read_shards(pattern: str) -> list[dict]:
    rows = []
    for shard in sorted(Path(pattern).parent.glob(Path(pattern).name)):
        with open(shard, newline="", encoding="utf-8") as f:
            rows += list(csv.DictReader(f))
    return rows


@pytest.fixture(scope="module")
def beam_run(exported, tmp_path_factory):
    from tfclf.beam import pipeline

    tmp = tmp_path_factory.mktemp("beam")
    source = _write_input(tmp / "labelled.csv", malformed=True)
    # The model folder: its highest version is used, as by tfclf.predict.
    summary = pipeline.predict_files(str(exported.path.parent), [str(source)], str(tmp / "out" / "preds"), label_column="label", num_shards=3,
                                     max_batch_size=8, pipeline_args=DIRECT)
    return tmp, summary


@beam
@needs_beam
def test_predictions_equal_tfclf_predict_row_for_row(beam_run, exported):
    from tfclf import prediction

    tmp, summary = beam_run
    clean = _write_input(tmp / "clean.csv", malformed=False)
    prediction.predict_file(str(exported.path), str(clean), str(tmp / "predict.csv"), progress=False)
    with open(tmp / "predict.csv", newline="", encoding="utf-8") as f:
        expected = list(csv.DictReader(f))
    got = {row["id"]: row for row in _read_shards(summary.outputs["predictions"])}
    assert len(got) == len(expected) == N_ROWS
    header = next(csv.reader(open(sorted(Path(summary.outputs["predictions"]).parent.glob("preds-*.csv"))[0])))
    assert header == list(expected[0])  # the same columns, in the same order (input_label included)
    assert "input_label" in header
    for want in expected:
        row = got[want["id"]]
        for column, value in want.items():
            if column == "confidence" or column.endswith("_probability"):
                assert float(row[column]) == pytest.approx(float(value), abs=1e-6), (want["id"], column)
            else:
                assert row[column] == value, (want["id"], column)


@beam
@needs_beam
def test_malformed_rows_go_to_the_dead_letter_output_and_the_rest_is_predicted(beam_run):
    tmp, summary = beam_run
    letters = [json.loads(line) for shard in sorted(Path(summary.outputs["dead_letter"]).parent.glob(
        Path(summary.outputs["dead_letter"]).name)) for line in open(shard, encoding="utf-8")]
    assert sorted(d["raw"].split(",")[0] for d in letters) == ["bad1", "bad2"]
    by_id = {d["raw"].split(",")[0]: d for d in letters}
    assert by_id["bad1"]["line"] == 13 and "expected 3 fields" in by_id["bad1"]["reason"]
    assert by_id["bad2"]["line"] == 24 and "malformed" in by_id["bad2"]["reason"]
    assert all(d["file"].endswith("labelled.csv") for d in letters)
    counters = summary.counters
    assert counters["rows_read"] == N_ROWS + 2
    assert counters["rows_predicted"] == N_ROWS and counters["rows_dead_lettered"] == 2
    assert counters["files_read"] == 1 and counters["files_dead_lettered"] == 0
    written = json.loads(Path(summary.outputs["summary"]).read_text(encoding="utf-8"))
    assert written["counters"] == counters
    assert not [p for p in Path(summary.outputs["summary"]).parent.iterdir() if p.name.endswith(".tmp")]


@beam
@needs_beam
def test_sharded_outputs_hold_every_row_once(beam_run):
    tmp, summary = beam_run
    shards = sorted(Path(summary.outputs["predictions"]).parent.glob("preds-*-of-00003.csv"))
    assert len(shards) == 3
    ids = [row["id"] for row in _read_shards(summary.outputs["predictions"])]
    assert sorted(ids) == sorted(f"r{i}" for i in range(N_ROWS))


@beam
@needs_beam
def test_evaluation_equals_tfclf_evaluate(beam_run, run_dir):
    tmp, summary = beam_run
    clean = _write_input(tmp / "clean_eval.csv", malformed=False)
    _, want = evaluation.evaluate_run(run_dir, str(clean), output_dir=str(tmp / "eval"))
    got = json.loads(Path(summary.outputs["metrics"]).read_text(encoding="utf-8"))
    assert got == summary.metrics
    for key in ("model", "data"):
        got.pop(key), want.pop(key)
    assert set(got) == set(want)
    assert got["confusion_matrix"] == want["confusion_matrix"] and got["n_examples"] == N_ROWS
    _close(got, want)


def _close(a, b, where: str = "") -> None:
    """Nested equality with floats within 1e-6 (batches differ, so probabilities differ in the last bits)."""
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, abs=1e-6), where
    else:
        assert a == b, where


@beam
@needs_beam
def test_jsonl_in_parquet_out_and_the_command_line(exported, tmp_path, capsys):
    import pyarrow.parquet as pq

    from tfclf.__main__ import main

    source = tmp_path / "texts.jsonl"
    lines = [json.dumps({"text": t, "n": i}) for i, (t, _) in enumerate(keyword_rows(12, seed=3))]
    source.write_text("\n".join(lines[:5] + ["{not json"] + lines[5:]) + "\n", encoding="utf-8")
    (tmp_path / "zz.jsonl").write_text('{"body": "no text key"}\n', encoding="utf-8")
    (tmp_path / "zz.jsonl.gz").write_bytes(b"not gzip at all")  # the whole file: one dead letter at line 0
    code = main(["predict-beam", "--model", str(exported.path), "--input", str(tmp_path / "*.jsonl*"),
                 "--output", str(tmp_path / "out" / "p"), "--output-format", "parquet", "--top-k", "1",
                 "--runner", "DirectRunner"])
    assert code == 0, capsys.readouterr().err
    table = pq.read_table(sorted((tmp_path / "out").glob("p-*.parquet")))
    assert table.column_names == ["text", "n", "label", "confidence", "top1_label", "top1_probability"]
    assert sorted(int(n) for n in table.column("n").to_pylist()) == list(range(12))
    summary = json.loads((tmp_path / "out" / "p-summary.json").read_text(encoding="utf-8"))
    counters = summary["counters"]
    assert (counters["rows_dead_lettered"], counters["rows_predicted"], counters["rows_read"]) == (2, 12, 14)
    assert (counters["files_read"], counters["files_dead_lettered"]) == (3, 1)
    letters = [json.loads(line) for shard in sorted((tmp_path / "out").glob("p-dead-letter-*.jsonl"))
               for line in open(shard, encoding="utf-8")]
    assert sorted((Path(d["file"]).name, d["line"]) for d in letters) == [
        ("texts.jsonl", 6), ("zz.jsonl", 1), ("zz.jsonl.gz", 0)]
    assert "no 'text' key" in next(d["reason"] for d in letters if d["file"].endswith("zz.jsonl"))


@beam
@needs_beam
@pytest.mark.parametrize("argv, expect", [
    (["--model", "{tmp}/nowhere"], ["--model", "nowhere", "no such file"]),
    (["--input", "{tmp}/data.xyz"], ["--input files must end in one of", "'.csv'", "Received", "data.xyz"]),
    (["--label-column", "gold"], ["--label-column must be one of", "['id', 'text', 'label']",
                                  "Received: label_column='gold'"]),
    (["--output-format", "xml"], ["--output-format must be one of", "Received: output_format='xml'"]),
    (["--input", "{tmp}/none-*.csv"], ["--input", "matches no file"]),
    # A misspelt tfclf flag is refused, not handed to Beam (which would ignore it: no metrics).
    (["--lable-column", "label"], ["--lable-column is not a flag of tfclf predict_beam; did you mean "
                                   "--label-column?"]),
])
def test_bad_input_names_the_flag_and_exits_2(exported, tmp_path, capsys, argv, expect):
    from tfclf import predict_beam

    _write_input(tmp_path / "data.csv", malformed=False)
    (tmp_path / "data.xyz").write_text("text\nhello\n", encoding="utf-8")
    flags = {"--model": str(exported.path), "--input": str(tmp_path / "data.csv"), "--output": str(tmp_path / "o" / "p")}
    extra = [a.format(tmp=tmp_path) for a in argv]
    for flag, value in zip(extra[::2], extra[1::2]):
        flags[flag] = value
    before = sorted(p.name for p in tmp_path.iterdir())
    code = predict_beam.main([x for pair in flags.items() for x in pair] + DIRECT)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    for text in expect:
        assert text in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    shutil.rmtree(tmp_path / "o", ignore_errors=True)
