"""``minidump triage PATH...``: many captures at once, grouped by crash signature.

A thin adapter over :mod:`minidump.fleet`: find the captures, run
:func:`~minidump.fleet.triage.triage_one` on each in a local worker pool (or
on Dask with ``--scheduler``), and hand the records and their summary to the
report.  Exit status 0 when every capture was read whole, 3 when some were
partial or errors (they are in the output), 130 when interrupted (what was
done is printed), 1 when the run itself failed.
"""

from __future__ import annotations

import argparse
import time

from minidump.cli import ExitCode, HelpFormatter
from minidump.commands import COMMANDS
from minidump.errors import UsageError
from minidump.report import Document

EXAMPLES = """\
examples:
  minidump triage captures/                     # every capture under captures/, grouped by crash
  minidump triage captures/ --json > out.jsonl  # one JSON line per capture, then the summary
  minidump triage captures/ --workers 8 --timeout 30
  minidump triage captures/ --scheduler local:4              # a Dask LocalCluster of 4 processes
  minidump triage /shared/captures --scheduler tcp://sched:8786   # a Dask cluster, shared FS
what is a capture: a md_*.BIN directory, a Raw_Dmp! image, an item-602 blob, an ELF vmcore, or
  a directory holding MEMORY.txt (RAM images: one FILE@PADDR per line; a bare FILE line names
  the input holding the SMEM table or the item-602 blob, else the first image is the input)
exit status: 0 every capture read whole, 3 some partial or errors (listed), 130 interrupted,
  1 the run failed
"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "triage", help=COMMANDS["triage"],
        description="Read many captures in one run (directories are searched recursively; "
                    "each capture once) and report, per capture, its container, status, "
                    "release, build-id, arch, uptime, crash event and signature, regions "
                    "written and lost; then the crashes grouped by signature, newest first.",
        epilog=EXAMPLES, formatter_class=HelpFormatter)
    p.add_argument("paths", metavar="PATH", nargs="+",
                   help="a capture, or a directory searched for captures")
    p.add_argument("--workers", metavar="N", type=int, default=None,
                   help="worker processes (default: the CPU count)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on Dask: a scheduler address (tcp://host:8786), or local:N for "
                        "a LocalCluster of N processes (needs the distributed package)")
    p.add_argument("--timeout", metavar="SECONDS", type=float, default=60.0,
                   help="give up on a capture after this long (default 60; 0: never)")
    p.add_argument("--memory-limit", metavar="MIB", type=int, default=2048,
                   help="address-space cap of each local worker (default 2048; 0: none)")
    return p


def run(args) -> tuple[Document, ExitCode]:
    from minidump.fleet.discover import discover
    from minidump.fleet.summary import newest_first, summarize
    from minidump.report import Counter

    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers {args.workers}: expected 1 or more")
    if args.timeout < 0 or args.memory_limit < 0:
        raise UsageError("--timeout and --memory-limit must not be negative")
    if args.scheduler:
        from minidump.fleet.dask import require
        require()
    start = time.monotonic()
    found = discover(args.paths)
    timeout = args.timeout or None
    with Counter(len(found.specs), "triage", enabled=not args.json) as advance:
        on_record = (lambda rec: advance(1)) if advance else None
        if args.scheduler:
            from minidump.fleet.dask import run_dask
            records, interrupted = run_dask(found.specs, args.scheduler, timeout=timeout,
                                            on_record=on_record)
            engine = f"dask {args.scheduler}"
        else:
            from minidump.fleet.local import LocalPool
            pool = LocalPool(args.workers, timeout=timeout,
                             memory_limit=args.memory_limit << 20 or None)
            records, interrupted = pool.run(found.specs, on_record)
            engine = f"local, {pool.workers} worker processes"
    summary = summarize(records, skipped=found.skipped, interrupted=interrupted, engine=engine,
                        elapsed_s=time.monotonic() - start)
    document = Document("triage", {"records": newest_first(records), "summary": summary},
                        args.json)
    if interrupted:
        return document, ExitCode.INTERRUPTED
    whole = all(rec["status"] == "ok" for rec in records)
    return document, ExitCode.OK if whole else ExitCode.LOST


__all__ = ["add_parser", "run"]
