"""Reading kernel memory by physical or virtual address from an ELF core.

Virtual reads use a PT_LOAD whose ``p_vaddr`` covers the address (as
vmcore-dmesg does), then the kernel-image / linear-map rules of
:class:`~minidump.kernel.vmcoreinfo.Translator` and a physical PT_LOAD.  No page
tables: a minidump rarely holds them.
"""

from __future__ import annotations

import bisect

from minidump.errors import MinidumpError
from minidump.files import Closable
from minidump.elf.core import ElfCore
from minidump.kernel.vmcoreinfo import Translator, VmcoreInfo


class FaultError(MinidumpError, LookupError):
    """An address the capture does not hold."""

    def __init__(self, problem: str, *, address: int, what: str | None = None,
                 path: str | None = None) -> None:
        super().__init__(problem, path=path, field=what)
        self.address = address


class CoreMemory(Closable):
    """Bounded reads from one ELF core; the file stays closed between calls."""

    def __init__(self, core: ElfCore, vmcoreinfo: VmcoreInfo | None = None,
                 arch: str | None = None) -> None:
        self.core = core
        self.vmcoreinfo = vmcoreinfo
        arch = arch or core.arch.name
        self.translator = Translator(arch, vmcoreinfo) if vmcoreinfo else None
        self._phys = sorted((l for l in core.loads if l.filesz), key=lambda l: l.paddr)
        self._phys_starts = [l.paddr for l in self._phys]
        self._virt = sorted((l for l in core.loads if l.filesz and l.vaddr),
                            key=lambda l: l.vaddr)
        self._virt_starts = [l.vaddr for l in self._virt]
        self._fh = open(core.path, "rb")  # noqa: SIM115 - closed in close()

    def close(self) -> None:
        self._fh.close()

    @staticmethod
    def _find(loads, starts, addr: int, attr: str):
        index = bisect.bisect_right(starts, addr) - 1
        while index >= 0:
            load = loads[index]
            base = getattr(load, attr)
            if base <= addr < base + load.filesz:
                return load, addr - base
            if addr - base > 1 << 40:
                break
            index -= 1
        return None

    def _read(self, loads, starts, addr: int, size: int, attr: str, what: str) -> bytes:
        out = bytearray()
        cur = addr
        while len(out) < size:
            hit = self._find(loads, starts, cur, attr)
            if hit is None:
                kind = "physical" if attr == "paddr" else "virtual"
                raise FaultError(f"{kind} address {cur:#x} is not in the capture"
                                 + (f" (reading {what})" if what else ""),
                                 address=cur, what=what, path=self.core.path)
            load, delta = hit
            n = min(size - len(out), load.filesz - delta)
            self._fh.seek(load.offset + delta)
            chunk = self._fh.read(n)
            if len(chunk) != n:
                raise FaultError(f"file ends inside PT_LOAD[{load.index}]", address=cur,
                                 what=what, path=self.core.path)
            out += chunk
            cur += n
        return bytes(out)

    def read_phys(self, paddr: int, size: int, what: str = "") -> bytes:
        return self._read(self._phys, self._phys_starts, paddr, size, "paddr", what)

    def read_virt(self, vaddr: int, size: int, what: str = "") -> bytes:
        """Bytes at a kernel virtual address: p_vaddr first, then image/linear translation."""
        try:
            return self._read(self._virt, self._virt_starts, vaddr, size, "vaddr", what)
        except FaultError:
            paddr = self.translator.pa(vaddr) if self.translator else None
            if paddr is None:
                raise
            try:
                return self.read_phys(paddr, size, what)
            except FaultError as exc:
                raise FaultError(f"virtual address {vaddr:#x} (PA {paddr:#x}) is not in the "
                                 f"capture" + (f" (reading {what})" if what else ""),
                                 address=vaddr, what=what, path=self.core.path) from exc

    def u64(self, vaddr: int, what: str = "") -> int:
        order = "little" if self.core.arch.little_endian else "big"
        return int.from_bytes(self.read_virt(vaddr, 8, what), order)

    def word(self, vaddr: int, what: str = "") -> int:
        n = self.core.arch.bits // 8
        order = "little" if self.core.arch.little_endian else "big"
        return int.from_bytes(self.read_virt(vaddr, n, what), order)
