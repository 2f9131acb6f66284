"""What each region holds, from the vmlinux's symbol table (``--vmlinux``).

Three kinds of address name a symbol, all KASLR-aware (``KERNELOFFSET``):

* a kernel-image address: the symbol at ``vaddr - KERNELOFFSET``;
* a linear-map alias of an image object: the image address of the region's
  physical address (VMCOREINFO's image rule), then as above;
* a per-CPU object: ``vaddr - __per_cpu_offset[cpu]`` falls in the per-CPU
  section (``__per_cpu_start``..``__per_cpu_end``; zero-based and not moved
  by KASLR on x86_64, an image range elsewhere), named ``symbol[cpuN]``.
  Offsets shared by several CPUs (the boot value of CPUs that are not
  possible) are not used.

The offsets are read from the capture; nothing is taken from the vmlinux's
file bytes.  For meminspect kernels :func:`uncaptured` compares the capture
with the vmlinux's ``.inspect_table``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from minidump.errors import MinidumpError

if TYPE_CHECKING:
    from minidump.capture import Capture
    from minidump.elf.vmlinux import Vmlinux
    from minidump.model import Region

MASK64 = (1 << 64) - 1
#: CONFIG_NR_CPUS is at most 8192 (arch Kconfigs); a larger __per_cpu_offset is not read whole
NR_CPUS_MAX = 8192


@dataclass(frozen=True, slots=True)
class Hit:
    """A symbol a region's address falls in: ``offset`` bytes into it, on ``cpu`` if per-CPU."""

    symbol: str
    offset: int = 0
    cpu: int | None = None

    @property
    def exact(self) -> bool:
        return self.offset == 0

    def text(self) -> str:
        name = self.symbol if self.cpu is None else f"{self.symbol}[cpu{self.cpu}]"
        return name if self.offset == 0 else f"{name}+{self.offset:#x}"


class VmlinuxNames:
    """Symbol names for runtime addresses of one capture's kernel."""

    def __init__(self, capture: "Capture", vmlinux: "Vmlinux") -> None:
        self.symbols = vmlinux.symbols
        info = capture.vmcoreinfo
        self.kerneloffset = (info.kerneloffset or 0) if info is not None else 0
        self.mask = (1 << vmlinux.bits) - 1
        self.word = vmlinux.bits // 8
        self.translator = capture.kernel.translator
        start, end = self.symbols.get("_text"), self.symbols.get("_end")
        self.image = (start.value, end.value) if start and end else None
        self.percpu = self._percpu(capture, vmlinux)

    def _percpu(self, capture, vmlinux):
        start, end = self.symbols.get("__per_cpu_start"), self.symbols.get("__per_cpu_end")
        table = self.symbols.get("__per_cpu_offset")
        if not (start and end and table) or end.value <= start.value:
            return None
        count = min(table.size // self.word, NR_CPUS_MAX)
        try:
            offsets = capture.kernel.words(self.runtime(table.value), count, "__per_cpu_offset")
        except MinidumpError:
            return None
        shared = Counter(offsets)
        cpus = [(cpu, off) for cpu, off in enumerate(offsets) if shared[off] == 1]
        # x86_64 links the per-CPU section at 0 and KASLR does not move it
        relocated = start.value != 0
        return start.value, end.value, relocated, cpus

    def runtime(self, link: int) -> int:
        return (link + self.kerneloffset) & self.mask

    def link(self, vaddr: int) -> int:
        return (vaddr - self.kerneloffset) & self.mask

    def in_image(self, link: int) -> bool:
        return self.image is not None and self.image[0] <= link < self.image[1]

    def symbol_at(self, name: str) -> int | None:
        """The runtime address of a (non-per-CPU) symbol."""
        found = self.symbols.get(name)
        return None if found is None else self.runtime(found.value)

    def hit(self, region: "Region") -> Hit | None:
        """The symbol the region starts in, or None."""
        if region.vaddr is not None:
            link = self.link(region.vaddr)
            if self.in_image(link):
                return self._symbolize(link)
        if region.paddr is not None and self.translator is not None:
            try:
                alias = self.translator.image_va(region.paddr)
            except MinidumpError:
                alias = None
            if alias is not None and self.in_image(self.link(alias)):
                found = self._symbolize(self.link(alias))
                if found is not None:
                    return found
        if region.vaddr is not None and self.percpu is not None:
            start, end, relocated, cpus = self.percpu
            for cpu, offset in cpus:
                candidate = (region.vaddr - offset) & self.mask
                link = self.link(candidate) if relocated else candidate
                if start <= link < end:
                    found = self._symbolize(link)
                    if found is not None:
                        return Hit(found.symbol, found.offset, cpu)
        return None

    def agrees(self, name: str, region: "Region") -> bool:
        """Whether ``name`` (what other evidence says) is a symbol starting at the region."""
        found = self.symbols.get(name)
        if found is None or region.vaddr is None:
            return False
        if self.runtime(found.value) == region.vaddr:
            return True
        if region.paddr is None or self.translator is None:
            return False
        try:
            return self.translator.pa(self.runtime(found.value)) == region.paddr
        except MinidumpError:
            return False

    def _symbolize(self, link: int) -> Hit | None:
        found = self.symbols.symbolize(link)
        return None if found is None else Hit(found[0], found[1])


def uncaptured(capture: "Capture", vmlinux: "Vmlinux", regions: list["Region"]) -> list[dict]:
    """The ``.inspect_table`` entries (last of each ID) whose bytes the capture lacks:
    ``{"id", "object", "size"}`` each; empty for kernels without meminspect."""
    from minidump.meminspect.naming import ID_OBJECTS
    from minidump.meminspect.static import read_static
    if vmlinux.section(".inspect_table") is None:
        return []
    entries, _ = read_static(vmlinux)
    held = {r.id for r in regions
            if r.id is not None and r.status is not None and not r.status.lost}
    last = {e.id: e for e in entries}
    out = []
    for ident in sorted(last):
        if ident in held:
            continue
        entry = last[ident]
        name = entry.symbol or ID_OBJECTS.get(entry.id_name, entry.id_name)
        out.append({"id": ident, "object": name, "size": entry.size})
    return out
