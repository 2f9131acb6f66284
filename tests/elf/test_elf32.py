"""A 32-bit ARM capture: the kernel's ELF32 header region in, an ELF32 vmcore out."""

from __future__ import annotations

import io
import json

from elftools.elf.elffile import ELFFile

from minidump.cli import main
from minidump.formats.elf import EM, ET, NT, PF, PT, elf_structs
from minidump.vmcore.metadata import NT_MINIDUMP_REGIONS

ELF = elf_structs(True, 32)
VMCOREINFO = (b"OSRELEASE=6.18.0-armv7\nPAGESIZE=4096\nSYMBOL(swapper_pg_dir)=c0004000\n"
              b"NUMBER(PHYS_OFFSET)=0x40000000\nKERNELOFFSET=0\n")
REGIONS = [  # (id, pa, va, bytes)
    (10, 0x40A00100, 0xC0A00100, b"\x01" * 8),
    (11, 0x40800040, 0xC0800040, b"Linux version 6.18.0-armv7\0\0"),
    (44, 0x5F000000, 0xDF000000, b"\x44" * 0x300),
]


def kelf32() -> bytes:
    """meminspect's header region as a 32-bit kernel builds it (Elf32 types throughout)."""
    vsize = (len(VMCOREINFO) + 3) & ~3
    prstatus, prpsinfo = bytes(148), bytes(124)
    notes = ELF.Elf_Note.build(dict(n_type=NT.PRSTATUS, name=b"CORE\0", desc=prstatus))
    notes += ELF.Elf_Note.build(dict(n_type=NT.PRPSINFO, name=b"CORE\0", desc=prpsinfo))
    notes += ELF.Elf_Nhdr.build(dict(n_namesz=11, n_descsz=vsize, n_type=0)) + b"VMCOREINFO\0\0"
    elfh_size = 52 + 201 * 32
    note_len = len(notes) + vsize
    phdrs = [dict(p_type=PT.NOTE, p_offset=elfh_size, p_vaddr=0, p_paddr=0, p_filesz=note_len,
                  p_memsz=0, p_flags=0, p_align=0)]
    offset = elfh_size + note_len
    for _, pa, va, data in REGIONS:
        phdrs.append(dict(p_type=PT.LOAD, p_offset=offset, p_vaddr=va, p_paddr=pa,
                          p_filesz=len(data), p_memsz=len(data), p_flags=PF.R | PF.W, p_align=0))
        offset += len(data)
    buf = bytearray(elfh_size + len(notes))
    buf[:52] = ELF.Elf_Ehdr.build(dict(
        e_ident=dict(EI_CLASS=1, EI_DATA=1, EI_VERSION=1, EI_OSABI=0, EI_ABIVERSION=0),
        e_type=ET.CORE, e_machine=EM.ARM, e_version=1, e_entry=0, e_phoff=52, e_shoff=0,
        e_flags=0, e_ehsize=52, e_phentsize=32, e_phnum=len(phdrs), e_shentsize=0, e_shnum=0,
        e_shstrndx=0))
    for i, ph in enumerate(phdrs):
        buf[52 + 32 * i:52 + 32 * (i + 1)] = ELF.Elf_Phdr.build(ph)
    buf[elfh_size:] = notes
    return bytes(buf)


def test_arm32_capture_gives_an_elf32_vmcore(tmp_path, capsys):
    md = tmp_path / "md"
    md.mkdir()
    (md / "md_KELF1.BIN").write_bytes(kelf32())
    (md / "md_Kvmcorein2.BIN").write_bytes(VMCOREINFO.ljust((len(VMCOREINFO) + 3) & ~3, b"\0"))
    names = {10: "Kjiffies", 11: "Klinux_ba", 44: "Kunknown"}
    for ident, _, _, data in REGIONS:
        (md / f"md_{names[ident]}{ident}.BIN").write_bytes(data)
    out = tmp_path / "vmcore"
    code = main(["build", "--from-table", str(md), "-o", str(out), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    data = out.read_bytes()
    elf = ELFFile(io.BytesIO(data))
    assert elf.elfclass == 32 and elf["e_machine"] == "EM_ARM" and elf["e_type"] == "ET_CORE"
    segments = list(elf.iter_segments())
    assert segments[0]["p_type"] == "PT_NOTE"
    loads = [(s["p_paddr"], s["p_vaddr"], data[s["p_offset"]:s["p_offset"] + s["p_filesz"]])
             for s in segments if s["p_type"] == "PT_LOAD"]
    assert loads == [(pa, va, payload) for _, pa, va, payload in REGIONS]
    notes = [(n["n_name"], n["n_type"]) for n in segments[0].iter_notes()]
    assert notes == [("CORE", "NT_PRSTATUS"), ("CORE", "NT_PRPSINFO"), ("VMCOREINFO", 0),
                     ("MINIDUMP", NT_MINIDUMP_REGIONS)]
