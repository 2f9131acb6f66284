"""ELF32/ELF64 in both byte orders: Ehdr, Phdr, Shdr, Sym, Rela and notes.

Sources: the System V gABI and ``include/uapi/linux/elf.h``.  One factory per
(byte order, class), as pyelftools' ``ELFStructs`` does; notes use the 4-byte
framing Linux cores use in both classes (``append_elf_note`` in
``kernel/crash_core.c``/``fs/proc/vmcore.c``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the schemas import construct when first built, so the constants stay cheap
    import construct as cs

ELFMAG = b"\x7fELF"


class ELFCLASS(enum.IntEnum):
    NONE = 0
    CLASS32 = 1
    CLASS64 = 2


class ELFDATA(enum.IntEnum):
    NONE = 0
    LSB = 1  # ELFDATA2LSB
    MSB = 2  # ELFDATA2MSB


class ET(enum.IntEnum):
    NONE = 0
    REL = 1
    EXEC = 2
    DYN = 3
    CORE = 4


class EM(enum.IntEnum):
    NONE = 0
    I386 = 3
    MIPS = 8
    PPC = 20
    PPC64 = 21
    S390 = 22
    ARM = 40
    X86_64 = 62
    AARCH64 = 183
    RISCV = 243
    LOONGARCH = 258


class PT(enum.IntEnum):
    NULL = 0
    LOAD = 1
    DYNAMIC = 2
    INTERP = 3
    NOTE = 4
    SHLIB = 5
    PHDR = 6
    TLS = 7


class PF(enum.IntFlag):
    X = 1
    W = 2
    R = 4


class SHT(enum.IntEnum):
    NULL = 0
    PROGBITS = 1
    SYMTAB = 2
    STRTAB = 3
    RELA = 4
    HASH = 5
    DYNAMIC = 6
    NOTE = 7
    NOBITS = 8  # construct's gallery elf.py wrongly has 7
    REL = 9
    DYNSYM = 11


class SHF(enum.IntFlag):
    WRITE = 1
    ALLOC = 2
    EXECINSTR = 4


class NT(enum.IntEnum):
    PRSTATUS = 1
    PRFPREG = 2
    PRPSINFO = 3
    TASKSTRUCT = 4
    AUXV = 6


EV_CURRENT = 1
PN_XNUM = 0xFFFF
SHN_UNDEF = 0
SHN_ABS = 0xFFF1
STT_OBJECT = 1
STT_FUNC = 2
R_AARCH64_RELATIVE = 1027
R_X86_64_RELATIVE = 8

#: the VMCOREINFO note: name "VMCOREINFO\0" (namesz 11), type 0 (include/linux/vmcore_info.h)
VMCOREINFO_NOTE_NAME = b"VMCOREINFO"


def note_align(n: int) -> int:
    """Round up to the 4-byte note framing."""
    return (n + 3) & ~3


@dataclass(frozen=True)
class ElfStructs:
    """The ELF schemas for one byte order and class."""

    little_endian: bool
    bits: int
    Elf_Ehdr: cs.Construct
    Elf_Phdr: cs.Construct
    Elf_Shdr: cs.Construct
    Elf_Sym: cs.Construct
    Elf_Rela: cs.Construct
    Elf_Nhdr: cs.Construct
    Elf_Note: cs.Construct

    @property
    def ehdr_size(self) -> int:
        return self.Elf_Ehdr.sizeof()

    @property
    def phdr_size(self) -> int:
        return self.Elf_Phdr.sizeof()

    @property
    def shdr_size(self) -> int:
        return self.Elf_Shdr.sizeof()


@lru_cache(maxsize=None)
def ident_schema() -> "cs.Construct":
    """``e_ident``: magic, class, data, version, OS ABI, ABI version, padding to 16 bytes."""
    import construct as cs
    return "e_ident" / cs.Struct(
        "EI_MAG" / cs.Const(ELFMAG),
        "EI_CLASS" / cs.Int8ul,
        "EI_DATA" / cs.Int8ul,
        "EI_VERSION" / cs.Int8ul,
        "EI_OSABI" / cs.Int8ul,
        "EI_ABIVERSION" / cs.Int8ul,
        cs.Padding(7),
    )


def __getattr__(name: str) -> Any:
    """``e_ident`` / ``Elf_Ident``: the schema, built on first use."""
    if name in ("e_ident", "Elf_Ident"):
        return ident_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@lru_cache(maxsize=None)
def elf_structs(little_endian: bool = True, bits: int = 64) -> ElfStructs:
    """Build (once) the schemas for ``bits`` in {32, 64} and the given byte order."""
    import construct as cs
    if bits not in (32, 64):
        raise ValueError("ELF class must be 32 or 64")
    e_ident = ident_schema()
    u8 = cs.Int8ul
    u16 = cs.Int16ul if little_endian else cs.Int16ub
    u32 = cs.Int32ul if little_endian else cs.Int32ub
    u64 = cs.Int64ul if little_endian else cs.Int64ub
    s64 = cs.Int64sl if little_endian else cs.Int64sb
    s32 = cs.Int32sl if little_endian else cs.Int32sb
    word = u64 if bits == 64 else u32
    sword = s64 if bits == 64 else s32
    suffix = "64" if bits == 64 else "32"

    ehdr = f"Elf{suffix}_Ehdr" / cs.Struct(
        e_ident,
        "e_type" / u16,
        "e_machine" / u16,
        "e_version" / u32,
        "e_entry" / word,
        "e_phoff" / word,
        "e_shoff" / word,
        "e_flags" / u32,
        "e_ehsize" / u16,
        "e_phentsize" / u16,
        "e_phnum" / u16,
        "e_shentsize" / u16,
        "e_shnum" / u16,
        "e_shstrndx" / u16,
    )
    if bits == 64:
        phdr = "Elf64_Phdr" / cs.Struct(
            "p_type" / u32,
            "p_flags" / u32,
            "p_offset" / u64,
            "p_vaddr" / u64,
            "p_paddr" / u64,
            "p_filesz" / u64,
            "p_memsz" / u64,
            "p_align" / u64,
        )
        sym = "Elf64_Sym" / cs.Struct(
            "st_name" / u32,
            "st_info" / u8,
            "st_other" / u8,
            "st_shndx" / u16,
            "st_value" / u64,
            "st_size" / u64,
        )
    else:
        # Elf32_Phdr keeps p_flags after p_memsz
        phdr = "Elf32_Phdr" / cs.Struct(
            "p_type" / u32,
            "p_offset" / u32,
            "p_vaddr" / u32,
            "p_paddr" / u32,
            "p_filesz" / u32,
            "p_memsz" / u32,
            "p_flags" / u32,
            "p_align" / u32,
        )
        sym = "Elf32_Sym" / cs.Struct(
            "st_name" / u32,
            "st_value" / u32,
            "st_size" / u32,
            "st_info" / u8,
            "st_other" / u8,
            "st_shndx" / u16,
        )
    shdr = f"Elf{suffix}_Shdr" / cs.Struct(
        "sh_name" / u32,
        "sh_type" / u32,
        "sh_flags" / word,
        "sh_addr" / word,
        "sh_offset" / word,
        "sh_size" / word,
        "sh_link" / u32,
        "sh_info" / u32,
        "sh_addralign" / word,
        "sh_entsize" / word,
    )
    rela = f"Elf{suffix}_Rela" / cs.Struct(
        "r_offset" / word,
        "r_info" / word,
        "r_addend" / sword,
    )
    # Elf32_Nhdr and Elf64_Nhdr are both three 32-bit words
    nhdr = "Elf_Nhdr" / cs.Struct(
        "n_namesz" / u32,
        "n_descsz" / u32,
        "n_type" / u32,
    )
    # one note with Linux's 4-byte framing; name includes its NUL
    note = "Elf_Note" / cs.Struct(
        "n_namesz" / cs.Rebuild(u32, cs.len_(cs.this.name)),
        "n_descsz" / cs.Rebuild(u32, cs.len_(cs.this.desc)),
        "n_type" / u32,
        "name" / cs.Aligned(4, cs.Bytes(cs.this.n_namesz)),
        "desc" / cs.Aligned(4, cs.Bytes(cs.this.n_descsz)),
    )
    return ElfStructs(little_endian, bits, ehdr, phdr, shdr, sym, rela, nhdr, note)

