"""meminspect's runtime table: ``inspect_entries[]`` in a full capture.

``kernel/meminspect/meminspect.c`` keeps ``static struct inspect_entry
inspect_entries[MEMINSPECT_ID_MAX]``; slot ``i`` holds the entry whose id is
``i`` and an id of 0 marks an empty slot (meminspect.md section 7).  It holds
the static entries with their runtime ``va`` (and, in v3, ``pa``) and every
dynamic one (ELF header, VMCOREINFO, config, runqueues, node data, ...).  The
array is a local symbol; its runtime address is the link address plus
VMCOREINFO ``KERNELOFFSET``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from minidump.formats.common import iter_table
from minidump.meminspect.static import IdNames, InspectEntry, entry_schema

if TYPE_CHECKING:
    from minidump.kernel.memory import KernelMemory
    from minidump.elf.vmlinux import Vmlinux

SYMBOL = "inspect_entries"


def read_inspect_entries(vmlinux: "Vmlinux", kernel: "KernelMemory", names: IdNames,
                 debuginfo=None) -> list[InspectEntry] | None:
    """The used slots of ``inspect_entries[]``, or None when the kernel has no such array.

    ``pa`` is filled from ``va`` (kernel-image or linear-map rules) where the
    kernel left it 0 (v1/v2 static entries).
    """
    symbol = vmlinux.symbols.get(SYMBOL)
    if symbol is None:
        return None
    schema = entry_schema(vmlinux, debuginfo, symbol.size)
    count = symbol.size // schema.sizeof() if symbol.size else 201
    vaddr = kernel.runtime(symbol.value)
    data = kernel.read_virt(vaddr, count * schema.sizeof(), SYMBOL)
    entries = []
    for index, fields in iter_table(schema, data, count, what=SYMBOL):
        if fields["id"] == 0:
            continue
        va, pa = fields["va"], fields["pa"]
        if not pa and va:
            pa = kernel.pa(va) or 0
        link = (va - kernel.kerneloffset) & ((1 << vmlinux.bits) - 1)
        entries.append(InspectEntry(index, fields["id"], names.name(fields["id"]), va, pa,
                                    fields["size"], fields["type"], vmlinux.symbolize(link),
                                    f"{SYMBOL}[{index}]"))
    return entries
