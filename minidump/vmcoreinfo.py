"""VMCOREINFO: parse the kernel's ``KEY=VALUE`` text and translate addresses.

Producers: ``kernel/vmcore_info.c`` and each arch's ``arch_crash_save_vmcoreinfo``
(formats in ``include/linux/vmcore_info.h``).  SYMBOL values are bare hex,
SIZE/OFFSET/LENGTH unsigned decimal, NUMBER signed decimal except the arm64
address-like NUMBERs which are 0x-hex, KERNELOFFSET bare hex.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from minidump.errors import FormatError

MASK64 = (1 << 64) - 1
X86_64_START_KERNEL_MAP = 0xFFFFFFFF80000000
_NUMBER = re.compile(r"^-?(0x[0-9a-fA-F]+|[0-9]+)$")
_HEX = re.compile(r"^(0x)?[0-9a-fA-F]+$")


class VmcoreInfo:
    """Parsed VMCOREINFO text; keeps the raw bytes for verbatim output."""

    def __init__(self, raw: bytes, *, path: str | None = None) -> None:
        self.raw = raw
        self.path = path
        self.entries: dict[str, str] = {}
        text = raw.rstrip(b"\0")
        try:
            decoded = text.decode("ascii")
        except UnicodeDecodeError as exc:
            raise FormatError("VMCOREINFO is not ASCII text", path=path, offset=exc.start,
                              field="VMCOREINFO") from None
        offset = 0
        for line in decoded.split("\n"):
            if line:
                key, sep, value = line.partition("=")
                if not sep or not key:
                    raise FormatError(f"VMCOREINFO line {line[:40]!r} is not KEY=VALUE",
                                      path=path, offset=offset, field="VMCOREINFO")
                self.entries.setdefault(key, value)
            offset += len(line) + 1

    @classmethod
    def looks_like(cls, raw: bytes) -> bool:
        """Cheap check: text that starts like a VMCOREINFO."""
        head = raw[:64]
        return head.startswith(b"OSRELEASE=") or head.startswith(b"BUILD-ID=")

    def get(self, key: str) -> str | None:
        return self.entries.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def _int(self, key: str, base: int = 0) -> int | None:
        value = self.entries.get(key)
        if value is None:
            return None
        try:
            if base == 16:
                return int(value, 16)
            if not _NUMBER.match(value):
                raise ValueError
            return int(value, 0)
        except ValueError:
            raise FormatError(f"{key}={value!r} is not a number", path=self.path,
                              field="VMCOREINFO") from None

    def symbol(self, name: str) -> int | None:
        return self._int(f"SYMBOL({name})", 16)

    def number(self, name: str) -> int | None:
        return self._int(f"NUMBER({name})")

    def size(self, name: str) -> int | None:
        return self._int(f"SIZE({name})")

    def offset(self, name: str) -> int | None:
        return self._int(f"OFFSET({name})")

    def length(self, name: str) -> int | None:
        return self._int(f"LENGTH({name})")

    @property
    def osrelease(self) -> str | None:
        return self.entries.get("OSRELEASE")

    @property
    def pagesize(self) -> int | None:
        return self._int("PAGESIZE")

    @property
    def kerneloffset(self) -> int | None:
        return self._int("KERNELOFFSET", 16)

    def guess_arch(self) -> str | None:
        """The architecture the arch block names, or None."""
        if "NUMBER(kimage_voffset)" in self.entries or "NUMBER(TCR_EL1_T1SZ)" in self.entries:
            return "arm64"
        if "NUMBER(phys_base)" in self.entries or "SYMBOL(init_top_pgt)" in self.entries:
            return "x86_64"
        if "NUMBER(va_kernel_pa_offset)" in self.entries or "NUMBER(phys_ram_base)" in self.entries:
            return "riscv64"
        return None


def _kernel_version(release: str | None) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", release or "")
    return (int(match.group(1)), int(match.group(2))) if match else (99, 0)


@dataclass(frozen=True)
class Translator:
    """Kernel-image and linear-map translation from VMCOREINFO; never page tables.

    Returns None wherever the rules do not apply (vmalloc, modules, missing keys).
    """

    arch: str
    vmcoreinfo: VmcoreInfo

    # -- arm64 -------------------------------------------------------------
    def _arm64(self):
        info = self.vmcoreinfo
        voffset = info.number("kimage_voffset")
        phys_offset = info.number("PHYS_OFFSET")
        t1sz = info.number("TCR_EL1_T1SZ")
        va_bits = 64 - t1sz if t1sz else info.number("VA_BITS")
        return voffset, phys_offset, va_bits

    def _arm64_linear_range(self, va_bits: int) -> tuple[int, int]:
        if _kernel_version(self.vmcoreinfo.osrelease) >= (5, 4):
            # "flipped" layout: linear map in the lower half of the kernel VA space
            start = (-(1 << va_bits)) & MASK64
            return start, (-(1 << (va_bits - 1))) & MASK64
        start = (-(1 << (va_bits - 1))) & MASK64
        return start, MASK64 + 1

    def _image_window(self) -> tuple[int, int] | None:
        stext = self.vmcoreinfo.symbol("_stext")
        if stext is None:
            return None
        # _text precedes _stext by the head (64 KiB on arm64); images stay far below 1 GiB
        return stext - (2 << 20), stext + (1 << 30)

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
        return None

    def linear_va(self, paddr: int) -> int | None:
        """Linear-map alias of a physical address."""
        if self.arch == "arm64":
            _, phys_offset, va_bits = self._arm64()
            if phys_offset is None or va_bits is None or paddr < phys_offset:
                return None
            start, end = self._arm64_linear_range(va_bits)
            va = start + (paddr - phys_offset)
            return va if va < end else None
        page_offset = self.vmcoreinfo.number("PAGE_OFFSET")
        if page_offset is None:
            return None  # x86_64 page_offset_base is not in VMCOREINFO
        base = self.vmcoreinfo.number("phys_ram_base") or 0
        if paddr < base:
            return None
        return (page_offset + paddr - base) & MASK64

    def pa(self, vaddr: int) -> int | None:
        """Physical address of a linear-map or kernel-image virtual address."""
        if self.arch == "arm64":
            voffset, phys_offset, va_bits = self._arm64()
            if va_bits is not None and phys_offset is not None:
                start, end = self._arm64_linear_range(va_bits)
                if start <= vaddr < end:
                    return vaddr - start + phys_offset
            window = self._image_window()
            if voffset is not None and window and window[0] <= vaddr < window[1]:
                return (vaddr - voffset) & MASK64
            return None
        if self.arch == "x86_64":
            phys_base = self.vmcoreinfo.number("phys_base")
            if vaddr >= X86_64_START_KERNEL_MAP and phys_base is not None:
                return (vaddr - X86_64_START_KERNEL_MAP + phys_base) & MASK64
            return None
        page_offset = self.vmcoreinfo.number("PAGE_OFFSET")
        if self.arch == "riscv64":
            offset = self.vmcoreinfo.number("va_kernel_pa_offset")
            window = self._image_window()
            if offset is not None and window and window[0] <= vaddr < window[1]:
                return (vaddr - offset) & MASK64
        if page_offset is not None and vaddr >= page_offset:
            return vaddr - page_offset + (self.vmcoreinfo.number("phys_ram_base") or 0)
        return None
