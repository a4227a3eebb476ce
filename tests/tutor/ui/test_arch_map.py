"""The architecture map: cut at its cap, it keeps the cursor's block in view."""

from __future__ import annotations

from tests.tutor.ui.test_panel_grid import drive


def test_a_map_cut_at_its_cap_keeps_the_marker_in_view():
    from tutor.ui.widgets.arch_map import ArchMap

    async def script(pilot, screen, timeline):
        arch = screen.query_one(ArchMap)
        arch.styles.max_height = 9
        await pilot.pause()
        seen = []
        for name, phase in [("decoder.layers.1.ff.linear2", "forward"),
                            ("src_embed.lookup", "forward"),
                            ("decoder.layers.0.cross_attn.out_proj", "backward")]:
            timeline.jump_to_name(name, phase=phase)
            screen.refresh_step()
            await pilot.pause()
            width, height = arch.content_size
            assert height == 7  # 9 less the border
            lines = [arch.render_line(y).text.rstrip() for y in range(height)]
            marked = [line for line in lines if line.startswith("▶")]
            assert len(marked) == 1, lines
            assert lines[0].startswith(("data flows", "gradients flow"))
            seen.append((marked[0].split()[-1], "⋮" in lines[1], "⋮" in lines[-1]))
        assert seen[0][0] == "feed-forward" and seen[0][1]  # deep down: rows left out above
        assert seen[1][2] and not seen[1][1]  # at the top: left out below only
        assert seen[2][1]

    drive(script)


def test_the_map_window_moves_only_when_the_marker_would_leave_it():
    from tutor.ui.widgets.arch_map import ArchMap

    async def script(pilot, screen, timeline):
        arch = screen.query_one(ArchMap)
        arch.styles.max_height = 14
        await pilot.pause()

        async def lines_at(name):
            timeline.jump_to_name(name, phase="forward")
            screen.refresh_step()
            await pilot.pause()
            return [arch.render_line(y).text.strip(" ▶") for y in range(arch.content_size[1])]

        first = await lines_at("decoder.layers.0.self_attn.q_proj")
        second = await lines_at("decoder.layers.0.cross_attn.q_proj")  # the next block
        assert first == second  # the same rows; only the marker moved
        assert arch.render_line(first.index("cross-attn ← encoder")).text.startswith("▶")
        far = await lines_at("generator")
        assert far != first and any(line.startswith("linear → logits") for line in far)

    drive(script)


def test_a_map_hidden_at_80x24_shows_the_step_it_comes_back_at():
    """At 80×24 the map is hidden and not worked out on each key; brought back (``a``, or
    a wider terminal), it marks the block of the step shown then, not of the last it saw."""
    from tutor.ui.widgets.arch_map import ArchMap, label_for

    async def script(pilot, screen, timeline):
        arch = screen.query_one(ArchMap)

        async def marked_after(*keys, wider=False):
            for key in keys:
                await pilot.press(key)
            if wider:
                await pilot.resize_terminal(120, 40)
            await pilot.pause()
            await pilot.pause()
            lines = [arch.render_line(y).text for y in range(arch.content_size[1])]
            path = timeline.step.path[1:]
            blocks = [label_for(path[:k]) for k in range(1, len(path) + 1)]
            return [line.strip(" ▶") for line in lines if line.startswith("▶")], blocks

        steps = ["n"] * 30  # into the encoder's first layer, past its self-attention
        seen = [await marked_after(*steps, "a")]  # shown again by its key
        seen.append(await marked_after("a", *steps))  # hidden again: nothing marked
        seen.append(await marked_after(*steps, wider=True))  # shown by a wider terminal
        return seen

    (first, blocks_1), (hidden, _), (wider, blocks_3) = drive(script, size=(80, 24))
    assert len(first) == 1 and first[0] in blocks_1  # the block the cursor is in now
    assert len(wider) == 1 and wider[0] in blocks_3
    assert hidden == []
    assert blocks_1 != blocks_3  # (the two were at different steps)
