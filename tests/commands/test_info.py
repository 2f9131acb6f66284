"""``minidump info``: facts and readiness on synthetic and real captures; vmlinux verification."""

from __future__ import annotations

import json
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
    assert doc["ready"]["makedumpfile --dump-dmesg"] is not True    # mem_section not captured
    rows = {(r["consumer"], r["item"]): r for r in doc["readiness"]}
    assert rows[("drgn", "SYMBOL(swapper_pg_dir)")]["present"] is True
    assert rows[("vmcore-dmesg", "prb text data ring")]["present"] is True
    assert code == 0
    out = StringIO()
    render_info(doc, out, width=140)
    assert "readiness" in out.getvalue() and "prb text data ring" in out.getvalue()


def test_info_says_what_is_missing(tmp_path, capsys):
    ring = LocklessRing()
    ring.add(b"x", 0)
    chunks, keys = ring.memory(BASE)
    del chunks[max(chunks)]
    core = write_core(tmp_path / "c.vmcore", chunks, (ARM64_KEYS + keys).encode())
    code, doc = _info([str(core)], capsys)
    assert code == 3 and doc["ready"]["vmcore-dmesg"] is False
    missing = [r for r in doc["readiness"] if r["present"] is False]
    assert {r["item"] for r in missing} == {"prb text data ring"}
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
