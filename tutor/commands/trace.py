"""``tutor trace``: the run printed, one line per step (for notes, pipes and tests)."""

from __future__ import annotations

import fnmatch
import sys

from rich.console import Console
from rich.text import Text

from tutor.views.session import SessionError, explore_session
from tutor.views.step import shape_text, summarize

PHASE_STYLES = {"forward": "cyan", "backward": "magenta", "update": "green"}


def step_line(timeline, step, shapes_only: bool = False) -> Text:
    """``  12 forward  encoder.layers.0.self_attn.scores  matmul  (1,4,8,2)@(1,4,2,8) → (1,4,8,8)  mean …``"""
    def value(array) -> str:
        return "shape only" if shapes_only else summarize(array)

    text = Text()
    text.append(f"{step.index + 1:>4} ", style="dim")
    text.append(f"{step.phase:<8} ", style=PHASE_STYLES[step.phase])
    text.append(step.name, style="bold")
    if step.update is not None:
        u = step.update
        text.append(f"  {u.optimizer}  {shape_text(u.before.shape)}  ")
        text.append(f"|Δw| max {abs(u.after - u.before).max():.3g}", style="dim")
        return text
    node = step.node
    text.append(f"  {node.op.name}  ")
    ins = " ".join(shape_text(x.shape) for x in node.inputs)
    if step.phase == "forward":
        text.append(f"{ins} → {shape_text(node.output.shape)}  ")
        text.append(value(node.output.value), style="dim")
    else:
        b = step.backward
        text.append(f"upstream {shape_text(b.upstream.shape)} {value(b.upstream)}", style="dim")
        for c in b.contributions:
            mark = " (+=)" if c.accumulates else ""
            text.append(f"  → ∂L/∂{c.tensor.name}{mark} {value(c.value)}", style="dim")
    return text


def matches(step, pattern: str | None) -> bool:
    if not pattern:
        return True
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(step.name, pattern)
    return pattern in step.name


MODEL_OPTIONS = {"src": "--src", "tgt": "--tgt", "config": "--config",
                 "weights": "--weights"}


def run_trace(args) -> int:
    console = Console(highlight=False, soft_wrap=True, emoji=False)
    try:
        if getattr(args, "lesson", None) is not None:
            given = [flag for name, flag in MODEL_OPTIONS.items()
                     if getattr(args, name, None) is not None]
            if given:
                raise SessionError(f"{given[0]} chooses the explore model's run; a lesson "
                                   "brings its own (leave out --lesson, or the option)")
            from tutor.lessons.run import lesson_timeline
            timeline, title = lesson_timeline(args.lesson)
        else:
            session = explore_session(args)
            timeline, title = session.timeline, session.title
    except (SessionError, ValueError, LookupError) as error:
        print(f"tutor trace: {error}", file=sys.stderr)
        return 2
    phases = {"forward", "backward", "update"}
    if args.backward:
        phases = {"backward"}
    elif args.forward:
        phases = {"forward"}
    console.print(Text(title, style="bold"))
    shown = 0
    for step in timeline.steps:
        if step.phase in phases and matches(step, args.scope):
            console.print(step_line(timeline, step))
            shown += 1
    if shown == 0:
        print(f"tutor trace: no step matches {args.scope!r}", file=sys.stderr)
        return 1
    return 0
