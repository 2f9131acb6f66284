"""kallsyms decoded from real Debian kernels' captures, judged by the vmlinux's .symtab and by
drgn's own kallsyms loader; and ``info`` on md_*.BIN blobs cut from a real panic (opt-in).

Run:  python tools/realkernel/harness.py all; python tools/realkernel/harness.py --arch arm64 all
      (plus ``capture --panic-kaslr`` on each for the md check)
      MINIDUMP_REALKERNEL=1 python -m pytest -m realkernel tests/realkernel/test_realkernel_kallsyms.py -q
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

import minidump
from builders.realkernel import captures
from minidump.cli import main
from minidump.kernel.crash import frame_text

TOOLS = Path(__file__).parents[2] / "tools" / "realkernel"
ENABLED = os.environ.get("MINIDUMP_REALKERNEL") == "1"
pytestmark = [pytest.mark.realkernel,
              pytest.mark.skipif(not ENABLED, reason="opt-in: MINIDUMP_REALKERNEL=1")]


def _load(name: str):
    from builders.realkernel import load_tool
    return load_tool(name)


ALL = captures(("x86_64", "arm64"), ("captures", "panics"))


def _rec(name: str) -> dict:
    if name not in ALL:
        arch = "x86_64" if "amd64" in name else "arm64"
        pytest.skip(f"no {name}: python tools/realkernel/harness.py --arch {arch} all / capture")
    return ALL[name]


@pytest.mark.parametrize("name", ["cloud-amd64-kaslr", "cloud-amd64-nokaslr",
                                  "cloud-arm64-kaslr", "cloud-arm64"])
def test_kallsyms_equals_symtab_on_a_random_sample(name):
    from minidump.elf.vmlinux import Vmlinux
    rec = _rec(name)
    with minidump.open(rec["vmcore"]) as cap, Vmlinux.open(rec["vmlinux"]) as image:
        table = cap.kallsyms()
        shift = cap.vmcoreinfo.kerneloffset or 0
        assert len(table) > 40_000
        sample = random.Random(10).sample(table.symbols, 1000)
        for symbol in sample:
            candidates = image.symbols.all(symbol.name)
            assert candidates, symbol.name
            # percpu symbols are absolute (offsets into the percpu area): never relocated
            assert symbol.address in {s.runtime(shift) for s in candidates} | {
                s.value for s in candidates}, (symbol, candidates)
        assert table.address("_stext") == cap.vmcoreinfo.symbol("_stext")


@pytest.mark.parametrize("name", ["cloud-amd64-panic-kaslr", "cloud-arm64-panic-kaslr"])
def test_symbols_profile_minidump_drgn_kallsyms_agree(name, tmp_path, capsys):
    drgn = pytest.importorskip("drgn")
    try:
        from drgn.helpers.linux.kallsyms import load_vmlinux_kallsyms
    except ImportError:
        pytest.skip(f"drgn {drgn.__version__} has no load_vmlinux_kallsyms")
    rec = _rec(name)
    out = str(tmp_path / "symbols.vmcore")
    assert main(["extract", "--vmlinux", rec["vmlinux"], rec["vmcore"], "--regions",
                 "v3-default", "--profile", "symbols", "-o", out, "-q"]) == 0
    prog = drgn.Program()
    prog.set_core_dump(out)                     # no debuginfo at all
    index = load_vmlinux_kallsyms(prog)
    prog.register_symbol_finder("vmlinux_kallsyms", index, enable_index=0)
    with minidump.open(out) as cap:
        ours = cap.kallsyms()
    probe = "jiffies_64" if ours.address("jiffies_64") is not None else "panic"
    assert prog.symbol(probe).address == ours.address(probe)
    for symbol in random.Random(3).sample(ours.symbols, 200):
        assert symbol.address in {s.address for s in prog.symbols(symbol.name)}, symbol
    # and info names each CPU's PC on the minidump as on the full dump
    main(["info", out, "--json"])
    mini = json.loads(capsys.readouterr().out)["facts"]
    main(["info", rec["vmcore"], "--json"])
    full = json.loads(capsys.readouterr().out)["facts"]
    assert mini["cpus"] == full["cpus"] and all(c["pc_symbol"] for c in full["cpus"])
    assert mini["symbols"]["count"] == len(ours)


@pytest.mark.parametrize("name", ["cloud-amd64-panic-kaslr", "cloud-arm64-panic-kaslr"])
def test_info_on_md_blobs_of_a_real_panic(name, tmp_path, capsys):
    """The panic dump's v3-default regions as md_K*.BIN blobs + a Sahara table (no ELF header
    blob), as firmware hands them over: ``info`` names the event, the faulting function and
    the call trace exactly as the serial console printed them."""
    drgn = pytest.importorskip("drgn")
    del drgn
    from drgn.helpers.linux.mm import follow_phys
    arm64 = _load("checks")         # its md_*.BIN writer and PT_LOAD reader serve both arches
    from test_panic import console_trace
    rec = _rec(name)
    mini = tmp_path / "mini.vmcore"
    assert main(["extract", "--json", "--vmlinux", rec["vmlinux"], rec["vmcore"], "--regions",
                 "v3-default", "-o", str(mini)]) == 0
    report = json.loads(capsys.readouterr().out)
    prog = arm64.open_drgn(rec["vmcore"], rec["vmlinux"])
    vi_va = int(prog["vmcoreinfo_data"].value_())
    vi_pa = int(follow_phys(prog["init_mm"].address_of_(), vi_va))
    text = prog.read(vi_va, int(prog["vmcoreinfo_size"].value_()))
    loads = {seg["paddr"]: seg for seg in arm64.pt_loads(mini)}
    regions = [{"name": r["name"], "paddr": r["paddr"], "vaddr": r["vaddr"],
                "data": loads[r["paddr"]]["data"]}
               for r in report["regions"] if r["status"] == "written"]
    md = tmp_path / "md"
    arm64.write_md_dir(md, text, vi_pa, regions)
    assert main(["info", str(md), "--json"]) in (0, 3)
    crash = json.loads(capsys.readouterr().out)["crash"]
    frames, cpu_line = console_trace(rec["console_log"])
    assert crash["event"] == "sysrq-crash"
    assert crash["panic"]["message"] == "sysrq triggered crash"
    assert [frame_text(f) for f in crash["frames"]] == frames
    assert cpu_line.startswith(f"CPU: {crash['context']['cpu']} PID: {crash['context']['pid']} ")
    main(["info", rec["vmcore"], "--json"])
    assert crash["signature"] == json.loads(capsys.readouterr().out)["crash"]["signature"]
