"""The decoding pane: the tokens so far, and the next token's top-k probabilities as bars,
argmax on the left and a sample at temperature T on the right."""

from __future__ import annotations

from tutor.views.decoding import TOP_K, Comparison, DecodeRun, TokenStep, compare, token_name, top_k
from tutor.ui.widgets.parts import Parts
from tutor.ui.widgets.tool_pane import ToolPane

EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(fraction: float, width: int) -> str:
    """``fraction`` of ``width`` cells in block characters, to an eighth of a cell."""
    fraction = min(max(fraction, 0.0), 1.0)
    eighths = round(fraction * width * 8)
    full, rest = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[rest] if rest else "")).ljust(width)


def probability_text(p: float) -> str:
    """Four decimals, or two digits in e-notation below 0.001 (a tiny probability is not 0)."""
    return f"{p:.4f}" if p >= 1e-3 or p == 0 else f"{p:.1e}"


class ProbBars(ToolPane):
    tool = "decode"

    def __init__(self, run: DecodeRun, step: TokenStep | None, position: int,
                 temperature: float, compact: bool = False, width: int = 80) -> None:
        super().__init__(compact=compact)
        self.run = run
        self.step = step
        self.comparison: Comparison | None = None
        if step is not None and position >= step.probs_step:
            self.comparison = compare(step, temperature, run.seed)
        self.set_parts(self._parts(position, temperature, compact, width))

    def _parts(self, position: int, temperature: float, compact: bool, width: int) -> Parts:
        run, step = self.run, self.step
        name = lambda t: token_name(t, run.vocab_size)  # noqa: E731
        text = Parts()
        text.add("decode ", "bold")
        if step is None:
            first = run.passes[0]
            text.add(f"the encoder reads the source once; pass 1 (token 1 of {len(run.passes)}) "
                     f"starts at step {first.first + 1}\n", "italic")
            return text
        k, total = step.number, len(run.passes)
        prefix = [name(int(t)) for t in step.prefix[0]]
        text.add(f"token {k}/{total}", "bold yellow").add(" · reads ", "dim")
        text.add(" ".join(prefix), "bold").add("▌", "reverse")
        text.add(f" · mask {k}×{k}", "dim")
        if self.comparison is None:
            text.add(f" · p(next) comes at step {step.probs_step + 1} (softmax)\n", "dim")
            return text
        c = self.comparison
        appended = name(int(step.chosen[0])) if step.chosen is not None else "?"
        text.add(" · appends ", "dim").add(appended, "bold")
        if step.prefix.shape[0] > 1:
            text.add(f" (row 1 of {step.prefix.shape[0]})", "dim")
        text.add("  (< > T)\n" if width >= 70 else "\n", "dim")
        column = max((width - 3) // 2, 24)
        bar_width = column - 17
        rows = TOP_K - 1 if compact else TOP_K
        left_title = "softmax(logits) → argmax"
        right_title = f"softmax(logits/{temperature:g}) → sample"
        text.add(left_title.ljust(column)[:column] + "   ", "dim")
        text.add(right_title[:column] + "\n", "dim")
        left = top_k(c.greedy_probs, rows)
        right = top_k(c.tempered_probs, rows)
        for (lt, lp), (rt, rp) in zip(left, right):
            self._bar_row(text, name(lt), lp, bar_width, lt == c.greedy_pick)
            text.add("   ")
            self._bar_row(text, name(rt), rp, bar_width, rt == c.sampled_pick)
            text.add("\n")
        text.add("argmax → ", "dim").add(name(c.greedy_pick), "bold green")
        pad = max(column - 9 - len(name(c.greedy_pick)), 1)
        text.add(" " * pad + "   ")
        which = "the run's sample" if c.recorded == "sample" else "a sample"
        text.add(f"{which}, T={temperature:g} → ", "dim")
        text.add(name(c.sampled_pick), "bold magenta").add("\n")
        return text

    @staticmethod
    def _bar_row(text: Parts, label: str, p: float, width: int, picked: bool) -> None:
        text.add(f"{label:>3} ", "bold" if picked else "")
        text.add(bar(p, width), "green" if picked else "cyan")
        text.add(f" {probability_text(p):>7}", "bold" if picked else "")
        text.add(" ◀" if picked else "  ")
