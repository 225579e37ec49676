"""Mixed precision: which one a run uses, and what it takes to make the encoder use it.

``--mixed-precision`` is one of ``none`` (float32, the default), ``auto``,
``mixed_float16`` and ``mixed_bfloat16``. ``resolve`` turns ``auto`` into a concrete
choice for this machine, and the run's ``config.yaml`` records that choice:

- ``mixed_bfloat16`` on a CPU-only machine whose CPU computes in bfloat16 natively
  (``avx512_bf16`` or ``amx_bf16`` in ``/proc/cpuinfo``) and whose TensorFlow uses oneDNN;
- ``none`` (float32) everywhere else, GPUs and TPUs (``--strategy tpu``) included: there
  pick ``mixed_float16`` or ``mixed_bfloat16`` yourself.

A Keras policy alone does not reach a TF Hub encoder: ``hub.KerasLayer`` runs the
SavedModel's restored float32 functions, so ``set_global_policy("mixed_bfloat16")``
changes only the pooling and dropout layers tfclf adds (the logits stay float32). On
CPU, ``training_precision`` therefore also turns on Grappler's
``auto_mixed_precision_onednn_bfloat16`` graph rewrite while the model trains
(``--bf16-graph-rewrite``, on by default). It converts the allow-listed ops of every
graph function, the hub encoder's included (matmuls among them; 510 of the 1,817 nodes
of the tiny test encoder's train step), to bfloat16 and leaves variables float32. Measured on a 2-core Zen 5 (avx512_bf16) with
all-MiniLM-L6-v2 (experiments/RESULTS.md): 1.13-1.22x the float32 training speed, and on
the full emotion recipe 0.37 points lower test accuracy over two seeds, which is why
float32, not ``auto``, is the default.

On a GPU the hub path gets Grappler's ``auto_mixed_precision`` rewrite instead, for
``mixed_float16`` (the CUDA float16 counterpart; Keras wraps the optimiser of a
``mixed_float16`` model in a ``LossScaleOptimizer``, which scales the loss). There is no
Grappler rewrite for bfloat16 on a GPU: use the native runtime.

The native runtime (``--encoder-runtime native``, ``tfclf.native_encoder``) needs neither
rewrite: its encoder is Keras layers, and the policy reaches every one of them.

The rewrites are process-wide TensorFlow options, applied when a graph function first
runs under it, so ``training_precision`` sets it for the block and puts the previous
options back afterwards. The final evaluation and the exported SavedModel run outside
it, with float32 encoder graphs: metrics.json describes the model TF Serving will run.

Example::

    from tfclf import precision
    from tfclf.config import MixedPrecision

    choice = precision.resolve(MixedPrecision.AUTO)      # mixed_bfloat16 on a bf16 CPU
    with precision.training_precision(choice, graph_rewrite=True):
        classifier.fit(train_ds, epochs=3)
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Iterator, Optional, Sequence

import tensorflow as tf
import tf_keras

from tfclf.config import MixedPrecision

logger = logging.getLogger(__name__)

CPUINFO = Path("/proc/cpuinfo")
# CPU flags (Linux names) of native bfloat16 arithmetic: AVX512-BF16 (Cooper Lake, Zen 4 and
# later) and AMX-BF16 (Sapphire Rapids and later). Without them oneDNN emulates bfloat16, slower.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
GRAPPLER_BF16 = "auto_mixed_precision_onednn_bfloat16"
GRAPPLER_GPU_FP16 = "auto_mixed_precision"  # CUDA float16


def cpu_flags(cpuinfo: Optional[str] = None) -> frozenset[str]:
    """The CPU feature flags of the first processor in /proc/cpuinfo (empty where unreadable).

    Args:
        cpuinfo: the text of /proc/cpuinfo; read from the machine when None.
    """
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text(errors="replace")
        except OSError:  # not Linux, or /proc is not mounted
            return frozenset()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_bf16_flags(flags: Optional[frozenset[str]] = None) -> tuple[str, ...]:
    """The native-bfloat16 flags this CPU has (empty: none, so bfloat16 would be emulated)."""
    flags = cpu_flags() if flags is None else flags
    return tuple(f for f in BF16_CPU_FLAGS if f in flags)


def onednn_enabled() -> bool:
    """Whether this TensorFlow runs its CPU kernels through oneDNN (the rewrite needs it)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:  # pragma: no cover - a TensorFlow without the helper
        return False
    return bool(_pywrap_util_port.IsMklEnabled())


def resolve(choice: MixedPrecision, *, gpus: Optional[Sequence[object]] = None, tpu: bool = False,
            flags: Optional[frozenset[str]] = None, onednn: Optional[bool] = None) -> MixedPrecision:
    """The concrete precision of ``choice`` on this machine (``auto`` never comes back).

    Args:
        choice: the configured ``--mixed-precision``.
        gpus: the visible GPUs; ``tf.config.list_physical_devices("GPU")`` when None.
        tpu: the run trains on a TPU (``--strategy tpu``), not on this host's CPU.
        flags: CPU flags; those of /proc/cpuinfo when None.
        onednn: whether TensorFlow uses oneDNN; asked of TensorFlow when None.
    """
    if choice is not MixedPrecision.AUTO:
        return choice
    if tpu:
        logger.info("--mixed-precision auto: none (float32) under --strategy tpu; pass "
                    "mixed_bfloat16 to compute in bfloat16 on the TPU.")
        return MixedPrecision.NONE
    gpus = tf.config.list_physical_devices("GPU") if gpus is None else gpus
    if gpus:
        logger.info("--mixed-precision auto: none (float32) with %d GPU(s); pass mixed_float16 or "
                    "mixed_bfloat16 to train in half precision there.", len(gpus))
        return MixedPrecision.NONE
    native = cpu_bf16_flags(flags)
    if not native:
        logger.info("--mixed-precision auto: none (float32); this CPU has no native bfloat16 "
                    "(none of %s).", ", ".join(BF16_CPU_FLAGS))
        return MixedPrecision.NONE
    if not (onednn_enabled() if onednn is None else onednn):
        logger.info("--mixed-precision auto: none (float32); the CPU has %s but TensorFlow runs "
                    "without oneDNN (TF_ENABLE_ONEDNN_OPTS=0?).", ", ".join(native))
        return MixedPrecision.NONE
    logger.info("--mixed-precision auto: mixed_bfloat16 (the CPU has %s).", ", ".join(native))
    return MixedPrecision.MIXED_BFLOAT16


def policy_name(choice: MixedPrecision) -> str:
    """The Keras policy of a resolved choice."""
    if choice is MixedPrecision.AUTO:
        raise ValueError("resolve() --mixed-precision auto before asking for its Keras policy")
    return "float32" if choice is MixedPrecision.NONE else choice.value


@contextlib.contextmanager
def keras_policy(choice: MixedPrecision | str) -> Iterator[None]:
    """Models built in the block take the Keras policy of ``choice``; the previous comes back.

    ``choice`` may be a saved config.yaml's string. ``auto`` there (a hand-written config;
    fit records the resolved choice) builds float32 layers, like ``none``.
    """
    choice = MixedPrecision(choice)
    previous = tf_keras.mixed_precision.global_policy().name
    tf_keras.mixed_precision.set_global_policy(
        "float32" if choice is MixedPrecision.AUTO else policy_name(choice))
    try:
        yield
    finally:
        tf_keras.mixed_precision.set_global_policy(previous)


def graph_rewrite_option(choice: MixedPrecision, graph_rewrite: bool,
                         gpus: Optional[Sequence[object]] = None, tpu: bool = False,
                         native: bool = False) -> Optional[str]:
    """The Grappler mixed-precision rewrite ``training_precision`` turns on, or None.

    * the native runtime, a TPU, or ``--no-bf16-graph-rewrite``: none (the Keras policy is
      all there is);
    * ``mixed_bfloat16`` without a visible GPU: ``auto_mixed_precision_onednn_bfloat16``;
    * ``mixed_float16`` with a visible GPU: ``auto_mixed_precision`` (CUDA float16).
    """
    if native or tpu or not graph_rewrite or choice in (MixedPrecision.NONE, MixedPrecision.AUTO):
        return None
    gpus = tf.config.list_physical_devices("GPU") if gpus is None else gpus
    if choice is MixedPrecision.MIXED_BFLOAT16 and not gpus:
        return GRAPPLER_BF16
    if choice is MixedPrecision.MIXED_FLOAT16 and gpus:
        return GRAPPLER_GPU_FP16
    return None


def uses_graph_rewrite(choice: MixedPrecision, graph_rewrite: bool,
                       gpus: Optional[Sequence[object]] = None, tpu: bool = False,
                       native: bool = False) -> bool:
    """Whether ``training_precision`` turns on a Grappler rewrite (``graph_rewrite_option``)."""
    return graph_rewrite_option(choice, graph_rewrite, gpus, tpu, native) is not None


@contextlib.contextmanager
def grappler_option(option: str) -> Iterator[None]:
    """Turns on one Grappler rewrite for graph functions first run in the block.

    The previous optimizer options come back on exit, errors included.
    """
    previous = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({option: True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({option: bool(previous.get(option, False))})


def graph_rewrite_bf16():
    """``grappler_option`` of the oneDNN bfloat16 rewrite."""
    return grappler_option(GRAPPLER_BF16)


@contextlib.contextmanager
def training_precision(choice: MixedPrecision, *, graph_rewrite: bool,
                       gpus: Optional[Sequence[object]] = None, tpu: bool = False,
                       native: bool = False) -> Iterator[bool]:
    """The block trains in ``choice``; yields whether a graph rewrite is on.

    The Keras policy is the caller's (``keras_policy`` around building the model); this adds
    the Grappler rewrite that ``graph_rewrite_option`` picks for the hub runtime, and warns
    when the CPU would emulate bfloat16.
    """
    option = graph_rewrite_option(choice, graph_rewrite, gpus, tpu, native)
    if option is None:
        yield False
        return
    if option == GRAPPLER_BF16 and not cpu_bf16_flags():
        logger.warning("--mixed-precision mixed_bfloat16 on a CPU without native bfloat16 (none of "
                       "%s): oneDNN emulates it, which is usually slower than float32.",
                       ", ".join(BF16_CPU_FLAGS))
    logger.info("Training with Grappler's %s rewrite: the hub encoder's matmuls run in %s, "
                "variables stay float32.", option,
                "bfloat16" if option == GRAPPLER_BF16 else "float16")
    with grappler_option(option):
        yield True
