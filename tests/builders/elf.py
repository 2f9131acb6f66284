"""ELF cores built field by field with our schemas, for hostile and unusual inputs.

Each takes keyword arguments for the fields a hostile capture would set, and builds
the bytes with our own schemas (``formats/``), never by hand where a schema exists.
"""

from __future__ import annotations

from minidump.formats.elf import EM, PT, elf_structs

ELF64 = elf_structs(True, 64)


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


def memory_and_notes(path) -> tuple[list[tuple[int, int, bytes]], list[tuple[str, int, bytes]]]:
    """A vmcore's PT_LOADs as ``(p_paddr, p_vaddr, bytes)`` and its notes but our MINIDUMP
    note (which records each region's status and reason), read by pyelftools: what crash,
    drgn and makedumpfile read of it."""
    import io

    from elftools.elf.elffile import ELFFile
    data = open(path, "rb").read()
    elf = ELFFile(io.BytesIO(data))
    loads, notes = [], []
    for seg in elf.iter_segments():
        if seg["p_type"] == "PT_LOAD":
            loads.append((seg["p_paddr"], seg["p_vaddr"],
                          data[seg["p_offset"]:seg["p_offset"] + seg["p_filesz"]]))
        elif seg["p_type"] == "PT_NOTE":
            notes += [(n["n_name"], n["n_type"], n["n_descdata"]) for n in seg.iter_notes()
                      if n["n_name"] != "MINIDUMP"]
    return loads, notes
