import json
import os
import shutil
import subprocess
import sys

import pytest

from tfclf import encoders
from tfclf.config import Pooling
from tfclf.errors import TfclfError


def test_registry_has_the_documented_handles():
    assert set(encoders.ENCODERS) == {"labse", "bert-en-uncased", "bert-multi-cased", "small-bert", "minilm"}
    labse = encoders.get_encoder("labse")
    assert labse.encoder == "https://tfhub.dev/google/LaBSE/2"
    assert labse.preprocessor == "https://tfhub.dev/google/universal-sentence-encoder-cmlm/multilingual-preprocess/2"
    assert encoders.get_encoder("small-bert").preprocessor.endswith("bert_en_uncased_preprocess/3")
    assert encoders.get_encoder("small-bert").encoder.endswith("small_bert/bert_en_uncased_L-4_H-512_A-8/2")
    assert encoders.get_encoder("bert-multi-cased").encoder.endswith("bert_multi_cased_L-12_H-768_A-12/4")
    assert encoders.get_encoder("minilm").builder == "minilm"
    assert encoders.get_encoder("minilm").pooling is Pooling.MEAN


def test_unknown_name_lists_valid_names():
    with pytest.raises(TfclfError) as e:
        encoders.resolve("labse-xl")
    assert "'labse-xl'" in str(e.value) and "bert-en-uncased" in str(e.value) and "minilm" in str(e.value)


def test_local_folder_pair(tiny_bert):
    r = encoders.resolve(str(tiny_bert.root), seq_length=24, pooling=Pooling.CLS)
    assert r.encoder_path == str(tiny_bert.encoder)
    assert r.preprocessor_path == str(tiny_bert.preprocessor)
    assert (r.seq_length, r.pooling) == (24, Pooling.CLS)


def test_encoder_folder_alone_needs_preprocessor(tiny_bert):
    with pytest.raises(TfclfError, match="--preprocessor"):
        encoders.resolve(str(tiny_bert.encoder))
    r = encoders.resolve(str(tiny_bert.encoder), str(tiny_bert.preprocessor))
    assert r.preprocessor_path == str(tiny_bert.preprocessor)


def test_folder_without_saved_model(tmp_path):
    with pytest.raises(TfclfError, match="holds no SavedModel"):
        encoders.resolve(str(tmp_path))


def test_unreachable_url_is_a_clear_error_with_offline_options(tmp_path, monkeypatch):
    # No wall-clock bound (a busy machine fails one): the probe's own timeout bounds the wait.
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "hub"))
    handle = "https://tfhub.invalid/google/LaBSE/2"  # .invalid never resolves (RFC 2606)
    with pytest.raises(TfclfError) as e:
        encoders.resolve(handle, "https://tfhub.invalid/pre/2")
    msg = str(e.value)
    for part in (handle, "unreachable", "--encoder minilm", "TFHUB_CACHE_DIR", "--encoder /path/to/folder"):
        assert part in msg


def test_cached_url_resolves_without_network(tiny_bert, tmp_path, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "hub"))
    enc, pre = "https://tfhub.invalid/enc/1", "https://tfhub.invalid/pre/1"
    shutil.copytree(tiny_bert.encoder, encoders.hub_cache_path(enc))
    shutil.copytree(tiny_bert.preprocessor, encoders.hub_cache_path(pre))
    r = encoders.resolve(enc, pre)
    assert r.encoder_path == str(tmp_path / "hub" / encoders.hub_cache_path(enc).name)
    assert r.encoder_handle == enc


def test_ensure_built_builds_once_and_rebuilds_old_formats(tmp_path, monkeypatch):
    monkeypatch.setenv("TFCLF_CACHE_DIR", str(tmp_path / "cache"))
    calls = []

    def builder(out):  # stands in for the 2-minute conversion; only the caching is under test
        calls.append(out)
        (out / "encoder").mkdir(parents=True)
        (out / "preprocessor").mkdir()

    monkeypatch.setitem(encoders.BUILDERS, "fake", builder)
    first = encoders.ensure_built("fake")
    assert encoders.ensure_built("fake") == first == tmp_path / "cache" / "fake"
    assert len(calls) == 1
    info = json.loads((first / "build_info.json").read_text())
    info["format"] = -1
    (first / "build_info.json").write_text(json.dumps(info))
    encoders.ensure_built("fake")
    assert len(calls) == 2
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".fake.tmp")]


def test_failed_build_leaves_no_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TFCLF_CACHE_DIR", str(tmp_path))

    def broken(out):
        out.mkdir(parents=True)
        raise TfclfError("checkpoint missing")

    monkeypatch.setitem(encoders.BUILDERS, "broken", broken)
    with pytest.raises(TfclfError):
        encoders.ensure_built("broken")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".broken.lock"]


def run_cli(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def test_cli_list_prints_registry():
    out = run_cli("tfclf.encoders", "list")
    assert out.returncode == 0, out.stderr
    for name in encoders.ENCODERS:
        assert name in out.stdout
    assert "https://tfhub.dev/google/LaBSE/2" in out.stdout


def test_fit_with_labse_offline_is_a_clear_error(tmp_path):
    # Behaviour only: the time it takes depends on the machine's load (38 s seen on two busy cores).
    if encoders.probe_network(encoders.get_encoder("labse").encoder, timeout=3) is None:
        pytest.skip("network reachable: this checks the offline behaviour")
    out = run_cli("tfclf.fit", "--encoder", "labse", "--output-dir", str(tmp_path / "run"),
                  env={"TFHUB_CACHE_DIR": str(tmp_path / "hub")})
    assert out.returncode == 2, out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    assert "https://tfhub.dev/google/LaBSE/2" in out.stderr and "--encoder minilm" in out.stderr
    assert not (tmp_path / "run").exists()
