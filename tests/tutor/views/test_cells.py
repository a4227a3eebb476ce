"""How numbers are written in a tensor panel, and which rows and columns are shown."""

from __future__ import annotations


import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tutor.views.cells import cell_text, level, visible
from tests.keys import key
from tutor.views.step import TensorSlot


@pytest.mark.parametrize("value,text", [
    (0.0, "0"), (-0.0, "0"), (0.1234, "+0.123"), (-0.1234, "-0.123"), (12.345, "+12.35"),
    (-123.45, "-123.5"), (123456.0, "+1e+05"), (0.0004, "+4e-04"), (float("nan"), "nan"),
    (float("inf"), "+inf"), (float("-inf"), "-inf"),
])
def test_cell_text_always_shows_the_sign(value, text):
    assert cell_text(value) == text


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_cells_fit_their_width_and_carry_a_sign(value):
    text = cell_text(value)
    assert len(text) <= 6
    if value == value and value not in (0.0,) and abs(value) != float("inf"):
        assert text[0] in "+-"
        assert (text[0] == "-") == (value < 0)


@given(st.integers(1, 400), st.integers(1, 30), st.data())
def test_visible_keeps_the_cursor_on_screen_within_capacity(n, capacity, data):
    cursor = data.draw(st.integers(0, n - 1))
    shown = visible(n, capacity, cursor)
    assert cursor in shown
    assert len(shown) <= max(capacity, 1)
    numbers = [i for i in shown if i is not None]
    assert numbers == sorted(set(numbers))
    if n <= capacity:
        assert shown == list(range(n))
    else:
        assert None in shown or len(shown) == 1  # an ellipsis marks what is hidden
    for before, item, after in zip([-1] + shown, shown, shown[1:] + [n]):
        if item is None:  # an ellipsis hides something, and never sits beside another
            assert before is not None and after is not None or capacity < 5
            low = before if before is not None else -1
            assert (after if after is not None else n) - low >= 2
    if 3 <= capacity < n and (cursor < capacity - 2 or cursor >= n - capacity + 2):
        assert shown.count(None) == 1 and len(shown) == capacity  # near an end: one "…"


def test_numpy_style_head_and_tail():
    assert visible(32, 7, 0) == [0, 1, 2, None, 29, 30, 31]
    assert visible(32, 7, 15) == [0, 1, None, 15, None, 30, 31]
    assert visible(32, 7, 3) == [0, 1, 2, 3, None, 30, 31]  # the head grows to the cursor
    assert visible(32, 7, 28) == [0, 1, None, 28, 29, 30, 31]
    assert visible(32, 4, 1) == [0, 1, None, 31]  # not "… 1 …" in a short panel


def test_level_is_signed_and_scaled():
    assert level(1.0, 1.0) == 6 and level(-1.0, 1.0) == -6
    assert 0 < level(0.1, 1.0) < level(0.9, 1.0)
    assert level(0.0, 1.0) == 0 and level(float("nan"), 1.0) == 0


def test_panel_shows_nan_inf_exact_zero_and_elides():
    from tutor.ui.widgets.tensor_panel import TensorPanel

    values = np.arange(40 * 40, dtype=float).reshape(40, 40) / 100 - 8
    values[0, 0], values[0, 1], values[0, 2] = np.nan, -np.inf, 0.0

    view = TensorPanel()
    view.show(TensorSlot(key("out"), "output scores", "scores", values), (0, 0))
    lines = view.text_lines(60, 14)
    header, first = lines[0], lines[1]
    assert "…" in header and "39" in header
    assert "nan" in first and "-inf" in first and " 0 " in first + " "
    assert any("⋮" in line for line in lines)
    assert lines[-1].lstrip().startswith("39")


def test_small_gradients_keep_three_digits_under_a_common_factor():
    from tutor.views.cells import common_exponent
    from tutor.ui.widgets.tensor_panel import TensorPanel

    assert common_exponent(0.5) == 0 and common_exponent(0.0031) == -3
    assert common_exponent(25_000.0) == 4 and common_exponent(0.0) == 0
    values = np.array([[-0.0011577, 0.00093], [0.0, 0.0042]])

    view = TensorPanel()
    view.show(TensorSlot(key("down0"), "downstream ∂L/∂x", "x", values), (0, 0))
    lines, subtitle = view.text_lines(60, 10), view.border_subtitle
    assert "×1e-3" in subtitle
    assert "-1.158" in lines[1] and "+0.930" in lines[1]
    assert "+4.200" in lines[2] and " 0" in lines[2]


def test_a_gradient_that_is_zero_in_exact_arithmetic_shows_0_on_every_cpu():
    """The attention key bias gets ∂L/∂b = 0 exactly (softmax ignores a constant added to a
    row of scores); the backward pass leaves ±1e-17 on one CPU and 0.0 on another. The
    panel judges it against the step's numbers and shows 0 either way, with no ×1e-17."""
    from argparse import Namespace

    from tutor.views.session import explore_session
    from tutor.views.step import build_view
    from tutor.ui.widgets.tensor_panel import TensorPanel

    session = explore_session(Namespace(src=None, tgt=None, seed=0, config=None, weights=None,
                                        lr=0.1))
    timeline = session.timeline
    timeline.jump_to_name("encoder.layers.0.self_attn.k_proj", phase="backward")
    view = build_view(timeline)
    bias = next(slot for slot in view.slots if slot.key == key("down2"))
    assert np.abs(bias.value).max() <= bias.noise and bias.noise > 0  # 0.0 or ±1e-17
    exact = TensorSlot(key("down2"), bias.label, bias.name, np.zeros_like(bias.value),
                       noise=bias.noise)

    def go(slot):
        panel = TensorPanel()
        panel.show(slot, (0,))
        return panel.text_lines(60, 10), panel.border_subtitle

    noisy_text, exact_text = go(bias), go(exact)
    assert noisy_text == exact_text
    assert "e-1" not in " ".join(noisy_text[0]) and "×1e" not in noisy_text[1]
