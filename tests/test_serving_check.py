import shutil

import pytest

from tfclf.serving import check, restore


@pytest.fixture(scope="module")
def report(exported):
    return check.check(exported.path)


def test_check_passes_on_the_adversarial_set(report):
    names = [c.name for c in report.cases]
    assert names == ["empty", "whitespace", "100k_chars", "emoji", "rtl", "cjk", "nul_bytes",
                     "invalid_utf8", "mixed", "batch_1000"]
    assert dict((c.name, c.n) for c in report.cases)["batch_1000"] == 1000
    assert report.max_abs_diff <= 1e-5 and report.embedding_max_abs_diff <= 1e-5
    assert report.labels_identical and report.passed
    assert "PASSED" in report.format()


def test_saved_model_cli_shows_the_signature_and_runs_to_labels(report):
    assert report.cli_show_ok
    assert "inputs['text'] tensor_info:" in report.cli_show and "dtype: DT_STRING" in report.cli_show
    assert report.cli_labels == report.expected_cli_labels
    assert report.cli_labels and set(report.cli_labels) <= {"account", "billing", "shipping"}


def test_saved_model_cli_run_output_is_parsed():
    stdout = ("Result for output key confidence:\n[0.9 0.8]\n"
              "Result for output key label:\n[b'billing' b\"it's\"]\n")
    parsed = check.parse_saved_model_cli_run(stdout)
    assert check._printed_strings(parsed["label"]) == ["billing", "it's"]


def test_adversarial_cases_cover_the_documented_inputs():
    cases = check.adversarial_cases()
    assert cases["empty"] == [b""] and len(cases["100k_chars"][0]) == 100_000
    assert any(b"\x00" in t for t in cases["nul_bytes"])
    for t in cases["invalid_utf8"]:
        with pytest.raises(UnicodeDecodeError):
            t.decode("utf-8")
    assert len(cases["batch_1000"]) == 1000 and set(cases["mixed"]) <= set(cases["batch_1000"])


@pytest.mark.slow
def test_check_fails_for_a_model_that_differs(run_dir, exported, tmp_path):
    other = tmp_path / "other_run"
    shutil.copytree(run_dir, other)
    module = restore.build_module(restore.read_run(other))
    head = module.classifier.get_layer("logits")
    kernel, bias = head.get_weights()
    head.set_weights([kernel[:, ::-1], bias[::-1]])  # swap the first and last class
    module.classifier.save_weights(str(other / "checkpoints" / "best"))
    report = check.check(exported.path, run_dir=other)
    assert not report.passed and not report.labels_identical and report.max_abs_diff > 1e-3
