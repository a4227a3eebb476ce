"""How the PyTorch twin writes what it found: the step's torch code, each tensor by the
engine and by torch with the largest difference, the verdict by the one rule, and
where the selected tensor lives in torch. Text only (Textual ``Content`` parts)."""

from __future__ import annotations

import numpy as np

from engine.pytorch.match import TOLERANCE
from tutor.ui.widgets.parts import Parts
from tutor.views.cells import clip_index

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
        at = clip_index(index, np.shape(c.engine))
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




def result_parts(result, index: tuple, where: str, compact: bool = False) -> Parts:
    """The step redone in torch. ``compact`` (80×24): the verdict joins the title line and
    the rows name their columns, so the tensors above keep a few lines."""
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
    return names(parts, where)


def waiting_parts(lines, where: str, loading: bool) -> Parts:
    """The code and the names at once; torch's numbers follow from a worker."""
    parts = code(header(Parts()), lines)
    parts.add(("  " + LOADING if loading else "  running it in PyTorch…") + "\n", "yellow")
    return names(parts, where)


def message_parts(message: str, severity: str = "warning", lines=(), where: str = "",
                  closes: str = "x closes") -> Parts:
    style = {"error": "bold red", "warning": "yellow", "ok": "bold green"}.get(severity, "")
    parts = code(header(Parts(), closes=closes), lines)
    parts.add(message + "\n", style)
    return names(parts, where)


BAR_WIDTH = 32  # cells


def progress_parts(total: int, done: int, loading: bool) -> Parts:
    """Checking every step: what runs, how to stop it, and a bar with the share done."""
    parts = Parts().add(f"Checking all {total} steps in PyTorch, one op at a time"
                        f"{' — ' + LOADING if loading else ''}   Esc or X cancels\n")
    done = min(done, total) if total > 0 else 0
    filled = BAR_WIDTH * done // total if total > 0 else 0
    parts.add("━" * filled, "$success" if total > 0 and done == total else "$primary")
    parts.add("━" * (BAR_WIDTH - filled), "$surface-lighten-1")
    return parts.add(f" {100 * done // total if total > 0 else 0:3d}%")
