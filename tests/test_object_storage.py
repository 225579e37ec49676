"""Object storage: the filesystem layer (local and ``ram://``), publishing with the marker last,
and the whole path (data -> fit -> export -> predict) on TensorFlow's in-memory ``ram://`` store."""
import csv
import gzip
import io
import json
import uuid
from pathlib import Path

import pytest
import tensorflow as tf

from tfclf import data, object_storage, outputs, urls
from tfclf.config import DataConfig
from tfclf.data import filesystem
from tfclf.errors import TfclfError
from tfclf.outputs import MARKER, OutputKind

gfile = tf.io.gfile


@pytest.fixture
def ram():
    """A fresh ``ram://`` folder, removed afterwards (the in-memory store lives as long as the process)."""
    root = f"ram://tfclf-test-{uuid.uuid4().hex[:8]}"
    gfile.makedirs(root)
    yield root
    filesystem.remove(root)


def put(url: str, content: bytes) -> str:
    gfile.makedirs(urls.parent(url))
    if gfile.exists(url):  # ram:// appends to an existing file opened with "wb" (object stores replace it)
        gfile.remove(url)
    with gfile.GFile(url, "wb") as f:
        f.write(content)
    return url


def get(url: str) -> bytes:
    with gfile.GFile(url, "rb") as f:
        return f.read()


# --------------------------------------------------------------------------- the filesystem layer

def test_urls_split_join_and_parent():
    assert urls.is_remote("gs://b/x") and urls.is_remote("RAM://b") and not urls.is_remote("runs/a")
    assert not urls.is_remote("C:/data") and urls.scheme("s3://b/k") == "s3"
    assert urls.join("gs://b/runs/", "a", "m.json") == "gs://b/runs/a/m.json"
    assert urls.parent("gs://b/runs/a") == "gs://b/runs" and urls.parent("gs://b") == "gs://b"
    assert urls.name("gs://b/runs/a/") == "a"


def test_path_is_pathlib_locally_and_a_remote_path_on_a_store(tmp_path):
    assert filesystem.path("~/x.csv") == Path("~/x.csv").expanduser()
    p = filesystem.path("ram://bucket/data/part-0001.csv.gz")
    assert isinstance(p, filesystem.RemotePath) and str(p) == "ram://bucket/data/part-0001.csv.gz"
    assert (p.name, p.suffix, p.stem) == ("part-0001.csv.gz", ".gz", "part-0001.csv")
    assert str(p.parent / "b.csv") == "ram://bucket/data/b.csv" == str(p.with_name("b.csv"))
    with pytest.raises(TypeError):  # never read as a local file by accident
        open(p)


@pytest.mark.parametrize("where", ["local", "ram"])
def test_open_list_and_glob_alike_on_both(where, tmp_path, ram):
    base = str(tmp_path) if where == "local" else ram
    for name, content in [("a.csv", b"text,label\nhi,x\n"), ("b.csv.gz", gzip.compress(b"text,label\nyo,y\n")),
                          ("sub/c.txt", b"c")]:
        url = f"{base}/{name}"
        if where == "local":
            Path(url).parent.mkdir(parents=True, exist_ok=True)
            Path(url).write_bytes(content)
        else:
            put(url, content)
    root = filesystem.path(base)
    assert [(p.name, is_dir) for p, is_dir in filesystem.entries(root)] == [
        ("a.csv", False), ("b.csv.gz", False), ("sub", True)]
    assert [p.name for p in filesystem.glob(f"{base}/*.csv*")] == ["a.csv", "b.csv.gz"]
    with filesystem.open_text(root / "b.csv.gz", "utf-8") as f:  # decompressed on the way
        assert f.read() == "text,label\nyo,y\n"
    with filesystem.open_binary(root / "a.csv") as f:
        assert f.readline() == b"text,label\n" and list(f) == [b"hi,x\n"]
    assert (root / "a.csv").stat().st_size == 16 and (root / "sub").is_dir() and (root / "a.csv").is_file()
    assert filesystem.relative(root / "sub" / "c.txt", root) == "sub/c.txt"


def test_store_errors_name_the_path(ram):
    with pytest.raises(TfclfError, match=rf"{ram}/nope\.csv: cannot open it \(NotFoundError"):
        filesystem.path(f"{ram}/nope.csv").read_bytes()
    with pytest.raises(TfclfError, match=r"nosuchfs://b/x: TensorFlow has no filesystem for nosuchfs://.*"
                                         r"tensorflow-io"):
        filesystem.path("nosuchfs://b/x").exists()


def test_readers_read_shards_on_a_store_and_name_the_object_and_line(ram):
    put(f"{ram}/d/part-0.csv", b"text,label\nhello there,pos\nbye now,neg\n")
    put(f"{ram}/d/part-1.csv.gz", gzip.compress(b"text,label\nagain,pos\n"))
    put(f"{ram}/d/_SUCCESS", b"")
    assert data.read_examples(f"{ram}/d", DataConfig())["text"].tolist() == ["hello there", "bye now", "again"]
    put(f"{ram}/j/train-0.jsonl.gz", gzip.compress(b'{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n'))
    put(f"{ram}/j/train-1.jsonl", b'{"text": "c", "label": "x"}\n{oops\n')
    with pytest.raises(TfclfError, match=rf"{ram}/j/train-1\.jsonl: line 2: not valid JSON"):
        data.read_examples(f"{ram}/j/train-*", DataConfig())
    import pandas as pd

    buffer = io.BytesIO()
    pd.DataFrame({"text": ["p", "q"], "label": ["x", "y"]}).to_parquet(buffer)
    put(f"{ram}/p/data.parquet", buffer.getvalue())
    assert data.read_examples(f"{ram}/p", DataConfig())["text"].tolist() == ["p", "q"]
    with pytest.raises(TfclfError, match=rf"--data: no such file or directory: '{ram}/missing.csv'"):
        data.read_examples(f"{ram}/missing.csv", DataConfig())


# ---------------------------------------------------------------------------- checks and publishing

def local_folder(root: Path, files: dict[str, str], kind: OutputKind) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    outputs.mark(root, kind)
    return root


def test_check_dir_applies_the_local_rules_on_a_store(ram):
    run = f"{ram}/runs/a"
    assert object_storage.check_dir(run, OutputKind.RUN, flag="--output-dir") == run
    put(f"{ram}/runs/a/x.txt", b"not tfclf's")
    with pytest.raises(TfclfError, match=r"non-empty folder without \.tfclf-output\.json"):
        object_storage.check_dir(run, OutputKind.RUN, flag="--output-dir", overwrite=True)
    put(f"{run}/{MARKER}", outputs.marker_text(OutputKind.EVALUATION).encode())
    with pytest.raises(TfclfError, match=r"holds a tfclf evaluation output, not a run"):
        object_storage.check_dir(run, OutputKind.RUN, flag="--output-dir", overwrite=True)
    put(f"{run}/{MARKER}", outputs.marker_text(OutputKind.RUN).encode())
    with pytest.raises(TfclfError, match=r"already exists\. Choose another folder or pass --overwrite"):
        object_storage.check_dir(run, OutputKind.RUN, flag="--output-dir")
    assert object_storage.check_dir(run, OutputKind.RUN, flag="--output-dir", overwrite=True) == run
    with pytest.raises(TfclfError, match=r"overlaps the input --data"):  # no TensorFlow needed for this one
        outputs.check_dir(f"{ram}/data/run", OutputKind.RUN, flag="--output-dir",
                          inputs=[outputs.Input("--data", f"{ram}/data")])
    with pytest.raises(TfclfError, match=r"--output must end in one of \['\.csv'\]"):
        outputs.check_file(f"{ram}/p.txt", flag="--output", extensions=(".csv",))


def test_serving_publish_copies_under_a_partial_name_then_saved_model_pb_and_the_marker_last(
        ram, tmp_path, monkeypatch):
    local = local_folder(tmp_path / "v", {"variables/variables.index": "i", "variables/variables.data-00000-of-00001": "d",
                                          "assets/labels.txt": "a\n", "saved_model.pb": "pb"},
                         OutputKind.EXPORT_VERSION)
    written = []
    copy = gfile.copy
    monkeypatch.setattr(gfile, "copy", lambda src, dst, overwrite=False: (written.append(dst), copy(src, dst, overwrite))[1])
    url = f"{ram}/serving/m/1"
    object_storage.publish(local, url, OutputKind.EXPORT_VERSION, serving=True)
    staged = [w for w in written if "/.1.partial/" in w]
    final = [w.removeprefix(url + "/") for w in written if w.startswith(url + "/")]
    assert written.index(staged[-1]) < written.index(f"{url}/variables/variables.index")  # partial first, whole
    assert final[-2:] == ["saved_model.pb", MARKER]  # TF Serving needs saved_model.pb: after the variables
    assert sorted(gfile.listdir(f"{ram}/serving/m")) == ["1"]  # the partial copy is gone
    object_storage.require_complete(url, "--model")
    # Replacing: the old marker goes first; a store folder without one is refused by readers.
    gfile.remove(f"{url}/{MARKER}")
    with pytest.raises(TfclfError, match=r"--model .*/serving/m/1' has no \.tfclf-output\.json\. On a store tfclf "
                                         r"writes that marker last"):
        object_storage.require_complete(url, "--model")


def test_publish_with_an_atomic_rename_swaps_the_folder(tmp_path):
    dest = tmp_path / "out" / "r"
    local_folder(dest, {"old.txt": "old"}, OutputKind.RUN)
    new = local_folder(tmp_path / "new", {"metrics.json": "{}"}, OutputKind.RUN)
    url = "file://" + str(dest)
    assert urls.scheme(url) in object_storage.RENAME_SCHEMES
    with pytest.raises(TfclfError, match=r"appeared while tfclf was working"):
        object_storage.publish(new, url, OutputKind.RUN)
    object_storage.publish(new, url, OutputKind.RUN, overwrite=True)
    assert sorted(p.name for p in dest.iterdir()) == [MARKER, "metrics.json"]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["r"]  # no .r.partial, no .r.old


# ------------------------------------------------------------- the whole path on the ram:// store

def test_data_fit_export_predict_on_the_ram_store(tiny_bert, tmp_path, ram, capsys):
    import tfclf.fit  # noqa: F401  (the CLI module must not shadow the API call)
    from keyword_data import keyword_rows
    from tfclf import evaluation, export, predict
    from tfclf.config import ModelConfig, OptimizerConfig, Pooling, RunConfig, TrainConfig
    from tfclf.serving import loaded

    rows = keyword_rows(90)
    for i in range(2):  # a folder of shards, one gzip-compressed
        text = "text,label\n" + "".join(f"{t},{label}\n" for t, label in rows[i::2])
        put(f"{ram}/data/part-{i:05d}.csv" + (".gz" if i else ""),
            gzip.compress(text.encode()) if i else text.encode())
    run_url = f"{ram}/runs/tiny"
    config = RunConfig(
        data=DataConfig(data=f"{ram}/data"),
        model=ModelConfig(encoder=str(tiny_bert.root), seq_length=16, pooling=Pooling.MEAN),
        optimizer=OptimizerConfig(values=(1e-2, 3e-3), boundaries=(30,)),
        train=TrainConfig(epochs=1, batch_size=16, output_dir=run_url, tensorboard=False))
    run = tfclf.fit(config, verbose=0)
    assert run.output_dir == run_url
    metrics = json.loads(get(f"{run_url}/metrics.json"))
    assert 0 <= metrics["accuracy"] <= 1
    assert json.loads(get(f"{run_url}/{MARKER}"))["kind"] == "run"
    assert gfile.exists(f"{run_url}/saved_model/saved_model.pb") and gfile.exists(f"{run_url}/config.yaml")
    assert not object_storage.staging_dir(run_url).parent.joinpath(
        f".{object_storage.staging_dir(run_url).name}.partial").exists()  # the local staging copy is gone

    model_url = f"{ram}/serving/tickets"
    assert export.main([run_url, "--export-dir", model_url]) == 0
    assert capsys.readouterr().out.strip() == f"{model_url}/1"
    assert sorted(gfile.listdir(model_url)) == ["1", "models.config"]  # no .1.partial left behind
    assert json.loads(get(f"{model_url}/1/{MARKER}"))["kind"] == "export-version"
    info = json.loads(get(f"{model_url}/1/assets.extra/tfclf_export.json"))
    assert info["run_dir"] == run_url and info["version"] == 1

    out, scored = evaluation.evaluate_run(run_url, f"{ram}/data/part-00000.csv")  # beside the run, on the store
    assert out == f"{run_url}/eval-part-00000" and scored["n_examples"] == 45
    assert json.loads(get(f"{out}/metrics.json"))["model"] == run_url and gfile.exists(f"{out}/{MARKER}")

    new = [t for t, _ in keyword_rows(7, seed=3)]
    put(f"{ram}/in/new.csv", ("text\n" + "".join(f"{t}\n" for t in new)).encode())
    out_url = f"{ram}/out/preds.csv"
    assert predict.main(["--model", model_url, "--input", f"{ram}/in/new.csv", "--output", out_url, "--quiet"]) == 0
    predictions = list(csv.DictReader(io.StringIO(get(out_url).decode())))
    assert [p["text"] for p in predictions] == new
    assert {p["label"] for p in predictions} <= {"account", "billing", "shipping"}

    # A version still being uploaded (no marker yet) is skipped by a model folder, refused by name.
    gfile.makedirs(f"{model_url}/2")
    for name in ("saved_model.pb",):
        gfile.copy(f"{model_url}/1/{name}", f"{model_url}/2/{name}")
    assert loaded.resolve_model_path(model_url) == filesystem.path(f"{model_url}/1")
    with pytest.raises(TfclfError, match=r"/serving/tickets/2' has no \.tfclf-output\.json"):
        loaded.resolve_model_path(f"{model_url}/2")


def test_data_report_to_a_store(ram, capsys):
    from tfclf.data import __main__ as data_cli

    put(f"{ram}/d/train.csv", ("text,label\n" + "".join(f"text {i},{'ab'[i % 2]}\n" for i in range(20))).encode())
    assert data_cli.main(["--data", f"{ram}/d/train.csv", "--report-dir", f"{ram}/reports/d", "--no-token-lengths"]) == 0
    assert f"Report: {ram}/reports/d/data_report.json" in capsys.readouterr().out
    report = json.loads(get(f"{ram}/reports/d/data_report.json"))
    assert report["inputs"][0]["path"] == f"{ram}/d/train.csv"
    assert json.loads(get(f"{ram}/reports/d/{MARKER}"))["kind"] == "data-report"


def test_config_and_class_weight_files_are_read_from_a_store(ram, capsys):
    """--config and --class-weight FILE accept store paths: read through the filesystem layer,
    with the same parse errors (flag, URL, line) as a local file."""
    from collections import Counter

    from tfclf import config as config_lib
    from tfclf.data import __main__ as data_cli, class_weights
    from tfclf.labels import LabelVocabulary

    put(f"{ram}/d/train.csv", ("text,label\n" + "".join(f"text {i},{'ab'[i % 2]}\n" for i in range(20))).encode())
    put(f"{ram}/exp.yaml", f"data:\n  data: {ram}/d/train.csv\n  lowercase: true\n".encode())
    put(f"{ram}/weights.yaml", b"a: 2.0\nb: 0.5\n")
    args = data_cli.build_parser().parse_args(["--config", f"{ram}/exp.yaml"])
    resolved = config_lib.from_args(args, read=filesystem.read_bytes)
    assert resolved.data.data == f"{ram}/d/train.csv" and resolved.data.lowercase is True
    weights = class_weights.class_weights(f"{ram}/weights.yaml", Counter({"a": 10, "b": 10}),
                                          LabelVocabulary(["a", "b"]))
    assert weights == {0: 2.0, 1: 0.5}

    # The CLI end to end: the report names the data the store's --config pointed at.
    assert data_cli.main(["--config", f"{ram}/exp.yaml", "--report-dir", f"{ram}/r", "--no-token-lengths"]) == 0
    assert json.loads(get(f"{ram}/r/data_report.json"))["inputs"][0]["path"] == f"{ram}/d/train.csv"

    put(f"{ram}/bad.yaml", b"data:\n  data: [unclosed\n")
    with pytest.raises(TfclfError, match=rf"--config {ram}/bad.yaml line 3: not valid YAML"):
        config_lib.load_yaml(f"{ram}/bad.yaml", "--config", read=filesystem.read_bytes)
    with pytest.raises(TfclfError, match=rf"{ram}/missing.yaml: file not found"):
        config_lib.load_yaml(f"{ram}/missing.yaml", "--config", read=filesystem.read_bytes)
    with pytest.raises(TfclfError, match=r"expected a file; Received: a folder"):
        config_lib.load_yaml(f"{ram}/d", "--config", read=filesystem.read_bytes)
    # Without a reader (a caller that cannot load TensorFlow), a store path is refused by name.
    with pytest.raises(TfclfError, match=rf"--config {ram}/exp.yaml: this command reads --config from a "
                                         r"local file only. Received: a ram:// path"):
        config_lib.load_yaml(f"{ram}/exp.yaml", "--config")
