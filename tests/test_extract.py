"""``minidump extract`` on a synthetic x86_64 machine: runtime ``inspect_entries[]``,
memblock INSPECT, ``--regions``, ``--profile crash``, raw images without a
VMCOREINFO note, regions spanning two PT_LOADs.  Oracles: the RAM bytes
themselves, pyelftools re-reading our output, and drgn."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import pytest
from test_vmlinux import LINK_TEXT, STB_LOCAL, Sec, Sym, VmlinuxSpec, make_vmlinux

from minidump.cli import main
from minidump.formats.meminspect import inspect_entry
from minidump.formats.memblock import memblock_structs
from minidump.model import Arch, Capture, Payload, Region
from minidump.elf.core import read_core
from minidump.vmcore.plan import plan_capture, write_vmcore

START_KERNEL_MAP = 0xFFFFFFFF80000000
PAGE_OFFSET = 0xFFFF9B0000000000      # a randomized direct map (RANDOMIZE_MEMORY)
RAM_SIZE = 0x8000000
VMCOREINFO_PA, RESERVED_PA, DYNAMIC_PA, INSPECT_SIZE = 0x7000000, 0x7100000, 0x7200000, 0x1000
JIFFIES = 0x1122334455667788
BANNER = b"Linux version 6.1.0-test (synthetic) #1 SMP\n\0".ljust(0x40, b"\0")
OFF = {"linux_banner": 0x100, "jiffies_64": 0x200, "page_offset_base": 0x208,
       "vmalloc_base": 0x210, "vmemmap_base": 0x218, "vmcoreinfo_data": 0x220,
       "vmcoreinfo_size": 0x228, "kexec_crash_image": 0x230, "memblock": 0x300,
       "memblock_memory_init_regions": 0x400, "inspect_entries": 0x800}
SIZE = {"linux_banner": 0x40, "memblock": 96, "memblock_memory_init_regions": 24 * 4,
        "inspect_entries": 201 * 40}


@dataclass
class Machine:
    vmlinux: str
    ram: str             # raw image of physical [0, RAM_SIZE)
    kerneloffset: int
    text_pa: int
    vmcoreinfo: bytes

    def va(self, name: str) -> int:
        return LINK_TEXT + OFF[name] + self.kerneloffset

    def pa(self, name: str) -> int:
        return self.text_pa + OFF[name]

    def ram_bytes(self, paddr: int, size: int) -> bytes:
        with open(self.ram, "rb") as fh:
            fh.seek(paddr)
            return fh.read(size)


def _u64(value: int) -> bytes:
    return value.to_bytes(8, "little")


def make_machine(tmp_path, *, kaslr: bool) -> Machine:
    """vmlinux + a sparse 128 MiB RAM image of a booted (synthetic) meminspect kernel."""
    kerneloffset, text_pa = (0x2E00000, 0x6000000) if kaslr else (0, 0x1000000)
    phys_base = text_pa - (LINK_TEXT - START_KERNEL_MAP) - kerneloffset
    machine = Machine(str(tmp_path / "vmlinux"), str(tmp_path / "ram.bin"), kerneloffset,
                      text_pa, b"")
    info = (f"OSRELEASE=6.1.0-test\nPAGESIZE=4096\nSYMBOL(swapper_pg_dir)="
            f"{LINK_TEXT + 0x3000 + kerneloffset:x}\nNUMBER(phys_base)={phys_base}\n"
            f"KERNELOFFSET={kerneloffset:x}\n").encode()
    machine.vmcoreinfo = info

    link = bytearray(0x4000)                   # .data as linked: only the banner is set
    link[OFF["linux_banner"]:OFF["linux_banner"] + 0x40] = BANNER
    image = bytearray(link)                    # .data at runtime
    image[0x200:0x208] = _u64(JIFFIES)
    for name, value in (("page_offset_base", PAGE_OFFSET), ("vmalloc_base", PAGE_OFFSET + (1 << 45)),
                        ("vmemmap_base", PAGE_OFFSET + (1 << 46)),
                        ("vmcoreinfo_data", PAGE_OFFSET + VMCOREINFO_PA),
                        ("vmcoreinfo_size", len(info))):
        image[OFF[name]:OFF[name] + 8] = _u64(value)
    structs = memblock_structs(True, 64)
    mtype = lambda cnt, regions, name: dict(cnt=cnt, max=4, total_size=0, regions=regions,  # noqa: E731
                                            name=name)
    image[0x300:0x300 + 96] = structs.memblock.build(dict(
        bottom_up=0, current_limit=0, memory=mtype(2, machine.va("memblock_memory_init_regions"), 0),
        reserved=mtype(1, PAGE_OFFSET + RESERVED_PA, 0)))
    region = structs.memblock_region
    image[0x400:0x400 + 48] = region.build(dict(base=0, size=VMCOREINFO_PA, flags=0, nid=0)) + \
        region.build(dict(base=DYNAMIC_PA, size=INSPECT_SIZE, flags=0x80 | 0x100, nid=0))
    entry = inspect_entry(True, 64)
    slots = {2: (PAGE_OFFSET + VMCOREINFO_PA, VMCOREINFO_PA, len(info)),
             10: (machine.va("jiffies_64"), machine.pa("jiffies_64"), 8),
             11: (machine.va("linux_banner"), machine.pa("linux_banner"), 0x40),
             44: (PAGE_OFFSET + DYNAMIC_PA, DYNAMIC_PA, 0x100)}
    for uid, (va, pa, size) in slots.items():
        at = OFF["inspect_entries"] + uid * 40
        image[at:at + 40] = entry.build(dict(id=uid, va=va, pa=pa, size=size, type=0))

    table = b"".join(entry.build(dict(id=uid, va=LINK_TEXT + OFF[name], pa=0, size=size, type=0))
                     for uid, name, size in ((10, "jiffies_64", 8), (11, "linux_banner", 0x40)))
    symbols = [Sym("_text", LINK_TEXT, 0, 0)] + [
        Sym(name, LINK_TEXT + off, SIZE.get(name, 8),
            bind=STB_LOCAL if name in ("inspect_entries", "memblock_memory_init_regions") else 1)
        for name, off in OFF.items()]
    with open(machine.vmlinux, "wb") as fh:
        fh.write(make_vmlinux(VmlinuxSpec(sections=[
            Sec(".data", LINK_TEXT, bytes(link)),
            Sec(".inspect_table", LINK_TEXT + 0x8000, table)], symbols=symbols)))
    with open(machine.ram, "wb") as fh:
        fh.truncate(RAM_SIZE)                  # sparse: only what is written below takes space
        for paddr, data in ((text_pa, image), (VMCOREINFO_PA, info),
                            (RESERVED_PA, region.build(dict(base=RESERVED_PA, size=0x1000,
                                                            flags=0, nid=0))),
                            (DYNAMIC_PA, bytes(range(256)) * 16)):
            fh.seek(paddr)
            fh.write(data)
    return machine


def make_elf_core(machine: Machine, path: str, ranges: list[tuple[int, int]]) -> str:
    """An ELF vmcore holding the given physical ranges of the RAM image, with the note."""
    regions = [Region(f"ram{i}", size, paddr, None, None, "ram",
                      Payload(machine.ram, paddr, size)) for i, (paddr, size) in enumerate(ranges)]
    capture = Capture(machine.ram, "test", regions, machine.vmcoreinfo, "test", [], Arch(62))
    with open(path, "wb") as fh:
        write_vmcore(plan_capture(capture), fh)
    return path


def loads(path: str) -> list[tuple[int, int, int, int]]:
    """(p_paddr, p_vaddr, p_filesz, p_offset) of each PT_LOAD, read by pyelftools."""
    from elftools.elf.elffile import ELFFile
    with open(path, "rb") as fh:
        return [(seg["p_paddr"], seg["p_vaddr"], seg["p_filesz"], seg["p_offset"])
                for seg in ELFFile(fh).iter_segments() if seg["p_type"] == "PT_LOAD"]


def check_bytes(machine: Machine, out: str) -> None:
    """Every PT_LOAD of ``out`` holds the RAM bytes at its p_paddr."""
    with open(out, "rb") as fh:
        for paddr, _, size, offset in loads(out):
            fh.seek(offset)
            assert fh.read(size) == machine.ram_bytes(paddr, size), hex(paddr)


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
    assert doc["vmcoreinfo"] == (f"6.1.0-test ({len(machine.vmcoreinfo)} bytes from "
                                 f"vmcoreinfo_data at PA {VMCOREINFO_PA:#x})")
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


def test_extract_usage_errors(machine, tmp_path, capsys):
    bare = tmp_path / "plain"
    bare.write_bytes(make_vmlinux(VmlinuxSpec(sections=[Sec(".data", LINK_TEXT, bytes(64))],
                                              symbols=[Sym("jiffies_64", LINK_TEXT, 8)])))
    assert main(["extract", "--vmlinux", str(bare), f"{machine.ram}@0", "-o",
                 str(tmp_path / "o")]) == 1   # no linux_banner: cannot find VMCOREINFO
    assert capsys.readouterr().err.endswith("ram.bin: no VMCOREINFO note, and reading it from "
                                            "memory failed: symbol _text is not in the vmlinux\n")
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
    assert prog.read(machine.va("jiffies_64"), 8) == _u64(JIFFIES)           # by p_vaddr
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
