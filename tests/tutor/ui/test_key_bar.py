"""The key bar: the screen's shown bindings on one line, following focus, clickable."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Button, Footer, Static

from tutor.ui.widgets.key_bar import KeyBar


class Focusable(Static, can_focus=True):
    BINDINGS = [Binding("x", "mark('x')", "cross out")]

    def action_mark(self, what: str) -> None:
        self.app.marks.append(what)


class KeysScreen(Screen):
    BINDINGS = [
        Binding("n", "mark('n')", "next"),
        Binding("right", "mark('n')", "next", show=True),  # the same action: shown once
        Binding("h", "mark('h')", "hidden", show=False),
        Binding("question_mark", "mark('?')", "help", key_display="?"),
        Binding("d", "mark('d')", "disabled"),
    ]

    def __init__(self, bar):
        super().__init__()
        self.bar = bar

    def compose(self) -> ComposeResult:
        yield Button("first")
        yield Focusable("second", id="second")
        yield self.bar

    def action_mark(self, what: str) -> None:
        self.app.marks.append(what)

    def check_action(self, action: str, parameters) -> bool | None:
        return None if parameters == ("d",) else True  # None: shown, but disabled


class KeysApp(App):
    def __init__(self, bar_class=KeyBar):
        super().__init__()
        self.marks: list[str] = []
        self.bar_class = bar_class

    def on_mount(self) -> None:
        bar = self.bar_class(show_command_palette=False) if self.bar_class is Footer \
            else self.bar_class()
        self.push_screen(KeysScreen(bar))


def bar_text(app) -> str:
    region = app.screen.query_one(KeyBar).region
    strips = app.screen._compositor.render_strips()
    return strips[region.y].text


def test_it_shows_each_action_once_in_order_and_follows_focus():
    async def run():
        app = KeysApp()
        async with app.run_test(size=(80, 10)) as pilot:
            await pilot.pause()
            text = bar_text(app)
            assert text.split() == ["n", "next", "?", "help", "d", "disabled"]
            app.screen.query_one("#second").focus()
            await pilot.pause()
            assert bar_text(app).split()[:2] == ["x", "cross"]  # the focused widget's first
            assert "next" in bar_text(app)

    asyncio.run(run())


def test_it_shows_what_textuals_footer_shows():
    async def shown(bar_class) -> str:
        app = KeysApp(bar_class)
        async with app.run_test(size=(80, 10)) as pilot:
            await pilot.pause()
            app.screen.query_one("#second").focus()
            await pilot.pause()
            await pilot.pause()
            strips = app.screen._compositor.render_strips()
            return strips[-1].text.rstrip()

    assert asyncio.run(shown(KeyBar)) == asyncio.run(shown(Footer))


def test_a_click_presses_the_key_and_a_disabled_key_only_rings():
    async def run():
        app = KeysApp()
        async with app.run_test(size=(80, 10)) as pilot:
            await pilot.pause()
            text = bar_text(app)
            bar = app.screen.query_one(KeyBar)
            await pilot.click(bar, offset=(text.index("help"), 0))
            await pilot.click(bar, offset=(text.index("next"), 0))
            await pilot.click(bar, offset=(text.index("disabled"), 0))
            await pilot.click(bar, offset=(70, 0))  # past the last key: nothing
            await pilot.pause()
            assert app.marks == ["?", "n"]

    asyncio.run(run())
