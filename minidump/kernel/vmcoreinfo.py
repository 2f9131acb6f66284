"""VMCOREINFO: parse, validate and compose the kernel's ``KEY=VALUE`` text, and
translate kernel-image and linear-map addresses with it.

Producers: ``kernel/vmcore_info.c`` (``crash_core.c`` before 6.9) and each
arch's ``arch_crash_save_vmcoreinfo`` (``arch/arm64/kernel/vmcore_info.c``,
``arch/x86/kernel/vmcore_info_64.c``, ``arch/riscv/kernel/vmcore_info.c``,
``arch/arm/kernel/machine_kexec.c``); formats in ``include/linux/vmcore_info.h``.
SYMBOL values are bare hex, SIZE/OFFSET/LENGTH unsigned decimal, NUMBER signed
decimal except the arm64 address-like NUMBERs which are 0x-hex, KERNELOFFSET
bare hex, CRASHTIME decimal seconds, CONFIG_X=y.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from minidump.errors import FormatError

MASK64 = (1 << 64) - 1
X86_64_START_KERNEL_MAP = 0xFFFFFFFF80000000
#: arch/x86/include/asm/page_64_types.h: __PAGE_OFFSET_BASE_L4 (without CONFIG_RANDOMIZE_MEMORY)
X86_64_PAGE_OFFSET_L4 = 0xFFFF888000000000
#: arch/arm64/Kconfig: ARM64_VA_BITS choices are 36..52; anything else in VMCOREINFO is corrupt
ARM64_VA_BITS = (32, 56)
#: include/linux/vmcore_info.h: each append is formatted into an 80-byte buffer
VMCOREINFO_LINE_MAX = 79
_NUMBER = re.compile(r"^-?(0x[0-9a-fA-F]+|[0-9]+)$")
_HEX = re.compile(r"^(0x)?[0-9a-fA-F]+$")
_UNSIGNED = re.compile(r"^[0-9]+$")
_KEY = re.compile(r"^(SYMBOL|SIZE|OFFSET|LENGTH|NUMBER)\(([^()]+)\)$")
_BUILD_ID = re.compile(r"^[0-9a-f]{2,80}$")


@dataclass(frozen=True, slots=True)
class Entry:
    """One VMCOREINFO line: ``kind`` is the producer macro family, ``name`` its argument.

    ``value`` is the decoded value (int for numbers and addresses, str for
    OSRELEASE/BUILD-ID, True for CONFIG_*), or None when the text does not
    decode; ``problem`` then says why.
    """

    key: str
    kind: str
    name: str
    text: str
    value: int | str | bool | None
    problem: str = ""


def classify(key: str) -> tuple[str, str]:
    """``(kind, name)`` of a key: ``SYMBOL(prb)`` -> ``("SYMBOL", "prb")``."""
    match = _KEY.match(key)
    if match:
        return match.group(1), match.group(2)
    if key.startswith("CONFIG_"):
        return "CONFIG", key[len("CONFIG_"):]
    if key in ("OSRELEASE", "BUILD-ID", "PAGESIZE", "KERNELOFFSET", "CRASHTIME"):
        return key, ""
    return "OTHER", key


def decode(kind: str, text: str) -> tuple[int | str | bool | None, str]:
    """The value of one line and a problem ("" when it decodes)."""
    if kind in ("SYMBOL", "KERNELOFFSET"):
        return (int(text, 16), "") if _HEX.match(text) else (None, "expected hex")
    if kind in ("SIZE", "OFFSET", "LENGTH", "PAGESIZE", "CRASHTIME"):
        if not _UNSIGNED.match(text):
            return None, "expected unsigned decimal"
        value = int(text)
        if kind == "PAGESIZE" and (value < 512 or value & (value - 1)):
            return None, "expected a power of two"
        return value, ""
    if kind == "NUMBER":
        if not _NUMBER.match(text):
            return None, "expected a decimal or 0x-hex number"
        return _number(text), ""
    if kind == "CONFIG":
        return (True, "") if text == "y" else (None, "expected y")
    if kind == "BUILD-ID":
        return (text, "") if _BUILD_ID.match(text) and len(text) % 2 == 0 else (
            None, "expected lowercase hex bytes")
    if kind == "OSRELEASE":
        return (text, "") if text else (None, "empty")
    return text, ""


def _number(text: str) -> int:
    """A NUMBER value the ``_NUMBER`` pattern accepted: 0x-hex, or decimal (leading zeros too)."""
    digits = text.lstrip("-")
    value = int(digits, 16) if digits[:2] in ("0x", "0X") else int(digits, 10)
    return -value if text.startswith("-") else value


def compose(pairs: list[tuple[str, str]]) -> bytes:
    """VMCOREINFO text from ``(key, value)`` pairs, one ``KEY=VALUE\\n`` line each."""
    return "".join(f"{key}={value}\n" for key, value in pairs).encode("ascii")


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
            return _number(value)
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

    def items(self) -> list[Entry]:
        """Every line as an :class:`Entry`, in the producer's order."""
        out = []
        for key, text in self.entries.items():
            kind, name = classify(key)
            value, problem = decode(kind, text)
            out.append(Entry(key, kind, name, text, value, problem))
        return out

    def problems(self) -> list[str]:
        """What is wrong with the text: undecodable values, long lines, missing basics."""
        found = [f"{e.key}={e.text!r}: {e.problem}" for e in self.items() if e.problem]
        for line in self.raw.rstrip(b"\0").split(b"\n"):
            if len(line) > VMCOREINFO_LINE_MAX:
                found.append(f"line {line[:30].decode('ascii', 'replace')!r}... is {len(line)} "
                             f"bytes; the kernel writes at most {VMCOREINFO_LINE_MAX}")
        found += [f"{key} is missing" for key in ("OSRELEASE", "PAGESIZE") if key not in self]
        pagesize = decode("PAGESIZE", self.entries.get("PAGESIZE", "4096"))[0]
        if isinstance(pagesize, int) and len(self.raw.rstrip(b"\0")) > pagesize:
            found.append(f"text is {len(self.raw)} bytes; the kernel caps it at PAGESIZE")
        return found

    @property
    def build_id(self) -> str | None:
        return self.entries.get("BUILD-ID")

    @property
    def crashtime(self) -> int | None:
        return self._int("CRASHTIME")

    def guess_arch(self) -> str | None:
        """The architecture the arch block names, or None."""
        if "NUMBER(kimage_voffset)" in self.entries or "NUMBER(TCR_EL1_T1SZ)" in self.entries:
            return "arm64"
        if "NUMBER(phys_base)" in self.entries or "SYMBOL(init_top_pgt)" in self.entries:
            return "x86_64"
        if "NUMBER(va_kernel_pa_offset)" in self.entries or "NUMBER(phys_ram_base)" in self.entries:
            return "riscv64"
        return None


def kernel_version(release: str | None) -> tuple[int, int, int]:
    """``(major, minor, patch)`` of an OSRELEASE; unknown releases sort as newest."""
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", release or "")
    if not match:
        return (99, 0, 0)
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


@dataclass(frozen=True, slots=True)
class Layout:
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
        info = self.vmcoreinfo
        voffset = info.number("kimage_voffset")
        phys_offset = info.number("PHYS_OFFSET")
        t1sz = info.number("TCR_EL1_T1SZ")
        va_bits = 64 - t1sz if t1sz else info.number("VA_BITS")
        if va_bits is not None and not ARM64_VA_BITS[0] <= va_bits <= ARM64_VA_BITS[1]:
            va_bits = None   # corrupt: no linear-map rule rather than a nonsense one
        return voffset, phys_offset, va_bits

    def _arm64_linear_range(self, va_bits: int) -> tuple[int, int]:
        if kernel_version(self.vmcoreinfo.osrelease) >= (5, 4, 0):
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

    def layout(self) -> Layout:
        """The facts the rules below use, for ``minidump info`` and ``vmcoreinfo``."""
        info = self.vmcoreinfo
        if self.arch == "arm64":
            voffset, phys_offset, va_bits = self._arm64()
            start = self._arm64_linear_range(va_bits)[0] if va_bits else None
            return Layout("arm64", start, phys_offset, voffset, None, va_bits, info.kerneloffset,
                          "NUMBER(VA_BITS)/TCR_EL1_T1SZ" if va_bits else "")
        if self.arch == "x86_64":
            phys_base = info.number("phys_base")
            image = None if phys_base is None else X86_64_START_KERNEL_MAP - phys_base
            page_offset, source = self._x86_64_page_offset()
            va_bits = 57 if info.number("pgtable_l5_enabled") else 48
            return Layout("x86_64", page_offset, 0, image, phys_base, va_bits, info.kerneloffset,
                          source)
        if self.arch == "riscv64":
            return Layout("riscv64", info.number("PAGE_OFFSET"), info.number("phys_ram_base"),
                          info.number("va_kernel_pa_offset"), None, info.number("VA_BITS"),
                          info.kerneloffset, "NUMBER(PAGE_OFFSET)")
        page_offset, phys_offset = self._generic_linear()
        return Layout(self.arch, page_offset, phys_offset, None, None, 32 if self.arch == "arm"
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

    def _generic_linear(self) -> tuple[int | None, int]:
        info = self.vmcoreinfo
        page_offset = self.page_offset if self.page_offset is not None else info.number(
            "PAGE_OFFSET")
        phys = self.phys_offset
        if phys is None:
            phys = info.number("phys_ram_base") or info.number("PHYS_OFFSET") or 0
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
        return None

    def linear_va(self, paddr: int) -> int | None:
        """Linear-map alias of a physical address."""
        if self.arch == "arm64":
            # __phys_to_virt: (pa - PHYS_OFFSET) | PAGE_OFFSET, modulo 2^64; with KASLR
            # memstart_addr is negative, so VMCOREINFO prints PHYS_OFFSET=0xffff...
            _, phys_offset, va_bits = self._arm64()
            if phys_offset is None or va_bits is None:
                return None
            start, end = self._arm64_linear_range(va_bits)
            offset = (paddr - phys_offset) & MASK64
            return start + offset if offset < end - start else None
        if self.arch == "x86_64":
            page_offset = self._x86_64_page_offset()[0]
            return None if page_offset is None else (page_offset + paddr) & MASK64
        page_offset, base = self._generic_linear()
        if page_offset is None or paddr < base:
            return None
        return (page_offset + paddr - base) & MASK64

    def pa(self, vaddr: int) -> int | None:
        """Physical address of a linear-map or kernel-image virtual address."""
        if self.arch == "arm64":
            voffset, phys_offset, va_bits = self._arm64()
            if va_bits is not None and phys_offset is not None:
                start, end = self._arm64_linear_range(va_bits)
                if start <= vaddr < end:  # __lm_to_phys, modulo 2^64
                    return (vaddr - start + phys_offset) & MASK64
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
        if page_offset is not None and vaddr >= page_offset:
            return vaddr - page_offset + base
        return None
