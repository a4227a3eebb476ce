"""How fast is one recorded forward + backward, next to PyTorch eager?

Run from the repository root:

    python benchmarks/engine_speed.py             # both scales, ~1 minute
    python benchmarks/engine_speed.py --quick     # fewer repeats
    python benchmarks/engine_speed.py --threads 1 # one BLAS / torch thread each

For each scale it times ``Transformer.run`` — forward, loss and backward with the
full trace the tutor steps through — against ``TorchTwin.loss_and_grads`` on the
same weights (torch eager, float64 like the engine; float32 for reference), and
prints the median and 90th percentile after warm-up, the ratio engine / torch, the
memory the trace holds (every distinct array it keeps alive: tensor values,
upstream gradients, contributions, running totals, final gradients) and the peak
RSS of the process.

Targets: engine ≤ 1.0× torch float64 at both scales: tutor scale (vocab 12, d_model 32,
4 heads, d_ff 64, 2 + 2 layers, B 1, S = T = 8) and the bigger scale (d_model 256, 8
heads, d_ff 1024, 4 + 4 layers, B 4, S = T = 32).

Engine and torch runs are interleaved (engine, torch, engine, …) so that load from
other processes falls on both alike; the previous trace is dropped before the next
run, as the app holds one trace at a time. The engine runs as a library would: the
process-wide allocator setting ``engine.memory.reuse_freed_memory()`` is left off, and
the engine's own ``BufferPool`` (``engine.buffers``) reuses the big arrays. Two fresh
child processes then time the engine alone with that setting on and off, to show it
is no longer needed. Times vary with the machine and its load: read the ratios, not
the milliseconds.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import resource
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _threads_requested() -> str | None:
    """``--threads N`` must reach the BLAS libraries before numpy is imported."""
    if "--threads" in sys.argv[:-1]:
        return sys.argv[sys.argv.index("--threads") + 1]
    return None


if _threads_requested():
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = _threads_requested()

import numpy as np  # noqa: E402

from engine import ModelConfig, Transformer  # noqa: E402
from engine.memory import reuse_freed_memory  # noqa: E402


@dataclass(frozen=True)
class Scale:
    name: str
    config: ModelConfig
    batch: int
    src_len: int
    tgt_len: int
    repeats: int
    target: float  # the ratio engine / torch float64 to stay under


SCALES = (
    Scale("tutor", ModelConfig(12, 32, 4, 64, 2, 2, 16), 1, 8, 8, 300, 1.0),
    Scale("bigger", ModelConfig(12, 256, 8, 1024, 4, 4, 32), 4, 32, 32, 30, 1.0),
)
WARMUP = 5


def batch(scale: Scale):
    rng = np.random.default_rng(0)
    v = scale.config.vocab_size
    return (rng.integers(0, v, (scale.batch, scale.src_len)),
            rng.integers(0, v, (scale.batch, scale.tgt_len)),
            rng.integers(0, v, (scale.batch, scale.tgt_len)))


def trace_bytes(tape) -> tuple[int, int]:
    """Bytes of every distinct buffer the trace keeps alive (a view counts as its base),
    and how many of them are the parameters (shared with the model, not extra)."""
    seen: dict[int, int] = {}

    def add(array):
        if isinstance(array, np.ndarray):
            array = _base(array)
            seen[id(array)] = array.nbytes

    for t in tape.tensors:
        add(t.value)
        add(t.grad)
    for node in tape.nodes:
        for value in node.attrs.values():
            add(value)
        for value in node.saved if isinstance(node.saved, tuple) else (node.saved,):
            add(value)
    for step in tape.steps:
        add(step.upstream)
        for c in step.contributions:
            add(c.value)
            add(c.before)
            add(c.after)
    params = {id(_base(t.value)): t.value.nbytes for t in tape.tensors if t.kind == "param"}
    return sum(seen.values()), sum(params.values())


def _base(array: np.ndarray) -> np.ndarray:
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def stats(seconds: list[float]) -> tuple[float, float]:
    ms = np.array(seconds) * 1e3
    return float(np.median(ms)), float(np.percentile(ms, 90))


def time_interleaved(functions: dict, repeats: int) -> dict[str, list[float]]:
    """Run each function in turn, ``WARMUP + repeats`` rounds; the result of one call is
    dropped (and collected) before the next call of the same function."""
    times = {name: [] for name in functions}
    held = {name: None for name in functions}
    for round_ in range(WARMUP + repeats):
        for name, fn in functions.items():
            held[name] = None
            gc.collect()  # a trace is a web of cycles: free it now, not mid-measurement
            start = time.perf_counter()
            held[name] = fn()
            elapsed = time.perf_counter() - start
            if round_ >= WARMUP:
                times[name].append(elapsed)
    return times


class Float32Twin:
    """The torch twin cast to float32 (the mask too), for a reference figure only."""

    def __init__(self, model):
        from engine.pytorch.twin import TorchTwin

        self.twin = TorchTwin(model)
        self.twin.modules.float()
        self.twin.pe = self.twin.pe.float()
        self.torch = self.twin.torch

    def loss_and_grads(self, src, tgt_in, tgt_out):
        torch, twin = self.torch, self.twin
        for p in twin.modules.parameters():
            p.grad = None
        src, tgt_in, tgt_out = (torch.as_tensor(np.asarray(a)) for a in (src, tgt_in, tgt_out))
        scale = math.sqrt(twin.config.d_model)
        s = twin.src_embed(src) * scale + twin.pe[: src.shape[1]]
        t = twin.tgt_embed(tgt_in) * scale + twin.pe[: tgt_in.shape[1]]
        mask = torch.nn.Transformer.generate_square_subsequent_mask(tgt_in.shape[1],
                                                                    dtype=torch.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logits = twin.generator(twin.transformer(s, t, tgt_mask=mask))
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 tgt_out.reshape(-1))
        loss.backward()
        grads = {n: p.grad.detach().numpy().copy() for n, p in twin.named_parameters().items()}
        return float(loss.detach()), grads


def engine_only(repeats_scale: float) -> dict:
    """The engine alone at every scale (for the child run with memory reuse off)."""
    out = {}
    for scale in SCALES:
        model = Transformer(scale.config, seed=0)
        data = batch(scale)
        times = time_interleaved({"engine": lambda: model.run(*data)},
                                 max(3, int(scale.repeats * repeats_scale)))
        out[scale.name] = stats(times["engine"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a fifth of the repeats")
    parser.add_argument("--threads", type=int, help="threads for numpy's BLAS and for torch "
                        "(default: each library's own default)")
    parser.add_argument("--engine-only-json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--reuse", choices=("on", "off"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    repeats_scale = 0.2 if args.quick else 1.0
    if args.engine_only_json:  # a child: the engine alone, memory reuse as asked
        if args.reuse == "on":
            reuse_freed_memory()
        print(json.dumps(engine_only(repeats_scale)))
        return

    from engine.pytorch import import_torch
    from engine.pytorch.twin import TorchTwin

    torch = import_torch()
    if args.threads:
        torch.set_num_threads(args.threads)
    print("engine.memory.reuse_freed_memory(): off (the engine as a library; "
          "engine.buffers reuses its big arrays)")
    print(f"numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} "
          f"threads), {os.cpu_count()} CPUs; engine and torch runs interleaved")
    load = os.getloadavg()[0]
    if load > 0.5 * (os.cpu_count() or 1):
        print(f"note: the machine is busy (load average {load:.1f} on {os.cpu_count()} CPUs); "
              "times will be noisy, multi-threaded ones most (try --threads 1)")
    print()
    results = {}
    for scale in SCALES:
        c = scale.config
        model = Transformer(c, seed=0)
        data = batch(scale)
        twin, twin32 = TorchTwin(model), Float32Twin(model)
        repeats = max(3, int(scale.repeats * repeats_scale))
        times = time_interleaved({"engine": lambda: model.run(*data),
                                  "torch64": lambda: twin.loss_and_grads(*data),
                                  "torch32": lambda: twin32.loss_and_grads(*data)}, repeats)
        run = model.run(*data)
        held, params = trace_bytes(run.tape)
        rows = {name: stats(t) for name, t in times.items()}
        ratio = rows["engine"][0] / rows["torch64"][0]
        results[scale.name] = rows
        print(f"{scale.name} scale: d_model {c.d_model}, {c.n_heads} heads, d_ff {c.d_ff}, "
              f"{c.n_encoder_layers}+{c.n_decoder_layers} layers, B {scale.batch}, "
              f"S {scale.src_len}, T {scale.tgt_len}; {repeats} runs after {WARMUP} warm-up")
        labels = {"engine": "engine (full trace)", "torch64": "torch eager float64",
                  "torch32": "torch eager float32"}
        for name, (median, p90) in rows.items():
            print(f"  {labels[name]:<22} median {median:9.2f} ms   p90 {p90:9.2f} ms")
        verdict = "meets" if ratio <= scale.target else "MISSES"
        print(f"  engine / torch float64: {ratio:.2f}x   (target <= {scale.target:.1f}x: "
              f"{verdict} it)")
        print(f"  engine / torch float32: {rows['engine'][0] / rows['torch32'][0]:.2f}x "
              "(reference only)")
        print(f"  trace holds {held / 2**20:.2f} MiB ({params / 2**20:.2f} MiB of it the "
              f"parameters, shared with the model) in {len(run.tape.nodes)} nodes and "
              f"{len(run.tape.steps)} backward steps; peak RSS so far {peak_rss_mb():.0f} MB\n")
        del run

    children = {reuse: engine_child(reuse, args) for reuse in ("on", "off")}
    if all(isinstance(c, dict) for c in children.values()):
        print("the engine alone in two fresh processes (no torch loaded), "
              "reuse_freed_memory() on / off:")
        for name in children["on"]:
            (on, on90), (off, off90) = children["on"][name], children["off"][name]
            print(f"  {name:<7} on: median {on:8.2f} ms, p90 {on90:8.2f} ms   off: median "
                  f"{off:8.2f} ms, p90 {off90:8.2f} ms   off / on = {off / on:.2f}x")
    else:
        print("a child run failed:", *[c for c in children.values() if isinstance(c, str)])


def engine_child(reuse: str, args) -> dict | str:
    """Engine-only timings from a fresh process (malloc settings cannot be undone)."""
    command = [sys.executable, __file__, "--engine-only-json", "--reuse", reuse]
    command += (["--quick"] if args.quick else []) + (["--threads", str(args.threads)]
                                                      if args.threads else [])
    child = subprocess.run(command, capture_output=True, text=True, check=False)
    return json.loads(child.stdout) if child.returncode == 0 else child.stderr


if __name__ == "__main__":
    main()
