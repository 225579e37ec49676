import argparse

import pytest
import yaml

from tfclf import config as config_lib
from tfclf.config import DataConfig, MixedPrecision, OptimizerConfig, Pooling, RunConfig, Task, TrainConfig
from tfclf.errors import TfclfError


def parse(argv, tmp_path=None):
    parser = argparse.ArgumentParser()
    config_lib.add_arguments(parser)
    return config_lib.from_args(parser.parse_args(argv))


def test_defaults_are_the_labse_recipe():
    cfg = RunConfig()
    assert cfg.optimizer.boundaries == (1000,)
    assert cfg.optimizer.values == (5e-5, 1e-5)
    assert cfg.optimizer.weight_decay == 1e-6
    assert cfg.model.encoder == "minilm"
    assert cfg.train.jit_compile is False


def test_flags_override_yaml_which_overrides_defaults(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({"train": {"epochs": 7, "batch_size": 8},
                                    "model": {"pooling": "cls"}}))
    cfg = parse(["--config", str(path), "--epochs", "2", "--values", "1e-4,2e-5"])
    assert cfg.train.epochs == 2  # flag beats YAML
    assert cfg.train.batch_size == 8  # YAML beats default
    assert cfg.model.pooling is Pooling.CLS
    assert cfg.optimizer.values == (1e-4, 2e-5)
    assert cfg.train.seed == 42  # default


def test_round_trip_through_yaml(tmp_path):
    cfg = RunConfig().replace("train", mixed_precision=MixedPrecision.MIXED_BFLOAT16, epochs=5)
    path = tmp_path / "config.yaml"
    config_lib.save_yaml(cfg, path)
    again = config_lib.from_dict(yaml.safe_load(path.read_text()))
    assert again == cfg
    assert yaml.safe_load(path.read_text())["train"]["mixed_precision"] == "mixed_bfloat16"


def test_unknown_yaml_key_names_file_and_valid_keys(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  epoch: 3\n")
    with pytest.raises(TfclfError) as e:
        parse(["--config", str(path)])
    msg = str(e.value)
    assert "'epoch'" in msg and str(path) in msg and "'epochs'" in msg


def test_bad_yaml_syntax_names_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  epochs: 3\n   batch_size: [\n")
    with pytest.raises(TfclfError, match=r"line \d+"):
        parse(["--config", str(path)])


def test_bad_enum_lists_choices():
    with pytest.raises(TfclfError) as e:
        config_lib.from_dict({"model": {"pooling": "max"}})
    assert "['pooled', 'cls', 'mean']" in str(e.value) and "'max'" in str(e.value)


def test_bad_number_names_flag():
    with pytest.raises(TfclfError, match=r"--epochs expects int. Received: 'three'"):
        parse(["--epochs", "three"])


@pytest.mark.parametrize("kwargs, message", [
    (dict(split=(0.5, 0.2, 0.2)), "sum to 1"),
    (dict(data="a.csv", train="b.csv"), "cannot be combined"),
    (dict(limit_train=0), "--limit-train"),
])
def test_data_validation(kwargs, message):
    with pytest.raises(TfclfError, match=message):
        DataConfig(**kwargs)


@pytest.mark.parametrize("value", [0, 100, 1000])
def test_bootstrap_is_off_or_at_least_100_resamples(value):
    assert TrainConfig(bootstrap=value).bootstrap == value
    assert parse(["--bootstrap", str(value)]).train.bootstrap == value


@pytest.mark.parametrize("value", [50, 1, -5])
def test_bootstrap_below_100_resamples_is_refused(value):
    with pytest.raises(TfclfError, match=rf"--bootstrap must be 0 \(off\) or at least 100 .*"
                                         rf"Received: bootstrap={value}$"):
        TrainConfig(bootstrap=value)


def test_optimizer_validation():
    with pytest.raises(TfclfError, match="one more entry"):
        OptimizerConfig(boundaries=(10, 20), values=(1e-4, 1e-5))
    with pytest.raises(TfclfError, match="increasing"):
        OptimizerConfig(boundaries=(20, 10), values=(1e-4, 1e-5, 1e-6))


def test_learning_rate_rescales_schedule():
    opt = OptimizerConfig(learning_rate=1e-4)
    assert opt.schedule_values() == pytest.approx((1e-4, 2e-5))


def test_monitor_choices():
    with pytest.raises(TfclfError, match="val_f1_macro"):
        TrainConfig(monitor="f1")


def test_bool_flags_have_negation():
    assert parse(["--no-dynamic-padding"]).train.dynamic_padding is False
    assert parse(["--dynamic-padding"]).train.dynamic_padding is True


@pytest.mark.parametrize("value", ["all", "none", "top-0", "top-12"])
def test_trainable_accepts_all_none_top_n(value):
    assert parse(["--trainable", value]).model.trainable == value


def test_trainable_rejects_other_values():
    with pytest.raises(TfclfError, match=r"\[all, none, top-N\].*'top2'"):
        parse(["--trainable", "top2"])


def test_length_grouping_flags():
    default = parse([]).train
    assert default.length_grouping is config_lib.LengthGrouping.WINDOWS and default.sort_window == 50
    assert parse(["--length-grouping", "buckets"]).train.length_grouping is config_lib.LengthGrouping.BUCKETS
    assert parse(["--sort-window", "8"]).train.sort_window == 8
    with pytest.raises(TfclfError, match=r"--sort-window must be >= 1. Received: 0"):
        parse(["--sort-window", "0"])
    with pytest.raises(TfclfError, match=r"buckets needs --length-buckets.*--length-grouping none"):
        parse(["--length-grouping", "buckets", "--length-buckets", ""])
    assert parse(["--length-grouping", "none", "--length-buckets", ""]).train.length_buckets == ()


def test_length_buckets_flag():
    assert parse([]).train.length_buckets[:3] == (16, 24, 32)
    assert parse(["--length-buckets", "8,32"]).train.length_buckets == (8, 32)
    with pytest.raises(TfclfError, match=r"--length-buckets must be increasing.*Received: 32,8"):
        parse(["--length-buckets", "32,8"])
    with pytest.raises(TfclfError, match=r"--length-buckets.*Received: 1,8"):
        TrainConfig(length_buckets=(1, 8))


@pytest.mark.parametrize("old, new", [(True, "xla"), (False, "keras")])
def test_older_runs_jit_compile_update_key_reads_as_update(old, new, caplog):
    cfg = config_lib.from_dict({"optimizer": {"jit_compile_update": old}}, where="run/config.yaml")
    assert cfg.optimizer.update.value == new
    assert "optimizer.jit_compile_update is now optimizer.update" in caplog.text
    # Given both, the new key wins.
    both = config_lib.from_dict({"optimizer": {"jit_compile_update": True, "update": "fused"}})
    assert both.optimizer.update.value == "fused"


# ------------------------------------------------------------- config files that are not configs

def cli_main(name):
    """The ``main(argv)`` of ``python -m tfclf.<name>``."""
    import importlib

    return importlib.import_module("tfclf.data.__main__" if name == "data" else f"tfclf.{name}").main


NOT_A_CONFIG = [
    pytest.param("- 1\n- 2\n", ["expected a mapping of sections [data, model, optimizer, train]",
                                "Received: a list"], id="top-level-list"),
    pytest.param("just some words\n", ["expected a mapping of sections", "Received: a string"],
                 id="top-level-string"),
    pytest.param("5\n", ["expected a mapping of sections", "Received: a number"], id="top-level-number"),
    pytest.param("model: 5\n", ["expected section 'model' to be a mapping", "Received: a number"],
                 id="model-number"),
    pytest.param('data: "abc"\n', ["expected section 'data' to be a mapping", "Received: a string"],
                 id="data-string"),
    pytest.param("train: [1, 2]\n", ["expected section 'train' to be a mapping", "Received: a list"],
                 id="train-list"),
    pytest.param("search: 5\n", ["expected section 'search' to be a mapping", "Received: a number"],
                 id="search-number"),
    pytest.param("tune: [1]\n", ["expected section 'tune' to be a mapping", "Received: a list"],
                 id="tune-list"),
    pytest.param(b"train:\n  epochs: 3\n# caf\xe9\n",
                 ["expected UTF-8 text", "byte 0xe9 at offset 24 (line 3)"], id="latin-1"),
    pytest.param(None, ["expected a YAML file; Received: a directory"], id="directory"),
]


@pytest.mark.parametrize("content, expected", NOT_A_CONFIG)
@pytest.mark.parametrize("cli", ["fit", "data", "tune"])
def test_a_config_file_that_is_not_a_config_exits_2_naming_flag_and_file(cli, content, expected,
                                                                          tmp_path, capsys):
    path = tmp_path / "exp.yaml"
    if content is None:
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    out = tmp_path / "out"
    code = cli_main(cli)(["--config", str(path), "--report-dir" if cli == "data" else "--output-dir",
                          str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"--config {path}: " in err
    for part in expected:
        assert part in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_load_sections_names_who_gave_the_file(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("- model\n")
    with pytest.raises(TfclfError) as e:
        config_lib.load_sections(path, role="--model")
    assert str(e.value) == (f"--model {path}: expected a mapping of sections [data, model, optimizer, "
                            "train]; Received: a list (['model'])")
    path.write_text("model: [unclosed\n")
    with pytest.raises(TfclfError, match=rf"--model {path} line \d+: not valid YAML"):
        config_lib.load_sections(path, role="--model")


def test_from_dict_refuses_what_is_not_a_mapping_of_sections():
    with pytest.raises(TfclfError, match=r"run/config.yaml: expected a mapping of sections .*a list"):
        config_lib.from_dict([1, 2], where="run/config.yaml")
    with pytest.raises(TfclfError, match=r"expected section 'optimizer' to be a mapping.*a boolean"):
        config_lib.from_dict({"optimizer": False})


def test_empty_files_and_sections_mean_defaults(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("# nothing yet\n")
    assert parse(["--config", str(path)]) == RunConfig()
    path.write_text("model:\ntrain:\n  epochs: 2\n")
    assert parse(["--config", str(path)]).train.epochs == 2


def test_yaml_keys_that_are_numbers_are_unknown_keys(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("train:\n  1: 2\n  epochs: 3\n")
    with pytest.raises(TfclfError, match=rf"Unknown key 1 in --config {path}: train"):
        parse(["--config", str(path)])


# ------------------------------------------------------------------- the task (issue 15)

@pytest.mark.parametrize("kwargs", [dict(label_separator="|"), dict(label_column="toxic,insult"),
                                    dict(label_column="type", label_axes="I/E,N/S"), dict(task="multi-label")])
def test_what_makes_the_task_multi_label(kwargs):
    config = DataConfig(**kwargs)
    assert config.task is Task.MULTI_LABEL and config.multi_label


def test_the_task_stays_auto_until_the_data_is_read():
    assert DataConfig().task is Task.AUTO and not DataConfig().multi_label
    assert not DataConfig(task="single-label").multi_label


@pytest.mark.parametrize("kwargs", [dict(task="multi-label"), dict(task="single-label"),
                                    dict(label_column="type", label_axes=("I/E", "N/S", "T/F", "J/P"),
                                         max_invalid_codes=0.25, class_weight="sqrt")])
def test_the_task_and_label_axes_round_trip_through_config_yaml(kwargs, tmp_path):
    config = RunConfig(data=DataConfig(data="d.csv", **kwargs))
    path = tmp_path / "config.yaml"
    config_lib.save_yaml(config, path)
    saved = yaml.safe_load(path.read_text())["data"]
    again = config_lib.from_dict(yaml.safe_load(path.read_text()))
    assert again == config and again.data.multi_label == config.data.multi_label
    assert saved["task"] == config.data.task.value
    assert config_lib.from_dict(config.to_dict()) == config


def test_task_and_label_axes_flags():
    config = parse(["--data", "d.csv", "--label-column", "type", "--label-axes", "I/E,N/S,T/F,J/P"])
    assert config.data.label_axes == ("I/E", "N/S", "T/F", "J/P") and config.data.multi_label
    assert config.data.axes() == (("I", "E"), ("N", "S"), ("T", "F"), ("J", "P"))
    assert parse(["--task", "multi-label"]).data.task is Task.MULTI_LABEL
    with pytest.raises(TfclfError, match=r"data.task must be one of \['auto', 'single-label', 'multi-label'\]. "
                                         r"Received: 'both'"):
        config_lib.from_dict({"data": {"task": "both"}})


@pytest.mark.parametrize("axes, message", [
    ("IE,NS", r"--label-axes must be comma-separated A/B pairs of single characters, one per character "
              r"of the code, e.g. I/E,N/S,T/F,J/P. Received: label_axes=\['IE', 'NS'\]"),
    ("I/E,NN/S", r"--label-axes must be comma-separated A/B pairs.*Received: label_axes=\['I/E', 'NN/S'\]"),
    ("I/E,N/n", r"--label-axes must give each axis two different sides \(compared case-insensitively\). "
                r"Received: 'N/n'"),
    ("I/E,i/S", r"--label-axes must give each axis its own label.*Received: label_axes=\['I/E', 'i/S'\]"),
    ("I/E", r"--label-axes must name at least 2 axes.*Received: label_axes=\['I/E'\]"),
])
def test_bad_label_axes_say_what_they_must_be(axes, message):
    with pytest.raises(TfclfError, match=message):
        DataConfig(label_column="type", label_axes=axes)


@pytest.mark.parametrize("kwargs, message", [
    (dict(label_axes="I/E,N/S", label_separator="|"), r"--label-axes reads a code from one --label-column"),
    (dict(label_axes="I/E,N/S", label_column="a,b"), r"--label-axes reads a code from one --label-column"),
    (dict(label_separator="|", task="single-label"), r"--task single-label contradicts --label-separator"),
    (dict(label_axes="I/E,N/S", task="single-label"), r"--task single-label contradicts --label-axes"),
    (dict(task="multi"), r"--task must be one of \['auto', 'single-label', 'multi-label'\]. Received: task='multi'"),
    (dict(max_invalid_codes=1.5), r"--max-invalid-codes must be a share in \[0, 1\]. Received: max_invalid_codes=1.5"),
])
def test_task_contradictions_are_errors(kwargs, message):
    with pytest.raises(TfclfError, match=message):
        DataConfig(**kwargs)


def test_class_weight_is_accepted_for_multi_label_data():
    assert DataConfig(label_separator="|", class_weight="balanced").class_weight == "balanced"


# ------------------------------------------------------------------------------- --eval-group-by

def test_eval_group_by_names_a_column_or_row_and_becomes_the_split_group():
    assert parse(["--eval-group-by", "user"]).data.eval_group_by == "user"
    assert DataConfig(eval_group_by="user").split_group_column == "user"
    assert DataConfig(eval_group_by="user", group_column="user").split_group_column == "user"
    assert DataConfig(group_column="user").split_group_column == "user"
    assert DataConfig(eval_group_by="row", text_column="a,b", stack_text_columns=True).split_group_column is None
    assert DataConfig(eval_group_by="row", explode_text="|||", group_column="user").split_group_column == "user"
    assert DataConfig().eval_group_by is None and parse(["--eval-group-by", "none"]).data.eval_group_by is None


@pytest.mark.parametrize("kwargs, message", [
    (dict(eval_group_by="row"),
     r"--eval-group-by row groups the examples of a row, which needs --stack-text-columns or --explode-text"
     r".* Received: eval_group_by='row'$"),
    (dict(eval_group_by="user", group_column="account"),
     r"--eval-group-by must be the --group-column \(or row\) when both are given.* "
     r"Received: eval_group_by='user', group_column='account'$"),
    (dict(eval_group_by="  "), r"--eval-group-by must name a column \(e.g. user\) or be 'row'. "
                               r"Received: eval_group_by='  '$"),
])
def test_eval_group_by_errors_name_the_flag_and_the_value(kwargs, message):
    with pytest.raises(TfclfError, match=message):
        DataConfig(**kwargs)


def test_eval_group_by_round_trips_through_config_yaml(tmp_path):
    config = RunConfig(data=DataConfig(eval_group_by="row", explode_text="|||"))
    config_lib.save_yaml(config, tmp_path / "c.yaml")
    again = config_lib.from_dict(yaml.safe_load((tmp_path / "c.yaml").read_text()))
    assert again == config and again.data.eval_group_by == "row"
    assert parse(["--config", str(tmp_path / "c.yaml")]).data.eval_group_by == "row"
