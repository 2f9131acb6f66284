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
  minidump triage captures/ --db fleet.sqlite   # keep the records; a re-run reads only new ones
  minidump report fleet.sqlite -o report.html   # then one HTML page of the whole store
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
                   help="address-space cap of each process reading captures, local or on "
                        "Dask with --timeout (default 2048; 0: none)")
    p.add_argument("--db", metavar="FILE",
                   help="keep every record in this SQLite store (created if absent): a re-run "
                        "reads only new or changed captures, and the summary covers every "
                        "capture the store holds, across runs")
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
    if args.scheduler:
        engine = f"dask {args.scheduler}"
    else:
        from minidump.fleet.local import LocalPool
        pool = LocalPool(args.workers, timeout=timeout,
                         memory_limit=args.memory_limit << 20 or None)
        engine = f"local, {pool.workers} worker processes"
    store = plan = writer = None
    specs = found.specs
    if args.db:
        from minidump.fleet.store import Store, Writer
        store = Store(args.db)
        found.skipped = [p for p in found.skipped if not _is_store_file(p, args.db)]
        run_id = store.begin_run(args.paths, engine)
        plan = store.plan(found.specs, run_id)
        specs = plan.read
        writer = Writer(store, run_id, plan)
    try:
        with Counter(len(specs), "triage", enabled=not args.json) as advance:
            def on_record(rec: dict) -> None:
                if writer is not None:
                    writer.add(rec)
                if advance:
                    advance(1)
            if args.scheduler:
                from minidump.fleet.dask import run_dask
                read, interrupted = run_dask(
                    specs, args.scheduler, timeout=timeout, on_record=on_record,
                    memory_limit=args.memory_limit << 20 or None) if specs else ([], False)
            else:
                read, interrupted = pool.run(specs, on_record)
        if store is None:
            records, every = read, read
        else:
            writer.flush()
            fresh = iter(read)
            records = [plan.kept[i] if i in plan.kept else next(fresh)
                       for i in range(len(found.specs))]
            store.end_run(run_id, found=len(found.specs), read=len(read), moved=plan.moved,
                          unchanged=plan.unchanged, interrupted=interrupted)
            every = list(store.records())
        summary = summarize(every, skipped=found.skipped, interrupted=interrupted,
                            engine=engine, elapsed_s=time.monotonic() - start)
        if store is not None:
            summary["store"] = {"path": args.db, "schema_version": store.version, "run": run_id,
                                "found": len(found.specs), "read": len(read),
                                "moved": plan.moved, "unchanged": plan.unchanged,
                                "runs": len(store.runs())}
    finally:
        if store is not None:
            store.close()
    document = Document("triage", {"records": newest_first(records), "summary": summary},
                        args.json)
    if interrupted:
        return document, ExitCode.INTERRUPTED
    whole = all(rec["status"] == "ok" for rec in records)   # this run's captures
    return document, ExitCode.OK if whole else ExitCode.LOST


def _is_store_file(path: str, db: str) -> bool:
    """The store itself or SQLite's files beside it (never listed as skipped captures)."""
    import os
    base = os.path.abspath(db)
    return os.path.abspath(path) in (base, base + "-wal", base + "-shm", base + "-journal")


__all__ = ["add_parser", "run"]
