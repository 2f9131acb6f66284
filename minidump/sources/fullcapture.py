"""Full captures as kernel memory: ELF vmcores and raw RAM images ``FILE@PADDR``.

ELF vmcores are kdump ``/proc/vmcore`` copies (``fs/proc/vmcore.c``) and QEMU
``dump-guest-memory`` files (``dump/dump.c``); each PT_LOAD becomes an extent
of physical memory, and raw images are extents at the address the user gives.
Only headers and notes are read up front; every later read is bounded.

VMCOREINFO is the ELF note when there is one.  Otherwise it is read from the
kernel's own buffer: ``vmcoreinfo_data``/``vmcoreinfo_size``
(``kernel/vmcore_info.c``), found through the vmlinux after locating the
kernel image in physical memory by its ``linux_banner`` bytes.

Virtual addresses translate by the VMCOREINFO rules
(:class:`~minidump.kernel.vmcoreinfo.Translator`); the x86_64 direct map base is
randomized (CONFIG_RANDOMIZE_MEMORY), so it is read from ``page_offset_base``
(``arch/x86/mm/kaslr.c``) in the image.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from minidump.errors import FormatError, SymbolError, UsageError
from minidump.formats.elf import EM, VMCOREINFO_NOTE_NAME
from minidump.files import Closable, Extent, PhysicalMemory, parse_memory_spec
from minidump.kernel.memory import FaultError
from minidump.model import Arch, Note
from minidump.elf import core as elfcore
from minidump.kernel.vmcoreinfo import MASK64, X86_64_START_KERNEL_MAP, Translator, VmcoreInfo

if TYPE_CHECKING:
    from minidump.elf.vmlinux import Vmlinux

IMAGE_ALIGN = 2 << 20          # x86_64 CONFIG_PHYSICAL_ALIGN, arm64 MIN_KIMG_ALIGN
X86_64_PAGE_OFFSET = 0xFFFF888000000000   # the direct map without RANDOMIZE_MEMORY
BANNER_PROBE = 64              # bytes of linux_banner compared per candidate
MAX_VMCOREINFO = 1 << 16


@dataclass(frozen=True, slots=True)
class Piece:
    """``size`` bytes of physical memory at ``paddr``, held in ``path`` at ``offset``."""

    paddr: int
    size: int
    path: str
    offset: int


class FullCapture(Closable):
    """Physical memory of a whole machine, with kernel-VA reads once attached to a vmlinux."""

    def __init__(self, extents: list[Extent], *, path: str, container: str,
                 arch: Arch | None = None, notes: list[Note] | None = None) -> None:
        self.path = path
        self.container = container
        self.arch = arch
        self.notes = notes or []
        self.memory = PhysicalMemory(extents)
        self.vmcoreinfo: VmcoreInfo | None = None
        self.vmcoreinfo_source = ""
        self.translator: Translator | None = None
        for note in self.notes:
            if note.name == VMCOREINFO_NOTE_NAME and note.type == 0:
                self.vmcoreinfo = VmcoreInfo(note.desc.rstrip(b"\0"), path=path)
                self.vmcoreinfo_source = f"{os.path.basename(path)} note"
        self.notes = [n for n in self.notes if n.name != VMCOREINFO_NOTE_NAME]

    @classmethod
    def open(cls, capture: str, memory: list[str] = ()) -> "FullCapture":
        """An ELF vmcore or ``FILE@PADDR`` image, plus more ``FILE@PADDR`` images."""
        extra = [parse_memory_spec(spec) for spec in memory]
        if elfcore.sniff(capture):
            core = elfcore.read_core(capture)
            extents = [Extent(load.paddr, load.filesz, capture, load.offset)
                       for load in core.loads if load.filesz]
            return cls(extents + extra, path=capture, container="ELF vmcore", arch=core.arch,
                       notes=core.notes)
        if "@" in capture:
            return cls([parse_memory_spec(capture)] + extra, path=capture.rpartition("@")[0],
                       container="raw RAM image")
        if not os.path.exists(capture):
            raise UsageError(f"{capture}: no such file")
        raise UsageError(f"{capture} is not an ELF vmcore; give a raw RAM image as FILE@PADDR")

    def close(self) -> None:
        self.memory.close()

    # -- physical ------------------------------------------------------------
    def pieces(self, paddr: int, size: int) -> list[Piece]:
        """The file ranges holding ``[paddr, paddr + size)``, up to the first hole."""
        out: list[Piece] = []
        cur, end = paddr, paddr + size
        while cur < end:
            extent = self.memory.find(cur)
            if extent is None:
                break
            n = min(end, extent.end) - cur
            out.append(Piece(cur, n, extent.path, extent.offset + cur - extent.paddr))
            cur += n
        return out

    def read_phys(self, paddr: int, size: int, what: str = "") -> bytes:
        pieces = self.pieces(paddr, size)
        held = sum(p.size for p in pieces)
        if held < size:
            raise FaultError(f"physical address {paddr + held:#x} is not in the capture"
                             + (f" (reading {what})" if what else ""), address=paddr + held,
                             what=what or None, path=self.path)
        return b"".join(self.memory.read(p.paddr, p.size, what) for p in pieces)

    # -- virtual -------------------------------------------------------------
    def attach(self, vmlinux: "Vmlinux", vmcoreinfo: VmcoreInfo | None = None) -> None:
        """Use ``vmlinux`` symbols and VMCOREINFO for virtual reads; find VMCOREINFO if needed.

        On x86_64 the direct-map base is read from ``page_offset_base`` in the image.
        """
        self.arch = self.arch or vmlinux.arch
        if vmcoreinfo is not None:
            self.vmcoreinfo, self.vmcoreinfo_source = vmcoreinfo, vmcoreinfo.path or "--vmcoreinfo"
        if self.vmcoreinfo is None:
            self.vmcoreinfo = self._vmcoreinfo_from_memory(vmlinux)
        self.translator = Translator(self.arch.name, self.vmcoreinfo)
        base = vmlinux.symbols.get("page_offset_base")
        if self.arch.machine == EM.X86_64 and base is not None:
            self.translator = Translator(self.arch.name, self.vmcoreinfo,
                                         page_offset=self.word(self.runtime(base.value),
                                                               "page_offset_base"))

    @property
    def kerneloffset(self) -> int:
        return (self.vmcoreinfo.kerneloffset or 0) if self.vmcoreinfo else 0

    def runtime(self, link_vaddr: int) -> int:
        """Runtime address of a link-time kernel-image address."""
        return (link_vaddr + self.kerneloffset) & MASK64

    def pa(self, vaddr: int) -> int | None:
        """Physical address of a kernel-image or linear-map address; None elsewhere."""
        if self.translator is None:
            raise FormatError("virtual reads need VMCOREINFO and a vmlinux", path=self.path)
        return self.translator.pa(vaddr)

    def linear_va(self, paddr: int) -> int | None:
        """Linear-map alias of a physical address."""
        return self.translator.linear_va(paddr) if self.translator else None

    def read_virt(self, vaddr: int, size: int, what: str = "") -> bytes:
        paddr = self.pa(vaddr)
        if paddr is None:
            raise FaultError(f"virtual address {vaddr:#x} is neither kernel image nor linear map"
                             + (f" (reading {what})" if what else ""), address=vaddr,
                             what=what or None, path=self.path)
        return self.read_phys(paddr, size, what)

    def word(self, vaddr: int, what: str = "") -> int:
        size = self.arch.bits // 8
        order = "little" if self.arch.little_endian else "big"
        return int.from_bytes(self.read_virt(vaddr, size, what), order)

    # -- VMCOREINFO without the note ------------------------------------------
    def find_image(self, vmlinux: "Vmlinux") -> int:
        """Physical address of ``_text``: where the vmlinux's ``linux_banner`` bytes are.

        Tries the link-time load address first, then every 2 MiB boundary: one
        64-byte read per candidate, so a 16 GiB image costs 8192 small reads.
        """
        text = vmlinux.symbol("_text").value
        banner = vmlinux.symbol("linux_banner")
        delta = banner.value - text
        want = vmlinux.read_link(banner.value, min(BANNER_PROBE, banner.size or BANNER_PROBE),
                                 "linux_banner")
        candidates = []
        if vmlinux.arch.machine == EM.X86_64:
            candidates.append(text - X86_64_START_KERNEL_MAP)
        for extent in self.memory.extents:
            start = -(-extent.paddr // IMAGE_ALIGN) * IMAGE_ALIGN
            candidates.extend(range(start, extent.end - delta, IMAGE_ALIGN))
        for paddr in candidates:
            pieces = self.pieces(paddr + delta, len(want))
            if sum(p.size for p in pieces) == len(want) and self.read_phys(
                    paddr + delta, len(want)) == want:
                return paddr
        raise FormatError("no VMCOREINFO note, and the vmlinux's linux_banner is not in the "
                          "capture (wrong vmlinux?)", path=self.path, field="linux_banner")

    def _vmcoreinfo_from_memory(self, vmlinux: "Vmlinux") -> VmcoreInfo:
        """Read ``vmcoreinfo_data[0:vmcoreinfo_size]`` through the image's physical copy."""
        try:
            return self._read_vmcoreinfo_data(vmlinux)
        except SymbolError as exc:
            raise SymbolError(f"no VMCOREINFO note, and reading it from memory failed: "
                              f"{exc.problem}", path=self.path) from exc

    def _read_vmcoreinfo_data(self, vmlinux: "Vmlinux") -> VmcoreInfo:
        text_pa = self.find_image(vmlinux)
        text = vmlinux.symbol("_text").value
        order = "little" if vmlinux.little_endian else "big"
        size = vmlinux.bits // 8

        def image_word(name: str) -> int:
            symbol = vmlinux.symbol(name)
            return int.from_bytes(self.read_phys(text_pa + symbol.value - text, size, name), order)

        pointer, length = image_word("vmcoreinfo_data"), image_word("vmcoreinfo_size")
        if not pointer or not 0 < length <= MAX_VMCOREINFO:
            raise FormatError(f"vmcoreinfo_data {pointer:#x} / vmcoreinfo_size {length:#x} do "
                              "not describe a buffer", path=self.path, field="vmcoreinfo_data")
        if vmlinux.arch.machine == EM.X86_64:
            base = image_word("page_offset_base") if "page_offset_base" in vmlinux.symbols \
                else X86_64_PAGE_OFFSET
            paddr = pointer - base
        elif vmlinux.arch.machine == EM.AARCH64:
            vabits = image_word("vabits_actual") if "vabits_actual" in vmlinux.symbols else 48
            paddr = pointer - ((-(1 << vabits)) & MASK64) + image_word("memstart_addr")
        else:
            raise FormatError("no VMCOREINFO note; reading it from memory is supported on x86_64 "
                              "and arm64 only: give --vmcoreinfo FILE", path=self.path)
        raw = self.read_phys(paddr, length, "vmcoreinfo_data")
        info = VmcoreInfo(raw.rstrip(b"\0"), path=self.path)
        self.vmcoreinfo_source = f"vmcoreinfo_data at PA {paddr:#x}"
        return info
