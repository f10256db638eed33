import subprocess
import sys

import pytest

from mtlclassic.cli import main


def test_demo_help_lists_options_and_exit_codes(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for words in ("--quick", "--movielens", "--census", "Exit codes"):
        assert words in out


def test_demo_quick_reports_every_model(capsys):
    assert main(["demo", "--quick", "--silent"]) == 0
    out = capsys.readouterr().out
    summary = out[out.index("== summary") :]
    for model in (
        "mtlclassic",
        "lightgbm_per_task",
        "multioutput_lightgbm",
        "constant",
    ):
        assert model in summary
    assert "NDCG@10" in out and "best {'multitasklgbm__num_leaves'" in out
    # the constant baseline's AUCs are exactly 0.5 (an oracle for the report)
    const = [line for line in summary.splitlines() if line.startswith("constant")][0]
    assert const.split()[3:5] == ["0.5000", "0.5000"]


def test_demo_bad_path_is_a_usage_error(tmp_path, capsys):
    assert main(["demo", "--movielens", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_console_script_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "mtlclassic.cli", "--help"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "demo" in result.stdout
