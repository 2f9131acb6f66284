"""Budgets that hold in total: inputs that claim much and hold little cost little.

Each case is scaled down for CI (sparse files, smaller counts) but shows the
same growth the full-size attack did; memory is measured with tracemalloc and
work by counting, never by timing.
"""

from __future__ import annotations

import os
import struct
import tracemalloc
from pathlib import Path

import pytest

from builders import SAMPLES, memory_args, one_error_line, run
from builders.elf import core, nhdr, phdr
from builders.printk import LocklessRing
from minidump.cli import main
from minidump.formats.elf import PT

BASE = 0xFFFF800081000000
HEAD = "OSRELEASE=6.18.0\nPAGESIZE=4096\nNUMBER(VA_BITS)=48\n"


def _note(name: bytes, desc: bytes) -> bytes:
    pad = (lambda b: b + bytes(-len(b) % 4))
    return nhdr(len(name) + 1, len(desc)) + pad(name + b"\0") + pad(desc)


def _peak(call) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_many_pt_notes_sharing_one_big_note(tmp_path, capsys):
    """64 PT_NOTE headers at one 2 MiB note: the total is bounded, not each segment."""
    size = 2 << 20
    path = tmp_path / "notes.core"
    path.write_bytes(core([phdr(p_type=PT.NOTE, p_offset=0x2000, p_filesz=size, p_memsz=size)]
                          * 64))
    with open(path, "r+b") as fh:
        fh.truncate(0x2000 + size)          # a sparse, all-zero note
    for command in ("info", "dmesg", "regions"):
        code, peak = _peak(lambda: main([command, str(path)]))
        err = capsys.readouterr().err
        assert code == 1
        assert one_error_line(err).endswith("PT_NOTE segments hold 0x4200000 bytes together, "
                                            "more than any kernel writes (0x4000000)")
        assert peak < 16 << 20, (command, peak)


def test_big_vmcoreinfo_note_is_refused(tmp_path, capsys):
    text = (HEAD + "X" * (80 << 10)).encode()
    notes = _note(b"VMCOREINFO", text)
    path = tmp_path / "big-info.core"
    path.write_bytes(core([phdr(p_type=PT.NOTE, p_offset=0x1000, p_filesz=len(notes),
                                p_memsz=len(notes))], notes))
    for command in ("vmcoreinfo", "dmesg", "info", "regions"):
        assert main([command, str(path)]) == 1
        assert one_error_line(capsys.readouterr().err) == (
            f"minidump: error: {path}: offset 0x1000 (note[0].n_descsz): VMCOREINFO note of "
            f"{len(text):#x} bytes; the kernel's is at most 0x10000")


def test_printk_ring_claiming_a_sparse_gigabyte(tmp_path, capsys):
    """A ring whose geometry points 256 MiB into a sparse PT_LOAD: refused before reading."""
    ring = LocklessRing()
    ring.add(b"hello", 0)
    chunks, keys = ring.memory(BASE)
    rb_va = BASE + 0x100
    rb = bytearray(chunks[rb_va])
    struct.pack_into("<I", rb, 48, 28)                   # prb_data_ring.size_bits: 256 MiB
    chunks[rb_va] = bytes(rb)
    span = 512 << 20
    notes = _note(b"VMCOREINFO", (HEAD + keys).encode())
    at = 0x10000
    path = tmp_path / "sparse.core"
    path.write_bytes(core([phdr(p_type=PT.NOTE, p_offset=0x1000, p_filesz=len(notes),
                                p_memsz=len(notes)),
                           phdr(p_type=PT.LOAD, p_offset=at, p_vaddr=BASE, p_paddr=0x80000000,
                                p_filesz=span, p_memsz=span)], notes))
    with open(path, "r+b") as fh:
        fh.truncate(at + span)
        for vaddr, data in chunks.items():
            fh.seek(at + vaddr - BASE)
            fh.write(data)
    assert os.stat(path).st_blocks * 512 < 8 << 20       # the file really is sparse
    code, peak = _peak(lambda: main(["dmesg", str(path)]))
    assert code == 1
    data_va = max(chunks)
    assert one_error_line(capsys.readouterr().err) == (
        f"minidump: error: {path}: VMCOREINFO: (prb text data ring): prb text data ring claims "
        f"0x10000000 bytes at {data_va:#x}, but the capture holds data for only "
        f"{_held(path, at + data_va - BASE):#x} of them")
    assert peak < 16 << 20


def _held(path: Path, start: int) -> int:
    """What SEEK_DATA reports of 256 MiB from ``start``: the test's own oracle."""
    with open(path, "rb") as fh:
        fd, total, pos, end = fh.fileno(), 0, start, start + (256 << 20)
        while pos < end:
            try:
                data = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            if data >= end:
                break
            hole = os.lseek(fd, data, os.SEEK_HOLE)
            total += min(hole, end) - data
            pos = hole
    return total


def test_smem_scan_skips_holes(tmp_path):
    """A 64 GiB sparse RAM image holding the SMEM page: only the data is read."""
    from minidump.kernel.memory import Extent, PhysicalMemory
    from minidump.sources.smem import _scan_toc_pages
    smem = (SAMPLES / "ram" / "smem.bin").read_bytes()
    big = tmp_path / "ram.bin"
    offset = 40 << 30
    with open(big, "wb") as fh:
        fh.truncate(64 << 30)
        fh.seek(offset)
        fh.write(smem)
    scanned = []
    memory = PhysicalMemory([Extent(0x80000000, 64 << 30, str(big), 0)])
    found = _scan_toc_pages(memory, scanned.append)
    assert 0x80000000 + offset + len(smem) - 0x1000 in found
    assert sum(scanned) <= 4 << 20      # the data of the image, not its 64 GiB


def test_side_table_fifo_is_skipped_and_named_one_refused(tmp_path, capsys):
    md = tmp_path / "md"
    md.mkdir()
    for item in (SAMPLES / "md").iterdir():
        if "sahara" not in item.name:
            (md / item.name).symlink_to(item)
    os.mkfifo(md / "sahara_table.bin")
    code, out, err = run(capsys, "regions", str(md))
    assert code == 0, err
    code, out, err = run(capsys, "regions", str(md), "--sahara-table", str(md / "sahara_table.bin"))
    assert code == 1 and one_error_line(err) == (
        f"minidump: error: {md / 'sahara_table.bin'}: (sahara_table): not a regular file (a "
        "sahara_table must be one)")


@pytest.mark.parametrize("command", ["dmesg", "info", "vmcoreinfo"])
def test_vmcoreinfo_option_is_bounded_everywhere(command, capsys, tmp_path):
    code, _, err = run(capsys, command, str(SAMPLES / "md"), "--vmcoreinfo", "/dev/zero")
    assert code == 1 and one_error_line(err) == (
        "minidump: error: /dev/zero: (VMCOREINFO): not a regular file (a VMCOREINFO must be one)")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"\n")
    code, _, err = run(capsys, command, str(SAMPLES / "md"), "--vmcoreinfo", str(empty))
    assert code == 1 and one_error_line(err) == (
        f"minidump: error: {empty}: offset 0x0 (VMCOREINFO): the VMCOREINFO file is empty")


@pytest.mark.parametrize("option,value,message", [
    ("--memory", "smem.bin@-0x1000", "--memory address '-0x1000' is outside the 64-bit physical "
                                      "address space"),
    ("--memory", "smem.bin@0x10000000000000000", "--memory address '0x10000000000000000' is "
                                                 "outside the 64-bit physical address space"),
    ("--table-addr", "-1", "--table-addr '-1' is outside the 64-bit physical address space"),
    ("--smem-base", "xyz", "--smem-base 'xyz' is not a hexadecimal address"),
])
def test_addresses_out_of_range_are_usage_errors(option, value, message, capsys, monkeypatch):
    monkeypatch.chdir(SAMPLES / "ram")
    args = ["regions", "smem.bin", *memory_args(Path("."))]
    code, _, err = run(capsys, *args, option, value)
    assert code == 2 and one_error_line(err) == f"minidump: error: {message}"


def test_memory_addresses_read_as_crash_reads_them(capsys, monkeypatch):
    """crash's FILE@PADDR: hexadecimal, 0x optional; both spellings give the same capture."""
    monkeypatch.chdir(SAMPLES / "ram")
    lines = (SAMPLES / "ram" / "MEMORY.txt").read_text().split()
    bare = [arg for line in lines for arg in ("--memory", line.replace("@0x", "@"))]
    code, with_0x, _ = run(capsys, "regions", "smem.bin", *memory_args(Path(".")), "--json")
    code2, without, _ = run(capsys, "regions", "smem.bin", *bare, "--json")
    assert code == code2 == 0 and with_0x == without
