"""The nudge pane: one number moved by ±ε, the loss before and after, the change measured
beside the change the gradient predicted, and the ε table."""

from __future__ import annotations

from tutor.views.nudge import (NudgeReport, delta_text, index_text, measured_rows, ratio_text,
                                   symbol, value_text)
from tutor.ui.widgets.parts import Parts
from tutor.ui.widgets.tool_pane import ToolPane


class NudgePane(ToolPane):
    tool = "nudge"

    def __init__(self, report: NudgeReport, compact: bool = False, width: int = 80) -> None:
        super().__init__(compact=compact)
        self.report = report
        self.set_parts(nudge_parts(report, compact, width))


def nudge_parts(r: NudgeReport, compact: bool = False, width: int = 80) -> Parts:
    """``compact``: seven lines (an 80×24 terminal); ``width``: the columns available."""
    w = symbol(r.kind)
    sign = "+" if r.sign > 0 else "−"
    wide = width >= 76
    parts = r.name.split(".")
    short = ".".join(parts[-2:]) if r.kind == "param" or not compact else parts[-1]
    name = r.name if not compact and width >= len(r.name) + 40 else short
    text = Parts()
    text.add("nudge ", "bold")
    if compact:  # the element's value is in its panel
        text.add(f"{name}{index_text(r.index).replace(' ', '')} ", "bold yellow")
        text.add(f"by {sign}{r.eps:g}", "bold").add(" · loss ", "dim")
        text.add(f"{value_text(r.loss)[1:]} → {value_text(r.loss_after)[1:]} · ")
        text.add("restored\n", "green")
        text.add("ΔL measured ", "dim").add(delta_text(r.measured), "bold")
        text.add(f" · predicted {sign}ε·∂L/∂{w} ", "dim").add(delta_text(r.predicted), "bold")
        text.add(" · ratio ", "dim").add(ratio_text(r.ratio), "bold yellow").add("\n")
    else:
        text.add(f"{name}{index_text(r.index)} ", "bold yellow")
        text.add(f"by {sign}{r.eps:g}", "bold").add("   (e: ε · + −: nudge)\n", "dim")
        if r.from_gradient_panel:
            text.add(f"(this panel is a gradient: the value it belongs to, {w}, is nudged)\n",
                     "dim italic")
        text.add(f"{w} ", "dim").add(f"{value_text(r.value)} → {value_text(r.new_value)}")
        text.add(" · loss ", "dim")
        text.add(f"{value_text(r.loss)[1:]} → {value_text(r.loss_after)[1:]}")
        text.add(" · " if wide else "\n").add("restored: the run is unchanged\n", "green")
        text.add("measured  ", "dim").add(f"ΔL = L({w}{sign}ε) − L({w}) = ")
        text.add(delta_text(r.measured), "bold").add("\n")
        text.add("predicted ", "dim").add(f"ΔL ≈ {sign}ε·∂L/∂{w} = ")
        text.add(delta_text(r.predicted), "bold")
        text.add("   ratio ", "dim").add(ratio_text(r.ratio), "bold yellow").add("\n")
        text.add(f"÷: ΔL ÷ ε·∂L/∂{w} · central ΔL = ½[L({w}+ε)−L({w}−ε)], error ∝ ε²\n",
                 "dim italic")
    if wide:
        text.add(f"{'ε':>6} {'L(' + w + '+ε)−L(' + w + ')':>12} {'½[L(+ε)−L(−ε)]':>15} "
                 f"{'ε·∂L/∂' + w:>10} {'÷ one-sided':>11} {'÷ central':>10}\n", "dim")
    else:
        text.add(f"{'ε':>6} {'ΔL 1-side':>10} {'ΔL central':>10} {'ε·∂L/∂' + w:>10} "
                 f"{'÷ 1-side':>9} {'÷ central':>9}\n", "dim")
    for eps, one_sided, central, predicted, ratio, central_ratio in measured_rows(r):
        style = "bold" if eps == r.eps else ""
        if wide:
            line = (f"{eps:>6g} {delta_text(one_sided):>12} {delta_text(central):>15} "
                    f"{delta_text(predicted):>10} {ratio_text(ratio):>11} "
                    f"{ratio_text(central_ratio):>10}")
        else:
            line = (f"{eps:>6g} {delta_text(one_sided):>10} {delta_text(central):>10} "
                    f"{delta_text(predicted):>10} {ratio_text(ratio):>9} "
                    f"{ratio_text(central_ratio):>9}")
        text.add(line + "\n", style)
    return text
