"""Page-table walks (x86_64 and arm64, 4 KiB pages) over synthetic tables."""

from __future__ import annotations

import struct

from minidump.errors import FaultError
from minidump.kernel.pgtable import walk


class Tables:
    """Physical memory made of 4 KiB table pages; unset pages are not captured."""

    def __init__(self) -> None:
        self.pages: dict[int, bytearray] = {}

    def set(self, table: int, index: int, entry: int) -> None:
        page = self.pages.setdefault(table, bytearray(4096))
        struct.pack_into("<Q", page, 8 * index, entry)

    def read(self, paddr: int, size: int, what: str = "") -> bytes:
        page = self.pages.get(paddr & ~0xFFF)
        if page is None:
            raise FaultError(f"{paddr:#x} not captured", address=paddr)
        return bytes(page[paddr & 0xFFF:(paddr & 0xFFF) + size])


def _index(vaddr: int, level: int, levels: int = 4) -> int:
    return (vaddr >> (12 + 9 * (levels - 1 - level))) & 0x1FF


VMALLOC = 0xFFFFD4ADC0013B70


def test_x86_64_four_levels_to_a_page():
    mem = Tables()
    mem.set(0x1000, _index(VMALLOC, 0), 0x2000 | 0x63)
    mem.set(0x2000, _index(VMALLOC, 1), 0x3000 | 0x63)
    mem.set(0x3000, _index(VMALLOC, 2), 0x4000 | 0x63)
    mem.set(0x4000, _index(VMALLOC, 3), 0x8000_0000_1234_5000 | 0x63)   # NX bit set
    got = walk(mem, "x86_64", 0x1000, VMALLOC)
    assert got.paddr == 0x1234_5000 | (VMALLOC & 0xFFF)
    assert got.tables == (0x1000, 0x2000, 0x3000, 0x4000)
    # sme_mask (AMD memory encryption) is not part of the address
    mem.set(0x4000, _index(VMALLOC, 3), (1 << 47) | 0x1234_5000 | 0x63)
    assert walk(mem, "x86_64", 0x1000, VMALLOC, sme_mask=1 << 47).paddr == \
        0x1234_5000 | (VMALLOC & 0xFFF)


def test_x86_64_large_pages_and_holes():
    mem = Tables()
    mem.set(0x1000, _index(VMALLOC, 0), 0x2000 | 0x63)
    mem.set(0x2000, _index(VMALLOC, 1), 0x3000 | 0x63)
    mem.set(0x3000, _index(VMALLOC, 2), 0x4000_0000 | 0xE3)            # 2 MiB page (PSE)
    got = walk(mem, "x86_64", 0x1000, VMALLOC)
    assert got.paddr == 0x4000_0000 | (VMALLOC & 0x1F_FFFF) and len(got.tables) == 3
    mem.set(0x2000, _index(VMALLOC, 1), 0x8000_0000 | 0xE3)            # 1 GiB page
    assert walk(mem, "x86_64", 0x1000, VMALLOC).paddr == 0x8000_0000 | (VMALLOC & 0x3FFF_FFFF)
    mem.set(0x2000, _index(VMALLOC, 1), 0x9000 | 0x62)                 # not present
    assert walk(mem, "x86_64", 0x1000, VMALLOC).paddr is None
    mem.set(0x2000, _index(VMALLOC, 1), 0x9000 | 0x63)                 # table not captured
    got = walk(mem, "x86_64", 0x1000, VMALLOC)
    assert got.paddr is None and got.tables == (0x1000, 0x2000, 0x9000)


def test_arm64_pages_blocks_and_three_levels():
    va = 0xFFFF80000A6B3C80
    mem = Tables()
    mem.set(0x1000, _index(va, 0), 0x2000 | 0x3)
    mem.set(0x2000, _index(va, 1), 0x3000 | 0x3)
    mem.set(0x3000, _index(va, 2), 0x4000 | 0x3)
    mem.set(0x4000, _index(va, 3), 0x00E8_0000_4567_8000 | 0x703)      # upper attributes
    got = walk(mem, "arm64", 0x1000, va)
    assert got.paddr == 0x4567_8000 | (va & 0xFFF) and len(got.tables) == 4
    mem.set(0x3000, _index(va, 2), 0x4060_0000 | 0x1)                   # 2 MiB block
    assert walk(mem, "arm64", 0x1000, va).paddr == 0x4060_0000 | (va & 0x1F_FFFF)
    va39 = 0xFFFFFFC0_0A6B3C80
    mem3 = Tables()
    mem3.set(0x1000, _index(va39, 0, 3), 0x2000 | 0x3)
    mem3.set(0x2000, _index(va39, 1, 3), 0x3000 | 0x3)
    mem3.set(0x3000, _index(va39, 2, 3), 0x5000 | 0x3)
    assert walk(mem3, "arm64", 0x1000, va39, levels=3).paddr == 0x5000 | (va39 & 0xFFF)


def _idx(vaddr: int, level: int, levels: int, shift: int) -> int:
    bits = shift - 3
    return (vaddr >> (shift + bits * (levels - 1 - level))) & ((1 << bits) - 1)


class Granule(Tables):
    """Table pages of another granule (16 KiB: 2048 entries each)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def set(self, table: int, index: int, entry: int) -> None:
        page = self.pages.setdefault(table, bytearray(self.size))
        struct.pack_into("<Q", page, 8 * index, entry)

    def read(self, paddr: int, size: int, what: str = "") -> bytes:
        base = paddr & ~(self.size - 1)
        page = self.pages.get(base)
        if page is None:
            raise FaultError(f"{paddr:#x} not captured", address=paddr)
        return bytes(page[paddr - base:paddr - base + size])


def test_arm64_geometry_from_page_size_and_va_bits():
    from minidump.kernel.pgtable import arm64_geometry
    assert arm64_geometry(4096, 39) == (12, 3, False)
    assert arm64_geometry(4096, 48) == (12, 4, False)
    assert arm64_geometry(4096, 52) == (12, 5, True)      # LPA2: level -1
    assert arm64_geometry(16384, 47) == (14, 3, False)
    assert arm64_geometry(16384, 52) == (14, 4, True)
    assert arm64_geometry(65536, 42) == (16, 2, False)
    assert arm64_geometry(65536, 52) == (16, 3, False)


def test_arm64_16k_pages_three_levels():
    from minidump.kernel.pgtable import arm64_geometry
    va = 0xFFFF8000_1234_5678
    shift, levels, lpa2 = arm64_geometry(16384, 47)
    mem = Granule(16384)
    mem.set(0x4000, _idx(va, 0, levels, shift), 0x8000 | 0x3)
    mem.set(0x8000, _idx(va, 1, levels, shift), 0xC000 | 0x3)
    mem.set(0xC000, _idx(va, 2, levels, shift), 0x4567_C000 | 0x703)
    got = walk(mem, "arm64", 0x4000, va, levels=levels, page_shift=shift, lpa2=lpa2)
    assert got.paddr == 0x4567_C000 | (va & 0x3FFF) and got.tables == (0x4000, 0x8000, 0xC000)
    mem.set(0x8000, _idx(va, 1, levels, shift), 0x4000_0000 | 0x1)   # 32 MiB block
    assert walk(mem, "arm64", 0x4000, va, levels=levels, page_shift=shift,
                lpa2=lpa2).paddr == 0x4000_0000 | (va & 0x1FF_FFFF)


def test_arm64_lpa2_52_bit_output_addresses():
    """FEAT_LPA2 (4K pages, 52-bit VA at run time): five levels, and output address bits
    50-51 in descriptor bits 8-9."""
    from minidump.kernel.pgtable import arm64_geometry
    va = 0xFFF0_0000_1234_5678
    shift, levels, lpa2 = arm64_geometry(4096, 52)
    mem = Tables()
    tables = [0x1000, 0x2000, 0x3000, 0x4000, 0x5000]
    for level in range(levels - 1):
        mem.set(tables[level], _idx(va, level, levels, shift), tables[level + 1] | 0x3)
    high = 0x3 << 50
    mem.set(tables[-1], _idx(va, levels - 1, levels, shift), 0x4567_8000 | (0x3 << 8) | 0x3)
    got = walk(mem, "arm64", 0x1000, va, levels=levels, page_shift=shift, lpa2=lpa2)
    assert got.paddr == high | 0x4567_8000 | (va & 0xFFF) and len(got.tables) == 5
