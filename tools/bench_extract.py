#!/usr/bin/env python3
"""Benchmarks for ``minidump extract`` (issue 3), whole-process, with public tools only.

    python tools/bench_extract.py makedumpfile   # extract vs makedumpfile -E -d 31, same dump
    python tools/bench_extract.py sparse         # raw images of 1, 4, 16 GiB: time + peak RSS

Inputs come from tools/realkernel (``harness.py all``).  Each run is a fresh
process under ``/usr/bin/time -v`` (wall seconds, maximum resident set size);
the median of ``--runs`` is printed.  makedumpfile reads program headers at
``sizeof(Elf64_Ehdr)``, so it gets the harness's header-normalised copy of the
QEMU dump.  Sparse images are made with ``truncate`` and hold the capture's
512 MiB of RAM at physical 0; they live under ``--tmp`` and are deleted at the
end.  Extract reads them as ``FILE@0``, without a VMCOREINFO note (it is found
through ``vmcoreinfo_data``).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "tools" / "realkernel" / "harness.py"
EXTRACT = ("--regions", "v3-default", "--profile", "crash")


def harness():
    spec = importlib.util.spec_from_file_location("harness", HARNESS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timed(cmd: list[str]) -> tuple[float, int]:
    """(wall seconds, peak RSS KiB) of one run under /usr/bin/time -v."""
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, cwd=ROOT)
    if proc.returncode not in (0, 3):
        sys.exit(f"bench: {' '.join(cmd[:3])}... failed: {proc.stderr.strip()[-400:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    hours, minutes, seconds = wall.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds), int(rss.group(1))


def median_of(cmd: list[str], runs: int, before=None) -> tuple[float, int]:
    results = []
    for _ in range(runs):
        if before:
            before()
        results.append(timed(cmd))
    return statistics.median(r[0] for r in results), int(statistics.median(r[1] for r in results))


def extract_cmd(vmlinux: str, capture: str, out: str) -> list[str]:
    return [sys.executable, "-m", "minidump", "extract", "-q", "--force", "--vmlinux", vmlinux,
            capture, *EXTRACT, "-o", out]


def bench_makedumpfile(rec: dict, tmp: Path, runs: int) -> None:
    normalized = tmp / "normalized.vmcore"
    harness().normalized_elf_copy(Path(rec["vmcore"]), normalized)
    mini, filtered = tmp / "mini.vmcore", tmp / "filtered.vmcore"
    try:
        ours = median_of(extract_cmd(rec["vmlinux"], rec["vmcore"], str(mini)), runs)
        theirs = median_of(["makedumpfile", "-E", "-d", "31", str(normalized), str(filtered)],
                           runs, before=lambda: filtered.unlink(missing_ok=True))
        print(f"capture {rec['name']}: {rec['vmcore_bytes']} bytes")
        print(f"minidump extract --regions v3-default --profile crash: {ours[0]:.3f} s, "
              f"peak {ours[1] // 1024} MiB, output {mini.stat().st_size} bytes")
        print(f"makedumpfile -E -d 31: {theirs[0]:.3f} s, peak {theirs[1] // 1024} MiB, "
              f"output {filtered.stat().st_size} bytes")
        print(f"ratio: extract is {theirs[0] / ours[0]:.1f}x faster")
    finally:
        for path in (normalized, mini, filtered):
            path.unlink(missing_ok=True)


def ram_image(rec: dict, path: Path) -> None:
    """PT_LOAD 0 of the QEMU dump (physical 0..512 MiB) copied to offset 0 of ``path``."""
    sys.path.insert(0, str(ROOT))
    from minidump.elf.core import read_core
    load = next(l for l in read_core(rec["vmcore"]).loads if l.paddr == 0)
    with open(rec["vmcore"], "rb") as src, open(path, "wb") as dst:
        src.seek(load.offset)
        left = load.filesz
        while left:
            block = src.read(min(1 << 20, left))
            dst.write(block)
            left -= len(block)


def bench_sparse(rec: dict, tmp: Path, runs: int, sizes: list[int]) -> None:
    image, mini = tmp / "ram.img", tmp / "mini.vmcore"
    try:
        ram_image(rec, image)
        print(f"capture {rec['name']} RAM (512 MiB of data) in a sparse image at physical 0")
        print("| image | allocated | extract wall (median) | peak RSS |")
        print("| ---: | ---: | ---: | ---: |")
        for gib in sizes:
            os.truncate(image, gib << 30)  # sparse growth: the holes take no disk space
            wall, rss = median_of(extract_cmd(rec["vmlinux"], f"{image}@0", str(mini)), runs)
            allocated = os.stat(image).st_blocks * 512
            print(f"| {gib} GiB | {allocated >> 20} MiB | {wall:.3f} s | {rss // 1024} MiB |")
    finally:
        image.unlink(missing_ok=True)
        mini.unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("makedumpfile", "sparse"))
    parser.add_argument("--capture", default="cloud-amd64-kaslr")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="1,4,16", help="GiB, comma separated")
    parser.add_argument("--tmp", default="/tmp")
    args = parser.parse_args()
    captures = harness().available_captures()["captures"]
    if args.capture not in captures:
        sys.exit("bench: no capture; run python tools/realkernel/harness.py all")
    with tempfile.TemporaryDirectory(prefix="bench-extract-", dir=args.tmp) as tmp:
        if args.what == "makedumpfile":
            bench_makedumpfile(captures[args.capture], Path(tmp), args.runs)
        else:
            bench_sparse(captures[args.capture], Path(tmp), args.runs,
                         [int(s) for s in args.sizes.split(",")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
