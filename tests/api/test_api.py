"""The published library API (DESIGN.md "Library API") on every capture kind of the sample.

Oracles: the generator's own record of the sample (``expected.json``: each
region's address, size and SHA-256, the log lines), and the CLI, which must be
a thin layer over the same calls (byte-identical vmcores, equal documents).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

import minidump
from builders import ROOT, SAMPLES, info_facts, ram_specs
from minidump.cli import main


#: every container of the same capture: (id, path, keyword options)
CAPTURES = [
    ("mddir", SAMPLES / "md", {}),
    ("mddir-sahara", SAMPLES / "md-nokelf", {"arch": "arm64"}),
    ("rawdump", SAMPLES / "rawdump.img", {}),
    ("ram", SAMPLES / "ram" / "smem.bin", {"memory": ram_specs()}),
    ("item602", SAMPLES / "item602.bin", {"memory": ram_specs()}),
]
IDS = [c[0] for c in CAPTURES]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The sample's vmcore as the CLI builds it (the ELF-core container of the same capture)."""
    out = tmp_path_factory.mktemp("built") / "sample.vmcore"
    assert main(["build", "--from-table", str(SAMPLES / "md"), "-o", str(out), "-q"]) == 0
    return out


@pytest.mark.parametrize("name,path,options", CAPTURES, ids=IDS)
def test_open_every_container(name, path, options, expected):
    with minidump.open(path, **options) as cap:
        assert isinstance(cap, minidump.Capture)
        assert cap.arch == "arm64"
        assert cap.vmcoreinfo["OSRELEASE"] == "6.18.0-rc2-minidump-sample"
        assert "SYMBOL(prb)" in cap.vmcoreinfo and len(cap.vmcoreinfo) > 50
        written = {r.id: r for r in cap.regions if r.status is minidump.Status.WRITTEN}
        for region in expected["regions"]:
            if region["id"] not in written:
                continue
            got = written[region["id"]]
            assert isinstance(got, minidump.Region)
            assert (got.paddr, got.vaddr, got.size) == (
                int(region["pa"], 16), int(region["va"], 16), region["size"])
            assert got.object == region["symbol"]    # named from the capture alone
            data = cap.read(got.paddr, got.size)
            assert hashlib.sha256(data).hexdigest() == region["sha256"]
            assert cap.read_virt(got.vaddr, got.size) == data
        # every Linux region of the table with a payload is there, whatever the container
        assert len(written) >= len(expected["regions"]) - 2


@pytest.mark.parametrize("name,path,options", CAPTURES, ids=IDS)
def test_answers_equal_the_built_vmcore(name, path, options, tmp_path, expected):
    """dmesg() and facts() of a capture are those of the vmcore it becomes."""
    out = tmp_path / "built.vmcore"
    with minidump.open(path, **options) as cap:
        log = [str(r) for r in cap.dmesg()]
        facts = cap.facts()
        cap.write_vmcore(out)
    with minidump.open(out) as vmcore:
        assert [str(r) for r in vmcore.dmesg()] == log == expected["dmesg"]
        want = vmcore.facts()
    assert info_facts(facts) == info_facts(want)


def test_records(built):
    with minidump.open(built) as cap:
        records = cap.dmesg()
    first = records[0]
    assert isinstance(first, minidump.Record)
    assert str(first) == "[    0.000000] Zone ranges:" and first.text == "Zone ranges:"
    assert first.timestamp_ns == 0 and first.raw == b"Zone ranges:"
    seqs = [r.seq for r in records]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(r.level is not None and 0 <= r.level <= 7 for r in records)
    assert all(re.fullmatch(r"[TC]\d+", r.caller) for r in records)
    assert any(r.caller.startswith("T") for r in records)


def test_write_vmcore_is_build(tmp_path, built):
    out = tmp_path / "api.vmcore"
    with minidump.open(SAMPLES / "rawdump.img") as cap:
        result = cap.write_vmcore(out)
    assert out.read_bytes() == built.read_bytes()   # byte-identical to `minidump build`
    assert isinstance(result, minidump.WriteResult)
    assert result.path == str(out) and result.size == out.stat().st_size
    assert result.lost == () and len(result.regions) == 53
    with minidump.open(SAMPLES / "md") as cap:
        with pytest.raises(minidump.UsageError, match="exists; use --force"):
            cap.write_vmcore(out)
        cap.write_vmcore(out, force=True)
    assert out.read_bytes() == built.read_bytes()


def test_errors_carry_path_offset_field(tmp_path):
    bad = tmp_path / "raw.img"
    data = bytearray((SAMPLES / "rawdump.img").read_bytes())
    data[52:56] = (100000).to_bytes(4, "little")       # raw_dump_header.sections_count
    bad.write_bytes(data)
    with pytest.raises(minidump.FormatError) as exc:
        minidump.open(bad)
    err = exc.value
    assert isinstance(err, minidump.MinidumpError) and isinstance(err, ValueError)
    assert (err.path, err.offset, err.field) == (str(bad), 52, "raw_dump_header.sections_count")
    assert str(err).startswith(f"{bad}: offset 0x34 (raw_dump_header.sections_count): ")
    with pytest.raises(minidump.UsageError, match="no such file"):
        minidump.open(tmp_path / "absent")


def test_fault_error_names_the_address():
    with minidump.open(SAMPLES / "md") as cap:
        with pytest.raises(minidump.FaultError) as exc:
            cap.read(0x1000, 16)
        assert exc.value.address == 0x1000 and isinstance(exc.value, LookupError)
        with pytest.raises(minidump.FaultError):
            cap.read_virt(0xFFFF800000000000, 8)


def test_capture_closes_its_files():
    fds = len(os.listdir("/proc/self/fd"))
    with minidump.open(SAMPLES / "ram" / "smem.bin", memory=ram_specs()) as cap:
        cap.dmesg()
        assert len(os.listdir("/proc/self/fd")) > fds
    assert len(os.listdir("/proc/self/fd")) == fds


def test_options_have_the_cli_names():
    """Every input option of the CLI is a keyword of minidump.open with the same name."""
    import inspect

    from minidump.commands.common import add_input_options
    import argparse
    parser = argparse.ArgumentParser()
    add_input_options(parser)
    cli = {a.dest for a in parser._actions if a.dest not in ("help", "input")}
    assert cli <= set(inspect.signature(minidump.open).parameters)


def test_extract_returns_a_capture(tmp_path, capsys):
    from builders.machine import BANNER, check_bytes, make_machine
    machine = make_machine(tmp_path, kaslr=True)
    cli_out = tmp_path / "cli.vmcore"
    assert main(["extract", "--vmlinux", machine.vmlinux, f"{machine.ram}@0", "-o",
                 str(cli_out), "-q"]) == 0
    with minidump.extract(f"{machine.ram}@0", vmlinux=machine.vmlinux) as mini:
        assert mini.arch == "x86_64" and mini.vmcoreinfo["OSRELEASE"] == "6.1.0-test"
        assert [r.status.value for r in mini.regions] == ["written"] * 5
        jiffies = next(r for r in mini.regions if r.name == "jiffies_64")
        assert mini.read_virt(jiffies.vaddr, 8) == machine.ram_bytes(machine.pa("jiffies_64"), 8)
        api_out = tmp_path / "api.vmcore"
        mini.write_vmcore(api_out)
    assert api_out.read_bytes() == cli_out.read_bytes()
    check_bytes(machine, str(api_out))
    regions = tmp_path / "my.regions"
    regions.write_text("jiffies_64\nlinux_banner 0x10\n")
    with minidump.open(f"{machine.ram}@0", vmlinux=machine.vmlinux) as full:
        again = minidump.extract(full, vmlinux=machine.vmlinux, regions=str(regions))
        assert [r.name for r in again.regions][-2:] == ["jiffies_64", "linux_banner"]
        assert again.read_virt(machine.va("linux_banner"), 0x10) == BANNER[:0x10]
        assert full.read(0, 16) == machine.ram_bytes(0, 16)   # the full capture stays open


def _readme_api_example() -> tuple[str, str]:
    """The README's API example and the output it shows under it."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Python API"):]
    match = re.search(r"```python\n(.*?)```\n\nprints\n\n```text\n(.*?)```", section, re.S)
    return match.group(1), match.group(2)


def test_readme_api_example_runs_as_written(capsys, monkeypatch, tmp_path):
    code, shown = _readme_api_example()
    (tmp_path / "samples").symlink_to(ROOT / "samples")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out == shown
    assert (tmp_path / "sample.vmcore").stat().st_size == 228544


def test_public_names_are_typed():
    import inspect
    for name in ("open", "extract"):
        sig = inspect.signature(getattr(minidump, name))
        assert sig.return_annotation != inspect.Signature.empty
        assert all(p.annotation != inspect.Parameter.empty for p in sig.parameters.values())
    assert (Path(minidump.__file__).parent / "py.typed").exists()
