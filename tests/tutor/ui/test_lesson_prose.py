"""The lesson text's scroll height: a text that fits the view keeps the view's height, so
a new text (a section's numbers change at almost every step) asks for no layout pass;
a longer one scrolls to its last line and says more follows."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult

from tutor.ui.widgets.lesson_prose import MORE, LessonProse


class ProseApp(App):
    CSS = "LessonProse { height: 10; width: 40; }"

    def compose(self) -> ComposeResult:
        yield LessonProse()


def paragraphs(n: int) -> str:
    return "\n\n".join(f"Paragraph {i}." for i in range(n))


def test_texts_that_fit_keep_the_size_and_a_long_one_scrolls_to_its_end():
    async def run():
        app = ProseApp()
        async with app.run_test(size=(60, 20)) as pilot:
            prose = app.query_one(LessonProse)
            layouts = []
            original = prose.refresh

            def refresh(*regions, layout=False, **kwargs):
                layouts.append(layout)
                return original(*regions, layout=layout, **kwargs)

            prose.show(paragraphs(2))
            await pilot.pause()
            view = prose.scrollable_content_region.height
            assert prose.virtual_size.height == view and prose.more == ""

            prose.refresh = refresh
            prose.show(paragraphs(4))  # more lines, still fits: the same size
            prose.show(paragraphs(1))
            await pilot.pause()
            assert prose.virtual_size.height == view and not any(layouts)

            prose.show(paragraphs(12))  # 23 lines: taller than the view
            await pilot.pause()
            assert prose.virtual_size.height == len(prose._lines) > view
            assert prose.more == MORE
            prose.scroll_end(animate=False, immediate=True)
            await pilot.pause()
            assert prose.scroll_y == prose.max_scroll_y == len(prose._lines) - view
            assert prose.more != MORE

    asyncio.run(run())
