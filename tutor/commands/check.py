"""``tutor check``: the engine against PyTorch, on the default model and random ones."""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.table import Table

from engine import ModelConfig, Transformer

TOLERANCE = 1e-9  # relative error allowed for the loss and every gradient


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
    console = Console(highlight=False)
    try:
        from engine.pytorch.twin import TorchMissing, compare
        import_error = None
        try:
            from engine.pytorch.twin import import_torch
            import_torch()
        except TorchMissing as error:
            import_error = error
    except ImportError as error:  # pragma: no cover
        import_error = error
    if import_error is not None:
        console.print(f"[red]tutor check needs PyTorch.[/] {import_error}")
        return 1
    rng = np.random.default_rng(0)
    cases = [(ModelConfig(), 1, 8, 8)] + random_configs(max(args.configs, 0), rng)
    failures = 0
    for config, batch, s, t in cases:
        model = Transformer(config, seed=int(rng.integers(0, 1000)))
        v = config.vocab_size
        src, tgt_in, tgt_out = (rng.integers(0, v, shape) for shape in
                                ((batch, s), (batch, t), (batch, t)))
        rows = compare(model, src, tgt_in, tgt_out)
        worst = max(r[2] for r in rows)
        table = Table(title=f"d_model {config.d_model}, {config.n_heads} heads, d_ff {config.d_ff},"
                            f" {config.n_encoder_layers}+{config.n_decoder_layers} layers, "
                            f"vocab {v}, batch {batch}, S {s}, T {t}",
                      title_justify="left", show_edge=False)
        table.add_column("quantity")
        table.add_column("max abs error", justify="right")
        table.add_column("max rel error", justify="right")
        table.add_column("", justify="center")
        for name, abs_err, rel_err in rows:
            ok = rel_err <= TOLERANCE
            failures += not ok
            table.add_row("loss" if name == "loss" else f"∂L/∂{name}", f"{abs_err:.2e}",
                          f"{rel_err:.2e}", "[green]ok[/]" if ok else "[red]MISMATCH[/]")
        console.print(table)
        console.print(f"worst relative error {worst:.2e} (tolerance {TOLERANCE:.0e})\n")
    if failures:
        console.print(f"[red]{failures} quantities differ from PyTorch beyond {TOLERANCE:.0e}[/]")
        return 1
    console.print(f"[green]all {len(cases)} configurations match PyTorch[/] "
                  f"(loss and every parameter gradient, relative error ≤ {TOLERANCE:.0e})")
    return 0
