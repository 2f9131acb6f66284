"""Schema sizes against the C sizeof, build/parse round trips, and the struct fast path."""

from __future__ import annotations

import random
import struct

import construct as cs
import pytest

from minidump.errors import FormatError, TruncatedError
from minidump.formats import elf, meminspect, qcom_minidump as qm
from minidump.formats.common import field_offsets, iter_table, parse_at, struct_format

# (schema, C sizeof) -- sizes from the C declarations with natural alignment
C_SIZES = [
    (qm.minidump_region, 40),
    (qm.minidump_subsystem, 32),
    (qm.minidump_global_toc_header, 16),
    (qm.minidump_global_toc(10), 336),
    (qm.minidump_global_toc(29), 944),  # SM8850 measurement
    (qm.smem_header, 208),
    (qm.smem_ptable, 32),
    (qm.smem_ptable_entry, 48),
    (qm.smem_info, 20),
    (qm.smem_partition_header, 32),
    (qm.smem_private_entry, 16),
    (qm.sahara_debug_region64, 64),
    (qm.raw_dump_header, 56),  # packed
    (qm.raw_dump_section_header, 64),  # packed
    (meminspect.inspect_entry(True, 64), 40),
    (meminspect.inspect_entry(True, 32, False), 20),
    (meminspect.inspect_entry(False, 32, True), 24),
]


@pytest.mark.parametrize("schema,size", C_SIZES, ids=lambda v: getattr(v, "name", str(v)))
def test_sizeof_matches_c(schema, size):
    assert schema.sizeof() == size


@pytest.mark.parametrize("little", [True, False], ids=["LE", "BE"])
@pytest.mark.parametrize("bits,ehdr,phdr,shdr,sym", [(64, 64, 56, 64, 24), (32, 52, 32, 40, 16)])
def test_elf_sizes(little, bits, ehdr, phdr, shdr, sym):
    s = elf.elf_structs(little, bits)
    assert (s.ehdr_size, s.phdr_size, s.shdr_size, s.Elf_Sym.sizeof()) == (ehdr, phdr, shdr, sym)
    assert s.Elf_Nhdr.sizeof() == 12  # three 32-bit words in both classes


def test_implicit_padding_offsets():
    assert field_offsets(qm.minidump_subsystem)["regions_baseptr"] == 24
    assert field_offsets(qm.minidump_global_toc(10))["subsystems"] == 16
    assert field_offsets(qm.minidump_region)["address"] == 24
    assert field_offsets(meminspect.inspect_entry(True, 64))["va"] == 8
    assert field_offsets(qm.raw_dump_section_header)["section_name"] == 44


def test_constants_are_four_ascii_chars():
    assert qm.MD.REGION_VALID == qm.fourcc("VALI")
    assert struct.pack("<I", qm.MD.REGION_VALID) == b"ILAV"  # stored LE: the bytes read backwards
    assert qm.MD.SS_ENABLED == qm.fourcc("ENBL")
    assert qm.MD.SS_ENCR_DONE == qm.fourcc("DONE")
    assert qm.MD.SS_ENCR_NOTREQ == qm.fourcc("NR")
    assert qm.MD.SS_ENCR_REQ == qm.fourcc("YES")
    assert qm.MD.SS_TOC_MAGIC == qm.fourcc("TOC")
    assert struct.unpack("<Q", qm.RAW_DUMP_SIGNATURE)[0] == 0x21706D445F776152
    assert elf.SHT.NOBITS == 8


@pytest.fixture(params=["interpreted", "compiled"])
def compiled(request):
    return request.param == "compiled"


def _maybe_compile(schema, compiled):
    return schema.compile() if compiled else schema


def test_region_round_trip(compiled):
    schema = _maybe_compile(qm.minidump_region, compiled)
    obj = dict(name=b"KELF".ljust(16, b"\0"), seq_num=1, valid=qm.MD.REGION_VALID,
               address=0x9F000000, size=0x3100)
    data = schema.build(obj)
    assert len(data) == 40
    back = schema.parse(data)
    assert (back.name, back.seq_num, back.valid, back.address, back.size) == tuple(obj.values())


def test_elf64_be_phdr_round_trip(compiled):
    s = elf.elf_structs(False, 64)
    schema = _maybe_compile(s.Elf_Phdr, compiled)
    obj = dict(p_type=1, p_flags=7, p_offset=0x1000, p_vaddr=0xFFFF000012345000,
               p_paddr=0x80000000, p_filesz=8, p_memsz=8, p_align=0)
    data = schema.build(obj)
    assert data[:4] == b"\0\0\0\1"
    assert dict((k, v) for k, v in schema.parse(data).items() if k != "_io") == obj


def test_elf32_phdr_keeps_flags_after_memsz():
    s = elf.elf_structs(True, 32)
    data = s.Elf_Phdr.build(dict(p_type=1, p_offset=0, p_vaddr=0, p_paddr=0, p_filesz=0,
                                 p_memsz=0, p_flags=5, p_align=0))
    assert data[24:28] == struct.pack("<I", 5)


def test_note_framing_is_four_bytes():
    note = elf.elf_structs(True, 64).Elf_Note
    data = note.build(dict(n_type=0, name=b"VMCOREINFO\0", desc=b"OSRELEASE=6.1\n"))
    assert struct.unpack_from("<III", data) == (11, 14, 0)
    assert data[12:24] == b"VMCOREINFO\0\0"  # 11 bytes + 1 pad
    assert len(data) == 12 + 12 + 16
    assert note.parse(data).desc == b"OSRELEASE=6.1\n"


@pytest.mark.parametrize("schema", [qm.minidump_region, qm.minidump_subsystem,
                                    qm.sahara_debug_region64, qm.raw_dump_section_header,
                                    meminspect.inspect_entry(True, 64),
                                    meminspect.inspect_entry(False, 32, True)],
                         ids=lambda s: s.name)
def test_struct_fast_path_agrees_with_construct(schema):
    fast, names = struct_format(schema)
    rng = random.Random(602)
    for _ in range(1000):
        data = bytes(rng.getrandbits(8) for _ in range(schema.sizeof()))
        slow = schema.parse(data)
        quick = dict(zip(names, fast.unpack(data)))
        for name in names:
            value = slow[name]
            if isinstance(value, cs.Container):
                value = schema.subcons[[s.name for s in schema.subcons].index(name)].build(value)
            assert quick[name] == value, name


def test_parse_at_names_file_offset_and_field():
    data = bytearray(qm.raw_dump_header.sizeof())
    data[:8] = b"Raw_Dmx!"
    with pytest.raises(FormatError) as info:
        parse_at(qm.raw_dump_header, data, 0, path="part.img", base=0x100)
    assert str(info.value).startswith("part.img: offset 0x100 (raw_dump_header.signature): ")
    assert "\n" not in str(info.value)


def test_parse_at_truncated_is_one_line():
    with pytest.raises(TruncatedError) as info:
        parse_at(qm.minidump_region, b"\0" * 39, 0, path="x.bin", what="minidump_region[3]")
    assert str(info.value) == ("x.bin: offset 0x0 (minidump_region[3]): truncated: "
                               "need 0x28 bytes, only 0x27 left")


def test_iter_table_reports_first_missing_entry():
    data = qm.minidump_region.build(dict(name=b"\0" * 16, seq_num=0, valid=0, address=0, size=0))
    with pytest.raises(TruncatedError) as info:
        list(iter_table(qm.minidump_region, data * 2 + b"\0" * 10, 3, path="arr.bin", base=0x40))
    assert str(info.value).startswith("arr.bin: offset 0x90 (minidump_region[2]): ")
