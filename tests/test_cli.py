from tfclf import cli
from tfclf.errors import TfclfError


def test_tfclf_error_becomes_exit_2_and_one_log_line(capsys):
    def body():
        raise TfclfError("--data: no such file or directory: 'x.csv'")

    assert cli.run_main(body) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith("ERROR tfclf: --data: no such file or directory: 'x.csv'")


def test_interrupt_is_130_and_success_is_0():
    def interrupted():
        raise KeyboardInterrupt

    assert cli.run_main(interrupted) == 130
    assert cli.run_main(lambda: None) == 0
