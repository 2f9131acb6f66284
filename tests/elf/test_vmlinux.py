"""The vmlinux reader: fast symbol index against pyelftools, sections, RELA addends."""

from __future__ import annotations

import io

import pytest

from builders.vmlinux import (ABI_IDS, ABIS, LINK_TEXT, STB_LOCAL, Rela, Sec, Sym, VmlinuxSpec,
                              make_vmlinux)
from minidump.errors import FormatError, SymbolError
from minidump.elf.vmlinux import Vmlinux
from minidump.formats.elf import EM, SHT, STT_FUNC, elf_structs



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



def test_name_that_is_the_tail_of_another(abi):
    """ld shares string tails: a symbol's st_name may point into the middle of another
    name (``jiffies_64`` inside ``big_jiffies_64``)."""
    from elftools.elf.elffile import ELFFile
    bits, little = abi
    spec = _spec(bits, little)
    spec.symbols.append(Sym("big_jiffies_64", spec.sections[0].addr + 0x80, 8))
    data = bytearray(make_vmlinux(spec))
    elf = ELFFile(io.BytesIO(bytes(data)))
    symtab, strtab = elf.get_section_by_name(".symtab"), elf.get_section_by_name(".strtab")
    tail = bytes(data[strtab["sh_offset"]:][:strtab["sh_size"]]).index(b"big_jiffies_64\0") + 4
    entry = elf_structs(little, bits).Elf_Sym.sizeof()
    for i, sym in enumerate(symtab.iter_symbols()):
        if sym.name == "jiffies_64":
            at = symtab["sh_offset"] + i * entry
            data[at:at + 4] = tail.to_bytes(4, "little" if little else "big")
    vm = Vmlinux(io.BytesIO(bytes(data)), "vmlinux")
    assert vm.symbol("jiffies_64").size == 8
    assert vm.symbol("jiffies_64").value == spec.sections[0].addr + 0x100
    assert vm.symbol("big_jiffies_64").value == spec.sections[0].addr + 0x80


def test_index_shared_by_opens_of_one_unchanged_file(tmp_path):
    path = tmp_path / "vmlinux"
    path.write_bytes(make_vmlinux(_spec(64, True)))
    with Vmlinux.open(str(path)) as one, Vmlinux.open(str(path)) as two:
        assert one.symbols is two.symbols
    spec = _spec(64, True)
    spec.symbols.append(Sym("added_later", LINK_TEXT + 0x500, 8))
    path.write_bytes(make_vmlinux(spec))        # another file now: a new index
    with Vmlinux.open(str(path)) as three:
        assert "added_later" in three.symbols and three.symbols is not one.symbols
