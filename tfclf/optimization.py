"""AdamW with a piecewise-constant learning rate: the LaBSE fine-tuning recipe, in Keras.

tensorflow-addons (whose ``AdamW`` the original recipes used) is end-of-life and has
no build for TF 2.20, so this uses ``tf_keras.optimizers.AdamW``. Keras applies
decoupled decay as ``var -= lr(t) * weight_decay * var``; the recipe's decay is
``1e-6 * lr(t) / lr(0)`` per step, so Keras gets ``weight_decay / lr(0)``.
"""
from __future__ import annotations

import logging
from typing import Optional

import tensorflow as tf
import tf_keras
from tf_keras.src.utils import tf_utils

from tfclf.config import AdamUpdate, OptimizerConfig, Schedule
from tfclf.errors import TfclfError

logger = logging.getLogger(__name__)

Schedules = tf_keras.optimizers.schedules


@tf_keras.utils.register_keras_serializable(package="tfclf")
class LinearWarmup(Schedules.LearningRateSchedule):
    """Rises linearly from 0 to ``after(warmup_steps)`` over ``warmup_steps``, then follows ``after``.

    ``after`` is evaluated at ``step - warmup_steps``, so a decay schedule starts
    decaying only once the warmup is over.
    """

    def __init__(self, after: Schedules.LearningRateSchedule, warmup_steps: int, peak: float):
        super().__init__()
        self.after = after
        self.warmup_steps = int(warmup_steps)
        self.peak = float(peak)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warm = self.peak * step / max(self.warmup_steps, 1)
        return tf.where(step < self.warmup_steps, warm, self.after(step - self.warmup_steps))

    def get_config(self):
        return {"after": tf_keras.optimizers.schedules.serialize(self.after),
                "warmup_steps": self.warmup_steps, "peak": self.peak}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["after"] = tf_keras.optimizers.schedules.deserialize(config["after"])
        return cls(**config)


@tf_keras.utils.register_keras_serializable(package="tfclf")
class Constant(Schedules.LearningRateSchedule):
    """One rate throughout: piecewise with no boundaries (Keras' piecewise needs one)."""

    def __init__(self, rate: float):
        super().__init__()
        self.rate = float(rate)

    def __call__(self, step):
        return tf.constant(self.rate, tf.float32)

    def get_config(self):
        return {"rate": self.rate}


def learning_rate_schedule(config: OptimizerConfig, total_steps: Optional[int] = None
                           ) -> Schedules.LearningRateSchedule:
    """The configured schedule, with ``--learning-rate`` and warmup applied.

    Args:
        config: optimiser section.
        total_steps: optimiser steps of the whole run; needed by the decay
            schedules and by ``warmup_fraction``.
    """
    values = config.schedule_values()
    peak = values[0]
    warmup = 0
    if config.schedule is not Schedule.PIECEWISE or config.warmup_fraction > 0:
        if not total_steps:
            raise TfclfError(f"--schedule {config.schedule.value} with warmup needs the number of "
                             "training steps; pass total_steps.")
        warmup = int(round(total_steps * config.warmup_fraction))
    decay_steps = max(1, (total_steps or 0) - warmup)
    if config.schedule is Schedule.PIECEWISE and not config.boundaries:
        schedule = Constant(peak)
    elif config.schedule is Schedule.PIECEWISE:
        schedule = Schedules.PiecewiseConstantDecay(boundaries=list(config.boundaries), values=list(values))
    elif config.schedule is Schedule.COSINE:
        schedule = Schedules.CosineDecay(peak, decay_steps, alpha=config.end_learning_rate / peak)
    else:
        power = 1.0 if config.schedule is Schedule.LINEAR else config.polynomial_power
        schedule = Schedules.PolynomialDecay(peak, decay_steps, end_learning_rate=config.end_learning_rate,
                                             power=power)
    return LinearWarmup(schedule, warmup, peak) if warmup else schedule


@tf_keras.utils.register_keras_serializable(package="tfclf")
class AdamW(tf_keras.optimizers.AdamW):
    """Keras' AdamW without two of its needless or misleading habits.

    * At ``weight_decay=0`` Keras still runs its decay pass, multiplying every decayed
      variable by zero (20 ms a MiniLM step on an AVX-512 Xeon,
      ``benchmarks/profile_train_step.py``'s ``apply_parts``); this skips it.
    * A variable off the path to the loss has no gradient: the native encoder's pooler
      when ``--pooling`` is ``mean`` or ``cls``. Keras leaves it out of the step, as
      this does, but also warns "did you forget to provide a `loss` argument?"; this
      names the variables at debug level instead. The list of variables, and so the
      optimiser's slots (which Keras keys by position), stays the same.
    """

    def apply_gradients(self, grads_and_vars, *args, **kwargs):
        pairs = list(grads_and_vars)
        used = [(g, v) for g, v in pairs if g is not None]
        if used and len(used) < len(pairs):  # no gradient at all stays Keras' error
            with tf.name_scope(self.name or "optimizer"), tf.init_scope():
                self.build([v for _, v in pairs])  # as Keras: slots for every variable, before filtering
            logger.debug("No gradient (not on the path to the loss) for %s: left unchanged this step.",
                         [v.name for g, v in pairs if g is None])
            pairs = used
        return super().apply_gradients(pairs, *args, **kwargs)

    def _apply_weight_decay(self, variables):
        if self.weight_decay:  # a Python float: 0.0 decays nothing
            super()._apply_weight_decay(variables)


@tf_keras.utils.register_keras_serializable(package="tfclf")
class FusedAdamW(AdamW):
    """Keras' AdamW whose per-variable step is TF's one-pass ``ResourceApplyAdam`` kernel.

    Keras' own update runs about ten element-wise kernels over every variable; on a
    CPU that was a third of MiniLM's training step at short lengths
    (``benchmarks/profile_train_step.py``). The fused kernel does the same arithmetic
    (``lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)`` and epsilon outside the square
    root, as Keras) in one pass and needs no XLA compilation. Decoupled weight
    decay, clipping, schedules, exclusions and checkpoints stay Keras' own.

    A sparse gradient (the word embeddings' ``IndexedSlices``) is made dense first:
    Keras' Adam decays every row's moments each step anyway, so this changes no value.
    """

    def update_step(self, gradient, variable):
        if self.amsgrad:  # the fused kernel has no AMSGrad
            return super().update_step(gradient, variable)
        dtype = variable.dtype
        if isinstance(gradient, tf.IndexedSlices):
            gradient = tf.convert_to_tensor(gradient)
        index = self._index_dict[self._var_key(variable)]
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=self._momentums[index].handle, v=self._velocities[index].handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(self.learning_rate, dtype), beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype))


def build_optimizer(config: OptimizerConfig, total_steps: Optional[int] = None) -> tf_keras.optimizers.Optimizer:
    """Builds AdamW; variables matching ``exclude_from_weight_decay`` are not decayed.

    Weight decay follows the schedule: its per-step rate is
    ``weight_decay * lr(t) / peak lr``, warmup included.

    ``config.update`` picks how each variable's step is computed: ``fused``
    (:class:`FusedAdamW`), ``xla`` (Keras' update compiled with XLA on every device;
    Keras itself compiles it on GPUs only) or ``keras`` (Keras' unfused update).

    The exclusion is registered before the optimiser is built (Keras reads it when
    it first sees the variables), and it is lost when a model is reloaded from a
    SavedModel: resume from checkpoints, which this optimiser's step survives in.
    """
    values = config.schedule_values()
    cls = FusedAdamW if config.update is AdamUpdate.FUSED else AdamW
    optimizer = cls(
        learning_rate=learning_rate_schedule(config, total_steps),
        weight_decay=config.weight_decay / values[0],
        beta_1=config.beta_1,
        beta_2=config.beta_2,
        epsilon=config.epsilon,
        global_clipnorm=config.clip_norm,
    )
    optimizer.exclude_from_weight_decay(var_names=list(config.exclude_from_weight_decay))
    # Only the per-variable update is ever compiled here, never the model (see
    # TrainConfig.jit_compile).
    optimizer.jit_compile = bool(config.update is AdamUpdate.XLA and tf_utils.can_jit_compile())
    return optimizer
