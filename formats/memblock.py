"""memblock: ``struct memblock_region``, ``struct memblock_type``, ``struct memblock``.

Source: ``include/linux/memblock.h`` (mainline 6.x; meminspect v1 18/26 adds
``MEMBLOCK_INSPECT``).  Natural alignment, native byte order.  LP64 sizes:
memblock_region 24 (``nid`` only with CONFIG_NUMA, same size either way),
memblock_type 40, memblock 96 (meminspect.md section 5.4).

Offsets are a parameter (:class:`MemblockLayout`): the C ABI default below, or
the ones the vmlinux's DWARF/BTF give.  The factory places each field at its
offset with explicit ``Padding`` in the gaps.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import lru_cache

import construct as cs


class MEMBLOCK(enum.IntFlag):
    """``enum memblock_flags``; INSPECT is meminspect series v1 only."""

    NONE = 0x0
    HOTPLUG = 0x1
    MIRROR = 0x2
    NOMAP = 0x4
    DRIVER_MANAGED = 0x8
    RSRV_NOINIT = 0x10
    RSRV_KERN = 0x20
    KHO_SCRATCH = 0x40
    INSPECT = 0x80


#: the names ``memblock_debug_show`` prints (mm/memblock.c ``flagname[]``)
DEBUGFS_FLAG_NAMES = {"HOTPLUG": MEMBLOCK.HOTPLUG, "MIRROR": MEMBLOCK.MIRROR,
                      "NOMAP": MEMBLOCK.NOMAP, "DRV_MNG": MEMBLOCK.DRIVER_MANAGED,
                      "RSV_NIT": MEMBLOCK.RSRV_NOINIT, "RSV_KERN": MEMBLOCK.RSRV_KERN,
                      "KHO_SCRATCH": MEMBLOCK.KHO_SCRATCH, "INSPECT": MEMBLOCK.INSPECT}

Fields = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class MemblockLayout:
    """Sizes and member offsets of the three structs."""

    region_size: int
    region: Fields      # base, size, flags[, nid]
    type_size: int
    type: Fields        # cnt, max, total_size, regions, name
    memblock_size: int
    memblock: Fields    # bottom_up, current_limit, memory, reserved


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def _c_layout(members: list[tuple[str, int, int]]) -> tuple[int, Fields]:
    """(sizeof, offsets) of a C struct of (name, size, align) members."""
    pos, widest, out = 0, 1, []
    for name, size, align in members:
        pos = _align(pos, align)
        out.append((name, pos))
        pos += size
        widest = max(widest, align)
    return _align(pos, widest), tuple(out)


def natural_layout(bits: int = 64, phys64: bool | None = None, numa: bool = True
                   ) -> MemblockLayout:
    """The C ABI layout: ``bits``-wide longs and pointers, ``phys64`` phys_addr_t."""
    word = bits // 8
    phys = 8 if (bits == 64 if phys64 is None else phys64) else 4
    # ARM EABI aligns 64-bit types to 8; i386 would use 4 (same offsets in these structs)
    region = [("base", phys, phys), ("size", phys, phys), ("flags", 4, 4)]
    if numa:
        region.append(("nid", 4, 4))
    region_size, region_fields = _c_layout(region)
    type_size, type_fields = _c_layout([("cnt", word, word), ("max", word, word),
                                        ("total_size", phys, phys), ("regions", word, word),
                                        ("name", word, word)])
    type_align = max(word, phys)
    memblock_size, memblock_fields = _c_layout([("bottom_up", 1, 1),
                                                ("current_limit", phys, phys),
                                                ("memory", type_size, type_align),
                                                ("reserved", type_size, type_align)])
    return MemblockLayout(region_size, region_fields, type_size, type_fields, memblock_size,
                          memblock_fields)


@dataclass(frozen=True)
class MemblockStructs:
    memblock_region: cs.Construct
    memblock_type: cs.Construct
    memblock: cs.Construct


def _placed(name: str, size: int, fields: Fields, types: dict[str, cs.Construct]
            ) -> cs.Construct:
    """A Struct with each field at its offset and ``Padding`` in between."""
    subcons, pos = [], 0
    for field, offset in sorted(fields, key=lambda f: f[1]):
        if offset < pos:
            raise ValueError(f"{name}.{field} at {offset} overlaps the previous member")
        if offset > pos:
            subcons.append(cs.Padding(offset - pos))
        con = types[field]
        subcons.append(field / con)
        pos = offset + con.sizeof()
    if size < pos:
        raise ValueError(f"{name}: sizeof {size} is smaller than its members ({pos})")
    if size > pos:
        subcons.append(cs.Padding(size - pos))
    return name / cs.Struct(*subcons)


@lru_cache(maxsize=None)
def memblock_structs(little_endian: bool = True, bits: int = 64, phys64: bool | None = None,
                     layout: MemblockLayout | None = None) -> MemblockStructs:
    """The three schemas for one ABI (and optionally a layout from debug info)."""
    if phys64 is None:
        phys64 = bits == 64
    layout = layout or natural_layout(bits, phys64)
    u8 = cs.Int8ul
    u32 = cs.Int32ul if little_endian else cs.Int32ub
    s32 = cs.Int32sl if little_endian else cs.Int32sb
    u64 = cs.Int64ul if little_endian else cs.Int64ub
    word = u64 if bits == 64 else u32
    phys = u64 if phys64 else u32
    region = _placed("memblock_region", layout.region_size, layout.region,
                     {"base": phys, "size": phys, "flags": u32, "nid": s32})
    mtype = _placed("memblock_type", layout.type_size, layout.type,
                    {"cnt": word, "max": word, "total_size": phys, "regions": word,
                     "name": word})
    memblock = _placed("memblock", layout.memblock_size, layout.memblock,
                       {"bottom_up": u8, "current_limit": phys, "memory": mtype,
                        "reserved": mtype})
    return MemblockStructs(region, mtype, memblock)
