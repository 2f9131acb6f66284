"""Every region of a meminspect capture simulated from a real kernel's full dump is named
right, with and without the vmlinux (opt-in: MINIDUMP_REALKERNEL=1).

Run:  python tools/realkernel/harness.py all      (and --arch arm64 ...; see its README)
      MINIDUMP_REALKERNEL=1 python -m pytest tests/realkernel/test_realkernel_naming.py -q

The simulation (``builders.meminspect_sim``) registers what a v3 kernel would:
VMCOREINFO, the static IDs, and the dynamic ones (the ``mem_section`` root, each
node's ``pglist_data``, printk's dynamic buffers when the kernel has them, each
possible CPU's ``runqueues``), read with the vmlinux from the full dump; the
truth is what it registered.  ``minidump regions`` must name each region so,
from the capture alone and from the vmlinux's symbols.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from builders.meminspect_sim import simulate
from builders.realkernel import captures
from minidump.cli import main

ENABLED = os.environ.get("MINIDUMP_REALKERNEL") == "1"
pytestmark = [pytest.mark.realkernel,
              pytest.mark.skipif(not ENABLED, reason="opt-in: MINIDUMP_REALKERNEL=1")]


#: the arches a meminspect capture is simulated for (riscv64: drgn-less, Qualcomm-less; its
#: end-to-end checks are in test_arches.py)
ARCHES = ("x86_64", "arm64", "arm")
#: every boot and panic of those arches at the default memory size
RECORDS = {name: rec for name, rec in captures(ARCHES, ("captures", "panics")).items()
           if rec.get("memory", "512M") == "512M"}


@pytest.fixture(scope="module", params=sorted(RECORDS) or ["none"])
def simulated(request, tmp_path_factory):
    if request.param not in RECORDS:
        pytest.skip("no x86_64/arm64/arm capture: python tools/realkernel/harness.py all")
    rec = RECORDS[request.param]
    md = tmp_path_factory.mktemp(request.param) / "md"
    truth = simulate(Path(rec["vmcore"]), Path(rec["vmlinux"]), md)
    return rec, md, truth


def _objects(capsys, *argv) -> tuple[dict[int, str], dict]:
    code = main(["regions", *argv, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    return {r["id"]: r["object"] for r in doc["regions"]}, doc


def test_every_region_named_without_the_vmlinux(simulated, capsys):
    rec, md, truth = simulated
    got, doc = _objects(capsys, str(md))
    assert got == truth
    assert doc["meminspect"].startswith("v3 (ID 26 is clear_seq")
    # the dynamic registrations: the mem_section root, node 0's pglist_data, one runqueue per
    # possible CPU on the CPU it belongs to
    dynamic = {truth[i] for i in truth if i >= 44}
    assert {"runqueues[cpu0]", "runqueues[cpu1]"} <= dynamic
    if rec.get("arch") != "arm":      # Debian's armmp-lpae is FLATMEM without NUMA
        assert {"mem_section[] root", "node_data[0]"} <= dynamic


def test_every_region_named_from_the_symbol_table(simulated, capsys):
    rec, md, truth = simulated
    got, doc = _objects(capsys, str(md), "--vmlinux", rec["vmlinux"])
    assert got == truth
    assert "from the vmlinux's symbols" in doc["objects"]
    assert doc["uncaptured"] == []      # Debian's kernels have no .inspect_table


def test_runqueues_of_the_right_cpu(simulated, capsys):
    """Each runqueue region is cpu_rq(cpu) of its own CPU: its address is &runqueues plus
    that CPU's __per_cpu_offset, whichever way the IDs were handed out."""
    rec, md, truth = simulated
    for argv in ([str(md)], [str(md), "--vmlinux", rec["vmlinux"]]):
        got, _ = _objects(capsys, *argv)
        rqs = {i: name for i, name in got.items() if name.startswith("runqueues[")}
        assert rqs == {i: name for i, name in truth.items() if name.startswith("runqueues[")}
        assert len(rqs) >= 2


def test_arm_blobs_without_the_header_open_in_crash(simulated, capsys, tmp_path):
    """32-bit arm: VMCOREINFO names no arch and no PHYS_OFFSET.  Without the kernel's ELF
    header blob, build still finds both in the capture (32-bit symbols; the regions whose IDs
    VMCOREINFO places), gives every region the header's virtual address, and info's crash
    command line (--machdep phys_base=) makes that arch's real crash print the full log."""
    rec, md, truth = simulated
    if rec.get("arch") != "arm":
        pytest.skip("32-bit arm only")
    with_header, _ = _objects(capsys, str(md))
    header = {r["id"]: r["vaddr"] for r in json.loads(_regions_json(capsys, str(md)))["regions"]}
    bare = tmp_path / "md"
    bare.mkdir()
    for blob in md.iterdir():
        if blob.name != "md_KELF1.BIN":
            (bare / blob.name).write_bytes(blob.read_bytes())
    got = {r["id"]: r["vaddr"] for r in json.loads(_regions_json(capsys, str(bare)))["regions"]}
    assert {i: v for i, v in got.items() if i != 1} == {i: v for i, v in header.items() if i != 1}
    out = tmp_path / "arm.vmcore"
    assert main(["build", "--from-table", str(bare), "-o", str(out)]) in (0, 3)
    capsys.readouterr()
    assert main(["info", str(out), "--json"]) in (0, 3)
    doc = json.loads(capsys.readouterr().out)
    command = next(c["command"] for c in doc["consumers"] if c["consumer"] == "crash --minimal")
    assert "--machdep phys_base=" in command
    from builders.realkernel import load_tool
    harness = load_tool("harness")
    crash = harness.crash_command("arm")
    if crash is None:
        pytest.skip("no crash for arm: harness.py --arch arm fetch")
    import subprocess
    machdep = command.split("--machdep ")[1].split()[0]
    proc = subprocess.run([*crash, "--minimal", "--machdep", machdep, rec["vmlinux"], str(out)],
                          input="log\nq\n", capture_output=True, text=True, timeout=1800)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    assert lines and lines == harness.crash_log(rec["vmlinux"], rec["vmcore"], "arm")


def _regions_json(capsys, *argv) -> str:
    assert main(["regions", *argv, "--json"]) in (0, 3)
    return capsys.readouterr().out
