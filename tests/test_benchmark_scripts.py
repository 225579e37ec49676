"""Argument checks and machine-state helpers of the benchmark scripts (benchmarks/ is not a package: loaded by path)."""
import argparse
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    if str(ROOT / "benchmarks") not in sys.path:  # the scripts import cpu_info from beside them
        sys.path.insert(0, str(ROOT / "benchmarks"))
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


STAT = """cpu  1000 50 200 5000 30 10 20 5 0 0
cpu0 500 25 100 2500 15 5 10 2 0 0
intr 12345
"""


def test_busy_seconds_count_user_nice_system_irq_softirq_steal():
    cpu_info = load_script("cpu_info")
    assert cpu_info.busy_seconds(STAT, 100) == pytest.approx((1000 + 50 + 200 + 10 + 20 + 5) / 100)
    with pytest.raises(ValueError, match="no aggregate 'cpu' line"):
        cpu_info.busy_seconds("intr 1\n", 100)


@pytest.mark.parametrize("busy, own, elapsed, cpus, expected", [
    (20.0, 19.0, 10.0, 2, 0.05),   # the benchmark alone: its own threads are not "others"
    (20.0, 10.0, 10.0, 2, 0.5),    # another job took one of two cores
    (20.0, 21.0, 10.0, 2, 0.0),    # clock-tick rounding cannot go negative
    (5.0, 0.0, 0.0, 2, 0.0),       # nothing elapsed
])
def test_other_cpu_fraction_is_what_other_processes_used(busy, own, elapsed, cpus, expected):
    assert load_script("cpu_info").other_cpu_fraction(busy, own, elapsed, cpus) == pytest.approx(expected)


def test_other_cpu_use_excludes_this_process():
    cpu_info = load_script("cpu_info")
    with cpu_info.OtherCpuUse() as others:
        sum(i * i for i in range(3_000_000))  # this process's own CPU time
    assert others.fraction is not None and 0.0 <= others.fraction <= 1.0


def test_run_child_runs_the_command_and_reports_what_others_used(tmp_path):
    cpu_info = load_script("cpu_info")
    out = tmp_path / "done"
    _, others = cpu_info.run_child([sys.executable, "-c", f"open({str(out)!r}, 'w').write('ok')"])
    assert out.read_text() == "ok" and others is not None and 0.0 <= others <= 1.0
    with pytest.raises(cpu_info.subprocess.CalledProcessError):
        cpu_info.run_child([sys.executable, "-c", "raise SystemExit(3)"])


SCRIPTS = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_benchmark_script_imports(name):
    """Runs each script's module level (imports from beside it, constants, argument parsers):
    the measurements themselves are too slow for the suite, a broken import is not."""
    module = load_script(name)
    assert module.__file__.endswith(f"{name}.py")



@pytest.mark.parametrize("argv, says", [
    (["--seconds", "0"], "--seconds must be positive. Received: 0.0"),
    (["--rounds", "0"], "--rounds must be positive. Received: 0"),
    (["--texts", "/nonexistent/t.csv"], "--texts: no such file: '/nonexistent/t.csv'"),
    (["--texts", "{tmp}/labels_only.csv"], "has no column 'text' in its header line. Columns: ['label']"),
    (["--texts", "{tmp}/header_only.csv"], "has a header but no rows"),
])
def test_predict_split_rejects_bad_input_before_measuring(argv, says, tmp_path, capsys):
    (tmp_path / "labels_only.csv").write_text("label\npos\n", encoding="utf-8")
    (tmp_path / "header_only.csv").write_text("text\n", encoding="utf-8")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    out = tmp_path / "split.json"
    with pytest.raises(SystemExit) as e:
        load_script("predict_split").main([*argv, "--output", str(out)])
    assert e.value.code == 2 and says in capsys.readouterr().err
    assert not out.exists()


def test_predict_throughput_names_a_texts_file_without_a_text_column(tmp_path, capsys):
    src = tmp_path / "labels_only.csv"
    src.write_text("label\npos\n", encoding="utf-8")
    out = tmp_path / "throughput.json"
    assert load_script("predict_throughput").main(["--texts", str(src), "--no-hf", "--output", str(out)]) == 2
    assert f"--texts: '{src}' has no column 'text' in its header line. Columns: ['label']" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("argv, says", [
    (["--weight-decay", "-1"], "--weight-decay must be >= 0. Received: -1.0"),
    (["--weight-decay", "0", "--framework", "torch"], "--weight-decay applies to --framework tf only"),
])
def test_profile_train_step_rejects_bad_input_before_measuring(argv, says, tmp_path, capsys):
    out = tmp_path / "profile.json"
    with pytest.raises(SystemExit) as e:
        load_script("profile_train_step").main([*argv, "--output", str(out)])
    assert e.value.code == 2 and says in capsys.readouterr().err
    assert not out.exists()
