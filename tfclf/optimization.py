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

from tfclf.config import OptimizerConfig, Schedule
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


def build_optimizer(config: OptimizerConfig, total_steps: Optional[int] = None) -> tf_keras.optimizers.Optimizer:
    """Builds AdamW; variables matching ``exclude_from_weight_decay`` are not decayed.

    Weight decay follows the schedule: its per-step rate is
    ``weight_decay * lr(t) / peak lr``, warmup included.

    The exclusion is registered before the optimiser is built (Keras reads it when
    it first sees the variables), and it is lost when a model is reloaded from a
    SavedModel: resume from checkpoints, which this optimiser's step survives in.
    """
    values = config.schedule_values()
    optimizer = tf_keras.optimizers.AdamW(
        learning_rate=learning_rate_schedule(config, total_steps),
        weight_decay=config.weight_decay / values[0],
        beta_1=config.beta_1,
        beta_2=config.beta_2,
        epsilon=config.epsilon,
        global_clipnorm=config.clip_norm,
    )
    optimizer.exclude_from_weight_decay(var_names=list(config.exclude_from_weight_decay))
    # Keras enables the optimiser's XLA update on GPUs only. On CPU it is worth it too:
    # the unfused AdamW update of MiniLM's 22.7M variables took 0.26-0.37 s of a 1.0 s
    # step (benchmarks/profile_train_step.py). Only the per-variable update is
    # compiled, never the model (see TrainConfig.jit_compile).
    optimizer.jit_compile = bool(config.jit_compile_update and tf_utils.can_jit_compile())
    return optimizer
