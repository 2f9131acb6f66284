"""meminspect ``struct inspect_entry`` (include/linux/meminspect.h, series v1-v3).

Fields: id (enum meminspect_uid, int-sized), va (void *), pa (phys_addr_t),
size (size_t), type (unsigned int); natural alignment, native byte order.
LP64: 40 bytes.  32-bit: 20 bytes, or 24 with a 64-bit phys_addr_t (LPAE/PAE).
"""

from __future__ import annotations

from functools import lru_cache

import construct as cs

MEMINSPECT_ID_MAX = 201
MEMINSPECT_ID_DYNAMIC = 44
MEMINSPECT_TYPE_REGULAR = 0


@lru_cache(maxsize=None)
def inspect_entry(little_endian: bool = True, bits: int = 64, phys64: bool | None = None) -> cs.Construct:
    """``struct inspect_entry`` for one ABI; ``phys64`` defaults to ``bits == 64``."""
    u32 = cs.Int32ul if little_endian else cs.Int32ub
    u64 = cs.Int64ul if little_endian else cs.Int64ub
    if phys64 is None:
        phys64 = bits == 64
    if bits == 64:
        return "inspect_entry" / cs.Struct(
            "id" / u32,
            cs.Padding(4),  # implicit: va is 8-byte aligned
            "va" / u64,
            "pa" / u64,
            "size" / u64,
            "type" / u32,
            cs.Padding(4),  # tail padding to alignment 8
        )
    if phys64:
        return "inspect_entry" / cs.Struct(
            "id" / u32,
            "va" / u32,
            "pa" / u64,  # offset 8 is already 8-aligned
            "size" / u32,
            "type" / u32,
        )
    return "inspect_entry" / cs.Struct(
        "id" / u32,
        "va" / u32,
        "pa" / u32,
        "size" / u32,
        "type" / u32,
    )
