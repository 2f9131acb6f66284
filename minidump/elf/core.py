"""ELF identification and core files: our own vmcores, kdump ``/proc/vmcore`` copies and
QEMU ``dump-guest-memory`` output.

:func:`elf_schemas` is the one ``e_ident`` check (class and byte order pick the
schemas of ``formats/elf.py``); the core reader, the kernel's header region
(:mod:`minidump.elf.kelf`) and the vmlinux reader all start with it.

Only headers and notes are read up front; memory stays in the file.  QEMU
puts section headers before the program headers (``e_phoff`` 192) and may use
``PN_XNUM``, so every offset comes from the header, never assumed.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from minidump.elf.notes import iter_notes
from minidump.errors import FormatError, MinidumpError
from minidump.files import read_at
from minidump.formats.elf import (ELFCLASS, ELFDATA, ELFMAG, ET, PN_XNUM, PT,
                                  VMCOREINFO_NOTE_NAME)
from minidump.limits import NOTES_MAX, PHDRS_MAX, VMCOREINFO_MAX
from minidump.model import Arch, Note

if TYPE_CHECKING:
    from minidump.formats.elf import ElfStructs

#: ``struct`` layouts of Elf{64,32}_Ehdr, _Phdr and _Shdr (formats/elf.py), pinned so that
#: reading a core imports no construct; ``struct_format`` of each schema gives the same
#: (tests/elf/test_core.py checks it), and errors are still located by the schemas' fields
EHDR_FIELDS = ("e_ident", "e_type", "e_machine", "e_version", "e_entry", "e_phoff", "e_shoff",
               "e_flags", "e_ehsize", "e_phentsize", "e_phnum", "e_shentsize", "e_shnum",
               "e_shstrndx")
PHDR_FIELDS = {64: ("p_type", "p_flags", "p_offset", "p_vaddr", "p_paddr", "p_filesz",
                    "p_memsz", "p_align"),
               32: ("p_type", "p_offset", "p_vaddr", "p_paddr", "p_filesz", "p_memsz",
                    "p_flags", "p_align")}
LAYOUTS = {64: ("16sHHLQQQLHHHHHH", "LLQQQQQQ", "LLQQQQLLQQ"),
           32: ("16sHHLLLLLHHHHHH", "LLLLLLLL", "LLLLLLLLLL")}
SH_INFO = 7   # index of sh_info in Elf_Shdr


@dataclass(frozen=True, slots=True)
class Load:
    """One PT_LOAD (``index`` is its phdr number)."""

    index: int
    paddr: int
    vaddr: int
    offset: int
    filesz: int
    memsz: int
    name: str | None = None  # downstream minidump headers name regions in sections


@dataclass(slots=True)
class ElfCore:
    """A core file's identity, PT_LOADs and notes."""

    path: str
    arch: Arch
    loads: list[Load] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    size: int = 0
    #: "meminspect" when the file's own header is the one a meminspect kernel keeps (ID 1:
    #: phdr[0] a PT_NOTE with p_memsz 0), as QDL's minidump.elf is; else None
    kernel_header: str | None = None

    @property
    def vmcoreinfo(self) -> bytes | None:
        """The VMCOREINFO note's text, or None."""
        return vmcoreinfo_note(self.notes)


def ident(head: bytes) -> tuple[int, bool] | None:
    """``(bits, little_endian)`` when ``head`` starts with ELF magic, a known class and a known
    byte order; None otherwise (:func:`elf_schemas` then says what is wrong)."""
    if len(head) < 6 or head[:4] != ELFMAG or head[4] not in (ELFCLASS.CLASS32, ELFCLASS.CLASS64) \
            or head[5] not in (ELFDATA.LSB, ELFDATA.MSB):
        return None
    return (64 if head[4] == ELFCLASS.CLASS64 else 32), head[5] == ELFDATA.LSB


def is_elf_core(head: bytes) -> bool:
    """ELF magic, a known class and byte order, and ET_CORE: nothing else."""
    found = ident(head)
    return found is not None and len(head) >= 18 and \
        int.from_bytes(head[16:18], "little" if found[1] else "big") == ET.CORE


def sniff(path: str) -> bool:
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as fh:
        return is_elf_core(fh.read(18))


def ehdr_error(elf: "ElfStructs", field: str, problem: str, path: str | None) -> FormatError:
    """A FormatError located at an ELF header field."""
    from minidump.formats.common import field_offsets
    return FormatError(problem, path=path, offset=field_offsets(elf.Elf_Ehdr)[field], field=field)


def elf_schemas(ident_bytes: bytes, path: str | None = None) -> "ElfStructs":
    """The schemas for the class and byte order ``e_ident`` names, or a located error."""
    from minidump.formats.common import parse_at
    from minidump.formats.elf import Elf_Ident, elf_structs
    ident = parse_at(Elf_Ident, ident_bytes, path=path, what="e_ident")
    if ident.EI_CLASS not in (ELFCLASS.CLASS32, ELFCLASS.CLASS64):
        raise FormatError(f"EI_CLASS {ident.EI_CLASS} is not 1 or 2", path=path, offset=4,
                          field="e_ident.EI_CLASS")
    if ident.EI_DATA not in (ELFDATA.LSB, ELFDATA.MSB):
        raise FormatError(f"EI_DATA {ident.EI_DATA} is not 1 or 2", path=path, offset=5,
                          field="e_ident.EI_DATA")
    return elf_structs(ident.EI_DATA == ELFDATA.LSB,
                       64 if ident.EI_CLASS == ELFCLASS.CLASS64 else 32)


def check_core_header(ehdr, elf: "ElfStructs", path: str | None) -> None:
    """ET_CORE with program headers of the class's size."""
    if ehdr.e_type != ET.CORE:
        raise FormatError(f"expected ET_CORE (4), got {ehdr.e_type}", path=path, offset=16,
                          field="e_type")
    if ehdr.e_phentsize != elf.phdr_size:
        raise ehdr_error(elf, "e_phentsize", f"expected {elf.phdr_size}, got {ehdr.e_phentsize}",
                         path)


def kernel_header(path: str) -> str | None:
    """"meminspect" when ``path`` is a core whose header a meminspect kernel wrote (QDL's
    minidump.elf: a minidump, not a full capture), else None."""
    try:
        return read_core(path).kernel_header if sniff(path) else None
    except MinidumpError:
        return None


def read_core(path: str) -> ElfCore:
    """Parse the ELF header, program headers and notes of a core file."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = read_at(fh, 0, 16, path=path, what="e_ident")
        found = ident(head)
        if found is None:
            elf_schemas(head, path)   # the schema names what is wrong with e_ident
        bits, little = found
        order = "<" if little else ">"
        ehdr_s, phdr_s, shdr_s = (struct.Struct(order + f) for f in LAYOUTS[bits])
        phdr_name = f"Elf{bits}_Phdr"

        def ehdr_fault(field: str, problem: str) -> FormatError:
            return FormatError(problem, path=path, offset=_ehdr_offset(bits, field), field=field)

        ehdr = dict(zip(EHDR_FIELDS, ehdr_s.unpack(read_at(fh, 0, ehdr_s.size, path=path,
                                                           what="Elf_Ehdr"))))
        if ehdr["e_type"] != ET.CORE:
            raise ehdr_fault("e_type", f"expected ET_CORE (4), got {ehdr['e_type']}")
        if ehdr["e_phentsize"] != phdr_s.size:
            raise ehdr_fault("e_phentsize", f"expected {phdr_s.size}, got {ehdr['e_phentsize']}")
        phnum, phoff = ehdr["e_phnum"], ehdr["e_phoff"]
        if phnum == PN_XNUM:
            if not ehdr["e_shoff"]:
                raise ehdr_fault("e_phnum", "PN_XNUM but there is no section header 0")
            phnum = shdr_s.unpack(read_at(fh, ehdr["e_shoff"], shdr_s.size, path=path,
                                          what="Elf_Shdr[0]"))[SH_INFO]
        if phnum > PHDRS_MAX:
            raise ehdr_fault("e_phnum", f"{phnum} program headers; at most {PHDRS_MAX} are "
                             "read (no kernel core has more)")
        if phoff + phnum * phdr_s.size > size:
            raise ehdr_fault("e_phnum", f"{phnum} program headers at {phoff:#x} run past the "
                             f"end of the file ({size:#x} bytes)")
        table = read_at(fh, phoff, phnum * phdr_s.size, path=path, what="Elf_Phdr")
        core = ElfCore(path, Arch(ehdr["e_machine"], bits, order == "<"), size=size)
        notes_read = 0
        for i, values in enumerate(phdr_s.iter_unpack(table)):
            ph = dict(zip(PHDR_FIELDS[bits], values))
            at = phoff + i * phdr_s.size
            if ph["p_type"] == PT.LOAD:
                if ph["p_filesz"] > ph["p_memsz"] and ph["p_memsz"]:
                    raise FormatError(f"p_filesz {ph['p_filesz']:#x} > p_memsz "
                                      f"{ph['p_memsz']:#x}", path=path, offset=at,
                                      field=f"{phdr_name}[{i}]")
                core.loads.append(Load(i, ph["p_paddr"], ph["p_vaddr"], ph["p_offset"],
                                       min(ph["p_filesz"], max(0, size - ph["p_offset"])),
                                       ph["p_memsz"]))
            elif ph["p_type"] == PT.NOTE:
                if i == 0 and ph["p_memsz"] == 0 and ph["p_filesz"]:
                    core.kernel_header = "meminspect"   # kernel/meminspect/meminspect.c
                if ph["p_offset"] + ph["p_filesz"] > size or ph["p_filesz"] > NOTES_MAX:
                    raise FormatError(f"PT_NOTE {ph['p_offset']:#x}+{ph['p_filesz']:#x} runs past "
                                      "the end of the file", path=path, offset=at,
                                      field=f"{phdr_name}[{i}].p_filesz")
                notes_read += ph["p_filesz"]
                if notes_read > NOTES_MAX:
                    # bound the total, not just each segment: many PT_NOTEs may share one note
                    raise FormatError(f"PT_NOTE segments hold {notes_read:#x} bytes together, "
                                      f"more than any kernel writes ({NOTES_MAX:#x})",
                                      path=path, offset=at, field=f"{phdr_name}[{i}].p_filesz")
                data = read_at(fh, ph["p_offset"], ph["p_filesz"], path=path, what="PT_NOTE")
                for note in iter_notes(data, order == "<", path=path, base=ph["p_offset"],
                                       align=8 if ph["p_align"] == 8 else 4):
                    if note.name == VMCOREINFO_NOTE_NAME and note.descsz > VMCOREINFO_MAX:
                        raise FormatError(f"VMCOREINFO note of {note.descsz:#x} bytes; the "
                                          f"kernel's is at most {VMCOREINFO_MAX:#x}", path=path,
                                          offset=ph["p_offset"] + note.offset,
                                          field=f"note[{note.index}].n_descsz")
                    core.notes.append(Note(note.name, note.type, note.desc))
    return core


def _ehdr_offset(bits: int, field: str) -> int:
    """Offset of an Elf_Ehdr field, from the pinned layout."""
    index = EHDR_FIELDS.index(field)
    return struct.calcsize("<" + LAYOUTS[bits][0][:_format_index(LAYOUTS[bits][0], index)])


def _format_index(fmt: str, index: int) -> int:
    """Position in ``fmt`` where field ``index`` starts (``16s`` counts as one field)."""
    pos = field = 0
    while field < index:
        while fmt[pos].isdigit():
            pos += 1
        pos += 1
        field += 1
    return pos


def vmcoreinfo_note(notes: list[Note]) -> bytes | None:
    """The text of the VMCOREINFO note (name ``VMCOREINFO``, type 0), NULs stripped."""
    for note in notes:
        if note.name == VMCOREINFO_NOTE_NAME and note.type == 0:
            return note.desc.rstrip(b"\0")
    return None
