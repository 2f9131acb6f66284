"""Bad inputs give one line naming file, offset and field, exit 1, and no output."""

from __future__ import annotations

import pytest

from builders import one_error_line, run
from builders.qcom import rawdump


def test_wrong_magic(tmp_path, capsys):
    img = tmp_path / "raw.img"
    img.write_bytes(b"Raw_Dmx!" + bytes(100))
    code, _, err = run(capsys, "build", "--from-table", str(img), "--format", "rawdump",
                       "-o", str(tmp_path / "out"))
    assert code == 1
    line = one_error_line(err)
    assert (f"{img}: offset 0x0 (raw_dump_header.signature): expected 0x5261775f446d7021 "
            "'Raw_Dmp!', got 0x5261775f446d7821 'Raw_Dmx!'") in line
    assert not (tmp_path / "out").exists()


def test_section_count_past_table(tmp_path, capsys):
    img = tmp_path / "raw.img"
    img.write_bytes(rawdump([("md_Kjiffies10.BIN", b"\1" * 8, 0x81000000)], count=1000))
    code, _, err = run(capsys, "regions", str(img))
    assert code == 1
    assert one_error_line(err) == (
        f"minidump: error: {img}: offset 0x34 (raw_dump_header.sections_count): 1000 section "
        "headers need 0xfa38 bytes, the image has 0x80")


def test_truncated_header(tmp_path, capsys):
    img = tmp_path / "raw.img"
    img.write_bytes(rawdump([("md_Kjiffies10.BIN", b"\1" * 8, 0x81000000)])[:30])
    code, _, err = run(capsys, "regions", str(img))
    assert code == 1
    assert "offset 0x0 (raw_dump_header): truncated" in one_error_line(err)


def test_path_like_and_non_utf8_names_are_escaped(tmp_path, capsys):
    img = tmp_path / "raw.img"
    img.write_bytes(rawdump([("../../etc/x\xff", b"\1" * 8, 0x81000000)]))
    code, out, err = run(capsys, "regions", str(img), "--json", "--arch", "arm64")
    assert code == 3  # written-with-losses: no VMCOREINFO
    assert "Traceback" not in err
    import json
    doc = json.loads(out)
    names = [row["name"] for row in doc["regions"]]
    assert all("/" not in n for n in names), names
    assert "\\xc3\\xbf" in names[0]


def test_output_equal_to_input_is_refused(tmp_path, capsys):
    img = tmp_path / "raw.img"
    img.write_bytes(rawdump([("md_Kjiffies10.BIN", b"\1" * 8, 0x81000000)]))
    before = img.read_bytes()
    code, _, err = run(capsys, "build", "--from-table", str(img), "-o", str(img), "--force")
    assert code == 2
    assert "is also an input" in one_error_line(err)
    assert img.read_bytes() == before


def test_existing_output_needs_force(tmp_path, capsys):
    img = tmp_path / "raw.img"
    img.write_bytes(rawdump([("md_Kjiffies10.BIN", b"\1" * 8, 0x81000000)]))
    out = tmp_path / "vmcore"
    out.write_bytes(b"keep")
    code, _, err = run(capsys, "build", "--from-table", str(img), "-o", str(out))
    assert code == 2 and "exists; use --force" in one_error_line(err)
    assert out.read_bytes() == b"keep"


def test_unknown_input(tmp_path, capsys):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"hello")
    code, _, err = run(capsys, "regions", str(junk))
    assert code == 1
    assert "not a md_*.BIN directory, a Raw_Dmp! image or an SMEM item-602 blob" in one_error_line(err)


def test_missing_input(tmp_path, capsys):
    code, _, err = run(capsys, "regions", str(tmp_path / "nope"))
    assert code == 2 and "no such file or directory" in one_error_line(err)


@pytest.mark.parametrize("name, forced, found", [
    ("md", "elf", "this is a mddir input: drop --format elf (or pass --format mddir)"),
    ("ram", "elf", "this is a RAM-image set (MEMORY.txt): drop --format elf"),
    ("ram", "rawdump", "this is a RAM-image set (MEMORY.txt): drop --format rawdump"),
])
def test_a_forced_format_on_a_directory_names_the_real_one(capsys, name, forced, found):
    from builders import SAMPLES
    from minidump.cli import main
    path = str(SAMPLES / name)
    assert main(["regions", path, "--format", forced]) == 1
    err = capsys.readouterr().err
    assert err == f"minidump: error: {path}: Is a directory; {found}\n"
