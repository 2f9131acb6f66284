"""Real-kernel tests on the QEMU captures of tools/realkernel (opt-in).

Run:  python tools/realkernel/harness.py all      # once: ~310 MB download, ~40 s
      MINIDUMP_REALKERNEL=1 python -m pytest -m realkernel tests/realkernel -q

The consumers judge: ``crash --minimal`` must print the same ``log`` for the
minidump as for the full dump, and drgn must read the same
``init_uts_ns.name.release`` and ``jiffies_64``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import minidump
from minidump.cli import main
from minidump.elf.core import read_core
from minidump.elf.vmlinux import Vmlinux
from minidump.kernel.image import find_image, vmcoreinfo_from_memory
from minidump.kernel.memory import Extent, PhysicalMemory

HARNESS = Path(__file__).parents[2] / "tools" / "realkernel" / "harness.py"
pytestmark = [pytest.mark.realkernel,
              pytest.mark.skipif(os.environ.get("MINIDUMP_REALKERNEL") != "1",
                                 reason="opt-in: MINIDUMP_REALKERNEL=1")]


def _harness():
    from builders.realkernel import load_harness
    return load_harness()


def _captures() -> dict:
    if os.environ.get("MINIDUMP_REALKERNEL") != "1":
        return {}
    out = subprocess.run([sys.executable, str(HARNESS), "paths"], text=True,
                         capture_output=True, check=True).stdout
    return json.loads(out)["captures"]


CAPTURES = _captures()
NAMES = sorted(CAPTURES) or ["none"]


@pytest.fixture(params=NAMES)
def rec(request):
    if request.param not in CAPTURES:
        pytest.skip("no captures: python tools/realkernel/harness.py all")
    return CAPTURES[request.param]


def test_extract_crash_log_and_drgn_match_full_dump(rec, tmp_path, capsys):
    out = str(tmp_path / "mini.vmcore")
    assert main(["extract", "--json", "--vmlinux", rec["vmlinux"], rec["vmcore"],
                 "--regions", "v3-default", "--profile", "crash", "-o", out]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["totals"]["lost"] == 0
    # the base variables first; then what crash's normal mode walks
    # (tests/realkernel/test_crash_normal_mode.py)
    assert [a["name"] for a in doc["profile"]][:4] == ["page_offset_base", "vmalloc_base",
                                                       "vmemmap_base", "kexec_crash_image"]
    if "log_buf_len=1M" in rec["cmdline"]:
        # the log moved to buffers setup_log_buf allocated: extract follows prb to them
        dynamic = [r for r in doc["regions"] if r["name"].startswith("printk_rb_dynamic.")]
        assert [r["object"] for r in dynamic] == [r["name"] for r in dynamic]
        assert sum(r["size"] for r in dynamic) >= 1 << 20
        assert os.path.getsize(out) < 10 << 20 < rec["vmcore_bytes"]
    else:
        assert os.path.getsize(out) < 3 << 20 < rec["vmcore_bytes"]
    # the full dump's log without a vmlinux (KASLR and a larger log: through the randomized
    # direct map, found by page_offset_base in the dump's own kallsyms) is the minidump's
    assert main(["dmesg", rec["vmcore"]]) == 0
    full_log = capsys.readouterr().out
    assert main(["dmesg", out]) == 0
    assert capsys.readouterr().out == full_log and rec["kmsg_lines"][0] in full_log
    harness = _harness()
    if shutil.which("crash"):
        mini = harness.crash_log(rec["vmlinux"], out)
        assert mini == harness.crash_log(rec["vmlinux"], rec["vmcore"])
        assert rec["kmsg_lines"][0] in "\n".join(mini)
    pytest.importorskip("drgn")
    assert harness.drgn_values(rec["vmlinux"], out) == harness.drgn_values(rec["vmlinux"],
                                                                           rec["vmcore"])


def test_vmcoreinfo_from_memory_equals_note(rec):
    """Without the note, VMCOREINFO comes from vmcoreinfo_data (KASLR: image found by banner)."""
    core = read_core(rec["vmcore"])
    memory = PhysicalMemory([Extent(load.paddr, load.filesz, core.path, load.offset)
                             for load in core.loads if load.filesz], name=core.path)
    with Vmlinux.open(rec["vmlinux"]) as vmlinux, memory:
        info, source = vmcoreinfo_from_memory(find_image(memory, vmlinux), path=core.path)
        assert info.raw == core.vmcoreinfo
        assert source.startswith("vmcoreinfo_data at PA ")


def test_memblock_layout_from_btf_reads_real_arrays(rec):
    from minidump.meminspect.static import open_debuginfo
    from minidump.meminspect.memblock import layout_from_debuginfo, read_memblock
    with Vmlinux.open(rec["vmlinux"]) as vmlinux, minidump.open(
            rec["vmcore"], vmlinux=rec["vmlinux"]) as capture:
        info = open_debuginfo(rec["vmlinux"])
        layout = layout_from_debuginfo(info, 64)
        info.close()
        regions = read_memblock(vmlinux, capture.kernel, layout)
    memory = [r for r in regions if r.type == "memory"]
    assert memory[0].base == 0x1000 and sum(r.size for r in memory) > 500 << 20
    assert not [r for r in regions if r.inspect]   # 6.1 has no meminspect


def test_inspect_table_absent_and_symbol_index(rec, capsys):
    with Vmlinux.open(rec["vmlinux"]) as vmlinux:   # timing: tests/bench/test_bench_extract.py
        assert len(vmlinux.symbols) > 100_000
        assert vmlinux.symbol("jiffies_64").size == 8
    assert main(["regions", "--vmlinux", rec["vmlinux"], "--json"]) == 0
    assert "built without meminspect" in json.loads(capsys.readouterr().out)["warnings"][0]


@pytest.mark.skipif(shutil.which("crash") is None, reason="needs crash")
def test_info_crash_minimal_verdict_is_what_real_crash_does(rec, tmp_path, capsys):
    """`info`'s crash --minimal verdict against crash itself: a minidump with the crash
    profile opens and prints the log; one without the randomized bases does not, and
    info says so, naming page_offset_base."""
    harness = _harness()
    full_log = harness.crash_log(rec["vmlinux"], rec["vmcore"])
    assert full_log
    seen = {}
    for case, extra in (("profile", ["--profile", "crash"]), ("bare", [])):
        out = str(tmp_path / f"{case}.vmcore")
        assert main(["extract", "-q", "--vmlinux", rec["vmlinux"], rec["vmcore"],
                     "--regions", "v3-default", *extra, "-o", out]) == 0
        main(["info", out, "--vmlinux", rec["vmlinux"], "--json"])
        doc = json.loads(capsys.readouterr().out)
        verdict = doc["ready"]["crash --minimal"]
        opened = harness.crash_log(rec["vmlinux"], out) == full_log
        assert verdict is opened, (case, doc["consumers"][0])
        seen[case] = (verdict, doc["consumers"][0]["blocker"])
    assert seen["profile"] == (True, None)
    assert seen["bare"][0] is False and seen["bare"][1].startswith("page_offset_base missing")
    # the full dump, without a vmlinux: the bases are found through its kallsyms tables
    main(["info", rec["vmcore"], "--json"])
    assert json.loads(capsys.readouterr().out)["ready"]["crash --minimal"] is True
