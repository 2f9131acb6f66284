"""memblock regions flagged INSPECT, from kernel memory or from debugfs text.

meminspect series v1 (18/26, ``mm/memblock.c``) marks memory it registers
for inspection with ``MEMBLOCK_INSPECT`` (0x80) in ``memblock.memory``.  Two
sources: the global ``struct memblock memblock`` in a full capture (layout from
the vmlinux's DWARF/BTF through :mod:`minidump.kernel.debuginfo`, else the C ABI
default), and ``/sys/kernel/debug/memblock/{memory,reserved}`` as printed by
``memblock_debug_show``.  Flag bits this tool does not know are kept and
reported, never dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from minidump.errors import FormatError
from minidump.formats.common import iter_table, parse_at
from minidump.formats.memblock import (DEBUGFS_FLAG_NAMES, MEMBLOCK, MemblockLayout,
                                       memblock_structs, natural_layout)

if TYPE_CHECKING:
    from minidump.kernel.memory import KernelMemory
    from minidump.elf.vmlinux import Vmlinux

KNOWN_FLAGS = sum(int(f) for f in MEMBLOCK)
MAX_REGIONS = 1 << 20     # memblock arrays double from 128; far below this in practice
TYPES = ("memory", "reserved")
_DEBUGFS_LINE = re.compile(r"^\s*(\d+):\s+(0x[0-9a-fA-F]+)\.\.(0x[0-9a-fA-F]+)\s+(-?\d+|x)\s+(\S+)\s*$")


@dataclass(frozen=True, slots=True)
class MemblockRegion:
    """One ``struct memblock_region`` of ``memblock.<type>``."""

    type: str            # "memory" or "reserved"
    index: int
    base: int
    size: int
    flags: int
    nid: int | None = None
    unknown_names: tuple[str, ...] = ()   # debugfs flag names this tool does not know

    @property
    def inspect(self) -> bool:
        return bool(self.flags & MEMBLOCK.INSPECT)

    @property
    def unknown_flags(self) -> int:
        return self.flags & ~KNOWN_FLAGS

    @property
    def flag_names(self) -> list[str]:
        names = [f.name for f in MEMBLOCK if f and self.flags & f]
        if self.unknown_flags:
            names.append(f"UNKNOWN({self.unknown_flags:#x})")
        return names + list(self.unknown_names) or ["NONE"]


def layout_from_debuginfo(debuginfo, bits: int, phys64: bool | None = None
                          ) -> MemblockLayout | None:
    """Sizes and offsets from DWARF/BTF (:mod:`minidump.kernel.debuginfo`); None when it lacks them."""
    if debuginfo is None:
        return None
    default = natural_layout(bits, phys64)

    def offsets(struct: str, fields) -> tuple[tuple[str, int], ...] | None:
        out = []
        for name, _ in fields:
            offset = debuginfo.member_offset(struct, name)
            if offset is None and (struct, name) != ("memblock_region", "nid"):  # NUMA only
                return None
            if offset is not None:
                out.append((name, offset))
        return tuple(out)

    parts = []
    for struct, fields in (("memblock_region", default.region), ("memblock_type", default.type),
                           ("memblock", default.memblock)):
        size, placed = debuginfo.struct_size(struct), offsets(struct, fields)
        if size is None or placed is None:
            return None
        parts += [size, placed]
    return MemblockLayout(*parts)


def read_memblock(vmlinux: "Vmlinux", kernel: "KernelMemory",
                  layout: MemblockLayout | None = None) -> list[MemblockRegion] | None:
    """Every region of ``memblock.memory`` and ``memblock.reserved``; None without ``memblock``.

    Raises FaultError when the arrays are not in the capture (x86 frees them
    after boot unless CONFIG_ARCH_KEEP_MEMBLOCK).
    """
    symbol = vmlinux.symbols.get("memblock")
    if symbol is None:
        return None
    structs = memblock_structs(vmlinux.little_endian, vmlinux.bits, None, layout)
    size = structs.memblock.sizeof()
    data = kernel.read_virt(kernel.runtime(symbol.value), size, "memblock")
    top = parse_at(structs.memblock, data, path=kernel.path, what="memblock")
    regions: list[MemblockRegion] = []
    stride = structs.memblock_region.sizeof()
    for name in TYPES:
        mtype = top[name]
        if mtype.cnt > min(mtype.max, MAX_REGIONS):
            raise FormatError(f"cnt {mtype.cnt} exceeds max {mtype.max}", path=kernel.path,
                              field=f"memblock.{name}.cnt")
        table = kernel.read_virt(mtype.regions, mtype.cnt * stride, f"memblock.{name}.regions")
        for index, fields in iter_table(structs.memblock_region, table, mtype.cnt,
                                        what=f"memblock.{name}.regions"):
            regions.append(MemblockRegion(name, index, fields["base"], fields["size"],
                                          fields["flags"], fields.get("nid")))
    return regions


def parse_debugfs(text: str, type_name: str = "reserved", *, path: str | None = None
                  ) -> list[MemblockRegion]:
    """Lines of ``memblock/{memory,reserved}`` (``memblock_debug_show``)."""
    regions = []
    offset = 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped:
            match = _DEBUGFS_LINE.match(stripped)
            if match is None:
                raise FormatError(f"not a memblock debugfs line: {stripped[:60]!r}", path=path,
                                  offset=offset, field=f"memblock/{type_name}")
            index, base, last, nid, flags = match.groups()
            bits, unknown = _flag_bits(flags)
            regions.append(MemblockRegion(type_name, int(index), int(base, 16),
                                          int(last, 16) - int(base, 16) + 1, bits,
                                          None if nid == "x" else int(nid), unknown))
        offset += len(line.encode())
    return regions


def _flag_bits(text: str) -> tuple[int, tuple[str, ...]]:
    """``NOMAP|INSPECT`` to bits, plus the names not known here (the kernel's ``UNKNOWN``)."""
    bits, unknown = 0, []
    for name in text.split("|"):
        if name in DEBUGFS_FLAG_NAMES:
            bits |= DEBUGFS_FLAG_NAMES[name]
        elif name != "NONE":
            unknown.append(name)
    return bits, tuple(unknown)


def inspect_regions(regions: list[MemblockRegion]) -> list[MemblockRegion]:
    """Regions flagged ``MEMBLOCK_INSPECT``."""
    return [r for r in regions if r.inspect]
