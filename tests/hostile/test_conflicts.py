"""Statuses never hide a disagreement: one physical range given two different contents is a
conflict (status ``invalid``, exit 3), as a partial overlap with different bytes already is;
section sizes that are impossible are refused, never counted as data written."""

from __future__ import annotations

import json
import struct

import pytest

from builders import SAMPLES, run
from builders.elf import core, phdr
from minidump.formats.qcom_minidump import raw_dump_header, raw_dump_section_header


def _twin_core(path, second: bytes) -> str:
    """Two PT_LOADs of PA 0x80000000+0x1000: the first holds A..., the second ``second``."""
    first = b"A" * 0x1000
    path.write_bytes(core([phdr(p_offset=0x1000, p_filesz=0x1000, p_memsz=0x1000),
                           phdr(p_offset=0x2000, p_filesz=0x1000, p_memsz=0x1000)],
                          first + second))
    return str(path)


def _rows(capsys, path):
    """Rows and exit status; a VMCOREINFO is given so that only the regions decide it."""
    info = path + ".vmcoreinfo"
    with open(info, "w") as fh:
        fh.write("OSRELEASE=6.1.0\nPAGESIZE=4096\nSYMBOL(swapper_pg_dir)=ffff800081000000\n")
    code, out, _ = run(capsys, "regions", path, "--vmcoreinfo", info, "--json")
    return code, json.loads(out)["regions"]


def test_same_range_with_different_bytes_is_a_conflict(tmp_path, capsys):
    code, rows = _rows(capsys, _twin_core(tmp_path / "differ.core", b"A" * 0xfff + b"B"))
    assert [r["status"] for r in rows] == ["written", "invalid"]
    assert "same range as" in rows[1]["reason"] and "with different bytes" in rows[1]["reason"]
    assert code == 3


def test_same_range_with_the_same_bytes_is_a_duplicate(tmp_path, capsys):
    code, rows = _rows(capsys, _twin_core(tmp_path / "same.core", b"A" * 0x1000))
    assert [r["status"] for r in rows] == ["written", "duplicate"]
    assert code == 0


def test_the_conflict_is_what_the_library_reports_too(tmp_path):
    import minidump
    with minidump.open(_twin_core(tmp_path / "differ.core", b"B" * 0x1000)) as cap:
        assert [r.status for r in cap.regions] == [minidump.Status.WRITTEN,
                                                   minidump.Status.INVALID]
        assert cap.read(0x80000000, 4) == b"AAAA"     # the first, the one written


@pytest.fixture
def overlapping_rawdump(tmp_path):
    """The sample's Raw_Dmp! with every section claiming the whole image from offset 0."""
    data = bytearray((SAMPLES / "rawdump.img").read_bytes())
    head, size = raw_dump_header.sizeof(), raw_dump_section_header.sizeof()
    for i in range(raw_dump_header.parse(data).sections_count):
        sec = raw_dump_section_header.parse(data[head + i * size:])
        sec.section_offset, sec.section_size = 0, len(data)
        data[head + i * size:head + (i + 1) * size] = raw_dump_section_header.build(sec)
    path = tmp_path / "overlap.img"
    path.write_bytes(bytes(data))
    return str(path)


def test_sections_sharing_one_offset_are_impossible_not_data_written(overlapping_rawdump, capsys):
    code, out, err = run(capsys, "regions", overlapping_rawdump, "--arch", "arm64", "--json")
    doc = json.loads(out)
    assert doc["totals"]["written_bytes"] == 0
    assert {r["status"] for r in doc["regions"]} == {"invalid"}
    assert all("overlaps section" in r["reason"] for r in doc["regions"])
    assert code == 3
