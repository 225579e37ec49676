"""Export BERT encoders and their preprocessors in TF Hub format with tf-models-official.

The exports follow TF Hub's "Text embeddings with Transformer Encoders" API
(https://www.tensorflow.org/hub/common_saved_model_apis/text) and are written by
``official.nlp.tools.export_tfhub_lib``, the tool Google used for the published
BERT models:

* ``encoder/``: called with a dict of ``input_word_ids``, ``input_mask`` and
  ``input_type_ids`` (``int32 [batch, seq_length]``), returns ``pooled_output``
  ``[batch, width]``, ``sequence_output`` ``[batch, seq_length, width]``,
  ``encoder_outputs`` (one ``sequence_output`` per layer) and ``default`` (alias
  of ``pooled_output``). Its variables are trainable through
  ``hub.KerasLayer(path, trainable=True)``.
* ``preprocessor/``: ``tokenize`` (``[batch] string`` -> ragged wordpiece ids) and
  ``bert_pack_inputs([tokens], seq_length=N)``; calling it directly packs to
  ``default_seq_length``.

Load them with ``hub.load`` / ``hub.KerasLayer`` (``tf_keras.models.load_model``
cannot open them). The preprocessor needs ``import tensorflow_text`` first.

The feed-forward activation is the exact (erf) GELU of the original BERT and of
Hugging Face checkpoints; tf-models' ``"gelu"`` is the tanh approximation. It is
traced into the SavedModel, so loading needs no custom objects.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

from tfclf import progress
from tfclf.errors import TfclfError

logger = logging.getLogger(__name__)

SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
"""Tokens a BERT wordpiece vocab needs; ``[PAD]`` must have id 0."""

WeightsFn = Callable[[Any], None]
"""Sets the variables of a built tf-models ``BertEncoder`` (its only argument)."""


@dataclasses.dataclass(frozen=True)
class BertSpec:
    """Architecture of a post-norm BERT encoder (the Hugging Face ``BertModel`` layout).

    Attributes:
        vocab_size: rows of the word embedding table; must equal the vocab file's length.
        hidden_size: width of every layer's output.
        num_layers: transformer blocks.
        num_heads: attention heads; must divide ``hidden_size``.
        intermediate_size: width of the feed-forward layer.
        max_position_embeddings: longest sequence the position table supports.
        type_vocab_size: segment ids the type embedding table supports.
        dropout: hidden and attention dropout rate, active only in training.
    """

    vocab_size: int
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise TfclfError(
                f"BertSpec: hidden_size={self.hidden_size} is not divisible by "
                f"num_heads={self.num_heads}; pick a head count that divides it.")
        for name in ("vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size",
                     "max_position_embeddings", "type_vocab_size"):
            if getattr(self, name) < 1:
                raise TfclfError(f"BertSpec: {name} must be >= 1. Received: {getattr(self, name)}")


@dataclasses.dataclass(frozen=True)
class ExportedEncoder:
    """Folders of an export, both loadable with ``hub.load`` / ``hub.KerasLayer``.

    Attributes:
        root: the folder holding both.
        preprocessor: the preprocessor SavedModel (``root/preprocessor``).
        encoder: the encoder SavedModel (``root/encoder``).
    """

    root: Path
    preprocessor: Path
    encoder: Path

    @classmethod
    def at(cls, root: str | os.PathLike) -> "ExportedEncoder":
        """The paths an export into ``root`` has (whether or not it exists)."""
        root = Path(root)
        return cls(root=root, preprocessor=root / "preprocessor", encoder=root / "encoder")


def exact_gelu(x):
    """GELU with the exact Gaussian CDF, ``x * Phi(x)`` (BERT's and Hugging Face's ``"gelu"``)."""
    import tensorflow as tf

    return tf.nn.gelu(x, approximate=False)


def to_bert_config(spec: BertSpec):
    """The tf-models ``BertConfig`` for a spec, with the exact GELU as activation."""
    from official.legacy.bert import configs

    return configs.BertConfig(
        vocab_size=spec.vocab_size,
        hidden_size=spec.hidden_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        intermediate_size=spec.intermediate_size,
        hidden_act=exact_gelu,
        hidden_dropout_prob=spec.dropout,
        attention_probs_dropout_prob=spec.dropout,
        max_position_embeddings=spec.max_position_embeddings,
        type_vocab_size=spec.type_vocab_size,
    )


def build_encoder(spec: BertSpec):
    """Builds the tf-models ``BertEncoder`` (dict outputs) that :func:`export_bert` exports.

    Its variables are the ones a ``weights`` function passed to :func:`export_bert`
    receives; use this to inspect their names and shapes.
    """
    from official.nlp.tools import export_tfhub_lib

    return export_tfhub_lib.get_bert_encoder(to_bert_config(spec))


def read_vocab(vocab_file: str | os.PathLike) -> list[str]:
    """Tokens of a wordpiece vocab file, one per line, in id order."""
    with open(vocab_file, encoding="utf-8") as f:
        return [line.rstrip("\n").rstrip("\r") for line in f]


def check_vocab(tokens: Sequence[str], where: str) -> None:
    """Raises TfclfError unless tokens form a usable BERT vocab.

    Checks: ``[PAD]`` is id 0, the other special tokens exist, no token repeats
    (TF's lookup table fails on duplicates with the cryptic "HashTable has
    different value for same key") and no token is empty or holds whitespace.
    """
    if not tokens or tokens[0] != "[PAD]":
        raise TfclfError(f"{where}: the first token (id 0) must be [PAD]; found "
                         f"{tokens[0] if tokens else 'an empty vocab'!r}.")
    missing = [t for t in SPECIAL_TOKENS if t not in set(tokens)]
    if missing:
        raise TfclfError(f"{where}: the vocab lacks the special tokens {missing}; add them.")
    seen: dict[str, int] = {}
    for i, tok in enumerate(tokens):
        if tok in seen:
            raise TfclfError(f"{where}: token {tok!r} appears twice (ids {seen[tok]} and {i}); "
                             "every vocab line must be unique.")
        seen[tok] = i
        if not tok or tok != tok.strip() or any(c.isspace() for c in tok):
            raise TfclfError(f"{where}: token id {i} ({tok!r}) is empty or holds whitespace.")


def write_vocab(tokens: Iterable[str], path: str | os.PathLike) -> list[str]:
    """Writes a valid vocab file: special tokens first, then tokens in order, duplicates dropped.

    Returns:
        The tokens written, in id order.
    """
    out: list[str] = list(SPECIAL_TOKENS)
    seen = set(out)
    for tok in tokens:
        tok = tok.strip()
        if tok and tok not in seen and not any(c.isspace() for c in tok):
            seen.add(tok)
            out.append(tok)
    Path(path).write_text("".join(t + "\n" for t in out), encoding="utf-8")
    return out


EXPORT_STEPS = ("weights", "encoder SavedModel", "preprocessor SavedModel")


def export_bert(
    spec: BertSpec,
    vocab_file: str | os.PathLike,
    do_lower_case: bool,
    out_dir: str | os.PathLike,
    *,
    weights: Optional[WeightsFn] = None,
    default_seq_length: int = 128,
    normalize_pooled: bool = False,
    overwrite: bool = False,
) -> ExportedEncoder:
    """Exports a BERT encoder and its preprocessor into ``out_dir/{encoder,preprocessor}``.

    Everything is written into a temporary folder next to ``out_dir`` and renamed
    into place at the end, so ``out_dir`` is either complete or untouched.

    Args:
        spec: the encoder architecture.
        vocab_file: wordpiece vocab, one token per line; its length must be
            ``spec.vocab_size``.
        do_lower_case: whether the preprocessor lower-cases and strips accents
            (True for "uncased" models).
        out_dir: folder to create.
        weights: called with the built tf-models ``BertEncoder`` to set its
            variables (see :func:`build_encoder`); None keeps the random init.
        default_seq_length: length the preprocessor packs to when called directly
            (``bert_pack_inputs`` takes ``seq_length=`` per call).
        normalize_pooled: L2-normalise ``pooled_output`` (and ``default``) like LaBSE.
        overwrite: replace an existing ``out_dir``; otherwise it is an error.

    Returns:
        The paths of the export.

    Raises:
        TfclfError: bad vocab, ``out_dir`` exists and ``overwrite`` is False, or
            a sequence length the encoder cannot take.
    """
    out_dir = Path(out_dir).expanduser().absolute()
    vocab_file = Path(vocab_file)
    if not vocab_file.is_file():
        raise TfclfError(f"export: vocab file {str(vocab_file)!r} does not exist.")
    tokens = read_vocab(vocab_file)
    check_vocab(tokens, f"vocab file {str(vocab_file)!r}")
    if len(tokens) != spec.vocab_size:
        raise TfclfError(f"export: vocab file {str(vocab_file)!r} has {len(tokens)} tokens but "
                         f"the encoder's vocab_size is {spec.vocab_size}; they must match.")
    if not 2 < default_seq_length <= spec.max_position_embeddings:
        raise TfclfError(f"export: default_seq_length must be in 3..{spec.max_position_embeddings} "
                         f"(max_position_embeddings). Received: {default_seq_length}")
    if out_dir.exists() and not overwrite:
        raise TfclfError(f"export: {out_dir} already exists; remove it or pass overwrite=True.")
    out_dir.parent.mkdir(parents=True, exist_ok=True)

    start = time.monotonic()
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp-"))
    # The waits, as steps of a bar (drawn on a terminal only): the weights, then two SavedModels.
    with progress.bar(len(EXPORT_STEPS), desc=f"Exporting {out_dir.name}", unit="step") as steps:
        try:
            staged = ExportedEncoder.at(tmp / "export")
            staged.root.mkdir()
            steps.set_postfix_str(EXPORT_STEPS[0])
            checkpoint = _write_checkpoint(spec, weights, tmp / "checkpoint" / "ckpt")
            steps.update()
            steps.set_postfix_str(EXPORT_STEPS[1])
            _export_encoder(spec, checkpoint, str(vocab_file), do_lower_case, staged.encoder,
                            normalize_pooled=normalize_pooled)
            steps.update()
            steps.set_postfix_str(EXPORT_STEPS[2])
            _export_preprocessor(str(vocab_file), do_lower_case, staged.preprocessor, default_seq_length)
            _replace_dir(staged.root, out_dir)
            steps.update()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("Exported a BERT encoder (%d layers, width %d) and its preprocessor in %.0fs to %s",
                spec.num_layers, spec.hidden_size, time.monotonic() - start, out_dir)
    return ExportedEncoder.at(out_dir)


def _write_checkpoint(spec: BertSpec, weights: Optional[WeightsFn], prefix: Path) -> str:
    """Builds the encoder, sets its weights and writes a checkpoint export_model can restore."""
    import tensorflow as tf

    encoder = build_encoder(spec)
    if weights is not None:
        weights(encoder)
    return tf.train.Checkpoint(encoder=encoder).save(str(prefix))


def _export_encoder(spec: BertSpec, checkpoint: str, vocab_file: str, do_lower_case: bool,
                    path: Path, *, normalize_pooled: bool) -> None:
    from official.nlp.tools import export_tfhub_lib

    if not normalize_pooled:
        export_tfhub_lib.export_model(
            str(path), bert_config=to_bert_config(spec), model_checkpoint_path=checkpoint,
            with_mlm=False, vocab_file=vocab_file, do_lower_case=do_lower_case)
        return
    _export_normalized_encoder(spec, checkpoint, vocab_file, do_lower_case, path)


def _export_normalized_encoder(spec: BertSpec, checkpoint: str, vocab_file: str,
                               do_lower_case: bool, path: Path) -> None:
    """export_tfhub_lib.export_model's encoder-only path plus an L2 norm on pooled_output.

    export_model has no hook for output post-processing, so this mirrors its
    ``with_mlm=False`` branch around the same tf-models encoder and adds a
    ``UnitNormalization`` layer (a built-in Keras layer: nothing custom to load).
    """
    import tensorflow as tf
    import tf_keras

    encoder = build_encoder(spec)
    inputs = {x.name: x for x in encoder.inputs}
    outputs = dict(encoder(inputs))
    outputs["pooled_output"] = tf_keras.layers.UnitNormalization(
        axis=-1, dtype="float32", name="pooled_l2_normalize")(outputs["pooled_output"])
    outputs["default"] = outputs["pooled_output"]
    core_model = tf_keras.Model(inputs=inputs, outputs=outputs)
    tf.train.Checkpoint(model=encoder, encoder=encoder).restore(
        checkpoint).assert_existing_objects_matched()
    core_model.vocab_file = tf.saved_model.Asset(vocab_file)
    core_model.do_lower_case = tf.Variable(do_lower_case, trainable=False)
    core_model.save(str(path), include_optimizer=False, save_format="tf")


def _export_preprocessor(vocab_file: str, do_lower_case: bool, path: Path,
                         default_seq_length: int) -> None:
    from official.nlp.tools import export_tfhub_lib

    export_tfhub_lib.export_preprocessing(
        str(path), vocab_file=vocab_file, do_lower_case=do_lower_case,
        tokenize_with_offsets=False, default_seq_length=default_seq_length)


def _replace_dir(src: Path, dst: Path) -> None:
    """Renames src to dst; an existing dst is moved aside first and deleted only after."""
    old = None
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}-{time.monotonic_ns()}")
        os.replace(dst, old)
    try:
        os.replace(src, dst)
    except BaseException:
        if old is not None:
            os.replace(old, dst)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def random_weights(seed: int, stddev: float = 0.02) -> WeightsFn:
    """A ``weights`` function for :func:`export_bert`: seeded N(0, stddev) for every variable.

    Layer-norm scales get ``1 + noise`` and the rest pure noise, so the outputs of
    tiny test encoders are deterministic and not degenerate.
    """
    def apply(encoder) -> None:
        import numpy as np

        rng = np.random.default_rng(seed)
        for var in sorted(encoder.weights, key=lambda v: v.name):
            value = rng.normal(0.0, stddev, size=var.shape)
            if var.name.endswith("gamma:0"):
                value += 1.0
            var.assign(value.astype(var.dtype.as_numpy_dtype))

    return apply


def export_tiny_bert(
    out_dir: str | os.PathLike,
    *,
    vocab_tokens: Iterable[str],
    do_lower_case: bool,
    normalize_pooled: bool = False,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    intermediate: int = 64,
    seed: int = 0,
    default_seq_length: int = 32,
    max_position_embeddings: int = 128,
    overwrite: bool = False,
) -> ExportedEncoder:
    """Exports a tiny random-weight BERT for tests and offline demos (about 3 MB).

    Args:
        out_dir: folder to create, holding ``encoder/`` and ``preprocessor/`` (the vocab
            is in ``encoder/assets/vocab.txt``).
        vocab_tokens: wordpieces (``##`` prefix for continuations); special tokens
            are put first and duplicates dropped.
        do_lower_case: whether the preprocessor lower-cases and strips accents.
        normalize_pooled: L2-normalise ``pooled_output`` (LaBSE-like).
        hidden: width.
        layers: transformer blocks.
        heads: attention heads.
        intermediate: feed-forward width.
        seed: seed of the weights (same seed, same outputs).
        default_seq_length: the preprocessor's default packing length.
        max_position_embeddings: longest sequence the encoder accepts.
        overwrite: replace an existing ``out_dir``.

    Returns:
        The paths of the export.
    """
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory() as d:
        vocab_file = Path(d) / "vocab.txt"
        tokens = write_vocab(vocab_tokens, vocab_file)
        spec = BertSpec(vocab_size=len(tokens), hidden_size=hidden, num_layers=layers,
                        num_heads=heads, intermediate_size=intermediate,
                        max_position_embeddings=max_position_embeddings)
        return export_bert(spec, vocab_file, do_lower_case, out_dir,
                           weights=random_weights(seed), default_seq_length=default_seq_length,
                           normalize_pooled=normalize_pooled, overwrite=overwrite)
