import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import yaml

import tfclf
from tfclf.config import ExportConfig, ExportFormat
from tfclf.errors import TfclfError
from tfclf.serving import check, loaded, restore, signatures, tf_serving


def test_export_writes_a_versioned_tf_serving_layout(exported, serving_root, run_dir):
    assert exported.version == 1 and exported.path == serving_root / "1"
    assert exported.model_name == "tickets" and exported.format == ExportFormat.TEXT
    assets = exported.path / "assets"
    assert (assets / "labels.txt").read_text() == (run_dir / "labels.txt").read_text()
    assert (assets / "config.yaml").read_bytes() == (run_dir / "config.yaml").read_bytes()
    models_config = (serving_root / "models.config").read_text()
    assert 'name: "tickets"' in models_config and 'base_path: "/models/tickets"' in models_config
    info = loaded.export_info(exported.path)
    assert info["run_dir"] == str(run_dir.resolve()) and info["format"] == "text"
    assert info["labels"] == ["account", "billing", "shipping"]
    assert (exported.path / "assets.extra" / "metrics.json").read_bytes() == (run_dir / "metrics.json").read_bytes()
    assert not [p for p in serving_root.iterdir() if p.name.startswith(".")]  # no temporary folders


def test_export_carries_a_model_card_beside_its_info(exported, run_dir):
    from tfclf import model_card, rundir

    extra = exported.path / "assets.extra"
    card = (extra / rundir.MODEL_CARD).read_text()
    info = loaded.export_info(exported.path)
    assert card == model_card.render_model_card(run_dir, export_info=info)
    assert card.startswith("# Model card: tickets\n") and "for export version 1." in card
    usage = card.split("## How to call it", 1)[1]
    for name in (signatures.SERVING_DEFAULT, signatures.EMBED):
        assert f"`{name}`" in usage and f'"{name}"' in usage
    assert set(tf.saved_model.load(str(exported.path)).signatures) == {signatures.SERVING_DEFAULT, signatures.EMBED}
    assert "/v1/models/tickets/versions/1:predict" in usage and 'model_spec.name = "tickets"' in usage
    assert f"| tensorflow-text | {info['tensorflow_text']} |" in card
    assert (run_dir / rundir.MODEL_CARD).read_text() != card  # the run's own card knows no export


def test_signature_is_what_the_readme_documents(exported):
    model = tf.saved_model.load(str(exported.path))
    serve, embed = model.signatures["serving_default"], model.signatures["embed"]

    def spec(fn):
        inputs = {k: (v.dtype, v.shape.as_list()) for k, v in fn.structured_input_signature[1].items()}
        outputs = {k: (v.dtype, v.shape.as_list()) for k, v in fn.structured_outputs.items()}
        return inputs, outputs

    assert spec(serve) == ({"text": (tf.string, [None])}, {
        "probabilities": (tf.float32, [None, 3]), "label": (tf.string, [None]),
        "label_id": (tf.int64, [None]), "confidence": (tf.float32, [None])})
    assert spec(embed) == ({"text": (tf.string, [None])}, {"embedding": (tf.float32, [None, 32])})
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for text in ("`text`: `[batch] tf.string`", "`probabilities`: `[batch, C] float32`",
                 "`label`: `[batch] tf.string`", "`label_id`: `[batch] int64`",
                 "`confidence`: `[batch] float32`", "`embedding`: `[batch, H] float32`"):
        assert text in readme, text


def test_export_equals_the_model_saved_by_training(exported, run_dir):
    texts = [t.decode("utf-8", "replace") for t in check.adversarial_cases()["mixed"]]
    _, from_training = tfclf.load(run_dir).predict(texts)
    labels, probs = tfclf.load(exported.path).predict(texts)
    np.testing.assert_allclose(probs, from_training, atol=1e-6)
    assert labels == [["account", "billing", "shipping"][i] for i in from_training.argmax(1)]


def test_versions_increment_and_are_never_overwritten_silently(run_dir, tmp_path):
    root = tmp_path / "serving" / "m"
    first = tf_serving.export_run(run_dir, ExportConfig(export_dir=str(root), warmup_requests=False))
    second = tf_serving.export_run(run_dir, ExportConfig(export_dir=str(root), warmup_requests=False))
    assert (first.version, second.version) == (1, 2)
    assert tf_serving.next_version(root) == 3
    stamp = (root / "1" / "saved_model.pb").stat().st_mtime_ns
    with pytest.raises(TfclfError, match=r"already exists\. Pass --overwrite.*version 3"):
        tf_serving.export_run(run_dir, ExportConfig(export_dir=str(root), version=1))
    assert (root / "1" / "saved_model.pb").stat().st_mtime_ns == stamp
    again = tf_serving.export_run(run_dir, ExportConfig(export_dir=str(root), version=1, overwrite=True,
                                                        warmup_requests=False))
    assert again.version == 1 and (root / "1" / "saved_model.pb").stat().st_mtime_ns != stamp
    assert sorted(p.name for p in root.iterdir()) == ["1", "2", "models.config"]
    assert loaded.resolve_model_path(root) == root / "2"  # a model folder loads its latest version


def test_warmup_requests_parse_as_prediction_logs(exported):
    from tensorflow_serving.apis import prediction_log_pb2

    records = list(tf.data.TFRecordDataset(str(exported.path / "assets.extra" / tf_serving.WARMUP_FILE)))
    assert 1 <= len(records) <= 1000  # TF Serving reads at most 1000
    signature_names = set()
    for record in records:
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        request = log.predict_log.request
        assert request.model_spec.name == "tickets"
        signature_names.add(request.model_spec.signature_name)
        assert list(request.inputs) == ["text"] and request.inputs["text"].dtype == tf.string.as_datatype_enum
        texts = tf.make_ndarray(request.inputs["text"])
        assert texts.ndim == 1 and len(texts) >= 1
    assert signature_names == {"serving_default", "embed"}


def test_every_op_is_registered_by_tensorflow_or_tensorflow_text(exported):
    sources = tf_serving.list_ops(exported.path)
    assert "unregistered" not in sources.values(), [k for k, v in sources.items() if v == "unregistered"]
    text_ops = {k for k, v in sources.items() if v == "tensorflow_text"}
    assert {"CaseFoldUTF8", "WordpieceTokenizeWithOffsets", "TFText>RoundRobinTrim"} <= text_ops
    assert sources["UnicodeTranscode"] == "tensorflow" and sources["MatMul"] == "tensorflow"


def test_multi_label_export_follows_the_run_config(run_dir, tmp_path):
    ml_run = tmp_path / "ml_run"
    shutil.copytree(run_dir, ml_run)
    config = yaml.safe_load((ml_run / "config.yaml").read_text())
    # DataConfig.multi_label: a label separator (or several label columns) makes a run multi-label.
    config["data"]["label_separator"] = "|"
    config["data"]["task"] = "multi-label"
    (ml_run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = tf_serving.export_run(ml_run, ExportConfig(export_dir=str(tmp_path / "ml"), threshold=0.4,
                                                        warmup_requests=False))
    model = loaded.load(result.path)
    assert model.multi_label and set(model.output_names) == {"probabilities", "labels"}
    texts = ["refund my invoice", "package late", ""]
    module = restore.build_module(restore.read_run(ml_run), threshold=0.4)
    features = signatures.text_features(module.preprocessor, 16, tf.constant(texts))
    expected = tf.sigmoid(module.classifier(features, training=False)).numpy()
    out = model.outputs(texts)
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-6)
    for row, p in zip(out["labels"], expected):
        names = ["account", "billing", "shipping"]
        assert [s.decode() for s in row if s] == [names[i] for i in np.argsort(-p, kind="stable") if p[i] >= 0.4]
    assert loaded.export_info(result.path)["multi_label"] is True


def test_ids_format_needs_no_tf_text_and_matches_the_text_export(run_dir, exported, tmp_path):
    result = tf_serving.export_run(run_dir, ExportConfig(export_dir=str(tmp_path / "ids"),
                                                         format=ExportFormat.IDS))
    assets = result.path / "assets"
    tokenizer = json.loads((assets / "tokenizer.json").read_text())
    assert tokenizer["do_lower_case"] is True and tokenizer["seq_length"] == 16
    vocab = (assets / "vocab.txt").read_text().splitlines()
    assert vocab[:2] == ["[PAD]", "[UNK]"] and "refund" in vocab
    assert "tensorflow_text" not in tf_serving.list_ops(result.path).values()
    card = (result.path / "assets.extra" / "MODEL_CARD.md").read_text()
    assert "`input_word_ids`, `input_mask`, `input_type_ids`: `[batch, seq] int32`" in card

    model = tf.saved_model.load(str(result.path))
    serve = model.signatures["serving_default"]
    assert {k: (v.dtype, v.shape.as_list()) for k, v in serve.structured_input_signature[1].items()} == {
        name: (tf.int32, [None, None]) for name in signatures.INPUT_NAMES}
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
        loaded.load(result.path).predict(["x"])


def test_export_config_validates_its_fields(run_dir, tmp_path):
    with pytest.raises(TfclfError, match=r"--threshold must be in \(0, 1\). Received: threshold=1.5"):
        ExportConfig(export_dir="x", threshold=1.5)
    with pytest.raises(TfclfError, match="--version must be >= 1"):
        ExportConfig(export_dir="x", version=0)
    with pytest.raises(TfclfError, match="--export-dir is required"):
        tf_serving.export_run(run_dir, ExportConfig())
    with pytest.raises(TfclfError, match="not a finished tfclf run: missing"):
        tf_serving.export_run(tmp_path, ExportConfig(export_dir=str(tmp_path / "s")))
