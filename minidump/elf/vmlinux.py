"""A kernel's ``vmlinux``: sections, a fast symbol index, KASLR-aware lookups.

pyelftools parses the ELF and section headers; the symbol table is read in
one ``struct.iter_unpack`` pass over ``.symtab`` (STYLE.md section 9: ~50x faster
than pyelftools' ``get_symbol_by_name``), with the format derived from our
``Elf_Sym`` schema.  Link-time addresses become runtime addresses by adding
VMCOREINFO ``KERNELOFFSET`` (``kernel/vmcore_info.c``: ``kaslr_offset()``).

Relocatable arm64 kernels are linked with ``--no-apply-dynamic-relocs``: a
pointer stored in the image may read 0 and its link-time value is the addend
of the ``R_AARCH64_RELATIVE`` entry in ``.rela.dyn`` at that address
(``arch/arm64/kernel/pi/relocate.c``; meminspect.md section 2.7).
"""

from __future__ import annotations

import bisect
import itertools
import os
import sys
from collections import Counter
import struct
from dataclasses import dataclass
from functools import cached_property
from typing import BinaryIO, Iterator

from minidump.errors import FormatError, SymbolError
from minidump.formats.common import parse_at, struct_format
from minidump.elf.core import elf_schemas
from minidump.files import Closable, read_at
from minidump.formats.elf import (R_AARCH64_RELATIVE, R_X86_64_RELATIVE, STT_FUNC, STT_OBJECT,
                                  elf_structs)
from minidump.model import Arch

#: include/uapi/linux/elf.h: NT_GNU_BUILD_ID in a "GNU" note
NT_GNU_BUILD_ID = 3

STT_NOTYPE = 0
STB_LOCAL = 0
RELATIVE_TYPES = (R_AARCH64_RELATIVE, R_X86_64_RELATIVE)


@dataclass(frozen=True, slots=True)
class Section:
    """One section header (pyelftools' view, reduced to what we use)."""

    index: int
    name: str
    type: str       # pyelftools spelling: "SHT_PROGBITS", "SHT_NOBITS", ...
    addr: int
    offset: int
    size: int
    link: int

    def holds(self, vaddr: int, size: int = 1) -> bool:
        return self.addr <= vaddr and vaddr + size <= self.addr + self.size


@dataclass(frozen=True, slots=True)
class Symbol:
    """One ``Elf_Sym``: link-time ``value``, ``size``, type/binding and section."""

    name: str
    value: int
    size: int
    type: int
    bind: int
    shndx: int

    @property
    def local(self) -> bool:
        return self.bind == STB_LOCAL

    def runtime(self, kerneloffset: int = 0) -> int:
        """The runtime address under KASLR (``KERNELOFFSET``)."""
        return self.value + kerneloffset


def sym_format(little_endian: bool, bits: int) -> tuple[struct.Struct, tuple[str, ...]]:
    """The ``struct`` fast path of ``Elf_Sym``, derived from the schema."""
    return struct_format(elf_structs(little_endian, bits).Elf_Sym)


Row = tuple[int, int, int, int]   # st_value, st_size, st_info, st_shndx

#: symbol indexes of the vmlinuxes opened last, by file identity (a fleet run holds a few)
_INDEXES: dict[tuple, "SymbolIndex"] = {}
INDEXES_KEPT = 2


class SymbolIndex:
    """The named symbols of a ``.symtab``, by name and (lazily) by address.

    The map is built on first use in one ``iter_unpack`` pass, names sliced
    out of ``.strtab`` (STYLE.md section 9: ~150 ms for 120k symbols, ~50x
    pyelftools' ``get_symbol_by_name``).  Static symbols repeat: every match is kept.
    """

    def __init__(self, symtab: bytes, strtab: bytes, little_endian: bool, bits: int) -> None:
        self._fast, fields = sym_format(little_endian, bits)
        self._symtab = symtab[:len(symtab) - len(symtab) % self._fast.size]
        self._strtab = strtab
        self._little = little_endian
        self._pick = tuple(fields.index(f) for f in ("st_value", "st_size", "st_info",
                                                      "st_shndx"))
        self._name_at = fields.index("st_name")
        self._names: list[bytes] | None = None
        self._first: dict[bytes, int] | None = None
        self._repeated: dict[bytes, list[int]] = {}
        self._sorted: list[tuple[int, int, str]] | None = None
        self._starts: list[int] = []

    def _name_column(self) -> list[int]:
        """Every ``st_name``, in table order."""
        size = self._fast.size
        if self._name_at == 0 and size % 4 == 0 and \
                self._little == (sys.byteorder == "little"):
            # st_name is the entry's first 32-bit word (ELF32 and ELF64 alike)
            return memoryview(self._symtab).cast("I")[::size // 4].tolist()
        return [values[self._name_at] for values in self._fast.iter_unpack(self._symtab)]

    def _by_name(self) -> dict[bytes, int]:
        """Name -> index of its last symbol, built once with bulk operations (C speed: a
        ``dict`` of ``.strtab``'s strings by offset mapped over the ``st_name`` column);
        names held by several symbols also get every index in ``_repeated``."""
        if self._first is None:
            strtab = self._strtab
            strings = strtab.split(b"\0")
            at = dict(zip(itertools.accumulate((len(x) + 1 for x in strings), initial=0),
                          strings))
            column = self._name_column()
            names = list(map(at.get, column))
            # a name that is the tail of a longer string (the linker shares the bytes)
            for index in [i for i, name in enumerate(names) if name is None]:
                start = column[index]
                names[index] = strtab[start:strtab.find(b"\0", start)] \
                    if start < len(strtab) else b""
            first = dict(zip(names, range(len(names))))
            if len(first) < len(names):
                counts = Counter(names)
                repeated = {name for name, n in counts.items() if n > 1}
                for index, name in enumerate(names):
                    if name in repeated:
                        self._repeated.setdefault(name, []).append(index)
            first.pop(b"", None)
            self._names, self._first = names, first
        return self._first

    def _rows(self, name: str) -> list[Row]:
        raw = name.encode("ascii", "replace")
        first = self._by_name()
        if raw not in first:
            return []
        pick, fast, size = self._pick, self._fast, self._fast.size
        return [tuple(values[i] for i in pick)
                for values in (fast.unpack_from(self._symtab, index * size)
                               for index in self._repeated.get(raw, (first[raw],)))]

    def __len__(self) -> int:
        self._by_name()
        return sum(1 for name in self._names if name)

    def __contains__(self, name: str) -> bool:
        return name.encode("ascii", "replace") in self._by_name()

    def all(self, name: str) -> list[Symbol]:
        """Every symbol of that name (static symbols repeat across files)."""
        return [Symbol(name, value, size, info & 0xF, info >> 4, shndx)
                for value, size, info, shndx in self._rows(name)]

    def with_prefix(self, prefix: str) -> Iterator[Symbol]:
        """Every symbol whose name starts with ``prefix``."""
        raw = prefix.encode("ascii", "replace")
        for name in list(self._by_name()):
            if name.startswith(raw):
                yield from self.all(name.decode("ascii", "replace"))

    def get(self, name: str) -> Symbol | None:
        """The symbol of that name: a global one if there is one, else the first."""
        found = self.all(name)
        if not found:
            return None
        return next((s for s in found if not s.local), found[0])

    def next_start(self, vaddr: int) -> int | None:
        """The lowest data or code symbol address above a link-time address (where a
        disassembler stops a function whose symbol has no size)."""
        self.symbolize(vaddr)
        index = bisect.bisect_right(self._starts, vaddr)
        return self._starts[index] if index < len(self._starts) else None

    def preceding(self, vaddr: int) -> tuple[str, int] | None:
        """``(name, offset)`` of the nearest symbol at or below a link-time address, sized
        or not (how crash names a text address: an assembly label has no size)."""
        self.symbolize(vaddr)
        index = bisect.bisect_right(self._starts, vaddr) - 1
        if index < 0:
            return None
        value = self._starts[index]
        return self._sorted[index][2], vaddr - value

    def symbolize(self, vaddr: int) -> tuple[str, int] | None:
        """``(name, offset)`` of the data or code symbol covering a link-time address."""
        if self._sorted is None:
            at_value, at_size, at_info, _ = self._pick
            self._by_name()
            rows = sorted((v[at_value], v[at_size], raw.decode("ascii", "replace"))
                          for raw, v in zip(self._names, self._fast.iter_unpack(self._symtab))
                          if raw and not raw.startswith(b"$") and v[at_value]
                          and (v[at_info] & 0xF) in (STT_OBJECT, STT_FUNC, STT_NOTYPE))
            self._sorted, self._starts = rows, [r[0] for r in rows]
        index = bisect.bisect_right(self._starts, vaddr) - 1
        if index < 0:
            return None
        value = self._starts[index]
        # several symbols may start here (a label and an object): the sized one covering wins
        same = []
        while index >= 0 and self._starts[index] == value:
            same.append(self._sorted[index])
            index -= 1
        for _, size, name in sorted(same, key=lambda row: -row[1]):
            if vaddr < value + size or (size == 0 and vaddr == value):
                return name, vaddr - value
        return None


class Vmlinux(Closable):
    """An open vmlinux: ELF identity, sections, symbols, bytes at link addresses."""

    def __init__(self, fh: BinaryIO, path: str | None = None) -> None:
        from elftools.common.exceptions import ELFError
        from elftools.elf.elffile import ELFFile

        self.fh = fh
        self.path = path
        self.elf = elf_schemas(read_at(fh, 0, 16, path=path, what="e_ident"), path)
        self.bits = self.elf.bits
        self.little_endian = self.elf.little_endian
        ehdr = parse_at(self.elf.Elf_Ehdr, read_at(fh, 0, self.elf.ehdr_size, path=path,
                                                   what="Elf_Ehdr"), path=path)
        self.arch = Arch(ehdr.e_machine, self.bits, self.little_endian)
        try:
            elffile = ELFFile(fh)
            self.sections = [Section(i, s.name, s["sh_type"], s["sh_addr"], s["sh_offset"],
                                     s["sh_size"], s["sh_link"])
                             for i, s in enumerate(elffile.iter_sections())]
        except ELFError as exc:
            raise FormatError(f"bad section headers: {exc}", path=path, field="Elf_Shdr") from exc
        except (OverflowError, ValueError, OSError) as exc:
            # pyelftools seeks wherever a header says; a wild offset overflows seek(), a
            # negative one (sh_name + sh_offset of .shstrtab past 2^63) is EINVAL
            raise FormatError("a section header points past any file offset", path=path,
                              field="Elf_Shdr") from exc
        self._by_name = {s.name: s for s in self.sections}
        self._symbols: SymbolIndex | None = None
        self._relocs: dict[int, int] | None = None

    @classmethod
    def open(cls, path: str) -> "Vmlinux":
        fh = open(path, "rb")  # noqa: SIM115 - owned by the Vmlinux, closed in close()
        try:
            return cls(fh, path)
        except BaseException:
            fh.close()
            raise

    def close(self) -> None:
        self.fh.close()

    @property
    def byteorder(self) -> str:
        return "little" if self.little_endian else "big"

    # -- sections ------------------------------------------------------------
    def section(self, name: str) -> Section | None:
        return self._by_name.get(name)

    def section_data(self, section: Section) -> bytes:
        """A section's bytes from the file; SHT_NOBITS sections have none to give."""
        if section.type == "SHT_NOBITS":
            raise FormatError(f"section {section.name} is SHT_NOBITS: it has no bytes in the "
                              "file", path=self.path, field=f"section {section.name}")
        return read_at(self.fh, section.offset, section.size, path=self.path,
                       what=f"section {section.name}")

    def read_link(self, vaddr: int, size: int, what: str = "") -> bytes:
        """The file's bytes at a link-time virtual address (zeros for ``.bss``)."""
        for section in self.sections:
            if section.addr and section.type != "SHT_NULL" and section.holds(vaddr, size):
                if section.type == "SHT_NOBITS":
                    return bytes(size)
                return read_at(self.fh, section.offset + vaddr - section.addr, size,
                               path=self.path, what=what or f"{vaddr:#x}")
        raise FormatError(f"link address {vaddr:#x}+{size:#x} is in no section", path=self.path,
                          field=what or None)

    @cached_property
    def build_id(self) -> str | None:
        """The GNU build-id (``NT_GNU_BUILD_ID`` in a note section) as lowercase hex: what
        VMCOREINFO's ``BUILD-ID`` holds."""
        from minidump.elf.notes import iter_notes
        for section in self.sections:
            if section.type != "SHT_NOTE":
                continue
            for note in iter_notes(self.section_data(section), self.little_endian,
                                   path=self.path, base=section.offset,
                                   container=f"section {section.name}"):
                if note.name == b"GNU" and note.type == NT_GNU_BUILD_ID:
                    return note.desc.hex()
        return None

    # -- symbols -------------------------------------------------------------
    @property
    def symbols(self) -> SymbolIndex:
        """The ``.symtab`` index, built on first use (and shared by every open of the same
        unchanged file in this process: extract, naming and facts each open the vmlinux)."""
        if self._symbols is None:
            symtab = next((s for s in self.sections if s.type == "SHT_SYMTAB"), None)
            if symtab is None:
                raise SymbolError("no .symtab: give the unstripped vmlinux (the -dbg package)",
                                  path=self.path, field=".symtab")
            if symtab.link >= len(self.sections):
                raise FormatError(f"sh_link {symtab.link} names no section", path=self.path,
                                  field=".symtab.sh_link")
            self._check_symtab_size(symtab)
            key = self._identity()
            cached = _INDEXES.get(key) if key is not None else None
            if cached is None:
                cached = SymbolIndex(self.section_data(symtab),
                                     self.section_data(self.sections[symtab.link]),
                                     self.little_endian, self.bits)
                if key is not None:
                    _INDEXES[key] = cached
                    while len(_INDEXES) > INDEXES_KEPT:
                        del _INDEXES[next(iter(_INDEXES))]
            self._symbols = cached
        return self._symbols

    def _check_symtab_size(self, symtab: Section) -> None:
        """Bounds before reading: a symbol count no kernel has, or a ``.strtab`` far larger than
        its names need, is refused in one line instead of costing seconds and gigabytes."""
        from minidump.limits import STRTAB_BYTES_PER_SYMBOL, SYMBOLS_MAX
        entry = sym_format(self.little_endian, self.bits)[0].size
        count = symtab.size // entry
        if count > SYMBOLS_MAX:
            raise FormatError(f"{count:,} symbols; no kernel has more than {SYMBOLS_MAX:,}",
                              path=self.path, offset=symtab.offset, field=".symtab")
        strtab = self.sections[symtab.link]
        limit = max(count, 1) * STRTAB_BYTES_PER_SYMBOL + (1 << 20)
        if strtab.size > limit:
            raise FormatError(f"{strtab.size:#x} bytes of names for {count:,} symbols (limit "
                              f"{limit:#x})", path=self.path, offset=strtab.offset,
                              field=strtab.name or ".strtab")

    #: symbols every Linux kernel image defines (init/version.c, init/main.c, the linker
    #: script); a vmlinux with none of them is another program
    KERNEL_SYMBOLS = ("linux_banner", "init_uts_ns", "init_task", "start_kernel", "_stext",
                      "_text", "swapper_pg_dir")

    def check_kernel(self) -> None:
        """Refuse what is not a Linux kernel image: a shared library, an object file, a core,
        a stripped or empty symbol table.  One line naming the file."""
        from minidump.formats.elf import ET
        ehdr = parse_at(self.elf.Elf_Ehdr, read_at(self.fh, 0, self.elf.ehdr_size,
                                                   path=self.path, what="Elf_Ehdr"),
                        path=self.path)
        if ehdr.e_type not in (ET.EXEC, ET.DYN):
            raise FormatError(f"not a Linux kernel image: e_type {ehdr.e_type} is not "
                              "ET_EXEC or ET_DYN", path=self.path, field="e_type")
        symbols = self.symbols
        if len(symbols) == 0:
            raise FormatError("not a usable Linux kernel image: its symbol table is empty",
                              path=self.path, field=".symtab")
        if not any(name in symbols for name in self.KERNEL_SYMBOLS):
            raise FormatError("not a Linux kernel image: its symbols include none of "
                              + ", ".join(self.KERNEL_SYMBOLS), path=self.path,
                              field=".symtab")

    def _identity(self) -> tuple | None:
        """The open file as the kernel knows it (device, inode, size, mtime), or None."""
        try:
            st = os.fstat(self.fh.fileno())
        except (AttributeError, OSError, ValueError):
            return None     # an in-memory file: no identity to share by
        return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns

    def symbol(self, name: str) -> Symbol:
        """The named symbol or a SymbolError."""
        found = self.symbols.get(name)
        if found is None:
            raise SymbolError(f"symbol {name} is not in the vmlinux", path=self.path)
        return found

    def symbolize(self, vaddr: int) -> str | None:
        """``name`` or ``name+0xoff`` for a link-time address."""
        hit = self.symbols.symbolize(vaddr)
        if hit is None:
            return None
        name, offset = hit
        return name if offset == 0 else f"{name}+{offset:#x}"

    # -- relocations ---------------------------------------------------------
    def relative_addend(self, vaddr: int) -> int | None:
        """The addend of the RELATIVE relocation patching ``vaddr`` (``.rela.dyn``)."""
        if self._relocs is None:
            self._relocs = {}
            rela = self.section(".rela.dyn")
            if rela is not None and rela.type == "SHT_RELA":
                fast, names = struct_format(self.elf.Elf_Rela)
                data = self.section_data(rela)
                data = data[:len(data) - len(data) % fast.size]
                shift = 32 if self.bits == 64 else 8
                mask = (1 << self.bits) - 1   # r_addend is signed; kernel addresses are "negative"
                for r_offset, r_info, r_addend in fast.iter_unpack(data):
                    if r_info & ((1 << shift) - 1) in RELATIVE_TYPES:
                        self._relocs[r_offset] = r_addend & mask
        return self._relocs.get(vaddr)

    def pointer_at(self, vaddr: int, what: str = "") -> int:
        """A pointer stored in the image at a link address, RELA addend when it reads 0."""
        size = self.bits // 8
        value = int.from_bytes(self.read_link(vaddr, size, what), self.byteorder)
        if value == 0:
            value = self.relative_addend(vaddr) or 0
        return value

