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
from minidump.cli import main

ENABLED = os.environ.get("MINIDUMP_REALKERNEL") == "1"
CACHE = Path(os.environ.get("MINIDUMP_REALKERNEL_CACHE")
             or Path.home() / ".cache" / "minidump-realkernel")
pytestmark = [pytest.mark.realkernel,
              pytest.mark.skipif(not ENABLED, reason="opt-in: MINIDUMP_REALKERNEL=1")]


def _records() -> dict[str, dict]:
    """The harness's 64-bit capture records (default memory size) found in its cache."""
    out = {}
    for path in sorted(CACHE.glob("**/*.json")) if ENABLED else ():
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(rec, dict) or not {"vmcore", "vmlinux"} <= rec.keys():
            continue
        if rec.get("memory", "512M") != "512M" or not Path(rec["vmcore"]).exists():
            continue
        if rec.get("arch", "x86_64" if "amd64" in path.name else "arm64") in ("x86_64", "arm64"):
            out[path.stem] = rec
    return out


RECORDS = _records()


@pytest.fixture(scope="module", params=sorted(RECORDS) or ["none"])
def simulated(request, tmp_path_factory):
    if request.param not in RECORDS:
        pytest.skip("no x86_64/arm64 capture: python tools/realkernel/harness.py all")
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
    assert {"mem_section[] root", "node_data[0]", "runqueues[cpu0]", "runqueues[cpu1]"} <= dynamic


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
