"""`g` and the command palette: go to any step by (fuzzy) name."""

from __future__ import annotations

from textual.command import DiscoveryHit, Hit, Hits, Provider


class StepCommands(Provider):
    """`g` and the command palette: go to any step by (fuzzy) name."""

    def _steps(self):
        screen = self.screen
        if not hasattr(screen, "go_to"):
            return []
        return screen.session.timeline.steps

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        screen = self.screen
        for step in self._steps():
            text = f"{step.phase}: {step.name}"
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text),
                          lambda i=step.index: screen.go_to(i),
                          help=f"step {step.index + 1} · {step.op_name}")

    async def discover(self) -> Hits:
        screen = self.screen
        for step in self._steps():
            if step.phase == "forward":
                yield DiscoveryHit(f"{step.phase}: {step.name}", lambda i=step.index: screen.go_to(i),
                                   help=f"step {step.index + 1} · {step.op_name}")
