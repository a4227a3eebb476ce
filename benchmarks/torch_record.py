"""How long `tutor torch` takes to record a GPT-style model, and how much memory it holds.

    python benchmarks/torch_record.py [--repeats N]

For the GPT fixture (tests/fixtures/torch_models/gpt.py: `make`, 2 blocks of width 8; and
`larger`, 4 blocks of width 64, 4 heads, batch 2 × 32 tokens) it prints, each in fresh child
processes:

- the time of one plain forward + loss.backward() in torch (the baseline; one torch
  thread throughout), the time of
  `record_module` (the first call, which warms up the dispatch machinery, and the median
  of the next N), and their ratio;
- the time of the whole `--check` (record, a plain backward, every step op by op);
- the peak RSS of a process that builds the model and runs it plainly, beside one that
  then records it once and one that checks it, and the numbers the record keeps (values
  and gradients, float64).

No assertions: figures for the closing note and for regressions. Times vary with the
machine and its load: read the ratios.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD = r"""
import importlib.util, json, resource, statistics, sys, time
sys.path.insert(0, {root!r})
import torch
torch.set_num_threads(1)
spec = importlib.util.spec_from_file_location("gpt", {fixture!r})
gpt = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpt)
factory, mode, repeats = getattr(gpt, {factory!r}), {mode!r}, {repeats!r}

def plain():
    model, idx, loss_fn = factory()
    start = time.perf_counter()
    loss_fn(model(idx)).backward()
    return time.perf_counter() - start

plain()
baseline = statistics.median(plain() for _ in range(repeats))
out = dict(baseline=baseline)
if mode == "record":
    from engine.pytorch.record import record_module
    made = factory()
    start = time.perf_counter()
    rec = record_module(*made)
    out["first"] = time.perf_counter() - start
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.update(nodes=len(rec.nodes), steps=len(rec.steps), numbers=rec.elements)
    times = []
    for _ in range(repeats):
        rec = made = None
        made = factory()
        start = time.perf_counter()
        rec = record_module(*made)
        times.append(time.perf_counter() - start)
    out["median"] = statistics.median(times)
if mode == "check":
    from engine.pytorch.check import check_model
    made = factory()
    start = time.perf_counter()
    result = check_model(*made)
    out.update(check=time.perf_counter() - start, check_ok=result.ok)
out.setdefault("peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps(out))
"""


def child(factory: str, mode: str, repeats: int) -> dict:
    code = CHILD.format(root=str(ROOT), fixture=str(ROOT / "tests/fixtures/torch_models/gpt.py"),
                        factory=factory, mode=mode, repeats=repeats)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for factory in ("make", "larger"):
        bare = child(factory, "plain", args.repeats)
        full = child(factory, "record", args.repeats)
        check = child(factory, "check", 1)
        print(f"gpt.py:{factory}: {full['nodes']} forward ops, {full['steps']} backward steps, "
              f"{full['numbers']:,} numbers kept ({full['numbers'] * 8 / 2**20:.1f} MiB "
              "as float64)")
        print(f"  plain forward + backward  {bare['baseline'] * 1e3:8.1f} ms")
        print(f"  record (first call)       {full['first'] * 1e3:8.1f} ms")
        print(f"  record (median of {args.repeats})      {full['median'] * 1e3:8.1f} ms   "
              f"{full['median'] / bare['baseline']:.0f}× the plain run")
        print(f"  --check (all of it)       {check['check'] * 1e3:8.1f} ms   "
              f"{'all match' if check['check_ok'] else 'MISMATCH'}")
        print(f"  peak RSS                  {bare['peak_rss_mb']:8.1f} MB plain runs, "
              f"{full['peak_rss_mb']:.1f} MB recording once "
              f"(+{full['peak_rss_mb'] - bare['peak_rss_mb']:.1f} MB), "
              f"{check['peak_rss_mb']:.1f} MB checking")


if __name__ == "__main__":
    main()
