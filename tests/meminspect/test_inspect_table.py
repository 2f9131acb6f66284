"""``.inspect_table`` from synthetic vmlinux files: 64/32-bit, both byte orders,
RELA addends, stride check, ID names, and ``minidump regions --vmlinux``."""

from __future__ import annotations

import io
import json

import pytest

from builders.vmlinux import (LINK_TEXT, Sec, Sym, VmlinuxSpec, inspect_vmlinux,
                              make_vmlinux)
from minidump.cli import main
from minidump.errors import FormatError
from minidump.meminspect.static import builtin_names, effective, read_static
from minidump.elf.vmlinux import Vmlinux

# (bits, little_endian, phys64) -> sizeof(struct inspect_entry): 40 / 20 / 24
ABIS = [(64, True, True), (64, False, True), (32, True, False), (32, False, False),
        (32, True, True), (32, False, True)]
IDS = ["lp64-le", "lp64-be", "ilp32-le", "ilp32-be", "lpae-le", "lpae-be"]


@pytest.mark.parametrize("bits,little,phys64", ABIS, ids=IDS)
def test_static_entries_every_abi(bits, little, phys64):
    data, addrs = inspect_vmlinux(bits, little, phys64)
    vm = Vmlinux(io.BytesIO(data), "vmlinux")
    entries, names = read_static(vm)
    assert [(e.id, e.id_name, e.va, e.size, e.symbol) for e in entries] == [
        (10, "jiffies_64", addrs["jiffies_64"], 8, "jiffies_64"),
        (11, "linux_banner", addrs["linux_banner"], 8, "linux_banner"),
        (26, "clear_seq", addrs["clear_seq"], 8, "clear_seq"),
        (10, "jiffies_64", addrs["jiffies_64"] + 4, 8, "jiffies_64+0x4"),
    ]
    assert names.source == "built-in v3 table"  # ID 26 -> clear_seq: series v3
    assert [e.where for e in effective(entries)] == [".inspect_table[3]", ".inspect_table[1]",
                                                     ".inspect_table[2]"]


@pytest.mark.parametrize("little", [True, False], ids=["le", "be"])
def test_relocatable_arm64_va_from_rela_addend(little):
    data, addrs = inspect_vmlinux(64, little, True, relocs=True)
    entries, _ = read_static(Vmlinux(io.BytesIO(data), "vmlinux"))
    assert [e.va for e in entries] == [addrs["jiffies_64"], addrs["linux_banner"],
                                       addrs["clear_seq"], addrs["jiffies_64"] + 4]
    assert entries[1].symbol == "linux_banner"


def test_stride_check_names_the_section():
    """Without the entries' symbols (stripped), the table must be packed."""
    data, _ = inspect_vmlinux(64, True, True, tail=bytes(8), entry_symbols=False)
    with pytest.raises(FormatError) as err:
        read_static(Vmlinux(io.BytesIO(data), "vmlinux"))
    assert str(err.value).endswith("(.inspect_table): section .inspect_table: size 0xa8 is not "
                                   "a multiple of entry size 40")


@pytest.mark.parametrize("align", [0, 32, 64])
def test_stride_from_the_entry_symbols(align):
    """meminspect v3 as posted, built by x86_64 GCC: each 40-byte entry aligned to 32 bytes,
    so 64 apart; the entries' own symbols say where each is (a trailing pad is ignored)."""
    data, addrs = inspect_vmlinux(64, True, True, align=align, tail=bytes(8))
    entries, _ = read_static(Vmlinux(io.BytesIO(data), "vmlinux"))
    assert [(e.id, e.va) for e in entries] == [
        (10, addrs["jiffies_64"]), (11, addrs["linux_banner"]), (26, addrs["clear_seq"]),
        (10, addrs["jiffies_64"] + 4)]


def test_version_names_v1_and_detection():
    assert builtin_names("v3").name(26) == "clear_seq"
    assert builtin_names("v1").name(26) == "high_memory"
    assert builtin_names("v2").name(36) == "kallsyms_relative_base"
    assert builtin_names("v3").name(43) == "tk_data"
    assert builtin_names("v3").name(44) == "DYNAMIC"
    assert builtin_names("v3").name(50) == "DYNAMIC+6"
    assert len(builtin_names("v1").names) == len(builtin_names("v3").names) == 45
    data, _ = inspect_vmlinux(64, True, True)
    entries, names = read_static(Vmlinux(io.BytesIO(data), "vmlinux"), version="v1")
    assert names.source == "built-in v1 table" and entries[2].id_name == "high_memory"


def test_regions_vmlinux_json(tmp_path, capsys):
    data, addrs = inspect_vmlinux(64, True, True)
    path = tmp_path / "vmlinux"
    path.write_bytes(data)
    assert main(["regions", "--vmlinux", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["container"] == ".inspect_table, IDs from built-in v3 table"
    rows = [(r["id"], r["name"], r["vaddr"], r["symbol"], r["status"]) for r in doc["regions"]]
    assert rows[0] == (10, "jiffies_64", addrs["jiffies_64"], "jiffies_64", "duplicate")
    assert rows[3] == (10, "jiffies_64", addrs["jiffies_64"] + 4, "jiffies_64+0x4", "pending")
    assert main(["regions", "--vmlinux", str(path), "--meminspect-version", "v1", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["regions"][2]
    assert (row["name"], row["symbol"]) == ("high_memory", "clear_seq")  # v1 ID name, symbol
    assert main(["regions", "--vmlinux", str(path)]) == 0
    assert "4 regions: 1 duplicate, 3 pending" in capsys.readouterr().out


def test_regions_vmlinux_without_meminspect(tmp_path, capsys):
    path = tmp_path / "vmlinux"
    path.write_bytes(make_vmlinux(VmlinuxSpec(sections=[Sec(".data", LINK_TEXT, bytes(16))],
                                              symbols=[Sym("jiffies_64", LINK_TEXT, 8),
                                                       Sym("linux_banner", LINK_TEXT + 8, 8)])))
    assert main(["regions", "--vmlinux", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["regions"] == [] and "built without meminspect" in doc["warnings"][0]
