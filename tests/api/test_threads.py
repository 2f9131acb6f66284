"""One Capture read from several threads gives the bytes one thread gets (DESIGN.md "Library
API": reads are safe from several threads at once).

Property: for any list of reads (physical and virtual, inside and across the captured
ranges, at holes too), N threads sharing one Capture get, read for read, the result a
single thread gets: the same bytes or the same error.  Every container kind is tried:
an md_*.BIN directory, a Raw_Dmp! image, RAM images with the SMEM table, and the ELF vmcore
the sample builds into.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import minidump
from builders import SAMPLES
from minidump.cli import main

THREADS = 8


def _ram_specs() -> list[str]:
    ram = SAMPLES / "ram"
    return [str(ram / line) for line in (ram / "MEMORY.txt").read_text().split()]


KINDS = {
    "mddir": (SAMPLES / "md", {}),
    "rawdump": (SAMPLES / "rawdump.img", {}),
    "ram": (SAMPLES / "ram" / "smem.bin", {"memory": _ram_specs()}),
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    out = tmp_path_factory.mktemp("threads") / "sample.vmcore"
    assert main(["build", "--from-table", str(SAMPLES / "md"), "-o", str(out), "-q"]) == 0
    return {**KINDS, "elfcore": (out, {})}


def _outcome(read, addr: int, size: int):
    try:
        return read(addr, size)
    except minidump.MinidumpError as exc:   # a hole: the same error for every thread
        return (type(exc).__name__, str(exc))


def _plan(cap, seed: int, count: int) -> list[tuple[str, int, int]]:
    """``count`` reads: mostly inside extents, some across their ends and into holes."""
    rng = random.Random(seed)
    extents = cap.memory.extents
    plan = []
    for _ in range(count):
        extent = rng.choice(extents)
        virtual = extent.vaddr is not None and rng.random() < 0.3
        base = extent.vaddr if virtual else extent.paddr
        start = base + rng.randrange(0, extent.size)
        size = rng.choice((1, 4, 8, 64, 4096, rng.randrange(1, 3 * 4096)))
        plan.append(("virt" if virtual else "phys", start, size))
    return plan


def _run_threads(cap, plan) -> list:
    results: list = [None] * len(plan)
    readers = {"phys": cap.read, "virt": cap.read_virt}
    barrier = threading.Barrier(THREADS)

    def work(k: int) -> None:
        barrier.wait()   # all threads read at once
        for i in range(k, len(plan), THREADS):
            kind, addr, size = plan[i]
            results[i] = _outcome(readers[kind], addr, size)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.parametrize("kind", ["mddir", "rawdump", "ram", "elfcore"])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_threads_read_what_one_thread_reads(inputs, kind, seed):
    path, options = inputs[kind]
    with minidump.open(path, **options) as alone:
        plan = _plan(alone, seed, 1500)
        readers = {"phys": alone.read, "virt": alone.read_virt}
        want = [_outcome(readers[k], a, n) for k, a, n in plan]
    with minidump.open(path, **options) as shared:
        got = _run_threads(shared, plan)
    wrong = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
    assert not wrong, f"{len(wrong)} of {len(plan)} reads differ, first {plan[wrong[0]]}"


@pytest.mark.parametrize("kind", ["mddir", "elfcore"])
def test_threads_share_the_lazy_answers(inputs, kind):
    """dmesg()/facts() started at once on a fresh Capture give one thread's answers."""
    path, options = inputs[kind]
    with minidump.open(path, **options) as alone:
        want = ([str(r) for r in alone.dmesg()], alone.facts())
    with minidump.open(path, **options) as shared:
        results: list = []
        barrier = threading.Barrier(4)

        def work() -> None:
            barrier.wait()
            results.append(([str(r) for r in shared.dmesg()], shared.facts()))
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == [want] * 4
