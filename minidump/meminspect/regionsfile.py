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
    try:
        value = int(text.replace("_", ""), 0)
    except ValueError:
        raise FormatError(f"line {line}: {what} {text!r} is not a number (decimal or 0x-hex)",
                          path=path) from None
    if value < 0:
        raise FormatError(f"line {line}: {what} {text!r} is negative", path=path)
    return value


def parse_regions(text: str, path: str = "--regions") -> list[RegionSpec]:
    """Parse the whole file; errors name the line."""
    specs = []
    for number, raw in enumerate(text.splitlines(), 1):
        words = raw.partition("#")[0].split()
        if not words:
            continue
        if words[0] == "phys":
            if len(words) != 3:
                raise FormatError(f"line {number}: expected 'phys PADDR SIZE'", path=path)
            size = _number(words[2], path, number, "size")
            specs.append(RegionSpec(number, size, paddr=_number(words[1], path, number,
                                                                "address")))
            continue
        if len(words) > 2 or not _SYMBOL.match(words[0]):
            raise FormatError(f"line {number}: expected 'SYMBOL [SIZE]' or 'phys PADDR SIZE', "
                              f"got {raw.strip()!r}", path=path)
        size = _number(words[1], path, number, "size") if len(words) == 2 else None
        if size == 0:
            raise FormatError(f"line {number}: size is 0", path=path)
        name = words[0].rstrip("?")
        specs.append(RegionSpec(number, size, symbol=name, optional=words[0].endswith("?")))
    if not specs:
        raise FormatError("no regions listed", path=path)
    return specs


def load_regions(name: str) -> tuple[str, list[RegionSpec]]:
    """(path, specs) of a file or a shipped set."""
    path = resolve_path(name)
    with open(path, encoding="utf-8") as fh:
        return path, parse_regions(fh.read(), path)
