"""Capture.drgn(): drgn on every container of the sample, judged by the Capture itself.

Oracles: :meth:`Capture.read_virt` / :meth:`Capture.read` (the same bytes through drgn's
segments), :meth:`Capture.dmesg` (drgn's own printk helper walking the types built from
VMCOREINFO), and drgn's ``FaultError`` where the capture holds nothing.
"""

from __future__ import annotations

import pytest

import minidump
from builders import ROOT, SAMPLES, ram_specs

drgn = pytest.importorskip("drgn", reason="drgn comes with the test extra (kminidump[drgn])")
printk = pytest.importorskip("drgn.helpers.linux.printk")


CAPTURES = [
    ("mddir", SAMPLES / "md", {}),
    ("mddir-sahara", SAMPLES / "md-nokelf", {"arch": "arm64"}),
    ("rawdump", SAMPLES / "rawdump.img", {}),
    ("ram", SAMPLES / "ram" / "smem.bin", {"memory": ram_specs()}),
]


@pytest.fixture(scope="module", params=CAPTURES, ids=[c[0] for c in CAPTURES])
def opened(request):
    _, path, options = request.param
    with minidump.open(path, **options) as cap:
        yield cap, cap.drgn()


def _named(cap) -> list:
    return [r for r in cap.regions if r.status is minidump.Status.WRITTEN and r.vaddr
            and r.object and r.object.isidentifier()]


def test_platform_is_the_captures_arch(opened):
    cap, prog = opened
    assert cap.arch == "arm64"
    assert prog.platform.arch == drgn.Architecture.AARCH64
    assert prog.flags & drgn.ProgramFlags.IS_LINUX_KERNEL


def test_symbols_and_objects_read_what_read_virt_reads(opened):
    cap, prog = opened
    named = _named(cap)
    assert "init_uts_ns" in {r.object for r in named} and len(named) > 30
    for region in named:
        symbol = prog.symbol(region.object)
        assert (symbol.address, symbol.size) == (region.vaddr, region.size), region.object
        assert prog.symbol(region.vaddr + region.size - 1).name == region.object
        want = cap.read_virt(region.vaddr, region.size)
        assert prog[region.object].to_bytes_() == want, region.object
        assert prog.read(region.vaddr, region.size) == want
    uts = next(r for r in named if r.object == "init_uts_ns")
    assert prog["init_uts_ns"].to_bytes_()[:5] == b"Linux"
    assert cap.vmcoreinfo.osrelease.encode() in prog["init_uts_ns"].to_bytes_()
    assert uts.size == len(prog["init_uts_ns"].to_bytes_())


def test_physical_reads_are_the_captures(opened):
    cap, prog = opened
    for region in cap.regions:
        if region.status is minidump.Status.WRITTEN and region.paddr is not None:
            size = min(region.size, 4096)
            assert prog.read(region.paddr, size, True) == cap.read(region.paddr, size)


def test_drgns_printk_helper_gives_the_captures_log(opened):
    cap, prog = opened
    records, ours = printk.get_printk_records(prog), cap.dmesg()
    assert len(records) == len(ours) > 200
    word = prog.type("unsigned long").size
    ring = prog["prb"].text_data_ring
    mask = (1 << ring.size_bits.value_()) - 1
    descs, count_mask = prog["prb"].desc_ring.descs, (1 << prog["prb"].desc_ring.count_bits) - 1
    wrapped = 0
    for theirs, mine in zip(records, ours):
        assert (theirs.seq, theirs.timestamp, theirs.level) == \
            (mine.seq, mine.timestamp_ns, mine.level)
        assert theirs.caller_tid is not None or theirs.caller_cpu is not None
        lpos = descs[theirs.seq & count_mask].text_blk_lpos
        if (lpos.begin.value_() & mask) + word > (lpos.next.value_() & mask):
            # a block that wraps: drgn 0.3.0 reads its text from the ring's first byte,
            # over the block's ID word (the kernel's get_data() skips it)
            wrapped += 1
            assert theirs.text[word:] == mine.raw[:len(mine.raw) - word]
        else:
            assert theirs.text == mine.raw
    assert wrapped <= 1


def test_uncaptured_memory_is_a_fault_not_zeros(opened):
    cap, prog = opened
    end = max(e.end for e in cap.memory.extents)
    paddr = next(p for p in range(end, end + (64 << 20), 4096) if cap.memory.find(p) is None)
    with pytest.raises(drgn.FaultError):
        prog.read(paddr, 8, True)
    hole = 0x80000000          # PHYS_OFFSET: RAM no capture of the sample holds
    assert cap.memory.find(hole) is None
    vaddr = cap.kernel.linear_va(hole)
    with pytest.raises(minidump.FaultError):
        cap.read_virt(vaddr, 8)
    with pytest.raises(drgn.FaultError):
        prog.read(vaddr, 8)
    region = next(r for r in _named(cap) if r.object == "jiffies_64")
    with pytest.raises(drgn.FaultError):      # a captured object's neighbour, not captured
        prog.read(region.vaddr + region.size + 0x100000, 8)


def test_reads_from_many_threads_are_the_captures(opened):
    """The segments' reader shares the Capture's file handles: threads must not mix reads."""
    from concurrent.futures import ThreadPoolExecutor
    cap, prog = opened
    named = _named(cap)
    want = {r.vaddr: cap.read_virt(r.vaddr, r.size) for r in named}

    def read(i: int) -> bool:
        region = named[i % len(named)]
        return prog.read(region.vaddr, region.size) == want[region.vaddr]

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(read, range(4000)))


#: real meminspect v3 kernels' captures (tests/data/meminspect-v3/PROVENANCE.md): QDL's
#: minidump.elf, and the md_*.BIN files of the 16K-page kernel that registers no ELF header
REAL_V3 = sorted(p for p in (ROOT / "tests" / "data" / "meminspect-v3").glob("*/*")
                 if p.name in ("minidump.elf", "md"))


@pytest.mark.parametrize("path", REAL_V3, ids=[f"{p.parent.name}/{p.name}" for p in REAL_V3])
def test_real_meminspect_kernels_captures(path):
    """x86_64 (with and without KASLR) and arm64 at 39, 48 (KASLR) and 52-bit VA and 16K
    pages: drgn's printk helper reads the log Capture.dmesg() reads, and init_uts_ns's bytes
    are read_virt's, with no vmlinux."""
    with minidump.open(path) as cap:
        prog = cap.drgn()
        records = printk.get_printk_records(prog)
        assert [(r.seq, r.timestamp, r.text) for r in records] == \
            [(r.seq, r.timestamp_ns, r.raw) for r in cap.dmesg()]
        assert len(records) > 90
        uts = next(r for r in cap.regions if r.object == "init_uts_ns")
        assert prog["init_uts_ns"].to_bytes_() == cap.read_virt(uts.vaddr, uts.size)
        assert prog.symbol("init_uts_ns").address == uts.vaddr
        jiffies = next(r for r in cap.regions if r.object == "jiffies_64")
        assert prog.symbol("jiffies_64").address == jiffies.vaddr
