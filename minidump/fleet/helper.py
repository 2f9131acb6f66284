"""A capture reader a Dask task can stop: one child process per worker thread.

A thread inside a Dask worker cannot be killed, so with ``--timeout`` each
worker thread hands its captures to a long-lived child process of its own
(started with :mod:`subprocess`: Dask's worker processes are daemonic and may
not use :mod:`multiprocessing` children).  The child runs the same
:func:`minidump.fleet.local._serve` loop the local pool's workers run, over
a socket pair, under the same address-space cap.  A capture that outlives
the timeout gets its child killed (SIGKILL to its process group): the worker
thread is free at once, and the next capture starts a fresh child.  A child
that dies gives its capture an error record and is replaced the same way.

Run as ``python -m minidump.fleet.helper MODULE:FUNCTION FD MEMORY_LIMIT`` by
:class:`Helper`; not a command for people.
"""

from __future__ import annotations

import importlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Callable

#: the child's first message, once it has imported what it runs
READY = "ready"
#: how long a new child may take to import its function
START_TIMEOUT_S = 60.0


def _reference(func: Callable) -> str:
    return f"{func.__module__}:{func.__qualname__}"


def _resolve(reference: str) -> Callable:
    module, _, name = reference.partition(":")
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


class Helper:
    """A child process running ``func`` on one spec at a time, killed when it overstays."""

    def __init__(self, func: Callable[[dict], dict], memory_limit: int | None) -> None:
        self.func = func
        ours, theirs = socket.socketpair()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "minidump.fleet.helper", _reference(func),
             str(theirs.fileno()), str(memory_limit or 0)],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=env,
            start_new_session=True)
        theirs.close()
        self.conn = Connection(ours.detach())
        if not self.conn.poll(START_TIMEOUT_S) or self._recv() != READY:
            self.kill()
            raise RuntimeError(f"the capture reader process did not start "
                               f"(exit status {self.process.poll()})")

    def _recv(self):
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            return None

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        self.conn.close()

    def run(self, spec: dict, timeout: float) -> dict | None:
        """``func(spec)``'s record; None when the child died or overstayed (it is killed)."""
        from minidump.fleet.local import death_reason
        from minidump.fleet.triage import failed
        start = time.monotonic()
        try:
            self.conn.send((0, spec))
        except OSError:
            pass                                     # it died: found below
        if self.conn.poll(timeout):
            got = self._recv()
            if got is not None:
                return got[1]
            self.process.wait()
            return failed(spec, death_reason(self.process.returncode), time.monotonic() - start)
        self.kill()
        return failed(spec, f"timed out after {timeout:g} s; its process was killed",
                      time.monotonic() - start)


_local = threading.local()


def run_guarded(spec: dict, func: Callable[[dict], dict], timeout: float,
                memory_limit: int | None) -> dict:
    """``func(spec)`` in this thread's child process, given ``timeout`` seconds."""
    helper = getattr(_local, "helper", None)
    if helper is None or helper.func is not func or not helper.alive():
        if helper is not None:
            helper.kill()
        helper = _local.helper = Helper(func, memory_limit)
    rec = helper.run(spec, timeout)
    if not helper.alive():
        _local.helper = None
    return rec


def _orphan_watch(parent: int) -> None:
    """Exit when the worker that started us is gone (a hung capture must not outlive it)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


def main(argv: list[str]) -> None:
    reference, fd, memory_limit = argv
    os.dup2(2, 1)                          # stray prints go to stderr, never into the socket
    threading.Thread(target=_orphan_watch, args=(os.getppid(),), daemon=True).start()
    import minidump.fleet.warm  # noqa: F401  (imports what reading a capture needs, once)
    from minidump.fleet.local import _serve
    func = _resolve(reference)
    conn = Connection(int(fd))
    conn.send(READY)
    _serve(conn, func, int(memory_limit) or None)


if __name__ == "__main__":
    main(sys.argv[1:])
