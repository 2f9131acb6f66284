"""``minidump info``: facts and readiness on synthetic and real captures; vmlinux verification."""

from __future__ import annotations

import json
import shutil
import subprocess
from io import StringIO
from pathlib import Path

import pytest

from minidump.cli import main
from minidump.report.console import render_info
from builders.printk import LocklessRing, write_core

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "arm64-meminspect"
BASE = 0xFFFF800081000000
ARM64_KEYS = ("OSRELEASE=6.18.0\nPAGESIZE=4096\nBUILD-ID=00112233445566778899aabbccddeeff00112233\n"
              "SYMBOL(swapper_pg_dir)=ffff800081a2b000\nSYMBOL(_stext)=ffff800080010000\n"
              "NUMBER(VA_BITS)=48\nNUMBER(kimage_voffset)=0xffff7fff00000000\n"
              "NUMBER(PHYS_OFFSET)=0x80000000\nKERNELOFFSET=0\n")


def _info(args: list[str], capsys) -> tuple[int, dict]:
    code = main(["info", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_info_on_a_ring_only_capture(tmp_path, capsys):
    ring = LocklessRing(count_bits=3, size_bits=8)
    ring.add(b"Linux version 6.18.0 (me@host) #1", 0)
    ring.add(b"second", 5)
    chunks, keys = ring.memory(BASE)
    core = write_core(tmp_path / "c.vmcore", chunks, (ARM64_KEYS + keys).encode())
    code, doc = _info([str(core)], capsys)
    facts = doc["facts"]
    assert (facts["release"], facts["arch"], facts["page_size"], facts["kaslr_offset"]) == (
        "6.18.0", "arm64", 4096, 0)
    assert facts["banner"] == "Linux version 6.18.0 (me@host) #1"
    assert facts["banner_source"] == "kernel log" and facts["log"] == "readable"
    assert doc["ready"]["vmcore-dmesg"] is True and doc["ready"]["drgn"] is True
    # no SYMBOL(init_uts_ns): makedumpfile's check_release fails (exit 3 says so)
    assert doc["ready"]["makedumpfile --dump-dmesg"] is False
    rows = {(r["consumer"], r["item"]): r for r in doc["readiness"]}
    assert rows[("drgn", "SYMBOL(swapper_pg_dir)")]["present"] is True
    assert rows[("vmcore-dmesg", "prb text data ring")]["present"] is True
    assert code == 3
    out = StringIO()
    render_info(doc, out, width=140)
    brief = out.getvalue()
    assert "will it open?" in brief and "vmcore-dmesg" in brief   # path may fold
    assert "prb text data ring" not in brief and "minidump info --verbose" in brief
    out = StringIO()
    render_info(doc, out, width=140, verbose=True)
    assert "readiness" in out.getvalue() and "prb text data ring" in out.getvalue()


def _ring_cores(tmp_path):
    ring = LocklessRing(count_bits=3, size_bits=8)
    ring.add(b"Linux version 6.18.0 (me@host) #1", 0)
    ring.add(b"second", 5)
    chunks, keys = ring.memory(BASE)
    ok = write_core(tmp_path / "ok.vmcore", dict(chunks), (ARM64_KEYS + keys).encode())
    del chunks[max(chunks)]
    bad = write_core(tmp_path / "bad.vmcore", chunks, (ARM64_KEYS + keys).encode())
    return ok, bad


def _answer(path, capsys, consumer):
    code, doc = _info([str(path)], capsys)
    return next(a for a in doc["consumers"] if a["consumer"] == consumer)


def test_info_answer_holds_for_vmcore_dmesg(tmp_path, capsys):
    """vmcore-dmesg runs the command line ``info`` gives where it says yes, fails where no."""
    tool = shutil.which("vmcore-dmesg")
    if not tool:
        pytest.skip("vmcore-dmesg not installed (apt-get install -y kexec-tools)")
    ok, bad = _ring_cores(tmp_path)
    yes = _answer(ok, capsys, "vmcore-dmesg")
    assert yes["ready"] is True and yes["blocker"] is None
    assert yes["command"] == f"vmcore-dmesg {ok}" and yes["build_first"] is None
    run = subprocess.run(yes["command"].split(), capture_output=True, text=True)
    assert run.returncode == 0 and "Linux version 6.18.0" in run.stdout
    no = _answer(bad, capsys, "vmcore-dmesg")
    assert no["ready"] is False and no["blocker"].startswith("prb text data ring missing")
    run = subprocess.run(no["command"].split(), capture_output=True, text=True)
    assert run.returncode != 0 and "0xffff800081001380" in run.stderr


def test_info_answer_holds_for_makedumpfile(tmp_path, capsys):
    """makedumpfile --dump-dmesg fails where ``info`` does not say yes, for the reason named."""
    tool = shutil.which("makedumpfile")
    if not tool:
        pytest.skip("makedumpfile not installed (apt-get install -y makedumpfile)")
    ok, _ = _ring_cores(tmp_path)
    no = _answer(ok, capsys, "makedumpfile --dump-dmesg")
    assert no["ready"] is False and no["blocker"].startswith("SYMBOL(init_uts_ns) missing")
    run = subprocess.run(no["command"].replace("dmesg.txt", str(tmp_path / "d.txt")).split(),
                         capture_output=True, text=True)
    assert run.returncode != 0 and "system_utsname" in run.stdout + run.stderr
    built = tmp_path / "sample.vmcore"
    assert main(["build", "--from-table", str(SAMPLE / "md"), "-o", str(built), "-q"]) == 0
    capsys.readouterr()
    unknown = _answer(built, capsys, "makedumpfile --dump-dmesg")
    assert unknown["ready"] is None and "not in the linear map" in unknown["blocker"]
    assert unknown["blocker"].startswith("init_uts_ns unknown")
    run = subprocess.run(unknown["command"].replace("dmesg.txt", str(tmp_path / "e.txt")).split(),
                         capture_output=True, text=True)
    assert run.returncode != 0 and "system_utsname" in run.stdout + run.stderr


def test_info_cpu_masks_banner_from_meminspect_ids(capsys):
    """The sample registers the CPU masks (IDs 5-8), linux_banner (11), jiffies_64 (10) and
    tainted_mask (14): ``info`` reads them without a vmlinux and names the source."""
    code, doc = _info([str(SAMPLE / "md")], capsys)
    f = doc["facts"]
    assert f["cpus_online"] == 1 and f["cpus_source"] == "__cpu_online_mask, meminspect ID 7"
    assert {k: (m["count"], m["cpus"]) for k, m in f["cpu_masks"].items()} == {
        "possible": (8, "0-7"), "present": (8, "0-7"), "online": (1, "3"), "active": (8, "0-7")}
    assert f["banner"].startswith("Linux version 6.18.0-rc2-minidump-sample (builder@buildhost)")
    assert f["banner_source"] == "memory (linux_banner, meminspect ID 11)"
    assert f["why"] == {"crashtime": "CRASHTIME not in VMCOREINFO"}
    assert main(["info", str(SAMPLE / "md")]) == code
    text = capsys.readouterr().out
    assert "CPUs possible" in text and "- (CRASHTIME not in VMCOREINFO)" in text
    assert "first: minidump build --from-table" in text


def test_info_every_dash_says_why(tmp_path, capsys):
    ok, _ = _ring_cores(tmp_path)
    assert main(["info", str(ok)]) == 3
    text = capsys.readouterr().out
    assert "│ -  " not in text and "│ - │" not in text
    for line in text.splitlines():
        if line.startswith("│") and "│ -" in line:
            assert "│ - (" in line, line


def test_info_says_what_is_missing(tmp_path, capsys):
    ring = LocklessRing()
    ring.add(b"x", 0)
    chunks, keys = ring.memory(BASE)
    del chunks[max(chunks)]
    core = write_core(tmp_path / "c.vmcore", chunks, (ARM64_KEYS + keys).encode())
    code, doc = _info([str(core)], capsys)
    assert code == 3 and doc["ready"]["vmcore-dmesg"] is False
    missing = [r for r in doc["readiness"] if r["present"] is False]
    # makedumpfile's check_release needs SYMBOL(init_uts_ns), which this note lacks
    assert {r["item"] for r in missing} == {"prb text data ring", "SYMBOL(init_uts_ns)"}
    assert "is not in the capture" in doc["facts"]["log"]


@pytest.mark.skipif(not (SAMPLE / "expected.json").exists(), reason="samples not generated")
def test_info_on_the_built_sample(tmp_path, capsys):
    out = tmp_path / "s.vmcore"
    assert main(["build", "--from-table", str(SAMPLE / "md"), "-o", str(out), "-q"]) == 0
    capsys.readouterr()
    _, doc = _info([str(out)], capsys)
    model = json.loads((SAMPLE / "expected.json").read_text())["model"]
    assert doc["facts"]["release"] == model["release"]
    assert doc["facts"]["build_id"] == model["build_id"]
    assert doc["facts"]["kaslr_offset"] == int(model["kaslr_offset"], 16)
    assert doc["layout"]["image_offset"] == int(model["kimage_voffset"], 16)


@pytest.mark.realkernel
def test_info_real_kernel_with_vmlinux(realkernel, capsys):
    rec = realkernel["captures"]["cloud-amd64-kaslr"]
    code, doc = _info([rec["vmcore"], "--vmlinux", rec["vmlinux"]], capsys)
    f = doc["facts"]
    assert f["release"] == rec["kernel_release"] and f["build_id"] == rec["build_id"]
    assert f["kaslr_offset"] == int(rec["kerneloffset"], 16)
    assert f["banner"].startswith(f"Linux version {rec['kernel_release']} ")
    assert f["banner_source"] == "memory (linux_banner)"
    assert 4294000000 < f["jiffies"] < 4295000000        # INITIAL_JIFFIES + a few seconds
    assert f["cpus_online"] == 2 and f["taint"]["mask"] == 0
    assert doc["layout"]["phys_base"] == int(rec["phys_base"])
    assert doc["ready"]["drgn"] and doc["ready"]["crash --minimal"]
    assert doc["ready"]["vmcore-dmesg"] is False and code == 3   # QEMU dumps have no p_vaddr


@pytest.mark.realkernel
def test_info_rejects_a_mismatched_vmlinux(realkernel, tmp_path, capsys):
    rec = realkernel["captures"]["cloud-amd64-kaslr"]
    from minidump.elf.core import read_core
    text = read_core(rec["vmcore"]).vmcoreinfo.replace(rec["build_id"].encode(), b"ab" * 20)
    (tmp_path / "vmci.txt").write_bytes(text)
    code = main(["info", rec["vmcore"], "--vmlinux", rec["vmlinux"], "--vmcoreinfo",
                 str(tmp_path / "vmci.txt")])
    err = capsys.readouterr().err
    assert code == 1 and f"does not match {rec['vmcore']}: BUILD-ID {'ab' * 20}" in err


def test_info_without_vmcoreinfo_never_says_the_log_is_readable(tmp_path, capsys):
    """A full dump with no VMCOREINFO note (32-bit arm kernels without qemu_fw_cfg): the log
    cannot be located, and every place that speaks of it says so."""
    ring = LocklessRing()
    ring.add(b"x", 0)
    chunks, _ = ring.memory(BASE)
    core = write_core(tmp_path / "c.vmcore", chunks, None)
    code, doc = _info([str(core)], capsys)
    assert doc["facts"]["log"] == "no VMCOREINFO" and doc["facts"]["why"]["log"] == "no VMCOREINFO"
    assert doc["crash"]["log"]["notes"] == ["kernel log not readable: no VMCOREINFO"]
    assert main(["info", str(core)]) == code
    text = capsys.readouterr().out
    assert "│ readable" not in text and "kernel log   │ - (no VMCOREINFO)" in text
