"""Fleet throughput: ``minidump triage`` on N generated captures against one process per capture.

Makes N captures from the sample (``tests/builders/fleet.py``: md_*.BIN
directories, Raw_Dmp! images, ELF vmcores and RAM-image sets, five crash
texts, three releases, one in 20 damaged), then measures, whole-process and
with the page cache warm:

- the baseline: one ``minidump info --json CAPTURE`` process per capture, one
  after another (one core), on ``--baseline`` captures spread over the set;
- ``minidump triage DIR --json --workers W`` on all N, for each W given
  (``--workers 1 2``), ``--repeat`` times each: median and range.

Throughput per core is captures per second divided by the cores busy: 1 for
the baseline, W for triage.  The machine's load average is printed before
each measurement, with the compilers running (a kernel build shares the
machine), since both skew every figure.

    python tools/bench_triage.py /tmp/fleet --count 1000 --workers 1 2
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


def load() -> str:
    """The load average and how many compiler processes run beside us (a kernel build?)."""
    compilers = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/comm") as fh:
                    compilers += fh.read().strip() in ("cc1", "cc1plus", "ld", "as", "rustc")
            except OSError:
                pass
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} (1 min), {five:.2f} (5 min), {compilers} compiler processes"


def median_range(values: list[float]) -> tuple[float, float, float]:
    values = sorted(values)
    return values[len(values) // 2], values[0], values[-1]


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
    parser.add_argument("--workers", type=int, nargs="+", default=[1, os.cpu_count() or 1])
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

    rates = {}
    for workers in args.workers:
        triage = [args.minidump, "triage", str(root), "--json", "--workers", str(workers)]
        timed(triage)                                           # warm the page cache
        print(f"[{load()}]")
        runs = [timed(triage) for _ in range(args.repeat)]
        records = [json.loads(line) for line in runs[0][2].stdout.splitlines()][:-1]
        assert len(records) == args.count, (len(records), runs[0][2].stderr)
        wall, low, high = median_range([r[0] for r in runs])
        # in-worker time per capture (the records' timings): if it grows with the worker
        # count, the cores were not free (other jobs), whatever the pool does
        busy = [[(json.loads(line).get("timings") or {}).get("total_s") or 0.0
                 for line in r[2].stdout.splitlines()[:-1]] for r in runs]
        per_capture = median_range([median_range(b)[0] for b in busy])[0]
        parallel = median_range([sum(b) / r[0] for b, r in zip(busy, runs)])[0]
        rate = args.count / wall
        rates[workers] = rate
        print(f"triage --workers {workers}: median {wall:.2f} s (range {low:.2f}-{high:.2f}) "
              f"wall for {args.count} captures: {rate:.1f} captures/s "
              f"(range {args.count / high:.1f}-{args.count / low:.1f}), "
              f"{rate / workers:.1f} captures/s/core; in a worker {per_capture * 1e3:.1f} ms "
              f"per capture (median), workers busy {parallel:.2f} of {workers}")

    step = max(1, args.count // args.baseline)
    sample = list(truth)[::step][:args.baseline]
    print(f"[{load()}]")
    walls, cpus = [], []
    for path in sample:
        w, c, _ = timed(info_argv(args.minidump, path))
        walls.append(w)
        cpus.append(c)
    per, low, high = median_range(walls)
    base = 1 / per
    print(f"baseline: one `minidump info --json` process per capture on {len(sample)} "
          f"captures: median {per * 1e3:.1f} ms wall (range {low * 1e3:.1f}-{high * 1e3:.1f}), "
          f"{median_range(cpus)[0] * 1e3:.1f} ms CPU per capture: {base:.2f} captures/s/core")
    for workers, rate in rates.items():
        print(f"triage --workers {workers}: per core / baseline per core: "
              f"{rate / workers / base:.1f}x")
    print(f"[{load()}]")


if __name__ == "__main__":
    main()
