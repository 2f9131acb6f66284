"""The bounds of a triage run, checked where its options come in (the command line and the
pool's constructor), and the signal handling that keeps a stopped run's records.

- workers: 1 or more, capped at the CPU count (the CPUs this process may run on): more
  only queue for the same CPUs, and each holds its own memory;
- ``--scheduler``: ``local``, ``local:N`` (N as for workers) or ``SCHEME://HOST:PORT`` with a
  scheme Dask speaks; an unreachable scheduler fails after :data:`CONNECT_TIMEOUT_S`;
- ``--timeout``: finite, 0 (never) to a week;
- ``--memory-limit``: 0 (none), or 256 MiB (Python and the readers need that much) to 16 TiB.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from typing import Iterator

from minidump.errors import UsageError
from minidump.files import parse_count

CONNECT_TIMEOUT_S = 5.0
TIMEOUT_MAX_S = 7 * 24 * 3600.0
MEMORY_LIMIT_MIN_MIB = 256
MEMORY_LIMIT_MAX_MIB = 16 << 20
#: the schemes distributed's comm layer knows
SCHEMES = ("tcp", "tls", "ws", "wss", "ucx", "inproc")


def max_workers() -> int:
    """The CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


#: the most --workers (or local:N) says; more are capped at the CPU count anyway
WORKERS_MAX = 1 << 16


def check_workers(value, what: str = "workers") -> int:
    """``value`` (an int of 1 or more) capped at :func:`max_workers`, or a ValueError/TypeError
    that says what is wrong."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not 1 <= value <= WORKERS_MAX:
        raise ValueError(f"{what} {value}: expected 1 to {WORKERS_MAX} (capped at the CPU "
                         f"count, {max_workers()} here)")
    return min(value, max_workers())


def check_scheduler(text: str) -> str:
    """A ``--scheduler`` address as typed, or a UsageError that says what is accepted."""
    address = text.strip()
    if address == "local":
        return address
    if address.startswith("local:"):
        parse_count(address[6:], "local:N", low=1, high=WORKERS_MAX)
        return address
    match = re.fullmatch(r"([a-z]+)://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::([0-9]+))?/?",
                         address, re.ASCII)
    if match is None or match.group(1) not in SCHEMES:
        raise UsageError(f"--scheduler {text!r}: expected local, local:N, or an address such "
                         f"as tcp://HOST:8786 (schemes: {', '.join(SCHEMES)})")
    port = match.group(3)
    if port is not None and not 1 <= int(port) <= 65535:
        raise UsageError(f"--scheduler {text!r}: port {port} is not 1 to 65535")
    return address


def parse_memory_limit(text: str) -> int:
    """``--memory-limit`` in MiB: 0 (none) or within the bounds above."""
    value = parse_count(text, "--memory-limit", low=0, high=MEMORY_LIMIT_MAX_MIB)
    if value and value < MEMORY_LIMIT_MIN_MIB:
        raise UsageError(f"--memory-limit {value}: expected 0 (none) or "
                         f"{MEMORY_LIMIT_MIN_MIB} to {MEMORY_LIMIT_MAX_MIB} MiB")
    return value


class Stopped(KeyboardInterrupt):
    """A termination signal during a run; the pools keep what is done, as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _Stop:
    signum: int | None = None


#: the signals that stop a run (each: 128 + its number)
STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")


@contextmanager
def stopping() -> Iterator[_Stop]:
    """Catch the termination signals for a run: the first raises :class:`Stopped` where the
    run is (its pool keeps the records); later ones (Ctrl-C twice, Ctrl-C under ``timeout``)
    are ignored, then and after the run, so the cleanup and the report are not cut short."""
    import signal
    import threading
    stop = _Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, frame):
        if stop.signum is None:
            stop.signum = signum
            raise Stopped(signum)
    saved = []
    for name in STOP_SIGNALS:
        number = getattr(signal, name, None)
        if number is not None:
            saved.append((number, signal.signal(number, handler)))
    try:
        yield stop
    except KeyboardInterrupt as exc:   # outside a pool (discovery, set-up): nothing to keep
        if stop.signum is None:
            stop.signum = getattr(exc, "signum", signal.SIGINT)
    finally:
        for number, old in saved:
            # stopped: what was done is about to be printed; a second Ctrl-C (or timeout's
            # SIGTERM after Ctrl-C) must not cut that short.  The CLI restores the handlers
            # when it returns (in-process callers), or leaves them so until it exits.
            signal.signal(number, old if stop.signum is None else signal.SIG_IGN)
