"""``minidump extract`` on a synthetic x86_64 machine: runtime ``inspect_entries[]``,
memblock INSPECT, ``--regions``, ``--profile crash``, raw images without a
VMCOREINFO note, regions spanning two PT_LOADs.  Oracles: the RAM bytes
themselves, pyelftools re-reading our output, and drgn."""

from __future__ import annotations

import json
import os

import pytest

from builders.machine import (BANNER, DYNAMIC_PA, JIFFIES, PAGE_OFFSET, RAM_SIZE, RESERVED_PA,
                              VMCOREINFO_PA, check_bytes, loads, make_elf_core, make_machine, u64)
from builders.vmlinux import LINK_TEXT, Sec, Sym, VmlinuxSpec, make_vmlinux
from minidump.cli import main
from minidump.elf.core import read_core

@pytest.fixture(params=[False, True], ids=["nokaslr", "kaslr"])
def machine(request, tmp_path):
    return make_machine(tmp_path, kaslr=request.param)


def _run_json(capsys, *argv) -> tuple[int, dict]:
    rc = main(list(argv) + ["--json"])
    return rc, json.loads(capsys.readouterr().out)


def test_extract_meminspect_from_elf_core(machine, tmp_path, capsys):
    core = make_elf_core(machine, str(tmp_path / "full.vmcore"),
                         [(machine.text_pa, 0x4000), (VMCOREINFO_PA, DYNAMIC_PA + 0x80 - VMCOREINFO_PA),
                          (DYNAMIC_PA + 0x80, 0x100000)])
    out = str(tmp_path / "mini.vmcore")
    rc, doc = _run_json(capsys, "extract", "--vmlinux", machine.vmlinux, core, "-o", out)
    assert rc == 0, doc
    written = {(r["id"], r["name"]): r for r in doc["regions"] if r["status"] == "written"}
    assert set(written) == {(2, "VMCOREINFO"), (10, "jiffies_64"), (11, "linux_banner"),
                            (44, "DYNAMIC (part 1/2)"), (44, "DYNAMIC (part 2/2)"),
                            (None, "memblock.memory[1] (part 2/2)")}
    # its first part has the same range as DYNAMIC's first part: written once
    assert [r["status"] for r in doc["regions"] if r["name"] == "memblock.memory[1] (part 1/2)"
            ] == ["duplicate"]
    assert written[(10, "jiffies_64")]["vaddr"] == machine.va("jiffies_64")
    assert any("unknown flags INSPECT|UNKNOWN(0x100)" in w for w in doc["warnings"])
    segs = {seg[:3] for seg in loads(out)}
    assert (machine.pa("jiffies_64"), machine.va("jiffies_64"), 8) in segs
    assert (DYNAMIC_PA, PAGE_OFFSET + DYNAMIC_PA, 0x80) in segs   # split at the PT_LOAD end
    assert (DYNAMIC_PA + 0x80, PAGE_OFFSET + DYNAMIC_PA + 0x80, 0x80) in segs
    check_bytes(machine, out)
    assert read_core(out).vmcoreinfo == machine.vmcoreinfo  # verbatim


def test_extract_raw_image_without_note_reads_vmcoreinfo_data(machine, tmp_path, capsys):
    out = str(tmp_path / "mini.vmcore")
    rc, doc = _run_json(capsys, "extract", "--vmlinux", machine.vmlinux, f"{machine.ram}@0",
                        "-o", out)
    assert rc == 0
    # no note: the text is found in memory at the start of the page vmcoreinfo_data is
    assert doc["vmcoreinfo"] == (f"6.1.0-test ({len(machine.vmcoreinfo)} bytes from "
                                 f"ram.bin: found in memory at PA {VMCOREINFO_PA:#x})")
    assert read_core(out).vmcoreinfo == machine.vmcoreinfo
    check_bytes(machine, out)
    assert len(loads(out)) == 5  # VMCOREINFO, jiffies, banner, DYNAMIC, memblock INSPECT


def test_extract_regions_file_and_profile(machine, tmp_path, capsys):
    regions = tmp_path / "my.regions"
    regions.write_text("# test\njiffies_64\nlinux_banner 0x10   # first bytes\n"
                       f"phys {RESERVED_PA:#x} 0x20\nnot_here?\n")
    out = str(tmp_path / "mini.vmcore")
    rc, doc = _run_json(capsys, "extract", "--vmlinux", machine.vmlinux, f"{machine.ram}@0",
                        "--regions", str(regions), "--profile", "crash", "-o", out)
    assert rc == 0
    by_name = {r["name"]: r for r in doc["regions"]}
    assert by_name["linux_banner"]["size"] == 0x10
    assert by_name["linux_banner"]["source"] == "my.regions:3"
    assert by_name[f"phys {RESERVED_PA:#x}"]["vaddr"] == PAGE_OFFSET + RESERVED_PA
    assert "my.regions:5: not_here is not in the vmlinux; skipped" in doc["warnings"]
    assert [a["name"] for a in doc["profile"]] == ["page_offset_base", "vmalloc_base",
                                                   "vmemmap_base", "kexec_crash_image"]
    assert by_name["page_offset_base"]["source"] == "--profile crash"
    assert by_name["page_offset_base"]["paddr"] == machine.pa("page_offset_base")
    # a region placed by a vmlinux symbol holds that symbol; a physical range holds
    # whatever the capture can tell (here nothing)
    for name in ("linux_banner", "page_offset_base", "kexec_crash_image"):
        assert by_name[name]["object"] == name
    assert by_name[f"phys {RESERVED_PA:#x}"]["object"] == "unknown"
    assert "from the vmlinux (the symbol it was extracted by)" in doc["objects"]
    check_bytes(machine, out)


def test_extract_region_outside_capture_is_lost(machine, tmp_path, capsys):
    regions = tmp_path / "r.regions"
    regions.write_text(f"jiffies_64\nphys {RAM_SIZE:#x} 0x10\n")
    rc, doc = _run_json(capsys, "extract", "--vmlinux", machine.vmlinux, f"{machine.ram}@0",
                        "--regions", str(regions), "-o", str(tmp_path / "o"))
    assert rc == 3
    # jiffies_64 is also in inspect_entries[]: written once
    assert [r["status"] for r in doc["regions"][-2:]] == ["duplicate", "missing"]


def test_regions_vmlinux_with_capture_plans_without_writing(machine, tmp_path, capsys):
    rc, doc = _run_json(capsys, "regions", f"{machine.ram}@0", "--vmlinux", machine.vmlinux)
    assert rc == 0 and doc["output"] is None
    assert doc["totals"]["by_status"] == {"written": 5}
    assert not list(tmp_path.glob("*.vmcore"))


def test_regions_previews_extract_with_regions_file_and_profile(machine, tmp_path, capsys):
    """regions takes extract's --regions and --profile: the same rows, nothing written."""
    regions = tmp_path / "my.regions"
    regions.write_text("jiffies_64\nlinux_banner 0x10\n")
    args = ["--vmlinux", machine.vmlinux, f"{machine.ram}@0", "--regions", str(regions),
            "--profile", "crash"]
    rc, preview = _run_json(capsys, "regions", *args)
    rc_x, written = _run_json(capsys, "extract", *args, "-o", str(tmp_path / "o"))
    assert (rc, rc_x) == (0, 0) and preview["output"] is None
    rows = [(r["name"], r["paddr"], r["size"], r["status"]) for r in preview["regions"]]
    assert rows == [(r["name"], r["paddr"], r["size"], r["status"]) for r in written["regions"]]
    names = {r["name"] for r in preview["regions"]}
    assert {"linux_banner", "page_offset_base"} <= names
    assert main(["regions", "--vmlinux", machine.vmlinux, "--regions", "v3-default"]) == 2
    assert "give the full capture too" in capsys.readouterr().err


def test_extract_usage_errors(machine, tmp_path, capsys):
    bare = tmp_path / "plain"
    bare.write_bytes(make_vmlinux(VmlinuxSpec(sections=[Sec(".data", LINK_TEXT, bytes(64))],
                                              symbols=[Sym("jiffies_64", LINK_TEXT, 8),
                                                       Sym("init_task", LINK_TEXT + 8, 8)])))
    # VMCOREINFO is found in memory by its shape; the vmlinux (a kernel: it has init_task)
    # has no meminspect table
    assert main(["extract", "--vmlinux", str(bare), f"{machine.ram}@0", "-o",
                 str(tmp_path / "o")]) == 2
    assert "this kernel has no meminspect" in capsys.readouterr().err
    assert main(["extract", "--vmlinux", machine.vmlinux, machine.ram, "-o",
                 str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip().endswith("give a raw RAM image as FILE@PADDR")
    assert main(["extract", "--vmlinux", machine.vmlinux, f"{machine.ram}@0", "-o",
                 machine.ram]) == 2
    assert not os.path.exists(tmp_path / "o")


def test_drgn_reads_extracted_memory(machine, tmp_path, capsys):
    drgn = pytest.importorskip("drgn")
    out = str(tmp_path / "mini.vmcore")
    assert main(["extract", "-q", "--vmlinux", machine.vmlinux, f"{machine.ram}@0", "-o",
                 out]) == 0
    prog = drgn.Program()
    prog.set_core_dump(out)
    assert prog.flags & drgn.ProgramFlags.IS_LINUX_KERNEL
    assert prog.read(machine.va("jiffies_64"), 8) == u64(JIFFIES)           # by p_vaddr
    assert prog.read(machine.pa("linux_banner"), 0x40, True) == BANNER        # by p_paddr
    assert prog.read(DYNAMIC_PA, 0x100, True) == bytes(range(256))


def test_regions_file_grammar_and_errors():
    from minidump.errors import FormatError
    from minidump.meminspect.regionsfile import load_regions, parse_regions
    specs = parse_regions("a\n\n# c\nb 0x10  # x\nphys 0x1000 4096\nc?\n", "f")
    assert [(s.line, s.symbol, s.paddr, s.size, s.optional) for s in specs] == [
        (1, "a", None, None, False), (4, "b", None, 0x10, False), (5, None, 0x1000, 4096, False),
        (6, "c", None, None, True)]
    for text, message in (("phys 0x10\n", "f: line 1: expected 'phys PADDR SIZE'"),
                          ("a b c\n", "f: line 1: expected 'SYMBOL [SIZE]'"),
                          ("x\nsym 12k\n", "f: line 2: size '12k' is not a number"),
                          ("# nothing\n", "f: no regions listed")):
        with pytest.raises(FormatError) as err:
            parse_regions(text, "f")
        assert str(err.value).startswith(message)
    path, shipped = load_regions("v3-default")
    assert path.endswith("v3-default.regions")
    assert {"jiffies_64", "__log_buf", "prb", "init_uts_ns"} <= {s.symbol for s in shipped}


def test_extract_without_vmlinux_needs_the_kernels_own_table(machine, tmp_path, capsys):
    """No --vmlinux: the runtime table is found through the capture's kallsyms; a capture
    whose VMCOREINFO locates no kallsyms cannot say where it is: one line, exit 2, nothing
    written."""
    out = tmp_path / "o"
    assert main(["extract", f"{machine.ram}@0", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "inspect_entries" in err and "--regions v3-default" in err and "Traceback" not in err
    assert not out.exists()
    assert main(["extract", "--regions", "v3-default", f"{machine.ram}@0", "-o",
                 str(out)]) == 2
    assert "give --vmlinux VMLINUX" in capsys.readouterr().err
