"""Argument checks of the benchmark scripts (benchmarks/ is not a package: loaded by path)."""
import argparse
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    sys.path.insert(0, str(ROOT / "benchmarks"))  # the scripts import cpu_info from beside them
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_grappler_options_take_a_json_object_of_flags():
    parse = load_script("fit_timeline").grappler_options_arg
    assert parse('{"disable_meta_optimizer": true, "min_graph_nodes": -1}') == {
        "disable_meta_optimizer": True, "min_graph_nodes": -1}


@pytest.mark.parametrize("value, says", [
    ("[1]", "expected a JSON object"),
    ('{"remapping": "off"}', "expected a JSON object"),
    ("{remapping: false}", "not JSON"),
])
def test_grappler_options_reject_what_tensorflow_would_fail_on(value, says):
    parse = load_script("fit_timeline").grappler_options_arg
    with pytest.raises(argparse.ArgumentTypeError, match=says) as e:
        parse(value)
    assert repr(value) in str(e.value)
