"""The panel grid: where the boxes go, and what Tab, arrows, Esc and a click do.

The boxes are checked against their rules (inside the widget, apart, a one-cell gutter,
small rows 4 tall, the rest shared); the keys against the explore run's numbers: the cell
a click lands on is found by its text, computed here from the tensor with ``cell_text``.
"""

from __future__ import annotations

import asyncio
from argparse import Namespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from textual import events

from tutor.ui.app import TutorApp
from tutor.ui.screens.stepper import StepperScreen
from tutor.ui.widgets.panel_grid import SMALL_ROW, PanelGrid, boxes
from tutor.views.cells import cell_text
from tutor.views.session import explore_session


@settings(max_examples=300, deadline=None)
@given(width=st.integers(8, 200), height=st.integers(6, 80), count=st.integers(1, 6),
       columns=st.integers(1, 2), data=st.data())
def test_boxes_fill_the_widget_without_overlapping(width, height, count, columns, data):
    rows = -(-count // columns)
    small = data.draw(st.lists(st.booleans(), min_size=rows, max_size=rows))
    placed = boxes(width, height, count, columns, small)
    assert len(placed) == count
    cells = set()
    for k, box in enumerate(placed):
        row = k // columns
        assert box.x >= 0 and box.x + box.width <= width
        covered = {(x, y) for x in range(box.x, box.x + box.width)
                   for y in range(box.y, box.y + box.height)}
        assert not covered & cells
        cells |= covered
        assert box.height == SMALL_ROW if small[row] else box.height >= 3
        if k % columns:  # the second column starts one cell after the first ends
            assert box.x == placed[k - 1].x + placed[k - 1].width + 1
    if columns == 2 and count % 2:  # the odd one out spans the row
        assert placed[-1].x == 0 and placed[-1].width == width
    flexible = small.count(False)
    if flexible and height - SMALL_ROW * (rows - flexible) >= 3 * flexible:
        assert max(b.y + b.height for b in placed) == height  # the rows use the height
        heights = {b.height for b, s in zip(placed, np.repeat(small, columns)) if not s}
        assert max(heights) - min(heights) <= 1  # shared evenly


def drive(script, size=(120, 40)):
    session = explore_session(Namespace(src=None, tgt=None, seed=0, config=None, weights=None,
                                        lr=0.1))

    async def main():
        app = TutorApp(lambda: StepperScreen(session))
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            return await script(pilot, app.screen, session.timeline)

    return asyncio.run(main())


def rows_of(grid: PanelGrid) -> list[str]:
    return [grid.render_line(y).text for y in range(grid.size.height)]


def test_tab_walks_the_panels_and_arrows_move_the_cell():
    async def script(pilot, screen, timeline):
        timeline.jump_to_name("encoder.layers.0.self_attn.q_proj")
        screen.refresh_step()
        await pilot.pause()
        grid = screen.query_one(PanelGrid)
        shown = grid.shown
        assert len(shown) == 4  # x, W, b, y
        await pilot.press("tab")
        assert screen.focused is grid and screen.selection().slot is shown[0].slot
        top = grid.box_of(shown[0])
        assert rows_of(grid)[top.y][top.x] == "┏"  # the panel with the cursor is heavy
        await pilot.press("tab")
        assert screen.selection().slot is shown[1].slot
        assert screen.selection().index == (0, 0)
        await pilot.press("down", "right", "right")
        await pilot.pause()
        assert screen.selection().index == (1, 2)
        weight = np.asarray(shown[1].slot.value)
        assert shown[1].value_at_cursor == weight[1, 2]
        await pilot.press("left_square_bracket")  # a 2-D tensor has no slices: no change
        assert screen.selection().index == (1, 2)
        await pilot.press("shift+tab")
        assert screen.selection().slot is shown[0].slot
        await pilot.press("escape")
        assert screen.focused is None
        position = timeline.position
        await pilot.press("right")  # with the focus gone, arrows step again
        await pilot.pause()
        assert timeline.position == position + 1

    drive(script)


def test_tab_past_the_last_panel_goes_round_when_nothing_else_takes_focus():
    async def script(pilot, screen, timeline):
        timeline.jump_to_name("encoder.layers.0.self_attn.q_proj")
        screen.refresh_step()
        await pilot.pause()
        grid = screen.query_one(PanelGrid)
        await pilot.press(*["tab"] * len(grid.shown))
        assert screen.selection().slot is grid.shown[-1].slot
        await pilot.press("tab")
        await pilot.pause()
        assert [w.id for w in screen.focus_chain] == ["panels"]  # nothing else to go to
        assert screen.focused is grid and screen.selection().slot is grid.shown[0].slot
        await pilot.press("shift+tab")
        assert screen.selection().slot is grid.shown[-1].slot  # and back round

    drive(script)


def test_clicking_a_cell_selects_that_element():
    async def script(pilot, screen, timeline):
        timeline.jump_to_name("encoder.layers.0.self_attn.q_proj")
        screen.refresh_step()
        await pilot.pause()
        grid = screen.query_one(PanelGrid)
        panel = grid.shown[-1]  # y = x Wᵀ + b, (1, 8, 32)
        value = np.asarray(panel.slot.value)[0]
        box = grid.box_of(panel)
        row = 3  # the fourth row of the shown slice: its label is "3"
        line = rows_of(grid)[box.y + 1 + 1 + row]  # the top edge, the column header
        text = cell_text(value[row, 0])
        x = line.index(text, box.x) + len(text) - 1
        await pilot.click(grid, offset=(x, box.y + 2 + row))
        await pilot.pause()
        assert screen.focused is grid
        assert screen.selection().slot is panel.slot
        assert screen.selection().index == (0, row, 0)

    drive(script)


def test_a_long_title_is_cut_with_an_ellipsis_and_the_box_keeps_its_corners():
    async def script(pilot, screen, timeline):
        await pilot.pause()
        grid = screen.query_one(PanelGrid)
        panel = grid.shown[0]
        panel.border_title = "a title far longer than any panel at this size " * 3
        grid.refresh()
        await pilot.pause()
        box = grid.box_of(panel)
        top = rows_of(grid)[box.y][box.x:box.x + box.width]
        assert top[0] in "╭╔┏" and top[-1] in "╮┓" and "…" in top
        assert len(top) == box.width

    drive(script, size=(80, 24))



def test_a_resize_redraws_the_boxes_at_the_new_width():
    async def script(pilot, screen, timeline):
        timeline.jump_to_name("encoder.layers.0.self_attn.q_proj")
        screen.refresh_step()
        await pilot.pause()
        grid = screen.query_one(PanelGrid)
        for size in [(132, 40), (121, 40)]:
            await pilot.resize_terminal(*size)
            await pilot.pause()
            top = rows_of(grid)[0]
            width = grid.size.width
            assert len(top) == width
            assert top[0] == "╭" and top[width - 1] == "╮"  # the right box ends at the edge
            left = grid.box_of(grid.shown[0])
            assert top[left.width - 1] == "╮" and top[left.width] == " "  # then the gutter

    drive(script)


def test_keys_typed_fast_after_tab_act_on_the_panel_they_chose():
    async def script(pilot, screen, timeline):
        timeline.jump_to_name("encoder.layers.0.self_attn.q_proj")
        screen.refresh_step()
        await pilot.pause()
        grid = screen.query_one(PanelGrid)
        for _ in range(2):  # the second time, after Esc left the grid on another panel
            for key, character in [("tab", "\t"), ("tab", "\t"), ("down", None)]:
                pilot.app.post_message(events.Key(key, character))  # as a terminal sends
            await pilot.pause()  # them: queued together, ahead of the focus event
            shown = grid.shown
            assert grid.active == 1 and screen.selection().slot is shown[1].slot
            assert screen.selection().index == (1, 0)
            box = grid.box_of(shown[1])
            rows = rows_of(grid)
            assert rows[box.y][box.x] == "┏"  # the heavy box is where the cursor is
            first = grid.box_of(shown[0])
            assert rows[first.y][first.x] == "╭"
            await pilot.press("up", "tab", "escape")
            await pilot.pause()

    drive(script)


def test_shift_tab_into_the_grid_lands_on_the_last_panel():
    async def script(pilot, screen, timeline):
        timeline.jump_to_name("encoder.layers.0.self_attn.q_proj")
        screen.refresh_step()
        await pilot.pause()
        grid = screen.query_one(PanelGrid)
        await pilot.press("shift+tab")
        await pilot.pause()
        assert screen.focused is grid and screen.selection().slot is grid.shown[-1].slot
        box = grid.box_of(grid.shown[-1])
        assert rows_of(grid)[box.y][box.x] == "┏"
        await pilot.press("escape", "tab")
        await pilot.pause()
        assert screen.selection().slot is grid.shown[0].slot  # and Tab on the first

    drive(script)
