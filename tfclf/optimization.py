"""AdamW with a piecewise-constant learning rate: the LaBSE fine-tuning recipe, in Keras.

tensorflow-addons (whose ``AdamW`` the original recipes used) is end-of-life and has
no build for TF 2.20, so this uses ``tf_keras.optimizers.AdamW``. Keras applies
decoupled decay as ``var -= lr(t) * weight_decay * var``; the recipe's decay is
``1e-6 * lr(t) / lr(0)`` per step, so Keras gets ``weight_decay / lr(0)``.
"""
from __future__ import annotations

import logging

import tf_keras

from tfclf.config import OptimizerConfig

logger = logging.getLogger(__name__)


def learning_rate_schedule(config: OptimizerConfig) -> tf_keras.optimizers.schedules.LearningRateSchedule:
    """``PiecewiseConstantDecay(boundaries, values)``, with ``--learning-rate`` applied."""
    return tf_keras.optimizers.schedules.PiecewiseConstantDecay(
        boundaries=list(config.boundaries), values=list(config.schedule_values()))


def build_optimizer(config: OptimizerConfig) -> tf_keras.optimizers.Optimizer:
    """Builds AdamW; variables matching ``exclude_from_weight_decay`` are not decayed.

    The exclusion is registered before the optimiser is built (Keras reads it when
    it first sees the variables), and it is lost when a model is reloaded from a
    SavedModel: resume from checkpoints, which this optimiser's step survives in.
    """
    values = config.schedule_values()
    optimizer = tf_keras.optimizers.AdamW(
        learning_rate=learning_rate_schedule(config),
        weight_decay=config.weight_decay / values[0],
        beta_1=config.beta_1,
        beta_2=config.beta_2,
        epsilon=config.epsilon,
        global_clipnorm=config.clip_norm,
    )
    optimizer.exclude_from_weight_decay(var_names=list(config.exclude_from_weight_decay))
    return optimizer
