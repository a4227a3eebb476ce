"""The help's keys table is drawn once per width, and drawn as Rich draws it."""

from __future__ import annotations

import asyncio
from io import StringIO

from rich.console import Console
from rich.table import Table
from textual.app import App

from tutor.ui.screens.help import DrawnOnce


def table() -> Table:
    keys = Table(title="Keys", box=None, expand=True)
    keys.add_column("key", style="bold yellow", no_wrap=True)
    keys.add_column("what it does")
    for n in range(12):
        keys.add_row(f"k{n}", "a description long enough to wrap at forty columns " * 2)
    return keys


def test_a_table_is_drawn_once_per_width_and_as_rich_draws_it(monkeypatch):
    drawn = []

    class Host(App):
        def compose(self):
            yield DrawnOnce(table())

    async def go():
        app = Host()
        async with app.run_test(size=(40, 60)) as pilot:
            real = app.console.render_lines

            def counting(renderable, options=None, **kw):
                if isinstance(renderable, Table):  # (the table draws its cells this way too)
                    drawn.append(options.max_width)
                return real(renderable, options, **kw)
            monkeypatch.setattr(app.console, "render_lines", counting)
            widget = app.query_one(DrawnOnce)
            widget._drawn = None  # drawn again from here, counted
            widget.refresh(layout=True)
            await pilot.pause()
            widget.refresh()
            await pilot.pause()
            return [widget.render_line(y).text for y in range(widget.size.height)], widget.size

    shown, size = asyncio.run(go())
    assert drawn == [40]  # measured and shown from one drawing
    console = Console(width=40, file=StringIO(), record=True, color_system=None)
    console.print(table())
    expected = console.export_text().splitlines()
    assert size.height == len(expected)
    assert [line.rstrip() for line in shown] == [line.rstrip() for line in expected]
