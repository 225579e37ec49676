import csv
import re
import importlib.util
import io
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import tfclf
from tfclf import precision, predict, prediction
from tfclf.data import inputs, readers
from tfclf.config import DataConfig, ModelConfig, OptimizerConfig, Pooling, RunConfig, TrainConfig
from tfclf.errors import TfclfError

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["account", "billing", "shipping"]
TEXTS = ["please refund the invoice", "my package is late", "login email password", "",
         "delivery, charge; and \"quotes\"", "東京 🙂 שלום"]


@pytest.fixture(scope="module")
def run_dir(tiny_bert, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("predict_run")
    data = tmp / "data.csv"
    rng = np.random.default_rng(0)
    keywords = {"account": ["password", "login", "email"], "billing": ["refund", "charge", "invoice"],
                "shipping": ["package", "delivery", "late"]}
    with open(data, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(90):
            label = NAMES[i % 3]
            w.writerow([f"the {rng.choice(keywords[label])} is my {rng.choice(['help', 'issue', 'order'])}", label])
    config = RunConfig(
        data=DataConfig(data=str(data)),
        model=ModelConfig(encoder=str(tiny_bert.root), seq_length=16, pooling=Pooling.MEAN),
        optimizer=OptimizerConfig(values=(1e-2, 3e-3), boundaries=(30,)),
        train=TrainConfig(epochs=1, batch_size=16, output_dir=str(tmp / "run")))
    import tfclf.fit  # noqa: F401

    return tfclf.fit(config, verbose=0).output_dir


@pytest.fixture(scope="module")
def model(run_dir):
    return tfclf.load(run_dir)


def read_csv(path, delimiter=","):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter=delimiter))


def assert_rows_match_model(rows, model, texts, top_k=3):
    labels, probs = model.predict(texts)
    assert [r["label"] for r in rows] == labels
    for r, p in zip(rows, probs):
        # model.predict batches by length, so rows meet other rows than in the file's order:
        # float32 sums differ in the last bits, far below the export check's 1e-5.
        assert float(r["confidence"]) == pytest.approx(float(p.max()), abs=1e-6)
        order = np.argsort(-p, kind="stable")[:top_k]
        assert [r[f"top{i + 1}_label"] for i in range(top_k)] == [NAMES[j] for j in order]
        np.testing.assert_allclose([float(r[f"top{i + 1}_probability"]) for i in range(top_k)], p[order],
                                   atol=1e-7)


def test_csv_with_header_keeps_every_column_and_matches_the_model(model, tmp_path):
    src = tmp_path / "in.csv"
    with open(src, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "text", "label"])
        w.writerows([[i, t, "billing"] for i, t in enumerate(TEXTS)])
    summary = prediction.predict_file(model, str(src), str(tmp_path / "out.csv"), batch_size=4, progress=False)
    assert summary.rows == len(TEXTS)
    rows = read_csv(tmp_path / "out.csv")
    assert list(rows[0]) == ["id", "text", "input_label", "label", "confidence", "top1_label",
                             "top1_probability", "top2_label", "top2_probability", "top3_label",
                             "top3_probability"]
    assert [r["id"] for r in rows] == [str(i) for i in range(len(TEXTS))]
    assert [r["text"] for r in rows] == TEXTS and {r["input_label"] for r in rows} == {"billing"}
    assert_rows_match_model(rows, model, TEXTS)
    assert not list(tmp_path.glob(".*partial"))


def test_headerless_text_label_file_like_training(model, tmp_path):
    src = tmp_path / "test.txt"
    src.write_text("i feel; fine;joy\nmy package is late;sadness\n", encoding="utf-8")
    prediction.predict_file(model, str(src), str(tmp_path / "out.tsv"), top_k=1, progress=False)
    rows = read_csv(tmp_path / "out.tsv", delimiter="\t")
    assert [(r["text"], r["input_label"]) for r in rows] == [("i feel; fine", "joy"),
                                                             ("my package is late", "sadness")]
    assert "top2_label" not in rows[0]
    assert_rows_match_model(rows, model, ["i feel; fine", "my package is late"], top_k=1)


def test_label_less_file_one_text_per_row(model, tmp_path):
    src = tmp_path / "texts.txt"
    src.write_text("please refund the invoice\nmy package is late\n", encoding="utf-8")
    prediction.predict_file(model, str(src), str(tmp_path / "out.csv"), progress=False)
    rows = read_csv(tmp_path / "out.csv")
    assert list(rows[0])[:2] == ["text", "label"] and len(rows) == 2
    assert_rows_match_model(rows, model, ["please refund the invoice", "my package is late"])


def test_jsonl_and_parquet_inputs(model, tmp_path):
    import pandas as pd

    records = [{"id": i, "text": t, "meta": {"k": i}} for i, t in enumerate(TEXTS)]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                                       encoding="utf-8")
    prediction.predict_file(model, str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl"), progress=False)
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [o["text"] for o in out] == TEXTS and json.loads(out[1]["meta"]) == {"k": 1}
    assert_rows_match_model(out, model, TEXTS)

    pd.DataFrame({"body": TEXTS, "n": range(len(TEXTS))}).to_parquet(tmp_path / "in.parquet")
    prediction.predict_file(model, str(tmp_path / "in.parquet"), str(tmp_path / "out2.csv"), text_column="body",
                         progress=False)
    rows = read_csv(tmp_path / "out2.csv")
    assert [r["body"] for r in rows] == TEXTS and [r["n"] for r in rows] == [str(i) for i in range(len(TEXTS))]
    assert_rows_match_model(rows, model, TEXTS)


def test_class_folders(model, tmp_path):
    for label, text in [("billing", "refund the invoice"), ("shipping", "package late")]:
        (tmp_path / "data" / label).mkdir(parents=True)
        (tmp_path / "data" / label / "1.txt").write_text(text)
    prediction.predict_file(model, str(tmp_path / "data"), str(tmp_path / "out.csv"), progress=False)
    rows = read_csv(tmp_path / "out.csv")
    assert [(Path(r["path"]).parent.name, r["input_label"], r["text"]) for r in rows] == [
        ("billing", "billing", "refund the invoice"), ("shipping", "shipping", "package late")]


def test_class_folders_at_any_depth_are_read_as_training_reads_them(model, tmp_path):
    """The IMDb layout: <split>/<label>/*.txt, an unsup/ folder of unlabelled texts and loose
    files. predict once read one level of folders: train/ and test/ had no .txt files, and
    unsup/ became a label."""
    from tfclf.config import DataConfig

    root = tmp_path / "aclImdb"
    for rel, text in [("train/billing/1.txt", "refund the invoice"), ("train/shipping/2.txt", "package late"),
                      ("test/billing/3.txt", "charge me"), ("test/shipping/4.txt", "late delivery"),
                      ("train/unsup/5.txt", "no label"), ("README", "about"), ("train/urls_pos.txt", "http://x")]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    training = [s.files for s in readers.discover(DataConfig(data=str(root)))]
    assert [len(files) for files in training] == [2, 2]  # train, test; unsup/ and loose files ignored
    prediction.predict_file(model, str(root), str(tmp_path / "out.csv"), progress=False)
    rows = read_csv(tmp_path / "out.csv")
    assert sorted((r["path"], r["input_label"]) for r in rows) == sorted(
        (str(f), label) for files in training for f, label in files)
    assert {r["text"] for r in rows} == {"refund the invoice", "package late", "charge me", "late delivery"}


def test_cli_reads_stdin_lines_and_writes_stdout(run_dir, model):
    lines = b"please refund the invoice\nmy package is late\n\nlogin \xff email\n"
    proc = subprocess.run([sys.executable, "-m", "tfclf.predict", "--model", str(run_dir), "--input", "-",
                           "--output", "-", "--batch-size", "3"], input=lines, capture_output=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    rows = list(csv.DictReader(io.StringIO(proc.stdout.decode("utf-8"))))
    assert [r["text"] for r in rows] == ["please refund the invoice", "my package is late", "",
                                         "login \ufffd email"]
    # The model saw the raw bytes and replaced them itself, as a server would.
    assert_rows_match_model(rows, model, ["please refund the invoice", "my package is late", "",
                                          b"login \xff email"])
    err = proc.stderr.decode()
    assert "predict:" in err and "4 rows" in err and "not valid utf-8" in err


def test_bad_input_is_reported_with_file_and_line(model, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("id,text\n1,fine\n2,too,many\n")
    with pytest.raises(TfclfError, match=r"in.csv: line 3: expected 2 fields"):
        prediction.predict_file(model, str(src), str(tmp_path / "out.csv"), progress=False)
    assert not (tmp_path / "out.csv").exists() and not list(tmp_path.glob(".*partial"))
    with pytest.raises(TfclfError, match=r"--text-column 'body' is not a column. Columns found"):
        prediction.predict_file(model, str(src), str(tmp_path / "out.csv"), text_column="body", progress=False)
    assert predict.main(["--model", "nowhere", "--input", str(src), "--output", "x.csv"]) == 2


def test_streaming_memory_does_not_grow_with_the_input(model, tmp_path):
    def peak(n):
        src = tmp_path / f"in{n}.txt"
        src.write_text("".join(f"please refund invoice number {i}\n" for i in range(n)))
        tracemalloc.start()
        prediction.predict_file(model, str(src), str(tmp_path / f"out{n}.csv"), lines=True, batch_size=256,
                             progress=False)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert len(read_csv(tmp_path / f"out{n}.csv")) == n
        return top

    small, large = peak(1000), peak(8000)
    assert large < small * 1.5 + 256 * 1024, (small, large)


def test_throughput_benchmark_script_smoke(tiny_bert, tmp_path):
    spec = importlib.util.spec_from_file_location("predict_throughput",
                                                  ROOT / "benchmarks" / "predict_throughput.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "bench.json"
    args = ["--encoder", str(tiny_bert.root), "--batch-sizes", "1,4", "--seconds", "0.05", "--rounds", "2",
            "--seq-length", "16", "--bf16-graph-rewrite", "--output", str(out)]
    hf = importlib.util.find_spec("torch") and importlib.util.find_spec("transformers")
    if hf:  # a tiny random BERT for the HF side, with the tiny encoder's vocabulary
        from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

        hf_dir = tmp_path / "hf"
        BertForSequenceClassification(BertConfig(
            vocab_size=len((tiny_bert.preprocessor / "assets" / "vocab.txt").read_text().splitlines()),
            hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
        ).save_pretrained(hf_dir)
        BertTokenizerFast(vocab_file=str(tiny_bert.preprocessor / "assets" / "vocab.txt")).save_pretrained(hf_dir)
        args += ["--hf-model", str(hf_dir)]
    else:
        args += ["--no-hf"]
    assert bench.main(args) == 0
    result = json.loads(out.read_text())
    assert set(result["tfclf"]["examples_per_sec"]) == {"1", "4"}
    assert all(v > 0 for v in result["tfclf"]["examples_per_sec"].values())
    assert len(result["tfclf"]["rounds"]["4"]) == 2
    assert {"load_average_start", "load_average_end", "cpu_count", "note"} <= set(result["host"])
    others = result["host"]["other_processes_cpu_fraction"]
    assert 0.0 <= others <= 1.0 and result["host"]["under_load"] == (others > 0.25)
    assert result["settings"]["tfclf_bf16_graph_rewrite"] is True
    # the rewrite was on for the benchmark only: the process's Grappler options are back
    assert not tf.config.optimizer.get_experimental_options().get(precision.GRAPPLER_BF16, False)
    if hf:
        assert set(result["speedup_tfclf_over_hf"]) == {"1", "4"}
        assert result["target_met"] is None  # the target is at batch 32, not measured here


def read_input(path, **kwargs):
    with inputs.open_input(str(path), **kwargs) as table:
        return table.columns, table.text_index, list(table.rows)


def test_a_header_without_the_text_column_is_an_error_not_a_text(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("body,id\nplease refund me,1\nmy package is late,2\n")
    with pytest.raises(TfclfError) as e:
        read_input(src)
    message = str(e.value)
    assert "in.csv: line 1 (header): --text-column 'text' is not a column. Columns found: ['body', 'id']" in message
    assert "--no-header" in message and "--label-column" not in message
    assert read_input(src, text_column="body") == (["body", "id"], 0, [["please refund me", "1"],
                                                                         ["my package is late", "2"]])
    columns, index, rows = read_input(src, header=False, text_column="0")
    assert columns == ["0", "1"] and rows[0] == ["body", "id"] and len(rows) == 3


def test_a_wide_headerless_input_needs_a_column_choice(tmp_path):
    src = tmp_path / "in.tsv"
    src.write_text("gj04\t1\t\tour friends won't buy this analysis\ngj04\t0\t*\tone more pseudo generalization\n")
    with pytest.raises(TfclfError, match=r"in.tsv: line 1: a headerless row of 4 fields.*--no-header "
                                         r"--text-column 3\)"):
        read_input(src)
    assert read_input(src, header=False, text_column="3")[:2] == (["0", "1", "2", "3"], 3)
    columns, index, rows = read_input(src, column_names=("source", "label", "mark", "sentence"),
                                      text_column="sentence")
    assert columns == ["source", "label", "mark", "sentence"] and index == 3 and len(rows) == 2


def test_cli_header_error_exits_2_and_writes_nothing(run_dir, tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("body,id\nplease refund me,1\n")
    assert predict.main(["--model", str(run_dir), "--input", str(src), "--output", str(tmp_path / "o.csv")]) == 2
    assert "Columns found: ['body', 'id']" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()
    assert predict.main(["--model", str(run_dir), "--input", str(src), "--output", str(tmp_path / "o.csv"),
                         "--no-header", "--column-names", "body,id", "--text-column", "body", "--quiet"]) == 0
    assert [r["body"] for r in read_csv(tmp_path / "o.csv")] == ["body", "please refund me"]


# ----------------------------------------------------------------------------------- --group-by

GROUPED = [("please refund the invoice", "u1"), ("my package is late", "u2"), ("login email password", "u1"),
           ("the delivery charge", "u3"), ("", "u2"), ("reset my password", ""), ("refund it", "u1")]


def grouped_input(tmp_path):
    src = tmp_path / "in.csv"
    with open(src, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user", "text"])
        w.writerows([[g, t] for t, g in GROUPED])
    return src


def test_group_output_averages_the_probabilities_of_the_rows_it_writes(run_dir, tmp_path, capsys):
    src = grouped_input(tmp_path)
    assert predict.main(["--model", str(run_dir), "--input", str(src), "--output", str(tmp_path / "rows.csv"),
                         "--group-by", "user", "--group-output", str(tmp_path / "groups.csv"), "--batch-size", "3",
                         "--quiet"]) == 0
    rows = read_csv(tmp_path / "rows.csv")
    assert [r["user"] for r in rows] == [g for _, g in GROUPED]  # the per-row output as without --group-by
    groups = read_csv(tmp_path / "groups.csv")
    assert list(groups[0])[:4] == ["user", "n_rows", "label", "confidence"]
    assert [(g["user"], g["n_rows"]) for g in groups] == [("u1", "3"), ("u2", "2"), ("u3", "1")]  # first seen
    for g in groups:
        members = [r for r in rows if r["user"] == g["user"]]
        per_row = np.array([[float(r[f"top{i}_probability"]) for i in (1, 2, 3)] for r in members])
        names = [[r[f"top{i}_label"] for i in (1, 2, 3)] for r in members]
        mean = np.mean([[p[n.index(label)] for label in NAMES] for p, n in zip(per_row, names)], axis=0)
        order = np.argsort(-mean, kind="stable")
        assert g["label"] == NAMES[order[0]] and float(g["confidence"]) == pytest.approx(mean.max(), abs=1e-7)
        assert [g[f"top{i + 1}_label"] for i in range(3)] == [NAMES[j] for j in order]
        np.testing.assert_allclose([float(g[f"top{i + 1}_probability"]) for i in range(3)], mean[order], atol=1e-7)
    assert "1 rows have a blank group cell" in capsys.readouterr().err


def test_group_output_streams_with_memory_bounded_by_the_groups(model, tmp_path):
    src = tmp_path / "in.jsonl"
    with open(src, "w") as f:
        for i in range(300):
            f.write(json.dumps({"text": TEXTS[i % 3], "account": f"a{i % 4}"}) + "\n")
    summary = prediction.predict_file(model, str(src), str(tmp_path / "o.jsonl"), group_by="account",
                                      group_output=str(tmp_path / "g.parquet"), progress=False, batch_size=64)
    assert (summary.rows, summary.groups, summary.blank_group_rows) == (300, 4, 0)
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "g.parquet").to_pydict()
    assert table["account"] == ["a0", "a1", "a2", "a3"] and table["n_rows"] == ["75"] * 4


@pytest.mark.parametrize("argv, message", [
    (["--group-by", "account", "--group-output", "g.csv"],
     r"in.csv: --group-by 'account' is not a column of the input. Columns found: \['user', 'text'\]"),
    (["--group-by", "user"], r"--group-by COLUMN and --group-output FILE go together.* "
                             r"Received: group_by='user', group_output=None"),
    (["--group-output", "g.csv"], r"Received: group_by=None, group_output='g.csv'"),
    (["--group-by", "user", "--group-output", "o.csv"], r"--group-output must be another file than --output"),
    (["--group-by", "user", "--group-output", "g.txt"], r"--group-output"),
])
def test_group_flags_are_checked_and_nothing_is_written(run_dir, tmp_path, monkeypatch, capsys, argv, message):
    grouped_input(tmp_path)
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert predict.main(["--model", str(run_dir), "--input", "in.csv", "--output", "o.csv", "--quiet", *argv]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
