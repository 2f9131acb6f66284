"""Builders for hostile inputs: ELF cores, SMEM item-602 blobs with RAM, Sahara tables.

Each takes keyword arguments for the fields a hostile capture would set, and builds
the bytes with our own schemas (``formats/``), never by hand where a schema exists.
"""

from __future__ import annotations

from minidump.formats import qcom_minidump as qm
from minidump.formats.elf import EM, PT, elf_structs

ELF64 = elf_structs(True, 64)
VALI = qm.MD.REGION_VALID


def ehdr(**fields) -> bytes:
    """An ELF64 LE ET_CORE header for arm64, one phdr at 64 unless overridden."""
    base = dict(e_ident=dict(EI_CLASS=2, EI_DATA=1, EI_VERSION=1, EI_OSABI=0, EI_ABIVERSION=0),
                e_type=4, e_machine=EM.AARCH64, e_version=1, e_entry=0, e_phoff=64, e_shoff=0,
                e_flags=0, e_ehsize=64, e_phentsize=56, e_phnum=1, e_shentsize=64, e_shnum=0,
                e_shstrndx=0)
    base.update(fields)
    return ELF64.Elf_Ehdr.build(base)


def phdr(**fields) -> bytes:
    base = dict(p_type=PT.LOAD, p_flags=7, p_offset=0x1000, p_vaddr=0, p_paddr=0x80000000,
                p_filesz=0x10, p_memsz=0x10, p_align=0)
    base.update(fields)
    return ELF64.Elf_Phdr.build(base)


def nhdr(namesz: int, descsz: int, ntype: int = 0) -> bytes:
    return ELF64.Elf_Nhdr.build(dict(n_namesz=namesz, n_descsz=descsz, n_type=ntype))


def core(phdrs: list[bytes], body: bytes = b"", *, at: int = 0x1000, **fields) -> bytes:
    """Ehdr + phdrs, then ``body`` at file offset ``at``."""
    head = ehdr(**{"e_phnum": len(phdrs), **fields}) + b"".join(phdrs)
    return head.ljust(at, b"\0") + body


def region(name: bytes, seq: int, address: int, size: int, valid: int = VALI) -> bytes:
    return qm.minidump_region.build(dict(name=name.ljust(16, b"\0")[:16], seq_num=seq,
                                         valid=valid, address=address, size=size))


def item602(region_count: int, regions_baseptr: int, *, slots: int = 10) -> bytes:
    """Item 602 with the APSS slot (0) pointing at ``region_count`` regions."""
    head = qm.minidump_global_toc_header.build(dict(status=1, md_revision=qm.MD_REVISION,
                                                    enabled=qm.MD.SS_ENABLED))
    slot0 = qm.minidump_subsystem.build(dict(
        status=1, enabled=qm.MD.SS_ENABLED, encryption_status=0, encryption_required=0,
        region_count=region_count, regions_baseptr=regions_baseptr))
    return head + slot0 + bytes(32 * (slots - 1))


def sahara_row(name: bytes, addr: int, length: int, filename: bytes | None = None) -> bytes:
    return qm.sahara_debug_region64.build(dict(
        type=0, addr=addr, length=length, region=name.ljust(20, b"\0")[:20],
        filename=(filename if filename is not None else name + b".BIN").ljust(20, b"\0")[:20]))
