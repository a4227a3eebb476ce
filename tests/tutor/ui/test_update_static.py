"""``update_static`` asks for a layout pass only when a widget's drawn height can change."""

from __future__ import annotations

import asyncio

from textual.app import App
from textual.widgets import Static

from tutor.ui.widgets.parts import Parts, update_static


def lines(n: int):
    return Parts().add("\n".join(f"line {k}" for k in range(n))).content()


def layouts_asked(cap: str, counts: list[int]) -> tuple[list[bool], list[int]]:
    """Update a bordered auto-height Static capped at ``cap`` with texts of ``counts``
    lines; what each update asked for, and the height drawn after it."""

    class Host(App):
        CSS = f"#s {{ height: auto; max-height: {cap}; border: round white; }}"

        def compose(self):
            yield Static(id="s")

    asked, drawn = [], []

    async def main():
        app = Host()
        async with app.run_test(size=(40, 20)) as pilot:
            widget = app.query_one("#s", Static)
            real = widget.update

            def spy(content, *, layout=True):
                asked.append(layout)
                return real(content, layout=layout)

            widget.update = spy
            for n in counts:
                update_static(widget, lines(n))
                await pilot.pause()
                drawn.append(widget.content_size.height)

    asyncio.run(main())
    return asked, drawn


def test_a_text_cut_at_a_percentage_cap_changes_nothing_while_it_stays_taller():
    # 50% of 20 rows: 10 rows, 8 inside the border
    asked, drawn = layouts_asked("50%", [3, 30, 25, 12, 8, 3, 3])
    assert drawn == [3, 8, 8, 8, 8, 3, 3]
    assert asked == [True, True, False, False, False, True, False]  # 8 fills it: no change


def test_a_cap_in_cells_likewise():
    asked, drawn = layouts_asked("6", [2, 9, 7, 2])
    assert drawn == [2, 4, 4, 2]
    assert asked == [True, True, False, True]
