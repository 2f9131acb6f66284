"""Nothing lost: a failed or interrupted run leaves no output (and no temp file), the output
is never one of the inputs, an existing output is replaced only with --force, and hostile
region names never turn into paths."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from builders.printk import LocklessRing, write_core
from builders.qcom import rawdump

from minidump.cli import main

ROOT = Path(__file__).resolve().parents[2]
RAM = 0x80000000


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("minidump: error: "), err
    return lines[0].removeprefix("minidump: error: ")


def listing(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


@pytest.fixture
def image(tmp_path) -> Path:
    path = tmp_path / "raw.img"
    path.write_bytes(rawdump([("md_KA1.BIN", b"a" * 64, RAM), ("md_KB2.BIN", b"b" * 64, RAM + 0x100)]))
    return path


@pytest.fixture
def vmcore(tmp_path) -> Path:
    ring = LocklessRing(count_bits=3, size_bits=8)
    for i in range(4):
        ring.add(f"message {i}".encode(), i * 1_000_000)
    chunks, keys = ring.memory(0xFFFF800081000000)
    return write_core(tmp_path / "ring.vmcore", chunks,
                      ("OSRELEASE=6.18.0\nPAGESIZE=4096\n" + keys).encode())


# -- SIGINT in the middle of writing ------------------------------------------------------

@pytest.fixture(scope="module")
def big_input(tmp_path_factory) -> Path:
    from builders.blobs import MIB, make_input
    src = tmp_path_factory.mktemp("big") / "md"
    make_input(src, count=40, total=192 * MIB)
    return src


@pytest.mark.parametrize("signum,code,message", [
    (signal.SIGINT, 130, "minidump: interrupted; nothing written"),
    (signal.SIGTERM, 143, "minidump: terminated by SIGTERM; nothing written"),
    (signal.SIGHUP, 129, "minidump: terminated by SIGHUP; nothing written"),
    (signal.SIGQUIT, 131, "minidump: terminated by SIGQUIT; nothing written"),
], ids=["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"])
def test_signal_mid_write_leaves_nothing(big_input, tmp_path, signum, code, message):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "vmcore"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "minidump", "build", "--from-table",
                             str(big_input), "--arch", "arm64", "-o", str(out), "-q"],
                            stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if any(name.endswith(".tmp") and os.path.getsize(out_dir / name) > 0
               for name in os.listdir(out_dir)):
            break   # the temp file has bytes in it: we are mid-write
        time.sleep(0.001)
    if proc.poll() is not None:
        pytest.skip("the build finished before it could be interrupted")
    os.kill(proc.pid, signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert err.strip() == message
    assert listing(out_dir) == set()   # no vmcore, no .minidump-*.tmp


def test_interrupt_before_writing_leaves_nothing(tmp_path, image, capsys, monkeypatch):
    import minidump.capture
    def interrupted(*_, **__):
        raise KeyboardInterrupt
    monkeypatch.setattr(minidump.capture.Capture, "plan", interrupted)
    assert main(["build", "--from-table", str(image), "-o", str(tmp_path / "out")]) == 130
    assert capsys.readouterr().err.strip() == "minidump: interrupted; nothing written"
    assert listing(tmp_path) == {"raw.img"}


def test_write_failure_leaves_nothing(tmp_path, image, capsys, monkeypatch):
    import errno

    import minidump.vmcore.write
    def full(*_, **__):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "out"))
    monkeypatch.setattr(minidump.vmcore.write, "_kernel_copy", full)
    monkeypatch.setattr(minidump.vmcore.write, "_buffered_copy", full)
    assert main(["build", "--from-table", str(image), "--arch", "arm64", "-q",
                 "-o", str(tmp_path / "out")]) == 1
    assert one_line(capsys.readouterr().err) == f"{tmp_path / 'out'}: No space left on device"
    assert listing(tmp_path) == {"raw.img"}


def test_payload_shrinking_while_copying_leaves_nothing(tmp_path, capsys, monkeypatch):
    """A blob truncated between planning and copying: one-line error, no vmcore."""
    import minidump.vmcore.write
    md = tmp_path / "md"
    md.mkdir()
    (md / "md_KA.BIN").write_bytes(b"a" * 4096)
    table = tmp_path / "t.sahara"
    from builders.qcom import sahara_row
    table.write_bytes(sahara_row(b"md_KA", RAM, 4096))
    real = minidump.vmcore.write.write_vmcore

    def shrink_then_write(plan, out, progress=None):
        (md / "md_KA.BIN").write_bytes(b"a" * 100)
        return real(plan, out, progress)
    monkeypatch.setattr(minidump.vmcore.write, "write_vmcore", shrink_then_write)
    out = tmp_path / "out"
    assert main(["build", "--from-table", str(md), "--sahara-table", str(table), "--arch",
                 "arm64", "-q", "-o", str(out)]) == 1
    assert one_line(capsys.readouterr().err) == (
        f"{md / 'md_KA.BIN'}: offset 0x64 (payload): file ended 0xf9c bytes early (changed "
        "while reading?)")
    assert listing(tmp_path) == {"md", "t.sahara"}


# -- the output is never an input ---------------------------------------------------------

def test_output_equal_to_the_input_is_refused(tmp_path, image, capsys):
    before = image.read_bytes()
    assert main(["build", "--from-table", str(image), "-o", str(image), "--force"]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"output {image} is also an input; choose another -o")
    assert image.read_bytes() == before


@pytest.mark.parametrize("how", ["symlink", "hardlink"])
def test_output_aliasing_the_input_is_refused(tmp_path, image, capsys, how):
    alias = tmp_path / "alias"
    (os.symlink if how == "symlink" else os.link)(image, alias)
    before = image.read_bytes()
    assert main(["build", "--from-table", str(image), "-o", str(alias), "--force"]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"output {alias} is also an input; choose another -o")
    assert image.read_bytes() == before


def test_output_equal_to_a_memory_image_or_side_file_is_refused(tmp_path, image, capsys):
    side = tmp_path / "vmcoreinfo"
    side.write_bytes(b"OSRELEASE=6.1\nPAGESIZE=4096\n")
    assert main(["build", "--from-table", str(image), "--vmcoreinfo", str(side), "-o", str(side),
                 "--force"]) == 2
    assert one_line(capsys.readouterr().err) == f"output {side} is also an input; choose another -o"
    ram = tmp_path / "ram.bin"
    ram.write_bytes(bytes(4096))
    assert main(["build", "--from-table", str(image), "--memory", f"{ram}@{RAM:#x}",
                 "-o", str(ram), "--force"]) == 2
    assert one_line(capsys.readouterr().err) == f"output {ram} is also an input; choose another -o"
    assert ram.read_bytes() == bytes(4096)


def test_output_inside_the_input_directory_is_refused(tmp_path, capsys):
    md = tmp_path / "md"
    md.mkdir()
    (md / "md_KA.BIN").write_bytes(b"a" * 16)
    assert main(["build", "--from-table", str(md), "-o", str(md / "vmcore")]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"output {md / 'vmcore'} is inside the input directory {md}; choose another -o")
    assert listing(md) == {"md_KA.BIN"}


@pytest.mark.parametrize("command", ["dmesg", "vmcoreinfo"])
def test_dmesg_and_vmcoreinfo_never_overwrite_their_vmcore(vmcore, capsys, command):
    """Was: ``dmesg VMCORE -o VMCORE`` replaced the vmcore with its own log."""
    before = vmcore.read_bytes()
    assert main([command, str(vmcore), "-o", str(vmcore), "--force"]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"output {vmcore} is also an input; choose another -o")
    assert vmcore.read_bytes() == before


# -- --force ------------------------------------------------------------------------------

def test_build_replaces_an_existing_output_only_with_force(tmp_path, image, capsys):
    out = tmp_path / "vmcore"
    out.write_bytes(b"keep me")
    assert main(["build", "--from-table", str(image), "--arch", "arm64", "-q", "-o", str(out)]) == 2
    assert one_line(capsys.readouterr().err) == f"output {out} exists; use --force to replace it"
    assert out.read_bytes() == b"keep me"
    assert main(["build", "--from-table", str(image), "--arch", "arm64", "-q", "-o", str(out),
                 "--force"]) == 3
    assert out.read_bytes()[:4] == b"\x7fELF"


@pytest.mark.parametrize("command", ["dmesg", "vmcoreinfo"])
def test_text_outputs_replace_only_with_force(tmp_path, vmcore, capsys, command):
    """Was: ``dmesg -o`` / ``vmcoreinfo -o`` silently overwrote any file."""
    out = tmp_path / "out.txt"
    out.write_bytes(b"keep me")
    assert main([command, str(vmcore), "-o", str(out)]) == 2
    assert one_line(capsys.readouterr().err) == f"output {out} exists; use --force to replace it"
    assert out.read_bytes() == b"keep me"
    assert main([command, str(vmcore), "-o", str(out), "--force"]) == 0
    assert out.read_bytes() != b"keep me"
    assert {p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")} == set()


def test_text_output_failure_leaves_nothing(tmp_path, vmcore, capsys, monkeypatch):
    import minidump.kernel.printk
    def broken(*_, **__):
        raise minidump.kernel.printk.FormatError("ring broken", path=str(vmcore))
    monkeypatch.setattr(minidump.kernel.printk, "read_log", broken)
    out = tmp_path / "log.txt"
    assert main(["dmesg", str(vmcore), "-o", str(out)]) == 1
    assert one_line(capsys.readouterr().err) == f"{vmcore}: ring broken"
    assert not out.exists()


# -- path safety --------------------------------------------------------------------------

def test_hostile_region_names_never_become_paths(tmp_path, capsys):
    """No command writes a file per region; names with separators stay inside the report."""
    work = tmp_path / "work"
    work.mkdir()
    image = work / "raw.img"
    image.write_bytes(rawdump([("../../escaped", b"a" * 8, RAM), ("/tmp/abs.BIN", b"b" * 8, RAM + 0x100),
                               ("..\\..\\win", b"c" * 8, RAM + 0x200)]))
    out = work / "vmcore"
    assert main(["build", "--from-table", str(image), "--arch", "arm64", "--table",
                 "-o", str(out)]) == 3
    report = capsys.readouterr().out
    assert "..\\x2f..\\x2fescaped" in report and "\\x5c" in report
    assert listing(work) == {"raw.img", "vmcore"}
    assert listing(tmp_path) == {"work"}
    assert not Path("/tmp/abs.BIN").exists()
