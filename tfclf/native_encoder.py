"""The native encoder runtime: a TF Hub BERT encoder rebuilt as Keras layers, with its weights.

``--encoder-runtime hub`` runs the encoder as the SavedModel's restored function
(``hub.KerasLayer``). That graph is opaque to Keras: the mixed-precision policy does not
reach it, XLA cannot compile it with dynamic shapes, and the first training step spends
seconds building the gradient of a restored function of thousands of ops.

``--encoder-runtime native`` rebuilds the same encoder as a tf-models ``BertEncoderV2``
(Keras layers that the policy, XLA and the tape see like any other) and loads the hub
model's variables into it, name by name:

1. the architecture comes from the SavedModel's ``keras_metadata.pb`` (the ``Text>BertEncoder``
   config that tf-models' ``export_tfhub`` wrote: the BERT family, LaBSE and tfclf's MiniLM),
   else from the variables' shapes;
2. every variable of the native encoder takes the hub variable of the same name (the
   export keeps tf-models' names, ``transformer/layer_3/self_attention/query/kernel``), and
   the shapes must agree; every trainable hub variable must be used;
3. a parity probe runs both encoders in float32 on token ids with padding and both
   segment types, and the outputs must agree within ``PARITY_TOLERANCE``. Where the
   metadata leaves the GELU form open (exact or tanh), the probe decides.

``--encoder-runtime auto`` takes native when all three hold and hub
otherwise, with the reason in the log; the run's ``config.yaml`` records which one ran. The
preprocessor stays the TF Hub preprocessor: in tf.data while training and inside the
exported SavedModel, which still takes raw strings.

Example::

    source = native_encoder.load(encoder_path)          # raises NativeUnavailable
    layer = native_encoder.build(source, name="encoder")  # under the Keras policy
    outputs = layer(inputs)                              # builds its variables
    native_encoder.assign(layer, source)                 # hub weights, checked
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np
import tensorflow as tf
import tf_keras

from tfclf.config import EncoderRuntime
from tfclf.errors import TfclfError

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

KERAS_METADATA = "keras_metadata.pb"
ENCODER_CLASSES = ("Text>BertEncoder", "Text>BertEncoderV2")
PARITY_TOLERANCE = 1e-5  # max |native - hub| / max(1, max |hub|) over the probe's outputs, float32
_PROBE_SEED = 1234
_PROBE_SHAPE = (4, 24)  # texts x tokens: small, with padding rows and both segments
_LAYER_RE = re.compile(r"transformer/layer_(\d+)/")

__all__ = ["ENCODER_CLASSES", "PARITY_TOLERANCE", "Architecture", "NativeEncoder", "NativeSource",
           "NativeUnavailable", "assign", "build", "exact_gelu", "load", "parity", "resolve_runtime",
           "tanh_gelu"]


class NativeUnavailable(TfclfError):
    """The hub encoder cannot be rebuilt natively; the message says why."""


@tf_keras.utils.register_keras_serializable(package="tfclf")
def exact_gelu(x):
    """GELU with the exact Gaussian CDF (BERT's, Hugging Face's and tf_keras' ``"gelu"``)."""
    return tf.nn.gelu(x, approximate=False)


@tf_keras.utils.register_keras_serializable(package="tfclf")
def tanh_gelu(x):
    """GELU's tanh approximation (tf-models' ``activations.gelu``)."""
    return tf.nn.gelu(x, approximate=True)


ACTIVATIONS: dict[str, Callable] = {"exact_gelu": exact_gelu, "tanh_gelu": tanh_gelu}


@dataclasses.dataclass(frozen=True)
class Architecture:
    """What a ``BertEncoderV2`` needs to match a hub encoder.

    ``activations`` lists the candidate GELU forms in the order the probe tries them;
    ``source`` says where the numbers came from (``keras_metadata.pb`` or variable shapes).
    """

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_attention_heads: int
    max_sequence_length: int
    type_vocab_size: int
    inner_dim: int
    activations: tuple[str, ...]
    norm_first: bool = False
    embedding_width: Optional[int] = None
    output_dropout: float = 0.1
    attention_dropout: float = 0.1
    normalize_pooled: bool = False
    source: str = KERAS_METADATA

    def with_activation(self, name: str) -> "Architecture":
        return dataclasses.replace(self, activations=(name,))

    def encoder_kwargs(self) -> dict[str, Any]:
        return dict(vocab_size=self.vocab_size, hidden_size=self.hidden_size, num_layers=self.num_layers,
                    num_attention_heads=self.num_attention_heads,
                    max_sequence_length=self.max_sequence_length, type_vocab_size=self.type_vocab_size,
                    inner_dim=self.inner_dim, inner_activation=ACTIVATIONS[self.activations[0]],
                    output_dropout=self.output_dropout, attention_dropout=self.attention_dropout,
                    norm_first=self.norm_first, embedding_width=self.embedding_width)


@dataclasses.dataclass
class NativeSource:
    """A hub encoder ready to be rebuilt: its architecture (one activation, chosen by the
    probe) and its variables by name (``transformer/layer_0/.../kernel``, no ``:0``)."""

    path: str
    architecture: Architecture
    variables: dict[str, tf.Variable]
    max_abs_diff: float = float("nan")  # the parity probe's, float32
    hub_model: Any = None  # the loaded SavedModel, which owns ``variables``


def _metadata_nodes(encoder_path: Path) -> list[dict[str, Any]]:
    from tf_keras.protobuf import saved_metadata_pb2  # the proto Keras writes beside saved_model.pb

    file = encoder_path / KERAS_METADATA
    if not file.is_file():
        return []
    proto = saved_metadata_pb2.SavedMetadata()
    try:
        proto.ParseFromString(file.read_bytes())
    except Exception as e:  # noqa: BLE001 - a damaged file means: no metadata
        logger.info("%s: unreadable (%s); reading the architecture from the variables.", file, e)
        return []
    nodes = []
    for node in proto.nodes:
        try:
            nodes.append({"path": node.node_path, **json.loads(node.metadata)})
        except ValueError:
            continue
    return nodes


def _activations(name: Any) -> tuple[str, ...]:
    """Candidate GELU forms for a serialized activation; raises NativeUnavailable for others."""
    text = json.dumps(name) if not isinstance(name, str) else name
    if "gelu" not in text.lower():
        raise NativeUnavailable(f"inner activation {text!r} is not a GELU")
    # tf_keras' "gelu" and tfclf's exact_gelu are exact; tf-models' activations.gelu is tanh.
    exact_first = text in ("gelu", "exact_gelu")
    return ("exact_gelu", "tanh_gelu") if exact_first else ("tanh_gelu", "exact_gelu")


def _from_metadata(nodes: list[dict[str, Any]]) -> Optional[Architecture]:
    encoders = [n for n in nodes if n.get("class_name") in ENCODER_CLASSES]
    if not encoders:
        return None
    if len(encoders) > 1:
        raise NativeUnavailable(f"{len(encoders)} BERT encoders in one SavedModel")
    c = encoders[0].get("config") or {}
    if c.get("embedding_layer"):
        raise NativeUnavailable("a custom embedding layer")
    if c.get("output_range") or c.get("return_attention_scores"):
        raise NativeUnavailable("output_range/return_attention_scores set")
    root_layers = {n.get("class_name") for n in nodes if n["path"].count(".") == 1}
    try:
        return Architecture(
            vocab_size=int(c["vocab_size"]), hidden_size=int(c["hidden_size"]),
            num_layers=int(c["num_layers"]), num_attention_heads=int(c["num_attention_heads"]),
            max_sequence_length=int(c["max_sequence_length"]), type_vocab_size=int(c["type_vocab_size"]),
            inner_dim=int(c["inner_dim"]), activations=_activations(c.get("inner_activation", "gelu")),
            norm_first=bool(c.get("norm_first", False)),
            embedding_width=int(c["embedding_width"]) if c.get("embedding_width") else None,
            output_dropout=float(c.get("output_dropout", 0.1)),
            attention_dropout=float(c.get("attention_dropout", 0.1)),
            normalize_pooled="UnitNormalization" in root_layers, source=KERAS_METADATA)
    except KeyError as e:
        raise NativeUnavailable(f"keras_metadata.pb's encoder config lacks {e}") from None


def _from_shapes(variables: dict[str, tf.Variable]) -> Architecture:
    """The architecture from variable shapes alone (an export without keras_metadata.pb)."""
    def shape(name: str) -> list[int]:
        if name not in variables:
            raise NativeUnavailable(f"no variable {name!r} (first names: {sorted(variables)[:3]})")
        return variables[name].shape.as_list()

    vocab, width = shape("word_embeddings/embeddings")
    max_len, hidden = shape("position_embedding/embeddings")
    type_vocab = shape("type_embeddings/embeddings")[0]
    layers = sorted({int(m.group(1)) for n in variables if (m := _LAYER_RE.match(n))})
    if not layers:
        raise NativeUnavailable("no transformer/layer_<i>/ variables")
    _, heads, _ = shape("transformer/layer_0/self_attention/query/kernel")
    inner = shape("transformer/layer_0/intermediate/kernel")[1]
    return Architecture(vocab_size=vocab, hidden_size=hidden, num_layers=len(layers), num_attention_heads=heads,
                        max_sequence_length=max_len, type_vocab_size=type_vocab, inner_dim=inner,
                        activations=("exact_gelu", "tanh_gelu"),
                        norm_first="transformer/layer_0/self_attention_layer_norm/gamma" in variables
                        and "final_layer_norm/gamma" in variables,
                        embedding_width=width if width != hidden else None,
                        normalize_pooled=False, source="variable shapes")


class NativeEncoder(tf_keras.layers.Layer):
    """A hub BERT encoder as Keras layers: the BERT input dict -> ``sequence_output
    [batch, seq, H]`` and ``pooled_output [batch, H]`` (float32 L2-normalised where the hub
    model normalises it, as LaBSE does), like the hub model's outputs.

    Not serialisable by config: it is rebuilt from its hub model (``build``) and its weights
    travel in the classifier's checkpoint.
    """

    def __init__(self, architecture: Architecture, **kwargs):
        super().__init__(**kwargs)
        from official.nlp.modeling import networks

        self.architecture = architecture
        self.bert = networks.BertEncoderV2(**architecture.encoder_kwargs(), name="bert")

    def call(self, inputs, training=None):
        outputs = self.bert(inputs, training=training)
        pooled = outputs["pooled_output"]
        if self.architecture.normalize_pooled:
            pooled = tf.math.l2_normalize(tf.cast(pooled, tf.float32), axis=-1)
        return {"sequence_output": outputs["sequence_output"], "pooled_output": pooled}

    def get_config(self):
        return {**super().get_config(), "architecture": dataclasses.asdict(self.architecture)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        arch = dict(config.pop("architecture"))
        arch["activations"] = tuple(arch["activations"])
        return cls(Architecture(**arch), **config)


def _hub_name(name: str) -> str:
    return name[:-2] if name.endswith(":0") else name


def _match(native_name: str, hub_names: set[str]) -> Optional[str]:
    """The hub name that ``native_name`` ends with, at a ``/`` boundary (the longest)."""
    parts = _hub_name(native_name).split("/")
    for i in range(len(parts)):
        candidate = "/".join(parts[i:])
        if candidate in hub_names:
            return candidate
    return None


def variable_map(layer: NativeEncoder, source: NativeSource) -> list[tuple[tf.Variable, tf.Variable]]:
    """(native, hub) pairs for every native variable, checked one by one.

    Raises:
        NativeUnavailable: a native variable has no hub variable of its name, or its shape
            differs, or a trainable hub variable is left over.
    """
    hub_names = set(source.variables)
    pairs, used = [], set()
    for v in layer.weights:
        name = _match(v.name, hub_names)
        if name is None:
            raise NativeUnavailable(f"native variable {v.name} has no hub variable of its name")
        if name in used:
            raise NativeUnavailable(f"hub variable {name} matches two native variables")
        hub = source.variables[name]
        if v.shape != hub.shape:
            raise NativeUnavailable(f"{name}: native shape {v.shape} != hub shape {hub.shape}")
        used.add(name)
        pairs.append((v, hub))
    left = sorted(n for n, v in source.variables.items() if v.trainable and n not in used)
    if left:
        raise NativeUnavailable(f"{len(left)} hub variables have no native counterpart: {left[:5]}")
    return pairs


def assign(layer: NativeEncoder, source: NativeSource) -> int:
    """Copies the hub variables into a built ``NativeEncoder``; returns how many.

    Raises:
        NativeUnavailable: see ``variable_map``.
    """
    pairs = variable_map(layer, source)
    for native, hub in pairs:
        native.assign(tf.cast(hub, native.dtype))
    return len(pairs)


def build(source: NativeSource, *, name: str = "encoder", trainable: str = "all",
          keep: Optional[Callable[[str], bool]] = None) -> NativeEncoder:
    """A ``NativeEncoder`` for ``source`` under the current Keras policy, with its variables
    built and set to the hub model's.

    Args:
        source: from ``load``.
        name: the layer's name.
        trainable: ``all``, ``none`` or ``top-N``; with ``top-N``, ``keep`` (from
            ``tfclf.model.trainable_filter`` on the hub names) selects the variables that train,
            and a sublayer none of whose variables it keeps is frozen.
    """
    layer = NativeEncoder(source.architecture, name=name)
    ids = tf.zeros([1, 2], tf.int32)
    layer({"input_word_ids": ids, "input_mask": tf.ones_like(ids), "input_type_ids": ids})
    assign(layer, source)
    if trainable == "none":
        layer.trainable = False
    elif trainable != "all" and keep is not None:
        hub_names = set(source.variables)
        for sub in layer.bert._flatten_layers(include_self=False, recursive=True):
            own = sub._trainable_weights + sub._non_trainable_weights
            if own and not any(keep(_match(w.name, hub_names) or w.name) for w in own):
                sub.trainable = False
    return layer


def _probe_inputs(vocab_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random token ids ``[4, 24]`` with padding rows and both segments; no vocabulary needed."""
    rng = np.random.default_rng(_PROBE_SEED)
    batch, length = _PROBE_SHAPE
    lengths = np.array([length, length // 2, 3, length - 5])[:batch]
    mask = (np.arange(length)[None, :] < lengths[:, None]).astype(np.int32)
    types = ((np.arange(length)[None, :] >= (lengths // 2)[:, None]) & (mask > 0)).astype(np.int32)
    word_ids = rng.integers(0, vocab_size, size=_PROBE_SHAPE).astype(np.int32) * mask
    return word_ids, mask, types


def parity(layer: NativeEncoder, hub_model: Any, word_ids: np.ndarray, mask: np.ndarray,
           types: np.ndarray) -> float:
    """Max |native - hub| over ``sequence_output`` (real tokens) and ``pooled_output``, inference
    mode, relative to the outputs' scale where it exceeds 1 (float32 rounding grows with it)."""
    inputs = {"input_word_ids": tf.constant(word_ids, tf.int32), "input_mask": tf.constant(mask, tf.int32),
              "input_type_ids": tf.constant(types, tf.int32)}
    mine = layer(inputs, training=False)
    theirs = hub_model(inputs, training=False)
    real = mask.astype(bool)
    seq = np.abs(np.asarray(mine["sequence_output"], np.float32)[real]
                 - np.asarray(theirs["sequence_output"], np.float32)[real])
    pooled = np.abs(np.asarray(mine["pooled_output"], np.float32)
                    - np.asarray(theirs["pooled_output"], np.float32))
    scale = max(1.0, float(np.abs(np.asarray(theirs["sequence_output"], np.float32)[real]).max()),
                float(np.abs(np.asarray(theirs["pooled_output"], np.float32)).max()))
    return float(max(seq.max(), pooled.max())) / scale


_CACHE: dict[tuple[str, float], NativeSource] = {}


def load(encoder_path: PathLike) -> NativeSource:
    """Loads a hub encoder for the native runtime and checks it: complete variable map and
    float32 parity with the hub model (``PARITY_TOLERANCE``). Cached per folder and mtime.

    Raises:
        NativeUnavailable: why the native runtime cannot stand in for this encoder.
    """
    path = Path(encoder_path)
    graph = path / "saved_model.pb"
    key = (str(path.resolve()), graph.stat().st_mtime if graph.exists() else 0.0)
    if key in _CACHE:
        return _CACHE[key]
    hub_model = tf.saved_model.load(str(path))
    variables = {_hub_name(v.name): v for v in hub_model.variables}
    if len(variables) != len(hub_model.variables):
        raise NativeUnavailable("the hub model has two variables of one name")
    architecture = _from_metadata(_metadata_nodes(path)) or _from_shapes(variables)
    word_ids, mask, types = _probe_inputs(architecture.vocab_size)
    # Without metadata, whether pooled_output is normalised is unknown too: the probe decides.
    normalized = (architecture.normalize_pooled,) if architecture.source == KERAS_METADATA else (False, True)
    candidates = [(a, n) for a in architecture.activations for n in normalized]
    tried = []
    previous = tf_keras.mixed_precision.global_policy().name
    tf_keras.mixed_precision.set_global_policy("float32")  # the probe compares float32 to float32
    try:
        for activation, normalize in candidates:
            arch = dataclasses.replace(architecture.with_activation(activation), normalize_pooled=normalize)
            source = NativeSource(str(path), arch, variables, hub_model=hub_model)
            layer = build(source, name="parity_probe")
            diff = parity(layer, hub_model, word_ids, mask, types)
            tried.append(f"{activation}{', normalised' if normalize else ''}: {diff:.2e}")
            del layer
            if diff <= PARITY_TOLERANCE:
                source.max_abs_diff = diff
                _CACHE[key] = source
                logger.info("Native encoder: %d variables from %s (architecture from %s, %s); "
                            "parity with the hub model %.1e (float32).", len(variables), path,
                            arch.source, activation, diff)
                return source
    finally:
        tf_keras.mixed_precision.set_global_policy(previous)
    raise NativeUnavailable(f"outputs differ from the hub model's beyond {PARITY_TOLERANCE:g} "
                            f"(max |diff| per candidate: {'; '.join(tried)})")


def resolve_runtime(encoder_path: PathLike, requested: EncoderRuntime) -> tuple[EncoderRuntime, Optional[NativeSource]]:
    """The runtime a run uses: ``hub`` as asked; ``native`` or ``auto`` after ``load``'s checks.

    Returns:
        (runtime, source): ``source`` is the checked ``NativeSource`` for ``native``, else None.

    Raises:
        TfclfError: ``native`` was asked for and the encoder cannot run natively.
    """
    requested = EncoderRuntime(requested)
    if requested is EncoderRuntime.HUB:
        return EncoderRuntime.HUB, None
    try:
        return EncoderRuntime.NATIVE, load(encoder_path)
    except NativeUnavailable as e:
        if requested is EncoderRuntime.NATIVE:
            raise TfclfError(f"--encoder-runtime native: {encoder_path} cannot run natively: {e}. "
                             "Use --encoder-runtime hub or auto.") from None
        logger.info("--encoder-runtime auto: hub (%s cannot run natively: %s).", encoder_path, e)
        return EncoderRuntime.HUB, None
