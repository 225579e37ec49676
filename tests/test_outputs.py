"""tfclf.outputs: what an output folder or file may be, and how one is replaced."""
import json
import os

import pytest

from tfclf import outputs
from tfclf.errors import TfclfError
from tfclf.outputs import Input, OutputKind

RUN = OutputKind.RUN


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    work = home / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.mark.parametrize("where, expected", [
    (".", "is the current directory"),
    ("../..", "contains the current directory"),
    ("~", "is the home directory"),
    ("/", "is the root directory"),
])
def test_protected_places_are_refused_even_with_overwrite(scratch, where, expected):
    (scratch / "tickets.csv").write_text("text,label\n")
    with pytest.raises(TfclfError, match=expected) as e:
        outputs.check_dir(where, RUN, flag="--output-dir", overwrite=True)
    assert "--output-dir" in str(e.value)
    assert _tree(scratch) == ["tickets.csv"]


def test_a_folder_holding_an_input_or_inside_an_input_folder_is_refused(scratch):
    data = scratch / "data"
    (data / "pos").mkdir(parents=True)
    (data / "pos" / "1.txt").write_text("good")
    for out, expected in ((data, "is the input --data"), (scratch, "current directory"),
                          (data / "report", "inside the input folder --data")):
        with pytest.raises(TfclfError, match=expected):
            outputs.check_dir(out, RUN, flag="--output-dir", overwrite=True, inputs=[Input("--data", data)])
    sub = scratch / "sub"
    (sub / "in").mkdir(parents=True)
    with pytest.raises(TfclfError, match="holds the input --train"):
        outputs.check_dir(sub, RUN, flag="--output-dir", overwrite=True,
                          inputs=[Input("--train", sub / "in" / "train.csv")])
    # A run directory may hold its own evaluations.
    outputs.check_dir(scratch / "run" / "eval", OutputKind.EVALUATION, flag="--output-dir",
                      inputs=[Input("--model", scratch / "run", outputs_inside=True)])


def test_existing_folders_need_the_same_kind_of_marker(scratch):
    mine = scratch / "run"
    mine.mkdir()
    outputs.mark(mine, RUN)
    with pytest.raises(TfclfError, match="already exists.*--overwrite"):
        outputs.check_dir(mine, RUN, flag="--output-dir")
    assert outputs.check_dir(mine, RUN, flag="--output-dir", overwrite=True) == mine
    assert outputs.check_dir(mine, RUN, flag="--output-dir", reuse=True) == mine
    with pytest.raises(TfclfError, match="holds a tfclf run output, not an evaluation"):
        outputs.check_dir(mine, OutputKind.EVALUATION, flag="--output-dir", overwrite=True)

    theirs = scratch / "photos"
    theirs.mkdir()
    (theirs / "cat.jpg").write_bytes(b"\xff")
    with pytest.raises(TfclfError, match="did not create"):
        outputs.check_dir(theirs, RUN, flag="--output-dir", overwrite=True)
    empty = scratch / "empty"
    empty.mkdir()
    with pytest.raises(TfclfError, match="already exists"):
        outputs.check_dir(empty, RUN, flag="--output-dir")
    assert outputs.check_dir(empty, RUN, flag="--output-dir", overwrite=True) == empty

    a_file = scratch / "notes.txt"
    a_file.write_text("keep me")
    with pytest.raises(TfclfError, match="is a file"):
        outputs.check_dir(a_file, RUN, flag="--output-dir", overwrite=True)
    assert a_file.read_text() == "keep me"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_an_uncreatable_folder_is_refused_before_any_work(scratch):
    with pytest.raises(TfclfError, match="--report-dir '/proc/tfclf/x' cannot be created"):
        outputs.check_dir("/proc/tfclf/x", OutputKind.DATA_REPORT, flag="--report-dir")
    (scratch / "f").write_text("")
    with pytest.raises(TfclfError, match="cannot be created: .* is a file"):
        outputs.check_dir(scratch / "f" / "run", RUN, flag="--output-dir")
    assert _tree(scratch) == ["f"]  # the probe left nothing behind


def test_directory_swaps_in_a_marked_folder_and_keeps_the_old_one_on_failure(scratch):
    target = scratch / "eval"
    with outputs.directory(target, OutputKind.EVALUATION, flag="--output-dir") as staged:
        (staged / "metrics.json").write_text("{}")
        assert not target.exists()
    assert outputs.read_kind(target) == "evaluation"
    assert json.loads((target / outputs.MARKER).read_text())["kind"] == "evaluation"

    with pytest.raises(RuntimeError):
        with outputs.directory(target, OutputKind.EVALUATION, flag="--output-dir", overwrite=True) as staged:
            (staged / "metrics.json").write_text('{"half": true}')
            raise RuntimeError("boom")
    assert (target / "metrics.json").read_text() == "{}"
    assert _tree(scratch) == sorted(["eval", "eval/metrics.json", f"eval/{outputs.MARKER}"])

    with outputs.directory(target, OutputKind.EVALUATION, flag="--output-dir", overwrite=True) as staged:
        (staged / "report.md").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == [outputs.MARKER, "report.md"]
    assert _tree(scratch) == sorted(["eval", "eval/report.md", f"eval/{outputs.MARKER}"])


def test_replace_dir_refuses_a_folder_that_changed_kind_meanwhile(scratch):
    staged, target = scratch / "staged", scratch / "target"
    staged.mkdir()
    target.mkdir()
    (target / "data.csv").write_text("x")
    with pytest.raises(TfclfError, match="changed while tfclf was working"):
        outputs.replace_dir(staged, target, RUN)
    assert (target / "data.csv").read_text() == "x" and staged.is_dir()


def test_remove_dir_deletes_only_marked_folders(scratch):
    foreign = scratch / ".run.partial"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("x")
    with pytest.raises(TfclfError, match="does not delete it"):
        outputs.remove_dir(foreign, RUN)
    assert (foreign / "thesis.tex").exists()
    outputs.mark(foreign, RUN)
    outputs.remove_dir(foreign, RUN)
    assert not foreign.exists()


@pytest.mark.parametrize("path, expected", [
    ("out.xlsx", r"must end in one of \['.csv', '.tsv', '.jsonl', '.parquet'\]"),
    ("in.csv", "is the input --input"),
    ("somedir", "is an existing folder"),
])
def test_check_file(scratch, path, expected):
    (scratch / "in.csv").write_text("text\nhello\n")
    (scratch / "somedir").mkdir()
    with pytest.raises(TfclfError, match=expected) as e:
        outputs.check_file(path, flag="--output", extensions=(".csv", ".tsv", ".jsonl", ".parquet"),
                           inputs=[Input("--input", "in.csv")])
    assert "--output" in str(e.value)
    assert outputs.check_file("new/preds.parquet", flag="--output", extensions=(".parquet",)).name == \
        "preds.parquet"
    assert not (scratch / "new").exists()
