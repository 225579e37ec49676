"""Tiny BERT exports made with tf-models' export_tfhub_lib: TF Hub interface, packing, atomicity."""
from __future__ import annotations

import io
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tfclf  # noqa: F401  (TF_USE_LEGACY_KERAS=1)
from tfclf import hub_format, progress
from tfclf.errors import TfclfError

tf = pytest.importorskip("tensorflow")
hub = pytest.importorskip("tensorflow_hub")
pytest.importorskip("tensorflow_text")  # registers the ops the preprocessor uses

EXPORTS = ["tiny_bert", "tiny_labse"]
TEXTS = ["Hello world, the cat", "Thank you. Paris is good!", "a"]


@pytest.fixture(scope="module")
def loaded(request):
    """(exported, preprocessor module, vocab list) per export name, loaded once."""
    cache = {}

    def get(name):
        if name not in cache:
            exported = request.getfixturevalue(name)
            vocab = hub_format.read_vocab(exported.encoder / "assets" / "vocab.txt")
            cache[name] = (exported, hub.load(str(exported.preprocessor)), vocab)
        return cache[name]

    return get


@pytest.mark.parametrize("name", EXPORTS)
def test_encoder_has_bert_hub_interface(name, loaded):
    exported, pre, vocab = loaded(name)
    inputs = pre.bert_pack_inputs([pre.tokenize(tf.constant(TEXTS))], seq_length=16)
    encoder = hub.KerasLayer(str(exported.encoder), trainable=True)
    outputs = encoder(inputs)

    assert {"pooled_output", "sequence_output", "encoder_outputs", "default"} <= set(outputs)
    assert outputs["pooled_output"].shape == (3, 32)
    assert outputs["sequence_output"].shape == (3, 16, 32)
    assert len(outputs["encoder_outputs"]) == 2
    assert all(t.shape == (3, 16, 32) for t in outputs["encoder_outputs"])
    assert all(t.dtype == tf.float32 for t in [outputs["pooled_output"], outputs["sequence_output"]])
    np.testing.assert_array_equal(outputs["encoder_outputs"][-1], outputs["sequence_output"])
    np.testing.assert_array_equal(outputs["default"], outputs["pooled_output"])
    # The encoder keeps its vocab, as TF Hub's BERTs do.
    assert vocab[:5] == list(hub_format.SPECIAL_TOKENS)
    table = [v for v in encoder.weights if "word_embeddings" in v.name]
    assert [tuple(v.shape) for v in table] == [(len(vocab), 32)]

    # Signature: the three int32 [batch, seq] inputs.
    signature = hub.load(str(exported.encoder)).signatures["serving_default"]
    specs = signature.structured_input_signature[1]
    assert set(specs) == {"input_word_ids", "input_mask", "input_type_ids"}
    assert all(s.dtype == tf.int32 and s.shape.as_list() == [None, None] for s in specs.values())

    # Trainable: 5 embedding variables + 16 per layer + 2 pooler = 39, and gradients reach all.
    assert len(encoder.trainable_variables) == 5 + 16 * 2 + 2
    with tf.GradientTape() as tape:
        out = encoder(inputs, training=False)
        loss = tf.reduce_sum(out["sequence_output"] ** 2) + tf.reduce_sum(out["pooled_output"])
    grads = tape.gradient(loss, encoder.trainable_variables)
    assert all(g is not None for g in grads)
    norms = [float(tf.norm(tf.convert_to_tensor(g))) for g in grads]
    assert min(norms) > 0, norms


@pytest.mark.parametrize("name", EXPORTS)
@pytest.mark.parametrize("seq_length", [16, 24])
def test_bert_pack_inputs_takes_seq_length_per_call(name, seq_length, loaded):
    _, pre, vocab = loaded(name)
    long_text = " ".join(["hello world"] * 20)
    tokens = pre.tokenize(tf.constant(["hello world", long_text]))
    packed = pre.bert_pack_inputs([tokens], seq_length=seq_length)

    assert set(packed) == {"input_word_ids", "input_mask", "input_type_ids"}
    for value in packed.values():
        assert value.shape == (2, seq_length) and value.dtype == tf.int32
    ids, mask = packed["input_word_ids"].numpy(), packed["input_mask"].numpy()
    cls, sep = vocab.index("[CLS]"), vocab.index("[SEP]")
    hello = vocab.index("hello")
    assert ids[0, :4].tolist() == [cls, hello, vocab.index("world"), sep]
    assert ids[0, 4:].tolist() == [0] * (seq_length - 4)
    assert mask[0].tolist() == [1] * 4 + [0] * (seq_length - 4)
    # Longer texts are truncated to seq_length - 2 wordpieces plus [CLS] and [SEP].
    assert mask[1].tolist() == [1] * seq_length
    assert ids[1, 0] == cls and ids[1, -1] == sep
    assert not packed["input_type_ids"].numpy().any()


@pytest.mark.parametrize("name", EXPORTS)
def test_preprocessor_default_call_packs_to_default_length(name, loaded):
    _, pre, _ = loaded(name)
    packed = pre(tf.constant(TEXTS))
    assert {k: tuple(v.shape) for k, v in packed.items()} == {
        "input_word_ids": (3, 32), "input_mask": (3, 32), "input_type_ids": (3, 32)}


def test_uncased_and_cased_tokenization(loaded):
    _, bert, bert_vocab = loaded("tiny_bert")
    _, labse, labse_vocab = loaded("tiny_labse")

    def pieces(pre, vocab, text):
        ids = pre.tokenize(tf.constant([text])).merge_dims(1, -1).to_list()[0]
        return [vocab[i] for i in ids]

    assert pieces(bert, bert_vocab, "HELLO World") == ["hello", "world"]
    assert pieces(bert, bert_vocab, "orders shipped") == ["orders", "shipped"]
    assert pieces(bert, bert_vocab, "zzq") == ["z", "##z", "##q"]
    assert pieces(labse, labse_vocab, "Hello hello") == ["Hello", "hello"]
    assert pieces(labse, labse_vocab, "Café Zürich über") == ["Café", "Zürich", "über"]
    assert pieces(labse, labse_vocab, "Привет мир") == ["Привет", "мир"]
    assert pieces(labse, labse_vocab, "東京は日本") == ["東", "京", "は", "日", "本"]
    assert pieces(labse, labse_vocab, "Γειά σου κόσμε") == ["Γειά", "σου", "κόσμε"]


def test_labse_like_pooled_output_is_l2_normalised(loaded):
    for name, normalised in [("tiny_labse", True), ("tiny_bert", False)]:
        exported, pre, _ = loaded(name)
        encoder = hub.KerasLayer(str(exported.encoder))
        outputs = encoder(pre(tf.constant(TEXTS + ["Привет мир 東京", "Good morning Paris"])))
        norms = np.linalg.norm(outputs["pooled_output"].numpy(), axis=-1)
        if normalised:
            np.testing.assert_allclose(norms, 1.0, atol=1e-5)
            np.testing.assert_array_equal(outputs["default"], outputs["pooled_output"])
        else:
            assert np.all(np.abs(norms - 1.0) > 1e-3), norms


def test_same_seed_same_weights_and_exact_gelu_in_graph(tiny_bert):
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString((tiny_bert.encoder / "saved_model.pb").read_bytes())
    ops = {n.op for f in saved.meta_graphs[0].graph_def.library.function for n in f.node_def}
    # Exact GELU is x * Phi(x) with erf/erfc; tf-models' "gelu" would be tanh(... x**3 ...).
    assert ops & {"Erf", "Erfc"}
    assert "Pow" not in ops

    x = np.linspace(-4, 4, 81).astype(np.float32)
    want = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(np.float64)])
    np.testing.assert_allclose(hub_format.exact_gelu(tf.constant(x)).numpy(), want, atol=1e-6)


def test_tiny_export_loads_in_a_fresh_process(tiny_labse, loaded, tmp_path):
    """The export needs nothing from tfclf: no custom objects, no registered activations."""
    exported, pre, _ = loaded("tiny_labse")
    encoder = hub.KerasLayer(str(exported.encoder))
    want = encoder(pre(tf.constant(TEXTS)))["pooled_output"].numpy()

    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np, tensorflow as tf, tensorflow_hub as hub, tensorflow_text
        pre = hub.load({str(exported.preprocessor)!r})
        enc = hub.KerasLayer({str(exported.encoder)!r})
        out = enc(pre(tf.constant({TEXTS!r})))
        assert not any(m.startswith("tfclf") for m in sys.modules)
        np.save({str(tmp_path / "pooled.npy")!r}, out["pooled_output"].numpy())
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_USE_LEGACY_KERAS"] = "1"
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "pooled.npy"), want, atol=1e-6)


# ------------------------------------------------------------------------ vocab and atomicity

def test_write_vocab_dedupes_and_puts_special_tokens_first(tmp_path):
    tokens = hub_format.write_vocab(["b", "a", "b", "[UNK]", " c ", "", "two words"], tmp_path / "v.txt")
    assert tokens == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "b", "a", "c"]
    assert hub_format.read_vocab(tmp_path / "v.txt") == tokens


@pytest.mark.parametrize("lines, message", [
    (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "a"], "appears twice"),
    (["[UNK]", "[PAD]", "[CLS]", "[SEP]", "[MASK]", "a"], "must be [PAD]"),
    (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"], "[MASK]"),
])
def test_bad_vocab_fails_before_tensorflow_does(tmp_path, lines, message):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(lines) + "\n")
    with pytest.raises(TfclfError, match=message.replace("[", r"\[").replace("]", r"\]")):
        hub_format.export_bert(hub_format.BertSpec(vocab_size=len(lines)), vocab, True,
                               tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_vocab_size_mismatch_and_bad_spec(tmp_path):
    vocab = tmp_path / "vocab.txt"
    hub_format.write_vocab(["a", "b"], vocab)
    with pytest.raises(TfclfError, match="7 tokens but the encoder's vocab_size is 9"):
        hub_format.export_bert(hub_format.BertSpec(vocab_size=9), vocab, True, tmp_path / "out")
    with pytest.raises(TfclfError, match="not divisible"):
        hub_format.BertSpec(vocab_size=7, hidden_size=10, num_heads=3)


def _small_export(tmp_path, out_dir, **kwargs):
    return hub_format.export_tiny_bert(out_dir, vocab_tokens=["a", "b", "c"], do_lower_case=True,
                                       hidden=8, layers=1, heads=1, intermediate=8,
                                       default_seq_length=8, max_position_embeddings=16, **kwargs)


def test_export_is_atomic(tmp_path, monkeypatch):
    out_dir = tmp_path / "parent" / "enc"

    # 1. A failure after the encoder SavedModel was written leaves nothing behind.
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    with monkeypatch.context() as m:
        m.setattr(hub_format, "_export_preprocessor", boom)
        with pytest.raises(RuntimeError, match="disk full"):
            _small_export(tmp_path, out_dir)
    assert list(out_dir.parent.iterdir()) == []

    # 2. A complete export, with its three steps on a progress bar (stderr is a terminal here).
    class Tty(io.StringIO):
        def isatty(self):
            return True

    terminal = Tty()
    with monkeypatch.context() as m:
        m.setattr(sys, "stderr", terminal)
        m.setattr(progress, "DELAY", 0)
        m.setattr(progress, "MININTERVAL", 0)
        first = _small_export(tmp_path, out_dir, seed=1)
    drawn = terminal.getvalue()
    assert "Exporting enc" in drawn and "3/3" in drawn and "preprocessor SavedModel" in drawn
    assert (first.encoder / "saved_model.pb").is_file()
    assert (first.preprocessor / "saved_model.pb").is_file()
    listing = sorted(p.relative_to(out_dir) for p in out_dir.rglob("*"))

    # 3. An existing export is neither overwritten by default ...
    with pytest.raises(TfclfError, match="already exists"):
        _small_export(tmp_path, out_dir)
    # ... nor damaged by a failing overwrite (here: the weights function raises).
    with pytest.raises(RuntimeError, match="bad weights"):
        hub_format.export_bert(
            hub_format.BertSpec(vocab_size=8, hidden_size=8, num_layers=1, num_heads=1,
                                intermediate_size=8, max_position_embeddings=16),
            first.encoder / "assets" / "vocab.txt", True, out_dir,
            weights=lambda enc: (_ for _ in ()).throw(RuntimeError("bad weights")),
            default_seq_length=8, overwrite=True)
    assert sorted(p.relative_to(out_dir) for p in out_dir.rglob("*")) == listing
    assert [p.name for p in out_dir.parent.iterdir()] == ["enc"]

    # 4. overwrite=True replaces it: different seed, different weights.
    inputs = {k: tf.constant([[2, 5, 6, 3]]) if k == "input_word_ids" else tf.constant([[1, 1, 1, 1]])
              if k == "input_mask" else tf.zeros((1, 4), tf.int32)
              for k in ("input_word_ids", "input_mask", "input_type_ids")}
    before = hub.KerasLayer(str(first.encoder))(inputs)["pooled_output"].numpy()
    second = _small_export(tmp_path, out_dir, seed=2, overwrite=True)
    after = hub.KerasLayer(str(second.encoder))(inputs)["pooled_output"].numpy()
    assert np.abs(before - after).max() > 1e-3
    assert [p.name for p in out_dir.parent.iterdir()] == ["enc"]
    assert second.root == out_dir
