"""The vmcore remembers what it holds: every region's meminspect ID, firmware name, object
and status (the MINIDUMP note), and section headers named after the objects.

Oracles: ``regions`` and ``info`` on the capture the vmcore came from; binutils'
``readelf -S``; and crash, drgn, makedumpfile and vmcore-dmesg, which must read the vmcore
exactly as they read the same vmcore written without the note and the sections.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

import minidump
from builders import ROOT, SAMPLES, info_facts, memory_args
from builders.elf import memory_and_notes
from minidump.cli import main
from minidump.formats.elf import VMCOREINFO_NOTE_NAME
from minidump.model import Note
from minidump.vmcore import metadata
from minidump.vmcore.plan import plan_vmcore
from minidump.vmcore.write import write_vmcore

CONTAINERS = {
    "mddir": [str(SAMPLES / "md")],
    "rawdump": [str(SAMPLES / "rawdump.img")],
    "ram": [str(SAMPLES / "ram" / "smem.bin"), *memory_args(SAMPLES / "ram")],
    "mddir-sahara": [str(SAMPLES / "md-nokelf"), "--arch", "arm64"],
}


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """The md dir with one blob cut short and one missing: lost regions to remember."""
    md = tmp_path_factory.mktemp("damaged") / "md"
    shutil.copytree(SAMPLES / "md", md)
    (md / "md_Kconfig3.BIN").write_bytes((md / "md_Kconfig3.BIN").read_bytes()[:16])
    (md / "md_Ktotalram4.BIN").unlink()
    return [str(md)]


def _json(capsys, *argv) -> tuple[int, dict]:
    code = main(list(argv))
    return code, json.loads(capsys.readouterr().out)


def _rows(doc: dict) -> list[tuple]:
    return [(r["id"], r["name"], r["object"], r["paddr"], r["vaddr"], r["size"], r["status"],
             r["reason"]) for r in doc["regions"]]


@pytest.mark.parametrize("name", [*CONTAINERS, "damaged"])
def test_regions_and_info_of_the_vmcore_are_the_captures(name, damaged, tmp_path, capsys):
    args = damaged if name == "damaged" else CONTAINERS[name]
    out = tmp_path / "out.vmcore"
    code = main(["build", "--from-table", *args, "-o", str(out), "-q"])
    assert code == (3 if name in ("damaged", "mddir-sahara") else 0)
    capsys.readouterr()
    source_code, source = _json(capsys, "regions", *args, "--json")
    vmcore_code, vmcore = _json(capsys, "regions", str(out), "--json")
    assert vmcore_code == source_code
    assert _rows(vmcore) == _rows(source)
    assert vmcore["totals"] == source["totals"]
    assert (vmcore["objects"], vmcore["meminspect"]) == (source["objects"], source["meminspect"])
    lost = [r for r in _rows(vmcore) if r[6] in ("short", "missing")]
    assert len(lost) == (2 if name == "damaged" else 1 if name == "mddir-sahara" else 0)
    info_code, info = _json(capsys, "info", *args, "--json")
    vmcore_code, vmcore_info = _json(capsys, "info", str(out), "--json")
    assert vmcore_code == info_code and info_facts(vmcore_info) == info_facts(info)
    facts = info["facts"]
    assert facts["jiffies_source"] == "jiffies_64, meminspect ID 10"
    assert facts["banner_source"] == "memory (linux_banner, meminspect ID 11)"


def test_a_vmcore_built_from_a_vmcore_is_the_same_file(damaged, tmp_path, capsys):
    first, second = tmp_path / "a.vmcore", tmp_path / "b.vmcore"
    assert main(["build", "--from-table", *damaged, "-o", str(first), "-q"]) == 3
    assert main(["build", "--from-table", str(first), "-o", str(second), "-q"]) == 3
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.skipif(shutil.which("readelf") is None, reason="needs readelf (binutils)")
def test_readelf_lists_each_region_by_its_object(tmp_path):
    out = tmp_path / "out.vmcore"
    with minidump.open(SAMPLES / "md") as cap:
        cap.write_vmcore(out)
        written = [r for r in cap.regions if r.status is minidump.Status.WRITTEN and r.paddr]
    listing = subprocess.run(["readelf", "-S", "-W", str(out)], capture_output=True, text=True,
                             check=True).stdout
    rows = [line.split("]", 1)[1].split() for line in listing.splitlines() if "PROGBITS" in line]
    assert len(rows) == len(written) == 53
    loads = memory_and_notes(out)[0]
    for row, region, (paddr, vaddr, data) in zip(rows, written, loads):
        name, fields = " ".join(row[:row.index("PROGBITS")]), row[row.index("PROGBITS") + 1:]
        assert name == metadata.section_name(region)
        assert (int(fields[0], 16), int(fields[2], 16)) == (vaddr, region.size)
        assert data == minidump.open(SAMPLES / "md").read(paddr, region.size)
    for obj in ("init_uts_ns", "jiffies_64", "linux_banner", "runqueues[cpu3]",
                "_printk_rb_static_descs"):
        assert f" {obj} " in listing
    assert "readelf: Warning" not in listing


def _with_and_without(tmp_path, args: list[str]):
    """The vmcore build writes, and the same written without the note and the sections."""
    new, old = tmp_path / "new.vmcore", tmp_path / "old.vmcore"
    with minidump.open(args[0], memory=args[2::2]) as cap:
        cap.write_vmcore(new)
        plan = plan_vmcore(cap.regions, cap.vmcoreinfo.raw, cap.notes, cap.elf_arch,
                           remember=False)
        with open(old, "wb") as fh:
            write_vmcore(plan, fh)
    assert memory_and_notes(new) == memory_and_notes(old)
    assert new.stat().st_size > old.stat().st_size
    return new, old


def _tool(argv: list[str]) -> tuple[int, str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", ["mddir", "ram"])
def test_consumers_read_it_as_before(name, tmp_path):
    new, old = _with_and_without(tmp_path, CONTAINERS[name])
    if shutil.which("vmcore-dmesg"):
        got = _tool(["vmcore-dmesg", str(new)])
        assert got == _tool(["vmcore-dmesg", str(old)]) and got[0] == 0
        assert "sysrq triggered crash" in got[1]
    if shutil.which("crash"):
        assert _tool(["crash", "--osrelease", str(new)]) == \
            _tool(["crash", "--osrelease", str(old)])
    if shutil.which("makedumpfile"):
        got = [_tool(["makedumpfile", "--dump-dmesg", str(path), str(tmp_path / f"{i}.txt")])
               for i, path in enumerate((new, old))]
        assert got[0][0] == got[1][0]
        assert got[0][1].replace("0.txt", "") == got[1][1].replace("1.txt", "")
    drgn = pytest.importorskip("drgn")
    progs = []
    for path in (new, old):
        prog = drgn.Program()
        prog.set_core_dump(str(path))
        progs.append(prog)
    assert progs[0].flags == progs[1].flags and progs[0].platform == progs[1].platform
    for paddr, vaddr, data in memory_and_notes(new)[0]:
        for prog in progs:
            assert prog.read(paddr, len(data), True) == data
            if vaddr:
                assert prog.read(vaddr, len(data)) == data


@pytest.mark.parametrize("damage,said", [
    (lambda d: d.replace(b'"version":1', b'"version":9'), "version 9 is not 1"),
    (lambda d: d.replace(b'"load":52', b'"load":99'), "PT_LOAD 99 is not one of the 53"),
    (lambda d: d.replace(b'"paddr":2183331904', b'"paddr":2183331905'),
     "is recorded at PA 0x82230041"),
    (lambda d: d[:40], "not JSON"),
])
def test_a_damaged_note_is_ignored_and_said(damage, said, tmp_path, capsys):
    """Untrusted: a note that does not fit the file leaves the PT_LOADs, and one warning."""
    with minidump.open(SAMPLES / "md") as cap:
        plan = cap.plan()
    desc = metadata.encode(list(plan.regions), {i: n for n, i in
                                               enumerate(load.region for load in plan.loads)},
                           "meminspect")
    bad = damage(desc)
    assert bad != desc
    plan_bad = plan_vmcore(list(plan.regions), None, [
        *cap.notes, Note(VMCOREINFO_NOTE_NAME, 0, cap.vmcoreinfo.raw),
        Note(metadata.NOTE_NAME, metadata.NT_MINIDUMP_REGIONS, bad)], plan.arch, remember=False)
    out = tmp_path / "bad.vmcore"
    with open(out, "wb") as fh:
        write_vmcore(plan_bad, fh)
    code, doc = _json(capsys, "regions", str(out), "--json")
    assert code == 0
    assert [r["name"] for r in doc["regions"]][:2] == ["PT_LOAD[1]", "PT_LOAD[2]"]
    warning = next(w for w in doc["warnings"] if "MINIDUMP note ignored" in w)
    assert said in warning


@pytest.mark.parametrize("kaslr", [False, True], ids=["nokaslr", "kaslr"])
def test_extract_writes_a_vmcore_that_answers_as_its_capture(kaslr, tmp_path):
    """extract (synthetic x86_64 meminspect machine): the minidump's regions and facts, read
    back with the same vmlinux, are those of the Capture extract returned."""
    from builders.machine import make_machine
    machine = make_machine(tmp_path, kaslr=kaslr)
    out = tmp_path / "mini.vmcore"
    with minidump.extract(f"{machine.ram}@0", vmlinux=machine.vmlinux) as mini:
        want_regions = [(r.id, r.name, r.object, r.paddr, r.vaddr, r.size, r.status)
                        for r in mini.regions]
        want_facts = mini.facts()
        mini.write_vmcore(out)
    with minidump.open(out, vmlinux=machine.vmlinux) as cap:
        assert [(r.id, r.name, r.object, r.paddr, r.vaddr, r.size, r.status)
                for r in cap.regions] == want_regions
        assert info_facts(cap.facts()) == info_facts(want_facts)
    assert {"jiffies_64", "linux_banner"} <= {r[1] for r in want_regions}


REAL_V3 = sorted(p for p in (ROOT / "tests" / "data" / "meminspect-v3").glob("*/*")
                 if p.name in ("minidump.elf", "md"))


@pytest.mark.parametrize("path", REAL_V3, ids=[f"{p.parent.name}/{p.name}" for p in REAL_V3])
def test_real_meminspect_captures_build_vmcores_that_remember(path, tmp_path, capsys):
    """Real v3 kernels (tests/data/meminspect-v3): regions and info on the built vmcore are
    those of the kernel's own minidump.elf or md_*.BIN files."""
    out = tmp_path / "out.vmcore"
    code = main(["build", "--from-table", str(path), "-o", str(out), "-q"])
    capsys.readouterr()
    source_code, source = _json(capsys, "regions", str(path), "--json")
    assert code == source_code
    vmcore_code, vmcore = _json(capsys, "regions", str(out), "--json")
    assert (vmcore_code, _rows(vmcore)) == (source_code, _rows(source))
    info_code, info = _json(capsys, "info", str(path), "--json")
    vmcore_code, vmcore_info = _json(capsys, "info", str(out), "--json")
    assert vmcore_code == info_code and info_facts(vmcore_info) == info_facts(info)
