"""Fleet throughput: ``minidump triage`` on N generated captures against one process per capture.

Makes N captures from the sample (``tests/builders/fleet.py``: md_*.BIN
directories, Raw_Dmp! images, ELF vmcores and RAM-image sets, five crash
texts, three releases, one in 20 damaged), then measures, whole-process and
with the page cache warm:

- the baseline: one ``minidump info --json CAPTURE`` process per capture, one
  after another (one core), on ``--baseline`` captures spread over the set;
- ``minidump triage DIR --json --workers W`` on all N.

Throughput per core is captures per second divided by the cores busy: 1 for
the baseline, W for triage (W = the CPU count by default).

    python tools/bench_triage.py /tmp/fleet --count 1000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from builders.fleet import make_fleet  # noqa: E402  (the builder the tests use too)


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    cpu, start = cpu_of_children(), time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    return time.perf_counter() - start, cpu_of_children() - cpu, proc


def info_argv(minidump: str, path: str) -> list[str]:
    """``minidump info --json`` for one capture (a RAM-image set with its --memory options)."""
    memory = Path(path) / "MEMORY.txt"
    if memory.is_file():
        images = [f"{Path(path) / line}" for line in memory.read_text().split()]
        return [minidump, "info", "--json", images[0].rpartition("@")[0],
                *(a for image in images for a in ("--memory", image))]
    return [minidump, "info", "--json", path]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=100,
                        help="captures the one-process-per-capture baseline runs on")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--repeat", type=int, default=5, help="triage runs (the median counts)")
    parser.add_argument("--minidump", default=shutil.which("minidump") or "minidump")
    parser.add_argument("--make-only", action="store_true",
                        help="only make the captures (as the fleet how-to does), run nothing")
    args = parser.parse_args()
    root = Path(args.directory)
    if root.exists():
        shutil.rmtree(root)
    truth = make_fleet(root, args.count)
    sizes = []
    for path in truth:
        p = Path(path)
        files = list(p.iterdir()) if p.is_dir() else [p]
        sizes.append(sum(f.stat().st_size for f in files))
    print(f"{args.count} captures in {root}: mean {sum(sizes) / len(sizes) / 1e6:.2f} MB "
          f"(logical), {sum(1 for t in truth.values() if t['status'] != 'ok')} damaged")
    if args.make_only:
        return

    triage = [args.minidump, "triage", str(root), "--json", "--workers", str(args.workers)]
    timed(triage)                                               # warm the page cache
    runs = sorted((timed(triage) for _ in range(args.repeat)), key=lambda run: run[0])
    wall, cpu, proc = runs[len(runs) // 2]                      # the median run
    records = [json.loads(line) for line in proc.stdout.splitlines()][:-1]
    assert len(records) == args.count, (len(records), proc.stderr)
    rate = args.count / wall
    print(f"triage (median of {args.repeat}): {wall:.2f} s wall for {args.count} captures with {args.workers} workers: "
          f"{rate:.1f} captures/s, {rate / args.workers:.1f} captures/s/core")

    step = max(1, args.count // args.baseline)
    sample = list(truth)[::step][:args.baseline]
    walls, cpus = 0.0, 0.0
    for path in sample:
        w, c, _ = timed(info_argv(args.minidump, path))
        walls, cpus = walls + w, cpus + c
    base = len(sample) / walls
    print(f"baseline: one `minidump info --json` process per capture on {len(sample)} "
          f"captures: {walls / len(sample) * 1e3:.1f} ms wall, {cpus / len(sample) * 1e3:.1f} "
          f"ms CPU per capture: {base:.2f} captures/s/core")
    print(f"triage per core / baseline per core: {rate / args.workers / base:.1f}x")


if __name__ == "__main__":
    main()
