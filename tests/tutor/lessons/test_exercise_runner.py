"""The learner's code runs in a child process: a file that raises shows its own traceback
lines only, a hang is stopped (with anything it started), output is captured and
bounded, memory is limited, and a wrong shape or a non-array is said plainly. The tutor
gets an answer every time and never an exception."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from tests.exercise_solutions import BROKEN, run_of
from tutor.lessons.exercise_check import check_file
from tutor.lessons.exercise_runner import OUTPUT_LIMIT, run_in_child

SOFTMAX = "softmax-backward"


def check(name: str, time_limit=None):
    return check_file(run_of(SOFTMAX), BROKEN / name, time_limit=time_limit)


def test_an_exception_shows_the_learners_own_traceback_lines():
    result = check("raises.py")
    assert result.status == "error"
    assert result.headline.startswith("softmax_backward(…) raised ValueError: cannot reshape")
    text = "\n".join(result.details)
    assert result.details[:4] == ("  line 9, in softmax_backward",
                                  "    return helper(p) * g",
                                  "  line 5, in helper",
                                  "    return p.reshape(7, -1)")
    assert result.details[-1].startswith("ValueError: cannot reshape")
    for foreign in ("tutor", "runpy", "numpy", "File \""):
        assert foreign not in text


def test_a_syntax_error_a_missing_function_and_sys_exit_are_named():
    syntax = check("syntax_error.py")
    assert syntax.status == "error" and "SyntaxError" in syntax.headline
    assert syntax.details[:2] == ("  line 1", "    def softmax_backward(p, g)")
    missing = check("wrong_name.py")
    assert missing.headline == ("wrong_name.py defines no function softmax_backward(…); keep "
                                "the name and signature of the starter")
    exits = check("exits.py")
    assert exits.headline == "softmax_backward(…) called sys.exit(3)"


def test_a_hang_is_stopped_with_everything_it_started(tmp_path):
    learner = tmp_path / "leaves_a_child.py"
    shutil.copy(BROKEN / "leaves_a_child.py", learner)
    started = time.monotonic()
    result = check_file(run_of(SOFTMAX), learner, time_limit=1.0)
    assert result.status == "timeout"
    assert result.headline.startswith("stopped after 1 s: your code was still running")
    assert time.monotonic() - started < 60  # generous: only that it ended at all
    pid = int(learner.with_suffix(".pid").read_text())
    for _ in range(100):  # the grandchild was killed with its process group
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"process {pid} the learner's code started is still running")


def test_printing_a_lot_is_captured_bounded_and_the_answer_still_checked():
    result = check("prints_a_lot.py")
    assert result.correct
    assert len(result.output) == OUTPUT_LIMIT
    assert result.output.startswith("line 0 of a learner who prints a lot\n")
    total = sum(len(f"line {i} of a learner who prints a lot\n") for i in range(200_000))
    assert result.output_hidden == total - OUTPUT_LIMIT
    lines = result.lines()
    assert len(lines) < 20 and lines[-1].endswith("more characters not shown)")


def test_a_wrong_shape_or_a_non_array_is_a_clear_message():
    shape = check("wrong_shape.py")
    assert shape.headline == ("wrong: dx has shape (1, 1, 3), but the engine's has "
                              "(1, 1, 3, 3) (summed over an axis that should stay?)")
    none = check("returns_none.py")
    assert none.headline == ("wrong kind of answer: dx is None (is a return missing?), not a "
                             "NumPy array")
    listed = check("returns_list.py")
    assert listed.headline == "wrong kind of answer: dx is a list, not a NumPy array"
    nan = check("returns_nan.py")
    assert nan.status == "wrong" and nan.headline.startswith("wrong: dx[0, 0, 1, 2] is nan but")


def test_memory_is_limited():
    result = check("eats_memory.py")
    assert result.status == "error"
    assert result.headline.startswith("softmax_backward(…) ran out of memory (the limit is")


def test_a_pytorch_exercise_without_torch_says_how_to_install_it(tmp_path):
    fake = tmp_path / "no_torch"
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text("raise ImportError('no torch here')\n")
    learner = tmp_path / "layer.py"
    learner.write_text("def encoder_layer(d_model, n_heads, d_ff):\n    return None\n")
    root = str(Path(__file__).resolve().parents[3])
    outcome = run_in_child(learner, "encoder_layer", "torch_module", [4, 2, 8],
                           {"state": {}, "x": np.zeros((1, 2, 4))}, ["y"],
                           env={"PYTHONPATH": os.pathsep.join([str(fake), root])})
    assert outcome.status == "torch_missing"
    assert "PyTorch is not installed" in outcome.message and "pip install" in outcome.message


def test_the_answer_comes_back_as_arrays_never_unpickled(tmp_path):
    learner = tmp_path / "objects.py"
    learner.write_text("import numpy as np\n\ndef f(x):\n"
                       "    return np.array([object(), 1], dtype=object)\n")
    outcome = run_in_child(learner, "f", "call", [np.zeros(2)], {}, ["y"])
    assert outcome.status == "bad_return"
    assert outcome.message == "y is an array of object, not of numbers"
