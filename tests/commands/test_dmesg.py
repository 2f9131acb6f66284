"""``minidump dmesg``: equal to makedumpfile --dump-dmesg on real dumps, clear when memory is missing."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from minidump.cli import main
from builders.printk import LocklessRing, write_core

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "arm64-meminspect"
BASE = 0xFFFF800081000000
HEAD = "OSRELEASE=6.18.0\nPAGESIZE=4096\n"


def _ring_core(tmp_path: Path, drop_data: bool = False) -> Path:
    ring = LocklessRing(count_bits=3, size_bits=8)
    for i in range(10):
        ring.add(f"message {i}".encode(), i * 1_000_000)
    chunks, keys = ring.memory(BASE)
    if drop_data:
        del chunks[max(chunks)]
    return write_core(tmp_path / "ring.vmcore", chunks, (HEAD + keys).encode())


def test_dmesg_prints_the_ring(tmp_path, capsysbinary):
    core = _ring_core(tmp_path)
    assert main(["dmesg", str(core)]) == 0
    lines = capsysbinary.readouterr().out.decode().splitlines()
    assert lines == [f"[    0.{i * 1000:06d}] message {i}" for i in range(2, 10)]


def test_dmesg_missing_ring_names_the_region(tmp_path, capsys):
    core = _ring_core(tmp_path, drop_data=True)
    assert main(["dmesg", str(core)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("minidump: error: ") and "\n" not in err
    assert "prb text data ring (0x100 bytes at 0x" in err and "is not in the capture" in err


def test_dmesg_without_vmcoreinfo_asks_for_one(tmp_path, capsys):
    core = write_core(tmp_path / "bare.vmcore", {BASE: bytes(64)}, None)
    assert main(["dmesg", str(core)]) == 1
    assert "no VMCOREINFO note; give --vmcoreinfo FILE" in capsys.readouterr().err


@pytest.mark.skipif(not (SAMPLE / "expected.json").exists(), reason="samples not generated")
def test_dmesg_on_the_built_sample(tmp_path, capsysbinary):
    out = tmp_path / "sample.vmcore"
    assert main(["build", "--from-table", str(SAMPLE / "md"), "-o", str(out), "-q"]) == 0
    capsysbinary.readouterr()
    assert main(["dmesg", str(out), "-o", str(tmp_path / "log.txt")]) == 0
    expected = json.loads((SAMPLE / "expected.json").read_text())["dmesg"]
    assert (tmp_path / "log.txt").read_text().splitlines() == expected


@pytest.mark.realkernel
@pytest.mark.parametrize("name", ["nokaslr", "kaslr"])
def test_dmesg_equals_makedumpfile(name, normalized, tmp_path, capsysbinary):
    mdf = shutil.which("makedumpfile")
    if not mdf:
        pytest.skip("makedumpfile not installed (apt-get install -y makedumpfile)")
    core = normalized(name)
    oracle = tmp_path / "mdf.txt"
    subprocess.run([mdf, "--dump-dmesg", str(core), str(oracle)], check=True,
                   capture_output=True)
    assert main(["dmesg", str(core)]) == 0
    ours = capsysbinary.readouterr().out
    assert ours == oracle.read_bytes()
    assert b"minidump-harness: hello from userspace" in ours


@pytest.mark.realkernel
def test_dmesg_on_raw_qemu_dump(realkernel, capsysbinary):
    rec = realkernel["captures"]["cloud-amd64-kaslr"]
    assert main(["dmesg", rec["vmcore"]]) == 0     # e_phoff 192: read as the header says
    out = capsysbinary.readouterr().out.decode()
    assert all(line in out for line in rec["kmsg_lines"])


@pytest.mark.realkernel
def test_dmesg_on_extracted_minidump(realkernel, tmp_path, capsysbinary):
    pytest.importorskip("minidump.commands.extract", reason="issue 3's extract is not here yet")
    rec = realkernel["captures"]["cloud-amd64-kaslr"]
    out = tmp_path / "mini.vmcore"
    code = main(["extract", "--vmlinux", rec["vmlinux"], rec["vmcore"], "--regions",
                 "v3-default", "-o", str(out)])
    if code not in (0, 3) or not out.exists():
        pytest.skip(f"extract did not produce a vmcore (exit {code})")
    capsysbinary.readouterr()
    assert main(["dmesg", str(out)]) == 0
    text = capsysbinary.readouterr().out.decode()
    assert all(line in text for line in rec["kmsg_lines"])
