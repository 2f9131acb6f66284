"""The writer's header (pinned ``struct`` layouts, no construct at build time) is byte for
byte what the ``formats/elf.py`` schemas build, for every ELF class and byte order."""

from __future__ import annotations

import pytest

from minidump.formats.elf import ET, EV_CURRENT, PT, SHF, SHT, VMCOREINFO_NOTE_NAME, elf_structs
from minidump.model import Arch, Note, Payload, Region, Status
from minidump.vmcore import metadata
from minidump.vmcore.plan import PT_LOAD_FLAGS, PT_NOTE_ALIGN, plan_vmcore


@pytest.mark.parametrize("machine,bits,little", [(62, 64, True), (183, 64, True),
                                                 (40, 32, True), (40, 32, False),
                                                 (243, 64, False)])
def test_header_equals_the_schemas(machine, bits, little):
    regions = [Region(4, "a", paddr=0x1000, vaddr=0xC0001000 if bits == 32 else
                      0xFFFF800000001000, size=0x30, payload=Payload("x", 0, 0x30),
                      status=Status.WRITTEN),
               Region(5, "b", paddr=0x2000, vaddr=None, size=0x7, payload=Payload("x", 0, 7),
                      status=Status.WRITTEN)]
    notes = [Note(b"CORE", 1, bytes(range(13)))]
    vmcoreinfo = b"OSRELEASE=6.1.0\nPAGESIZE=4096\n"
    plan = plan_vmcore(regions, vmcoreinfo, notes, Arch(machine, bits, little),
                       scheme="meminspect")

    elf = elf_structs(little, bits)
    recorded = metadata.encode(regions, {0: 0, 1: 1}, "meminspect")
    note_bytes = b"".join(elf.Elf_Note.build(dict(n_type=t, name=n + b"\0", desc=d)) for n, t, d in
                          [(b"CORE", 1, bytes(range(13))), (VMCOREINFO_NOTE_NAME, 0, vmcoreinfo),
                           (b"MINIDUMP", metadata.NT_MINIDUMP_REGIONS, recorded)])
    phoff, phnum = elf.ehdr_size, 3
    note_offset = phoff + phnum * elf.phdr_size
    offset = note_offset + len(note_bytes)
    phdrs = [dict(p_type=PT.NOTE, p_flags=0, p_offset=note_offset, p_vaddr=0, p_paddr=0,
                  p_filesz=len(note_bytes), p_memsz=len(note_bytes), p_align=PT_NOTE_ALIGN)]
    for region in regions:
        phdrs.append(dict(p_type=PT.LOAD, p_flags=int(PT_LOAD_FLAGS), p_offset=offset,
                          p_vaddr=region.vaddr or 0, p_paddr=region.paddr,
                          p_filesz=region.size, p_memsz=region.size, p_align=0))
        offset += region.size
    # after the data: the section names, padding to the word size, then the section headers
    names = b"\0a\0b\0.shstrtab\0"
    shoff = offset + len(names) + (-(offset + len(names)) % (bits // 8))
    shdrs = [dict(sh_name=0, sh_type=SHT.NULL, sh_flags=0, sh_addr=0, sh_offset=0, sh_size=0,
                  sh_link=0, sh_info=0, sh_addralign=0, sh_entsize=0)]
    for name_at, phdr in zip((1, 3), phdrs[1:]):
        shdrs.append(dict(sh_name=name_at, sh_type=SHT.PROGBITS, sh_flags=SHF.ALLOC | SHF.WRITE,
                          sh_addr=phdr["p_vaddr"], sh_offset=phdr["p_offset"],
                          sh_size=phdr["p_filesz"], sh_link=0, sh_info=0, sh_addralign=1,
                          sh_entsize=0))
    shdrs.append(dict(sh_name=5, sh_type=SHT.STRTAB, sh_flags=0, sh_addr=0, sh_offset=offset,
                      sh_size=len(names), sh_link=0, sh_info=0, sh_addralign=1, sh_entsize=0))
    ehdr = elf.Elf_Ehdr.build(dict(
        e_ident=dict(EI_CLASS=2 if bits == 64 else 1, EI_DATA=1 if little else 2,
                     EI_VERSION=EV_CURRENT, EI_OSABI=0, EI_ABIVERSION=0),
        e_type=ET.CORE, e_machine=machine, e_version=EV_CURRENT, e_entry=0, e_phoff=phoff,
        e_shoff=shoff, e_flags=0, e_ehsize=elf.ehdr_size, e_phentsize=elf.phdr_size,
        e_phnum=phnum, e_shentsize=elf.shdr_size, e_shnum=4, e_shstrndx=3))
    assert plan.header == ehdr + b"".join(elf.Elf_Phdr.build(p) for p in phdrs) + note_bytes
    assert plan.trailer == names + bytes(shoff - offset - len(names)) + b"".join(
        elf.Elf_Shdr.build(s) for s in shdrs)
    assert plan.size == shoff + 4 * elf.shdr_size
