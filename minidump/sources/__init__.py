"""Container readers: each maps one kind of input to :class:`~minidump.model.Row` objects.

A reader module has a cheap ``sniff(path)`` (magic and sizes only) and
``read(path, context) -> Source``; it never joins rows, never applies
``--vmcoreinfo``/``--arch`` (:mod:`minidump.assemble` does both, once).
:data:`READERS` is the one registry: detection order and the ``--format``
choices both come from it.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from minidump.errors import FormatError, UsageError
from minidump.files import file_size, parse_address
from minidump.model import Arch, Note, Row

if TYPE_CHECKING:
    from minidump.kernel.memory import Extent, PhysicalMemory


@dataclass(frozen=True, slots=True)
class Reader:
    """One container kind: its ``--format`` name and the module that reads it."""

    kind: str
    module: str
    sniffs: bool = True       # False: chosen by options, never by sniffing the input

    def load(self):
        return importlib.import_module(self.module)


#: detection order: directories, then magic numbers (cheapest module first), then what the
#: options imply
READERS: tuple[Reader, ...] = (
    Reader("mddir", "minidump.sources.mddir"),
    Reader("elf", "minidump.sources.elfcore"),
    Reader("rawdump", "minidump.sources.rawdump"),
    Reader("smem-blob", "minidump.sources.smem"),
    Reader("ram", "minidump.sources.smem", sniffs=False),
    Reader("memory", "minidump.sources.ram", sniffs=False),
)
BY_KIND = {reader.kind: reader for reader in READERS}
FORMATS = ("auto", *BY_KIND)


@dataclass(slots=True)
class Source:
    """What a reader gives: rows, and what the container itself says."""

    container: str
    rows: list[Row] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)   # an ELF core's notes, VMCOREINFO among them
    arch: Arch | None = None                          # an ELF core's e_machine
    table_where: str = ""
    #: rows are memory as the container maps it (ELF PT_LOADs, RAM images): addresses as
    #: given, no kernel header or VMCOREINFO region among them
    mapped: bool = False
    #: "meminspect": the file's own header is a meminspect kernel's (QDL's minidump.elf),
    #: whose PT_LOAD order is the kernel's ID order (minidump.meminspect.order)
    kernel_header: str | None = None
    #: the objects our vmcores' MINIDUMP note records, by (id, name, paddr, size)
    objects: dict = field(default_factory=dict)
    #: what the rows' IDs are, where the container records it (our vmcores' MINIDUMP note)
    scheme: str | None = None

    def warn(self, message: str) -> None:
        self.warnings.append(message)


@dataclass(slots=True)
class Context:
    """The input options a reader may use (already parsed), and the RAM images."""

    kind: str
    memory: "PhysicalMemory"
    table_addr: int | None = None
    smem_base: int | None = None
    smem_size: int | None = None
    sahara_table: str | None = None
    table_rows: list[Row] = field(default_factory=list)   # addresses from the SMEM table in RAM
    progress: bool = False          # a progress bar on a terminal for long scans


def split_memory_spec(spec: str) -> tuple[str, int]:
    """``FILE@PADDR`` (crash's syntax for raw RAM images: PADDR in hex, ``0x`` optional)."""
    path, sep, addr = spec.rpartition("@")
    if not sep or not path:
        raise UsageError(f"--memory {spec!r}: expected FILE@PADDR")
    return path, parse_address(addr, "--memory address")


def memory_extent(spec: str) -> "Extent":
    """The extent a ``FILE@PADDR`` spec names: the whole file at PADDR."""
    from minidump.kernel.memory import Extent
    path, paddr = split_memory_spec(spec)
    try:
        size = file_size(path)
    except OSError as exc:
        raise UsageError(f"--memory {path}: {exc.strerror}") from None
    return Extent(paddr, size, path, 0)


def is_memory_spec(path: str) -> bool:
    """``FILE@PADDR`` naming an existing FILE (and not itself a file of that name)."""
    return "@" in path and not os.path.exists(path) and os.path.isfile(path.rpartition("@")[0])


def detect(path: str, *, has_memory: bool) -> Reader:
    """The reader for ``path``: the first whose sniffer accepts it, else what options imply."""
    if is_memory_spec(path):
        return BY_KIND["memory"]
    for reader in READERS:
        try:
            if reader.sniffs and reader.load().sniff(path):
                return reader
        except OSError as exc:   # /proc/self/mem, a dying disk: say which file
            raise FormatError(f"cannot read it: {(exc.strerror or str(exc)).lower()}",
                              path=path) from exc
    if has_memory and os.path.isfile(path):
        return BY_KIND["ram"]
    raise FormatError("not a md_*.BIN directory, a Raw_Dmp! image or an SMEM item-602 blob, "
                      "nor an ELF vmcore; for a RAM image holding the SMEM table also pass "
                      "--memory FILE@PADDR", path=path)
