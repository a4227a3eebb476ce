"""``tutor check``: the engine against PyTorch, on the default model and random ones."""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engine import ModelConfig, Transformer
from engine.pytorch.match import TOLERANCE

RULE = f"max |engine − torch| ≤ {TOLERANCE:g} × max(1, max |torch|)"


def random_configs(count: int, rng: np.random.Generator) -> list[tuple[ModelConfig, int, int, int]]:
    """(config, batch, S, T) with odd head counts, S ≠ T and batch > 1 among them."""
    out = []
    for _ in range(count):
        heads = int(rng.choice([1, 2, 3, 5]))
        d_head = int(rng.integers(1, 5))
        config = ModelConfig(vocab_size=int(rng.integers(3, 15)), d_model=heads * d_head,
                             n_heads=heads, d_ff=int(rng.integers(2, 20)),
                             n_encoder_layers=int(rng.integers(1, 3)),
                             n_decoder_layers=int(rng.integers(1, 3)), max_len=10)
        out.append((config, int(rng.integers(1, 4)), int(rng.integers(1, 10)),
                    int(rng.integers(1, 10))))
    return out


def run_check(args) -> int:
    """Every configuration's loss and gradients against torch; 0 when all match, 1 when
    one does not (or torch is missing)."""
    from engine import pytorch
    from engine.pytorch import twin

    console = Console(highlight=False, emoji=False)
    try:
        pytorch.import_torch()
    except pytorch.TorchMissing as error:
        console.print(f"tutor check needs PyTorch. {error}", markup=False, soft_wrap=True)
        return 1
    rng = np.random.default_rng(0)
    cases = [(ModelConfig(), 1, 8, 8)] + random_configs(args.configs, rng)
    failures = 0
    for config, batch, s, t in cases:
        model = Transformer(config, seed=int(rng.integers(0, 1000)))
        v = config.vocab_size
        src, tgt_in, tgt_out = (rng.integers(0, v, shape) for shape in
                                ((batch, s), (batch, t), (batch, t)))
        matches = twin.compare(model, src, tgt_in, tgt_out)
        table = Table(title=f"d_model {config.d_model}, {config.n_heads} heads, d_ff {config.d_ff},"
                            f" {config.n_encoder_layers}+{config.n_decoder_layers} layers, "
                            f"vocab {v}, batch {batch}, S {s}, T {t}",
                      title_justify="left", show_edge=False)
        table.add_column("quantity")
        table.add_column("max |engine − torch|", justify="right")
        table.add_column("allowed", justify="right")
        table.add_column("relative", justify="right")
        table.add_column("", justify="center")
        for m in matches:
            failures += not m.ok
            table.add_row(escape("loss" if m.label == "loss" else f"∂L/∂{m.label}"),
                          f"{m.max_abs_diff:.2e}", f"{m.allowed:.0e}", f"{m.relative:.2e}",
                          "[green]ok[/]" if m.ok else "[red]MISMATCH[/]")
        console.print(table)
        worst = max(matches, key=lambda m: m.max_abs_diff / m.allowed)
        console.print(f"closest to the limit: {escape(worst.label)}, "
                      f"{worst.max_abs_diff:.2e} of {worst.allowed:.0e} allowed\n")
    if failures:
        console.print(f"[red]{failures} quantities differ from PyTorch beyond {RULE}[/]")
        return 1
    console.print(f"[green]all {len(cases)} configurations match PyTorch[/] "
                  f"(the loss and every parameter gradient: {RULE})")
    return 0
