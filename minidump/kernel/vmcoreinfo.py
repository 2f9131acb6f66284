"""VMCOREINFO: parse, validate and compose the kernel's ``KEY=VALUE`` text.

Producers: ``kernel/vmcore_info.c`` (``crash_core.c`` before 6.9) and each
arch's ``arch_crash_save_vmcoreinfo`` (``arch/arm64/kernel/vmcore_info.c``,
``arch/x86/kernel/vmcore_info_64.c``, ``arch/riscv/kernel/vmcore_info.c``,
``arch/arm/kernel/machine_kexec.c``); formats in ``include/linux/vmcore_info.h``.
SYMBOL values are bare hex, SIZE/OFFSET/LENGTH unsigned decimal, NUMBER signed
decimal except the arm64 address-like NUMBERs which are 0x-hex, KERNELOFFSET
bare hex, CRASHTIME decimal seconds, CONFIG_X=y.

:class:`VmcoreInfo` is a read-only mapping of key to text
(``info["OSRELEASE"]``) with typed accessors; address translation with it is
:mod:`minidump.kernel.translate`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from minidump.errors import FormatError

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


class VmcoreInfo(Mapping):
    """Parsed VMCOREINFO text, a mapping of key to value text; ``raw`` keeps the bytes."""

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

    def __getitem__(self, key: str) -> str:
        return self.entries[key]

    def __iter__(self):
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def __repr__(self) -> str:
        return f"VmcoreInfo({self.osrelease!r}, {len(self.entries)} keys)"

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
        # 32-bit arm exports no arch block but CONFIG_ARM_LPAE (when set); of the arches
        # minidump knows, only arm has kernel addresses below 4 GiB
        try:
            symbols = [self._int(key, 16) for key in self.entries
                       if key.startswith("SYMBOL(") and key.endswith(")")]
        except FormatError:
            return None              # a guess from a malformed table is no guess
        symbols = [value for value in symbols if value]
        if "CONFIG_ARM_LPAE" in self.entries or symbols and max(symbols) < 1 << 32:
            return "arm"
        return None
