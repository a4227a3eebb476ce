"""The bar shown while X checks every step: its share and its cells, worked out here."""

from __future__ import annotations

import asyncio

from textual.app import App

from tutor.ui.tools.twin import TwinProgress
from tutor.ui.tools.twin_text import BAR_WIDTH, LOADING, progress_parts


def test_the_bar_fills_in_proportion_and_says_the_percentage():
    for total, done in ((336, 0), (336, 1), (336, 168), (336, 335), (336, 336), (7, 3), (100, 29)):
        parts = progress_parts(total, done, loading=False)
        line = parts.plain.splitlines()[-1]
        assert line.count("━") == BAR_WIDTH
        percent = int(line.rsplit(" ", 1)[1].rstrip("%"))
        assert percent == (100 * done) // total
        filled = [text for text, style in (p for p in parts.key if isinstance(p, tuple))
                  if set(text) == {"━"} and style in ("$primary", "$success")]
        assert sum(len(t) for t in filled) == (BAR_WIDTH * done) // total
        finished = [style for text, style in (p for p in parts.key if isinstance(p, tuple))
                    if style == "$success"]
        assert bool(finished) == (done == total)


def test_the_label_says_how_many_steps_how_to_cancel_and_while_torch_loads():
    loading = progress_parts(336, 0, loading=True).plain
    assert "Checking all 336 steps" in loading and "Esc or X cancels" in loading
    assert LOADING in loading
    assert LOADING not in progress_parts(336, 5, loading=False).plain
    assert progress_parts(0, 0, loading=False).plain.endswith("  0%")


def test_the_progress_is_one_widget_that_draws_what_it_was_told():
    """Focused so that Esc reaches it: Textual restyles a widget gaining or losing the
    focus with everything it holds, so it holds nothing."""

    class Host(App):
        def compose(self):
            yield TwinProgress()

    async def go():
        app = Host()
        async with app.run_test(size=(80, 10)) as pilot:
            progress = app.query_one(TwinProgress)
            progress.start(336, loading=True)
            await pilot.pause()
            first = "\n".join(progress.render_line(y).text for y in range(progress.size.height))
            progress.advance_to(84)
            progress.focus()
            await pilot.pause()
            later = "\n".join(progress.render_line(y).text for y in range(progress.size.height))
            return first, later, list(progress.children), progress.has_focus

    first, later, children, focused = asyncio.run(go())
    assert children == [] and focused
    assert "loading PyTorch" in " ".join(first.split())
    assert "loading PyTorch" not in later  # checking steps: torch is loaded
    assert later.rstrip().endswith("25%") and later.count("━") == BAR_WIDTH
