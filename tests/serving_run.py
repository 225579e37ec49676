"""One trained run and its TF Serving export, shared by tests/test_serving_*.py and test_export.py.

Training even the tiny run takes a while on a CPU, and the serving tests only read
it, so it is trained once per session (memoised here, in the session's temporary
folder) instead of once per test module. Tests that change a run copy it first.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

KEYWORDS = {"billing": ["refund", "charge", "invoice"], "shipping": ["package", "delivery", "late"],
            "account": ["password", "login", "email"]}
FILLER = ["the", "my", "is", "and", "please", "help", "with", "a", "to", "it"]

_CACHE: dict[str, object] = {}


def keyword_csv(path, n=150, seed=0):
    """Texts labelled by one keyword among filler words: a tiny encoder learns them in seconds."""
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(n):
            label = sorted(KEYWORDS)[i % 3]
            words = list(rng.choice(FILLER, size=rng.integers(3, 9)))
            words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(KEYWORDS[label])))
            w.writerow([" ".join(words), label])
    return path


def trained_run(tiny_bert, tmp_path_factory) -> Path:
    """A run directory trained on ``keyword_csv`` (labels account, billing, shipping)."""
    if "run" not in _CACHE:
        import tfclf
        import tfclf.fit  # noqa: F401  (the CLI module must not shadow the API call)
        from tfclf.config import DataConfig, ModelConfig, OptimizerConfig, Pooling, RunConfig, TrainConfig

        tmp = tmp_path_factory.mktemp("export_run")
        config = RunConfig(
            data=DataConfig(data=str(keyword_csv(tmp / "data.csv"))),
            model=ModelConfig(encoder=str(tiny_bert.root), seq_length=16, pooling=Pooling.MEAN),
            optimizer=OptimizerConfig(values=(1e-2, 3e-3), boundaries=(30,)),
            train=TrainConfig(epochs=2, batch_size=16, output_dir=str(tmp / "run")))
        _CACHE["run"] = tfclf.fit(config, verbose=0).output_dir
    return _CACHE["run"]


def serving_root(tmp_path_factory) -> Path:
    """``.../serving/tickets``: the model folder ``exported`` writes version 1 into."""
    if "serving_root" not in _CACHE:
        _CACHE["serving_root"] = tmp_path_factory.mktemp("serving") / "tickets"
    return _CACHE["serving_root"]


def exported(tiny_bert, tmp_path_factory):
    """``python -m tfclf.export RUN --export-dir .../serving/tickets`` of ``trained_run``."""
    if "exported" not in _CACHE:
        from tfclf.config import ExportConfig
        from tfclf.serving import tf_serving

        _CACHE["exported"] = tf_serving.export_run(trained_run(tiny_bert, tmp_path_factory),
                                                   ExportConfig(export_dir=str(serving_root(tmp_path_factory))))
    return _CACHE["exported"]
