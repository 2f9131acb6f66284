"""The triage store at fleet scale: N captures into the store, a re-run over them unchanged,
and the HTML report.

Makes N captures with the fleet builder (``tests/builders/fleet.py``), spread
over days (``--per-day`` captures a day), then measures, whole-process:

- the first ``minidump triage DIR --db DB --json --workers W``: every capture
  read and stored;
- ``--repeat`` re-runs over the same, unchanged captures: each must read
  nothing (stat and the stored fingerprints only); median and range of the
  wall time, and the CPU time (on a busy machine the wall time is mostly
  waiting for a CPU);
- ``--repeat`` runs of ``minidump report DB -o report.html``: median, range,
  and the page's size.

The load average and the compilers running are printed beside each, since
the machine is shared.

    python tools/bench_store.py /tmp/fleet10k --count 10000 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_triage import load, median_range, timed  # noqa: E402
from builders.fleet import DAY, EPOCH, make_fleet  # noqa: E402




def summary_of(proc: subprocess.CompletedProcess) -> dict:
    return json.loads(proc.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--per-day", type=int, default=1_000,
                        help="captures per day of uploads (their mtimes)")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="reuse DIRECTORY's captures")
    parser.add_argument("--keep-store", action="store_true",
                        help="reuse DIRECTORY's store too (no first run)")
    parser.add_argument("--minidump", default=shutil.which("minidump") or "minidump")
    args = parser.parse_args()
    top = Path(args.directory)
    uploads, db, page = top / "uploads", top / "fleet.sqlite", top / "report.html"
    if not (args.keep and uploads.is_dir()):
        if top.exists():
            shutil.rmtree(top)
        start = time.perf_counter()
        days = (args.count + args.per_day - 1) // args.per_day
        for day in range(days):
            count = min(args.per_day, args.count - day * args.per_day)
            made = top / "made" / f"day{day:03d}"
            make_fleet(made, count, epoch=EPOCH + day * DAY)
            uploads.mkdir(parents=True, exist_ok=True)
            os.replace(made, uploads / f"day{day:03d}")
        shutil.rmtree(top / "made")
        print(f"made {args.count} captures over {days} days in {time.perf_counter() - start:.0f} s")
    triage = [args.minidump, "triage", str(uploads), "--db", str(db), "--json",
              "--workers", str(args.workers)]
    if not (args.keep_store and db.exists()):
        for name in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), page):
            if name.exists():
                name.unlink()
        print(f"[{load()}]")
        wall, _, proc = timed(triage)
        first = summary_of(proc)
        assert first["store"]["read"] == args.count, first["store"]
        print(f"first run: {args.count} captures read and stored in {wall:.1f} s "
              f"({args.count / wall:.0f} captures/s, {args.workers} workers); store "
              f"{db.stat().st_size / 1e6:.1f} MB")
        timed(triage)                 # the stat keys settle (a touched file is hashed once)

    for argv, what in ((triage, "--json, every record printed"),):
        print(f"[{load()}]")
        walls, cpus, inner = [], [], []
        for _ in range(args.repeat):
            wall, cpu, proc = timed(argv)
            again = summary_of(proc)
            assert again["store"]["read"] == 0 and again["store"]["unchanged"] == args.count, \
                again["store"]
            walls.append(wall)
            cpus.append(cpu)
            inner.append(again["elapsed_s"])
        mid, low, high = median_range(walls)
        print(f"re-run ({what}), {args.count} unchanged captures, nothing read: median "
              f"{mid:.2f} s (range {low:.2f}-{high:.2f}) wall, {median_range(cpus)[0]:.2f} s "
              f"CPU, whole process; {median_range(inner)[0]:.2f} s from discovery to summary")

    print(f"[{load()}]")
    walls = []
    for _ in range(args.repeat):
        wall, _, proc = timed([args.minidump, "report", str(db), "-o", str(page), "--force"])
        assert proc.returncode == 0, proc.stderr
        walls.append(wall)
    mid, low, high = median_range(walls)
    print(f"report: median {mid:.2f} s (range {low:.2f}-{high:.2f}) for {args.count} captures; "
          f"report.html {page.stat().st_size / 1e3:.0f} kB")
    print(f"[{load()}]")


if __name__ == "__main__":
    main()
