"""A synthetic vmlinux built with our ELF schemas: sections, symbols, RELA relocations.

Keyword specs (:class:`VmlinuxSpec`) make the ELF64/ELF32 images the vmlinux,
inspect_table, memblock and extract tests share; no compiler toolchain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from minidump.formats.elf import EM, ET, R_AARCH64_RELATIVE, SHT, STT_OBJECT, elf_structs
from minidump.formats.meminspect import inspect_entry

STB_GLOBAL, STB_LOCAL = 1, 0

LINK_TEXT = 0xFFFFFFFF81000000  # x86_64 __START_KERNEL with CONFIG_PHYSICAL_START 16 MiB


@dataclass
class Sec:
    name: str
    addr: int
    data: bytes
    type: int = SHT.PROGBITS


@dataclass
class Sym:
    name: str
    value: int
    size: int = 0
    type: int = STT_OBJECT
    bind: int = STB_GLOBAL
    section: str = ".data"


@dataclass
class Rela:
    r_offset: int
    r_type: int
    r_addend: int


@dataclass
class VmlinuxSpec:
    bits: int = 64
    little_endian: bool = True
    machine: int = EM.X86_64
    sections: list[Sec] = field(default_factory=list)
    symbols: list[Sym] = field(default_factory=list)
    relas: list[Rela] = field(default_factory=list)


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) else value


def make_vmlinux(spec: VmlinuxSpec) -> bytes:
    """A tiny vmlinux: the given sections, then [.rela.dyn] .symtab .strtab .shstrtab."""
    elf = elf_structs(spec.little_endian, spec.bits)
    word = spec.bits // 8
    sections = list(spec.sections)
    if spec.relas:
        shift = 32 if spec.bits == 64 else 8
        sections.append(Sec(".rela.dyn", 0, b"".join(
            elf.Elf_Rela.build(dict(r_offset=r.r_offset, r_info=r.r_type & ((1 << shift) - 1),
                                    r_addend=_signed(r.r_addend, spec.bits)))
            for r in spec.relas), SHT.RELA))
    index = {s.name: i + 1 for i, s in enumerate(sections)}
    strtab = bytearray(b"\0")
    syms = [elf.Elf_Sym.build(dict(st_name=0, st_info=0, st_other=0, st_shndx=0, st_value=0,
                                   st_size=0))]
    for sym in sorted(spec.symbols, key=lambda s: s.bind):  # locals first, as ld does
        syms.append(elf.Elf_Sym.build(dict(st_name=len(strtab), st_info=sym.bind << 4 | sym.type,
                                           st_other=0, st_shndx=index[sym.section],
                                           st_value=sym.value, st_size=sym.size)))
        strtab += sym.name.encode() + b"\0"
    symtab_index = len(sections) + 1
    sections += [Sec(".symtab", 0, b"".join(syms), SHT.SYMTAB), Sec(".strtab", 0, bytes(strtab),
                                                                     SHT.STRTAB)]
    shstrtab = bytearray(b"\0")
    names = []
    for sec in sections + [Sec(".shstrtab", 0, b"", SHT.STRTAB)]:
        names.append(len(shstrtab))
        shstrtab += sec.name.encode() + b"\0"
    sections.append(Sec(".shstrtab", 0, bytes(shstrtab), SHT.STRTAB))
    body = bytearray(elf.ehdr_size)
    offsets = []
    for sec in sections:
        body += bytes(-len(body) % 8)
        offsets.append(len(body))
        body += sec.data
    body += bytes(-len(body) % 8)
    shoff = len(body)
    shdrs = [elf.Elf_Shdr.build(dict(sh_name=0, sh_type=0, sh_flags=0, sh_addr=0, sh_offset=0,
                                     sh_size=0, sh_link=0, sh_info=0, sh_addralign=0,
                                     sh_entsize=0))]
    for sec, name, offset in zip(sections, names, offsets):
        shdrs.append(elf.Elf_Shdr.build(dict(
            sh_name=name, sh_type=sec.type, sh_flags=2 if sec.addr else 0, sh_addr=sec.addr,
            sh_offset=offset, sh_size=len(sec.data),
            sh_link=symtab_index + 1 if sec.type == SHT.SYMTAB else (
                symtab_index if sec.type == SHT.RELA else 0),
            sh_info=0, sh_addralign=8,
            sh_entsize={SHT.SYMTAB: elf.Elf_Sym.sizeof(), SHT.RELA: 3 * word}.get(sec.type, 0))))
    body += b"".join(shdrs)
    ehdr = elf.Elf_Ehdr.build(dict(
        e_ident=dict(EI_CLASS=2 if spec.bits == 64 else 1, EI_DATA=1 if spec.little_endian else 2,
                     EI_VERSION=1, EI_OSABI=0, EI_ABIVERSION=0),
        e_type=ET.DYN if spec.relas else ET.EXEC, e_machine=spec.machine, e_version=1,
        e_entry=0, e_phoff=0, e_shoff=shoff, e_flags=0, e_ehsize=elf.ehdr_size,
        e_phentsize=elf.phdr_size, e_phnum=0, e_shentsize=elf.shdr_size,
        e_shnum=len(sections) + 1, e_shstrndx=len(sections)))
    body[:len(ehdr)] = ehdr
    return bytes(body)


ABIS = [(64, True), (64, False), (32, True), (32, False)]
ABI_IDS = ["elf64-le", "elf64-be", "elf32-le", "elf32-be"]


def inspect_vmlinux(bits: int, little: bool, phys64: bool, *, relocs: bool = False,
                    ids=(10, 11, 26, 10), tail: bytes = b"", align: int = 0,
                    entry_symbols: bool = True) -> tuple[bytes, dict[str, int]]:
    """A vmlinux whose .inspect_table registers jiffies_64, linux_banner, clear_seq, then
    jiffies_64 again (the last entry for an ID wins).  ``align`` over-aligns each entry
    (x86_64 GCC puts 40-byte entries 64 bytes apart unless told otherwise);
    ``entry_symbols`` False strips the ``__UNIQUE_ID___inspect_entry_*`` symbols."""
    base = LINK_TEXT if bits == 64 else 0xC0008000
    table_addr = base + 0x10000
    addrs = {"jiffies_64": base + 0x100, "linux_banner": base + 0x200,
             "clear_seq": base + 0x300}
    targets = {10: "jiffies_64", 11: "linux_banner", 26: "clear_seq"}
    schema = inspect_entry(little, bits, phys64)
    stride = -(-schema.sizeof() // align) * align if align else schema.sizeof()
    entries, relas, symbols = [], [], []
    for i, uid in enumerate(ids):
        va = addrs[targets[uid]] + (4 if i == 3 else 0)
        entry = schema.build(dict(id=uid, va=0 if relocs else va, pa=0, size=8, type=0))
        entries.append(entry + bytes(stride - len(entry)))
        if relocs:
            relas.append(Rela(table_addr + i * stride + 8 if bits == 64 else table_addr +
                              i * stride + 4, R_AARCH64_RELATIVE, va))
        if entry_symbols:
            symbols.append(Sym(f"__UNIQUE_ID___inspect_entry_MEMINSPECT_ID_{targets[uid]}{i}",
                               table_addr + i * stride, schema.sizeof(), bind=STB_LOCAL,
                               section=".inspect_table"))
    symbols += [Sym(name, addr, 8) for name, addr in addrs.items()]
    spec = VmlinuxSpec(bits, little, EM.AARCH64 if relocs else (EM.X86_64 if bits == 64
                                                                  else EM.ARM),
                       [Sec(".data", base, bytes(0x1000)),
                        Sec(".inspect_table", table_addr, b"".join(entries) + tail)],
                       symbols, relas)
    return make_vmlinux(spec), addrs


def sample_vmlinux(expected: dict, *, build_id: str | None = None,
                   inspect_ids: tuple[int, ...] | None = None) -> bytes:
    """The bundled sample kernel's vmlinux, from its ``expected.json``: every symbol at its
    link address (runtime minus KERNELOFFSET) with the registered size, ``runqueues`` in a
    per-CPU section, a first init function sharing ``_sinittext``'s address, a GNU build-id
    note (the sample's, unless ``build_id``) and an ``.inspect_table`` of the static IDs
    (``inspect_ids``: those only)."""
    from minidump.formats.elf import STT_FUNC
    STT_NOTYPE = 0
    model = expected["model"]
    offset = int(model["kaslr_offset"], 16)
    sizes = {r["symbol"]: r["size"] for r in expected["regions"] if r["kind"] == "static"}
    link = {name: int(value, 16) - offset for name, value in expected["symbols"].items()}
    labels = {"_text", "_stext", "_etext", "_sinittext", "_einittext", "_end", "__per_cpu_start"}
    symbols = [Sym(name, value, 0 if name in labels else sizes.get(name, 8),
                   STT_NOTYPE if name in labels else STT_OBJECT)
               for name, value in sorted(link.items())]
    symbols.append(Sym("__per_cpu_end", link["__per_cpu_start"] + 0x8000, 0, STT_NOTYPE))
    symbols = [s if s.name != "runqueues" else Sym("runqueues", s.value, 0x1340)
               for s in symbols]
    symbols.append(Sym("set_reset_devices", link["_sinittext"], 0x40, STT_FUNC))
    elf = elf_structs(True, 64)
    desc = bytes.fromhex(build_id or model["build_id"])
    note = elf.Elf_Nhdr.build(dict(n_namesz=4, n_descsz=len(desc), n_type=3)) + b"GNU\0" + desc
    schema = inspect_entry(True, 64)
    statics = [r for r in expected["regions"] if r["kind"] == "static"
               and (inspect_ids is None or r["id"] in inspect_ids)]
    table = b"".join(schema.build(dict(id=r["id"], va=link[r["symbol"]], pa=0, size=r["size"],
                                       type=0)) for r in statics)
    table_addr = link["_end"] + 0x1000
    symbols += [Sym(f"__UNIQUE_ID___inspect_entry_{r['id']}", table_addr + i * schema.sizeof(),
                    schema.sizeof(), bind=STB_LOCAL, section=".inspect_table")
                for i, r in enumerate(statics)]
    return make_vmlinux(VmlinuxSpec(64, True, EM.AARCH64, [
        Sec(".data", link["_text"], bytes(16)), Sec(".notes", 0, note, SHT.NOTE),
        Sec(".inspect_table", table_addr, table)], symbols))
