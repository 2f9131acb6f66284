"""Kernel page-table walks over captured physical memory (x86_64; arm64 4/16/64 KiB granules;
riscv64 Sv39/48/57).

Used where an address is neither in the kernel image nor in the linear map:
vmalloc'd task and IRQ stacks (``CONFIG_VMAP_STACK``).  The walk starts at the
kernel's root table (x86_64 ``init_top_pgt``, arm64 ``swapper_pg_dir``) and
returns the physical address *and* every table page it read, so a minidump can
keep the tables and crash or drgn can repeat the walk.

- x86_64 (``arch/x86/include/asm/pgtable_types.h``): 4 levels (5 with
  ``pgtable_l5_enabled``), 9 bits each; ``_PAGE_PRESENT`` bit 0, ``_PAGE_PSE``
  bit 7 marks 1 GiB / 2 MiB leaves; addresses are bits 12..51 less ``sme_mask``.
- arm64 (``arch/arm64/include/asm/pgtable-hwdef.h``): a granule of ``2**g`` bytes
  resolves ``g - 3`` bits a level, so the levels follow from the VA bits the kernel
  runs with (``TCR_EL1_T1SZ``): 4 KiB pages 39 bits 3 levels, 48 bits 4, 52 bits 5
  (LPA2); 16 KiB pages 47 bits 3, 52 bits 4; 64 KiB pages 42 bits 2, 48/52 bits 3.
  Descriptor bit 0 valid, bit 1 table (or page at the last level); a block has bit 1
  clear.  Output address bits ``g``..47, and with 52-bit physical addresses bits
  50-51 in descriptor bits 8-9 (LPA2, 4/16 KiB granules) or bits 48-51 in descriptor
  bits 12-15 (64 KiB granule).
- riscv64 (``arch/riscv/include/asm/pgtable-bits.h``): 3, 4 or 5 levels (Sv39/48/57, from
  VMCOREINFO's ``VA_BITS``) of 9 bits, 4 KiB pages; ``_PAGE_PRESENT`` bit 0, a leaf has any
  of R/W/X (bits 1-3); the PPN sits in bits 10..53 (``_PAGE_PFN_SHIFT``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

PAGE_SIZE = 4096
_ADDR_X86 = 0x000F_FFFF_FFFF_F000
_ADDR_ARM64 = 0x0000_FFFF_FFFF_F000
_PFN_RISCV64 = (1 << 44) - 1


class Physical(Protocol):
    def read(self, paddr: int, size: int, what: str = "") -> bytes: ...


@dataclass(frozen=True, slots=True)
class Walk:
    """Where ``vaddr`` maps (``paddr`` None if unmapped or a table was not captured)."""

    vaddr: int
    paddr: int | None
    tables: tuple[int, ...]          # physical addresses of the table pages read


def arm64_geometry(page_size: int | None, va_bits: int | None) -> tuple[int, int, bool]:
    """(page shift, levels, LPA2 descriptors) of arm64 kernel page tables."""
    shift = {16384: 14, 65536: 16}.get(page_size or 4096, 12)
    bits = va_bits or 48
    per_level = shift - 3
    levels = -(-(bits - shift) // per_level)
    return shift, levels, bits > 48 and shift < 16


def riscv64_levels(va_bits: int | None) -> int | None:
    """Page-table levels of a riscv64 kernel running with ``va_bits`` (Sv39/48/57)."""
    return {39: 3, 48: 4, 57: 5}.get(va_bits or 0)


def walk(memory: Physical, arch: str, root: int, vaddr: int, *, levels: int = 4,
         sme_mask: int = 0, page_shift: int = 12, lpa2: bool = False) -> Walk:
    """Translate ``vaddr`` through the page tables at physical ``root``.

    ``page_shift`` and ``lpa2`` are arm64's granule and descriptor format
    (:func:`arm64_geometry`); x86_64 is always 4 KiB, 9 bits a level.
    """
    from minidump.errors import MinidumpError

    tables: list[int] = []
    table = root
    per_level = page_shift - 3
    for level in range(levels):
        shift = page_shift + per_level * (levels - 1 - level)
        index = (vaddr >> shift) & ((1 << per_level) - 1)
        tables.append(table)
        try:
            entry = int.from_bytes(memory.read(table + 8 * index, 8, "page table"), "little")
        except MinidumpError:
            return Walk(vaddr, None, tuple(tables))
        if not entry & 1:
            return Walk(vaddr, None, tuple(tables))
        last = level == levels - 1
        if arch == "x86_64":
            address = entry & _ADDR_X86 & ~sme_mask
            leaf = last or (level >= levels - 3 and entry & 0x80 and level > 0)
        elif arch == "riscv64":
            address = ((entry >> 10) & _PFN_RISCV64) << 12
            leaf = last or bool(entry & 0xE)
        else:
            address = _arm64_output(entry, page_shift, lpa2)
            leaf = last or not entry & 2
        if leaf:
            mask = (1 << shift) - 1
            return Walk(vaddr, (address & ~mask) | (vaddr & mask), tuple(tables))
        table = address
    return Walk(vaddr, None, tuple(tables))


def _arm64_output(entry: int, page_shift: int, lpa2: bool) -> int:
    """The output address of an arm64 table/block/page descriptor."""
    if page_shift == 16:
        return (entry & 0x0000_FFFF_FFFF_0000) | ((entry >> 12) & 0xF) << 48
    low = entry & _ADDR_ARM64 & ~((1 << page_shift) - 1)
    if lpa2:
        return (low & ((1 << 50) - 1)) | ((entry >> 8) & 0x3) << 50
    return low
