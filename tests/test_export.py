import csv
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import yaml

import tfclf
from tfclf import export
from tfclf.config import (DataConfig, ExportConfig, ExportFormat, ModelConfig, OptimizerConfig, Pooling,
                          RunConfig, TrainConfig)
from tfclf.errors import TfclfError
from tfclf.model import build_classifier

LABELS = ["negative", "neutral", "positive"]
KEYWORDS = {"billing": ["refund", "charge", "invoice"], "shipping": ["package", "delivery", "late"],
            "account": ["password", "login", "email"]}
FILLER = ["the", "my", "is", "and", "please", "help", "with", "a", "to", "it"]


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


@pytest.fixture(scope="module")
def run_dir(tiny_bert, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export_run")
    config = RunConfig(
        data=DataConfig(data=str(keyword_csv(tmp / "data.csv"))),
        model=ModelConfig(encoder=str(tiny_bert.root), seq_length=16, pooling=Pooling.MEAN),
        optimizer=OptimizerConfig(values=(1e-2, 3e-3), boundaries=(30,)),
        train=TrainConfig(epochs=2, batch_size=16, output_dir=str(tmp / "run")))
    import tfclf.fit  # noqa: F401  (the CLI module must not shadow the API call)

    return tfclf.fit(config, verbose=0).output_dir


@pytest.fixture(scope="module")
def serving_root(tmp_path_factory):
    return tmp_path_factory.mktemp("serving") / "tickets"


@pytest.fixture(scope="module")
def exported(run_dir, serving_root):
    return export.export_run(run_dir, ExportConfig(export_dir=str(serving_root)))


@pytest.fixture(scope="module")
def report(exported):
    return export.check(exported.path)


# ----------------------------------------------------------------------------- modules

@pytest.fixture(scope="module")
def module(tiny_bert):
    models = build_classifier(str(tiny_bert.encoder), 3, pooling=Pooling.MEAN)
    return export.ServingModule(str(tiny_bert.preprocessor), 16, models.classifier, models.embedder, LABELS)


def test_serving_signature_outputs(module):
    out = module.serve(tf.constant(["great service", "", "bad " * 100]))
    assert out["probabilities"].shape == (3, 3) and out["probabilities"].dtype == tf.float32
    assert out["label"].dtype == tf.string and out["label_id"].dtype == tf.int64
    np.testing.assert_allclose(out["probabilities"].numpy().sum(1), 1, atol=1e-6)
    ids = out["label_id"].numpy()
    assert [x.decode() for x in out["label"].numpy()] == [LABELS[i] for i in ids]
    np.testing.assert_allclose(out["confidence"].numpy(), out["probabilities"].numpy().max(1))
    assert module.embed(tf.constant(["a", "b"]))["embedding"].shape == (2, 32)


def test_invalid_utf8_is_read_as_replacement_characters(module):
    bad = module.serve(tf.constant([b"\xff refund", b"caf\xe9", b"\xc3\x28"]))["probabilities"].numpy()
    good = module.serve(tf.constant(["\ufffd refund", "caf\ufffd", "\ufffd("]))["probabilities"].numpy()
    np.testing.assert_array_equal(bad, good)


def test_saved_model_reloads_with_identical_outputs(module, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS) + "\n")
    path = export.save_serving_model(module, tmp_path / "model", asset_files=[labels])
    texts = ["great service", "the app crashed again", "", "é ü 東京 🙂"]
    loaded = export.load(path)
    got_labels, probs = loaded.predict(texts, batch_size=3)
    expected = module.serve(tf.constant(texts))["probabilities"].numpy()
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    assert got_labels == [LABELS[i] for i in expected.argmax(1)]
    # Batched by length (order 2, 3, 0, 1 here), answered in input order.
    assert export.length_order(texts).tolist() == [2, 3, 0, 1]
    np.testing.assert_allclose(loaded.embed(texts, batch_size=3),
                               module.embed(tf.constant(texts))["embedding"].numpy(), atol=1e-5)
    sig = tf.saved_model.load(str(path)).signatures["serving_default"]
    assert sig.structured_input_signature[1]["text"].shape.as_list() == [None]
    assert set(sig.structured_outputs) == {"probabilities", "label", "label_id", "confidence"}


def test_save_refuses_to_overwrite(module, tmp_path):
    (tmp_path / "model").mkdir()
    with pytest.raises(TfclfError, match="overwrite"):
        export.save_serving_model(module, tmp_path / "model")


def test_load_rejects_a_folder_that_is_no_model(tmp_path):
    with pytest.raises(TfclfError, match="neither a tfclf run directory nor a SavedModel"):
        export.load(tmp_path)


def test_multi_label_signature_thresholds_sigmoids(tiny_bert, tmp_path):
    models = build_classifier(str(tiny_bert.encoder), 3, pooling=Pooling.MEAN)
    head = models.classifier.get_layer("logits")
    kernel, bias = head.get_weights()
    head.set_weights([kernel, np.array([3.0, 0.0, -3.0], np.float32)])  # labels above, near, below 0.5
    module = export.ServingModule(str(tiny_bert.preprocessor), 16, models.classifier, models.embedder,
                                  LABELS, multi_label=True, threshold=0.5)
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS) + "\n")
    loaded = export.load(export.save_serving_model(module, tmp_path / "model", asset_files=[labels]))
    sig = loaded._serve
    assert {k: (v.dtype, v.shape.as_list()) for k, v in sig.structured_outputs.items()} == {
        "probabilities": (tf.float32, [None, 3]), "labels": (tf.string, [None, 3])}
    texts = ["refund please", "my package", ""]
    out = loaded.outputs(texts)
    features = export.text_features(module.preprocessor, 16, tf.constant(texts))
    expected = tf.sigmoid(models.classifier(features, training=False)).numpy()
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-6)
    assert not np.allclose(out["probabilities"].sum(1), 1)
    predicted, _ = loaded.predict(texts)
    for row, p in zip(predicted, expected):
        assert row == [LABELS[i] for i in np.argsort(-p, kind="stable") if p[i] >= 0.5]
    assert all("negative" in row and "positive" not in row for row in predicted)
    assert loaded.multi_label


# --------------------------------------------------------------------- export from a run

def test_export_writes_a_versioned_tf_serving_layout(exported, serving_root, run_dir):
    assert exported.version == 1 and exported.path == serving_root / "1"
    assert exported.model_name == "tickets" and exported.format == ExportFormat.TEXT
    assets = exported.path / "assets"
    assert (assets / "labels.txt").read_text() == (run_dir / "labels.txt").read_text()
    assert (assets / "config.yaml").read_bytes() == (run_dir / "config.yaml").read_bytes()
    models_config = (serving_root / "models.config").read_text()
    assert 'name: "tickets"' in models_config and 'base_path: "/models/tickets"' in models_config
    info = export.export_info(exported.path)
    assert info["run_dir"] == str(run_dir.resolve()) and info["format"] == "text"
    assert info["labels"] == ["account", "billing", "shipping"]
    assert (exported.path / "assets.extra" / "metrics.json").read_bytes() == (run_dir / "metrics.json").read_bytes()
    assert not [p for p in serving_root.iterdir() if p.name.startswith(".")]  # no temporary folders


def test_signature_is_what_the_readme_documents(exported):
    loaded = tf.saved_model.load(str(exported.path))
    serve, embed = loaded.signatures["serving_default"], loaded.signatures["embed"]

    def spec(fn):
        inputs = {k: (v.dtype, v.shape.as_list()) for k, v in fn.structured_input_signature[1].items()}
        outputs = {k: (v.dtype, v.shape.as_list()) for k, v in fn.structured_outputs.items()}
        return inputs, outputs

    assert spec(serve) == ({"text": (tf.string, [None])}, {
        "probabilities": (tf.float32, [None, 3]), "label": (tf.string, [None]),
        "label_id": (tf.int64, [None]), "confidence": (tf.float32, [None])})
    assert spec(embed) == ({"text": (tf.string, [None])}, {"embedding": (tf.float32, [None, 32])})
    readme = (export.Path(__file__).parent.parent / "README.md").read_text()
    for text in ("`text`: `[batch] tf.string`", "`probabilities`: `[batch, C] float32`",
                 "`label`: `[batch] tf.string`", "`label_id`: `[batch] int64`",
                 "`confidence`: `[batch] float32`", "`embedding`: `[batch, H] float32`"):
        assert text in readme, text


def test_export_equals_the_model_saved_by_training(exported, run_dir):
    texts = [t.decode("utf-8", "replace") for t in export.adversarial_cases()["mixed"]]
    _, from_training = tfclf.load(run_dir).predict(texts)
    labels, probs = tfclf.load(exported.path).predict(texts)
    np.testing.assert_allclose(probs, from_training, atol=1e-6)
    assert labels == [["account", "billing", "shipping"][i] for i in from_training.argmax(1)]


def test_versions_increment_and_are_never_overwritten_silently(run_dir, tmp_path):
    root = tmp_path / "serving" / "m"
    first = export.export_run(run_dir, ExportConfig(export_dir=str(root), warmup_requests=False))
    second = export.export_run(run_dir, ExportConfig(export_dir=str(root), warmup_requests=False))
    assert (first.version, second.version) == (1, 2)
    assert export.next_version(root) == 3
    stamp = (root / "1" / "saved_model.pb").stat().st_mtime_ns
    with pytest.raises(TfclfError, match=r"already exists\. Pass --overwrite.*version 3"):
        export.export_run(run_dir, ExportConfig(export_dir=str(root), version=1))
    assert (root / "1" / "saved_model.pb").stat().st_mtime_ns == stamp
    again = export.export_run(run_dir, ExportConfig(export_dir=str(root), version=1, overwrite=True,
                                                    warmup_requests=False))
    assert again.version == 1 and (root / "1" / "saved_model.pb").stat().st_mtime_ns != stamp
    assert sorted(p.name for p in root.iterdir()) == ["1", "2", "models.config"]
    assert export.resolve_model_path(root) == root / "2"  # a model folder loads its latest version


def test_warmup_requests_parse_as_prediction_logs(exported):
    from tensorflow_serving.apis import prediction_log_pb2

    records = list(tf.data.TFRecordDataset(str(exported.path / "assets.extra" / export.WARMUP_FILE)))
    assert 1 <= len(records) <= 1000  # TF Serving reads at most 1000
    signatures = set()
    for record in records:
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        request = log.predict_log.request
        assert request.model_spec.name == "tickets"
        signatures.add(request.model_spec.signature_name)
        assert list(request.inputs) == ["text"] and request.inputs["text"].dtype == tf.string.as_datatype_enum
        texts = tf.make_ndarray(request.inputs["text"])
        assert texts.ndim == 1 and len(texts) >= 1
    assert signatures == {"serving_default", "embed"}


def test_every_op_is_registered_by_tensorflow_or_tensorflow_text(exported):
    sources = export.list_ops(exported.path)
    assert "unregistered" not in sources.values(), [k for k, v in sources.items() if v == "unregistered"]
    text_ops = {k for k, v in sources.items() if v == "tensorflow_text"}
    assert {"CaseFoldUTF8", "WordpieceTokenizeWithOffsets", "TFText>RoundRobinTrim"} <= text_ops
    assert sources["UnicodeTranscode"] == "tensorflow" and sources["MatMul"] == "tensorflow"


def test_list_ops_cli_marks_tf_text_ops(exported, capsys):
    assert export.main(["--list-ops", str(exported.path)]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("CaseFoldUTF8") and line.endswith("TF-Text") for line in out.splitlines())
    assert "0 unregistered" in out


def test_check_passes_on_the_adversarial_set(report):
    names = [c.name for c in report.cases]
    assert names == ["empty", "whitespace", "100k_chars", "emoji", "rtl", "cjk", "nul_bytes",
                     "invalid_utf8", "mixed", "batch_1000"]
    assert dict((c.name, c.n) for c in report.cases)["batch_1000"] == 1000
    assert report.max_abs_diff <= 1e-5 and report.embedding_max_abs_diff <= 1e-5
    assert report.labels_identical and report.passed
    assert "PASSED" in report.format()


def test_saved_model_cli_shows_the_signature_and_runs_to_labels(report):
    assert report.cli_show_ok
    assert "inputs['text'] tensor_info:" in report.cli_show and "dtype: DT_STRING" in report.cli_show
    assert report.cli_labels == report.expected_cli_labels
    assert report.cli_labels and set(report.cli_labels) <= {"account", "billing", "shipping"}


def test_saved_model_cli_run_output_is_parsed():
    stdout = ("Result for output key confidence:\n[0.9 0.8]\n"
              "Result for output key label:\n[b'billing' b\"it's\"]\n")
    parsed = export.parse_saved_model_cli_run(stdout)
    assert export._printed_strings(parsed["label"]) == ["billing", "it's"]


def test_adversarial_cases_cover_the_documented_inputs():
    cases = export.adversarial_cases()
    assert cases["empty"] == [b""] and len(cases["100k_chars"][0]) == 100_000
    assert any(b"\x00" in t for t in cases["nul_bytes"])
    for t in cases["invalid_utf8"]:
        with pytest.raises(UnicodeDecodeError):
            t.decode("utf-8")
    assert len(cases["batch_1000"]) == 1000 and set(cases["mixed"]) <= set(cases["batch_1000"])


def test_multi_label_export_follows_the_run_config(run_dir, tmp_path):
    ml_run = tmp_path / "ml_run"
    shutil.copytree(run_dir, ml_run)
    config = yaml.safe_load((ml_run / "config.yaml").read_text())
    config["data"]["multi_label"] = True
    (ml_run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = export.export_run(ml_run, ExportConfig(export_dir=str(tmp_path / "ml"), threshold=0.4,
                                                    warmup_requests=False))
    loaded = export.load(result.path)
    assert loaded.multi_label and set(loaded.output_names) == {"probabilities", "labels"}
    texts = ["refund my invoice", "package late", ""]
    module = export.build_module(export.read_run(ml_run), threshold=0.4)
    features = export.text_features(module.preprocessor, 16, tf.constant(texts))
    expected = tf.sigmoid(module.classifier(features, training=False)).numpy()
    out = loaded.outputs(texts)
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-6)
    for row, p in zip(out["labels"], expected):
        names = ["account", "billing", "shipping"]
        assert [s.decode() for s in row if s] == [names[i] for i in np.argsort(-p, kind="stable") if p[i] >= 0.4]
    assert export.export_info(result.path)["multi_label"] is True


def test_ids_format_needs_no_tf_text_and_matches_the_text_export(run_dir, exported, tmp_path):
    result = export.export_run(run_dir, ExportConfig(export_dir=str(tmp_path / "ids"), format=ExportFormat.IDS))
    assets = result.path / "assets"
    tokenizer = json.loads((assets / "tokenizer.json").read_text())
    assert tokenizer["do_lower_case"] is True and tokenizer["seq_length"] == 16
    vocab = (assets / "vocab.txt").read_text().splitlines()
    assert vocab[:2] == ["[PAD]", "[UNK]"] and "refund" in vocab
    assert "tensorflow_text" not in export.list_ops(result.path).values()

    loaded = tf.saved_model.load(str(result.path))
    serve = loaded.signatures["serving_default"]
    assert {k: (v.dtype, v.shape.as_list()) for k, v in serve.structured_input_signature[1].items()} == {
        name: (tf.int32, [None, None]) for name in export.INPUT_NAMES}
    # Client-side tokenisation with the vocabulary in assets/ (as a runtime without TF-Text would).
    texts = ["please refund the invoice", "my package is late", "LOGIN email"]
    ids = [[vocab.index("[CLS]")] + [vocab.index(w) for w in t.lower().split()] + [vocab.index("[SEP]")]
           for t in texts]
    width = max(map(len, ids))
    word_ids = np.array([row + [0] * (width - len(row)) for row in ids], np.int32)
    out = serve(input_word_ids=word_ids, input_mask=(word_ids > 0).astype(np.int32),
                input_type_ids=np.zeros_like(word_ids))
    _, text_probs = tfclf.load(exported.path).predict(texts)
    np.testing.assert_allclose(out["probabilities"].numpy(), text_probs, atol=1e-5)
    with pytest.raises(TfclfError, match="--format ids export"):
        export.load(result.path).predict(["x"])


def test_cli_refuses_an_existing_version(run_dir, serving_root, exported, capsys):
    code = export.main([str(run_dir), "--export-dir", str(serving_root), "--version", "1"])
    assert code == 2
    assert "already exists. Pass --overwrite" in capsys.readouterr().err


def test_cli_saved_model_cli_wrapper_registers_tf_text_ops(exported):
    proc = subprocess.run([sys.executable, "-m", "tfclf.export", "--saved-model-cli", "run", "--dir",
                           str(exported.path), "--tag_set", "serve", "--signature_def", "serving_default",
                           "--input_exprs", 'text=["my password login", "refund"]'],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    labels = export._printed_strings(export.parse_saved_model_cli_run(proc.stdout)["label"])
    assert labels == tfclf.load(exported.path).predict(["my password login", "refund"])[0]


@pytest.mark.slow
def test_check_fails_for_a_model_that_differs(run_dir, exported, tmp_path):
    other = tmp_path / "other_run"
    shutil.copytree(run_dir, other)
    module = export.build_module(export.read_run(other))
    head = module.classifier.get_layer("logits")
    kernel, bias = head.get_weights()
    head.set_weights([kernel[:, ::-1], bias[::-1]])  # swap the first and last class
    module.classifier.save_weights(str(other / "checkpoints" / "best"))
    report = export.check(exported.path, run_dir=other)
    assert not report.passed and not report.labels_identical and report.max_abs_diff > 1e-3


@pytest.mark.slow
def test_cli_exports_ids_format_and_checks_it(run_dir, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tfclf.export", str(run_dir), "--export-dir",
                           str(tmp_path / "ids"), "--format", "ids", "--check"],
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[0] == str(tmp_path / "ids" / "1")
    assert "PASSED" in proc.stdout


def test_export_config_validates_its_fields(run_dir, tmp_path):
    with pytest.raises(TfclfError, match=r"--threshold must be in \(0, 1\). Received: threshold=1.5"):
        ExportConfig(export_dir="x", threshold=1.5)
    with pytest.raises(TfclfError, match="--version must be >= 1"):
        ExportConfig(export_dir="x", version=0)
    with pytest.raises(TfclfError, match="--export-dir is required"):
        export.export_run(run_dir, ExportConfig())
    with pytest.raises(TfclfError, match="not a finished tfclf run: missing"):
        export.export_run(tmp_path, ExportConfig(export_dir=str(tmp_path / "s")))
