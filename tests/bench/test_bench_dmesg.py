"""In-process timings: the printk walk and VMCOREINFO generation (pytest-benchmark).

Whole-process comparisons with makedumpfile are in docs (``--dump-dmesg`` and
``-g``); these keep the in-process cost visible.  Run with
``pytest tests/bench --benchmark-only``; CI runs them once with ``--benchmark-disable``.
"""

from __future__ import annotations

import pytest

from builders.printk import DictMemory, LocklessRing
from minidump.kernel.printk import read_log
from minidump.kernel.vmcoreinfo import VmcoreInfo

pytestmark = pytest.mark.benchmark


def test_bench_synthetic_ring(benchmark):
    """A 4096-descriptor, 128 KiB ring that has wrapped (the Debian default size)."""
    ring = LocklessRing(count_bits=12, size_bits=17)
    for i in range(6000):
        ring.add(f"synthetic message number {i} with some payload".encode(), i * 1000)
    chunks, keys = ring.memory(0xFFFF800081000000)
    memory, info = DictMemory(chunks), VmcoreInfo(keys.encode())
    log = benchmark(read_log, memory, info)
    assert len(log.records) == 4096


@pytest.mark.realkernel
def test_bench_real_dump(benchmark, realkernel):
    import minidump
    rec = realkernel["captures"]["cloud-amd64-kaslr"]

    def dmesg() -> bytes:
        with minidump.open(rec["vmcore"]) as capture:
            return capture.kernel_log().text()
    assert b"minidump-harness" in benchmark(dmesg)


@pytest.mark.realkernel
def test_bench_generation(benchmark, realkernel):
    from minidump.kernel.debuginfo import DebugInfo
    from minidump.kernel.vmcoreinfo_gen import generate_text
    rec = realkernel["captures"]["cloud-amd64-nokaslr"]

    def generate() -> bytes:
        with DebugInfo.open(rec["vmlinux"]) as dbg:
            return generate_text(dbg)[0]
    assert b"SYMBOL(prb)=" in benchmark(generate)
