"""Decode: the model writing its answer one token at a time, read off the recorded run.

``Transformer.generate`` records one pass per new token: the decoder runs on the
prefix so far (k tokens, so its causal mask is k × k), the generator turns the last
position into logits, softmax into probabilities, argmax picks the next token, and
the token is appended for pass k + 1. At a pass's softmax and argmax steps this tool
shows the top-k probabilities as bars, the tokens generated so far, and beside the
argmax pick what sampling at temperature T would pick from softmax(logits / T) —
T < 1 sharpens the distribution towards the argmax, T > 1 flattens it. ``k`` shows or
hides the bars anywhere; ``<``/``>`` halve or double T.
"""

from __future__ import annotations

from tutor.ui.tools.base import StepperState, Tool
from tutor.ui.tools.keys import DECODE_KEYS
from tutor.ui.widgets.parts import Parts
from tutor.views.decoding import TOP_K, Comparison, compare, find_decoding, token_name, top_k

DEFAULT_TEMPERATURE = 1.0
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



class DecodeTool(Tool):
    BINDINGS = DECODE_KEYS

    def __init__(self, session, *, id: str = "decode") -> None:
        super().__init__(session, id=id)
        self.run = find_decoding(session.timeline, session.decoding, session.seed)
        self.mode = "auto"  # "auto": at decision steps; "on": everywhere; "off": never
        recorded = self.run.passes[0].temperature if self.run is not None else None
        self.temperature = float(session.temperature or recorded or DEFAULT_TEMPERATURE)
        self.step = None
        self.comparison: Comparison | None = None

    def applies(self, action: str) -> bool:
        return self.run is not None or action == "toggle"

    def on_mount(self) -> None:
        if self.run is not None:
            self.notify("A decoding run: at each token's softmax and argmax steps the bars show "
                        "p(next token); k shows or hides them anywhere.", timeout=6)

    def _on_decision_step(self, position: int) -> bool:
        step = self.run.at(position)
        if step is None:
            return False
        first = step.probs_step - (1 if step.temperature is not None else 0)
        return first <= position <= step.last

    def watch_state(self, old: StepperState | None, new: StepperState | None) -> None:
        if self.run is not None and new is not None:
            self.refresh_bars()

    def refresh_bars(self) -> None:
        """Show, update or hide the bars as the mode and the cursor say."""
        position = self.timeline.position
        wanted = self.mode == "on" or (self.mode == "auto" and self._on_decision_step(position))
        if not wanted:
            self.close()
            return
        self.step = self.run.at(position)
        self.comparison = None
        if self.step is not None and position >= self.step.probs_step:
            self.comparison = compare(self.step, self.temperature, self.run.seed)
        self.show_parts(self._parts(position, self.temperature, self.compact, self.width))

    def action_toggle(self) -> None:
        """``k``: hide the bars if they are shown, else show them at every step."""
        if self.run is None:
            self.notify("The probability bars are for decoding runs: try `tutor decode` or "
                        "lesson 13.", timeout=4)
            return
        self.mode = "off" if self.is_open else "on"
        self.refresh_bars()

    def action_scale_temperature(self, factor: float) -> None:
        """``<``/``>`` in a decoding run: halve or double the sampling temperature."""
        self.temperature = min(max(self.temperature * float(factor), 1.0 / 64), 64.0)
        if not self.is_open:
            self.mode = "on"
        self.refresh_bars()

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
