"""The ELF header region the kernel keeps for minidump (``md_KELF*.BIN``).

Two variants:

- meminspect ``KELF`` (ID 1): ELF64 ET_CORE, no sections; phdr[0] is a PT_NOTE
  with CORE/NT_PRSTATUS, CORE/NT_PRPSINFO and a VMCOREINFO note whose
  descriptor is *not* in the region (it is the next region, ID 2); then one
  PT_LOAD per other region (``kernel/meminspect/meminspect.c``).
- downstream ``KELF_HEADER``/``KELF_HDR`` (``msm_minidump.c``, 4.9-6.x): section
  table with ``STR_TBL`` naming each region, phdr[0] a PT_LOAD of the
  ``linux_banner`` copy held inside the region, then one PT_LOAD per region.

Both describe a file that is the concatenation of region payloads; their
``p_offset`` values point past the end of the region itself.
"""

from __future__ import annotations

import struct
from collections import namedtuple
from dataclasses import dataclass, field

from minidump.elf.core import (LAYOUTS, PHDR_FIELDS, Load, check_core_header, ehdr_error,
                               elf_schemas)
from minidump.elf.notes import iter_notes
from minidump.errors import FormatError, UnsupportedError
from minidump.formats.common import parse_at
from minidump.formats.elf import PT, SHT, VMCOREINFO_NOTE_NAME
from minidump.model import Arch, Note


_PHDR = {bits: namedtuple(f"Elf{bits}_Phdr", fields) for bits, fields in PHDR_FIELDS.items()}


@dataclass(slots=True)
class Kelf:
    variant: str  # "meminspect" or "downstream"
    arch: Arch
    loads: list[Load] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    vmcoreinfo_descsz: int | None = None
    header_size: int = 0       # where the concatenated payloads start (first region offset)
    vmcoreinfo_offset: int | None = None


def parse_kelf(data: bytes, *, path: str | None = None) -> Kelf:
    """Parse the header region; raise a located FormatError when it is not one."""
    elf = elf_schemas(bytes(data[:16]), path)
    ehdr = parse_at(elf.Elf_Ehdr, data, 0, path=path)
    check_core_header(ehdr, elf, path)
    if ehdr.e_phnum == 0:
        raise ehdr_error(elf, "e_phnum", "no program headers", path)
    end = ehdr.e_phoff + ehdr.e_phnum * elf.phdr_size
    if end > len(data):
        raise FormatError(f"{ehdr.e_phnum} program headers at {ehdr.e_phoff:#x} run past the "
                          f"region end {len(data):#x}", path=path, offset=ehdr.e_phoff,
                          field="e_phnum")
    # the table is in bounds (checked above) and a phdr is plain integers: the pinned struct
    # layout (tests/elf/test_core.py: equal to the schema) parses it without construct's
    # per-entry cost, about 4 ms for meminspect's 201 slots
    phdr = _PHDR[elf.bits]
    phdrs = [phdr._make(values) for values in struct.Struct(
        ("<" if elf.little_endian else ">") + LAYOUTS[elf.bits][1]).iter_unpack(
            bytes(data[ehdr.e_phoff:end]))]
    kelf = Kelf("downstream" if ehdr.e_shnum else "meminspect",
                Arch(ehdr.e_machine, elf.bits, elf.little_endian))

    names: dict[tuple[int, int], str] = {}
    if ehdr.e_shnum:
        names = _section_names(data, ehdr, elf, path)

    for i, ph in enumerate(phdrs):
        if ph.p_type == PT.NOTE:
            _parse_notes(kelf, data, ph, elf, path, i)
        elif ph.p_type == PT.LOAD:
            kelf.loads.append(Load(i, ph.p_paddr, ph.p_vaddr, ph.p_offset, ph.p_filesz,
                                       ph.p_memsz, names.get((ph.p_offset, ph.p_vaddr))))
        elif ph.p_type != PT.NULL:
            raise FormatError(f"unexpected p_type {ph.p_type}", path=path,
                              offset=ehdr.e_phoff + i * elf.phdr_size,
                              field=f"{elf.Elf_Phdr.name}[{i}].p_type")
    # the concatenated payloads start where the region itself ends
    outside = [load.offset for load in kelf.loads if load.offset >= len(data)]
    if kelf.vmcoreinfo_offset is not None:
        outside.append(kelf.vmcoreinfo_offset)
    kelf.header_size = min(outside) if outside else len(data)
    if kelf.variant == "meminspect" and not any(p.p_type == PT.NOTE for p in phdrs[:1]):
        raise UnsupportedError("meminspect ELF header without a PT_NOTE in phdr[0]", path=path,
                               offset=ehdr.e_phoff, field="Elf64_Phdr[0].p_type")
    return kelf


def _section_names(data, ehdr, elf, path) -> dict[tuple[int, int], str]:
    """Downstream: ``{(sh_offset, sh_addr): name}`` from STR_TBL (sections may run past EOF)."""
    size = elf.shdr_size
    if ehdr.e_shentsize != size:
        raise ehdr_error(elf, "e_shentsize", f"expected {size}, got {ehdr.e_shentsize}", path)
    count = min(ehdr.e_shnum, max(0, (len(data) - ehdr.e_shoff) // size))
    shdrs = [parse_at(elf.Elf_Shdr, data, ehdr.e_shoff + i * size, path=path,
                      what=f"{elf.Elf_Shdr.name}[{i}]") for i in range(count)]
    if ehdr.e_shstrndx >= len(shdrs):
        raise ehdr_error(elf, "e_shstrndx", f"section {ehdr.e_shstrndx} is not in the region",
                         path)
    strtab = shdrs[ehdr.e_shstrndx]
    if strtab.sh_type != SHT.STRTAB or strtab.sh_offset > len(data):
        raise FormatError("string table section is not SHT_STRTAB inside the region", path=path,
                          offset=ehdr.e_shoff + ehdr.e_shstrndx * size, field="STR_TBL")
    table = data[strtab.sh_offset:strtab.sh_offset + strtab.sh_size]
    names = {}
    for sh in shdrs:
        if sh.sh_type != SHT.PROGBITS or sh.sh_name >= len(table):
            continue
        raw = table[sh.sh_name:table.find(b"\0", sh.sh_name) if b"\0" in table[sh.sh_name:] else None]
        names[(sh.sh_offset, sh.sh_addr)] = raw.decode("ascii", "replace")
    return names


def _parse_notes(kelf: Kelf, data: bytes, ph, elf, path, index: int) -> None:
    """Notes inside the region; the VMCOREINFO descriptor may lie beyond it."""
    for note in iter_notes(data, elf.little_endian, start=ph.p_offset, end=ph.p_offset + ph.p_filesz,
                           path=path, open_ended=(VMCOREINFO_NOTE_NAME,)):
        if note.name == VMCOREINFO_NOTE_NAME:
            kelf.vmcoreinfo_descsz = note.descsz
            kelf.vmcoreinfo_offset = note.desc_offset
            if note.desc is None or kelf.variant == "meminspect":
                continue   # meminspect: the descriptor is the next region (ID 2)
        kelf.notes.append(Note(note.name, note.type, note.desc))
