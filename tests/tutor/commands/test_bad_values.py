"""Every command and flag given a bad value: one line naming the flag, exit status 2, and
nothing run or allocated first — never a traceback, a hang or a silent exit."""

from __future__ import annotations

import pytest

from tutor.cli import main

CASES = [
    (["explore", "--seed", "-1"], "--seed"),
    (["explore", "--seed", "x"], "--seed"),
    (["explore", "--lr", "nan"], "--lr"),
    (["explore", "--lr", "-1"], "--lr"),
    (["explore", "--weights", "x.npy"], "--weights x.npy"),
    (["explore", "--config", "d_model=40000,n_heads=1"], "--config"),
    (["explore", "--config", "max_len=1000000000"], "--config"),
    (["explore", "--config", "nonsense"], "--config"),
    (["explore", "--src", "99999999999999999999999"], "--src"),
    (["explore", "--src", ""], "--src"),
    (["explore", "--src", "1,,2"], "--src"),
    (["explore", "--src", "1,2,12"], "--src"),
    (["explore", "--tgt", "1,2,99"], "--tgt"),
    (["explore", "--src", ",".join(["1"] * 17)], "--src"),
    (["trace", "--lesson", "1", "--src", "1,2"], "--src"),
    (["trace", "--forward", "--backward"], "--backward"),
    (["check", "--configs", "-1"], "--configs"),
    (["train", "--steps", "0"], "--steps"),
    (["train", "--steps", "99999999999999999999"], "--steps"),
    (["train", "--seed", "-3"], "--seed"),
    (["train", "--lr", "0"], "--lr"),
    (["decode", "--temperature", "0"], "--temperature"),
    (["decode", "--seed", "99999999999999999999999"], "--seed"),
    (["lessons", "--check", "/nonexistent-folder"], "--check"),
]


@pytest.mark.parametrize("argv,flag", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_a_bad_value_gets_one_line_naming_the_flag_and_exit_2(argv, flag, capsys, monkeypatch,
                                                              tmp_path):
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        code = main(argv)
        raise SystemExit(code)
    assert stopped.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1, captured.err
    assert flag in lines[0] and "Traceback" not in captured.err


def test_a_file_that_exits_while_imported_is_named(tmp_path, capsys):
    pytest.importorskip("torch")
    script = tmp_path / "exits.py"
    script.write_text("import sys\nsys.exit(3)\n")
    assert main(["torch", str(script), "--trace"]) == 2
    err = capsys.readouterr().err
    assert "called sys.exit(3)" in err and "exits.py line 2" in err
