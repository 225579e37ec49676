"""How to search: ``TuneConfig``, the YAML ``tune:`` section and the tune flags."""
import argparse
import dataclasses

import pytest
import yaml

from tfclf import config as config_lib
from tfclf.errors import TfclfError
from tfclf.tuning import config as tuning_config
from tfclf.tuning.config import TuneConfig, TunerKind


def test_tune_settings_come_from_yaml_and_flags(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({
        "train": {"epochs": 4}, "tune": {"tuner": "bayesian", "max_trials": 7},
        "search": {"dropout": [0.0, 0.3]}}))
    parser = argparse.ArgumentParser()
    config_lib.add_arguments(parser)
    tuning_config.add_tune_arguments(parser)
    args = parser.parse_args(["--config", str(path), "--max-trials", "2", "--objective", "val_loss"])
    run_config = config_lib.from_args(args)
    tune, s = tuning_config.tune_from_args(args, run_config)
    assert run_config.train.epochs == 4
    assert (tune.tuner, tune.max_trials, tune.objective) == (TunerKind.BAYESIAN, 2, "val_loss")
    assert s.names == ["dropout"] and s["dropout"].choices == (0.0, 0.3)
    path.write_text("tune:\n  max_trial: 3\n")
    with pytest.raises(TfclfError, match=rf"Unknown key 'max_trial' in --config {path}: tune"):
        tuning_config.tune_from_args(parser.parse_args(["--config", str(path)]), run_config)


@pytest.mark.parametrize("kwargs, message", [
    (dict(max_trials=0), "--max-trials must be >= 1"),
    (dict(objective="f1"), "--objective must be one of ['val_f1_macro', 'val_f1_micro', 'val_loss'"),
    (dict(role="worker"), "--role worker needs --oracle HOST:PORT"),
    (dict(role="chief", oracle="localhost"), "--oracle must be HOST:PORT, e.g. 10.0.0.5:8000"),
    (dict(role="chief", oracle="localhost:99999"), "--oracle must be HOST:PORT"),
    (dict(oracle="127.0.0.1:8000"), "--oracle needs --role chief or --role worker"),
    (dict(role="worker", oracle="h:1", tuner_id="chief-2"), "without 'chief'"),
    (dict(role="chief", oracle="h:1", tuner_id="w1"), "--tuner-id names a worker"),
    (dict(factor=1), "--factor must be >= 2"),
])
def test_tune_config_validation(kwargs, message):
    kwargs = {k: tuning_config.Role(v) if k == "role" else v for k, v in kwargs.items()}
    with pytest.raises(TfclfError) as e:
        TuneConfig(**kwargs)
    assert message in str(e.value)
    worker = TuneConfig(role=tuning_config.Role.WORKER, oracle="10.0.0.5:8000")
    assert worker.oracle_address() == ("10.0.0.5", 8000)


def test_config_describes_the_tune_section_by_its_first_fields():
    """tfclf.config checks a YAML's tune: section without importing tfclf.tuning; its error
    names TuneConfig's first fields, which this keeps in step."""
    first, second = (f.name for f in dataclasses.fields(TuneConfig)[:2])
    assert config_lib.TUNING_SECTIONS["tune"] == f"its fields, such as {first}: ... or {second}: ..."
    with pytest.raises(TfclfError, match=r"expected section 'tune' to be a mapping of its fields, such as "
                                         r"tuner: \.\.\. or max_trials"):
        config_lib.from_dict({"tune": [1]})
    assert config_lib.from_dict({"tune": {"max_trials": 3}, "search": {}}) == config_lib.RunConfig()


def test_tune_flags_are_the_tune_config_fields():
    parser = argparse.ArgumentParser()
    tuning_config.add_tune_arguments(parser)
    flags = {a.option_strings[0]: a for a in parser._actions if a.option_strings[0] != "-h"}
    assert set(flags) == {"--" + f.name.replace("_", "-") for f in dataclasses.fields(TuneConfig)}
    assert flags["--objective"].choices == [m.value for m in config_lib.Monitor]
    assert flags["--max-trials"].help.endswith("(default: 10)")
    args = parser.parse_args(["--objective", "val_loss", "--refit"])
    assert config_lib.given_arguments(args, TuneConfig, dest_prefix="tune.") == {
        "objective": config_lib.Monitor.VAL_LOSS, "refit": True}
