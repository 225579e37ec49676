"""Bad input across all nine CLIs and the ``tfclf`` command (issue 13): exit 2, one message, no
traceback, nothing written.

Each case runs one ``python -m tfclf.X`` in-process through its ``main(argv)`` (a few
run as real subprocesses) from a fresh scratch folder, and asserts:

1. exit status 2 (argparse errors included);
2. no traceback, and no exception escaping ``main``;
3. the message names what the case lists: the file, flag, column or line;
4. nothing written: every path under the scratch folder (and the shared run, for
   the cases that use it) keeps its size and mtime; nothing appears, nothing goes.

Each case that issue 13 fixed records in ``before`` what the CLI did at d745ed4 (all
of them failed there for that reason). A case marked ``pending`` is a strict xfail: use
it for bad input whose fix has not landed, and drop the mark when it XPASSes.

Output cases also install a *work guard*: training, loading the model, running a
baseline or a tuning trial raises. The issue asks for output paths to be refused
before any work; the guard keeps those cases fast and harmless while the check is
missing, instead of training and then deleting the scratch folder.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib
import io
import json
import os
import shutil
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Callable, Optional, Sequence

import pytest

CLIS = {
    "fit": "tfclf.fit", "data": "tfclf.data.__main__", "predict": "tfclf.predict",
    "evaluate": "tfclf.evaluate", "export": "tfclf.export", "baseline": "tfclf.baseline",
    "tune": "tfclf.tune", "explain": "tfclf.explain", "topics": "tfclf.topics.__main__",
    "tfclf": "tfclf.__main__",  # `tfclf COMMAND ...` (and `python -m tfclf COMMAND ...`)
}
TRACEBACK = "Traceback (most recent call last)"
MARKER = ".tfclf-output.json"  # issue 13 section 1: what each tfclf folder will carry
UNWRITABLE = "/proc/tfclf-bad-inputs/out"  # cannot be created, even by root


# ------------------------------------------------------------------------------ the helpers

def run_cli(module: str, argv: Sequence[str]) -> tuple[Optional[int], str]:
    """Runs ``python -m tfclf.<module>`` in-process; returns (exit code, stdout + stderr).

    An exception escaping ``main`` is what a user would see as a traceback: it comes
    back as code None with the traceback in the output.
    """
    buf = io.StringIO()
    cli = importlib.import_module(CLIS[module])
    # run_main's log handler writes to the sys.stderr of the moment: the redirected stream.
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            code = cli.main(list(argv))
        except SystemExit as e:  # argparse errors
            code = e.code
        except Exception:  # noqa: BLE001  (the very thing these tests look for)
            code = None
            buf.write(traceback.format_exc())
    return code, buf.getvalue()


def run_subprocess(module: str, argv: Sequence[str], cwd: Path) -> tuple[Optional[int], str]:
    """The same, as a real ``python -m`` process: a real exit status and interpreter."""
    name = CLIS[module].removesuffix(".__main__")
    proc = subprocess.run([sys.executable, "-m", name, *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    return proc.returncode, proc.stdout + proc.stderr


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` (hidden ones included): files with size and mtime, folders.

    Folder mtimes are left out: a temporary file made and removed again is not output.
    """
    root = Path(root)
    if not root.exists():
        return {}
    out: dict[str, tuple] = {".": ("dir",)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            p = Path(dirpath, name)
            out[str(p.relative_to(root))] = ("link",) if p.is_symlink() else ("dir",)
        for name in filenames:
            p = Path(dirpath, name)
            st = p.lstat()
            out[str(p.relative_to(root))] = ("file", st.st_size, st.st_mtime_ns)
    return out


def snapshot_changes(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    changes = [f"new: {p}" for p in sorted(set(after) - set(before))]
    changes += [f"deleted: {p}" for p in sorted(set(before) - set(after))]
    changes += [f"changed: {p}" for p in sorted(set(before) & set(after)) if before[p] != after[p]]
    return changes


def write(path: Path, content) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


# ------------------------------------------------------------------------------------ data

KEYWORDS = {"account": ["password", "login", "email"], "billing": ["refund", "charge", "invoice"],
            "shipping": ["package", "delivery", "late"]}
FILLER = ["the", "my", "is", "and", "please", "help", "with", "a", "to", "it"]


def keyword_rows(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """n (text, label) rows, labels cycling through the three KEYWORDS classes."""
    import random

    rng = random.Random(seed)
    labels = sorted(KEYWORDS)
    rows = []
    for i in range(n):
        label = labels[i % 3]
        words = rng.sample(FILLER, 4) + [rng.choice(KEYWORDS[label]), str(i)]
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


def csv_text(rows, header: Optional[str] = "text,label", sep: str = ",") -> str:
    head = f"{header}\n" if header else ""
    return head + "".join(f"{t}{sep}{l}\n" for t, l in rows)


GOOD_CSV = csv_text(keyword_rows(24))
GOOD_JSONL = "".join(json.dumps({"text": t, "label": l}) + "\n" for t, l in keyword_rows(24))
NEW_CSV = csv_text(keyword_rows(6, seed=1))  # labels the trained run knows
CLASS_FOLDERS = {f"data/{label}/{i}.txt": f"my {word} text {i}"
                 for label, words in KEYWORDS.items() for i, word in enumerate(words * 3)}

# Flags that make a fit reach training quickly (with the work guard, it stops there).
FIT = ["--encoder", "{encoder}", "--epochs", "1", "--batch-size", "4", "--seq-length", "8"]
TUNE = FIT + ["--max-trials", "1"]
DATA = ["--no-token-lengths"]


@pytest.fixture(scope="module")
def trained_run(tiny_bert, tmp_path_factory):
    """One tiny finished run (1 epoch, 60 rows, 16 tokens) shared by every model case."""
    import tfclf.fit  # noqa: F401  (the CLI module must not shadow the API call)
    from tfclf import training
    from tfclf.config import DataConfig, ModelConfig, OptimizerConfig, Pooling, RunConfig, TrainConfig

    tmp = tmp_path_factory.mktemp("bad_inputs_run")
    data = write(tmp / "train.csv", csv_text(keyword_rows(60, seed=2)))
    config = RunConfig(
        data=DataConfig(data=str(data)),
        model=ModelConfig(encoder=str(tiny_bert.root), seq_length=16, pooling=Pooling.MEAN),
        optimizer=OptimizerConfig(values=(1e-2, 3e-3), boundaries=(30,)),
        train=TrainConfig(epochs=1, batch_size=8, output_dir=str(tmp / "run")))
    return training.fit(config, verbose=0).output_dir


def copy_run(run: Path, dest: Path, *, only: Optional[Sequence[str]] = None) -> Path:
    """A copy of the run (or of some of its files) that a case may damage."""
    if only is None:
        shutil.copytree(run, dest)
    else:
        dest.mkdir(parents=True)
        for name in only:
            shutil.copy2(run / name, dest / name)
    return dest


# ------------------------------------------------------------------------------- the cases

@dataclasses.dataclass
class Case:
    """One bad input.

    Attributes:
        id: the test id.
        cli: which ``python -m tfclf.X``.
        argv: its arguments; ``{run}``, ``{encoder}``, ``{home}`` are filled in.
        section: the class of issue 13 it checks (1-4), or 5 for bad input that is
            already handled today and must stay so.
        expect: substrings the message must contain (file, flag, column, line).
        files: scratch files to create, relative path -> content.
        before: what the CLI did with this input before issue 13 (commit d745ed4).
        pending: the fix has not landed yet: a strict xfail, whose reason is ``before``.
        guard: install the work guard (see the module docstring).
        setup: extra preparation, called with (scratch folder, run directory or None).
        cwd: sub-folder of the scratch folder to run in.
        home: set HOME to ``<scratch>/home``.
        subprocess: run as a real process.
    """

    id: str
    cli: str
    argv: list[str]
    section: int
    expect: list[str]
    files: dict = dataclasses.field(default_factory=dict)
    before: Optional[str] = None
    pending: bool = False
    guard: bool = False
    setup: Optional[Callable[[Path, Optional[Path]], None]] = None
    cwd: str = "."
    home: bool = False
    subprocess: bool = False

    @property
    def needs_run(self) -> bool:
        return any("{run}" in a for a in self.argv) or self.cli in ("predict", "evaluate", "export", "explain")


def broken_run(name: str, keep: Sequence[str]):
    def setup(tmp: Path, run: Optional[Path]) -> None:
        copy_run(run, tmp / name, only=keep)
    return setup


def whole_run_copy(tmp: Path, run: Optional[Path]) -> None:
    copy_run(run, tmp / "runcopy")


def user_home(tmp: Path, run: Optional[Path]) -> None:
    write(tmp / "home" / ".bashrc", "export PS1='$ '\n")


GROUPED_TRAIN = "text,label,user\n" + "".join(f"{t},{l},u{i % 7}{l}\n" for i, (t, l) in enumerate(keyword_rows(24)))
GROUPED_TEST = "text,label,user\nmy refund please,billing,x\nmy package late,shipping,x\nmy password,account,y\n"

CASES: list[Case] = [
    # ---------------------------------------------------------------- section 1: output safety
    Case("fit-output-dir-is-cwd", "fit", ["--data", "d.csv", "--output-dir", ".", "--overwrite", *FIT], 1,
         ["--output-dir"], {"d.csv": GOOD_CSV}, guard=True,
         before="the current folder is accepted; training starts, then it is deleted"),
    Case("fit-output-dir-is-ancestor-of-cwd", "fit",
         ["--data", "d.csv", "--output-dir", "..", "--overwrite", *FIT], 1, ["--output-dir"],
         {"a/b/d.csv": GOOD_CSV}, cwd="a/b", guard=True,
         before="an ancestor of the current folder is accepted"),
    Case("fit-output-dir-nonempty-without-marker", "fit",
         ["--data", "d.csv", "--output-dir", "mine", "--overwrite", *FIT], 1, ["--output-dir", "mine"],
         {"d.csv": GOOD_CSV, "mine/notes.txt": "my own notes\n"}, guard=True,
         before="--overwrite replaces any folder"),
    Case("fit-output-dir-is-an-evaluation", "fit",
         ["--data", "d.csv", "--output-dir", "ev", "--overwrite", *FIT], 1, ["--output-dir", "ev"],
         {"d.csv": GOOD_CSV, f"ev/{MARKER}": '{"kind": "evaluation"}\n', "ev/metrics.json": "{}\n"},
         guard=True, before="a folder of another kind is replaced"),
    Case("fit-output-dir-is-the-input-folder", "fit",
         ["--data", "data", "--output-dir", "data", "--overwrite", *FIT], 1, ["--output-dir", "data"],
         CLASS_FOLDERS, guard=True, before="the class-folder input itself is accepted"),
    Case("fit-output-dir-holds-the-input", "fit",
         ["--data", "sub/d.csv", "--output-dir", "sub", "--overwrite", *FIT], 1, ["--output-dir", "sub"],
         {"sub/d.csv": GOOD_CSV}, guard=True, before="a folder holding --data is accepted"),
    Case("fit-output-dir-inside-the-input-folder", "fit",
         ["--data", "data", "--output-dir", "data/run", *FIT], 1, ["--output-dir", "data"],
         CLASS_FOLDERS, guard=True, before="a run inside the input folder is accepted"),
    Case("fit-output-dir-is-home", "fit",
         ["--data", "d.csv", "--output-dir", "{home}", "--overwrite", *FIT], 1, ["--output-dir", "home"],
         {"d.csv": GOOD_CSV}, setup=user_home, home=True, guard=True,
         before="the home folder is accepted"),
    Case("fit-output-dir-exists-without-overwrite", "fit",
         ["--data", "d.csv", "--output-dir", "mine", *FIT], 1, ["--output-dir", "mine", "--overwrite"],
         {"d.csv": GOOD_CSV, "mine/notes.txt": "x\n"}, guard=True),
    Case("evaluate-output-dir-is-cwd", "evaluate",
         ["--model", "{run}", "--test", "new.csv", "--output-dir", ".", "--overwrite"], 1, ["--output-dir"],
         {"new.csv": NEW_CSV}, guard=True,
         before="the current folder is accepted and emptied"),
    Case("evaluate-output-dir-is-the-model", "evaluate",
         ["--model", "runcopy", "--test", "new.csv", "--output-dir", "runcopy", "--overwrite"], 1,
         ["--output-dir", "runcopy"], {"new.csv": NEW_CSV}, setup=whole_run_copy, guard=True,
         before="the run being evaluated is replaced by its evaluation"),
    Case("evaluate-output-dir-nonempty-without-marker", "evaluate",
         ["--model", "{run}", "--test", "new.csv", "--output-dir", "mine", "--overwrite"], 1,
         ["--output-dir", "mine"], {"new.csv": NEW_CSV, "mine/notes.txt": "x\n"}, guard=True,
         before="--overwrite replaces any folder"),
    Case("evaluate-output-dir-exists-without-overwrite", "evaluate",
         ["--model", "{run}", "--test", "new.csv", "--output-dir", "ev"], 1, ["--output-dir", "ev"],
         {"new.csv": NEW_CSV, "ev/notes.txt": "x\n"}, guard=True),
    Case("data-report-dir-nonempty-without-marker", "data",
         ["--data", "d.csv", "--report-dir", "mine", *DATA], 1, ["--report-dir", "mine"],
         {"d.csv": GOOD_CSV, "mine/notes.txt": "x\n"},
         before="the report is written into any folder"),
    Case("data-report-dir-is-cwd", "data", ["--data", "d.csv", "--report-dir", ".", *DATA], 1,
         ["--report-dir"], {"d.csv": GOOD_CSV}, before="the current folder is accepted"),
    Case("predict-output-is-the-input", "predict",
         ["--model", "{run}", "--input", "in.csv", "--output", "in.csv", "--quiet"], 1, ["--output", "in.csv"],
         {"in.csv": NEW_CSV}, guard=True, before="the input is overwritten by the predictions"),
    Case("export-dir-is-a-file", "export", ["{run}", "--export-dir", "serving"], 1,
         ["--export-dir", "serving"], {"serving": "not a folder\n"}, guard=True),
    Case("export-version-exists-without-overwrite", "export",
         ["{run}", "--export-dir", "serving", "--version", "1"], 1, ["serving/1", "--overwrite"],
         {"serving/1/saved_model.pb": "x"}, guard=True),
    Case("export-version-overwrite-without-marker", "export",
         ["{run}", "--export-dir", "serving", "--version", "1", "--overwrite"], 1, ["--export-dir", "serving"],
         {"serving/1/notes.txt": "my own notes\n"}, guard=True,
         before="--overwrite replaces any version folder"),
    Case("baseline-output-dir-is-cwd", "baseline",
         ["--method", "majority", "--data", "d.csv", "--output-dir", ".", "--overwrite"], 1, ["--output-dir"],
         {"d.csv": GOOD_CSV}, guard=True, before="the current folder is accepted and emptied"),
    Case("baseline-output-dir-exists-without-overwrite", "baseline",
         ["--method", "majority", "--data", "d.csv", "--output-dir", "b"], 1, ["--output-dir", "b"],
         {"d.csv": GOOD_CSV, "b/notes.txt": "x\n"}, guard=True),
    Case("baseline-output-dir-is-a-run", "baseline",
         ["--method", "majority", "--data", "d.csv", "--output-dir", "r", "--overwrite"], 1,
         ["--output-dir", "r"], {"d.csv": GOOD_CSV, f"r/{MARKER}": '{"kind": "run"}\n', "r/labels.txt": "a\n"},
         guard=True, before="a folder of another kind is replaced"),
    Case("tune-output-dir-is-home", "tune", ["--data", "d.csv", "--output-dir", "{home}", *TUNE], 1,
         ["--output-dir", "home"], {"d.csv": GOOD_CSV}, setup=user_home, home=True, guard=True,
         before="the home folder is accepted; the search writes into it"),
    Case("tune-output-dir-is-cwd", "tune", ["--data", "d.csv", "--output-dir", ".", *TUNE], 1,
         ["--output-dir"], {"d.csv": GOOD_CSV}, guard=True, before="the current folder is accepted"),
    Case("explain-output-is-a-folder", "explain",
         ["--model", "{run}", "--text", "please refund my charge", "--output", "outdir", "--max-evals", "4"], 1,
         ["--output", "outdir"], {"outdir/notes.txt": "x\n"}, guard=True,
         before="an existing folder is accepted; writing fails after explaining"),

    # ---------------------------------------------------------- section 2: headers and columns
    Case("data-header-text-category", "data", ["--data", "d.csv", *DATA], 2,
         ["d.csv", "line 1", "category", "--label-column", "--no-header"],
         {"d.csv": csv_text(keyword_rows(24), header="text,category")},
         before="the header becomes a training row and a class"),
    Case("fit-header-body-label", "fit", ["--data", "d.csv", "--output-dir", "run", *FIT], 2,
         ["d.csv", "line 1", "body", "--text-column", "--no-header"],
         {"d.csv": csv_text(keyword_rows(24), header="body,label")}, guard=True,
         before="the header becomes a training row and a class"),
    Case("data-header-text-label-name-txt", "data", ["--data", "d.txt", *DATA], 2,
         ["d.txt", "line 1", "label_name", "--label-column", "--no-header"],
         {"d.txt": csv_text(keyword_rows(24), header="text;label_name", sep=";")},
         before="the header becomes a class 'label_name'"),
    Case("data-headerless-four-columns", "data", ["--data", "d.csv", *DATA], 2,
         ["d.csv", "line 1", "account", "--text-column"],
         {"d.csv": "".join(f"web,{l},{i % 2},{t}\n" for i, (t, l) in enumerate(keyword_rows(24)))},
         before="the sentence is read as the label: one class per row"),
    Case("fit-headerless-four-columns", "fit", ["--data", "d.csv", "--output-dir", "run", *FIT], 2,
         ["d.csv", "line 1", "account", "--text-column"],
         {"d.csv": "".join(f"web,{l},{i % 2},{t}\n" for i, (t, l) in enumerate(keyword_rows(24)))},
         guard=True, before="the sentence is read as the label: one class per row"),
    Case("data-duplicate-column-names", "data", ["--data", "d.csv", *DATA], 2, ["d.csv", "line 1", "text"],
         {"d.csv": "text,label,text\n" + "".join(f"{t},{l},other\n" for t, l in keyword_rows(24))},
         before="the first of two 'text' columns wins silently"),
    Case("data-text-column-index-out-of-range", "data",
         ["--data", "d.csv", "--no-header", "--text-column", "7", *DATA], 2, ["d.csv", "--text-column", "7"],
         {"d.csv": csv_text(keyword_rows(24), header=None)},
         before="column indices are not read yet; the message does not name --text-column"),
    Case("data-column-names-wrong-count", "data",
         ["--data", "d.csv", "--column-names", "source,label,sentence", *DATA], 2, ["d.csv", "--column-names"],
         {"d.csv": "".join(f"web,{l},{i % 2},{t}\n" for i, (t, l) in enumerate(keyword_rows(24)))},
         before="--column-names does not exist yet"),
    Case("predict-header-without-text-column", "predict",
         ["--model", "{run}", "--input", "in.csv", "--output", "p.csv", "--quiet"], 2,
         ["in.csv", "line 1", "body", "--text-column"],
         {"in.csv": "body,id\n" + "".join(f"{t},{i}\n" for i, (t, _) in enumerate(keyword_rows(4)))},
         before="the header is predicted as a text and 'id' written as input_label"),
    Case("evaluate-header-body-label", "evaluate", ["--model", "{run}", "--test", "new.csv"], 2,
         ["new.csv", "line 1", "body", "--text-column"],
         {"new.csv": csv_text(keyword_rows(6, seed=1), header="body,label")},
         before="the header is read as a row; the error is an unknown label 'label'"),
    Case("explain-header-without-text-column", "explain",
         ["--model", "{run}", "--input", "in.csv", "--output", "e.html", "--max-evals", "4"], 2,
         ["in.csv", "line 1", "body", "--text-column"],
         {"in.csv": "body,id\n" + "".join(f"{t},{i}\n" for i, (t, _) in enumerate(keyword_rows(4)))},
         guard=True, before="the header is explained as a text"),
    Case("baseline-header-body-label", "baseline",
         ["--method", "majority", "--data", "d.csv", "--output-dir", "b"], 2,
         ["d.csv", "line 1", "body", "--text-column"], {"d.csv": csv_text(keyword_rows(24), header="body,label")},
         guard=True, before="the header becomes a training row and a class"),
    Case("data-text-column-not-in-header", "data", ["--data", "d.csv", "--text-column", "message", *DATA], 2,
         ["d.csv", "line 1", "--text-column", "message", "label"], {"d.csv": GOOD_CSV}),
    Case("data-jsonl-label-key-missing", "data", ["--data", "d.jsonl", *DATA], 2,
         ["d.jsonl", "line 1", "--label-column", "category"],
         {"d.jsonl": "".join(json.dumps({"text": t, "category": l}) + "\n" for t, l in keyword_rows(6))}),
    Case("predict-text-column-not-in-header", "predict",
         ["--model", "{run}", "--input", "in.csv", "--output", "p.csv", "--text-column", "message", "--quiet"],
         2, ["in.csv", "line 1", "--text-column", "message"], {"in.csv": NEW_CSV}),
    Case("predict-jsonl-without-text-key", "predict",
         ["--model", "{run}", "--input", "in.jsonl", "--output", "p.csv", "--quiet"], 2,
         ["in.jsonl", "line 1", "--text-column"], {"in.jsonl": '{"body": "hello", "id": 1}\n'}),

    # ----------------------------------------------------------------- section 3: labels, values
    Case("fit-every-label-unique", "fit", ["--data", "d.csv", "--output-dir", "run", *FIT], 3,
         ["label", "40"], {"d.csv": csv_text([(f"please help with the order {i}", f"free text {i}")
                                             for i in range(40)])},
         guard=True, before="40 one-row classes train; evaluation falls back to train"),
    Case("data-label-column-with-line-breaks", "data",
         ["--data", "d.csv", "--text-column", "comment", "--label-column", "text", *DATA], 3,
         ["d.csv", "--label-column"],
         {"d.csv": "text,comment\n" + "".join(f'"line one {i % 3}\nline two",note {i}\n' for i in range(24))},
         before="'Labels must not contain line breaks' names neither the column nor the file"),
    Case("fit-class-with-one-example", "fit", ["--data", "d.csv", "--output-dir", "run", *FIT], 3,
         ["lonely"], {"d.csv": GOOD_CSV + "a very lonely text,lonely\n"}, guard=True,
         before="a class with one training example trains under a stratified split"),
    # Lists make --task auto multi-label (issue 15); under --task single-label they are refused.
    Case("fit-jsonl-label-is-a-list", "fit", ["--data", "d.jsonl", "--task", "single-label", "--output-dir", "run",
                                             *FIT], 3,
         ["d.jsonl", "label", "list"],
         {"d.jsonl": "".join(json.dumps({"text": t, "label": [l]}) + "\n" for t, l in keyword_rows(24))},
         guard=True, before="lists become classes like \"['billing']\""),
    Case("fit-jsonl-text-is-a-float", "fit", ["--data", "d.jsonl", "--output-dir", "run", *FIT], 3,
         ["d.jsonl", "text", "float"],
         {"d.jsonl": "".join(json.dumps({"text": i + 0.5, "label": l}) + "\n"
                             for i, (_, l) in enumerate(keyword_rows(24)))},
         guard=True, before="floats become texts such as '1.5'"),
    Case("fit-split-leaves-no-evaluation-split", "fit",
         ["--data", "d.csv", "--split", "1,0,0", "--output-dir", "run", *FIT], 3,
         ["validation", "test", "--eval-split"], {"d.csv": GOOD_CSV}, guard=True,
         before="evaluation silently falls back to the training split"),
    Case("data-every-label-unique", "data", ["--data", "d.csv", "--report-dir", "rep", *DATA], 3,
         ["label", "40"], {"d.csv": csv_text([(f"please help with the order {i}", f"free text {i}")
                                             for i in range(40)])},
         before="the report is written for 40 one-row classes"),

    # ------------------------------------------------- section 4: no traceback, fail before work
    Case("fit-config-is-a-list", "fit", ["--config", "c.yaml", "--output-dir", "run"], 4, ["c.yaml"],
         {"c.yaml": "- data: d.csv\n- epochs: 1\n"}, before="AttributeError traceback"),
    Case("data-config-is-a-list", "data", ["--config", "c.yaml", *DATA], 4, ["c.yaml"],
         {"c.yaml": "- data: d.csv\n"}, subprocess=True, before="AttributeError traceback"),
    Case("tune-config-is-a-list", "tune", ["--config", "c.yaml", "--output-dir", "t"], 4, ["c.yaml"],
         {"c.yaml": "- tune: {}\n"}, before="AttributeError traceback"),
    Case("fit-config-model-is-a-number", "fit", ["--config", "c.yaml", "--output-dir", "run"], 4,
         ["c.yaml", "model"], {"c.yaml": "model: 5\n"}, before="TypeError traceback"),
    Case("fit-config-data-is-a-string", "fit", ["--config", "c.yaml", "--output-dir", "run"], 4,
         ["c.yaml", "data"], {"c.yaml": 'data: "abc"\n'}, before="ValueError traceback"),
    Case("fit-config-not-utf8", "fit", ["--config", "c.yaml", "--output-dir", "run"], 4, ["c.yaml"],
         {"c.yaml": "train:\n  epochs: 1 # caf\xe9\n".encode("latin-1")},
         before="UnicodeDecodeError traceback"),
    Case("tune-config-not-utf8", "tune", ["--config", "c.yaml", "--output-dir", "t"], 4, ["c.yaml"],
         {"c.yaml": "tune:\n  max_trials: 1 # caf\xe9\n".encode("latin-1")},
         before="UnicodeDecodeError traceback"),
    Case("data-report-dir-is-a-file", "data", ["--data", "d.csv", "--report-dir", "rep", *DATA], 4,
         ["--report-dir", "rep"], {"d.csv": GOOD_CSV, "rep": "a file\n"},
         before="FileExistsError traceback after reading the data"),
    Case("data-report-dir-cannot-be-created", "data", ["--data", "d.csv", "--report-dir", UNWRITABLE, *DATA], 4,
         ["--report-dir", "/proc/"], {"d.csv": GOOD_CSV}, before="OSError traceback"),
    Case("fit-output-dir-cannot-be-created", "fit", ["--data", "d.csv", "--output-dir", UNWRITABLE, *FIT], 4,
         ["--output-dir", "/proc/"], {"d.csv": GOOD_CSV}, guard=True, before="OSError traceback"),
    Case("fit-output-dir-is-a-file", "fit", ["--data", "d.csv", "--output-dir", "out.txt", "--overwrite", *FIT],
         4, ["--output-dir", "out.txt"], {"d.csv": GOOD_CSV, "out.txt": "a file\n"}, guard=True,
         before="accepted; crashes after the whole training run"),
    Case("tune-output-dir-cannot-be-created", "tune", ["--data", "d.csv", "--output-dir", UNWRITABLE, *TUNE], 4,
         ["--output-dir", "/proc/"], {"d.csv": GOOD_CSV}, guard=True, before="OSError traceback"),
    Case("evaluate-output-dir-cannot-be-created", "evaluate",
         ["--model", "{run}", "--test", "new.csv", "--output-dir", UNWRITABLE], 4, ["--output-dir", "/proc/"],
         {"new.csv": NEW_CSV}, guard=True, before="the model is loaded before the folder is tried"),
    Case("evaluate-output-dir-is-a-file", "evaluate",
         ["--model", "{run}", "--test", "new.csv", "--output-dir", "out.txt", "--overwrite"], 4,
         ["--output-dir", "out.txt"], {"new.csv": NEW_CSV, "out.txt": "a file\n"}, guard=True,
         before="accepted with --overwrite; fails after predicting"),
    Case("baseline-output-dir-is-a-file", "baseline",
         ["--method", "majority", "--data", "d.csv", "--output-dir", "out.txt", "--overwrite"], 4,
         ["--output-dir", "out.txt"], {"d.csv": GOOD_CSV, "out.txt": "a file\n"}, guard=True,
         before="accepted with --overwrite; fails after the baseline"),
    Case("predict-output-is-a-folder", "predict",
         ["--model", "{run}", "--input", "in.csv", "--output", "outdir", "--quiet"], 4, ["--output", "outdir"],
         {"in.csv": NEW_CSV, "outdir/notes.txt": "x\n"}, guard=True,
         before="IsADirectoryError after predicting everything"),
    Case("predict-output-unknown-extension", "predict",
         ["--model", "{run}", "--input", "in.csv", "--output", "x.xlsx", "--quiet"], 4, ["--output", "x.xlsx"],
         {"in.csv": NEW_CSV}, guard=True, before="a CSV is written under the name x.xlsx"),
    Case("predict-output-cannot-be-created", "predict",
         ["--model", "{run}", "--input", "in.csv", "--output", UNWRITABLE + ".csv", "--quiet"], 4,
         ["--output", "/proc/"], {"in.csv": NEW_CSV}, guard=True,
         before="the model is loaded before the output is tried"),
    Case("export-dir-cannot-be-created", "export", ["{run}", "--export-dir", UNWRITABLE], 4,
         ["--export-dir", "/proc/"], guard=True, before="the model is rebuilt before the folder is tried"),
    Case("explain-output-cannot-be-created", "explain",
         ["--model", "{run}", "--text", "please refund", "--output", UNWRITABLE + ".html", "--max-evals", "4"],
         4, ["--output", "/proc/"], guard=True, before="the model is loaded before the output is tried"),
    Case("predict-run-without-saved-model", "predict",
         ["--model", "brokenrun", "--input", "in.csv", "--output", "p.csv", "--quiet"], 4,
         ["brokenrun", "saved_model"], {"in.csv": NEW_CSV},
         setup=broken_run("brokenrun", ["config.yaml", "labels.txt", "metrics.json"]),
         before="'neither a tfclf run directory nor a SavedModel' does not say saved_model/ is missing"),
    Case("evaluate-run-without-saved-model", "evaluate", ["--model", "brokenrun", "--test", "new.csv"], 4,
         ["brokenrun", "saved_model"], {"new.csv": NEW_CSV},
         setup=broken_run("brokenrun", ["config.yaml", "labels.txt", "metrics.json"])),
    Case("export-run-without-checkpoint", "export", ["brokenrun", "--export-dir", "serving"], 4,
         ["brokenrun", "missing", "checkpoints/best"],
         setup=broken_run("brokenrun", ["config.yaml", "labels.txt", "metrics.json"])),

    # ------------------------------------------------------ section 5: handled today, keep it so
    Case("fit-data-missing", "fit", ["--data", "nope.csv", "--output-dir", "run", *FIT], 5, ["--data", "nope.csv"]),
    Case("fit-data-empty", "fit", ["--data", "d.csv", "--output-dir", "run", *FIT], 5, ["--data", "d.csv", "empty"],
         {"d.csv": ""}),
    Case("fit-undecodable-bytes", "fit", ["--data", "d.csv", "--output-dir", "run", *FIT], 5,
         ["d.csv", "line 3", "byte offset 19", "--encoding"], {"d.csv": b"text,label\nok,a\ncaf\xe9,b\n"}),
    Case("fit-bad-delimiter", "fit", ["--data", "d.csv", "--delimiter", "ab", "--output-dir", "run"], 5,
         ["--delimiter", "'ab'"], {"d.csv": GOOD_CSV}),
    Case("fit-unknown-encoder-runtime", "fit",
         ["--data", "d.csv", "--encoder-runtime", "fast", "--output-dir", "run"], 5,
         ["--encoder-runtime", "'fast'", "hub", "native", "auto"], {"d.csv": GOOD_CSV}),
    Case("fit-unknown-format", "fit", ["--data", "d.csv", "--format", "xml", "--output-dir", "run"], 5,
         ["--format", "xml"], {"d.csv": GOOD_CSV}),
    Case("fit-split-not-summing-to-1", "fit", ["--data", "d.csv", "--split", "0.5,0.5,0.5", "--output-dir", "run"],
         5, ["--split", "0.5,0.5,0.5"], {"d.csv": GOOD_CSV}),
    Case("fit-epochs-0", "fit", ["--data", "d.csv", "--epochs", "0", "--output-dir", "run"], 5, ["--epochs"],
         {"d.csv": GOOD_CSV}),
    Case("fit-batch-size-0", "fit", ["--data", "d.csv", "--batch-size", "0", "--output-dir", "run"], 5,
         ["--batch-size"], {"d.csv": GOOD_CSV}),
    Case("fit-seq-length-4", "fit", ["--data", "d.csv", "--seq-length", "4", "--output-dir", "run"], 5,
         ["--seq-length"], {"d.csv": GOOD_CSV}),
    Case("fit-config-unknown-key", "fit", ["--config", "c.yaml", "--output-dir", "run"], 5,
         ["c.yaml", "epochz"], {"c.yaml": "train:\n  epochz: 1\n"}),
    Case("fit-config-invalid-yaml", "fit", ["--config", "c.yaml", "--output-dir", "run"], 5,
         ["c.yaml", "line 3"], {"c.yaml": "train:\n  epochs: [1\n"}),
    Case("fit-config-missing", "fit", ["--config", "nope.yaml", "--output-dir", "run"], 5, ["--config", "nope.yaml"]),
    Case("fit-unknown-encoder-name", "fit", ["--data", "d.csv", "--encoder", "bert-huge", "--output-dir", "run"],
         5, ["--encoder", "bert-huge"], {"d.csv": GOOD_CSV}),
    Case("fit-data-and-train-together", "fit", ["--data", "d.csv", "--train", "d.csv", "--output-dir", "run"], 5,
         ["--data", "--train"], {"d.csv": GOOD_CSV}),
    Case("data-label-map-malformed", "data", ["--data", "d.csv", "--label-map", "unknown", *DATA], 5,
         ["--label-map", "unknown"], {"d.csv": GOOD_CSV}),
    Case("data-where-unknown-column", "data", ["--data", "d.csv", "--where", "score > 0.5", *DATA], 5,
         ["--where", "d.csv", "score"], {"d.csv": GOOD_CSV}),
    Case("data-ragged-row", "data", ["--data", "d.csv", "--report-dir", "rep", *DATA], 5, ["d.csv", "line 3"],
         {"d.csv": "text,label\na,b\nc,d,e\n"}),
    Case("data-git-conflict-marker", "data", ["--data", "d.csv", *DATA], 5, ["d.csv", "line 1", "<<<<<<<"],
         {"d.csv": "<<<<<<< HEAD\n" + GOOD_CSV}),
    Case("data-json-line-invalid", "data", ["--data", "d.jsonl", *DATA], 5, ["d.jsonl", "line 2"],
         {"d.jsonl": '{"text": "a", "label": "x"}\n{"text": \n'}),
    Case("data-parallel-files-unequal", "data", ["--data", "train_text.txt", *DATA], 5,
         ["train_labels.txt", "train_text.txt", "line 3"],
         {"train_text.txt": "a\nb\nc\n", "train_labels.txt": "x\ny\n"}),
    Case("data-label-only-in-test", "data", ["--train", "tr.csv", "--test", "te.csv", *DATA], 5,
         ["te.csv", "line 3", "'z'"], {"tr.csv": "text,label\na,x\nb,y\n", "te.csv": "text,label\nc,x\nd,z\n"}),
    Case("data-undecodable-bytes-with-report", "data", ["--data", "d.csv", "--report-dir", "rep", *DATA], 5,
         ["d.csv", "line 3", "byte offset 19"], {"d.csv": b"text,label\nok,a\ncaf\xe9,b\n"}),
    Case("predict-input-missing", "predict",
         ["--model", "{run}", "--input", "nope.csv", "--output", "p.csv", "--quiet"], 5, ["--input", "nope.csv"]),
    Case("predict-model-missing", "predict", ["--model", "nope", "--input", "in.csv", "--output", "p.csv"], 5,
         ["nope"], {"in.csv": NEW_CSV}),
    Case("predict-ragged-row", "predict", ["--model", "{run}", "--input", "in.csv", "--output", "p.csv", "--quiet"],
         5, ["in.csv", "line 3"], {"in.csv": "text,label\nplease refund,billing\nlate,a,b\n"}),
    Case("predict-json-line-invalid", "predict",
         ["--model", "{run}", "--input", "in.jsonl", "--output", "p.jsonl", "--quiet"], 5, ["in.jsonl", "line 2"],
         {"in.jsonl": '{"text": "please refund"}\n{"text": \n'}),
    Case("predict-batch-size-0", "predict",
         ["--model", "{run}", "--input", "in.csv", "--output", "p.csv", "--batch-size", "0"], 5, ["--batch-size"],
         {"in.csv": NEW_CSV}, guard=True),
    Case("predict-output-flag-missing", "predict", ["--model", "{run}", "--input", "in.csv"], 5, ["--output"],
         {"in.csv": NEW_CSV}),
    Case("evaluate-test-label-unknown", "evaluate", ["--model", "{run}", "--test", "new.csv"], 5,
         ["--test", "new.csv", "refunds"], {"new.csv": NEW_CSV + "please refund it,refunds\n"}),
    Case("evaluate-test-missing", "evaluate", ["--model", "{run}", "--test", "nope.csv"], 5,
         ["--test", "nope.csv"], guard=True),
    Case("evaluate-test-flag-missing", "evaluate", ["--model", "{run}"], 5, ["--test"], guard=True),
    Case("evaluate-train-flag-not-used", "evaluate", ["--model", "{run}", "--test", "new.csv", "--train", "x.csv"],
         5, ["--train"], {"new.csv": NEW_CSV}, guard=True),
    Case("evaluate-batch-size-negative", "evaluate", ["--model", "{run}", "--test", "new.csv", "--batch-size", "-1"], 5,
         ["--batch-size"], {"new.csv": NEW_CSV}, guard=True),
    Case("evaluate-batch-size-0", "evaluate", ["--model", "{run}", "--test", "new.csv", "--batch-size", "0"], 5,
         ["--batch-size", "Received: batch_size=0"], {"new.csv": NEW_CSV}, guard=True,
         before="0 was replaced by the run's batch size (batch_size or ...), so it was not refused"),
    Case("export-run-dir-missing", "export", ["nope", "--export-dir", "serving"], 5, ["RUN_DIR", "nope"]),
    Case("export-no-arguments", "export", [], 5, ["RUN_DIR"]),
    Case("export-export-dir-missing", "export", ["{run}"], 5, ["--export-dir"], guard=True),
    Case("export-version-0", "export", ["{run}", "--export-dir", "serving", "--version", "0"], 5, ["--version"],
         guard=True),
    Case("baseline-unknown-method", "baseline", ["--method", "nope", "--data", "d.csv"], 5, ["--method", "nope"],
         {"d.csv": GOOD_CSV}, subprocess=True),
    Case("baseline-data-missing", "baseline", ["--method", "majority", "--data", "nope.csv", "--output-dir", "b"],
         5, ["--data", "nope.csv"], guard=True),
    Case("fit-max-labels-below-two", "fit", ["--data", "d.csv", "--max-labels", "1", *FIT], 5,
         ["--max-labels", "max_labels=1"], {"d.csv": GOOD_CSV}),
    Case("data-min-class-examples-zero", "data", ["--data", "d.csv", "--min-class-examples", "0", *DATA], 5,
         ["--min-class-examples", "min_class_examples=0"], {"d.csv": GOOD_CSV}),
    # issue 15: multi-label flags
    Case("fit-threshold-strategy-unknown", "fit", ["--data", "d.csv", "--threshold-strategy", "best", *FIT], 5,
         ["--threshold-strategy", "fixed", "per-label-f1", "'best'"], {"d.csv": GOOD_CSV}),
    Case("fit-threshold-one", "fit", ["--data", "d.csv", "--threshold", "1", *FIT], 5,
         ["--threshold", "(0, 1)", "threshold=1"], {"d.csv": GOOD_CSV}),
    Case("fit-label-axes-malformed", "fit", ["--data", "d.csv", "--label-axes", "I-E,N-S", "--output-dir", "run",
                                            *FIT], 5, ["--label-axes", "A/B", "I-E"], {"d.csv": GOOD_CSV}, guard=True),
    Case("fit-task-unknown", "fit", ["--data", "d.csv", "--task", "multi", *FIT], 5,
         ["--task", "single-label", "multi-label", "'multi'"], {"d.csv": GOOD_CSV}),
    Case("fit-label-axes-on-free-labels", "fit", ["--data", "d.csv", "--label-axes", "I/E,N/S", "--output-dir", "run",
                                                 *FIT], 5, ["d.csv", "--label-axes", "invalid"], {"d.csv": GOOD_CSV},
         guard=True),
    Case("data-blank-labels-empty-single-label", "data", ["--data", "d.csv", "--blank-labels", "empty", *DATA], 5,
         ["--blank-labels empty", "multi-label", "--label-separator", "task='auto'"], {"d.csv": GOOD_CSV}),
    Case("tune-unknown-objective", "tune", ["--data", "d.csv", "--objective", "val_auc", "--output-dir", "t"], 5,
         ["--objective", "val_auc"], {"d.csv": GOOD_CSV}),
    Case("tune-max-trials-0", "tune", ["--data", "d.csv", "--max-trials", "0", "--output-dir", "t"], 5,
         ["--max-trials"], {"d.csv": GOOD_CSV}),
    Case("tune-search-unknown-key", "tune", ["--config", "c.yaml", "--output-dir", "t"], 5, ["c.yaml", "colour"],
         {"c.yaml": "search:\n  colour: [red, blue]\n"}),
    Case("tune-split-without-validation", "tune",
         ["--data", "d.csv", "--split", "1,0,0", "--output-dir", "t", *TUNE], 5, ["--validation", "--split"],
         {"d.csv": GOOD_CSV}, guard=True),
    # issue 16: long documents
    Case("fit-long-text-unknown", "fit", ["--data", "d.csv", "--long-text", "sliding", *FIT], 5,
         ["--long-text", "truncate", "head-tail", "chunks", "sliding"], {"d.csv": GOOD_CSV}),
    Case("fit-chunk-stride-not-below-window", "fit", ["--data", "d.csv", "--chunk-stride", "6", *FIT], 5,
         ["--chunk-stride", "seq_length - 2 = 6", "chunk_stride=6"], {"d.csv": GOOD_CSV}),
    Case("fit-batch-windows-0", "fit", ["--data", "d.csv", "--long-text", "chunks", "--batch-windows", "0", *FIT], 5,
         ["--batch-windows", "batch_windows=0"], {"d.csv": GOOD_CSV}),
    Case("fit-max-chunks-0", "fit", ["--data", "d.csv", "--max-chunks", "0", *FIT], 5,
         ["--max-chunks", "max_chunks=0"], {"d.csv": GOOD_CSV}),
    Case("fit-bootstrap-too-few-resamples", "fit", ["--data", "d.csv", "--bootstrap", "50", *FIT], 5,
         ["--bootstrap", "at least 100", "bootstrap=50"], {"d.csv": GOOD_CSV}),
    Case("data-head-tokens-past-window", "data", ["--data", "d.csv", "--head-tokens", "7", "--seq-length", "8"], 5,
         ["--head-tokens", "seq_length - 2 = 6", "head_tokens=7"], {"d.csv": GOOD_CSV}),
    Case("tune-search-chunk-stride-past-window", "tune", ["--config", "c.yaml", "--output-dir", "t"], 5,
         ["c.yaml", "chunk_stride", "200"],
         {"c.yaml": "model:\n  seq_length: 128\nsearch:\n  chunk_stride: [0, 200]\n"}),
    Case("explain-input-missing", "explain", ["--model", "{run}", "--input", "nope.csv"], 5,
         ["--input", "nope.csv"], guard=True),
    Case("explain-nothing-to-explain", "explain", ["--model", "{run}"], 5, ["--text", "--input"], guard=True),
    Case("explain-limit-0", "explain", ["--model", "{run}", "--input", "in.csv", "--limit", "0"], 5, ["--limit"],
         {"in.csv": NEW_CSV}, guard=True),
    # ------------------------------------------------------------------ several examples per row
    Case("fit-stack-text-columns-one-column", "fit", ["--data", "d.csv", "--stack-text-columns", *FIT], 5,
         ["--stack-text-columns", "at least two", "text_column=['text']"], {"d.csv": GOOD_CSV}),
    Case("data-max-examples-per-row-0", "data",
         ["--data", "d.csv", "--explode-text", "|||", "--max-examples-per-row", "0", *DATA], 5,
         ["--max-examples-per-row", ">= 1", "max_examples_per_row=0"], {"d.csv": GOOD_CSV}),
    Case("data-max-examples-per-row-without-explode-text", "data",
         ["--data", "d.csv", "--max-examples-per-row", "3", *DATA], 5,
         ["--max-examples-per-row", "--explode-text", "max_examples_per_row=3, explode_text=None"],
         {"d.csv": GOOD_CSV}),
    Case("data-stack-text-columns-missing-column", "data",
         ["--data", "d.csv", "--text-column", "text,description", "--stack-text-columns", *DATA], 5,
         ["d.csv", "--text-column", "'description'", "Columns found"], {"d.csv": GOOD_CSV}),
    # ------------------------------------------------------------------ group-level evaluation
    Case("fit-eval-group-by-row-without-several-examples", "fit",
         ["--data", "d.csv", "--eval-group-by", "row", *FIT], 5,
         ["--eval-group-by row", "--stack-text-columns", "--explode-text", "eval_group_by='row'"],
         {"d.csv": GOOD_CSV}),
    Case("fit-eval-group-by-differs-from-group-column", "fit",
         ["--data", "d.csv", "--eval-group-by", "user", "--group-column", "account", *FIT], 5,
         ["--eval-group-by", "--group-column", "eval_group_by='user'", "group_column='account'"],
         {"d.csv": GOOD_CSV}),
    Case("data-eval-group-by-missing-column", "data", ["--data", "d.csv", "--eval-group-by", "user", *DATA], 5,
         ["d.csv", "--eval-group-by", "'user'", "Columns found", "--eval-group-by none"], {"d.csv": GOOD_CSV}),
    Case("data-eval-group-labels-disagree", "data",
         ["--train", "t.csv", "--test", "s.csv", "--eval-group-by", "user", *DATA], 5,
         ["--eval-group-by 'user', test split", "group 'x'", "'billing', 'shipping'"],
         {"t.csv": GROUPED_TRAIN, "s.csv": GROUPED_TEST}),
    Case("evaluate-eval-group-by-missing-column", "evaluate",
         ["--model", "{run}", "--test", "new.csv", "--eval-group-by", "user", "--output-dir", "ev"], 5,
         ["new.csv", "--eval-group-by", "'user'", "--eval-group-by none"], {"new.csv": NEW_CSV}, guard=True),
    Case("evaluate-eval-group-labels-disagree", "evaluate",
         ["--model", "{run}", "--test", "new.csv", "--eval-group-by", "user", "--output-dir", "ev"], 5,
         ["new.csv", "group 'x'", "'billing', 'shipping'"], {"new.csv": GROUPED_TEST}, guard=True),
    Case("predict-group-by-not-a-column", "predict",
         ["--model", "{run}", "--input", "in.csv", "--output", "p.csv", "--group-by", "user", "--group-output",
          "g.csv", "--quiet"], 5, ["in.csv", "--group-by", "'user'", "Columns found"], {"in.csv": NEW_CSV}),
    Case("predict-group-by-without-group-output", "predict",
         ["--model", "{run}", "--input", "in.csv", "--output", "p.csv", "--group-by", "label", "--quiet"], 5,
         ["--group-by", "--group-output", "group_output=None"], {"in.csv": NEW_CSV}, guard=True),
    Case("predict-group-output-is-the-output", "predict",
         ["--model", "{run}", "--input", "in.csv", "--output", "p.csv", "--group-by", "label", "--group-output",
          "p.csv", "--quiet"], 5, ["--group-output", "--output", "p.csv"], {"in.csv": NEW_CSV}, guard=True),
    Case("predict-group-output-is-the-input", "predict",
         ["--model", "{run}", "--input", "in.csv", "--output", "p.csv", "--group-by", "label", "--group-output",
          "in.csv", "--quiet"], 5, ["--group-output", "in.csv"], {"in.csv": NEW_CSV}, guard=True),
    # ------------------------------------------------------------------ python -m tfclf.topics
    Case("topics-output-dir-is-cwd", "topics", ["--data", "d.csv", "--output-dir", ".", "--overwrite"], 1,
         ["--output-dir"], {"d.csv": GOOD_CSV}, guard=True),
    Case("topics-output-dir-is-a-run", "topics", ["--data", "d.csv", "--output-dir", "r", "--overwrite"], 1,
         ["--output-dir", "r", "run"], {"d.csv": GOOD_CSV, f"r/{MARKER}": '{"kind": "run"}\n'}, guard=True),
    Case("topics-no-output-dir", "topics", ["--data", "d.csv"], 5, ["--output-dir"], {"d.csv": GOOD_CSV},
         guard=True),
    Case("topics-no-data", "topics", ["--output-dir", "t"], 5, ["--data"], guard=True),
    Case("topics-n-topics-1", "topics", ["--data", "d.csv", "--output-dir", "t", "--n-topics", "1"], 5,
         ["--n-topics", "'1'"], {"d.csv": GOOD_CSV}, guard=True),
    Case("topics-text-column-missing", "topics", ["--data", "d.csv", "--output-dir", "t", "--text-column", "body"],
         5, ["d.csv", "--text-column", "body"], {"d.csv": GOOD_CSV}, guard=True),
    Case("topics-multi-label-with-labels", "topics",
         ["--data", "d.csv", "--output-dir", "t", "--label-separator", "|"], 5, ["one label per text", "--no-labels"],
         {"d.csv": GOOD_CSV}, guard=True),
    Case("topics-empty-corpus", "topics", ["--data", "d.csv", "--output-dir", "t", "--encoder", "{encoder}",
                                           "--no-progress"], 5, ["corpus is empty"],
         {"d.csv": "text,label\n   ,a\n\t,b\n"}),
    Case("topics-too-few-documents", "topics", ["--data", "d.csv", "--output-dir", "t", "--encoder", "{encoder}",
                                                "--min-topic-size", "15", "--no-progress"], 5,
         ["Too few documents", "24 read", "at least 30", "--min-topic-size 15"],
         {"d.csv": GOOD_CSV}),
    Case("topics-model-not-a-map", "topics", ["--model", "{run}", "--input", "in.csv", "--output", "o.csv"], 5,
         ["--model", "not a topic map"], {"in.csv": NEW_CSV}),
    Case("topics-model-without-output", "topics", ["--model", "m", "--input", "in.csv"], 5, ["--output"],
         {"in.csv": NEW_CSV}),
    Case("topics-assign-output-is-the-input", "topics", ["--model", "m", "--input", "in.csv", "--output", "in.csv"],
         1, ["--output", "in.csv"], {"in.csv": NEW_CSV}),
    # issue 20: the tfclf command
    Case("tfclf-unknown-command", "tfclf", ["fitt", "--data", "d.csv", "--output-dir", "run"], 5,
         ["command (tfclf COMMAND) must be one of", "'fit'", "'topics'", "Received: command='fitt'"],
         {"d.csv": GOOD_CSV}),
    Case("tfclf-unknown-command-process", "tfclf", ["trian", "--data", "d.csv"], 5,
         ["must be one of", "'data'", "Received: command='trian'"], {"d.csv": GOOD_CSV}, subprocess=True),
    Case("tfclf-no-command", "tfclf", [], 5, ["usage: tfclf COMMAND", "commands:", "fit "]),
]


# ---------------------------------------------------------------------------------- guards

class WorkStarted(Exception):
    """Raised by the work guard: the CLI began work it should have refused before."""


def install_work_guard(monkeypatch, cli: str) -> None:
    def refuse(what: str):
        def guard(*args, **kwargs):
            raise WorkStarted(f"{what} ran: python -m tfclf.{cli} must refuse this input before that work")
        return guard

    if cli == "fit":
        from tfclf import training

        monkeypatch.setattr(training, "_fit_one", refuse("training"))
        monkeypatch.setattr(training, "_fit_seeds", refuse("training"))
    elif cli in ("evaluate", "predict", "explain"):
        from tfclf.serving import loaded

        monkeypatch.setattr(loaded, "load", refuse("loading the model"))
    elif cli == "export":
        from tfclf.serving import restore

        monkeypatch.setattr(restore, "build_module", refuse("rebuilding the model"))
    elif cli == "baseline":
        from tfclf import baselines  # the library the CLI calls

        monkeypatch.setattr(baselines, "run_baseline", refuse("the baseline"))
    elif cli == "topics":
        from tfclf.topics import embedding

        monkeypatch.setattr(embedding, "for_config", refuse("loading the encoder"))
    elif cli == "tune":
        from tfclf.tuning import tuner

        monkeypatch.setattr(tuner.FineTuningTuner, "search", refuse("the search's trials"))


def fill(arg: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        arg = arg.replace("{" + key + "}", value)
    return arg


def params():
    for c in CASES:
        reason = f"issue 13 section {c.section}: pending ({c.before})"
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if c.pending else []
        yield pytest.param(c, id=f"{c.cli}:{c.id}", marks=marks)


# ------------------------------------------------------------------------------------ tests

@pytest.mark.parametrize("case", params())
def test_bad_input_exits_2_names_the_culprit_and_writes_nothing(case, tmp_path, monkeypatch, request):
    run = request.getfixturevalue("trained_run") if case.needs_run else None
    values = {"run": str(run), "home": str(tmp_path / "home")}
    if any("{encoder}" in a for a in case.argv):
        values["encoder"] = str(request.getfixturevalue("tiny_bert").root)
    for rel, content in case.files.items():
        write(tmp_path / rel, content)
    if case.setup:
        case.setup(tmp_path, run)
    if case.home:
        (tmp_path / "home").mkdir(exist_ok=True)
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cwd = tmp_path / case.cwd
    monkeypatch.chdir(cwd)
    if case.guard and not case.subprocess:
        install_work_guard(monkeypatch, case.cli)
    argv = [fill(a, values) for a in case.argv]
    roots = [tmp_path] + ([run] if run is not None else [])
    before = [snapshot(r) for r in roots]

    if case.subprocess:
        code, output = run_subprocess(case.cli, argv, cwd)
    else:
        code, output = run_cli(case.cli, argv)

    problems = []
    if code != 2:
        problems.append(f"exit code {code!r}, expected 2" + (" (an exception escaped main)" if code is None else ""))
    if TRACEBACK in output:
        problems.append("a traceback was printed")
    if "unrecognized arguments" in output:
        problems.append("the CLI does not know a flag this case uses")
    missing = [s for s in case.expect if s not in output]
    if missing:
        problems.append(f"the message does not name {missing}")
    for root, old in zip(roots, before):
        changes = snapshot_changes(old, snapshot(root))
        if changes:
            problems.append(f"written under {root}: {changes[:10]}")
    assert not problems, "\n".join(problems) + "\n--- output (last 3000 chars) ---\n" + output[-3000:]


def test_the_suite_covers_every_cli_and_section():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 70
    assert {c.cli for c in CASES} == set(CLIS)
    assert {c.section for c in CASES} == {1, 2, 3, 4, 5}
    for c in CASES:
        assert c.expect, c.id
        assert not c.pending or (c.before and c.section in (1, 2, 3, 4)), c.id
        assert c.subprocess is False or c.guard is False, c.id  # the guard cannot reach a subprocess


def test_the_readme_counts_these_cases():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"keeps {len(CASES)} bad inputs across the nine CLIs" in " ".join(readme.split())


def test_snapshot_notices_new_changed_and_deleted_files(tmp_path):
    write(tmp_path / "a" / "f.txt", "one")
    write(tmp_path / ".hidden", "x")
    base = snapshot(tmp_path)
    assert snapshot_changes(base, snapshot(tmp_path)) == []
    write(tmp_path / "a" / "g.txt", "new")
    assert snapshot_changes(base, snapshot(tmp_path)) == ["new: a/g.txt"]
    (tmp_path / "a" / "g.txt").unlink()
    os.utime(tmp_path / "a" / "f.txt", ns=(0, 0))
    assert snapshot_changes(base, snapshot(tmp_path)) == ["changed: a/f.txt"]
    (tmp_path / ".hidden").unlink()
    (tmp_path / "run").mkdir()
    assert snapshot_changes(base, snapshot(tmp_path)) == ["new: run", "deleted: .hidden", "changed: a/f.txt"]


def test_a_successful_cli_run_is_seen_by_the_snapshot(tmp_path, monkeypatch):
    """The checks above can fail: a CLI that writes shows up, and so does an escaped exception."""
    write(tmp_path / "d.csv", GOOD_CSV)
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    code, output = run_cli("data", ["--data", "d.csv", "--report-dir", "rep", *DATA])
    assert code == 0 and TRACEBACK not in output, output[-3000:]
    assert "new: rep/data_report.json" in snapshot_changes(before, snapshot(tmp_path))

    from tfclf.data import __main__ as data_cli

    def boom(argv):
        raise RuntimeError("escaped")

    monkeypatch.setattr(data_cli, "main", boom)
    code, output = run_cli("data", [])
    assert code is None and TRACEBACK in output and "RuntimeError: escaped" in output


def test_the_work_guard_stops_training(tmp_path, monkeypatch, tiny_bert):
    """The guard the output cases rely on fires when fit reaches training (and nothing trains)."""
    write(tmp_path / "d.csv", GOOD_CSV)
    monkeypatch.chdir(tmp_path)
    install_work_guard(monkeypatch, "fit")
    code, output = run_cli("fit", ["--data", "d.csv", "--output-dir", "run",
                                   *[fill(a, {"encoder": str(tiny_bert.root)}) for a in FIT]])
    assert code is None and "WorkStarted: training ran" in output, output[-3000:]


def test_labels_1_and_1_0_are_one_label(tmp_path, monkeypatch):
    """Positive control (issue 13 section 3): numeric spellings of one label are one class, not an error."""
    rows = [(t, "1" if i % 4 == 0 else "1.0" if i % 4 == 1 else "0") for i, (t, _) in enumerate(keyword_rows(24))]
    write(tmp_path / "d.csv", csv_text(rows))
    monkeypatch.chdir(tmp_path)
    code, output = run_cli("data", ["--data", "d.csv", "--report-dir", "rep", *DATA])
    assert code == 0 and TRACEBACK not in output, output[-3000:]
    labels = json.loads((tmp_path / "rep" / "data_report.json").read_text())["labels"]
    assert len(labels) == 2, labels
