import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tfclf import precision
from tfclf.config import MixedPrecision
from tfclf.model import build_classifier

ZEN5 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 26
flags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16 avx_vnni
processor\t: 1
flags\t\t: fpu sse2
"""
ZEN3 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n"
SAPPHIRE_RAPIDS = "flags\t\t: avx512f amx_bf16 amx_tile amx_int8\n"
GRAVITON = "processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n"


def option_on() -> bool:
    return bool(tf.config.optimizer.get_experimental_options().get(precision.GRAPPLER_BF16, False))


def test_cpu_flags_read_the_first_processor():
    assert precision.cpu_flags(ZEN5) == {"fpu", "sse2", "avx2", "avx512f", "avx512_vnni", "avx512_bf16",
                                         "avx_vnni"}
    assert "asimd" in precision.cpu_flags(GRAVITON)
    assert precision.cpu_flags("") == frozenset()


@pytest.mark.parametrize("cpuinfo, native", [(ZEN5, ("avx512_bf16",)), (SAPPHIRE_RAPIDS, ("amx_bf16",)),
                                             (ZEN3, ()), (GRAVITON, ())])
def test_native_bf16_flags(cpuinfo, native):
    assert precision.cpu_bf16_flags(precision.cpu_flags(cpuinfo)) == native


def test_cpu_flags_of_a_machine_without_proc(monkeypatch, tmp_path):
    monkeypatch.setattr(precision, "CPUINFO", tmp_path / "missing")
    assert precision.cpu_flags() == frozenset()


@pytest.mark.parametrize("cpuinfo, gpus, onednn, expected", [
    (ZEN5, [], True, MixedPrecision.MIXED_BFLOAT16),
    (SAPPHIRE_RAPIDS, [], True, MixedPrecision.MIXED_BFLOAT16),
    (ZEN3, [], True, MixedPrecision.NONE),  # bf16 would be emulated
    (ZEN5, [], False, MixedPrecision.NONE),  # TF_ENABLE_ONEDNN_OPTS=0: no rewrite to run
    (ZEN5, ["GPU:0"], True, MixedPrecision.NONE),  # a GPU user picks mixed_float16 themselves
])
def test_auto_resolves_by_machine(cpuinfo, gpus, onednn, expected):
    flags = precision.cpu_flags(cpuinfo)
    assert precision.resolve(MixedPrecision.AUTO, gpus=gpus, flags=flags, onednn=onednn) is expected


def test_auto_under_tpu_strategy_is_float32_even_on_a_bf16_host():
    flags = precision.cpu_flags(ZEN5)
    assert precision.resolve(MixedPrecision.AUTO, gpus=[], tpu=True, flags=flags, onednn=True) \
        is MixedPrecision.NONE


@pytest.mark.parametrize("choice", [c for c in MixedPrecision if c is not MixedPrecision.AUTO])
def test_explicit_choices_are_kept(choice):
    assert precision.resolve(choice, gpus=["GPU:0"], flags=frozenset(), onednn=False) is choice


def test_auto_on_this_machine_matches_its_cpu():
    expected = (MixedPrecision.MIXED_BFLOAT16
                if precision.cpu_bf16_flags() and precision.onednn_enabled()
                and not tf.config.list_physical_devices("GPU") else MixedPrecision.NONE)
    assert precision.resolve(MixedPrecision.AUTO) is expected


def test_keras_policy_is_scoped():
    with precision.keras_policy(MixedPrecision.MIXED_BFLOAT16):
        assert tf_keras.mixed_precision.global_policy().name == "mixed_bfloat16"
        with precision.keras_policy("none"):
            assert tf_keras.mixed_precision.global_policy().name == "float32"
        assert tf_keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert tf_keras.mixed_precision.global_policy().name == "float32"
    with pytest.raises(ValueError):
        precision.policy_name(MixedPrecision.AUTO)


@pytest.mark.parametrize("choice, rewrite, gpus, tpu, on", [
    (MixedPrecision.MIXED_BFLOAT16, True, [], False, True),
    (MixedPrecision.MIXED_BFLOAT16, False, [], False, False),  # --no-bf16-graph-rewrite
    (MixedPrecision.MIXED_BFLOAT16, True, ["GPU:0"], False, False),  # the ops run on the GPU
    (MixedPrecision.MIXED_BFLOAT16, True, [], True, False),  # --strategy tpu: on the TPU
    (MixedPrecision.NONE, True, [], False, False),
    (MixedPrecision.MIXED_FLOAT16, True, [], False, False),
])
def test_training_precision_sets_the_rewrite_only_for_bf16_on_cpu(choice, rewrite, gpus, tpu, on):
    assert not option_on()
    with precision.training_precision(choice, graph_rewrite=rewrite, gpus=gpus, tpu=tpu) as active:
        assert active is on and option_on() is on
    assert not option_on()


def test_rewrite_option_is_restored_after_an_error():
    with pytest.raises(RuntimeError):
        with precision.training_precision(MixedPrecision.MIXED_BFLOAT16, graph_rewrite=True, gpus=[]):
            assert option_on()
            raise RuntimeError("interrupted")
    assert not option_on()


def test_rewrite_reaches_the_hub_encoder_and_ends_with_the_block(tiny_bert):
    """The encoder runs restored float32 functions: the rewrite, not the Keras policy, makes them bf16."""
    if not precision.onednn_enabled():
        pytest.skip("TensorFlow runs without oneDNN here (the rewrite is a oneDNN pass)")
    if not {"avx512f", "avx_ne_convert"} & precision.cpu_flags():  # IsBF16SupportedByOneDNNOnThisCPU
        pytest.skip("TensorFlow's oneDNN bfloat16 kernels need AVX-512F or AVX-NE-CONVERT")
    rng = np.random.default_rng(0)
    mask = np.ones((4, 12), np.int32)
    x = {"input_word_ids": rng.integers(5, 40, size=(4, 12)).astype(np.int32), "input_mask": mask,
         "input_type_ids": np.zeros_like(mask)}
    models = build_classifier(str(tiny_bert.encoder), 3, dropout=0.0)  # float32 policy: head untouched
    embed = tf.function(lambda inputs: models.embedder(inputs))
    fp32 = embed(x).numpy()
    with precision.graph_rewrite_bf16():
        bf16 = embed(x).numpy()  # the same tf.function, instantiated again under the option
    after = embed(x).numpy()
    diff = np.abs(bf16 - fp32).max()
    # bfloat16 keeps 8 significant bits (relative error 2**-8 per rounding): the embedding
    # moves, by far less than its scale.
    assert 0 < diff < 0.05 * np.abs(fp32).max(), (diff, np.abs(fp32).max())
    np.testing.assert_array_equal(after, fp32)


@pytest.mark.parametrize("choice, gpus, native, option", [
    (MixedPrecision.MIXED_BFLOAT16, [], False, precision.GRAPPLER_BF16),  # CPU, hub
    (MixedPrecision.MIXED_BFLOAT16, [], True, None),  # native: the policy reaches the encoder
    (MixedPrecision.MIXED_FLOAT16, ["GPU:0"], False, precision.GRAPPLER_GPU_FP16),  # GPU, hub
    (MixedPrecision.MIXED_FLOAT16, ["GPU:0"], True, None),
    (MixedPrecision.MIXED_FLOAT16, [], False, None),  # float16 on a CPU: no rewrite for it
    (MixedPrecision.MIXED_BFLOAT16, ["GPU:0"], False, None),  # no Grappler bf16 pass on GPU
    (MixedPrecision.NONE, ["GPU:0"], False, None),
])
def test_graph_rewrite_option_per_device_and_runtime(choice, gpus, native, option):
    assert precision.graph_rewrite_option(choice, True, gpus=gpus, native=native) == option
    assert precision.graph_rewrite_option(choice, False, gpus=gpus, native=native) is None  # --no-bf16-graph-rewrite


def test_gpu_float16_rewrite_is_set_for_the_block_only():
    def fp16_on():
        return bool(tf.config.optimizer.get_experimental_options().get(precision.GRAPPLER_GPU_FP16))

    assert not fp16_on()
    with precision.training_precision(MixedPrecision.MIXED_FLOAT16, graph_rewrite=True, gpus=["GPU:0"]) as active:
        assert active and fp16_on() and not option_on()
    assert not fp16_on()
