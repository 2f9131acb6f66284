"""The vmlinux reader: fast symbol index against pyelftools, sections, RELA addends.

Also home of :func:`make_vmlinux`, the synthetic vmlinux builder the
inspect_table, memblock and extract tests share (built with our ELF schemas).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pytest

from minidump.errors import FormatError, SymbolError
from minidump.formats.elf import EM, ET, SHT, STT_FUNC, STT_OBJECT, elf_structs
from minidump.elf.vmlinux import Vmlinux

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


def _spec(bits: int, little: bool) -> VmlinuxSpec:
    base = LINK_TEXT if bits == 64 else 0xC0008000
    symbols = [Sym("jiffies_64", base + 0x100, 8), Sym("linux_banner", base + 0x200, 0x40),
               Sym("_text", base, 0, 0), Sym("start_kernel", base + 0x40, 0x20, STT_FUNC),
               Sym("clear_seq", base + 0x300, 0x18, bind=STB_LOCAL),
               Sym("clear_seq", base + 0x340, 0x18, bind=STB_LOCAL)]
    return VmlinuxSpec(bits, little, EM.X86_64 if bits == 64 else EM.ARM,
                       [Sec(".data", base, bytes(range(256)) * 4),
                        Sec(".bss", base + 0x1000, bytes(0x100), SHT.NOBITS)],
                       symbols + [Sym("bss_var", base + 0x1010, 4, section=".bss")])


@pytest.fixture(params=ABIS, ids=ABI_IDS)
def abi(request):
    return request.param


def test_symbol_index_agrees_with_pyelftools(abi):
    from elftools.elf.elffile import ELFFile
    data = make_vmlinux(_spec(*abi))
    oracle = ELFFile(io.BytesIO(data)).get_section_by_name(".symtab")
    vm = Vmlinux(io.BytesIO(data), "vmlinux")
    assert len(vm.symbols) == oracle.num_symbols() - 1
    for sym in oracle.iter_symbols():
        if not sym.name:
            continue
        ours = [(s.value, s.size, s.shndx) for s in vm.symbols.all(sym.name)]
        assert (sym["st_value"], sym["st_size"], sym["st_shndx"]) in ours
    assert vm.arch.bits == abi[0] and vm.arch.little_endian == abi[1]


def test_lookup_symbolize_and_read_link(abi):
    vm = Vmlinux(io.BytesIO(make_vmlinux(_spec(*abi))), "vmlinux")
    jiffies = vm.symbol("jiffies_64")
    assert vm.symbolize(jiffies.value) == "jiffies_64"
    assert vm.symbolize(jiffies.value + 4) == "jiffies_64+0x4"
    assert vm.symbolize(jiffies.value - 0x1000) is None
    assert vm.symbolize(vm.symbol("_text").value + 0x44) == "start_kernel+0x4"
    assert vm.read_link(jiffies.value, 4) == bytes(range(256))[0:4]
    assert vm.read_link(vm.symbol("bss_var").value, 4) == bytes(4)
    assert len(vm.symbols.all("clear_seq")) == 2 and vm.symbols.get("clear_seq").local
    assert jiffies.runtime(0x2E600000) == jiffies.value + 0x2E600000


def test_missing_symbol_and_address_are_one_line_errors():
    vm = Vmlinux(io.BytesIO(make_vmlinux(_spec(64, True))), "vmlinux")
    with pytest.raises(SymbolError, match=r"^vmlinux: symbol nope is not in the vmlinux$"):
        vm.symbol("nope")
    with pytest.raises(FormatError, match=r"link address 0x10\+0x8 is in no section"):
        vm.read_link(0x10, 8)


def test_stripped_vmlinux_says_which_package():
    spec = _spec(64, True)
    data = make_vmlinux(spec)
    stripped = data.replace(b".symtab\0", b".nosymt\0")
    elf = elf_structs(True, 64)
    vm = Vmlinux(io.BytesIO(stripped), "vmlinux")
    # the renamed section keeps SHT_SYMTAB: patch its type in the section header table
    sec = next(s for s in vm.sections if s.name == ".nosymt")
    shoff = int.from_bytes(stripped[0x28:0x30], "little")
    at = shoff + sec.index * elf.shdr_size + 4
    patched = stripped[:at] + (1).to_bytes(4, "little") + stripped[at + 4:]
    with pytest.raises(SymbolError, match="no .symtab: give the unstripped vmlinux"):
        Vmlinux(io.BytesIO(patched), "vmlinux").symbols


def test_not_elf():
    with pytest.raises(FormatError, match=r"^vmlinux: offset 0x0 \(e_ident.EI_MAG\)"):
        Vmlinux(io.BytesIO(b"\0" * 64), "vmlinux")


@pytest.mark.parametrize("little", [True, False], ids=["le", "be"])
def test_relative_addend_arm64(little):
    base = 0xFFFF800080000000
    spec = VmlinuxSpec(64, little, EM.AARCH64, [Sec(".data", base, bytes(64))],
                       [Sym("ptr", base + 8, 8)], [Rela(base + 8, 1027, base + 0x20),
                                                   Rela(base + 16, 257, 5)])
    vm = Vmlinux(io.BytesIO(make_vmlinux(spec)), "vmlinux")
    assert vm.pointer_at(base + 8) == base + 0x20  # in place 0, addend from R_AARCH64_RELATIVE
    assert vm.relative_addend(base + 16) is None  # R_AARCH64_ABS64 is not RELATIVE


def test_sym_fast_path_agrees_with_schema(abi):
    import random
    from minidump.elf.vmlinux import sym_format
    schema = elf_structs(abi[1], abi[0]).Elf_Sym
    fast, names = sym_format(abi[1], abi[0])
    assert fast.size == schema.sizeof()
    rng = random.Random(1)
    for _ in range(200):
        raw = bytes(rng.randrange(256) for _ in range(fast.size))
        parsed = schema.parse(raw)
        assert dict(zip(names, fast.unpack(raw))) == {n: parsed[n] for n in names}

