"""The per-capture work: one record for one capture, built only on the public API.

:func:`triage_one` is pure in the sense that matters for shipping it: it takes
a plain dict (a spec from :mod:`.discover`), returns a plain dict, holds no
state between calls and never raises, so it runs as it is in this process,
in a local worker process or on a Dask worker.  The record's ``timings`` are
the only part that differs between two runs on the same capture.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from datetime import datetime, timezone

#: the record's fields, in the order JSON Lines writes them
FIELDS = ("type", "input", "container", "status", "error", "problems", "release", "build_id",
          "arch", "uptime", "crash", "regions", "seen", "timings")

#: the error of a capture an interrupted run never read (a store does not keep it)
NOT_READ = "not read: the run was interrupted"
PANIC = "Kernel panic - not syncing:"
#: first lines of an oops or a BUG, as the kernel prints them (arch/*/mm/fault.c,
#: arch/arm64/kernel/traps.c die(), lib/bug.c, arch/x86/kernel/traps.c)
OOPS = re.compile(r"^(Unable to handle kernel |BUG: |kernel BUG at |Internal error: |Oops|"
                  r"general protection fault|WARNING: CPU: )")
#: what differs between two occurrences of the same crash: kernel addresses and
#: hashed pointers, CPU and PID numbers
_VOLATILE = (
    (re.compile(r"\b0x[0-9a-fA-F]{8,}\b|\b[0-9a-fA-F]{16}\b"), "ADDR"),
    (re.compile(r"\b(CPU|PID|pid|cpu)(:? ?)\d+\b"), r"\1\2N"),
)


def panic_line_event(lines: list[str]) -> dict | None:
    """The crash event from the panic line alone, for logs crash triage finds no event in.

    The last record starting with "Kernel panic - not syncing:", else the
    first oops/BUG line, else None.  The signature is a short hash of that
    line with addresses, CPU and PID numbers taken out; ``basis`` is what was
    hashed.
    """
    event = next((line for line in reversed(lines) if line.startswith(PANIC)), None)
    kind = "panic"
    if event is None:
        event = next((line for line in lines if OOPS.match(line)), None)
        kind = "oops"
    if event is None:
        return None
    basis = event
    for pattern, replacement in _VOLATILE:
        basis = pattern.sub(replacement, basis)
    return {"event": event, "kind": kind, "basis": basis,
            "signature": hashlib.sha256(basis.encode()).hexdigest()[:12],
            "source": "panic line"}


def crash_event(document: dict, lines: list[str]) -> dict | None:
    """The crash event and its signature: crash triage's (``info``'s ``"crash"``) when the log
    has an event it classifies, else the log's panic line."""
    crash = document.get("crash") or {}
    signature = crash.get("signature") if isinstance(crash, dict) else None
    if isinstance(signature, dict) and signature.get("hash"):
        events = crash.get("events") or []
        primary = crash.get("primary")
        event = events[primary] if isinstance(primary, int) and 0 <= primary < len(events) else {}
        return {"event": event.get("title") or crash.get("event"), "kind": signature.get("kind"),
                "basis": signature.get("basis"), "signature": signature["hash"],
                "source": "crash triage"}
    return panic_line_event(lines)


def _relative(message: str, spec: dict) -> str:
    """Paths in a message as the caller spelled them (relative to their directory)."""
    cwd = spec.get("cwd")
    return message.replace(cwd.rstrip(os.sep) + os.sep, "") if cwd else message


def _one_line(exc: BaseException) -> str:
    from minidump.errors import MinidumpError
    if isinstance(exc, MinidumpError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory (the worker's memory limit)"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"internal error: {type(exc).__name__}" + (f": {text}" if text else "")


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def seen(crashtime: int | None, path: str) -> dict | None:
    """When the crash was seen: VMCOREINFO's CRASHTIME, else the capture's mtime (UTC)."""
    when, source = (crashtime, "crashtime") if crashtime else (_mtime(path), "mtime")
    if when is None:
        return None
    stamp = datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="seconds")
    return {"time": stamp.replace("+00:00", "Z"), "source": source}


def record(input: str, **values) -> dict:
    out = {name: None for name in FIELDS}
    out.update(type="capture", input=input, problems=[])
    out.update(values)
    return out


def triage_one(spec: dict) -> dict:
    """One capture's record: container, status, release, build-id, arch, uptime, crash event
    and signature, regions written/lost, when it was seen, and timings.

    ``status`` is ``ok`` (read, nothing lost), ``partial`` (read, but regions
    were lost, VMCOREINFO is absent or the log unreadable: ``problems`` says
    which) or ``error`` (``error`` is the one-line reason).  Never raises.
    """
    import minidump

    name, path = spec["input"], spec.get("path", spec["input"])
    start = time.perf_counter()
    if spec.get("error"):
        return record(name, status="error", error=spec["error"], seen=seen(None, path),
                      timings={"total_s": 0.0})
    kwargs = dict(spec.get("open") or {"path": path})
    try:
        with minidump.open(kwargs.pop("path"), **kwargs) as cap:
            opened = time.perf_counter()
            regions = cap.resolved_regions()   # statuses; objects are not needed
            document = cap.facts()
            facts = document["facts"]
            problems, lines, uptime = [], [], None
            if cap.vmcoreinfo is None:
                problems.append("no VMCOREINFO: release, log and crash unknown")
            else:
                try:
                    records = cap.dmesg()
                    lines = [r.text for r in records]
                    stamps = [r.timestamp_ns for r in records if r.timestamp_ns is not None]
                    uptime = round(max(stamps) / 1e9, 6) if stamps else None
                except minidump.MinidumpError as exc:
                    problems.append(_relative(f"kernel log: {exc.problem}", spec))
            lost = [r for r in regions if r.status is not None and r.status.lost]
            if lost:
                problems.append(f"{len(lost)} region{'s' if len(lost) > 1 else ''} lost: " + ", ".join(
                    f"{r.name} {r.status.value}" for r in lost[:5])
                    + (", ..." if len(lost) > 5 else ""))
            done = time.perf_counter()
            return record(
                name, container=cap.container, status="partial" if problems else "ok",
                problems=problems, release=facts.get("release") or facts.get(
                    "utsname", {}).get("release"),
                build_id=facts.get("build_id"), arch=cap.arch, uptime=uptime,
                crash=crash_event(document, lines),
                regions={"total": len(regions), "written": len(regions) - len(lost),
                         "lost": len(lost)},
                seen=seen(facts.get("crashtime"), path),
                timings={"open_s": round(opened - start, 6), "read_s": round(done - opened, 6),
                         "total_s": round(done - start, 6)})
    except Exception as exc:  # noqa: BLE001 - a fleet run records every failure and goes on
        return record(name, status="error", error=_relative(_one_line(exc), spec),
                      seen=seen(None, path),
                      timings={"total_s": round(time.perf_counter() - start, 6)})


def failed(spec: dict, reason: str, elapsed: float | None = None) -> dict:
    """The record of a capture whose worker hung, died or never ran it."""
    return record(spec["input"], status="error", error=reason,
                  seen=seen(None, spec.get("path", spec["input"])),
                  timings={"total_s": round(elapsed, 6) if elapsed is not None else None})
