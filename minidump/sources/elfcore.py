"""An ELF core as a container: one row per PT_LOAD, its notes as they are.

Our own vmcores, kdump ``/proc/vmcore`` copies and QEMU ``dump-guest-memory``
files (:mod:`minidump.elf.core` parses them).  A PT_LOAD's ``p_vaddr`` is kept
where it is set (QEMU without paging writes 0: no virtual address).
"""

from __future__ import annotations

import os

from minidump.elf.core import read_core, sniff  # noqa: F401 - the registry calls sniff
from minidump.model import Payload, Row
from minidump.sources import Context, Source


def read(path: str, context: Context) -> Source:
    core = read_core(path)
    name = os.path.basename(path)
    source = Source("ELF core", notes=core.notes, arch=core.arch, mapped=True,
                    kernel_header=core.kernel_header)
    if core.kernel_header:
        source.container = "ELF core (a meminspect kernel's header)"
    source.rows = [Row(f"PT_LOAD[{load.index}]", paddr=load.paddr, size=load.memsz,
                       payload=Payload(path, load.offset, load.filesz), source=name,
                       vaddr=load.vaddr or None) for load in core.loads]
    return source
