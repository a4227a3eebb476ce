"""How fast does ``tutor train`` learn, next to the same training loop in PyTorch?

Run from the repository root:

    python benchmarks/train_speed.py                  # reverse, seed 0, one round
    python benchmarks/train_speed.py --repeats 3      # best of 3, runs interleaved
    python benchmarks/train_speed.py --seeds 0,1,2    # also: does every seed reach 100%?
    python benchmarks/train_speed.py --threads 1      # one BLAS / torch thread each

The engine loop is ``engine.train.train`` with the settings ``tutor train --task
reverse --seed 0`` uses (1000 steps, batch 32, Adam lr 0.003 with warm-up and
cosine decay, held-out exact match every 100 steps and at the end). The torch
loop is the same loop written in torch: ``TorchTwin`` (``torch.nn.Transformer``
with the engine's starting weights), ``torch.optim.Adam``, the very same batches
from the same generator, the same learning rate at every step, and greedy decoding
of the same 500 held-out sequences at the same steps — once in float64 (the
engine's precision) and once in float32. Each prints wall time, time spent
training (without the held-out checks), steps per second, the held-out exact match
and how many times longer it took than the engine.

Targets: engine under 60 s, and faster than the torch loop. Runs are interleaved
(engine, torch64, torch32, engine, …) so load from other processes falls on all
alike; with ``--repeats`` the best time of each is kept. Times vary with the
machine and its load: read the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings


def _threads_from_argv(argv) -> int | None:
    """``--threads N`` must reach OpenBLAS before NumPy loads it, so it is read here."""
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv) and argv[i + 1].isdigit():
            return int(argv[i + 1])
        if arg.startswith("--threads=") and arg.split("=", 1)[1].isdigit():
            return int(arg.split("=", 1)[1])
    return None


if _threads_from_argv(sys.argv[1:]):
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = str(_threads_from_argv(sys.argv[1:]))

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from engine.memory import reuse_freed_memory  # noqa: E402
from engine.model import Transformer  # noqa: E402
from engine.tasks import BOS, DEFAULT_LENGTH, held_out, make_batch  # noqa: E402
from engine.train import (DEFAULT_BATCH, DEFAULT_EVAL_EVERY,  # noqa: E402
                          DEFAULT_LR, DEFAULT_STEPS, default_config, default_warmup,
                          learning_rate_at, train)

TARGET_SECONDS = 60.0


class Timing:
    def __init__(self, label, wall, eval_time, steps, accuracy):
        self.label, self.wall, self.eval_time = label, wall, eval_time
        self.steps, self.accuracy = steps, accuracy

    @property
    def train_time(self):
        return self.wall - self.eval_time


def engine_loop(task, seed):
    result = train(task, steps=DEFAULT_STEPS, seed=seed, lr=DEFAULT_LR["adam"], optimizer="adam")
    return Timing("engine (NumPy float64)", result.wall_time, result.eval_time,
                  result.steps_done, result.final_accuracy)


def torch_loop(task, seed, dtype_name):
    """The engine's loop, line for line, in torch."""
    import torch

    from engine.pytorch.twin import TorchTwin

    dtype = getattr(torch, dtype_name)
    config = default_config()
    twin = TorchTwin(Transformer(config, seed=seed))
    twin.modules.to(dtype)
    pe = twin.pe.to(dtype)
    scale = math.sqrt(config.d_model)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(DEFAULT_LENGTH, dtype=dtype)
    params = list(twin.modules.parameters())
    optimizer = torch.optim.Adam(params, lr=DEFAULT_LR["adam"])
    steps, lr, warmup = DEFAULT_STEPS, DEFAULT_LR["adam"], default_warmup(DEFAULT_STEPS)
    examples = held_out(task, DEFAULT_LENGTH)
    rng = np.random.default_rng(seed)

    def logits(src, tgt, tgt_mask):
        s = twin.src_embed(src) * scale + pe[: src.shape[1]]
        t = twin.tgt_embed(tgt) * scale + pe[: tgt.shape[1]]
        return twin.generator(twin.transformer(s, t, tgt_mask=tgt_mask))

    def evaluate():
        twin.modules.eval()
        src = torch.as_tensor(examples.src)
        tokens = torch.full((src.shape[0], 1), BOS, dtype=torch.int64)
        with torch.inference_mode():
            for length in range(1, DEFAULT_LENGTH + 1):
                causal = torch.nn.Transformer.generate_square_subsequent_mask(length, dtype=dtype)
                chosen = logits(src, tokens, causal)[:, -1].argmax(dim=-1)
                tokens = torch.cat([tokens, chosen[:, None]], dim=1)
        twin.modules.train()
        return float((tokens[:, 1:].numpy() == examples.tgt_out).all(axis=1).mean())

    accuracy, eval_time = None, 0.0
    start = time.perf_counter()
    for step in range(1, steps + 1):
        src, tgt_in, tgt_out = make_batch(task, DEFAULT_BATCH, DEFAULT_LENGTH, rng)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(step - 1, steps, lr, warmup)
        optimizer.zero_grad()
        out = logits(torch.as_tensor(src), torch.as_tensor(tgt_in), mask)
        loss = torch.nn.functional.cross_entropy(out.reshape(-1, config.vocab_size),
                                                 torch.as_tensor(tgt_out).reshape(-1))
        loss.backward()
        optimizer.step()
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"torch {dtype_name}: the loss became {loss.item()}")
        if step % DEFAULT_EVAL_EVERY == 0 or step == steps:
            tick = time.perf_counter()
            accuracy = evaluate()
            eval_time += time.perf_counter() - tick
    wall = time.perf_counter() - start
    return Timing(f"torch {dtype_name}", wall, eval_time, steps, accuracy)


def print_table(rows, engine):
    print(f"{'':24}{'wall s':>8}{'train s':>9}{'steps/s':>9}{'held-out':>10}{'time / engine':>15}")
    for r in rows:
        print(f"{r.label:24}{r.wall:8.2f}{r.train_time:9.2f}{r.steps / r.wall:9.0f}"
              f"{r.accuracy * 100:9.1f}%{r.wall / engine.wall:14.2f}×")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="reverse", choices=("copy", "reverse", "sort"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="rounds; the best of each is kept")
    parser.add_argument("--seeds", default="", help="also train the engine with these seeds, "
                        "e.g. 0,1,2, and report each one's held-out exact match")
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS and torch threads (default: their own defaults)")
    parser.add_argument("--no-torch", action="store_true", help="engine only")
    args = parser.parse_args(argv)

    memory = reuse_freed_memory()
    warnings.filterwarnings("ignore", message="enable_nested_tensor")
    kinds = ["engine"] if args.no_torch else ["engine", "float64", "float32"]
    if not args.no_torch:
        import torch
        if args.threads:
            torch.set_num_threads(args.threads)
        threads = torch.get_num_threads()
    print(f"tutor train --task {args.task} --seed {args.seed}: {DEFAULT_STEPS} steps, batch "
          f"{DEFAULT_BATCH}, Adam lr {DEFAULT_LR['adam']} (warm-up {default_warmup(DEFAULT_STEPS)},"
          f" cosine to a tenth), held-out exact match every {DEFAULT_EVAL_EVERY} steps on "
          f"{len(held_out(args.task).src)} sequences of length {DEFAULT_LENGTH}")
    print(f"reuse_freed_memory: {memory}; cores: {os.cpu_count()}; BLAS threads: "
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'default')}"
          + ("" if args.no_torch else f"; torch threads: {threads}"))

    best: dict[str, Timing] = {}
    for round_ in range(args.repeats):
        for kind in kinds:
            timing = (engine_loop(args.task, args.seed) if kind == "engine"
                      else torch_loop(args.task, args.seed, kind))
            print(f"  round {round_ + 1}: {timing.label:24} {timing.wall:6.2f} s, "
                  f"held-out {timing.accuracy:.1%}", flush=True)
            if kind not in best or timing.wall < best[kind].wall:
                best[kind] = timing
    engine = best["engine"]
    print()
    print_table([best[k] for k in kinds], engine)
    print()
    ok_time = engine.wall < TARGET_SECONDS
    print(f"target: under {TARGET_SECONDS:.0f} s with 100% held-out exact match — "
          f"{'met' if ok_time and engine.accuracy == 1.0 else 'NOT met'} "
          f"({engine.wall:.1f} s, {engine.accuracy:.1%})")
    for kind in kinds[1:]:
        ratio = best[kind].wall / engine.wall
        verdict = "met" if ratio > 1 else "NOT met"
        print(f"target: faster than the torch {kind} loop — {verdict} "
              f"(torch takes {ratio:.2f}× the engine's time; training alone "
              f"{best[kind].train_time / engine.train_time:.2f}×)")

    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if seeds:
        print()
        for seed in seeds:
            timing = engine_loop(args.task, seed)
            print(f"seed {seed}: held-out exact match {timing.accuracy:.1%} in {timing.wall:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
