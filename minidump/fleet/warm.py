"""Imported by each fleet worker's parent process before it starts workers: everything
reading a capture needs, so that no worker pays for the imports itself.

Workers fork from the local pool's forkserver (or start as a Dask helper), and
the readers, kernel and planning modules are imported lazily by the library.
Without this, every new worker spent ~130 ms importing on its first capture
(against ~8 ms per capture after it), and again after each timeout or death.
``tests/fleet/test_fleet_warm.py`` checks that, once this is imported, triaging
a capture of every container imports no further ``minidump`` module.
"""

from __future__ import annotations

import importlib

#: what minidump.open + Capture.facts/dmesg/resolved_regions import, beyond minidump.api
MODULES = (
    "construct", "minidump.sources.mddir", "minidump.sources.rawdump",
    "minidump.sources.elfcore", "minidump.sources.tables", "minidump.assemble.place",
    "minidump.elf.kelf", "minidump.kernel.crash", "minidump.kernel.facts",
    "minidump.kernel.kallsyms", "minidump.kernel.memory", "minidump.kernel.printk",
    "minidump.kernel.prstatus", "minidump.kernel.translate", "minidump.kernel.vmcoreinfo",
    "minidump.meminspect.naming", "minidump.meminspect.static",
    "minidump.meminspect.vmlinux_names", "minidump.vmcore.plan", "minidump.vmcore.metadata",
    "minidump.fleet.triage",
    "minidump.report", "minidump.formats.kinfo", "minidump.kernel.image",
    "minidump.kernel.kinfo",
)


def warm() -> None:
    for name in MODULES:
        importlib.import_module(name)
    from minidump.sources import READERS
    for reader in READERS:
        reader.load()


warm()
