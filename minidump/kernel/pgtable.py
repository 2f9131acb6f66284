"""Kernel page-table walks over captured physical memory (x86_64 and arm64, 4 KiB pages).

Used where an address is neither in the kernel image nor in the linear map:
vmalloc'd task and IRQ stacks (``CONFIG_VMAP_STACK``).  The walk starts at the
kernel's root table (x86_64 ``init_top_pgt``, arm64 ``swapper_pg_dir``) and
returns the physical address *and* every table page it read, so a minidump can
keep the tables and crash or drgn can repeat the walk.

- x86_64 (``arch/x86/include/asm/pgtable_types.h``): 4 levels (5 with
  ``pgtable_l5_enabled``), 9 bits each; ``_PAGE_PRESENT`` bit 0, ``_PAGE_PSE``
  bit 7 marks 1 GiB / 2 MiB leaves; addresses are bits 12..51 less ``sme_mask``.
- arm64 (``arch/arm64/include/asm/pgtable-hwdef.h``), 4 KiB granule: levels
  by ``VA_BITS`` (39: 3, 48: 4); descriptor bit 0 valid, bit 1 table (levels
  0-2) or page (level 3); a level-1/2 entry with bit 1 clear is a block;
  output address bits 12..47.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

PAGE_SIZE = 4096
_ADDR_X86 = 0x000F_FFFF_FFFF_F000
_ADDR_ARM64 = 0x0000_FFFF_FFFF_F000


class Physical(Protocol):
    def read(self, paddr: int, size: int, what: str = "") -> bytes: ...


@dataclass(frozen=True, slots=True)
class Walk:
    """Where ``vaddr`` maps (``paddr`` None if unmapped or a table was not captured)."""

    vaddr: int
    paddr: int | None
    tables: tuple[int, ...]          # physical addresses of the table pages read


def walk(memory: Physical, arch: str, root: int, vaddr: int, *, levels: int = 4,
         sme_mask: int = 0) -> Walk:
    """Translate ``vaddr`` through the page tables at physical ``root``."""
    from minidump.errors import MinidumpError

    tables: list[int] = []
    table = root
    for level in range(levels):
        shift = 12 + 9 * (levels - 1 - level)
        index = (vaddr >> shift) & 0x1FF
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
        else:
            address = entry & _ADDR_ARM64
            leaf = last or not entry & 2
        if leaf:
            mask = (1 << shift) - 1
            return Walk(vaddr, (address & ~mask) | (vaddr & mask), tuple(tables))
        table = address
    return Walk(vaddr, None, tuple(tables))
