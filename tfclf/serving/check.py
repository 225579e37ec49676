"""The parity check: an export computes what the run's model computes, loaded as a server loads it.

``check(path)`` rebuilds the run's classifier from its ``config.yaml`` and best
checkpoint in this process (``restore``), loads the export in a fresh interpreter
(importing TensorFlow and TF-Text, as TF Serving links them), runs the fixed
``adversarial_cases()`` through both and compares every output; it also runs
TensorFlow's ``saved_model_cli show`` and ``run`` on the export.
"""
from __future__ import annotations

import ast
import dataclasses
import logging
import os
import pickle
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import tensorflow as tf

from tfclf import object_storage, progress, rundir
from tfclf.config import ExportFormat
from tfclf.errors import TfclfError
from tfclf.serving import restore
from tfclf.serving.loaded import export_info, resolve_model_path
from tfclf.serving.signatures import INPUT_NAMES, text_features
from tfclf.serving.tf_serving import run_python

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

MAX_ABS_DIFF = 1e-5

__all__ = ["CLI_TEXTS", "MAX_ABS_DIFF", "CaseResult", "CheckReport", "adversarial_cases", "check",
           "parse_saved_model_cli_run", "saved_model_cli"]


def adversarial_cases() -> dict[str, list[bytes]]:
    """The fixed input set of ``--check``: name -> one batch of raw byte strings."""
    cases: dict[str, list[Union[str, bytes]]] = {
        "empty": [""],
        "whitespace": [" ", "\t\n\r  ", "\u00a0\u3000\u2003"],
        "100k_chars": [("please refund my invoice " * 4000)[:100_000]],
        "emoji": ["🙂", "my package 📦 is late 😡😡", "👩\u200d👩\u200d👧\u200d👦 🏳️\u200d🌈"],
        "rtl": ["مرحبا، أين طردي؟", "שלום, איפה החבילה שלי?", "login עברית and English"],
        "cjk": ["我的包裹迟到了", "パスワードを忘れました", "비밀번호를 잊어버렸어요"],
        "nul_bytes": ["refund\x00invoice", "\x00", "a\x00\x00b"],
        "invalid_utf8": [b"\xff\xfe refund", b"caf\xe9 latin-1", b"\xc3\x28", b"\xed\xa0\x80 surrogate",
                         b"\x80\x80\x80", b"ok \xf0\x9f\x99"],
    }
    cases["mixed"] = [t for batch in cases.values() for t in batch]
    words = "the my is and please help with a to it refund charge invoice package delivery late " \
            "password login email 東京 🙂 שלום".split()
    rng = np.random.default_rng(0)
    batch = [" ".join(rng.choice(words, size=int(rng.integers(0, 60)))) for _ in range(1000)]
    step = len(batch) // len(cases["mixed"])
    for i, text in enumerate(cases["mixed"]):  # every adversarial text, spread through the batch
        batch[i * step] = text
    cases["batch_1000"] = batch
    return {name: [t if isinstance(t, bytes) else t.encode("utf-8") for t in batch]
            for name, batch in cases.items()}


@dataclasses.dataclass
class CaseResult:
    name: str
    n: int
    max_abs_diff: float
    labels_identical: bool


@dataclasses.dataclass
class CheckReport:
    """What ``check`` found. ``passed`` needs every case within ``MAX_ABS_DIFF`` and
    identical labels, and ``saved_model_cli run`` printing the in-memory labels."""

    path: Path
    reference: str
    cases: list[CaseResult]
    embedding_max_abs_diff: float
    cli_show_ok: bool
    cli_labels: Optional[list[str]]  # None: the label output was missing from saved_model_cli's output
    expected_cli_labels: list[str]
    cli_show: str = ""

    @property
    def max_abs_diff(self) -> float:
        return max((c.max_abs_diff for c in self.cases), default=0.0)

    @property
    def labels_identical(self) -> bool:
        return all(c.labels_identical for c in self.cases)

    @property
    def passed(self) -> bool:
        return (self.max_abs_diff <= MAX_ABS_DIFF and self.embedding_max_abs_diff <= MAX_ABS_DIFF
                and self.labels_identical and self.cli_show_ok and self.cli_labels is not None
                and self.cli_labels == self.expected_cli_labels)

    def format(self) -> str:
        lines = [f"Export {self.path} vs the in-memory model ({self.reference}), export loaded in a "
                 "fresh process:",
                 f"  {'case':<14} {'n':>5} {'max |diff|':>11}  labels"]
        for c in self.cases:
            lines.append(f"  {c.name:<14} {c.n:>5} {c.max_abs_diff:>11.2e}  "
                         f"{'identical' if c.labels_identical else 'DIFFERENT'}")
        lines.append(f"  embedding max |diff| {self.embedding_max_abs_diff:.2e}")
        lines.append(f"  saved_model_cli show --all: {'ok' if self.cli_show_ok else 'FAILED'}")
        lines.append(f"  saved_model_cli run: {self.cli_labels} "
                     f"{'==' if self.cli_labels == self.expected_cli_labels else '!='} "
                     f"in-memory {self.expected_cli_labels}")
        lines.append(f"{'PASSED' if self.passed else 'FAILED'}: max |diff| {self.max_abs_diff:.2e} "
                     f"(limit {MAX_ABS_DIFF:g}), labels {'identical' if self.labels_identical else 'differ'}.")
        return "\n".join(lines)


def _serve_cases_child() -> None:
    """Runs in a fresh interpreter: loads an export as a server would and runs the cases."""
    import tensorflow_text  # noqa: F401  (TF Serving links the TF-Text ops in; Python imports them)

    path, in_file, out_file = sys.argv[1:4]
    with open(in_file, "rb") as f:
        cases = pickle.load(f)
    loaded = tf.saved_model.load(path)
    results = {}
    for name, inputs in cases.items():
        tensors = {k: tf.constant(v) for k, v in inputs.items()}
        out = {k: v.numpy() for k, v in loaded.signatures["serving_default"](**tensors).items()}
        out["embedding"] = loaded.signatures["embed"](**tensors)["embedding"].numpy()
        results[name] = out
    with open(out_file, "wb") as f:
        pickle.dump(results, f)


def _in_memory_outputs(module: tf.Module, inputs: dict[str, Any]) -> dict[str, np.ndarray]:
    tensors = {k: tf.constant(v) for k, v in inputs.items()}
    out = {k: v.numpy() for k, v in module.serve(**tensors).items()}
    out["embedding"] = module.embed(**tensors)["embedding"].numpy()
    return out


def _reference_run(path: Path, run_dir: Optional[PathLike]) -> PathLike:
    if run_dir is not None:
        return run_dir if object_storage.is_remote(run_dir) else Path(run_dir)
    recorded = export_info(path).get("run_dir")
    if recorded and (object_storage.is_remote(recorded) or Path(recorded).is_dir()):
        return recorded
    if path.name == rundir.SAVED_MODEL and (path.parent / rundir.CONFIG).is_file():
        return path.parent
    raise TfclfError(
        f"--check {str(path)!r}: cannot find the run directory it was exported from "
        f"(recorded: {recorded!r}); pass --run RUN_DIR.")


def saved_model_cli(args: Sequence[str]) -> subprocess.CompletedProcess:
    """Runs ``saved_model_cli ARGS`` with the TF-Text ops registered, in a fresh process."""
    return run_python(["-m", "tfclf.export", "--saved-model-cli", *args], "saved_model_cli " + args[0])


_CLI_OUTPUT_RE = re.compile(r"Result for output key (\w+):\n(.*?)(?=\nResult for output key|\Z)", re.S)


def parse_saved_model_cli_run(stdout: str) -> dict[str, str]:
    """``saved_model_cli run`` output -> {output key: printed value}."""
    return {m.group(1): m.group(2).strip() for m in _CLI_OUTPUT_RE.finditer(stdout)}


def _printed_strings(value: str) -> list[str]:
    return [ast.literal_eval(m.group(0)).decode("utf-8") for m in re.finditer(r"b'(?:[^'\\]|\\.)*'|b\"(?:[^\"\\]|\\.)*\"", value)]


CLI_TEXTS = ("please refund the invoice", "my package is late")


def check(path: PathLike, run_dir: Optional[PathLike] = None) -> CheckReport:
    """Proves an export computes what the run's model computes.

    Rebuilds the run's classifier from ``config.yaml`` and its best checkpoint in
    this process, loads the export in a fresh process (importing only TensorFlow
    and TF-Text, as a server does), runs ``adversarial_cases()`` through both and
    compares every output. Also runs ``saved_model_cli show --all`` and
    ``saved_model_cli run --input_exprs`` on the export.

    Args:
        path: the export (version folder, model folder or run directory).
        run_dir: the run it came from; default: recorded in ``assets.extra``.

    Returns:
        A ``CheckReport``; ``report.passed`` says whether the export is identical.
    """
    with progress.bar(len(CHECK_STEPS), desc="export --check", unit="steps") as bar:
        return _check(path, run_dir, bar)


# What a person waits for, in order (the progress bar's steps).
CHECK_STEPS = ("rebuilding the run's model", "loading the export in a fresh process",
               "comparing the outputs", "running saved_model_cli")


def _check(path: PathLike, run_dir: Optional[PathLike], bar) -> CheckReport:
    """``check``, advancing ``bar`` (a ``progress.bar``) through ``CHECK_STEPS``."""

    def step(i: int) -> None:
        bar.update(i - bar.n)
        bar.set_description_str(f"export --check: {CHECK_STEPS[i]}")

    step(0)
    path = resolve_model_path(path, role="--check")
    if object_storage.is_remote(path):  # the fresh process loads a local copy, as tfclf.load does
        copy = object_storage.LocalCopy(str(path), "--check", checked=True)
        path = copy.path
    info = export_info(path)
    run = restore.read_run(_reference_run(path, run_dir))
    fmt = ExportFormat(info.get("format", ExportFormat.TEXT.value))
    # The thresholds the export recorded (an explicit --threshold, else the run's thresholds.json).
    module = restore.build_module(run, format=fmt, threshold=info.get("thresholds") or info.get("threshold"))
    cases = adversarial_cases()
    if fmt == ExportFormat.IDS:
        preprocessor = run.text_preprocessor().module
        inputs = {name: {k: v.numpy() for k, v in
                         text_features(preprocessor, run.seq_length, tf.constant(batch), run.long_text).items()}
                  for name, batch in cases.items()}
    else:
        inputs = {name: {"text": np.array(batch, dtype=object)} for name, batch in cases.items()}

    step(1)
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as d:
        in_file, out_file = Path(d) / "in.pkl", Path(d) / "out.pkl"
        with open(in_file, "wb") as f:
            pickle.dump(inputs, f)
        run_python(["-c", "from tfclf.serving.check import _serve_cases_child; _serve_cases_child()",
                     str(path), str(in_file), str(out_file)], "loading the export in a fresh process")
        with open(out_file, "rb") as f:
            served = pickle.load(f)
    logger.info("Fresh-process run of %d cases took %.1fs", len(cases), time.monotonic() - start)

    step(2)
    results, embed_diff = [], 0.0
    label_key = "labels" if run.multi_label else "label"
    for name, batch_inputs in inputs.items():
        expected = _in_memory_outputs(module, batch_inputs)
        got = served[name]
        if set(expected) != set(got):
            raise TfclfError(f"{path}: the export's outputs {sorted(got)} differ from the in-memory "
                             f"model's {sorted(expected)}.")
        diff = max(float(np.max(np.abs(got[k] - expected[k]), initial=0.0))
                   for k in expected if expected[k].dtype.kind == "f" and k != "embedding")
        embed_diff = max(embed_diff, float(np.max(np.abs(got["embedding"] - expected["embedding"]),
                                                  initial=0.0)))
        same = bool(np.array_equal(got[label_key], expected[label_key]))
        if "label_id" in expected:
            same = same and bool(np.array_equal(got["label_id"], expected["label_id"]))
        results.append(CaseResult(name=name, n=len(cases[name]), max_abs_diff=diff, labels_identical=same))

    step(3)
    show = saved_model_cli(["show", "--dir", str(path), "--all"]).stdout
    input_names = ["input_word_ids"] if fmt == ExportFormat.IDS else ["text"]
    show_ok = all(s in show for s in ("signature_def['serving_default']", "signature_def['embed']",
                                      f"inputs['{input_names[0]}']", "outputs['probabilities']"))
    if fmt == ExportFormat.IDS:
        cli_inputs = {k: v.numpy() for k, v in
                      text_features(preprocessor, run.seq_length, tf.constant(CLI_TEXTS), run.long_text).items()}
        exprs = ";".join(f"{k}={cli_inputs[k].tolist()!r}" for k in INPUT_NAMES)
    else:
        cli_inputs = {"text": np.array([t.encode() for t in CLI_TEXTS], dtype=object)}
        exprs = f"text={list(CLI_TEXTS)!r}"
    expected_out = _in_memory_outputs(module, cli_inputs)
    run_out = saved_model_cli(["run", "--dir", str(path), "--tag_set", "serve", "--signature_def",
                               "serving_default", "--input_exprs", exprs]).stdout
    printed = parse_saved_model_cli_run(run_out).get(label_key)
    cli_labels = None if printed is None else [s for s in _printed_strings(printed) if s]
    expected_labels = [s.decode() for s in np.ravel(expected_out[label_key]) if s]
    return CheckReport(path=path, reference=f"rebuilt from {run.run_dir}/{rundir.CONFIG} + {run.weights.name}",
                       cases=results, embedding_max_abs_diff=embed_diff, cli_show_ok=show_ok,
                       cli_labels=cli_labels, expected_cli_labels=expected_labels, cli_show=show)
