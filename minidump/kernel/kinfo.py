"""Android's debug-kinfo block, found in a full capture's memory (meminspect v3 26/26).

The ``google,debug-kinfo`` driver (``kernel/meminspect/kinfo.c``) keeps a packed
``kernel_all_info`` (:mod:`minidump.formats.kinfo`) in reserved memory for the boot
loader: the physical addresses of ``_text``, ``_stext``, ``_etext``, the init text,
``_end``, every kallsyms table and ``swapper_pg_dir``, the symbol count, the release,
``THREAD_SIZE``.  It is found by its magic at the start of a page (reserved memory is
page-aligned) and believed only when its checksum holds.  Its table addresses locate the
kernel's symbols where VMCOREINFO does not, and ``_text``'s address places the image.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from minidump.kernel.memory import PhysicalMemory

MAGIC = 0xCCEEDDFF
#: kinfo's kallsyms fields and the kernel tables they locate
TABLES = {"kallsyms_offsets": "_offsets_pa", "kallsyms_names": "_names_pa",
          "kallsyms_token_table": "_token_table_pa", "kallsyms_token_index": "_token_index_pa",
          "kallsyms_markers": "_markers_pa", "kallsyms_seqs_of_names": "_seqs_of_names_pa"}
SECTIONS = ("_text", "_stext", "_etext", "_sinittext", "_einittext", "_end")


@dataclass(frozen=True)
class KernelInfo:
    """One checked ``kernel_all_info``: where it is, which layout, and its fields."""

    paddr: int
    layout: str                     # "v3" (208 bytes) or "v1/v2" (with build_info)
    fields: dict = field(default_factory=dict)

    @property
    def release(self) -> str:
        return self.fields["last_uts_release"].split(b"\0", 1)[0].decode("ascii", "replace")

    def pa(self, name: str) -> int | None:
        """Physical address of ``_text`` ... ``_end``, a kallsyms table or swapper_pg_dir."""
        key = TABLES.get(name) or (f"{name}_pa" if name in SECTIONS or name ==
                                   "swapper_pg_dir" else None)
        value = self.fields.get(key) if key else None
        return value or None

    def as_dict(self) -> dict:
        f = self.fields
        out = {"pa": self.paddr, "layout": self.layout, "checksum_ok": True,
               "release": self.release, "num_syms": f["num_syms"],
               "thread_size": f["thread_size"], "bits_per_long": f["bit_per_long"],
               "kallsyms_all": bool(f["enabled_all"]),
               "swapper_pg_dir_pa": f["swapper_pg_dir_pa"]}
        for name in SECTIONS:
            out[f"{name.lstrip('_')}_pa"] = f[f"{name}_pa"]
        out["tables"] = {name: f[key] for name, key in TABLES.items()}
        return out


def _checksum(raw: bytes) -> int:
    value = 0
    for (word,) in struct.iter_unpack("<I", raw[:len(raw) // 4 * 4]):
        value ^= word
    return value


def parse(data: bytes, paddr: int) -> KernelInfo | None:
    """The block at the start of ``data`` when its magic and checksum hold, else None."""
    from minidump.formats.kinfo import kernel_info, kernel_info_build
    if len(data) < 8:
        return None
    magic, checksum = struct.unpack_from("<II", data)
    if magic != MAGIC:
        return None
    for layout, schema in (("v3", kernel_info), ("v1/v2", kernel_info_build)):
        size = schema.sizeof()
        raw = data[8:8 + size]
        if len(raw) == size and _checksum(raw) == checksum:
            fields = {k: v for k, v in schema.parse(raw).items() if not k.startswith("_io")}
            return KernelInfo(paddr, layout, fields)
    return None


def find_kinfo(memory: "PhysicalMemory") -> KernelInfo | None:
    """The first page-aligned, checksum-valid debug-kinfo block in ``memory``, or None."""
    from minidump.formats.kinfo import kernel_info_build
    from minidump.kernel.image import aligned_hits
    for paddr, data in aligned_hits(memory, struct.pack("<I", MAGIC),
                                    length=8 + kernel_info_build.sizeof()):
        found = parse(bytes(data), paddr)
        if found is not None:
            return found
    return None
