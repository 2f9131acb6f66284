#!/usr/bin/env python3
"""Benchmarks for ``minidump extract`` (issue 3), whole-process, with public tools only.

    python tools/bench_extract.py makedumpfile   # extract vs makedumpfile -E -d 31, same dump
    python tools/bench_extract.py sparse         # raw images of 1, 4, 16 GiB: time + peak RSS
    python tools/bench_extract.py scale          # 0.5 / 4 / 16 GiB QEMU dumps: extract vs
                                                 # makedumpfile -E -d 31 and -c -d 31 (issue 14)

Inputs come from tools/realkernel (``harness.py all``).  Each run is a fresh
process under ``/usr/bin/time -v`` (wall seconds, maximum resident set size);
the median of ``--runs`` is printed.  makedumpfile reads program headers at
``sizeof(Elf64_Ehdr)``, so it gets the harness's header-normalised copy of the
QEMU dump.  Sparse images are made with ``truncate`` and hold the capture's
512 MiB of RAM at physical 0; they live under ``--tmp`` and are deleted at the
end.  Extract reads them as ``FILE@0``, without a VMCOREINFO note (it is found
through ``vmcoreinfo_data``).

``scale`` takes real dumps of several guest sizes (``harness.py capture --nokaslr
--memory 4G`` / ``16G``; ``--captures`` names them) and, per dump, times
``extract``, ``makedumpfile -E -d 31`` and ``makedumpfile -c -d 31`` (kdump-
compressed).  makedumpfile gets a header-normalised copy of the dump, made next
to the outputs under ``--tmp`` (as large as the dump) and deleted before the next
size.  Before each run ``fincore`` says how much of the input is in the page
cache (the table's ``cached`` columns); ``--cold`` adds runs after
``posix_fadvise(DONTNEED)`` has dropped the input file (dump or copy; not the
vmlinux) from the cache.  ``--mdf-runs`` caps the makedumpfile runs per dump
(its 16 GiB runs are the slow ones).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import time
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
    """tools/realkernel/harness.py as a module (registered first: its dataclasses need that)."""
    if "harness" not in sys.modules:
        spec = importlib.util.spec_from_file_location("harness", HARNESS)
        module = importlib.util.module_from_spec(spec)
        sys.modules["harness"] = module
        spec.loader.exec_module(module)
    return sys.modules["harness"]


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


def fincore_fraction(path: Path) -> float | None:
    """Fraction of ``path`` in the page cache (util-linux fincore), None without fincore."""
    if not shutil.which("fincore"):
        return None
    proc = subprocess.run(["fincore", "-b", "-n", "-o", "RES", str(path)],
                          capture_output=True, text=True)
    if proc.returncode or not proc.stdout.strip():
        return None
    return int(proc.stdout.split()[0]) / max(1, path.stat().st_size)


def drop_from_cache(path: Path) -> None:
    """Evict one file's clean pages from the page cache (no global drop_caches)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def runs_of(cmd: list[str], runs: int, watch: Path, cold: bool, before=None) -> dict:
    """``runs`` timed runs of ``cmd``: every wall time, peak RSS and cache residency."""
    walls, rsss, cached = [], [], []
    for _ in range(runs):
        if before:
            before()
        if cold:
            drop_from_cache(watch)
        fraction = fincore_fraction(watch)
        if fraction is not None:
            cached.append(fraction)
        wall, rss = timed(cmd)
        walls.append(wall)
        rsss.append(rss)
    return {"walls": walls, "median": statistics.median(walls), "min": min(walls),
            "max": max(walls), "rss_kib": int(statistics.median(rsss)),
            "cached": statistics.median(cached) if cached else None}


def bench_scale(captures: dict, names: list[str], tmp: Path, runs: int, mdf_runs: int,
                cold: bool) -> list[dict]:
    rows = []
    for name in names:
        rec = captures[name]
        vmcore = Path(rec["vmcore"])
        size = vmcore.stat().st_size
        free = shutil.disk_usage(tmp).free
        if free < size + (2 << 30):
            sys.exit(f"bench: {tmp}: {free >> 30} GiB free, the normalised copy of {name} "
                     f"needs {size >> 30} GiB")
        mini, normalized = tmp / "mini.vmcore", tmp / "normalized.vmcore"
        elf_out, kdump_out = tmp / "mdf-E.vmcore", tmp / "mdf-c.kdump"
        row = {"capture": name, "memory": rec.get("memory", "512M"), "vmcore_bytes": size}
        try:
            for mode in (("warm", False), ("cold", True))[: 2 if cold else 1]:
                label, drop = mode
                print(f"[bench] {name}: extract x{runs} ({label})", file=sys.stderr, flush=True)
                row[f"extract_{label}"] = runs_of(
                    extract_cmd(rec["vmlinux"], str(vmcore), str(mini)), runs, vmcore, drop)
            row["extract_bytes"] = mini.stat().st_size
            print(f"[bench] {name}: normalised copy for makedumpfile", file=sys.stderr, flush=True)
            start = time.monotonic()
            harness().normalized_elf_copy(vmcore, normalized)
            row["normalize_seconds"] = time.monotonic() - start
            for mode in (("warm", False), ("cold", True))[: 2 if cold else 1]:
                label, drop = mode
                for flag, out in (("-E", elf_out), ("-c", kdump_out)):
                    print(f"[bench] {name}: makedumpfile {flag} -d 31 x{mdf_runs} ({label})",
                          file=sys.stderr, flush=True)
                    row[f"mdf{flag}_{label}"] = runs_of(
                        ["makedumpfile", flag, "-d", "31", str(normalized), str(out)], mdf_runs,
                        normalized, drop, before=lambda out=out: out.unlink(missing_ok=True))
            row["mdf-E_bytes"] = elf_out.stat().st_size
            row["mdf-c_bytes"] = kdump_out.stat().st_size
        finally:
            for path in (mini, normalized, elf_out, kdump_out):
                path.unlink(missing_ok=True)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def _spread(result: dict) -> str:
    text = f"{result['median']:.2f} ({result['min']:.2f}–{result['max']:.2f})"
    if result["cached"] is not None:
        text += f" [{result['cached']:.0%}]"
    return text


def print_scale(rows: list[dict], runs: int, mdf_runs: int) -> None:
    labels = [l for l in ("warm", "cold") if f"extract_{l}" in rows[0]]
    print(f"Wall seconds, whole process: median (min–max) [median share of the input file in "
          f"the page cache before a run, fincore]; extract x{runs}, makedumpfile x{mdf_runs} "
          f"per cell. warm: back-to-back runs, nothing evicted; cold: the input file dropped "
          f"from the cache (posix_fadvise DONTNEED) before every run, the vmlinux not. "
          f"makedumpfile reads a header-normalised copy of the dump.")
    print()
    print("| dump | cache | extract s | makedumpfile -E -d 31 s | makedumpfile -c -d 31 s "
          "| -E / extract | -c / extract | output bytes: extract / -E / -c "
          "| peak RSS MiB: extract / -E / -c |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        for label in labels:
            ex, me, mc = row[f"extract_{label}"], row[f"mdf-E_{label}"], row[f"mdf-c_{label}"]
            print(f"| {row['memory']} ({row['vmcore_bytes']:,} B) | {label} | {_spread(ex)} "
                  f"| {_spread(me)} | {_spread(mc)} | {me['median'] / ex['median']:.1f}x "
                  f"| {mc['median'] / ex['median']:.1f}x "
                  f"| {row['extract_bytes']:,} / {row['mdf-E_bytes']:,} / {row['mdf-c_bytes']:,} "
                  f"| {ex['rss_kib'] // 1024} / {me['rss_kib'] // 1024} / {mc['rss_kib'] // 1024} |")
    print()
    for row in rows:
        print(f"{row['capture']}: normalised copy took {row['normalize_seconds']:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("makedumpfile", "sparse", "scale"))
    parser.add_argument("--capture", default="cloud-amd64-kaslr")
    parser.add_argument("--captures", default="cloud-amd64-nokaslr,cloud-amd64-nokaslr-4G,"
                        "cloud-amd64-nokaslr-16G", help="scale: capture names, comma separated")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mdf-runs", type=int, default=3,
                        help="scale: makedumpfile runs per dump and mode")
    parser.add_argument("--cold", action="store_true",
                        help="scale: also time runs with the input file dropped from the cache")
    parser.add_argument("--json", help="scale: also write the measurements to this file")
    parser.add_argument("--sizes", default="1,4,16", help="GiB, comma separated")
    parser.add_argument("--tmp", default="/tmp")
    args = parser.parse_args()
    captures = harness().available_captures()["captures"]
    if args.what == "scale":
        names = args.captures.split(",")
        missing = [n for n in names if n not in captures]
        if missing:
            sys.exit(f"bench: no capture {', '.join(missing)}; run python "
                     "tools/realkernel/harness.py capture --nokaslr --memory 4G (or 16G)")
        with tempfile.TemporaryDirectory(prefix="bench-extract-", dir=args.tmp) as tmp:
            rows = bench_scale(captures, names, Path(tmp), args.runs, args.mdf_runs, args.cold)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
        print_scale(rows, args.runs, args.mdf_runs)
        return 0
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
