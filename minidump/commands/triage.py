"""``minidump triage PATH...``: many captures at once, grouped by crash signature.

A thin adapter over :mod:`minidump.fleet`: find the captures, run
:func:`~minidump.fleet.triage.triage_one` on each in a local worker pool (or
on Dask with ``--scheduler``), and hand the records and their summary to the
report.  Exit status 0 when every capture was read whole, 3 when some were
partial or errors (they are in the output), 128+N when stopped by signal N (what was
done is printed), 1 when the run itself failed.
"""

from __future__ import annotations

import argparse
import time

from minidump.cli import ExitCode, HelpFormatter
from minidump.commands import COMMANDS
from minidump.errors import UsageError  # noqa: F401 - raised by the option checks
from minidump.fleet.limits import (CONNECT_TIMEOUT_S, MEMORY_LIMIT_MAX_MIB,
                                   MEMORY_LIMIT_MIN_MIB, TIMEOUT_MAX_S)
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
exit status: 0 every capture read whole, 3 some partial or errors (listed), 128+N stopped by
  signal N (130 Ctrl-C, 143 SIGTERM: what was done is printed), 1 the run failed
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
    p.add_argument("--workers", metavar="N",
                   help="worker processes (default and maximum: the CPU count; more are "
                        "capped)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on Dask: a scheduler address (tcp://host:8786; also tls://, "
                        "ws://, wss://), or local:N for a LocalCluster of N processes (capped "
                        "at the CPU count; needs the distributed package); an unreachable "
                        f"scheduler fails after {CONNECT_TIMEOUT_S:g} s")
    p.add_argument("--timeout", metavar="SECONDS", default="60",
                   help=f"give up on a capture after this long (default 60; 0: never; at most "
                        f"{TIMEOUT_MAX_S:g})")
    p.add_argument("--memory-limit", metavar="MIB", default="2048",
                   help="address-space cap of each process reading captures, local or on "
                        f"Dask with --timeout (default 2048; 0: none; else "
                        f"{MEMORY_LIMIT_MIN_MIB} to {MEMORY_LIMIT_MAX_MIB})")
    p.add_argument("--db", metavar="FILE",
                   help="keep every record in this SQLite store (created if absent): a re-run "
                        "reads only new or changed captures, and the summary covers every "
                        "capture the store holds, across runs")
    return p


def check_options(args) -> None:
    """Every numeric option and the scheduler address, range-checked (ASCII digits only)."""
    from minidump.files import parse_count, parse_seconds
    from minidump.fleet.limits import WORKERS_MAX, check_scheduler, parse_memory_limit
    if args.workers is not None:
        args.workers = parse_count(str(args.workers), "--workers", low=1, high=WORKERS_MAX)
    args.timeout = parse_seconds(str(args.timeout), "--timeout", high=TIMEOUT_MAX_S)
    args.memory_limit = parse_memory_limit(str(args.memory_limit))
    if args.scheduler is not None:
        args.scheduler = check_scheduler(args.scheduler)


def run(args) -> tuple[Document, ExitCode]:
    from minidump.fleet.discover import Found, discover
    from minidump.fleet.limits import stopping
    from minidump.fleet.summary import newest_first, summarize
    from minidump.fleet.triage import NOT_READ, failed
    from minidump.report import Counter

    check_options(args)
    if args.scheduler:
        from minidump.fleet.dask import require
        require()
    start = time.monotonic()
    timeout = args.timeout or None
    found = Found()
    # every termination signal: the first stops the run where it is, the records done so far
    # are kept and printed, and the exit status is 128+N; later ones are ignored
    with stopping() as stop:
        try:
            found = discover(args.paths)
        except KeyboardInterrupt:
            if stop.signum is None:
                raise
        if args.scheduler:
            engine = f"dask {args.scheduler}"
        else:
            from minidump.fleet.local import LocalPool
            pool = LocalPool(args.workers, timeout=timeout,
                             memory_limit=args.memory_limit << 20 or None)
            capped = f" (--workers {pool.requested} capped at the CPU count)" \
                if pool.requested and pool.requested > pool.workers else ""
            engine = f"local, {pool.workers} worker processes{capped}"
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
            read, interrupted = [], False
            try:
                if stop.signum is None:
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
                                memory_limit=args.memory_limit << 20 or None) \
                                if specs else ([], False)
                        else:
                            read, interrupted = pool.run(specs, on_record)
            except KeyboardInterrupt:      # stopped outside a pool (starting one)
                if stop.signum is None:
                    raise
            interrupted = interrupted or stop.signum is not None
            read = list(read) + [failed(spec, NOT_READ) for spec in specs[len(read):]]
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
                summary["store"] = {"path": args.db, "schema_version": store.version,
                                    "run": run_id, "found": len(found.specs),
                                    "read": len(read), "moved": plan.moved,
                                    "unchanged": plan.unchanged, "runs": len(store.runs())}
        finally:
            if store is not None:
                store.close()
    summary["skipped_reasons"] = {p: found.reasons[p] for p in found.skipped
                                  if p in found.reasons}
    if stop.signum is not None:
        import signal
        summary["signal"] = signal.Signals(stop.signum).name
    document = Document("triage", {"records": newest_first(records), "summary": summary},
                        args.json)
    if stop.signum is not None:
        return document, 128 + stop.signum
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
