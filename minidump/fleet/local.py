"""Running the per-capture function on a pool of local worker processes.

No process is started per capture: ``workers`` long-lived processes each take
one capture at a time over a pipe.  The parent watches every busy worker:

- a capture that takes longer than ``timeout`` seconds gets its worker killed
  and is recorded as an error ("timed out after ...");
- a worker that dies (a crash in C code, the kernel's OOM killer, a signal)
  gives its capture an error record naming the exit status;
- in both cases a fresh worker takes its place and the run goes on;
- Ctrl-C (SIGINT, which the workers ignore) stops the run: the records so
  far are kept, and every capture not read yet gets an error record saying so.

Each worker's address space is capped at ``memory_limit`` bytes
(``RLIMIT_AS``), so a capture cannot take the machine's memory whatever its
size; the readers read bounded pieces, so a normal capture stays far below it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Callable, Iterator

from minidump.fleet.triage import NOT_READ, failed, triage_one

#: the per-worker address-space cap by default
MEMORY_LIMIT = 2 << 30
#: how often the parent looks at the clock while every worker is busy
TICK_S = 0.25
#: captures handed to a worker at once: the one it reads and the next, waiting in its pipe,
#: so it never waits for the parent between two (on a busy machine the parent may not get
#: a CPU for milliseconds, and a capture takes ~10 ms)
DEPTH = 2


def _serve(conn, func: Callable[[dict], dict], memory_limit: int | None) -> None:
    """A worker: take ``(index, spec)`` from the pipe, send ``(index, record)`` back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # the parent decides what Ctrl-C means
    if memory_limit:
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    while True:
        try:
            item = conn.recv()
        except EOFError:
            return
        if item is None:
            return
        index, spec = item
        try:
            rec = func(spec)
        except BaseException as exc:  # noqa: BLE001 - func should not raise; a record anyway
            rec = failed(spec, f"internal error: {type(exc).__name__}: {exc}".splitlines()[0])
        conn.send((index, rec))


@contextmanager
def _main_hidden(func: Callable) -> Iterator[None]:
    """Start workers without re-running the caller's script in them.

    A worker started by ``forkserver`` (or ``spawn``) imports the parent's ``__main__`` to
    find the function it runs; a script without an ``if __name__ == "__main__":`` guard then
    starts the pool again in every worker, which Python refuses, and every capture came
    back "worker died".  The workers' function lives in a module of its own unless the
    caller passes one from its script, so ``__main__`` is hidden from the worker's start-up
    data while it starts.  A function from ``__main__`` itself needs the guard (see
    :func:`_refuse_in_bootstrap`).
    """
    import sys
    import types
    if getattr(func, "__module__", None) == "__main__":
        yield
        return
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def _refuse_in_bootstrap() -> None:
    """Inside a worker still importing the caller's script: say why, instead of dying."""
    process = multiprocessing.current_process()
    if getattr(process, "_inheriting", False) or (
            multiprocessing.parent_process() is not None and process.name == "minidump-triage"):
        raise RuntimeError(
            "minidump's LocalPool was started while a worker imported the calling script: "
            "a function from the script (func=...) needs the script's pool code under "
            "'if __name__ == \"__main__\":'")


def _start_error(exc: OSError) -> Exception:
    """Why a worker could not start, with the fix where there is one."""
    import tempfile
    from minidump.errors import MinidumpError
    if "AF_UNIX path too long" in str(exc) or exc.errno == 36:
        return MinidumpError(
            f"cannot start worker processes: the temporary directory {tempfile.gettempdir()} "
            "makes their socket path longer than the 107 bytes Unix sockets allow; set "
            "TMPDIR to a shorter directory (e.g. TMPDIR=/tmp)")
    return MinidumpError(f"cannot start worker processes: {exc.strerror or exc}")


@dataclass(slots=True)
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: object
    #: the indexes sent to it, in order: the first is being read, the others wait in its pipe
    queue: deque = field(default_factory=deque)
    #: when it started on queue[0] (when the previous record came back, or when sent)
    started: float = 0.0


def death_reason(code: int | None) -> str:
    """Why a worker process with exit status ``code`` (negative: a signal) is gone."""
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else -code
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"worker died: killed by {name}{hint}"
    return f"worker died: exit status {code}"


def _death(process) -> str:
    process.join(1)
    return death_reason(process.exitcode)


class LocalPool:
    """``workers`` processes running ``func`` (default :func:`triage_one`) on specs."""

    def __init__(self, workers: int | None = None, *, timeout: float | None = None,
                 memory_limit: int | None = MEMORY_LIMIT,
                 func: Callable[[dict], dict] = triage_one) -> None:
        from minidump.fleet.limits import check_workers, max_workers
        #: asked for, then capped at the CPU count (10,000 once meant a process per capture)
        self.requested = workers
        self.workers = max_workers() if workers is None else check_workers(workers)
        if timeout is not None and not (isinstance(timeout, (int, float)) and
                                        0 <= timeout < float("inf")):
            raise ValueError(f"timeout {timeout!r}: expected a finite number of seconds, or None")
        if memory_limit is not None and not 0 <= memory_limit < 1 << 63:
            raise ValueError(f"memory_limit {memory_limit!r}: expected 0 to 2^63 - 1 bytes, "
                             "or None")
        self.timeout = timeout or None
        self.memory_limit = memory_limit
        self.func = func
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(["minidump.api", "minidump.fleet.warm"])

    def _start(self) -> _Worker:
        parent, child = self.context.Pipe()
        process = self.context.Process(target=_serve, args=(child, self.func, self.memory_limit),
                                       daemon=True, name="minidump-triage")
        with _main_hidden(self.func):
            try:
                process.start()
            except OSError as exc:
                parent.close()
                child.close()
                raise _start_error(exc) from exc
        child.close()
        return _Worker(process, parent)

    def run(self, specs: list[dict],
            on_record: Callable[[dict], None] | None = None) -> tuple[list[dict], bool]:
        """A record per spec, in the specs' order, and whether the run was interrupted."""
        _refuse_in_bootstrap()
        records: list[dict | None] = [None] * len(specs)
        pending = deque(range(len(specs)))
        pool: list[_Worker] = []
        interrupted = False

        def done(index: int, rec: dict) -> None:
            records[index] = rec
            if on_record is not None:
                on_record(rec)

        try:
            pool = [self._start() for _ in range(min(self.workers, len(specs)))]
            while pending or any(w.queue for w in pool):
                for worker in pool:
                    while len(worker.queue) < DEPTH and pending:
                        index = pending.popleft()
                        if not worker.queue:
                            worker.started = time.monotonic()
                        worker.queue.append(index)
                        try:
                            worker.conn.send((index, specs[index]))
                        except OSError:      # it died before its task: found below
                            break
                busy = [w for w in pool if w.queue]
                wait([w.conn for w in busy] + [w.process.sentinel for w in busy],
                     timeout=TICK_S if self.timeout else None)
                now = time.monotonic()
                for slot, worker in enumerate(pool):
                    reason = None
                    while worker.queue and reason is None and worker.conn.poll():
                        try:
                            index, rec = worker.conn.recv()
                        except (EOFError, OSError):
                            reason = _death(worker.process)
                        else:
                            worker.queue.popleft()
                            worker.started = now      # it went on with the next at once
                            done(index, rec)
                    if not worker.queue:
                        continue
                    if reason is None and not worker.process.is_alive():
                        reason = _death(worker.process)
                    elif reason is None and self.timeout and now - worker.started > self.timeout:
                        worker.process.kill()
                        worker.process.join()
                        reason = f"timed out after {self.timeout:g} s; worker killed"
                    if reason is not None:
                        current = worker.queue.popleft()
                        done(current, failed(specs[current], reason, now - worker.started))
                        pending.extendleft(reversed(worker.queue))   # never started: next
                        worker.conn.close()
                        pool[slot] = self._start()
        except KeyboardInterrupt:
            interrupted = True
        finally:
            for worker in pool:
                if interrupted or worker.queue:
                    worker.process.kill()
                else:
                    try:
                        worker.conn.send(None)
                    except OSError:
                        pass
            for worker in pool:
                worker.process.join(5)
                if worker.process.is_alive():
                    worker.process.kill()
                worker.conn.close()
        for index, rec in enumerate(records):
            if rec is None:
                records[index] = failed(specs[index], NOT_READ)
        return records, interrupted
