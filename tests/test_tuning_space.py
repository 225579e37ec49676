"""The search space: the YAML ``search:`` section, validated against the base configuration."""
import dataclasses

import pytest

from tfclf import config as config_lib
from tfclf.config import Pooling, RunConfig
from tfclf.errors import TfclfError
from tfclf.tuning import space as space_lib


def space(data, base_config=None):
    return space_lib.parse_search_space(data, base_config or RunConfig())


@pytest.mark.parametrize("data, message", [
    ({"lr": [1e-3]}, "Unknown key 'lr' in exp.yaml: search. Valid keys: ['learning_rate'"),
    ({"learning_rate": []}, "exp.yaml: search.learning_rate is an empty list of choices"),
    ({"learning_rate": {}}, "exp.yaml: search.learning_rate is an empty range"),
    ({"learning_rate": {"min": 1e-3, "max": 1e-5}},
     "exp.yaml: search.learning_rate: min must be <= max. Received: min=0.001, max=1e-05"),
    ({"learning_rate": {"min": 1e-5}}, "search.learning_rate needs both min and max"),
    ({"batch_size": {"min": 8, "max": 64, "stp": 2}}, "Unknown key 'stp' in exp.yaml: search.batch_size"),
    ({"pooling": {"min": 1, "max": 2}}, "search.pooling takes a list of choices, not a range"),
    ({"learning_rate": {"min": 0, "max": 1e-3, "sampling": "log"}}, "log sampling needs min > 0"),
    ({"learning_rate": {"min": 1e-5, "max": 1e-3, "sampling": "exp"}},
     "search.learning_rate.sampling must be one of ['linear', 'log', 'reverse_log']"),
    ({"dropout": [0.1, 1.5]}, "dropout=1.5 gives an invalid configuration: --dropout must be in [0, 1)"),
    ({"trainable": ["all", "top2"]}, "trainable='top2' gives an invalid configuration"),
    ({"epochs": [1.5]}, "search.epochs expects int. Received: 1.5"),
    ({"pooling": ["mean", "max"]}, "search.pooling must be one of ['pooled', 'cls', 'mean']"),
    ({"batch_size": [16, 16]}, "search.batch_size lists a choice twice"),
    ({"seq_length": [None, 64]}, "search.seq_length choices must not be null"),
    # Each value alone is fine; the pair is not: names both keys.
    ({"boundaries": [[100], [100, 200]], "values": [[1e-3, 1e-4]]},
     "boundaries=[100, 200] (with values=[0.001, 0.0001]) gives an invalid configuration"),
    ([1, 2], "exp.yaml: search must be a mapping"),
])
def test_malformed_search_space_names_the_key(data, message):
    with pytest.raises(TfclfError) as e:
        space_lib.parse_search_space(data, RunConfig(), where="exp.yaml: search")
    assert message in str(e.value)


def test_search_space_forms_and_defaults():
    s = space({"learning_rate": {"min": "1e-5", "max": 1.0e-3, "sampling": "log"},  # YAML reads 1e-5 as str
               "batch_size": [16, 32], "boundaries": [[500], "1000"], "values": [[5e-5, 1e-5]],
               "pooling": ["mean", "cls"], "trainable": ["all", "none", "top-2"], "dropout": 0.1})
    assert s["learning_rate"].min == 1e-5 and s["learning_rate"].is_range
    assert s["boundaries"].choices == ((500,), (1000,))
    assert s["pooling"].choices == (Pooling.MEAN, Pooling.CLS)
    assert s["dropout"].choices == (0.1,)  # a scalar is a fixed value
    assert s.to_yaml()["boundaries"] == [[500], [1000]]
    assert space(s.to_yaml()) == s  # the saved form reads back the same
    assert space(None).names == ["learning_rate", "batch_size", "dropout"]  # DEFAULT_SEARCH
    assert space({}).names == space(None).names


def test_every_search_key_is_a_config_field():
    for name, section in space_lib.SEARCH_TARGETS.items():
        assert name in {f.name for f in dataclasses.fields(config_lib.SECTIONS[section])}


def test_a_trial_config_takes_the_objective_as_its_monitor():
    cfg = space_lib.config_for_trial(RunConfig(), "val_loss", {"dropout": 0.2, "tuner/round": 1}, "/x/run")
    assert cfg.train.monitor is config_lib.Monitor.VAL_LOSS and cfg.model.dropout == 0.2
    with pytest.raises(TfclfError, match=r"--objective must be one of \['val_f1_macro'"):
        space_lib.config_for_trial(RunConfig(), "val_auc", {}, "/x/run")
