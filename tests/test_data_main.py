"""``python -m tfclf.data``: the report and summary, and bad input -> one clear message, exit 2, no output."""
import dataclasses
import json
import os
import subprocess
import sys

import pytest

from tfclf.data import __main__ as cli


def write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def run(argv, capsys):
    try:
        code = cli.main(argv)
    except SystemExit as e:  # argparse errors
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


GOOD = "text,label\n" + "".join(f"please refund my invoice {i},billing\nmy package is late {i},shipping\n"
                                for i in range(20))


def test_report_and_summary_with_token_lengths(tiny_bert, tmp_path, capsys):
    f = write(tmp_path / "d.csv", GOOD + "this is a much longer text about a late package and a refund,billing\n")
    code, out, err = run(["--data", str(f), "--encoder", str(tiny_bert.root), "--seq-length", "8",
                          "--report-dir", str(tmp_path / "rep")], capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "rep" / "data_report.json").read_text())
    assert report["splits"]["train"]["rows"] + report["splits"]["validation"]["rows"] + \
        report["splits"]["test"]["rows"] == 41
    assert report["labels"] == ["billing", "shipping"] and report["dropped"] == {}
    lengths = report["lengths"]
    # "[CLS] please refund my invoice 1 ##2 [SEP]": 8 tokens with two digits, 7 with one.
    assert lengths["train"]["tokens"]["p50"] in (7, 8) and lengths["train"]["seq_length"] == 8
    assert max(s["tokens"]["max"] for s in lengths.values()) == 29  # the long text, wordpieces and all
    assert sum(round(s["truncated_rate"] * s["sample_rows"]) for s in lengths.values()) == 1
    assert "Rows per split and label:" in out and "billing" in out and "truncated at 8" in out


# Each case: files to create, argv, what the message must say. Every message names the
# file and line, or the column, or the flag, and what was expected.
CASES = {
    "missing file": ({}, ["--data", "{tmp}/nope.csv"], r"--data: no such file or directory: '.*nope.csv'"),
    "empty file": ({"d.csv": ""}, ["--data", "{tmp}/d.csv"], r"--data: file '.*d.csv' is empty"),
    "blank file": ({"d.csv": " \n\n"}, ["--data", "{tmp}/d.csv"], r"d.csv' is empty \(only whitespace\)"),
    "missing column": ({"d.csv": "body,queue\nhi,a\n"}, ["--data", "{tmp}/d.csv", "--text-column", "message"],
                       r"d.csv: line 1 \(header\): --text-column 'message' is not a column. "
                       r"Columns found: \['body', 'queue'\]"),
    "one class only": ({"d.csv": "text,label\na,x\nb,x\nc,x\n"}, ["--data", "{tmp}/d.csv"],
                       r"d.csv: the training data has 1 class\(es\) \['x'\]; a classifier needs at least 2"),
    "label only in test": ({"tr.csv": "text,label\na,x\nb,y\n", "te.csv": "text,label\nc,x\nd,z\n"},
                           ["--train", "{tmp}/tr.csv", "--test", "{tmp}/te.csv"],
                           r"te.csv: line 3: label 'z' in the test split does not occur in the training data"),
    "undecodable bytes": ({"d.csv": b"text,label\nok,a\ncaf\xe9,b\n"}, ["--data", "{tmp}/d.csv"],
                          r"d.csv: line 3, byte offset 19: cannot decode byte 0xe9 as utf-8. "
                          r"Pass --encoding latin-1"),
    "ragged rows": ({"d.csv": "text,label\na,b\nc,d,e\n"}, ["--data", "{tmp}/d.csv"],
                    r"d.csv: line 3: expected 2 fields like the header, found 3"),
    "delimiter not found": ({"d.txt": "a;x\nno delimiter here\n"}, ["--data", "{tmp}/d.txt"],
                            r"d.txt: line 2: delimiter ';' not found; expected 'text;label'"),
    "every text empty": ({"d.csv": "text,label\n ,a\n,b\n"}, ["--data", "{tmp}/d.csv"],
                         r"d.csv: no usable rows: every row has a blank text"),
    "group column missing": ({"d.csv": "text,label,name\na,x,u\n"}, ["--data", "{tmp}/d.csv", "--group-column", "user"],
                             r"--group-column 'user' is not a column. Columns found: \['text', 'label', 'name'\]"),
    "ratios not summing to 1": ({"d.csv": GOOD}, ["--data", "{tmp}/d.csv", "--split", "0.8,0.1,0.2"],
                                r"--split must be three non-negative ratios that sum to 1.*Received: split=0.8,0.1,0.2"),
    "label file shorter": ({"train_text.txt": "a\nb\nc\n", "train_labels.txt": "0\n1\n"},
                           ["--data", "{tmp}/train_text.txt"],
                           r"train_labels.txt: has 2 lines but train_text.txt has more; expected one label per "
                           r"text line \(text line 3 has no label\)"),
    "no label folders": ({"dir/readme.txt": "hello"}, ["--data", "{tmp}/dir"],
                         r"directory '.*dir' has no label folders with .txt files. Expected root/<label>/\*.txt"),
    "git conflict marker": ({"mbti.csv": "<<<<<<< HEAD\ntype,posts\nINFJ,a\n"},
                            ["--data", "{tmp}/mbti.csv", "--text-column", "posts", "--label-column", "type"],
                            r"mbti.csv: line 1: git merge-conflict marker '<<<<<<< HEAD'; expected data.*--skip-rows 1"),
    "malformed quotes": ({"d.csv": 'text,label\n"bad" quote,b\n'}, ["--data", "{tmp}/d.csv"],
                         r"d.csv: line 2: malformed ','-delimited row"),
    "bad json line": ({"d.jsonl": '{"text": "a", "label": "x"}\n{"text": \n'}, ["--data", "{tmp}/d.jsonl"],
                      r"d.jsonl: line 2: not valid JSON"),
    "not parquet": ({"d.parquet": "text,label\n"}, ["--data", "{tmp}/d.parquet"],
                    r"d.parquet' is not a readable Parquet file"),
    "where unknown column": ({"d.csv": GOOD}, ["--data", "{tmp}/d.csv", "--where", "score > 0.5"],
                             r"--where 'score > 0.5' failed on the rows from .*d.csv: line 2.*"
                             r"Columns: \['text', 'label'\]"),
    "binary label value": ({"d.csv": "text,toxic,insult\na,1,0\nb,0,maybe\n"},
                           ["--data", "{tmp}/d.csv", "--label-column", "toxic,insult"],
                           r"d.csv: line 3: column 'insult' holds 'maybe'; a binary label column must hold one of"),
    "bad label map": ({"d.csv": GOOD}, ["--data", "{tmp}/d.csv", "--label-map", "unknown"],
                      r"--label-map items must look like old=new or old=drop. Received: label_map='unknown'"),
    "class weight file incomplete": ({"d.csv": GOOD, "w.yaml": "billing: 2\n"},
                                     ["--data", "{tmp}/d.csv", "--class-weight", "{tmp}/w.yaml"],
                                     r"w.yaml: no weight for label\(s\) \['shipping'\]"),
    "bad encoding name": ({"d.csv": GOOD}, ["--data", "{tmp}/d.csv", "--encoding", "klingon"],
                          r"--encoding must be a Python text encoding.*Received: encoding='klingon'"),
    "undelimited unknown extension": ({"d.data": "just words\nmore words\n"}, ["--data", "{tmp}/d.data"],
                                      r"Cannot tell the delimiter of '.*d.data'.*Pass --delimiter"),
    "parallel labels missing": ({"dev_text.txt": "a\n"}, ["--data", "{tmp}/dev_text.txt", "--format", "parallel"],
                                r"its labels file '.*dev_labels.txt' does not exist"),
    "too few groups": ({"d.csv": "text,label,name\na,x,u\nb,y,u\n"},
                       ["--data", "{tmp}/d.csv", "--group-column", "name", "--split", "0.2,0.4,0.4"],
                       r"--group-column: 1 group\(s\) cannot fill the training split"),
    "header only": ({"d.csv": "text,label\n"}, ["--data", "{tmp}/d.csv"], r"d.csv: no usable rows"),
    "label axes malformed": ({"d.csv": "text,type\na,INTJ\n"},
                             ["--data", "{tmp}/d.csv", "--label-column", "type", "--label-axes", "I-E,N-S"],
                             r"--label-axes must be comma-separated A/B pairs of single characters.*"
                             r"Received: label_axes=\['I-E', 'N-S'\]"),
    "label axes codes mostly invalid": ({"d.csv": "text,type\na,INTJ-A\nb,ENFP-T\nc,INTJ\n"},
                                        ["--data", "{tmp}/d.csv", "--label-column", "type",
                                         "--label-axes", "I/E,N/S,T/F,J/P"],
                                        r"d.csv: --label-column 'type': 2 of 3 codes \(67%\) do not match "
                                        r"--label-axes I/E,N/S,T/F,J/P.*First: .*d.csv: line 2: 'INTJ-A'"),
    "single-label task with lists": ({"d.jsonl": '{"text": "a", "label": ["x", "y"]}\n'},
                                     ["--data", "{tmp}/d.jsonl", "--task", "single-label"],
                                     r"d.jsonl: line 1: --label-column 'label' holds a list"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_exits_2_with_one_clear_message_and_writes_nothing(name, tmp_path, capsys):
    files, argv, message = CASES[name]
    for rel, content in files.items():
        write(tmp_path / rel, content)
    out_dir = tmp_path / "report"
    code, out, err = run([a.replace("{tmp}", str(tmp_path)) for a in argv]
                         + ["--report-dir", str(out_dir), "--no-token-lengths"], capsys)
    assert code == 2
    assert "Traceback" not in err
    import re

    assert re.search(message, err), err
    assert not out_dir.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cli_subprocess_exit_code_and_report(tmp_path):
    good = write(tmp_path / "d.csv", GOOD)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    ok = subprocess.run([sys.executable, "-m", "tfclf.data", "--data", str(good), "--no-token-lengths",
                         "--report-dir", str(tmp_path / "rep")], capture_output=True, text=True, env=env,
                        timeout=120)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "rows" in ok.stdout and (tmp_path / "rep" / "data_report.json").is_file()
    bad = subprocess.run([sys.executable, "-m", "tfclf.data", "--data", str(tmp_path / "nope.csv"),
                          "--report-dir", str(tmp_path / "rep2")], capture_output=True, text=True, env=env,
                         timeout=120)
    assert bad.returncode == 2 and "no such file" in bad.stderr and not (tmp_path / "rep2").exists()


# ------------------------------------------------------------------ real files (slow, ../shared)

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets")
real = pytest.mark.skipif(not os.path.isdir(SHARED), reason="../shared/datasets is not present")


def real_report(argv, tmp_path, capsys):
    code, out, err = run(argv + ["--report-dir", str(tmp_path / "rep"), "--no-token-lengths"], capsys)
    assert code == 0, err[-3000:]
    return json.loads((tmp_path / "rep" / "data_report.json").read_text())


def totals(report):
    out = {}
    for split in report["splits"].values():
        for label, n in split["labels"].items():
            out[label] = out.get(label, 0) + n
    return out


@pytest.mark.slow
@real
def test_real_twitter_gender_counts_and_group_split(tmp_path, capsys):
    from tfclf import data
    from tfclf.config import DataConfig

    path = os.path.join(SHARED, "twitter_gender", "gender-classifier-DFE-791531.csv")
    flags = ["--data", path, "--encoding", "latin-1", "--text-column", "description,text",
             "--label-column", "gender", "--label-map", "unknown=drop", "--group-column", "name"]
    report = real_report(flags, tmp_path, capsys)
    assert totals(report) == {"female": 6700, "male": 6194, "brand": 5942}
    assert report["dropped"] == {"blank_label": 97, "label_map": 1117}
    assert report["inputs"][0]["rows_read"] == 20050
    assert report["groups_in_multiple_splits"] == 0
    # The property itself, on the frames training reads, in memory and streamed.
    config = DataConfig(data=path, encoding="latin-1", text_column=("description", "text"),
                        label_column="gender", label_map=("unknown=drop",), group_column="name")
    names = [set(data.prepare(config, seed=42).frame(s)["group"]) for s in ("train", "validation", "test")]
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    streamed = data.prepare(dataclasses.replace(config, stream=True), seed=42)
    assert streamed.report["groups_in_multiple_splits"] == 0
    assert totals(streamed.report) == {"female": 6700, "male": 6194, "brand": 5942}


@pytest.mark.slow
@real
def test_real_emotion(tmp_path, capsys):
    report = real_report(["--data", os.path.join(SHARED, "emotion")], tmp_path, capsys)
    assert report["splits"]["train"]["rows"] == 16000 and len(report["splits"]["train"]["labels"]) == 6
    assert report["splits"]["validation"]["rows"] == report["splits"]["test"]["rows"] == 2000
    assert report["splits"]["train"]["labels"]["surprise"] == 572
    assert report["duplicates"]["within"]["train"]["extra_copies"] == 31
    assert report["duplicates"]["within"]["train"]["conflicting_labels"] == 30
    assert report["duplicates"]["across"] == {"train/validation": 5, "train/test": 11, "validation/test": 3}


@pytest.mark.slow
@real
def test_real_imdb_tree(tmp_path, capsys):
    import tarfile

    with tarfile.open(os.path.join(SHARED, "imdb", "aclImdb.tar.gz")) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    report = real_report(["--data", str(tmp_path / "x" / "aclImdb"), "--strip-html", "--split", "1,0,0"],
                         tmp_path, capsys)
    assert report["splits"]["train"] == {"rows": 25000, "labels": {"neg": 12500, "pos": 12500}}
    assert report["splits"]["test"]["rows"] == 25000
    assert report["duplicates"]["within"]["train"]["extra_copies"] == 96
    assert report["duplicates"]["within"]["test"]["extra_copies"] == 199
    assert report["duplicates"]["across"] == {"train/test": 123}
    assert report["cleaning"]["strip_html"] > 25000  # about 58% of reviews hold <br />


@pytest.mark.slow
@real
def test_real_umsab_and_mbti(tmp_path, capsys):
    report = real_report(["--data", os.path.join(SHARED, "multilingual_sentiment_umsab", "all"),
                          "--label-map", "0=negative,1=neutral,2=positive"], tmp_path, capsys)
    assert report["splits"]["train"] == {"rows": 14712, "labels": {"negative": 4904, "neutral": 4904,
                                                                    "positive": 4904}}
    assert report["splits"]["test"]["rows"] == 6960
    mbti = os.path.join(SHARED, "mbti_partial", "mbti_1.partial.csv")
    code, _, err = run(["--data", mbti, "--text-column", "posts", "--label-column", "type",
                        "--report-dir", str(tmp_path / "m"), "--no-token-lengths"], capsys)
    assert code == 2 and "line 1: git merge-conflict marker '<<<<<<< HEAD'" in err
    assert not (tmp_path / "m").exists()
    args = ["--data", mbti, "--text-column", "posts", "--label-column", "type", "--skip-rows", "1"]
    code, _, err = run(args + ["--report-dir", str(tmp_path / "m1"), "--no-token-lengths"], capsys)
    # ESFP has one user: a stratified split cannot put it in training and evaluation both.
    assert code == 2 and "class 'ESFP' has 1 training row(s)" in err and "--label-map ESFP=drop" in err
    report = real_report(args + ["--label-map", "ESFP=drop"], tmp_path / "mbti", capsys)
    assert sum(totals(report).values()) == 411 and totals(report)["INFP"] == 98 and len(report["labels"]) == 13
    assert report["dropped"] == {"label_map": 1}
