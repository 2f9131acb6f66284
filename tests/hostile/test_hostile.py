"""Hostile captures: counts near 2^32, sizes near 2^64, addresses that wrap, overlapping and
duplicate regions, names with NUL, non-UTF-8 bytes and path separators, notes past their
segment.  Each gives exit 1 with the exact one-line error, or exit 3 with the region marked,
and never allocates what a header claims (tracemalloc peak checks)."""

from __future__ import annotations

import json
import tracemalloc

import pytest
from builders.elf import core, ehdr, nhdr, phdr
from builders.qcom import item602, region, sahara_row
from builders.qcom import rawdump

from minidump.cli import main
from minidump.formats.elf import PT
from minidump.formats.qcom_minidump import raw_dump_section_header

RAM = 0x80000000
PEAK = 16 << 20   # every input here is a few KiB; their headers claim up to 2^64 bytes


def run(capsys, *argv) -> tuple[int, str, str]:
    tracemalloc.start()
    try:
        code = main(list(argv))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    out, err = capsys.readouterr()
    assert peak < PEAK, f"peak allocation {peak:#x} bytes"
    assert "Traceback" not in err
    return code, out, err


def error(capsys, *argv) -> str:
    code, _, err = run(capsys, *argv)
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("minidump: error: "), err
    return lines[0].removeprefix("minidump: error: ")


def rows(capsys, *argv) -> tuple[list[tuple], list[str]]:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 3, err
    doc = json.loads(out)
    return [(r["name"], r["paddr"], r["status"], r["reason"]) for r in doc["regions"]], \
        doc["warnings"]


def write(tmp_path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


# -- ELF input ----------------------------------------------------------------------------

def test_elf_phnum_near_2_16_past_the_file(tmp_path, capsys):
    path = write(tmp_path, "core", ehdr(e_phnum=0xFFFE))
    assert error(capsys, "regions", path) == (
        f"{path}: offset 0x38 (e_phnum): 65534 program headers at 0x40 run past the end of the file "
        "(0x40 bytes)")


def test_elf_pn_xnum_count_near_2_32(tmp_path, capsys):
    from builders.elf import ELF64
    shdr = ELF64.Elf_Shdr.build(dict(sh_name=0, sh_type=0, sh_flags=0, sh_addr=0, sh_offset=0,
                                     sh_size=0, sh_link=0, sh_info=0xFFFFFFFF, sh_addralign=0,
                                     sh_entsize=0))
    path = write(tmp_path, "core", ehdr(e_phnum=0xFFFF, e_shoff=0x40, e_shnum=1) + shdr)
    assert error(capsys, "regions", path) == (
        f"{path}: offset 0x38 (e_phnum): 4294967295 program headers; at most 131072 are read "
        "(no kernel core has more)")


def test_elf_pn_xnum_cannot_lift_the_header_bound(tmp_path, capsys):
    """A million PT_LOADs, all in the file (sparse): refused from the header, nothing parsed
    (was 25 s and 800 MB for dmesg)."""
    from builders.elf import ELF64
    from minidump.limits import PHDRS_MAX
    count = PHDRS_MAX + 1
    shdr = ELF64.Elf_Shdr.build(dict(sh_name=0, sh_type=0, sh_flags=0, sh_addr=0, sh_offset=0,
                                     sh_size=0, sh_link=0, sh_info=count, sh_addralign=0,
                                     sh_entsize=0))
    path = tmp_path / "core"
    with open(path, "wb") as fh:
        fh.write(ehdr(e_phnum=0xFFFF, e_shoff=0x40, e_shnum=1) + shdr)
        fh.truncate(0x80 + count * 56 + (1 << 20))
    for command in ("dmesg", "info", "regions"):
        assert error(capsys, command, str(path)) == (
            f"{path}: offset 0x38 (e_phnum): {count} program headers; at most {PHDRS_MAX} are "
            "read (no kernel core has more)")


def test_elf_section_header_offset_near_2_64(tmp_path, capsys):
    """Was ValueError 'cannot fit int into an offset-sized integer' from seek()."""
    path = write(tmp_path, "core", ehdr(e_phnum=0xFFFF, e_shoff=(1 << 64) - 64))
    assert error(capsys, "regions", path) == (
        f"{path}: offset 0xffffffffffffffc0 (Elf_Shdr[0]): truncated: need 0x40 bytes, file "
        "has 0x0 here")


def test_elf_note_segment_size_near_2_64(tmp_path, capsys):
    path = write(tmp_path, "core", core([phdr(p_type=PT.NOTE, p_filesz=(1 << 64) - 1)]))
    assert error(capsys, "regions", path) == (
        f"{path}: offset 0x40 (Elf64_Phdr[0].p_filesz): PT_NOTE 0x1000+0xffffffffffffffff runs "
        "past the end of the file")


def test_elf_note_descsz_past_the_segment(tmp_path, capsys):
    path = write(tmp_path, "core", core([phdr(p_type=PT.NOTE, p_filesz=0x20)],
                                        nhdr(5, 0xFFFFFFFF) + b"CORE\0\0\0\0" + bytes(16)))
    assert error(capsys, "dmesg", path) == (
        f"{path}: offset 0x1000 (note[0].n_descsz): note of 5+4294967295 bytes runs past the "
        "PT_NOTE segment (0x20 bytes)")


def test_elf_note_namesz_past_the_segment(tmp_path, capsys):
    path = write(tmp_path, "core", core([phdr(p_type=PT.NOTE, p_filesz=0x20)],
                                        nhdr(0xFFFFFFF0, 4) + bytes(20)))
    assert error(capsys, "info", path) == (
        f"{path}: offset 0x1000 (note[0].n_namesz): note of 4294967280+4 bytes runs past the "
        "PT_NOTE segment (0x20 bytes)")


def test_elf_load_wraps_and_sizes_near_2_64(tmp_path, capsys):
    path = write(tmp_path, "core", core([
        phdr(p_paddr=(1 << 64) - 0x10, p_filesz=0x20, p_memsz=0x20),
        phdr(p_filesz=(1 << 64) - 1, p_memsz=(1 << 64) - 1),
        phdr(p_offset=(1 << 64) - 1, p_paddr=RAM + 0x100)], bytes(0x20)))
    assert rows(capsys, "regions", path)[0] == [
        ("PT_LOAD[0]", (1 << 64) - 0x10, "invalid", "address + size wraps past 2^64"),
        ("PT_LOAD[1]", RAM, "invalid", "address + size wraps past 2^64"),
        ("PT_LOAD[2]", RAM + 0x100, "short", "payload has 0x0 of 0x10 bytes")]


def test_elf_overlapping_and_duplicate_loads(tmp_path, capsys):
    path = write(tmp_path, "core", core([phdr(), phdr(p_offset=0x1010, p_paddr=RAM + 8),
                                         phdr(p_offset=0x1010)], bytes(range(0x20))))
    assert rows(capsys, "regions", path)[0] == [
        ("PT_LOAD[0]", RAM, "written", ""),
        ("PT_LOAD[1]", RAM + 8, "invalid",
         "overlaps PT_LOAD[0] at PA 0x80000008 with different bytes"),
        # the same range with other bytes (0x10.. here, 0x00.. there): a conflict, issue 20
        ("PT_LOAD[2]", RAM, "invalid",
         "same range as PT_LOAD[0] with different bytes; only PT_LOAD[0]'s are written")]


# -- rawdump ------------------------------------------------------------------------------

def test_rawdump_sections_count_near_2_32(tmp_path, capsys):
    path = write(tmp_path, "raw.img", rawdump([("md_KA1.BIN", b"x" * 8, RAM)], count=0xFFFFFFFF))
    assert error(capsys, "regions", path) == (
        f"{path}: offset 0x34 (raw_dump_header.sections_count): 4294967295 section headers need "
        "0x3ffffffff8 bytes, the image has 0x80")


def test_rawdump_names_with_separators_and_non_utf8_are_escaped(tmp_path, capsys):
    path = write(tmp_path, "raw.img", rawdump([("../../etc/passwd", b"a" * 8, RAM),
                                               ("md_K\xff\xfe.BIN", b"b" * 8, RAM + 0x1000)]))
    found, _ = rows(capsys, "regions", path, "--arch", "arm64")
    assert [r[:3] for r in found] == [("..\\x2f..\\x2fetc\\x2fpasswd", RAM, "written"),
                                      ("K\\xc3\\xbf\\xc3\\xbe", RAM + 0x1000, "written")]


def test_rawdump_duplicate_section_names_keep_their_own_bytes(tmp_path, capsys):
    """Was: the second section's bytes written at the first one's address, the first lost."""
    path = write(tmp_path, "raw.img", rawdump([("md_KX1.BIN", b"A" * 16, RAM),
                                               ("md_KX1.BIN", b"B" * 16, RAM + 0x1000)]))
    found, warnings = rows(capsys, "regions", path, "--arch", "arm64")
    assert found == [("KX1", RAM, "written", ""), ("KX1.BIN#1", RAM + 0x1000, "written", "")]
    assert "raw.img: section 1: section name md_KX1.BIN repeats section 0; listed as " \
           "KX1.BIN#1" in warnings
    out = tmp_path / "vmcore"
    assert main(["build", "--from-table", path, "--arch", "arm64", "-o", str(out), "-q"]) == 3
    from builders.elf import memory_and_notes
    assert [data for _, _, data in memory_and_notes(out)[0]] == [b"A" * 16, b"B" * 16]


def test_rawdump_section_offset_and_size_near_2_64(tmp_path, capsys):
    image = bytearray(rawdump([("md_KA1.BIN", b"a" * 8, RAM), ("md_KB2.BIN", b"b" * 8, RAM + 0x100)]))
    first = 56 + 12   # raw_dump_section_header[0].section_offset
    image[first:first + 8] = ((1 << 64) - 8).to_bytes(8, "little")
    second = 56 + raw_dump_section_header.sizeof() + 20   # [1].section_size
    image[second:second + 8] = ((1 << 64) - 1).to_bytes(8, "little")
    path = write(tmp_path, "raw.img", bytes(image))
    found, warnings = rows(capsys, "regions", path, "--arch", "arm64")
    assert found == [("KA1", RAM, "invalid", "section data outside the image"),
                     ("KB2", RAM + 0x100, "invalid", "address + size wraps past 2^64")]
    assert warnings[:2] == [
        f"{path}: offset 0x38 (raw_dump_section_header[0]): data 0xfffffffffffffff8+0x8 runs "
        "past the image end 0xc8",
        f"{path}: offset 0x78 (raw_dump_section_header[1]): data 0xc0+0xffffffffffffffff runs "
        "past the image end 0xc8"]


# -- SMEM item 602 and its region array ---------------------------------------------------

def smem(tmp_path, count: int, regions: list[bytes], base: int = RAM) -> tuple[str, str]:
    blob = write(tmp_path, "item602.bin", item602(count, base))
    ram = write(tmp_path, "ram.bin", b"".join(regions).ljust(0x1000, b"\0") +
                bytes(range(256)) * 16)
    return blob, f"{ram}@{RAM:#x}"


def test_smem_region_count_near_2_32(tmp_path, capsys):
    blob, ram = smem(tmp_path, 0xFFFFFFFF, [])
    assert error(capsys, "regions", blob, "--memory", ram) == (
        f"{blob}: offset 0x20 (minidump_subsystem[0].region_count): region_count 4294967295 is "
        "past any table size (max 1024)")


def test_smem_region_array_pointer_wraps(tmp_path, capsys):
    blob, ram = smem(tmp_path, 2, [], base=(1 << 64) - 0x20)
    assert error(capsys, "regions", blob, "--memory", ram) == (
        f"{blob}: offset 0x28 (minidump_subsystem[0].regions_baseptr): region array at PA "
        "0xffffffffffffffe0 (2 x 40 bytes) is not inside any --memory image")


def test_smem_regions_wrap_huge_duplicate_and_hostile_names(tmp_path, capsys):
    blob, ram = smem(tmp_path, 6, [
        region(b"Kwrap", 5, (1 << 64) - 0x10, 0x100),
        region(b"Khuge", 6, RAM + 0x1000, (1 << 64) - 1),
        region(b"K../../x", 7, RAM + 0x1000, 0x10),
        region(b"K\0hidden", 8, RAM + 0x1100, 0x10),
        region(b"K\xff\xfe/\\", 9, RAM + 0x1200, 0x10),
        region(b"K../../x", 7, RAM + 0x1000, 0x10)])
    found, _ = rows(capsys, "regions", blob, "--memory", ram, "--arch", "arm64")
    assert found == [
        ("Kwrap", (1 << 64) - 0x10, "invalid", "address + size wraps past 2^64"),
        ("Khuge", RAM + 0x1000, "invalid", "address + size wraps past 2^64"),
        ("K..\\x2f..\\x2fx", RAM + 0x1000, "written", ""),
        ("K", RAM + 0x1100, "written", ""),
        ("K\\xff\\xfe\\x2f\\x5c", RAM + 0x1200, "written", ""),
        ("K..\\x2f..\\x2fx", RAM + 0x1000, "duplicate",
         "same range as K..\\x2f..\\x2fx (ID 7), already written")]


# -- Sahara table, VMCOREINFO text --------------------------------------------------------

@pytest.fixture
def mddir(tmp_path):
    directory = tmp_path / "md"
    directory.mkdir()
    (directory / "md_Ka.BIN").write_bytes(b"A" * 16)
    (directory / "md_Kb.BIN").write_bytes(b"B" * 16)
    return str(directory)


def test_sahara_empty_and_partial_entry(tmp_path, capsys, mddir):
    empty = write(tmp_path, "empty.sahara", b"")
    assert error(capsys, "regions", mddir, "--sahara-table", empty) == (
        f"{empty}: offset 0x0 (sahara_debug_region64): size 0x0 is not a non-zero multiple of "
        "the 64-byte entry")
    odd = write(tmp_path, "odd.sahara", sahara_row(b"md_Ka", RAM, 16) + b"\1" * 40)
    assert error(capsys, "regions", mddir, "--sahara-table", odd) == (
        f"{odd}: offset 0x40 (sahara_debug_region64): size 0x68 is not a non-zero multiple of "
        "the 64-byte entry")


def test_sahara_table_too_big_is_refused_before_reading(tmp_path, capsys, mddir):
    big = tmp_path / "big.sahara"
    with open(big, "wb") as fh:
        fh.truncate(1 << 40)   # sparse: 1 TiB claimed, nothing allocated
    assert error(capsys, "regions", mddir, "--sahara-table", str(big)) == (
        f"{big}: offset 0x0 (sahara_table): 0x10000000000 bytes is too large for a "
        "sahara_table (limit 0x10000)")


def test_sahara_addresses_that_wrap_and_hostile_filenames(tmp_path, capsys, mddir):
    table = write(tmp_path, "t.sahara", sahara_row(b"md_Ka", (1 << 64) - 8, 16) +
                  sahara_row(b"md_Kb", RAM, (1 << 64) - 1) +
                  sahara_row(b"md_Kc", RAM + 0x100, 16, b"../md_Kb.BIN") +
                  sahara_row(b"md_Kd", RAM + 0x200, 16, b"md_K\xff\0x.BIN"))
    found, _ = rows(capsys, "regions", mddir, "--sahara-table", table, "--arch", "arm64")
    assert found == [
        ("Ka", (1 << 64) - 8, "invalid", "address + size wraps past 2^64"),
        ("Kb", RAM, "invalid", "address + size wraps past 2^64"),
        ("..\\x2fmd_Kb", RAM + 0x100, "missing", "no payload captured"),
        ("K\\xff", RAM + 0x200, "missing", "no payload captured")]


@pytest.mark.parametrize("text,message", [
    (b"OSRELEASE=\xff\n", "offset 0xa (VMCOREINFO): VMCOREINFO is not ASCII text"),
    (b"OSRELEASE=6.1\nno equals here\n",
     "offset 0xe (VMCOREINFO): VMCOREINFO line 'no equals here' is not KEY=VALUE"),
    (b"A" * 70000, "offset 0x0 (VMCOREINFO): 0x11170 bytes is too large for a VMCOREINFO "
                   "(limit 0x10000)"),
], ids=["non-ascii", "not-key-value", "too-big"])
def test_vmcoreinfo_file(tmp_path, capsys, mddir, text, message):
    path = write(tmp_path, "vmcoreinfo", text)
    assert error(capsys, "regions", mddir, "--arch", "arm64", "--vmcoreinfo", path) == \
        f"{path}: {message}"


@pytest.mark.parametrize("value,number", [("010000", 10000), ("0x10", 16), ("-12", -12),
                                          ("-0x10", -16)])
def test_vmcoreinfo_number_forms_decode(value, number):
    """Was ValueError from int('010000', 0) in decode(): the pattern admits leading zeros."""
    from minidump.kernel.vmcoreinfo import VmcoreInfo, decode
    assert decode("NUMBER", value) == (number, "")
    assert VmcoreInfo(f"NUMBER(x)={value}\n".encode()).number("x") == number


@pytest.mark.parametrize("key", ["NUMBER(TCR_EL1_T1SZ)=100", "NUMBER(VA_BITS)=-3",
                                 "NUMBER(VA_BITS)=4096"])
def test_vmcoreinfo_arm64_va_bits_out_of_range_means_no_linear_rule(key):
    """Was ValueError 'negative shift count' in the arm64 linear-map rule."""
    from minidump.kernel.translate import Translator
    from minidump.kernel.vmcoreinfo import VmcoreInfo
    t = Translator("arm64", VmcoreInfo(f"OSRELEASE=6.1\nNUMBER(PHYS_OFFSET)=0x80000000\n"
                                       f"{key}\n".encode()))
    assert t.linear_va(RAM) is None and t.pa(0xFFFF000000000000) is None
    assert t.layout().va_bits is None


# -- vmlinux (issue-3 modules: reported, not fixed here) ----------------------------------

def _patched_vmlinux(field_at: int, value: int, *, section: str | None = None) -> bytes:
    """The test_inspect_table vmlinux with one Elf64_Shdr field overwritten."""
    import struct

    from builders.vmlinux import inspect_vmlinux
    image = bytearray(inspect_vmlinux(64, True, True)[0])
    shoff, = struct.unpack_from("<Q", image, 0x28)
    shnum, shstrndx = struct.unpack_from("<HH", image, 0x3C)
    index = shstrndx
    if section is not None:
        strtab_off, = struct.unpack_from("<Q", image, shoff + shstrndx * 64 + 24)
        for i in range(shnum):
            name_at, = struct.unpack_from("<I", image, shoff + i * 64)
            if image[strtab_off + name_at:].split(b"\0", 1)[0] == section.encode():
                index = i
    struct.pack_into("<Q", image, shoff + index * 64 + field_at, value)
    return bytes(image)


def test_vmlinux_shstrtab_offset_near_2_63():
    """pyelftools seeks wherever .shstrtab's sh_offset says: a located error, not OverflowError."""
    import io

    from minidump.errors import MinidumpError
    from minidump.elf.vmlinux import Vmlinux
    data = _patched_vmlinux(24, 1 << 63)   # .shstrtab sh_offset
    with pytest.raises(MinidumpError) as info:
        Vmlinux(io.BytesIO(data), "vmlinux")
    assert str(info.value) == ("vmlinux: (Elf_Shdr): a section header points past any file "
                               "offset")


def test_inspect_table_nobits_size_near_2_45():
    """An SHT_NOBITS .inspect_table of 40 TiB is refused without allocating it."""
    import io

    from minidump.errors import MinidumpError
    from minidump.meminspect.static import read_static
    from minidump.elf.vmlinux import Vmlinux
    data = _patched_vmlinux(4, 8, section=".inspect_table")          # sh_type = SHT_NOBITS
    data = _patched_vmlinux_bytes(data, ".inspect_table", 32, 40 << 40)   # sh_size 40 TiB
    vm = Vmlinux(io.BytesIO(data), "vmlinux")
    tracemalloc.start()
    try:
        with pytest.raises(MinidumpError) as info:
            read_static(vm)
        assert str(info.value) == ("vmlinux: (section .inspect_table): section .inspect_table "
                                   "is SHT_NOBITS: it has no bytes in the file")
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < PEAK


def _patched_vmlinux_bytes(image: bytes, section: str, field_at: int, value: int) -> bytes:
    import struct
    image = bytearray(image)
    shoff, = struct.unpack_from("<Q", image, 0x28)
    shnum, shstrndx = struct.unpack_from("<HH", image, 0x3C)
    strtab_off, = struct.unpack_from("<Q", image, shoff + shstrndx * 64 + 24)
    for i in range(shnum):
        name_at, = struct.unpack_from("<I", image, shoff + i * 64)
        if image[strtab_off + name_at:].split(b"\0", 1)[0] == section.encode():
            struct.pack_into("<Q", image, shoff + i * 64 + field_at, value)
    return bytes(image)
