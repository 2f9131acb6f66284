"""An ELF core as a container: one row per PT_LOAD, its notes as they are.

Our own vmcores, kdump ``/proc/vmcore`` copies and QEMU ``dump-guest-memory``
files (:mod:`minidump.elf.core` parses them).  A PT_LOAD's ``p_vaddr`` is kept
where it is set (QEMU without paging writes 0: no virtual address).

A vmcore we wrote carries a MINIDUMP note (:mod:`minidump.vmcore.metadata`): then the
rows are the regions it records, in their order -- meminspect ID, firmware name, status
and reason, lost and duplicate regions included -- each written one over its PT_LOAD, so
the capture is the one the vmcore was built from.
"""

from __future__ import annotations

import os

from minidump.elf.core import read_core, sniff  # noqa: F401 - the registry calls sniff
from minidump.model import Payload, Row, Status
from minidump.sources import Context, Source


def read(path: str, context: Context) -> Source:
    from minidump.vmcore import metadata
    from minidump.vmcore.metadata import recorded_key
    core = read_core(path)
    name = os.path.basename(path)
    recorded = [n for n in core.notes if n.name == metadata.NOTE_NAME
                and n.type == metadata.NT_MINIDUMP_REGIONS]
    notes = [n for n in core.notes if n not in recorded]
    source = Source("ELF core", notes=notes, arch=core.arch, mapped=True,
                    kernel_header=core.kernel_header)
    if core.kernel_header:
        source.container = "ELF core (a meminspect kernel's header)"
    source.rows = [Row(f"PT_LOAD[{load.index}]", paddr=load.paddr, size=load.memsz,
                       payload=Payload(path, load.offset, load.filesz), source=name,
                       vaddr=load.vaddr or None) for load in core.loads]
    if recorded:
        try:
            scheme, regions = metadata.decode(recorded[-1].desc, len(core.loads))
            source.rows = [_row(r, core.loads, name, path) for r in regions]
            source.scheme = scheme
            source.objects = {recorded_key(r.region): r.region.object for r in regions
                              if r.region.object and r.region.object != "unknown"}
        except metadata.MetadataError as exc:
            source.warn(f"{name}: MINIDUMP note ignored ({exc}); regions are its PT_LOADs")
    return source


def _row(recorded, loads, name: str, path: str) -> Row:
    """A recorded region: over its PT_LOAD when it has one (which must agree with it)."""
    from minidump.vmcore.metadata import MetadataError
    region = recorded.region
    row = Row(region.name, seq=region.id, paddr=region.paddr, size=region.size,
              source=name, status=region.status, reason=region.reason, vaddr=region.vaddr,
              kind=region.kind)
    if recorded.load is None:
        return row
    load = loads[recorded.load]
    if (load.paddr, load.memsz) != (region.paddr, region.size):
        raise MetadataError(f"{region.name} is recorded at PA {region.paddr:#x} size "
                            f"{region.size:#x}, PT_LOAD[{load.index}] is at {load.paddr:#x} "
                            f"size {load.memsz:#x}")
    row.payload = Payload(path, load.offset, load.filesz)
    row.source = f"{name} PT_LOAD[{load.index}]"
    if region.status is Status.WRITTEN:
        row.status = None     # resolved again: written, as the bytes are there
    return row
