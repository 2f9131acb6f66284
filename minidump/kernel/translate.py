"""Kernel virtual to physical addresses and back, per architecture, from VMCOREINFO.

Kernel-image and linear-map rules only (never page tables, never a guessed
vmalloc address): arm64 ``kimage_voffset``/``PHYS_OFFSET``/``VA_BITS``
(``arch/arm64/kernel/vmcore_info.c``), x86_64 ``phys_base`` and the direct-map
base (``page_offset_base`` when randomized), riscv64 ``va_kernel_pa_offset``,
``phys_ram_base``, ``PAGE_OFFSET``, 32-bit arm ``PAGE_OFFSET``/``PHYS_OFFSET``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from minidump.kernel.vmcoreinfo import VmcoreInfo

MASK64 = (1 << 64) - 1
X86_64_START_KERNEL_MAP = 0xFFFFFFFF80000000
#: arch/x86/include/asm/page_64_types.h: __PAGE_OFFSET_BASE_L4 (without CONFIG_RANDOMIZE_MEMORY)
X86_64_PAGE_OFFSET_L4 = 0xFFFF888000000000
#: arch/arm64/Kconfig: ARM64_VA_BITS choices are 36..52; anything else in VMCOREINFO is corrupt
ARM64_VA_BITS = (32, 56)
#: 32-bit arm: the kernel text starts within 32 MiB of PAGE_OFFSET, so PAGE_OFFSET is
#: ``_stext`` with these bits clear (crash's and kexec-tools' KVBASE_MASK). The real
#: kernel's VMCOREINFO (arch/arm/kernel/machine_kexec.c) exports neither PAGE_OFFSET nor
#: PHYS_OFFSET, only ``CONFIG_ARM_LPAE=y``: Debian 6.1 armmp-lpae, _stext=c0400000.
ARM_KVBASE_MASK = 0x1FFFFFF
#: 32-bit arm lowmem ends below VMALLOC_START; with the default 240 MiB vmalloc area and
#: its 8 MiB guard gap that is at most 0xf0000000 - 8 MiB (arch/arm/mm/mmu.c)
ARM_LOWMEM_END = 0xEF800000


def kernel_version(release: str | None) -> tuple[int, int, int]:
    """``(major, minor, patch)`` of an OSRELEASE; unknown releases sort as newest."""
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", release or "")
    if not match:
        return (99, 0, 0)
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


@dataclass(frozen=True, slots=True)
class ArchLayout:
    """Per-arch memory-layout facts; None where VMCOREINFO does not say.

    ``page_offset`` is the linear-map base; ``phys_offset`` the physical address
    it maps (arm64 ``PHYS_OFFSET``, riscv ``phys_ram_base``); ``image_offset``
    is VA - PA of the kernel image (arm64 ``kimage_voffset``, riscv
    ``va_kernel_pa_offset``, x86_64 ``__START_KERNEL_map - phys_base``);
    ``phys_base`` is x86_64's; ``source`` says how ``page_offset`` was found.
    """

    arch: str
    page_offset: int | None
    phys_offset: int | None
    image_offset: int | None
    phys_base: int | None
    va_bits: int | None
    kernel_offset: int | None
    source: str = ""


@dataclass(frozen=True)
class Translator:
    """Kernel-image and linear-map translation from VMCOREINFO; never page tables.

    Returns None wherever the rules do not apply (vmalloc, modules, missing keys).
    ``page_offset`` overrides the linear-map base where VMCOREINFO lacks it
    (x86_64 ``page_offset_base`` read from memory, 32-bit arm ``PAGE_OFFSET``);
    ``phys_offset`` does the same for the physical start of the linear map.
    """

    arch: str
    vmcoreinfo: VmcoreInfo
    page_offset: int | None = None
    phys_offset: int | None = None

    # -- arm64 -------------------------------------------------------------
    def _arm64(self):
        """(kimage_voffset, PHYS_OFFSET, runtime VA bits, build-time VA_BITS).

        A kernel built for 52-bit VAs that runs with 48 (a CPU without LPA2) keeps its
        build-time ``PAGE_OFFSET`` (``-(1 << VA_BITS)``) in ``__phys_to_virt`` and moves
        ``memstart_addr`` (``PHYS_OFFSET``, 0xfff1000040000000 on QEMU virt) to compensate;
        the linear map itself starts at ``-(1 << vabits_actual)``, which ``TCR_EL1_T1SZ``
        gives.  VMCOREINFO's ``NUMBER(VA_BITS)`` is the build-time value.
        """
        info = self.vmcoreinfo
        voffset = info.number("kimage_voffset")
        phys_offset = info.number("PHYS_OFFSET")
        t1sz = info.number("TCR_EL1_T1SZ")
        built = info.number("VA_BITS")
        va_bits = 64 - t1sz if t1sz else built
        if va_bits is not None and not ARM64_VA_BITS[0] <= va_bits <= ARM64_VA_BITS[1]:
            va_bits = None   # corrupt: no linear-map rule rather than a nonsense one
        if built is None or not ARM64_VA_BITS[0] <= built <= ARM64_VA_BITS[1]:
            built = va_bits
        return voffset, phys_offset, va_bits, built

    def _arm64_linear_range(self, va_bits: int) -> tuple[int, int]:
        if kernel_version(self.vmcoreinfo.osrelease) >= (5, 4, 0):
            # "flipped" layout: linear map in the lower half of the kernel VA space
            start = (-(1 << va_bits)) & MASK64
            return start, (-(1 << (va_bits - 1))) & MASK64
        start = (-(1 << (va_bits - 1))) & MASK64
        return start, MASK64 + 1

    def _arm64_page_offset(self) -> tuple[int, tuple[int, int]] | None:
        """(the ``PAGE_OFFSET`` of ``__phys_to_virt``/``__lm_to_phys``, the runtime linear
        range), or None without VA bits."""
        _, _, va_bits, built = self._arm64()
        if va_bits is None:
            return None
        return self._arm64_linear_range(built)[0], self._arm64_linear_range(va_bits)

    def arm64_linear(self, vaddr: int) -> bool | None:
        """Is ``vaddr`` in arm64's linear map (None: VA_BITS unknown)?  Tools without a
        vmlinux translate other kernel addresses only by walking swapper_pg_dir."""
        rule = self._arm64_page_offset()
        if rule is None:
            return None
        start, end = rule[1]
        return start <= vaddr < end

    def _image_window(self) -> tuple[int, int] | None:
        stext = self.vmcoreinfo.symbol("_stext")
        if stext is None:
            return None
        # _text precedes _stext by the head (64 KiB on arm64); images stay far below 1 GiB
        return stext - (2 << 20), stext + (1 << 30)

    def layout(self) -> ArchLayout:
        """The facts the rules below use, for ``minidump info`` and ``vmcoreinfo``."""
        info = self.vmcoreinfo
        if self.arch == "arm64":
            voffset, phys_offset, va_bits, _ = self._arm64()
            start = self._arm64_linear_range(va_bits)[0] if va_bits else None
            return ArchLayout("arm64", start, phys_offset, voffset, None, va_bits, info.kerneloffset,
                          "NUMBER(VA_BITS)/TCR_EL1_T1SZ" if va_bits else "")
        if self.arch == "x86_64":
            phys_base = info.number("phys_base")
            image = None if phys_base is None else X86_64_START_KERNEL_MAP - phys_base
            page_offset, source = self._x86_64_page_offset()
            va_bits = 57 if info.number("pgtable_l5_enabled") else 48
            return ArchLayout("x86_64", page_offset, 0, image, phys_base, va_bits, info.kerneloffset,
                          source)
        if self.arch == "riscv64":
            return ArchLayout("riscv64", info.number("PAGE_OFFSET"), info.number("phys_ram_base"),
                          info.number("va_kernel_pa_offset"), None, info.number("VA_BITS"),
                          info.kerneloffset, "NUMBER(PAGE_OFFSET)")
        page_offset, phys_offset = self._generic_linear()
        return ArchLayout(self.arch, page_offset, phys_offset, None, None, 32 if self.arch == "arm"
                      else None, info.kerneloffset, "given" if self.page_offset else "")

    def _x86_64_page_offset(self) -> tuple[int | None, str]:
        """The direct-map base: given (read from memory), or the fixed one without KASLR."""
        if self.page_offset is not None:
            return self.page_offset, "page_offset_base"
        if self.vmcoreinfo.kerneloffset == 0:
            # nokaslr also turns off CONFIG_RANDOMIZE_MEMORY (kaslr_memory_enabled())
            l5 = self.vmcoreinfo.number("pgtable_l5_enabled")
            return (0xFF11000000000000 if l5 else X86_64_PAGE_OFFSET_L4), "KERNELOFFSET=0"
        return None, ""

    def _generic_linear(self) -> tuple[int | None, int | None]:
        info = self.vmcoreinfo
        page_offset = self.page_offset if self.page_offset is not None else info.number(
            "PAGE_OFFSET")
        if page_offset is None and self.arch == "arm":
            stext = info.symbol("_stext")
            page_offset = None if stext is None else stext & ~ARM_KVBASE_MASK
        phys = self.phys_offset
        if phys is None:
            phys = info.number("phys_ram_base")
            phys = info.number("PHYS_OFFSET") if phys is None else phys
        if phys is None and self.arch != "arm":
            phys = 0
        # 32-bit arm RAM seldom starts at 0 (QEMU virt: 0x40000000); without PHYS_OFFSET
        # (given: __pv_phys_pfn_offset read through the vmlinux) there is no rule
        return page_offset, phys

    def image_va(self, paddr: int) -> int | None:
        """Kernel-image alias of a physical address."""
        if self.arch == "arm64":
            voffset = self._arm64()[0]
            return None if voffset is None else (paddr + voffset) & MASK64
        if self.arch == "x86_64":
            phys_base = self.vmcoreinfo.number("phys_base")
            return None if phys_base is None else (paddr - phys_base + X86_64_START_KERNEL_MAP) & MASK64
        if self.arch == "riscv64":
            offset = self.vmcoreinfo.number("va_kernel_pa_offset")
            return None if offset is None else (paddr + offset) & MASK64
        if self.arch == "arm":
            return self.linear_va(paddr)   # the image lies in lowmem: one mapping
        return None

    def linear_va(self, paddr: int) -> int | None:
        """Linear-map alias of a physical address."""
        if self.arch == "arm64":
            # __phys_to_virt: (pa - PHYS_OFFSET) | PAGE_OFFSET, modulo 2^64; with KASLR
            # memstart_addr is negative, so VMCOREINFO prints PHYS_OFFSET=0xffff...
            phys_offset, rule = self._arm64()[1], self._arm64_page_offset()
            if phys_offset is None or rule is None:
                return None
            page_offset, (start, end) = rule
            vaddr = (page_offset + paddr - phys_offset) & MASK64
            return vaddr if start <= vaddr < end else None
        if self.arch == "x86_64":
            page_offset = self._x86_64_page_offset()[0]
            return None if page_offset is None else (page_offset + paddr) & MASK64
        page_offset, base = self._generic_linear()
        if page_offset is None or base is None or paddr < base:
            return None
        vaddr = (page_offset + paddr - base) & MASK64
        if self.arch == "arm" and vaddr >= ARM_LOWMEM_END:
            return None   # highmem: no linear alias
        return vaddr

    def pa(self, vaddr: int) -> int | None:
        """Physical address of a linear-map or kernel-image virtual address."""
        if self.arch == "arm64":
            voffset, phys_offset = self._arm64()[:2]
            rule = self._arm64_page_offset()
            if rule is not None and phys_offset is not None:
                page_offset, (start, end) = rule
                if start <= vaddr < end:  # __lm_to_phys, modulo 2^64
                    return (vaddr - page_offset + phys_offset) & MASK64
            window = self._image_window()
            if voffset is not None and window and window[0] <= vaddr < window[1]:
                return (vaddr - voffset) & MASK64
            return None
        if self.arch == "x86_64":
            phys_base = self.vmcoreinfo.number("phys_base")
            if vaddr >= X86_64_START_KERNEL_MAP and phys_base is not None:
                return (vaddr - X86_64_START_KERNEL_MAP + phys_base) & MASK64
            page_offset = self._x86_64_page_offset()[0]
            # the direct map spans at most 64 TiB (4-level) before the vmalloc area
            if page_offset is not None and page_offset <= vaddr < page_offset + (1 << 46):
                return vaddr - page_offset
            return None
        if self.arch == "riscv64":
            offset = self.vmcoreinfo.number("va_kernel_pa_offset")
            window = self._image_window()
            if offset is not None and window and window[0] <= vaddr < window[1]:
                return (vaddr - offset) & MASK64
        page_offset, base = self._generic_linear()
        if page_offset is None or base is None or vaddr < page_offset:
            return None
        if self.arch == "arm" and vaddr >= ARM_LOWMEM_END:
            return None   # vmalloc, fixmap, vectors: page tables only
        return vaddr - page_offset + base
