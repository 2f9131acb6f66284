"""The kernel image in captured memory, found by its ``linux_banner`` bytes.

With a vmlinux, the image's physical placement follows from where the
vmlinux's ``linux_banner`` (``init/version.c``) sits in physical memory; every
word of the image is then readable at ``PA(_text) + (symbol - _text)``
without VMCOREINFO.  That is how VMCOREINFO is recovered from
``vmcoreinfo_data``/``vmcoreinfo_size`` (``kernel/vmcore_info.c``) when a
capture has no note, and how ``minidump vmcoreinfo --vmlinux`` derives the
runtime values (KASLR offset, ``phys_base``, ``kimage_voffset``) of a capture.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from typing import TYPE_CHECKING

from minidump.errors import FormatError
from minidump.formats.elf import EM
from minidump.kernel.translate import MASK64, X86_64_PAGE_OFFSET_L4, X86_64_START_KERNEL_MAP
from minidump.kernel.vmcoreinfo import VmcoreInfo
from minidump.limits import VMCOREINFO_MAX

if TYPE_CHECKING:
    from minidump.elf.vmlinux import Vmlinux
    from minidump.kernel.memory import PhysicalMemory

#: x86_64 CONFIG_PHYSICAL_ALIGN, arm64 MIN_KIMG_ALIGN: where a relocated image may start
IMAGE_ALIGN = 2 << 20
#: bytes of linux_banner compared per aligned candidate
BANNER_PROBE = 64
#: a KASLR offset is below this; an alias of the banner further away is a linear-map one
KASLR_MAX = 1 << 47


@dataclass(frozen=True, slots=True)
class KernelImage:
    """The vmlinux's image placed in a capture's physical memory."""

    memory: "PhysicalMemory"
    vmlinux: "Vmlinux"
    text_pa: int          # physical address of _text
    text_link: int        # link-time address of _text

    def pa(self, link_vaddr: int) -> int:
        """Physical address of a link-time image address."""
        return self.text_pa + link_vaddr - self.text_link

    def word(self, name: str, *, delta: int = 0, size: int | None = None) -> int:
        """The unsigned value stored at symbol ``name`` (+ ``delta``) in the captured image."""
        size = size or self.vmlinux.bits // 8
        raw = self.memory.read(self.pa(self.vmlinux.symbol(name).value + delta), size, name)
        return int.from_bytes(raw, self.vmlinux.byteorder)

    def has(self, name: str) -> bool:
        return name in self.vmlinux.symbols

    def banner_kaslr(self) -> int | None:
        """KASLR offset from the capture's own virtual address of ``linux_banner``, if it has one.

        Only an image alias counts: a linear-map alias of the same bytes is far from
        the link address.
        """
        banner = self.vmlinux.symbol("linux_banner").value
        paddr = self.pa(banner)
        for extent in self.memory.extents:
            if extent.vaddr is not None and extent.paddr <= paddr < extent.end:
                offset = (extent.vaddr + paddr - extent.paddr - banner) & MASK64
                if offset < KASLR_MAX:
                    return offset
        return None


def _banner(vmlinux: "Vmlinux") -> tuple[int, bytes]:
    """Link address and text of ``linux_banner`` (to its NUL)."""
    symbol = vmlinux.symbol("linux_banner")
    size = symbol.size or 256
    text = vmlinux.read_link(symbol.value, size, "linux_banner").split(b"\0", 1)[0]
    if not text:
        raise FormatError("linux_banner is empty in the vmlinux", path=vmlinux.path,
                          field="linux_banner")
    return symbol.value, text


def find_image(memory: "PhysicalMemory", vmlinux: "Vmlinux", *,
               path: str | None = None) -> KernelImage:
    """Where the vmlinux's image is in ``memory``: by its ``linux_banner`` bytes.

    Tries the link-time load address and every 2 MiB boundary first (one
    64-byte read per candidate, so a 16 GiB capture costs 8192 small reads),
    then searches the captured bytes for the whole banner (32-bit arm places
    the image at ``PHYS_OFFSET + TEXT_OFFSET``, not on a 2 MiB boundary).
    """
    text = vmlinux.symbol("_text").value
    banner_link, banner = _banner(vmlinux)
    delta = banner_link - text
    probe = banner[:BANNER_PROBE]
    candidates = []
    if vmlinux.arch.machine == EM.X86_64:
        candidates.append(text - X86_64_START_KERNEL_MAP)
    for extent in memory.extents:
        start = -(-extent.paddr // IMAGE_ALIGN) * IMAGE_ALIGN
        candidates.extend(range(start, extent.end - delta, IMAGE_ALIGN))
    for paddr in candidates:
        if paddr + delta >= 0 and memory.held(paddr + delta, len(probe)) and memory.read(
                paddr + delta, len(probe)) == probe:
            return KernelImage(memory, vmlinux, paddr, text)
    found = _search(memory, banner)
    if found is not None:
        return KernelImage(memory, vmlinux, found - delta, text)
    raise FormatError("the vmlinux's linux_banner is not in the capture (wrong vmlinux, or "
                      "the kernel image was not captured)", path=path, field="linux_banner")


def _search(memory: "PhysicalMemory", needle: bytes) -> int | None:
    """Physical address of the first captured copy of ``needle``."""
    for paddr, _, _, _ in _occurrences(memory, needle):
        return paddr
    return None


def _occurrences(memory: "PhysicalMemory", needle: bytes):
    """``(paddr, mm, at, end)`` for each captured copy of ``needle``, in physical order per
    file: ``mm[at:end]`` runs from the copy to the end of its extent.  Searched at memory
    speed (mmap), no translation; files that cannot be mapped are passed over."""
    by_file: dict[str, list] = {}
    for extent in memory.extents:
        by_file.setdefault(extent.path, []).append(extent)
    for path, extents in by_file.items():
        try:
            fh = open(path, "rb")
        except OSError:
            continue
        with fh:
            try:
                mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            except (ValueError, OSError):
                continue   # empty or not mappable
            with mm:
                for extent in sorted(extents, key=lambda e: e.paddr):
                    end = min(len(mm), extent.offset + extent.size)
                    at = mm.find(needle, extent.offset, end)
                    while at >= 0:
                        yield extent.paddr + at - extent.offset, mm, at, end
                        at = mm.find(needle, at + 1, end)


#: the first bytes of every kernel's VMCOREINFO text (``kernel/vmcore_info.c`` writes
#: ``OSRELEASE=`` first, into ``vmcoreinfo_data``: a zeroed page of its own)
VMCOREINFO_HEAD = b"OSRELEASE="
#: page-aligned candidates checked before the search gives up (hostile inputs)
VMCOREINFO_CANDIDATES = 256


def aligned_hits(memory: "PhysicalMemory", needle: bytes, *, length: int, align: int = 4096,
                 limit: int = VMCOREINFO_CANDIDATES):
    """``(paddr, bytes)`` for each captured copy of ``needle`` that starts on an ``align``
    boundary of physical memory, with up to ``length`` bytes from there; at most ``limit``
    candidates (hostile inputs)."""
    checked = 0
    for paddr, mm, at, end in _occurrences(memory, needle):
        if paddr % align:
            continue
        checked += 1
        if checked > limit:
            return
        yield paddr, mm[at:min(end, at + length)]


def search_vmcoreinfo(memory: "PhysicalMemory", *, path: str | None = None
                      ) -> tuple[VmcoreInfo, str] | None:
    """VMCOREINFO text found in a full capture's memory by its shape, with no symbols.

    ``vmcoreinfo_data`` is a page the kernel allocates and zeroes, so its text starts at a
    4 KiB boundary with ``OSRELEASE=`` and ends at the first NUL.  The first such page whose
    text parses as VMCOREINFO and names a page size and a release wins.  Works the same on
    every architecture and VA size, with or without meminspect: no translation is needed.
    """
    for paddr, data in aligned_hits(memory, VMCOREINFO_HEAD, length=VMCOREINFO_MAX):
        found = _vmcoreinfo_text(data.split(b"\0", 1)[0], path)
        if found is not None:
            return found, f"found in memory at PA {paddr:#x}"
    return None


def _vmcoreinfo_text(text: bytes, path: str | None) -> VmcoreInfo | None:
    from minidump.errors import MinidumpError
    try:
        info = VmcoreInfo(text, path=path)
        return info if info.osrelease and info.pagesize else None
    except MinidumpError:
        return None


def vmcoreinfo_from_memory(image: KernelImage, *, path: str | None = None
                           ) -> tuple[VmcoreInfo, str]:
    """``vmcoreinfo_data[0:vmcoreinfo_size]`` read through the image, and where it was."""
    vmlinux = image.vmlinux
    pointer, length = image.word("vmcoreinfo_data"), image.word("vmcoreinfo_size")
    if not pointer or not 0 < length <= VMCOREINFO_MAX:
        raise FormatError(f"vmcoreinfo_data {pointer:#x} / vmcoreinfo_size {length:#x} do "
                          "not describe a buffer", path=path, field="vmcoreinfo_data")
    if vmlinux.arch.machine == EM.X86_64:
        base = image.word("page_offset_base") if image.has("page_offset_base") \
            else X86_64_PAGE_OFFSET_L4
        paddr = pointer - base
    elif vmlinux.arch.machine == EM.AARCH64:
        # __lm_to_phys: (va & ~PAGE_OFFSET) + PHYS_OFFSET, with the build-time PAGE_OFFSET
        # (-(1 << VA_BITS)); vabits_actual exists only where VA_BITS is 52, and a kernel
        # running with fewer bits moved memstart_addr to compensate.  Else the pointer, a
        # linear address, has VA_BITS leading ones.
        built = 52 if image.has("vabits_actual") else (~pointer & MASK64).bit_length()
        paddr = (pointer - ((-(1 << built)) & MASK64) + image.word("memstart_addr")) & MASK64
    elif vmlinux.arch.machine == EM.ARM:
        # 32-bit arm: the image lies in the linear map (lowmem, one offset, no KASLR)
        paddr = image.pa(pointer)
    else:
        raise FormatError("no VMCOREINFO note; reading it from memory is supported on x86_64, "
                          "arm64 and arm only: give --vmcoreinfo FILE", path=path)
    raw = image.memory.read(paddr, length, "vmcoreinfo_data")
    return VmcoreInfo(raw.rstrip(b"\0"), path=path), f"vmcoreinfo_data at PA {paddr:#x}"

