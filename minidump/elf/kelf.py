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

from dataclasses import dataclass, field

from minidump.errors import FormatError, UnsupportedError
from minidump.formats.common import parse_at
from minidump.formats.elf import ET, PT, SHT, VMCOREINFO_NOTE_NAME, note_align
from minidump.model import Arch, Note
from minidump.elf.core import Load, ehdr_error, elf_layout


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
    elf = elf_layout(bytes(data[:16]), path)
    little, bits = elf.little_endian, elf.bits
    ehdr = parse_at(elf.Elf_Ehdr, data, 0, path=path)
    if ehdr.e_type != ET.CORE:
        raise FormatError(f"expected ET_CORE (4), got {ehdr.e_type}", path=path, offset=16,
                          field="e_type")
    if ehdr.e_phentsize != elf.phdr_size:
        raise ehdr_error(elf, "e_phentsize", f"expected {elf.phdr_size}, got {ehdr.e_phentsize}",
                         path)
    if ehdr.e_phnum == 0:
        raise ehdr_error(elf, "e_phnum", "no program headers", path)
    end = ehdr.e_phoff + ehdr.e_phnum * elf.phdr_size
    if end > len(data):
        raise FormatError(f"{ehdr.e_phnum} program headers at {ehdr.e_phoff:#x} run past the "
                          f"region end {len(data):#x}", path=path, offset=ehdr.e_phoff,
                          field="e_phnum")
    phdrs = [parse_at(elf.Elf_Phdr, data, ehdr.e_phoff + i * elf.phdr_size, path=path,
                      what=f"{elf.Elf_Phdr.name}[{i}]") for i in range(ehdr.e_phnum)]
    kelf = Kelf("downstream" if ehdr.e_shnum else "meminspect",
                Arch(ehdr.e_machine, bits, little))

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
    pos, end = ph.p_offset, ph.p_offset + ph.p_filesz
    nhdr_size = elf.Elf_Nhdr.sizeof()
    count = 0
    while pos + nhdr_size <= end:
        if pos + nhdr_size > len(data):
            raise FormatError("note header runs past the region end", path=path, offset=pos,
                              field=f"note[{count}]")
        nh = parse_at(elf.Elf_Nhdr, data, pos, path=path, what=f"note[{count}]")
        name_at = pos + nhdr_size
        desc_at = name_at + note_align(nh.n_namesz)
        if nh.n_namesz == 0 or desc_at > len(data):
            raise FormatError(f"note name of {nh.n_namesz} bytes runs past the region end",
                              path=path, offset=pos, field=f"note[{count}].n_namesz")
        name = bytes(data[name_at:name_at + nh.n_namesz]).rstrip(b"\0")
        next_pos = desc_at + note_align(nh.n_descsz)
        if name == VMCOREINFO_NOTE_NAME:
            kelf.vmcoreinfo_descsz = nh.n_descsz
            kelf.vmcoreinfo_offset = desc_at
            if desc_at + nh.n_descsz <= len(data) and kelf.variant != "meminspect":
                kelf.notes.append(Note(name, nh.n_type, bytes(data[desc_at:desc_at + nh.n_descsz])))
        else:
            if desc_at + nh.n_descsz > len(data):
                raise FormatError(f"note descriptor of {nh.n_descsz:#x} bytes runs past the "
                                  "region end", path=path, offset=pos, field=f"note[{count}].n_descsz")
            kelf.notes.append(Note(name, nh.n_type, bytes(data[desc_at:desc_at + nh.n_descsz])))
        if next_pos > end and name != VMCOREINFO_NOTE_NAME:
            raise FormatError("note runs past the PT_NOTE segment", path=path, offset=pos,
                              field=f"note[{count}]")
        pos = next_pos
        count += 1
