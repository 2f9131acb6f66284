"""Bad inputs give one line naming file, offset and field, exit 1, and no output."""

from __future__ import annotations

from minidump.cli import main
from minidump.formats import qcom_minidump as qm


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("minidump: error: "), err
    assert "Traceback" not in err
    return lines[0]


def rawdump(sections: list[tuple[str, bytes, int]], *, count: int | None = None) -> bytes:
    header_size = qm.raw_dump_header.sizeof() + qm.raw_dump_section_header.sizeof() * len(sections)
    data, offset, heads = b"", header_size, b""
    for name, payload, base in sections:
        heads += qm.raw_dump_section_header.build(dict(
            validity_flag=1, section_version=0x1000, section_type=qm.RAW_DUMP_SECTION.SV,
            section_offset=offset, section_size=len(payload),
            section_info=dict(base_addr=base, reserved=bytes(8)),
            section_name=name.encode().ljust(20, b"\0")))
        data += payload
        offset += len(payload)
    head = qm.raw_dump_header.build(dict(
        version=0x1000, validity_flag=1, os_data=0, cpu_context=bytes(8), reset_trigger=0,
        dump_size=offset, total_dump_size_required=offset,
        sections_count=len(sections) if count is None else count))
    return head + heads + data


def test_wrong_magic(tmp_path, capsys):
    img = tmp_path / "raw.img"
    img.write_bytes(b"Raw_Dmx!" + bytes(100))
    code, _, err = run(capsys, "build", "--from-table", str(img), "--format", "rawdump",
                       "-o", str(tmp_path / "out"))
    assert code == 1
    line = one_error_line(err)
    assert f"{img}: offset 0x0 (raw_dump_header.signature): expected b'Raw_Dmp!', got" in line
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
