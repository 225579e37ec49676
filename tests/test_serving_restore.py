"""A run directory -> its classifier: the one rebuild export, ``--check`` and the tuner share."""
import numpy as np
import pytest
import tf_keras

from tfclf import precision, rundir
from tfclf.config import MixedPrecision, ModelConfig, Pooling, RunConfig, TrainConfig, save_yaml
from tfclf.errors import TfclfError
from tfclf.labels import LabelVocabulary
from tfclf.model import build_classifier
from tfclf.serving import restore, signatures

LABELS = ("account", "billing", "shipping")


def fake_run(path, tiny_bert, *, trainable="all", mixed_precision="none", handles=True, encoder=None):
    """A run directory as ``fit`` leaves it, without training: config.yaml, labels.txt, checkpoints/best.

    The head is set to distinctive weights, so a restore that does not load the
    checkpoint cannot pass for one that does.
    """
    config = RunConfig(model=ModelConfig(encoder=encoder or str(tiny_bert.root), seq_length=16,
                                         pooling=Pooling.MEAN, trainable=trainable),
                       train=TrainConfig(mixed_precision=MixedPrecision(mixed_precision)))
    path.mkdir(parents=True)
    extra = {rundir.RESOLVED_ENCODER: {"encoder": str(tiny_bert.encoder),
                                       "preprocessor": str(tiny_bert.preprocessor)}} if handles else None
    save_yaml(config, path / rundir.CONFIG, extra=extra)
    LabelVocabulary(LABELS).save(path / rundir.LABELS)
    with precision.keras_policy(mixed_precision):
        models = build_classifier(str(tiny_bert.encoder), len(LABELS), pooling=Pooling.MEAN,
                                  trainable=trainable)
    head = models.classifier.get_layer("logits")
    kernel, _ = head.get_weights()
    head.set_weights([np.arange(kernel.size, dtype=np.float32).reshape(kernel.shape) / kernel.size,
                      np.array([0.5, -0.5, 0.25], np.float32)])
    models.classifier.save_weights(str(path / rundir.BEST_WEIGHTS))
    return models


def trainable_names(classifier):
    return sorted(w.name for w in classifier.trainable_weights)


@pytest.mark.parametrize("trainable", ["none", "top-1", "all"])
def test_the_rebuild_freezes_what_the_run_froze(tiny_bert, tmp_path, trainable):
    """export.build_module used to ignore model.trainable: every encoder variable came back trainable."""
    trained = fake_run(tmp_path / "run", tiny_bert, trainable=trainable)
    run = restore.read_run(tmp_path / "run")
    assert run.config.model.trainable == trainable
    models = restore.restore_classifier(run)
    assert trainable_names(models.classifier) == trainable_names(trained.classifier)
    assert len(models.classifier.trainable_weights) == len(trained.classifier.trainable_weights)
    assert len(models.classifier.weights) == len(trained.classifier.weights)
    if trainable == "none":  # only the head trains
        assert trainable_names(models.classifier) == ["logits/bias:0", "logits/kernel:0"]
    elif trainable == "top-1":
        assert 2 < len(models.classifier.trainable_weights) < len(models.classifier.weights)
    for got, want in zip(models.classifier.get_layer("logits").get_weights(),
                         trained.classifier.get_layer("logits").get_weights()):
        np.testing.assert_array_equal(got, want)  # the checkpoint was matched and loaded


def test_the_serving_module_is_the_restored_classifier(tiny_bert, tmp_path):
    trained = fake_run(tmp_path / "run", tiny_bert, trainable="none")
    module = restore.build_module(restore.read_run(tmp_path / "run"))
    assert isinstance(module, signatures.ServingModule)
    assert trainable_names(module.classifier) == trainable_names(trained.classifier)
    np.testing.assert_array_equal(module.classifier.get_layer("logits").get_weights()[1], [0.5, -0.5, 0.25])
    assert [s.decode() for s in module.label_names.numpy()] == list(LABELS)


def test_the_rebuild_takes_the_runs_keras_policy(tiny_bert, tmp_path):
    fake_run(tmp_path / "run", tiny_bert, mixed_precision="mixed_bfloat16")
    models = restore.restore_classifier(restore.read_run(tmp_path / "run"))
    assert models.classifier.get_layer("pooling").compute_dtype == "bfloat16"
    assert models.classifier.get_layer("logits").compute_dtype == "float32"
    assert tf_keras.mixed_precision.global_policy().name == "float32"  # not left set


def test_the_encoder_the_run_resolved_comes_first(tiny_bert, tmp_path):
    # --encoder no longer resolves (a moved folder), but the run recorded where its encoder was.
    fake_run(tmp_path / "run", tiny_bert, encoder=str(tmp_path / "moved"))
    run = restore.read_run(tmp_path / "run")
    assert (run.encoder_path, run.preprocessor_path) == (str(tiny_bert.encoder), str(tiny_bert.preprocessor))
    # A run that did not record them resolves its --encoder again.
    fake_run(tmp_path / "older", tiny_bert, handles=False)
    older = restore.read_run(tmp_path / "older")
    assert (older.encoder_path, older.preprocessor_path) == (str(tiny_bert.encoder), str(tiny_bert.preprocessor))


def test_read_run_names_what_is_missing(tmp_path):
    with pytest.raises(TfclfError, match="RUN_DIR: no such directory: '.*nope'"):
        restore.read_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TfclfError) as e:
        restore.read_run(tmp_path / "empty")
    assert "RUN_DIR" in str(e.value) and "is not a finished tfclf run: missing" in str(e.value)
    assert "config.yaml" in str(e.value) and "labels.txt" in str(e.value) and "checkpoints/best" in str(e.value)

    seeds = tmp_path / "seeds_run"
    (seeds / rundir.SEEDS / "0").mkdir(parents=True)
    save_yaml(RunConfig(model=ModelConfig(seq_length=16, pooling=Pooling.MEAN)), seeds / rundir.CONFIG)
    LabelVocabulary(LABELS).save(seeds / rundir.LABELS)
    with pytest.raises(TfclfError, match=r"missing \['checkpoints/best'\].*multi-seed run"):
        restore.read_run(seeds)


def test_a_damaged_config_is_named_before_the_missing_files(tmp_path):
    (tmp_path / "config.yaml").write_text("model: [unclosed\n")
    with pytest.raises(TfclfError) as e:
        restore.read_run(tmp_path, role="run")
    assert f"run {tmp_path / 'config.yaml'}" in str(e.value) and "not valid YAML" in str(e.value)
    (tmp_path / "config.yaml").write_text("data:\n  multi_label: true\n")  # a key tfclf never wrote
    with pytest.raises(TfclfError, match="Unknown key 'multi_label'"):
        restore.read_run(tmp_path)
