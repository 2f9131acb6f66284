"""The kallsyms decoder against tables built the way scripts/kallsyms.c lays them out, read
back through a real vmcore (our writer, minidump.open, KernelMemory), and hostile tables."""

from __future__ import annotations

import json
import struct

import pytest

import minidump
from minidump.cli import main
from minidump.errors import MinidumpError
from minidump.kernel import kallsyms
from minidump.kernel.kallsyms import KallsymsError
from minidump.model import Arch, Note
from builders.kallsyms import ENCODINGS, build_tables
from builders.printk import write_core

X86_64 = Arch(62)
TABLES = 0xFFFFFFFF82000000          # where .rodata holds the tables
TEXT = 0xFFFFFFFF81000000
DATA = 0xFFFFFFFF82800000
LONG = "x" * 300                     # 301 tokens: a 6.1+ two-byte length
EDGE = "y" * 127                     # 128 tokens: length byte 0x80, one byte before 6.1


def symbols(encoding: str, long_names: bool) -> list[tuple[str, int]]:
    out = []
    if encoding in ("absolute", "base-relative, absolute percpu"):
        out += [("Afixed_percpu_data", 0), ("Acpu_debug_store", 0x1000)]
    out += [("T_stext", TEXT), ("tsysrq_handle_crash", TEXT + 0x100),
            ("t__handle_sysrq", TEXT + 0x120), ("T__handle_sysrq_alias", TEXT + 0x120),
            ("Tpanic", TEXT + 0x200), ("T_etext", TEXT + 0x600),
            ("Djiffies_64", DATA), ("Djiffies", DATA), ("dinit_task", DATA + 0x40),
            ("d" + (LONG if long_names else EDGE), DATA + 0x1000), ("D_end", DATA + 0x2000)]
    return out


def open_tables(tmp_path, tables, *, stext=TEXT, chunks=None, notes=(), extra=""):
    path = write_core(tmp_path / "k.vmcore", chunks or {tables.base: tables.data},
                      tables.vmcoreinfo(stext=stext, extra=extra), arch=X86_64, notes=notes)
    return minidump.open(str(path))


@pytest.mark.parametrize("long_names", [True, False], ids=["2-byte", "1-byte"])
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("stext", [True, False], ids=["stext", "order"])
def test_decodes_every_encoding(tmp_path, encoding, long_names, stext):
    syms = symbols(encoding, long_names)
    tables = build_tables(syms, base=TABLES, encoding=encoding, long_names=long_names)
    with open_tables(tmp_path, tables, stext=TEXT if stext else None) as cap:
        table = cap.kallsyms()
    assert [(s.type + s.name, s.address) for s in table.symbols] == syms
    assert table.long_names is long_names
    if stext or encoding in ("absolute", "place-relative"):
        assert table.encoding == encoding
    assert str(table.lookup(TEXT + 0x210)) == "panic+0x10/0x400"
    # aliases: the first in table order names the address, as get_symbol_pos picks it
    assert str(table.lookup(TEXT + 0x121)) == "__handle_sysrq+0x1/0xe0"
    assert table.lookup(TEXT + 0x121).type == "t"
    assert table.address("jiffies") == DATA and table.address("nope") is None
    assert table.lookup(DATA + 0x2000) is None          # the last symbol has no known end
    assert table.lookup(TEXT - 1 if encoding in ("base-relative", "place-relative") else -1) \
        is None
    assert kallsyms.certain_name(table, DATA + 0x40) == "init_task"
    assert kallsyms.certain_name(table, DATA) is None   # jiffies_64 and jiffies: not certain
    assert kallsyms.certain_name(table, DATA + 0x41) is None


def test_one_byte_lengths_read_as_two_bytes_go_wrong(tmp_path):
    """The 6.1 change left no trace but OSRELEASE: a 5.x table read as 6.1 decodes nonsense
    (or fails) -- so the release is what decides, and the tests above pin both readings."""
    syms = symbols("base-relative", False)
    tables = build_tables(syms, base=TABLES, long_names=False)
    with open_tables(tmp_path, tables) as cap:
        try:
            table = kallsyms.load(cap.kernel, cap.vmcoreinfo, long_names=True)
        except MinidumpError:
            return
    assert [s.name for s in table.symbols] != [n[1:] for n, _ in syms]


def _error(tmp_path, tables, **kw) -> MinidumpError:
    with open_tables(tmp_path, tables, **kw) as cap:
        with pytest.raises(MinidumpError) as err:
            cap.load_kallsyms()
    text = str(err.value)
    assert "\n" not in text and text.startswith(str(tmp_path / "k.vmcore"))
    return err.value


SYMS = symbols("base-relative", True)


def test_hostile_huge_count(tmp_path):
    tables = build_tables(SYMS, base=TABLES, num_syms=0xFFFFFFFF)
    err = _error(tmp_path, tables)
    assert isinstance(err, KallsymsError)
    assert "kallsyms_num_syms" in str(err) and "count 4294967295 is not in 1..4194304" in str(err)


def test_hostile_count_beyond_the_tables(tmp_path):
    """The walk runs into the token tables, then off the end of the captured bytes."""
    tables = build_tables(SYMS, base=TABLES, num_syms=100_000)
    err = _error(tmp_path, tables)
    assert isinstance(err, MinidumpError) and "kallsyms" in str(err)


def test_hostile_name_length_past_the_bytes_held(tmp_path):
    tables = build_tables(SYMS, base=TABLES)
    names = TABLES + 0x100000                  # the stream alone, cut after two bytes
    tables.keys["kallsyms_names"] = names
    err = _error(tmp_path, tables, chunks={TABLES: tables.data, names: b"\x05ab"})
    assert isinstance(err, KallsymsError)
    assert str(err).endswith(f"kallsyms: kallsyms_names[0] at {names:#x}: bytes 0x0..0x6 of "
                             "the stream are not all in the capture")


def test_hostile_two_byte_length_too_long(tmp_path):
    tables = build_tables(SYMS, base=TABLES, names=b"\xff\xff" + bytes(64))
    err = _error(tmp_path, tables)
    assert str(err).endswith(f"kallsyms_names[0] at {tables.keys['kallsyms_names']:#x}: name of "
                             "32767 tokens (1..513)")


def test_hostile_zero_length_name(tmp_path):
    tables = build_tables(SYMS, base=TABLES, names=bytes(64))
    assert "kallsyms_names[0]" in str(_error(tmp_path, tables))


def test_hostile_token_without_nul(tmp_path):
    tables = build_tables(SYMS, base=TABLES)
    table_at = TABLES + 0x100000              # a token table whose last token never ends
    tables.keys["kallsyms_token_table"] = table_at
    index_at = tables.keys["kallsyms_token_index"]
    data = bytearray(tables.data)
    struct.pack_into("<256H", data, index_at - TABLES, *([0] * 255 + [2]))
    tables.data = bytes(data)
    err = _error(tmp_path, tables, chunks={TABLES: tables.data, table_at: b"a\0" + b"z" * 600})
    assert str(err).endswith(f"kallsyms: kallsyms_token_table at {table_at + 2:#x}: token at "
                             "offset 0x2 has no NUL within 513 bytes")


def test_hostile_token_table_cut_short(tmp_path):
    tables = build_tables(SYMS, base=TABLES)
    table_at = TABLES + 0x100000
    tables.keys["kallsyms_token_table"] = table_at
    err = _error(tmp_path, tables, chunks={TABLES: tables.data, table_at: b"a\0zz"})
    assert "kallsyms_token_table" in str(err) and "not in the capture" in str(err)


def test_hostile_addresses_out_of_order(tmp_path):
    bad = [SYMS[1], SYMS[0], *SYMS[2:]]
    tables = build_tables(bad, base=TABLES)
    err = _error(tmp_path, tables, stext=None)
    assert "not in address order" in str(err) or "no encoding" in str(err)


def test_hostile_stext_from_no_encoding(tmp_path):
    tables = build_tables(SYMS, base=TABLES)
    err = _error(tmp_path, tables, stext=TEXT + 0x40)
    assert "no encoding gives VMCOREINFO's _stext 0xffffffff81000040" in str(err)


def test_missing_keys_are_not_an_error(tmp_path):
    tables = build_tables(SYMS, base=TABLES)
    del tables.keys["kallsyms_token_index"]
    with open_tables(tmp_path, tables) as cap:
        assert cap.kallsyms() is None
        assert cap.facts()["facts"]["symbols"] is None


def prstatus(pid: int, rip: int, rsp: int) -> Note:
    """An x86_64 struct elf_prstatus (336 bytes): pr_pid at 32, pr_reg at 112."""
    desc = bytearray(336)
    struct.pack_into("<i", desc, 32, pid)
    struct.pack_into("<Q", desc, 112 + 16 * 8, rip)
    struct.pack_into("<Q", desc, 112 + 19 * 8, rsp)
    return Note(b"CORE", 1, bytes(desc))


def test_info_names_each_cpu_pc(tmp_path, capsys):
    tables = build_tables(SYMS, base=TABLES)
    notes = [prstatus(1, TEXT + 0x233, 0xFFFFC90000013E58), prstatus(0, 0x7F00DEADBEEF, 0)]
    with open_tables(tmp_path, tables, notes=notes):
        pass
    path = str(tmp_path / "k.vmcore")
    main(["info", path, "--json"])
    facts = json.loads(capsys.readouterr().out)["facts"]
    assert facts["symbols"] == {"source": "kallsyms tables in the capture "
                                          "(VMCOREINFO SYMBOL(kallsyms_*))",
                                "count": len(SYMS), "encoding": "base-relative", "error": None}
    assert facts["cpus"] == [
        {"cpu": 0, "pid": 1, "pc": TEXT + 0x233, "sp": 0xFFFFC90000013E58,
         "pc_symbol": "panic+0x33/0x400", "pc_source": "kallsyms", "empty": False},
        {"cpu": 1, "pid": 0, "pc": 0x7F00DEADBEEF, "sp": 0, "pc_symbol": None,
         "pc_source": None, "empty": False}]
    main(["info", path])
    text = capsys.readouterr().out
    assert "panic+0x33/0x400" in text and "(no symbol)" in text


def test_regions_name_objects(tmp_path, capsys):
    tables = build_tables(SYMS, base=TABLES)
    init_task = b"T" * 0x40
    chunks = {TABLES: tables.data, DATA + 0x40: init_task, DATA: b"j" * 8}
    with open_tables(tmp_path, tables, chunks=chunks):
        pass
    main(["regions", str(tmp_path / "k.vmcore"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    objects = {row["vaddr"]: row["object"] for row in doc["regions"]}
    assert objects[DATA + 0x40] == "init_task"
    assert objects[DATA] == "unknown"            # jiffies_64 = jiffies: not certain
    assert objects[TABLES] == "kallsyms_offsets"  # no kallsyms symbol; VMCOREINFO's SYMBOL()
    assert doc["objects"] == ("2 of 3 regions named: 1 from VMCOREINFO, 1 from kallsyms tables in "
                              "the capture (VMCOREINFO SYMBOL(kallsyms_*))")
