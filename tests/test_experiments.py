"""Every fit recipe in experiments/ runs in quick mode, so the recipes cannot rot.

Quick mode keeps a recipe's data section (files, columns, cleaning, splits, label maps,
several examples per row, group-level evaluation) and its task, and swaps what makes it
slow: the encoder becomes the tiny TF Hub-format test encoder (tiny LaBSE-like for the
LaBSE recipe), 16 tokens, one epoch, 64 training rows, 100 bootstrap resamples. IMDb is a
tarball: quick mode reads 30 reviews per class and split from it into class folders.
A recipe whose data is not in ../shared/datasets is skipped, saying so.
"""
from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"
IMDB_TARBALL = ROOT.parent / "shared" / "datasets" / "imdb" / "aclImdb.tar.gz"
# Fit recipes (topics_*.yaml are tfclf.topics recipes: tests/test_topics_config.py loads them).
RECIPES = sorted(p.name for p in EXPERIMENTS.glob("*.yaml") if not p.name.startswith("topics_"))


def test_every_recipe_is_covered():
    assert {"twitter_identity.yaml", "emotion_minilm.yaml", "emotion_frozen.yaml", "imdb_labse.yaml",
            "imdb_minilm.yaml", "mbti_posts.yaml", "umsab_minilm.yaml"} <= set(RECIPES)


def _imdb_sample(out: Path, per_class: int = 30) -> Path:
    """``out/aclImdb/{train,test}/{pos,neg}/*.txt``: the first reviews of each folder in the tarball."""
    wanted = {f"aclImdb/{s}/{c}/": 0 for s in ("train", "test") for c in ("pos", "neg")}
    with tarfile.open(IMDB_TARBALL, "r:gz") as tar:
        for member in tar:
            prefix = next((p for p in wanted if member.name.startswith(p)), None)
            if prefix is None or not member.isfile() or wanted[prefix] >= per_class:
                continue
            target = out / member.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tar.extractfile(member).read())
            wanted[prefix] += 1
            if all(n >= per_class for n in wanted.values()):
                break
    return out / "aclImdb"


def _quick(recipe: str, tmp_path: Path, encoder: Path):
    from tfclf import config as config_lib

    raw = config_lib.load_yaml(EXPERIMENTS / recipe)
    raw = {k: v for k, v in raw.items() if k in config_lib.SECTIONS}  # tune:/search: are tfclf.tune's
    data = dict(raw.get("data") or {})
    if "aclImdb" in str(data.get("data", "")):
        if not IMDB_TARBALL.is_file():
            pytest.skip(f"{IMDB_TARBALL} is not here")
        data["data"] = str(_imdb_sample(tmp_path / "imdb"))
    for key in ("data", "train", "validation", "test"):
        value = data.get(key)
        if value and not str(value).startswith(str(tmp_path)):
            path = (ROOT / Path(value).expanduser()) if not Path(value).expanduser().is_absolute() \
                else Path(value).expanduser()
            if not path.exists():
                pytest.skip(f"{recipe}: its data {value} is not here")
            data[key] = str(path)
    data["limit_train"] = 64
    model = {**(raw.get("model") or {}), "encoder": str(encoder), "seq_length": 16}
    model.pop("preprocessor", None)
    train = {**(raw.get("train") or {}), "epochs": 1, "batch_size": 8, "output_dir": str(tmp_path / "run"),
             "seeds": []}
    if train.get("bootstrap"):
        train["bootstrap"] = 100
    train["baselines"] = [b for b in train.get("baselines", []) if b != "zero-shot"]  # tested in test_baselines
    optimizer = dict(raw.get("optimizer") or {})
    if optimizer.get("boundaries"):
        optimizer["boundaries"] = [2]
    return config_lib.from_dict({"data": data, "model": model, "optimizer": optimizer, "train": train},
                                f"quick {recipe}")


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_runs_in_quick_mode(recipe, tmp_path, tiny_bert, tiny_labse):
    import tfclf
    import tfclf.fit  # noqa: F401  (the CLI module must not shadow the API call)

    encoder = tiny_labse.root if "labse" in recipe else tiny_bert.root
    config = _quick(recipe, tmp_path, encoder)
    run = tfclf.fit(config, verbose=0)
    metrics = json.loads((run.output_dir / "metrics.json").read_text())
    assert metrics["n_examples"] > 0
    key = "f1_macro" if "f1_macro" in metrics else "f1_micro"
    assert 0.0 <= metrics[key] <= 1.0
    if config.data.eval_group_by:
        assert metrics["group_level"]["n_groups"] > 0
        assert metrics["group_level"]["n_groups"] <= metrics["n_examples"]
    if config.train.bootstrap:
        assert "bootstrap" in metrics
    saved = tfclf.config.load_yaml(run.output_dir / "config.yaml")
    assert saved["model"]["encoder"] == str(encoder)
