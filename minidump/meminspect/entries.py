"""meminspect's runtime table: ``inspect_entries[]`` in a full capture.

``kernel/meminspect/meminspect.c`` keeps ``static struct inspect_entry
inspect_entries[MEMINSPECT_ID_MAX]``; slot ``i`` holds the entry whose id is
``i`` and an id of 0 marks an empty slot (meminspect.md section 7).  It holds
the static entries with their runtime ``va`` (and, in v3, ``pa``) and every
dynamic one (ELF header, VMCOREINFO, config, runqueues, node data, ...).  The
array is a local symbol; its runtime address is the link address plus
VMCOREINFO ``KERNELOFFSET`` -- or, with no vmlinux, the capture's own kallsyms
entry (``CONFIG_KALLSYMS_ALL`` lists local data symbols).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from minidump.formats.common import iter_table
from minidump.meminspect.static import IdNames, InspectEntry, entry_schema

if TYPE_CHECKING:
    from minidump.capture import Capture
    from minidump.elf.vmlinux import Vmlinux
    from minidump.kernel.memory import KernelMemory

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
    mask = (1 << vmlinux.bits) - 1
    return _read(kernel, kernel.runtime(symbol.value), schema, count, names,
                 lambda va: vmlinux.symbolize((va - kernel.kerneloffset) & mask))


def read_runtime_table(capture: "Capture", names: IdNames) -> list[InspectEntry] | None:
    """``inspect_entries[]`` of a full capture with no vmlinux: located by the capture's own
    kallsyms, laid out by the capture's ABI (64-bit: 40-byte entries; 32-bit: 24 with
    ``CONFIG_ARM_LPAE``, else 20).  None when the capture's kallsyms do not list it."""
    from minidump.formats.meminspect import MEMINSPECT_ID_MAX, inspect_entry
    from minidump.kernel.kallsyms import address_in
    address = address_in(capture, SYMBOL)
    arch = capture.elf_arch
    if address is None or arch is None:
        return None
    info = capture.vmcoreinfo
    phys64 = arch.bits == 64 or bool(info is not None and "CONFIG_ARM_LPAE" in info)
    schema = inspect_entry(arch.little_endian, arch.bits, phys64)
    return _read(capture.kernel, address, schema, MEMINSPECT_ID_MAX, names, lambda va: None)


def _read(kernel, vaddr: int, schema, count: int, names: IdNames, symbolize
          ) -> list[InspectEntry]:
    data = kernel.read_virt(vaddr, count * schema.sizeof(), SYMBOL)
    entries = []
    for index, fields in iter_table(schema, data, count, what=SYMBOL):
        if fields["id"] == 0:
            continue
        va, pa = fields["va"], fields["pa"]
        if not pa and va:
            pa = kernel.pa(va) or 0
        entries.append(InspectEntry(index, fields["id"], names.name(fields["id"]), va, pa,
                                    fields["size"], fields["type"],
                                    symbolize(va) if va else None, f"{SYMBOL}[{index}]"))
    return entries
