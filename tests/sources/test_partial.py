"""Damaged captures: a reported partial result (exit 3) or one located error line (exit 1)."""

from __future__ import annotations

import json
import shutil
import struct

import pytest

from builders import memory_args
from builders.elf import memory_and_notes
from minidump.cli import main

ARRAY_PA = 0xF29FA000  # the sample's APSS minidump_region array, inside ram/ddr5.bin
DDR5_PA = 0xF29F8000
SLOT0_AT = 0x10E8 + 16  # minidump_subsystem[0] inside ram/smem.bin (item 602 data + header)


@pytest.fixture
def ram(tmp_path, samples):
    target = tmp_path / "ram"
    shutil.copytree(samples / "ram", target)
    return target


@pytest.fixture
def md(tmp_path, samples):
    target = tmp_path / "md"
    shutil.copytree(samples / "md", target)
    return target


def patch(path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)


def entry_at(index: int) -> int:
    """File offset of minidump_region[index] in ddr5.bin."""
    return ARRAY_PA - DDR5_PA + 40 * index


def index_of(ram, ident: int) -> int:
    """Array index of the region whose seq_num (meminspect ID) is ``ident``."""
    data = (ram / "ddr5.bin").read_bytes()
    return next(i for i in range(201) if struct.unpack_from("<I", data, entry_at(i) + 16)[0] == ident)


def address_of(ram, ident: int) -> int:
    return struct.unpack_from("<Q", (ram / "ddr5.bin").read_bytes(),
                              entry_at(index_of(ram, ident)) + 24)[0]


def regions(capsys, *argv):
    code = main(["regions", *argv, "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out else None), err


def ram_args(ram):
    return [str(ram / "smem.bin"), *memory_args(ram)]


def row(doc, ident):
    return next(r for r in doc["regions"] if r["id"] == ident)


def test_repeated_ids_for_distinct_ranges_lose_nothing(capsys, ram):
    """A table that repeats an ID for another range: both are written and the row says so
    (only identical ranges are duplicates)."""
    seq_10 = struct.unpack_from("<I", (ram / "ddr5.bin").read_bytes(), entry_at(12) + 16)[0]
    patch(ram / "ddr5.bin", entry_at(13) + 16, struct.pack("<I", seq_10))
    code, doc, err = regions(capsys, *ram_args(ram))
    assert not [r for r in doc["regions"] if r["status"] == "duplicate"]
    twins = [r for r in doc["regions"] if r["id"] == seq_10]
    assert [r["status"] for r in twins] == ["written", "written"]
    assert twins[0]["paddr"] != twins[1]["paddr"]
    assert twins[1]["reason"] == (f"ID {seq_10} also names {twins[0]['name']} at PA "
                                  f"{twins[0]['paddr']:#x}; both written")
    assert code == 0  # nothing is lost


def test_every_region_with_one_seq_num_is_written(capsys, ram):
    """The adversarial case: every SMEM region carries the same seq_num."""
    data = bytearray((ram / "ddr5.bin").read_bytes())
    count = 53
    for index in range(count):
        struct.pack_into("<I", data, entry_at(index) + 16, 7)
    (ram / "ddr5.bin").write_bytes(bytes(data))
    code, doc, err = regions(capsys, *ram_args(ram))
    statuses = {r["status"] for r in doc["regions"]}
    assert "duplicate" not in statuses and code in (0, 3)
    written = {(r["paddr"], r["size"]) for r in doc["regions"] if r["status"] == "written"}
    assert len(written) == len([r for r in doc["regions"] if r["status"] == "written"])


def test_table_and_header_disagree(capsys, ram):
    addr = address_of(ram, 10)  # jiffies_64, 8 bytes
    patch(ram / "ddr5.bin", entry_at(index_of(ram, 22)) + 24, struct.pack("<Q", addr + 4))
    code, doc, err = regions(capsys, *ram_args(ram))
    bad = [r for r in doc["regions"] if r["status"] != "written"]
    assert len(bad) == 1 and bad[0]["status"] == "invalid" and bad[0]["id"] == 22
    assert f"region table says PA {addr + 4:#x}, the ELF header PA" in bad[0]["reason"]
    assert code == 3


def sahara_row(table, filename: bytes) -> int:
    data = table.read_bytes()
    return next(i * 64 for i in range(len(data) // 64) if data[i * 64 + 44:].startswith(filename))


def test_overlapping_regions_with_different_bytes(capsys, tmp_path, samples):
    """Blobs placed by the Sahara table alone: an overlap with other bytes is refused."""
    md = tmp_path / "md"
    shutil.copytree(samples / "md-nokelf", md)
    table = md / "sahara_table.bin"
    jiffies = struct.unpack_from("<Q", table.read_bytes(), sahara_row(table, b"md_Kjiffies10") + 8)[0]
    patch(table, sahara_row(table, b"md_Kprb22.BIN") + 8, struct.pack("<Q", jiffies + 4))
    code, doc, err = regions(capsys, str(md))
    bad = [r for r in doc["regions"] if r["status"] == "invalid"]
    assert len(bad) == 1 and bad[0]["id"] == 22
    assert bad[0]["reason"] == (f"overlaps Kjiffies (ID 10) at PA {jiffies + 4:#x} with "
                                "different bytes")


def test_overlap_with_same_bytes_is_kept(capsys, ram):
    """From RAM images overlapping regions read the same bytes: both are written."""
    patch(ram / "ddr5.bin", entry_at(index_of(ram, 22)) + 24,
          struct.pack("<Q", address_of(ram, 10) + 4))
    patch(ram / "ddr5.bin", entry_at(index_of(ram, 1)) + 20, b"INVA"[::-1])
    code, doc, err = regions(capsys, *ram_args(ram))
    assert row(doc, 22)["status"] == "written" and row(doc, 10)["status"] == "written"


def test_region_outside_every_ram_image(capsys, ram):
    patch(ram / "ddr5.bin", entry_at(index_of(ram, 30)) + 24, struct.pack("<Q", 0x4_0000_0000))
    code, doc, err = regions(capsys, *ram_args(ram))
    gone = [r for r in doc["regions"] if r["status"] != "written"]
    assert len(gone) == 1 and gone[0]["status"] == "invalid"
    assert "region table says PA 0x400000000" in gone[0]["reason"]
    assert code == 3


def test_invalid_region_marker(capsys, ram):
    patch(ram / "ddr5.bin", entry_at(31) + 20, b"INVA"[::-1])
    code, doc, err = regions(capsys, *ram_args(ram))
    bad = [r for r in doc["regions"] if r["status"] == "invalid"]
    assert bad and "'INVA', not VALI" in bad[0]["reason"]


def test_non_utf8_and_path_names(capsys, ram):
    patch(ram / "ddr5.bin", entry_at(32), b"K/../\xff\x00".ljust(16, b"\0"))
    code, doc, err = regions(capsys, *ram_args(ram))
    names = [r["name"] for r in doc["regions"]]
    assert "K\\x2f..\\x2f\\xff" in names


def test_region_count_past_any_table(capsys, ram):
    patch(ram / "smem.bin", SLOT0_AT + 16, struct.pack("<I", 100000))
    code, doc, err = regions(capsys, *ram_args(ram))
    assert code == 1
    assert err.strip() == (f"minidump: error: {ram / 'smem.bin'}: offset 0x1108 "
                           "(minidump_subsystem[0].region_count): region_count 100000 is past any "
                           "table size (max 1024)")


def test_region_array_outside_images(capsys, ram):
    patch(ram / "smem.bin", SLOT0_AT + 24, struct.pack("<Q", 0xF2A03C00))
    code, doc, err = regions(capsys, *ram_args(ram))
    assert code == 1
    assert err.strip() == (f"minidump: error: {ram / 'smem.bin'}: offset 0x1110 "
                           "(minidump_subsystem[0].regions_baseptr): region array at PA "
                           "0xf2a03c00 (53 x 40 bytes) is not inside any --memory image")


def test_smem_not_found(capsys, ram):
    patch(ram / "smem.bin", 0x1FF000, b"\0\0\0\0")
    code, doc, err = regions(capsys, *ram_args(ram))
    assert code == 1 and "SMEM not found" in err and len(err.strip().splitlines()) == 1


def test_smem_bad_canary(capsys, ram):
    patch(ram / "smem.bin", 0x1020, b"\0\0")
    code, doc, err = regions(capsys, *ram_args(ram))
    assert code == 1
    assert err.strip() == (f"minidump: error: {ram / 'smem.bin'}: offset 0x1020 "
                           "(smem_private_entry[0].canary): expected 0xa5a5, got 0x0")


def test_missing_blob(capsys, md):
    (md / "md_Kjiffies10.BIN").unlink()
    code, doc, err = regions(capsys, str(md))
    assert code == 3
    assert row(doc, 10)["status"] == "missing"
    assert sum(r["status"] == "written" for r in doc["regions"]) == len(doc["regions"]) - 1


def test_short_blob(capsys, md):
    blob = md / "md_Kprb_data25.BIN"
    blob.write_bytes(blob.read_bytes()[:100])
    code, doc, err = regions(capsys, str(md))
    assert code == 3 and row(doc, 25)["status"] == "short"
    assert "payload has 0x64 of" in row(doc, 25)["reason"]


def test_encrypted_header_blob(capsys, md):
    blob = md / "md_KELF1.BIN"
    blob.write_bytes(bytes((b * 7 + 3) & 0xFF for b in blob.read_bytes()))
    code, doc, err = regions(capsys, str(md))
    assert row(doc, 1)["status"] == "encrypted"
    assert any("not an ELF core" in w for w in doc["warnings"])
    # the Sahara table still places every other blob
    assert sum(r["status"] == "written" for r in doc["regions"]) == len(doc["regions"]) - 1


def test_truncated_rawdump_at_every_header_byte(capsys, tmp_path, samples):
    data = (samples / "rawdump.img").read_bytes()
    img = tmp_path / "raw.img"
    for cut in range(0, 56 + 64 * 3, 7):
        img.write_bytes(data[:cut])
        code = main(["regions", str(img), "--format", "rawdump"])
        out, err = capsys.readouterr()
        assert code == 1, cut
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert f"{img}: offset 0x" in err


def test_truncated_rawdump_data_is_partial(capsys, tmp_path, samples):
    data = (samples / "rawdump.img").read_bytes()
    img = tmp_path / "raw.img"
    img.write_bytes(data[:len(data) - 5000])
    code, doc, err = regions(capsys, str(img))
    assert code == 3
    lost = [r for r in doc["regions"] if r["status"] in ("short", "missing")]
    assert lost and any("runs past the image end" in w for w in doc["warnings"])


def test_sahara_table_listing_a_blob_twice(capsys, tmp_path, samples):
    """Two rows for one file at different addresses: the first is used, with a warning."""
    md = tmp_path / "md"
    shutil.copytree(samples / "md-nokelf", md)
    table = md / "sahara_table.bin"
    row = sahara_row(table, b"md_Kjiffies10")
    data = table.read_bytes()
    again = bytearray(data[row:row + 64])
    struct.pack_into("<Q", again, 8, 0x9000_0000)
    table.write_bytes(data + bytes(again))
    code, doc, err = regions(capsys, str(md))
    jiffies = struct.unpack_from("<Q", data, row + 8)[0]
    assert row_of(doc, 10)["paddr"] == jiffies
    assert any(w.startswith(f"sahara_table.bin[{len(data) // 64}] places md_kjiffies10.bin at PA "
                            "0x90000000 (0x8 bytes) but sahara_table.bin[")
               and w.endswith("the first is used") for w in doc["warnings"]), doc["warnings"]


def row_of(doc, ident):
    return next(r for r in doc["regions"] if r["id"] == ident)


def test_alignment_is_bounded(tmp_path):
    """Thousands of address-less blobs against thousands of PT_LOADs: no n*m table."""
    import tracemalloc

    from minidump.assemble.place import _align_by_length
    from minidump.elf.core import Load
    from minidump.model import Payload, Row
    n = 3000
    loads = [Load(i, 0x80000000 + 16 * i, 0, 0, 8, 8) for i in range(n)]
    loose = [Row(f"K{i}", i + 3, payload=Payload("x", 0, 8), source=f"b{i}") for i in range(n)]
    loose.append(Row("Kodd", 9999, payload=Payload("x", 0, 12), source="odd"))
    loads.append(Load(n, 0x90000000, 0, 0, 12, 12))
    tracemalloc.start()
    pairs = _align_by_length(loads, list(range(n + 1)), loose)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 << 20
    assert pairs == [(n, loose[-1])]  # only the length nothing else shares


def test_rawdump_with_several_dumps_says_so(capsys, tmp_path, samples):
    img = tmp_path / "raw.img"
    data = bytearray((samples / "rawdump.img").read_bytes())
    struct.pack_into("<Q", data, 16, (1 << 16) | 3)  # os_data: IMEM cookie bits, 3 dumps
    img.write_bytes(data)
    code, doc, err = regions(capsys, str(img))
    assert code == 0
    assert f"{img}: the image holds 3 dumps (raw_dump_header.os_data); only the first, at " \
           "offset 0, is read" in doc["warnings"]


def test_table_errors_name_the_ram_image_for_blob_inputs(capsys, ram, samples):
    """A blob directory placed by the SMEM table in RAM: its errors name image and offset."""
    patch(ram / "smem.bin", SLOT0_AT + 16, struct.pack("<I", 100000))
    code, doc, err = regions(capsys, str(samples / "md-nokelf"), *memory_args(ram))
    assert code == 1
    assert err.strip() == (f"minidump: error: {ram / 'smem.bin'}: offset 0x1108 "
                           "(minidump_subsystem[0].region_count): region_count 100000 is past any "
                           "table size (max 1024)")


def test_oversized_blob_is_cut_to_its_region_and_said(capsys, tmp_path, md, samples):
    """A blob longer than its region (a stale tail, a mislabeled file): only the region's bytes
    are written, the region stays written, the report says how many bytes were left out, and
    the run exits 3 so the mislabeled blob does not pass as a clean run."""
    with open(md / "md_Kjiffies10.BIN", "ab") as fh:
        fh.write(b"\xee" * 0xFF8)
    code, doc, err = regions(capsys, str(md))
    assert code == 3, err
    row = next(r for r in doc["regions"] if r["id"] == 10)
    assert (row["status"], row["size"]) == ("written", 8)
    assert row["reason"] == "payload has 0x1000 bytes, the region 0x8: the last 0xff8 are not written"
    assert ("1 payload is longer than its region; only the region's bytes are written: "
            "md_Kjiffies10.BIN") in doc["warnings"]
    assert main(["build", "--from-table", str(md), "-o", str(tmp_path / "a.vmcore")]) == 3
    assert main(["build", "--from-table", str(samples / "md"), "-o", str(tmp_path / "b.vmcore")]) == 0
    # the same memory and notes; only the MINIDUMP note's reasons say how it was got
    assert memory_and_notes(tmp_path / "a.vmcore") == memory_and_notes(tmp_path / "b.vmcore")


def test_oversized_rawdump_section_is_cut_and_exits_3(capsys, tmp_path, samples):
    """Raw_Dmp! sections are packed (each section_size is its blob's length, the next section's
    data follows at once), so a section's slack is its blob's ALIGN(size, 4) and no more: a
    section header claiming 0x1008 bytes for the 8-byte jiffies region is flagged, exit 3."""
    data = bytearray((samples / "rawdump.img").read_bytes())
    count = struct.unpack_from("<I", data, 52)[0]
    sections = [struct.unpack_from("<QQ", data, 56 + 64 * i + 12) for i in range(count)]
    assert all(a + n == b for (a, n), (b, _) in zip(sections, sections[1:]))  # packed
    at = next(56 + 64 * i for i in range(count)
              if data[56 + 64 * i + 44:56 + 64 * i + 64].rstrip(b"\0") == b"md_Kjiffies10.BIN")
    assert struct.unpack_from("<Q", data, at + 20)[0] == 8
    struct.pack_into("<Q", data, at + 20, 0x1008)
    img = tmp_path / "raw.img"
    img.write_bytes(data)
    code, doc, err = regions(capsys, str(img))
    assert code == 3, err
    row = next(r for r in doc["regions"] if r["id"] == 10)
    assert (row["status"], row["size"]) == ("written", 8)
    assert row["reason"] == "payload has 0x1008 bytes, the region 0x8: the last 0x1000 are not written"
    assert ("1 payload is longer than its region; only the region's bytes are written: "
            "raw.img:md_Kjiffies10.BIN") in doc["warnings"]
    assert regions(capsys, str(samples / "rawdump.img"))[0] == 0


def test_alignment_padding_is_not_oversized():
    from minidump.assemble import trimmed
    from minidump.model import Payload
    assert trimmed(Payload("x", 0, 176), 173) == (Payload("x", 0, 173), "")
    assert trimmed(Payload("x", 0, 8), 8) == (Payload("x", 0, 8), "")
    assert trimmed(None, 8, "why") == (None, "why")
    cut, reason = trimmed(Payload("x", 4, 0x20), 0x10, "ID 3 also names")
    assert cut == Payload("x", 4, 0x10)
    assert reason == ("ID 3 also names; payload has 0x20 bytes, the region 0x10: the last 0x10 "
                      "are not written")


def test_ram_images_fill_missing_and_short_blobs(capsys, tmp_path, md, samples):
    """Plain DDR images (no SMEM heap among them) with a md directory: a region whose blob is
    missing or short gets its bytes from the image that holds its whole range, and says so."""
    (md / "md_Kjiffies10.BIN").unlink()
    with open(md / "md_Kprb_data25.BIN", "r+b") as fh:
        fh.truncate(0x64)
    ram = samples / "ram"
    memory = ["--memory", f"{ram / 'ddr3.bin'}@82500000", "--memory", f"{ram / 'ddr2.bin'}@0x82400000"]
    code, doc, err = regions(capsys, str(md), *memory)
    assert code == 0, err
    rows = {r["id"]: r for r in doc["regions"]}
    assert (rows[10]["status"], rows[10]["source"]) == ("written", "ddr3.bin@0x240")
    assert rows[10]["reason"] == "no blob captured; bytes from the --memory image"
    assert (rows[25]["status"], rows[25]["source"]) == ("written", "ddr3.bin@0x10000")
    assert rows[25]["reason"] == ("blob md_Kprb_data25.BIN has only 0x64 of 0x4000 bytes; bytes "
                                  "from the --memory image")
    assert ("no SMEM table in the --memory images; they only fill regions whose blobs are "
            "missing or short") in doc["warnings"]
    assert "2 regions taken from the --memory images (blob missing or short): ID 10, ID 25" \
        in doc["warnings"]
    assert main(["build", "--from-table", str(md), *memory, "-o", str(tmp_path / "a.vmcore")]) == 0
    assert main(["build", "--from-table", str(samples / "md"), "-o", str(tmp_path / "b.vmcore")]) == 0
    # the same memory and notes; only the MINIDUMP note's reasons say how it was got
    assert memory_and_notes(tmp_path / "a.vmcore") == memory_and_notes(tmp_path / "b.vmcore")


def test_ram_images_that_miss_the_region_leave_it_lost(capsys, md, samples):
    (md / "md_Kjiffies10.BIN").unlink()
    code, doc, err = regions(capsys, str(md), "--memory", f"{samples / 'ram' / 'ddr2.bin'}@82400000")
    assert code == 3, err
    row = next(r for r in doc["regions"] if r["id"] == 10)
    assert row["status"] == "missing"
    assert not any("taken from the --memory images" in w for w in doc["warnings"])



def _lose_entry(ram, ident: int) -> int:
    """The SMEM table loses the entry of ``ident`` (the last entry takes its slot, the count
    drops by one), as when the firmware's table and the kernel's header disagree in length;
    returns the lost region's PA."""
    data = bytearray((ram / "ddr5.bin").read_bytes())
    smem = bytearray((ram / "smem.bin").read_bytes())
    count = struct.unpack_from("<I", smem, SLOT0_AT + 16)[0]
    index = index_of(ram, ident)
    paddr = struct.unpack_from("<Q", data, entry_at(index) + 24)[0]
    data[entry_at(index):entry_at(index) + 40] = data[entry_at(count - 1):entry_at(count)]
    data[entry_at(count - 1):entry_at(count)] = bytes(40)
    struct.pack_into("<I", smem, SLOT0_AT + 16, count - 1)
    (ram / "ddr5.bin").write_bytes(bytes(data))
    (ram / "smem.bin").write_bytes(bytes(smem))
    return paddr


@pytest.mark.parametrize("container", ["ram", "item602"])
def test_entry_the_table_lost_read_from_ram_by_the_header(capsys, tmp_path, ram, samples,
                                                          container):
    """prb_infos (ID 24) lost from the SMEM table: the kernel's ELF header still gives its
    address, the RAM images hold its bytes, so it is written (and the log stays whole)."""
    paddr = _lose_entry(ram, 24)
    if container == "ram":
        argv = ram_args(ram)
    else:
        blob = tmp_path / "item602.bin"
        smem = (ram / "smem.bin").read_bytes()
        blob.write_bytes(smem[0x10E8:0x10E8 + 336])
        argv = [str(blob), *memory_args(ram)]
    code, doc, err = regions(capsys, *argv)
    assert code == 0, err
    lost = next(r for r in doc["regions"] if r["paddr"] == paddr)
    assert lost["status"] == "written" and lost["id"] is None
    assert lost["source"] == f"ddr3.bin@{paddr - 0x82500000:#x}"
    assert lost["reason"] == (f"no table entry; read from the RAM image at {lost['name']}'s "
                              "address in the kernel's ELF header")
    assert (f"1 region the table lacks read from the RAM images at the addresses of the "
            f"kernel's ELF header: {lost['name']}") in doc["warnings"]
    assert main(["dmesg", str(samples / "md")]) == 0
    whole = capsys.readouterr().out
    assert main(["dmesg", *argv]) == 0
    assert capsys.readouterr().out == whole and len(whole.splitlines()) > 200


def test_entry_the_table_lost_without_ram_is_missing(capsys, tmp_path, ram):
    """The same table with only the SMEM image (the DDR holding the bytes not given)."""
    paddr = _lose_entry(ram, 24)
    images = []
    for line in (ram / "MEMORY.txt").read_text().split():
        if not line.startswith("ddr3"):
            images += ["--memory", str(ram / line)]
    code, doc, err = regions(capsys, str(ram / "smem.bin"), *images)
    assert code == 3
    lost = next(r for r in doc["regions"] if r["paddr"] == paddr)
    assert lost["status"] == "missing"
