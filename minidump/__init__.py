"""minidump: turn Linux kernel minidumps into small ELF vmcores for crash and drgn.

The library API (every command is a thin layer over it)::

    import minidump
    with minidump.open("md/") as cap:             # md_*.BIN dir, Raw_Dmp!, item-602 blob, vmcore
        cap.arch, cap.vmcoreinfo["OSRELEASE"]
        for region in cap.regions:                # Region(id, name, object, paddr, vaddr, ...)
            ...
        cap.read(paddr, size); cap.read_virt(vaddr, size)
        for record in cap.dmesg():
            print(record)
        cap.facts()                               # what `minidump info --json` prints
        cap.write_vmcore("out.vmcore")            # what `minidump build` does
    minidump.extract("vmcore", vmlinux="vmlinux", regions="v3-default")   # -> Capture

Errors are :class:`MinidumpError` subclasses with ``.path``, ``.offset`` and
``.field``; reading memory the capture lacks raises :class:`FaultError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from minidump.errors import (FaultError, FormatError, LayoutError, MinidumpError, OutputError,
                             SymbolError, TruncatedError, UnsupportedError, UsageError)

__version__ = "0.1.0"

if TYPE_CHECKING:
    from minidump.api import extract, open
    from minidump.capture import Capture, WriteResult
    from minidump.kernel.drgn_unwind import stack_trace
    from minidump.kernel.printk import Record
    from minidump.kernel.vmcoreinfo import VmcoreInfo
    from minidump.model import Region, Status

#: public names imported on first use, so ``import minidump`` stays cheap
_LAZY = {
    "open": "minidump.api", "extract": "minidump.api",
    "Capture": "minidump.capture", "WriteResult": "minidump.capture",
    "Region": "minidump.model", "Status": "minidump.model",
    "Record": "minidump.kernel.printk", "VmcoreInfo": "minidump.kernel.vmcoreinfo",
    "stack_trace": "minidump.kernel.drgn_unwind",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'minidump' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["open", "extract", "Capture", "WriteResult", "Region", "Status", "Record",
           "VmcoreInfo", "MinidumpError", "FormatError", "TruncatedError", "SymbolError",
           "LayoutError", "UnsupportedError", "UsageError", "FaultError", "OutputError",
           "stack_trace", "__version__"]
