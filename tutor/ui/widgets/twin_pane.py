"""The PyTorch twin in the stepper's tool area: the step's PyTorch code, torch's result
beside the engine's, and where the selected tensor lives in torch; and the progress
of checking every step. Drawing only: what to show comes from ``tutor.views.twin``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from engine.pytorch.match import TOLERANCE
from tutor.views.twin import TwinResult
from tutor.ui.widgets.parts import Parts

# Widgets take no CSS_PATH in Textual 8: the styles are read from the .tcss beside this file.
_CSS = (Path(__file__).with_name("twin_pane.tcss")).read_text(encoding="utf-8")

LOADING = "loading PyTorch… (first time ~1–2 s)"


def value_text(x) -> str:
    """An element as the pane prints it: 10 significant digits with its sign."""
    x = np.asarray(x)
    if x.dtype.kind in "iub":
        return str(int(x))
    x = float(x)
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "+inf" if x > 0 else "-inf"
    return "0" if x == 0.0 else f"{x:+.10g}"


def diff_text(d: float) -> str:
    return "0" if d == 0.0 else f"{d:.2e}"


def clip(index: tuple, shape: tuple) -> tuple:
    """``index`` made valid for ``shape`` (the last axes line up)."""
    if not shape:
        return ()
    index = tuple(index)[-len(shape):] if index else ()
    index = (0,) * (len(shape) - len(index)) + tuple(index)
    return tuple(min(max(int(i), 0), n - 1) for i, n in zip(index, shape))


def _element(index: tuple) -> str:
    return "[" + ",".join(str(i) for i in index) + "]" if index else ""


def verdict(comparisons, compact: bool = False) -> tuple[str, str]:
    """(text, style): pass or fail, and the rule it was judged by."""
    relative = any(c.scale > 1.0 for c in comparisons)
    rule = f"≤ {TOLERANCE:g}" + (" × max(1, |torch|)" if relative else "")
    ok = all(c.ok for c in comparisons)
    style = "bold green" if ok else "bold red"
    if compact:
        return (f"✓ max|Δ| {rule}" if ok else f"✗ FAIL: max|Δ| not {rule}"), style
    if ok:
        return f"✓ pass: max |engine − torch| over each whole tensor {rule}", style
    return f"✗ FAIL: max |engine − torch| is not {rule} (✗ rows)", style


def header(parts: Parts, extra: str = "", closes: str = "x closes",
           judged: tuple[str, str] | None = None) -> Parts:
    parts.add("PyTorch twin", "bold")
    if extra:
        parts.add(f" · {extra}", "magenta")
    if judged is not None:
        parts.add(" · ").add(*judged)
    parts.add(f" · {closes}\n", "dim")
    return parts


def code(parts: Parts, lines) -> Parts:
    for line in lines:
        parts.add("  " + line + "\n", "cyan")
    return parts


def names(parts: Parts, where: str) -> Parts:
    if where:
        parts.add("torch name  ", "dim")
        parts.add(where + "\n")
    return parts


def comparison_rows(parts: Parts, comparisons, index: tuple, compact: bool = False) -> Parts:
    """One aligned row per tensor: the selected element by the engine and by torch, the
    largest difference over the whole tensor, and ✓ or ✗ (compact: no column header,
    the columns named in each row)."""
    rows = []
    for c in comparisons:
        at = clip(index, np.shape(c.engine))
        label = f"{c.label}{_element(at)}" + (" +=" if c.accumulates else "")
        rows.append((label, value_text(np.asarray(c.engine)[at]),
                     value_text(np.asarray(c.torch)[at]), diff_text(c.max_abs_diff), c))
    width = max(len(r[0]) for r in rows)
    number = max(max(len(r[1]), len(r[2])) for r in rows)
    if not compact:
        parts.add("  " + " " * width + "  " + "engine".rjust(number) + "  "
                  + "torch".rjust(number) + "  max|Δ|\n", "dim")
    for label, engine, torch, diff, c in rows:
        parts.add("  " + label.ljust(width), "bold")
        if compact:
            parts.add(" engine ", "dim").add(engine.rjust(number)).add(" torch ", "dim")
            parts.add(torch.rjust(number)).add(" max|Δ| ", "dim").add(diff)
        else:
            parts.add("  " + engine.rjust(number) + "  " + torch.rjust(number) + "  "
                      + diff.ljust(9))
        parts.add(" ✓\n" if c.ok else f" ✗ > {c.allowed:.2g}\n",
                  "bold green" if c.ok else "bold red")
    return parts


class TwinPane(Static):
    """The twin of one step (or a message: loading torch, torch missing, a report)."""

    DEFAULT_CSS = _CSS
    SCOPED_CSS = False  # the file styles both widgets of this module
    tool = "twin"  # the tool that owns the pane (other tools leave it alone)

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.plain = ""

    def show_parts(self, parts: Parts) -> None:
        self.plain = parts.plain.rstrip("\n")
        self.update(parts.content())

    def show_waiting(self, lines, where: str, loading: bool) -> None:
        """The code and the names at once; torch's numbers follow from a worker."""
        parts = code(header(Parts()), lines)
        parts.add(("  " + LOADING if loading else "  running it in PyTorch…") + "\n", "yellow")
        self.show_parts(names(parts, where))

    def show_result(self, result: TwinResult, index: tuple, where: str,
                    compact: bool = False) -> None:
        """``compact`` (80×24): the verdict joins the title line and the rows name their
        columns, so the tensors above keep a few lines."""
        fns = result.grad_fns[:1] if compact else result.grad_fns
        extra = ("autograd " + " → ".join(fns)) if fns else ""
        judged = verdict(result.comparisons, compact=True) if compact and result.comparisons \
            else None
        parts = code(header(Parts(), extra, judged=judged), result.code)
        if result.message:
            parts.add("  " + result.message + "\n", "yellow")
        if result.comparisons:
            comparison_rows(parts, result.comparisons, index, compact)
            if not compact:
                parts.add(*verdict(result.comparisons)).add("\n")
        self.show_parts(names(parts, where))

    def show_message(self, message: str, severity: str = "warning", lines=(),
                     where: str = "", closes: str = "x closes") -> None:
        style = {"error": "bold red", "warning": "yellow", "ok": "bold green"}.get(severity, "")
        parts = code(header(Parts(), closes=closes), lines)
        parts.add(message + "\n", style)
        self.show_parts(names(parts, where))


class TwinProgress(Vertical, can_focus=True):
    """Checking every step: a progress bar; Esc (or X again) cancels."""

    DEFAULT_CSS = _CSS
    SCOPED_CSS = False
    tool = "twin"
    BINDINGS = [Binding("escape", "cancel", "cancel the check")]

    def __init__(self, total: int, on_cancel: Callable[[], None], loading: bool) -> None:
        super().__init__()
        self.total = total
        self._on_cancel = on_cancel
        self._loading = loading

    def compose(self) -> ComposeResult:
        label = (f"Checking all {self.total} steps in PyTorch, one op at a time"
                 f"{' — ' + LOADING if self._loading else ''}   Esc or X cancels")
        yield Static(label, id="twin-progress-label")
        yield ProgressBar(total=self.total, show_eta=False, id="twin-progress-bar")

    def advance_to(self, done: int) -> None:
        if self._loading:
            self._loading = False
            self.query_one("#twin-progress-label", Static).update(
                f"Checking all {self.total} steps in PyTorch, one op at a time   Esc or X cancels")
        self.query_one(ProgressBar).update(progress=done)

    def action_cancel(self) -> None:
        self._on_cancel()
