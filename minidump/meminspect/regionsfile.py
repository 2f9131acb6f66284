"""``--regions FILE``: the regions to extract from a kernel without meminspect.

One region per line; ``#`` starts a comment; blank lines are ignored:

- ``SYMBOL``: the symbol's address and size from the vmlinux symbol table;
- ``SYMBOL SIZE``: an explicit size (decimal or 0x-hex), for labels and
  arrays whose symbol has no size;
- ``phys PADDR SIZE``: a physical range.

A ``?`` right after the symbol (``total_nr_irqs?``) makes the line optional:
a vmlinux without that symbol skips it with a warning instead of failing, so
one file serves several kernel versions.  Symbols resolve at runtime
addresses (link address + VMCOREINFO ``KERNELOFFSET``).  Files shipped in
``minidump/data`` are usable by name: ``--regions v3-default`` is the static
set meminspect v3 registers (meminspect.md section 4.1).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from importlib import resources

from minidump.errors import FormatError, UsageError

SHIPPED_SUFFIX = ".regions"
_SYMBOL = re.compile(r"^[A-Za-z_.$][A-Za-z0-9_.$]*\??$")


@dataclass(frozen=True, slots=True)
class RegionSpec:
    """One line of a regions file: a symbol (optional size) or a physical range."""

    line: int
    size: int | None = None
    symbol: str | None = None
    paddr: int | None = None
    optional: bool = False


def shipped(name: str) -> str | None:
    """Path of a regions file shipped with minidump (``v3-default``), or None."""
    candidate = resources.files("minidump") / "data" / f"{name}{SHIPPED_SUFFIX}"
    return str(candidate) if candidate.is_file() else None


def resolve_path(name: str) -> str:
    """A path as given, else a shipped file of that name."""
    if os.path.exists(name):
        return name
    found = shipped(name) if os.sep not in name else None
    if found is None:
        raise UsageError(f"--regions {name}: no such file (shipped sets: "
                         f"{', '.join(shipped_names())})")
    return found


def shipped_names() -> list[str]:
    folder = resources.files("minidump") / "data"
    return sorted(p.name.removesuffix(SHIPPED_SUFFIX) for p in folder.iterdir()
                  if p.name.endswith(SHIPPED_SUFFIX))


def _number(text: str, path: str, line: int, what: str) -> int:
    from minidump.files import parse_int
    try:
        value = parse_int(text, what)
    except UsageError:
        raise FormatError(f"line {line}: {what} {text!r} is not a number (decimal or 0x-hex)",
                          path=path) from None
    if value >= 1 << 64:
        raise FormatError(f"line {line}: {what} {text} does not fit in 64 bits", path=path)
    return value


def parse_regions(text: str, path: str = "--regions",
                  warnings: list[str] | None = None) -> list[RegionSpec]:
    """Parse the whole file; errors name the line.  A line repeating an earlier one is kept
    once, with one warning for all of them (``warnings``); at most :data:`REGIONS_MAX`
    regions."""
    from minidump.limits import REGIONS_MAX
    specs = []
    seen: dict[tuple, int] = {}
    repeats: list[tuple[int, int]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        words = raw.partition("#")[0].split()
        if not words:
            continue
        if words[0] == "phys":
            if len(words) != 3:
                raise FormatError(f"line {number}: expected 'phys PADDR SIZE'", path=path)
            size = _number(words[2], path, number, "size")
            spec = RegionSpec(number, size, paddr=_number(words[1], path, number, "address"))
        else:
            if len(words) > 2 or not _SYMBOL.match(words[0]):
                raise FormatError(f"line {number}: expected 'SYMBOL [SIZE]' or 'phys PADDR "
                                  f"SIZE', got {raw.strip()!r}", path=path)
            size = _number(words[1], path, number, "size") if len(words) == 2 else None
            if size == 0:
                raise FormatError(f"line {number}: size is 0", path=path)
            spec = RegionSpec(number, size, symbol=words[0].rstrip("?"),
                              optional=words[0].endswith("?"))
        key = (spec.symbol, spec.paddr, spec.size, spec.optional)
        if key in seen:
            repeats.append((number, seen[key]))
            continue
        seen[key] = number
        if len(specs) == REGIONS_MAX:
            raise FormatError(f"line {number}: more than {REGIONS_MAX} regions", path=path)
        specs.append(spec)
    if not specs:
        raise FormatError("no regions listed", path=path)
    if repeats and warnings is not None:
        shown = ", ".join(f"line {n} (= line {first})" for n, first in repeats[:3])
        more = f" and {len(repeats) - 3} more" if len(repeats) > 3 else ""
        warnings.append(f"{path}: {len(repeats)} line{'s repeat' if len(repeats) > 1 else ' repeats'}"
                        f" an earlier one, kept once: {shown}{more}")
    return specs


def decode_text(data: bytes, path: str) -> str:
    """UTF-8 text, or a FormatError naming the line and offset of the first bad byte
    (latin-1, UTF-16 and binary files are not regions files)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FormatError(f"line {line}: byte {data[exc.start]:#04x} is not UTF-8 text "
                          "(save the file as UTF-8)", path=path, offset=exc.start) from None


def load_regions(name: str, warnings: list[str] | None = None) -> tuple[str, list[RegionSpec]]:
    """(path, specs) of a file or a shipped set; a file over :data:`REGIONS_FILE_MAX` bytes
    is refused before it is read."""
    from minidump.files import read_small
    from minidump.limits import REGIONS_FILE_MAX
    path = resolve_path(name)
    data = read_small(path, REGIONS_FILE_MAX, "--regions file")
    return path, parse_regions(decode_text(data, path), path, warnings)
