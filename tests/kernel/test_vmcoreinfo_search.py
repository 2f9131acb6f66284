"""VMCOREINFO found in a full capture's memory by its shape (no note, no symbols)."""

from __future__ import annotations

import minidump
from minidump.kernel.image import search_vmcoreinfo
from minidump.kernel.memory import Extent, PhysicalMemory

TEXT = (b"OSRELEASE=7.2.13\nBUILD-ID=49bc4ec2cae87b47e7180222d39c38b193efd960\n"
        b"PAGESIZE=4096\nSYMBOL(init_uts_ns)=ffffffff816b1d00\nKERNELOFFSET=0\n")


def _ram(tmp_path, placements: dict[int, bytes], size: int = 0x10000):
    data = bytearray(size)
    for offset, blob in placements.items():
        data[offset:offset + len(blob)] = blob
    path = tmp_path / "ram.bin"
    path.write_bytes(bytes(data))
    return path


def test_first_page_aligned_text_that_parses(tmp_path):
    path = _ram(tmp_path, {
        0x0800: TEXT,                                   # not at a page start: a copy
        0x1000: b"OSRELEASE=\xff\xfe broken\n",          # not text
        0x2000: b"OSRELEASE=x\nno equals sign\n",       # not KEY=VALUE
        0x3000: b"OSRELEASE=7.2.13\n",                  # no PAGESIZE
        0x5000: TEXT,
    })
    memory = PhysicalMemory([Extent(0x40000000, 0x10000, str(path), 0)])
    info, where = search_vmcoreinfo(memory)
    assert info.raw == TEXT.rstrip(b"\0") and where == "found in memory at PA 0x40005000"


def test_none_without_it(tmp_path):
    path = _ram(tmp_path, {0x0800: TEXT})
    assert search_vmcoreinfo(PhysicalMemory([Extent(0, 0x10000, str(path), 0)])) is None


def test_a_raw_ram_capture_opens_with_it(tmp_path):
    path = _ram(tmp_path, {0x5000: TEXT})
    with minidump.open(f"{path}@0x40000000") as cap:
        assert cap.vmcoreinfo.osrelease == "7.2.13"
        assert "found in memory at PA 0x40005000" in cap.vmcoreinfo_source
