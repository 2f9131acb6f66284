"""Running the per-capture function on Dask (``dask.distributed``).

``--scheduler local:N`` starts a :class:`distributed.LocalCluster` of N worker
processes (one thread each) on this machine; ``--scheduler ADDRESS``
(``tcp://host:8786``) uses a running cluster whose workers see the captures
at the same absolute paths (a shared file system) and have ``kminidump``
installed.  The same :func:`~minidump.fleet.triage.triage_one` runs on the
workers and its records come back unchanged.

What cannot be lost on Dask either:

- a capture whose worker dies gives a ``KilledWorker`` error record (the
  local cluster is told not to retry it on another worker; a remote
  scheduler applies its own ``distributed.scheduler.allowed-failures``);
- a capture that hangs is stopped at the timeout: with a timeout, each worker
  thread reads its captures in a child process of its own
  (:mod:`.helper`), which is killed when a capture overstays, so the worker
  is free for the next capture at once (a thread cannot be killed); the child
  also carries the local pool's address-space cap;
- Ctrl-C cancels what is queued and keeps what is done.
"""

from __future__ import annotations

from typing import Callable

from minidump.errors import MinidumpError, UsageError
from minidump.fleet.triage import NOT_READ, failed, triage_one

#: kminidump is not on PyPI yet: the extra works from a checkout, the package from anywhere
INSTALL = ("--scheduler needs Dask: pip install 'distributed>=2023.1' (in a checkout: "
           "pip install '.[dask]')")


def _guarded(spec: dict, work: Callable[[dict], dict], timeout: float | None,
             memory_limit: int | None = None) -> dict:
    """``work(spec)`` on a Dask worker: in a child process it can kill, with a timeout."""
    if not timeout:
        return work(spec)
    from minidump.fleet.helper import run_guarded
    return run_guarded(spec, work, timeout, memory_limit)


def require() -> None:
    """Fail, saying how to install it, when Dask is not installed."""
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise MinidumpError(INSTALL) from None


def client_for(address: str):
    """A Dask client: ``local:N`` starts a LocalCluster of N processes, else connect."""
    require()
    import dask
    from distributed import Client, LocalCluster
    from minidump.fleet.limits import CONNECT_TIMEOUT_S, check_scheduler, check_workers, \
        max_workers
    address = check_scheduler(address)
    if address == "local" or address.startswith("local:"):
        count = address.partition(":")[2]
        workers = check_workers(int(count), "local:N") if count else max_workers()
        # a capture that kills its worker is an error record, not retried on the next worker
        dask.config.set({"distributed.scheduler.allowed-failures": 0})
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        return Client(cluster), cluster
    try:   # a scheduler that does not answer fails in seconds, not after distributed's 30
        return Client(address, timeout=f"{CONNECT_TIMEOUT_S:g}s"), None
    except (OSError, TimeoutError) as exc:
        raise MinidumpError(f"--scheduler {address}: no Dask scheduler answered within "
                            f"{CONNECT_TIMEOUT_S:g} s ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else 'no reply'})") from None


def _outcome(future, spec: dict) -> dict | None:
    """The record a finished future gives; None when its worker died.

    None also when the result was lost: a worker that dies takes the finished
    results it held with it, and Dask then reports the future as lost or
    pending again rather than as an error.  Those captures go again alone.
    """
    status = future.status
    if status == "finished":
        try:
            return future.result()
        except Exception as exc:  # the result went with its worker in the meantime
            if type(exc).__name__ in ("KilledWorker", "FutureCancelledError", "CancelledError"):
                return None
            raise
    if status != "error":
        return None
    exc = future.exception()
    name = type(exc).__name__
    if exc is None or name == "KilledWorker":
        return None
    return failed(spec, f"internal error: {name}: {exc}".splitlines()[0])


def run_dask(specs: list[dict], address: str, *, timeout: float | None = None,
             memory_limit: int | None = None,
             on_record: Callable[[dict], None] | None = None,
             func: Callable[[dict], dict] = triage_one) -> tuple[list[dict], bool]:
    """A record per spec, in the specs' order, computed on Dask; and whether interrupted."""
    client, cluster = client_for(address)
    from distributed import as_completed, wait

    records: list[dict | None] = [None] * len(specs)
    interrupted = False
    try:
        futures = client.map(_guarded, specs, work=func, timeout=timeout,
                             memory_limit=memory_limit, pure=False)
        index = {future.key: i for i, future in enumerate(futures)}
        killed: list[int] = []
        try:
            for future in as_completed(futures):
                i = index[future.key]
                rec = _outcome(future, specs[i])
                if rec is None:      # its worker died: maybe because of another capture
                    killed.append(i)
                    continue
                records[i] = rec
                if on_record is not None:
                    on_record(rec)
            # a worker that dies takes every capture it held with it: each goes again alone,
            # so only the one that kills its worker by itself is recorded as having done so
            for i in sorted(killed):
                future = client.submit(_guarded, specs[i], work=func, timeout=timeout,
                                       memory_limit=memory_limit, pure=False)
                wait([future])
                records[i] = _outcome(future, specs[i]) or failed(
                    specs[i], "worker died (KilledWorker)")
                if on_record is not None:
                    on_record(records[i])
        except KeyboardInterrupt:
            interrupted = True
            client.cancel(futures)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    for i, rec in enumerate(records):
        if rec is None:
            records[i] = failed(specs[i], NOT_READ)
    return records, interrupted
