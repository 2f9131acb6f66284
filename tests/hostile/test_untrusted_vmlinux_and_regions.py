"""Untrusted ``--vmlinux`` and ``--regions`` files: one-line errors naming the file (and line),
bounds on sizes and counts, and every command taking ``--vmlinux`` refusing one that cannot be
the capture's kernel (not a kernel, another machine, another BUILD-ID)."""

from __future__ import annotations

import json

import pytest

from builders import SAMPLES, one_error_line, run
from builders.vmlinux import Sec, Sym, VmlinuxSpec, make_vmlinux, sample_vmlinux
from minidump.errors import FormatError
from minidump.formats.elf import EM, ET
from minidump.meminspect.regionsfile import load_regions, parse_regions

MD = str(SAMPLES / "md")


# -- regions files -------------------------------------------------------------------------
@pytest.mark.parametrize("data,line,offset,byte", [
    ("jiffies_64\n# caf\u00e9\n".encode("latin-1"), 2, 0x10, 0xe9),
    ("jiffies_64\n".encode("utf-16"), 1, 0, 0xff),
    (b"jiffies_64\nphys 0x1000 \xff\n", 2, 0x17, 0xff),
])
def test_undecodable_regions_file_names_file_line_and_offset(tmp_path, data, line, offset,
                                                              byte):
    path = tmp_path / "bad.regions"
    path.write_bytes(data)
    with pytest.raises(FormatError) as err:
        load_regions(str(path))
    assert str(err.value) == (f"{path}: offset {offset:#x}: line {line}: byte {byte:#04x} is "
                              "not UTF-8 text (save the file as UTF-8)")


def test_undecodable_regions_file_on_the_command_line(tmp_path, capsys, expected):
    from minidump.cli import main
    vmcore = tmp_path / "full.vmcore"
    assert main(["build", "--from-table", MD, "-o", str(vmcore), "-q"]) == 0
    vmlinux = tmp_path / "vmlinux"
    vmlinux.write_bytes(sample_vmlinux(expected))
    path = tmp_path / "bad.regions"
    path.write_bytes("jiffies_64 # \u00e9\n".encode("latin-1"))
    for command in (["regions"], ["extract", "-o", str(tmp_path / "out")]):
        code, out, err = run(capsys, *command, str(vmcore), "--vmlinux", str(vmlinux),
                             "--regions", str(path))
        assert code == 1 and out == ""
        assert one_error_line(err) == (f"minidump: error: {path}: offset 0xd: line 1: byte "
                                       "0xe9 is not UTF-8 text (save the file as UTF-8)")


def test_a_huge_regions_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "comments.regions"
    with open(path, "wb") as fh:           # sparse: 100 MB of nothing costs no disk
        fh.write(b"# nothing here\n")
        fh.truncate(100 << 20)
    with pytest.raises(FormatError, match="too large for a --regions file"):
        load_regions(str(path))


def test_repeated_lines_are_kept_once_with_one_warning():
    warnings: list[str] = []
    specs = parse_regions("jiffies_64\n" * 20_000 + "phys 0x1000 0x10\n" * 5, "f", warnings)
    assert [(s.symbol, s.paddr) for s in specs] == [("jiffies_64", None), (None, 0x1000)]
    assert len(warnings) == 1
    assert warnings[0].startswith("f: 20003 lines repeat an earlier one, kept once: line 2 "
                                  "(= line 1)")


def test_regions_count_is_bounded():
    from minidump.limits import REGIONS_MAX
    text = "".join(f"phys {0x1000 * i:#x} 0x10\n" for i in range(REGIONS_MAX + 1))
    with pytest.raises(FormatError, match=f"line {REGIONS_MAX + 1}: more than {REGIONS_MAX}"):
        parse_regions(text, "f")


@pytest.mark.parametrize("text", ["jiffies_64 \u0661\u0662", "jiffies_64 1_0",
                                  "phys 0x1000 99999999999999999999999"])
def test_regions_numbers_are_ascii_and_bounded(text):
    with pytest.raises(FormatError, match="line 1: "):
        parse_regions(text, "f")


# -- vmlinux files ---------------------------------------------------------------------------
def _vmlinux(tmp_path, name="vmlinux", **spec) -> str:
    path = tmp_path / name
    path.write_bytes(make_vmlinux(VmlinuxSpec(**spec)))
    return str(path)


def _commands(vmlinux: str, tmp_path) -> list[list[str]]:
    """Every command that takes --vmlinux with a capture."""
    return [["info", MD, "--vmlinux", vmlinux],
            ["regions", MD, "--vmlinux", vmlinux],
            ["vmcoreinfo", MD, "--vmlinux", vmlinux],
            ["build", "--from-table", MD, "--vmlinux", vmlinux, "-o", str(tmp_path / "out")]]


def test_a_shared_library_is_no_kernel(tmp_path, capsys):
    lib = _vmlinux(tmp_path, "libfoo.so", machine=EM.AARCH64,
                   sections=[Sec(".data", 0x1000, bytes(16))],
                   symbols=[Sym("foo_init", 0x1000, 8), Sym("foo_version", 0x1008, 8)])
    for argv in _commands(lib, tmp_path) + [["vmcoreinfo", "--vmlinux", lib]]:
        code, out, err = run(capsys, *argv)
        assert code == 1 and out == "", argv
        assert one_error_line(err) == f"minidump: error: {lib}: (.symtab): not a Linux kernel " \
            "image: its symbols include none of linux_banner, init_uts_ns, init_task, " \
            "start_kernel, _stext, _text, swapper_pg_dir", argv
    assert not (tmp_path / "out").exists()


def test_an_empty_symbol_table_is_refused(tmp_path, capsys):
    empty = _vmlinux(tmp_path, machine=EM.AARCH64, sections=[Sec(".data", 0x1000, bytes(16))])
    for argv in _commands(empty, tmp_path):
        code, _, err = run(capsys, *argv)
        assert code == 1, argv
        assert "its symbol table is empty" in one_error_line(err), argv


def test_another_architecture_is_refused(tmp_path, capsys):
    x86 = _vmlinux(tmp_path, machine=EM.X86_64, sections=[Sec(".data", 0x1000, bytes(16))],
                   symbols=[Sym("linux_banner", 0x1000, 8)])
    for argv in _commands(x86, tmp_path):
        code, _, err = run(capsys, *argv)
        assert code == 1, argv
        assert one_error_line(err) == (f"minidump: error: {x86}: does not match {MD}: the "
                                       "vmlinux is x86_64, the capture arm64"), argv


def test_another_build_id_is_refused_everywhere(tmp_path, capsys, expected):
    other = tmp_path / "vmlinux-other"
    other.write_bytes(sample_vmlinux(expected, build_id="ab" * 20))
    for argv in _commands(str(other), tmp_path):
        code, _, err = run(capsys, *argv)
        assert code == 1, argv
        line = one_error_line(err)
        assert line.startswith(f"minidump: error: {other}: does not match {MD}: BUILD-ID "), argv
        assert line.endswith(f"is not the vmlinux's {'ab' * 20}"), argv


def test_an_object_file_is_no_kernel(tmp_path):
    from minidump.elf.vmlinux import Vmlinux
    path = _vmlinux(tmp_path, machine=EM.AARCH64, symbols=[Sym("linux_banner", 0, 8)],
                    sections=[Sec(".data", 0, bytes(16))])
    raw = bytearray(open(path, "rb").read())
    raw[16:18] = int(ET.REL).to_bytes(2, "little")
    open(path, "wb").write(raw)
    with Vmlinux.open(path) as vmlinux, pytest.raises(FormatError, match="e_type 1 is not"):
        vmlinux.check_kernel()


def test_symbol_count_is_bounded_before_reading(tmp_path):
    """A .symtab claiming more symbols than any kernel has is refused from its header alone
    (the table here is sparse: nothing of it is read)."""
    from minidump.elf.vmlinux import Vmlinux
    from minidump.limits import SYMBOLS_MAX
    path = _vmlinux(tmp_path, machine=EM.AARCH64, symbols=[Sym("linux_banner", 0x1000, 8)],
                    sections=[Sec(".data", 0x1000, bytes(16))])
    with Vmlinux.open(path) as vmlinux:
        symtab = vmlinux.section(".symtab")
    # grow .symtab's sh_size in place: 24-byte entries, one more than the bound
    raw = bytearray(open(path, "rb").read())
    import struct
    e_shoff = struct.unpack_from("<Q", raw, 0x28)[0]
    sh = e_shoff + symtab.index * 64
    struct.pack_into("<Q", raw, sh + 0x20, (SYMBOLS_MAX + 1) * 24)
    open(path, "wb").write(raw)
    with Vmlinux.open(path) as vmlinux, pytest.raises(FormatError) as err:
        vmlinux.symbols
    assert f"{SYMBOLS_MAX + 1:,} symbols; no kernel has more than {SYMBOLS_MAX:,}" in str(err.value)


def test_json_of_a_refused_vmlinux_is_nothing(tmp_path, capsys):
    lib = _vmlinux(tmp_path, "lib.so", machine=EM.AARCH64, sections=[Sec(".data", 0, bytes(8))],
                   symbols=[Sym("foo", 0, 8)])
    code, out, _ = run(capsys, "info", MD, "--vmlinux", lib, "--json")
    assert code == 1 and out == ""
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)
