import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tfclf import optimization
from tfclf.config import AdamUpdate, OptimizerConfig


def test_schedule_is_piecewise_constant():
    schedule = optimization.learning_rate_schedule(OptimizerConfig())
    assert float(schedule(0)) == pytest.approx(5e-5)
    assert float(schedule(1000)) == pytest.approx(5e-5)
    assert float(schedule(1001)) == pytest.approx(1e-5)


def test_learning_rate_flag_scales_every_value():
    schedule = optimization.learning_rate_schedule(OptimizerConfig(learning_rate=1e-4))
    assert float(schedule(5000)) == pytest.approx(2e-5)


def decay_after_steps(config, names, steps):
    """Applies zero gradients: with Adam's moments at 0 the only change is weight decay."""
    optimizer = optimization.build_optimizer(config)
    variables = [tf.Variable(np.ones(3, np.float32), name=n) for n in names]
    for _ in range(steps):
        optimizer.apply_gradients([(tf.zeros(3), v) for v in variables])
    return [v.numpy() for v in variables], optimizer


def test_weight_decay_follows_schedule_over_initial_lr():
    config = OptimizerConfig(boundaries=(2,), values=(5e-5, 1e-5), weight_decay=1e-3)
    (kernel, bias, norm), optimizer = decay_after_steps(config, ["dense/kernel", "dense/bias",
                                                                 "layer_norm/gamma"], steps=4)
    # Steps 0..2 at lr 5e-5 decay by 1e-3 each; step 3 at lr 1e-5 decays by 1e-3 * 1e-5/5e-5.
    expected = (1 - 1e-3) ** 3 * (1 - 1e-3 * 0.2)
    np.testing.assert_allclose(kernel, expected, rtol=1e-6)
    np.testing.assert_array_equal(bias, 1.0)  # excluded by name
    np.testing.assert_array_equal(norm, 1.0)
    assert int(optimizer.iterations) == 4


@pytest.mark.parametrize("update", [AdamUpdate.FUSED, AdamUpdate.KERAS])
def test_zero_weight_decay_changes_nothing_and_skips_the_decay_pass(update, monkeypatch):
    config = OptimizerConfig(weight_decay=0.0, update=update)
    (kernel,), _ = decay_after_steps(config, ["dense/kernel"], steps=2)
    np.testing.assert_array_equal(kernel, 1.0)
    passes = []
    monkeypatch.setattr(tf_keras.optimizers.AdamW, "_apply_weight_decay",
                        lambda self, variables: passes.append(len(variables)))
    for weight_decay in (0.0, 1e-3):
        variable = tf.Variable(np.ones(3, np.float32), name="dense/kernel")
        optimizer = optimization.build_optimizer(OptimizerConfig(weight_decay=weight_decay, update=update))
        optimizer.apply_gradients([(tf.zeros(3), variable)])
    assert passes == [1]  # Keras' pass ran for 1e-3 only


@pytest.mark.parametrize("update", [AdamUpdate.FUSED, AdamUpdate.KERAS])
def test_a_variable_without_gradient_is_left_alone_without_keras_warning(update, caplog):
    """The native pooler under --pooling mean: off the loss's path, so its gradient is None.
    Keras warned "did you forget to provide a `loss` argument?"; the slots keep their layout."""
    import logging

    used, unused = (tf.Variable(np.ones(3, np.float32), name=n) for n in ("dense/kernel", "pooler/kernel"))
    optimizer = optimization.build_optimizer(OptimizerConfig(weight_decay=1e-3, update=update))
    built = optimization.build_optimizer(OptimizerConfig(weight_decay=1e-3, update=update))
    built.build([used, unused])
    tf_logger = logging.getLogger("tensorflow")  # Keras warns there; it does not propagate to caplog
    tf_logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.DEBUG):
            for _ in range(2):
                optimizer.apply_gradients([(tf.fill([3], 0.5), used), (None, unused)])
    finally:
        tf_logger.removeHandler(caplog.handler)
    assert not any("Gradients do not exist" in r.getMessage() for r in caplog.records)
    assert any("pooler/kernel" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)
    np.testing.assert_array_equal(unused.numpy(), 1.0)  # neither stepped nor decayed, as in Keras
    assert (used.numpy() < 1.0).all() and int(optimizer.iterations) == 2
    # Slots for both, in order, as when built from every variable first (fit does that too).
    names = [v.name.removeprefix(f"{optimizer.name}/") for v in optimizer.variables]  # built in its scope
    assert names == [v.name for v in built.variables]
    assert len(optimizer.variables) == 1 + 2 * 2  # the step, and m and v of each variable
    with pytest.raises(ValueError, match="No gradients provided for any variable"):
        optimizer.apply_gradients([(None, used), (None, unused)])


def test_clip_norm_is_applied():
    optimizer = optimization.build_optimizer(OptimizerConfig(clip_norm=0.5))
    assert optimizer.global_clipnorm == 0.5
    assert optimization.build_optimizer(OptimizerConfig()).global_clipnorm is None


def test_is_keras_adamw_not_addons():
    optimizer = optimization.build_optimizer(OptimizerConfig())
    assert isinstance(optimizer, tf_keras.optimizers.AdamW)
    assert optimizer.epsilon == 1e-6


from tfclf.config import Schedule  # noqa: E402


@pytest.mark.parametrize("schedule, at_half, at_end", [
    (Schedule.LINEAR, 5e-5, 0.0),
    (Schedule.POLYNOMIAL, 2.5e-5, 0.0),  # power 2: (1 - 0.5)^2
    (Schedule.COSINE, 5e-5, 0.0),  # 0.5 * (1 + cos(pi / 2))
])
def test_decay_schedules_after_warmup(schedule, at_half, at_end):
    config = OptimizerConfig(schedule=schedule, values=(1e-4,), boundaries=(), warmup_fraction=0.1)
    lr = optimization.learning_rate_schedule(config, total_steps=110)
    assert float(lr(0)) == 0.0
    assert float(lr(5)) == pytest.approx(1e-4 * 5 / 11)  # linear through the 11 warmup steps
    assert float(lr(11)) == pytest.approx(1e-4)  # peak when warmup ends
    assert float(lr(11 + 49.5)) == pytest.approx(at_half, rel=1e-3)
    assert float(lr(110)) == pytest.approx(at_end, abs=1e-9)


def test_piecewise_with_warmup_shifts_the_boundaries():
    config = OptimizerConfig(warmup_fraction=0.5)
    lr = optimization.learning_rate_schedule(config, total_steps=2000)
    assert float(lr(500)) == pytest.approx(2.5e-5)
    assert float(lr(1000 + 1000)) == pytest.approx(5e-5)
    assert float(lr(1000 + 1001)) == pytest.approx(1e-5)


def test_schedule_config_round_trips_through_keras_serialization():
    config = OptimizerConfig(schedule=Schedule.COSINE, values=(1e-4,), boundaries=(), warmup_fraction=0.2)
    lr = optimization.learning_rate_schedule(config, total_steps=100)
    again = tf_keras.optimizers.schedules.deserialize(tf_keras.optimizers.schedules.serialize(lr))
    assert [float(again(s)) for s in (3, 20, 60)] == pytest.approx([float(lr(s)) for s in (3, 20, 60)])


def test_decay_schedule_without_steps_is_an_error():
    from tfclf.errors import TfclfError

    with pytest.raises(TfclfError, match="number of training steps"):
        optimization.learning_rate_schedule(OptimizerConfig(schedule=Schedule.LINEAR, values=(1e-4,),
                                                            boundaries=()))


def test_piecewise_without_boundaries_is_constant():
    lr = optimization.learning_rate_schedule(OptimizerConfig(boundaries=(), values=(3e-5,)))
    assert [float(lr(s)) for s in (0, 10, 10_000)] == pytest.approx([3e-5] * 3)
    optimizer = optimization.build_optimizer(OptimizerConfig(boundaries=(), values=(3e-5,)))
    assert float(optimizer.learning_rate) == pytest.approx(3e-5)


@pytest.mark.parametrize("update", [AdamUpdate.FUSED, AdamUpdate.XLA])
def test_update_kernels_match_keras_update_dense_and_sparse(update):
    # --update fused|xla compute each variable's AdamW step in one pass; the arithmetic must not change.
    rng = np.random.default_rng(0)
    init = {"embeddings": rng.normal(size=(50, 4)).astype(np.float32),
            "kernel": rng.normal(size=(4, 3)).astype(np.float32),
            "layer_norm/gamma": rng.normal(size=3).astype(np.float32)}
    # Sparse rows with a repeated id (a token twice in a batch): its rows must add up.
    grads = [(rng.normal(size=(6, 4)).astype(np.float32), np.array([3, 7, 3, 11, 49, 0]),
              rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32))
             for _ in range(4)]

    def run(kind):
        config = OptimizerConfig(values=(1e-2, 1e-3), boundaries=(2,), weight_decay=1e-2, update=kind)
        optimizer = optimization.build_optimizer(config)
        variables = {k: tf.Variable(v, name=k) for k, v in init.items()}

        @tf.function
        def step(rows, ids, dense, norm):
            optimizer.apply_gradients([
                (tf.IndexedSlices(rows, ids, dense_shape=tf.constant([50, 4])), variables["embeddings"]),
                (dense, variables["kernel"]), (norm, variables["layer_norm/gamma"])])

        for g in grads:
            step(*(tf.constant(x) for x in g))
        return optimizer, {k: v.numpy() for k, v in variables.items()}

    plain_opt, plain = run(AdamUpdate.KERAS)
    opt, out = run(update)
    assert type(plain_opt) is optimization.AdamW and not plain_opt.jit_compile
    assert opt.jit_compile == (update is AdamUpdate.XLA)
    assert isinstance(opt, optimization.FusedAdamW) == (update is AdamUpdate.FUSED)
    for name in init:
        assert not np.allclose(plain[name], init[name])  # the steps did move every variable
        np.testing.assert_allclose(out[name], plain[name], rtol=1e-5, atol=1e-6)
    untouched = [i for i in range(50) if i not in (0, 3, 7, 11, 49)]
    # Rows without gradients still move: Adam's moments from earlier steps keep acting on them.
    assert not np.allclose(out["embeddings"][untouched], init["embeddings"][untouched])
    assert int(opt.iterations) == 4


def test_fused_update_resumes_from_a_checkpoint_of_its_moments(tmp_path):
    """Its slots are Keras' own: a checkpoint restores them and the step continues the same."""
    def make():
        v = tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="dense/kernel")
        return v, optimization.build_optimizer(OptimizerConfig(values=(1e-2,), boundaries=()))

    g = tf.constant(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3))
    v, opt = make()
    for _ in range(3):
        opt.apply_gradients([(g, v)])
    path = tf.train.Checkpoint(v=v, opt=opt).save(str(tmp_path / "ckpt"))
    opt.apply_gradients([(g, v)])
    v2, opt2 = make()
    opt2.build([v2])
    tf.train.Checkpoint(v=v2, opt=opt2).restore(path).assert_consumed()
    assert int(opt2.iterations) == 3
    opt2.apply_gradients([(g, v2)])
    np.testing.assert_allclose(v2.numpy(), v.numpy(), rtol=1e-6)
