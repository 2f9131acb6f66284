"""Downstream msm_minidump captures (4.9-6.x): a KELF_HEADER / KELF_HDR blob with
sections naming each region, built here as msm_minidump.c builds it
(qcom-minidump.md section 2.1), and md_<name>.BIN blobs with no address table.
"""

from __future__ import annotations

import io
import json

import pytest
from elftools.elf.elffile import ELFFile

from minidump.cli import main
from minidump.formats.elf import EM, ET, PF, PT, SHF, SHT, elf_structs

ELF = elf_structs(True, 64)
N = 201  # MAX_NUM_ENTRIES
KIMAGE_VOFFSET = 0xFFFF7FFF7F000000
PAGE_OFFSET = 0xFFFF000000000000
PHYS_OFFSET = 0x80000000
BANNER = b"Linux version 5.15.78-android13 (build@host) #1 SMP PREEMPT\n\0"
VMCOREINFO = (f"OSRELEASE=5.15.78-android13\nPAGESIZE=4096\n"
              f"SYMBOL(swapper_pg_dir)=ffff800081a2b000\nSYMBOL(_stext)=ffff800080010000\n"
              f"NUMBER(VA_BITS)=39\nNUMBER(kimage_voffset)={KIMAGE_VOFFSET:#x}\n"
              f"NUMBER(PHYS_OFFSET)={PHYS_OFFSET:#x}\nKERNELOFFSET=0\n")

# (name, pa, va, payload): image data, a linear-map stack, and a repeated name
REGIONS = [
    ("KDATABSS", 0x81800000, 0x81800000 + KIMAGE_VOFFSET, bytes(range(256)) * 16),
    ("KSTACK", 0x9E000000, PAGE_OFFSET + 0x1E000000, b"\x11" * 0x4000),
    ("KSTACK", 0x9E010000, PAGE_OFFSET + 0x1E010000, b"\x22" * 0x4000),
    ("KTASK", 0x9F000040, PAGE_OFFSET + 0x1F000040, b"\x33" * 0x1000),
]
BANNER_PA = 0x81600000


def kelf_header(sections_before_regions: int = 4) -> bytes:
    """The header region: Ehdr, N section slots, N phdr slots, STR_TBL, banner."""
    shoff, phoff = 64, 64 + 64 * N
    strtab_off = 64 + 120 * N
    banner_off = 64 + 136 * N
    size = (64 + 16 * N + len(BANNER) + 120 * (N + 4) + 3) & ~3
    names = b"\0STR_TBL\0minidump_table\0linux_banner\0"
    name_at = {}
    for name, *_ in REGIONS:
        if name not in name_at:
            name_at[name] = len(names)
            names += name.encode() + b"\0"
    shdrs = [dict(sh_name=0, sh_type=SHT.NULL, sh_flags=0, sh_addr=0, sh_offset=0, sh_size=0),
             dict(sh_name=1, sh_type=SHT.STRTAB, sh_flags=0, sh_addr=0, sh_offset=strtab_off,
                  sh_size=16 * N)]
    if sections_before_regions == 4:
        shdrs.append(dict(sh_name=9, sh_type=SHT.PROGBITS, sh_flags=0,
                          sh_addr=0xFFFF800082000000, sh_offset=0, sh_size=0))
    shdrs.append(dict(sh_name=24, sh_type=SHT.PROGBITS, sh_flags=SHF.WRITE,
                      sh_addr=BANNER_PA + KIMAGE_VOFFSET, sh_offset=banner_off,
                      sh_size=len(BANNER)))
    phdrs = [dict(p_type=PT.LOAD, p_flags=PF.R | PF.W, p_offset=banner_off,
                  p_vaddr=BANNER_PA + KIMAGE_VOFFSET, p_paddr=BANNER_PA,
                  p_filesz=len(BANNER), p_memsz=len(BANNER), p_align=0)]
    offset = size
    for name, pa, va, data in REGIONS:
        shdrs.append(dict(sh_name=name_at[name], sh_type=SHT.PROGBITS, sh_flags=SHF.WRITE,
                          sh_addr=va, sh_offset=offset, sh_size=len(data)))
        phdrs.append(dict(p_type=PT.LOAD, p_flags=PF.R | PF.W, p_offset=offset, p_vaddr=va,
                          p_paddr=pa, p_filesz=len(data), p_memsz=len(data), p_align=0))
        offset += len(data)
    buf = bytearray(size)
    buf[0:64] = ELF.Elf_Ehdr.build(dict(
        e_ident=dict(EI_CLASS=2, EI_DATA=1, EI_VERSION=1, EI_OSABI=0, EI_ABIVERSION=0),
        e_type=ET.CORE, e_machine=EM.AARCH64, e_version=1, e_entry=0, e_phoff=phoff,
        e_shoff=shoff, e_flags=0, e_ehsize=64, e_phentsize=56, e_phnum=len(phdrs),
        e_shentsize=64, e_shnum=len(shdrs), e_shstrndx=1))
    for i, sh in enumerate(shdrs):
        buf[shoff + 64 * i:shoff + 64 * (i + 1)] = ELF.Elf_Shdr.build(
            dict(sh, sh_link=0, sh_info=0, sh_addralign=0, sh_entsize=0))
    for i, ph in enumerate(phdrs):
        buf[phoff + 56 * i:phoff + 56 * (i + 1)] = ELF.Elf_Phdr.build(ph)
    buf[strtab_off:strtab_off + len(names)] = names
    buf[banner_off:banner_off + len(BANNER)] = BANNER
    return bytes(buf)


@pytest.fixture(params=[("KELF_HEADER", 4), ("KELF_HDR", 3)], ids=["4.19", "6.x-rm"])
def capture(request, tmp_path):
    header_name, sections = request.param
    md = tmp_path / "md"
    md.mkdir()
    (md / f"md_{header_name}.BIN").write_bytes(kelf_header(sections))
    seen: dict[str, int] = {}
    for name, _, _, data in REGIONS:
        seq = seen.get(name, -1) + 1
        seen[name] = seq
        (md / f"md_{name}{seq if seq else ''}.BIN").write_bytes(data)
    info = tmp_path / "vmcoreinfo.txt"
    info.write_text(VMCOREINFO)
    return md, info


def test_downstream_regions_by_section_name(capture, tmp_path, capsys):
    md, info = capture
    out = tmp_path / "vmcore"
    code = main(["build", "--from-table", str(md), "--vmcoreinfo", str(info), "-o", str(out),
                 "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    rows = [(r["name"], r["paddr"], r["vaddr"], r["size"], r["status"]) for r in doc["regions"]]
    assert rows[1] == ("linux_banner", BANNER_PA, BANNER_PA + KIMAGE_VOFFSET, len(BANNER),
                       "written")
    assert rows[2:] == [(n, pa, va, len(d), "written") for n, pa, va, d in REGIONS]
    elf = ELFFile(io.BytesIO(out.read_bytes()))
    loads = {s["p_paddr"]: s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"}
    data = out.read_bytes()
    for name, pa, va, payload in REGIONS:
        seg = loads[pa]
        assert data[seg["p_offset"]:seg["p_offset"] + seg["p_filesz"]] == payload, name


def test_downstream_without_vmcoreinfo_is_partial(capture, tmp_path, capsys):
    md, _ = capture
    code = main(["build", "--from-table", str(md), "-o", str(tmp_path / "v"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 3
    assert any("no VMCOREINFO" in w for w in doc["warnings"])


def test_drgn_reads_downstream_regions(capture, tmp_path, capsys):
    drgn = pytest.importorskip("drgn")
    md, info = capture
    out = tmp_path / "vmcore"
    assert main(["build", "--from-table", str(md), "--vmcoreinfo", str(info), "-o", str(out),
                 "-q"]) == 0
    prog = drgn.Program()
    prog.set_core_dump(str(out))
    assert prog.flags & drgn.ProgramFlags.IS_LINUX_KERNEL
    assert prog.read(BANNER_PA + KIMAGE_VOFFSET, len(BANNER)) == BANNER
    for _, pa, va, payload in REGIONS:
        assert prog.read(va, len(payload)) == payload
        assert prog.read(pa, len(payload), True) == payload
