"""The planner (pure) and the streaming writer, judged by pyelftools, readelf and drgn."""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest
from elftools.elf.elffile import ELFFile
from hypothesis import given, settings, strategies as st

from minidump.errors import LayoutError
from minidump.formats.elf import PT
from minidump.model import Arch, Note, Payload, Region, Status
from minidump.vmcore.plan import _Written, plan_vmcore, payload_same_bytes, resolve
from minidump.vmcore.write import write_vmcore

ARM64 = Arch(183)
PAGE_OFFSET = 0xFFFF000000000000
PHYS_OFFSET = 0x80000000
KIMAGE_VOFFSET = 0xFFFF7FFF80000000 + 0x1A2B0000 - 0x1000000  # arbitrary but consistent


def vmcoreinfo_text(**extra: str) -> bytes:
    lines = ["OSRELEASE=6.18.0-test", "PAGESIZE=4096",
             f"SYMBOL(swapper_pg_dir)={0xffff800081a2b000:x}", "SYMBOL(_stext)=ffff800080010000",
             "NUMBER(VA_BITS)=48", f"NUMBER(kimage_voffset)={KIMAGE_VOFFSET:#x}",
             f"NUMBER(PHYS_OFFSET)={PHYS_OFFSET:#x}", "NUMBER(TCR_EL1_T1SZ)=0x10",
             "KERNELOFFSET=0"] + [f"{k}={v}" for k, v in extra.items()]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def blobs(tmp_path):
    """Three regions' payloads in one file, like a rawdump image."""
    data = b"".join(bytes([i]) * n for i, n in ((0x11, 0x40), (0x22, 0x1000), (0x33, 8)))
    path = tmp_path / "blobs.bin"
    path.write_bytes(data)
    regions = [
        Region(11, "Klinux_ba", paddr=0x81000000, vaddr=0x81000000 + KIMAGE_VOFFSET, size=0x40,
               source="a", payload=Payload(str(path), 0, 0x40)),
        Region(44, "Kunknown", paddr=0x9F000000, vaddr=PAGE_OFFSET + 0x1F000000, size=0x1000,
               source="b", payload=Payload(str(path), 0x40, 0x1000)),
        Region(10, "Kjiffies", paddr=0x81000100, vaddr=0x81000100 + KIMAGE_VOFFSET, size=8,
               source="c", payload=Payload(str(path), 0x1040, 8)),
    ]
    return path, regions


def test_plan_layout(blobs):
    _, regions = blobs
    resolved = resolve(regions)
    assert [r.status for r in resolved] == [Status.WRITTEN] * 3
    notes = [Note(b"CORE", 1, bytes(392))]
    plan = plan_vmcore(resolved, vmcoreinfo_text(), notes, ARM64)
    elf = ELFFile(io.BytesIO(plan.header + bytes(plan.size - len(plan.header))))
    segs = list(elf.iter_segments())
    assert segs[0]["p_type"] == "PT_NOTE" and [s["p_type"] for s in segs[1:]] == ["PT_LOAD"] * 3
    assert elf["e_phoff"] == 64 and elf["e_type"] == "ET_CORE" and elf["e_machine"] == "EM_AARCH64"
    note_end = segs[0]["p_offset"] + segs[0]["p_filesz"]
    assert note_end == len(plan.header) == segs[1]["p_offset"]
    for seg, load, region in zip(segs[1:], plan.loads, regions):
        assert seg["p_paddr"] == region.paddr and seg["p_vaddr"] == region.vaddr
        assert seg["p_filesz"] == seg["p_memsz"] == region.size and seg["p_align"] == 0
        assert seg["p_offset"] == load.offset
    names = [(n["n_name"], n["n_type"]) for n in segs[0].iter_notes()]
    assert names == [("CORE", "NT_PRSTATUS"), ("VMCOREINFO", 0), ("MINIDUMP", 0x4D524547)]
    assert plan.size == len(plan.header) + 0x40 + 0x1000 + 8 + len(plan.trailer)


def test_plan_is_pure_and_deterministic(blobs):
    _, regions = blobs
    one = plan_vmcore(resolve(regions), vmcoreinfo_text(), [], ARM64)
    two = plan_vmcore(resolve(regions), vmcoreinfo_text(), [], ARM64)
    assert one == two


def test_duplicates_and_overlaps_resolved(blobs, tmp_path):
    path, regions = blobs
    other = tmp_path / "other.bin"
    other.write_bytes(b"\x99" * 0x20)
    same_id = regions[0].with_(name="Klinux_ba", source="again")
    same_range = regions[1].with_(id=45, name="copy")
    clash = Region(50, "clash", paddr=0x81000010, size=0x20, source="d",
                   payload=Payload(str(other), 0, 0x20))
    agree = Region(51, "agree", paddr=0x81000010, size=0x20, source="e",
                   payload=Payload(str(path), 0x10, 0x20))
    resolved = resolve(regions + [same_id, same_range, clash, agree], payload_same_bytes)
    statuses = [(r.name, r.status) for r in resolved]
    assert statuses[3:] == [("Klinux_ba", Status.DUPLICATE), ("copy", Status.DUPLICATE),
                            ("clash", Status.INVALID), ("agree", Status.WRITTEN)]
    assert "overlaps Klinux_ba (ID 11)" in resolved[5].reason


def test_missing_and_short_are_left_out(blobs):
    path, regions = blobs
    missing = Region(60, "gone", paddr=0x82000000, size=0x100)
    short = Region(61, "short", paddr=0x83000000, size=0x100, payload=Payload(str(path), 0, 0x10))
    resolved = resolve(regions + [missing, short])
    assert [r.status for r in resolved[3:]] == [Status.MISSING, Status.SHORT]
    plan = plan_vmcore(resolved, vmcoreinfo_text(), [], ARM64)
    assert len(plan.loads) == 3 and {r.name for r in plan.lost} == {"gone", "short"}


def test_elf32_refuses_high_addresses(tmp_path):
    path = tmp_path / "p"
    path.write_bytes(b"x" * 8)
    region = Region(1, "hi", paddr=1 << 33, size=8, payload=Payload(str(path), 0, 8),
                    status=Status.WRITTEN)
    with pytest.raises(LayoutError, match="does not fit an ELF32"):
        plan_vmcore([region], vmcoreinfo_text(), [], Arch(40, 32))


def test_writer_streams_payloads(blobs):
    path, regions = blobs
    plan = plan_vmcore(resolve(regions), vmcoreinfo_text(), [], ARM64)
    out = io.BytesIO()
    write_vmcore(plan, out)
    data = out.getvalue()
    assert len(data) == plan.size
    raw = path.read_bytes()
    for load in plan.loads:
        assert data[load.offset:load.offset + load.size] == raw[load.payload.offset:
                                                              load.payload.offset + load.size]


def _write(tmp_path, regions, text=None):
    plan = plan_vmcore(resolve(regions), text or vmcoreinfo_text(), [], ARM64)
    out = tmp_path / "vmcore"
    with open(out, "wb") as fh:
        write_vmcore(plan, fh)
    return out, plan


@pytest.mark.skipif(shutil.which("readelf") is None, reason="readelf (binutils) not installed")
def test_readelf_accepts_output(blobs, tmp_path):
    _, regions = blobs
    out, _ = _write(tmp_path, regions)
    result = subprocess.run(["readelf", "-lnW", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr.lower()
    assert result.stdout.count("LOAD") == 3
    assert "VMCOREINFO" in result.stdout and "CORE" not in result.stdout.split("VMCOREINFO")[0][-40:]


def test_drgn_opens_output_as_kernel_core(blobs, tmp_path):
    drgn = pytest.importorskip("drgn")
    path, regions = blobs
    out, plan = _write(tmp_path, regions)
    prog = drgn.Program()
    prog.set_core_dump(str(out))
    assert prog.flags & drgn.ProgramFlags.IS_LINUX_KERNEL
    raw = path.read_bytes()
    for region in regions:
        want = raw[region.payload.offset:region.payload.offset + region.size]
        assert prog.read(region.paddr, region.size, True) == want
        assert prog.read(region.vaddr, region.size) == want


def test_pt_load_types(blobs):
    _, regions = blobs
    plan = plan_vmcore(resolve(regions), vmcoreinfo_text(), [], ARM64)
    elf = ELFFile(io.BytesIO(plan.header + bytes(plan.size)))
    assert [s.header.p_type for s in elf.iter_segments()][0] == "PT_NOTE"
    assert sum(1 for s in elf.iter_segments() if s.header.p_type == "PT_NOTE") == 1
    assert PT.NOTE == 4


@pytest.mark.skipif(shutil.which("crash") is None, reason="crash not installed")
def test_crash_recognises_layout(tmp_path):
    """Debian's crash is built for the host (x86_64) only, so judge an x86_64 vmcore."""
    path = tmp_path / "p"
    path.write_bytes(b"\x42" * 0x1000)
    region = Region(10, "jiffies_64", paddr=0x1000000, vaddr=0xFFFFFFFF81000000, size=0x1000,
                    payload=Payload(str(path), 0, 0x1000))
    text = b"OSRELEASE=6.1.0-test\nPAGESIZE=4096\nNUMBER(phys_base)=0\nKERNELOFFSET=0\n"
    plan = plan_vmcore(resolve([region]), text, [], Arch(62))
    out = tmp_path / "vmcore"
    with open(out, "wb") as fh:
        write_vmcore(plan, fh)
    result = subprocess.run(["crash", "--osrelease", str(out)], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "6.1.0-test", result.stdout + result.stderr


@given(st.lists(st.tuples(st.integers(0, 500), st.integers(1, 60), st.booleans()), max_size=40))
@settings(max_examples=300, deadline=None, derandomize=True)
def test_overlap_index_agrees_with_brute_force(ranges):
    """The interval-union index finds an overlap exactly when one exists."""
    written, regions = _Written(), []
    for i, (paddr, size, keep) in enumerate(ranges):
        region = Region(None, f"r{i}", paddr=paddr, size=size)
        brute = any(max(paddr, o.paddr) < min(paddr + size, o.paddr + o.size) for o in regions)
        assert (written.clash(region, None) is not None) == brute
        if keep or not brute:
            written.add(region)
            regions.append(region)


def test_overlap_resolution_compares_each_byte_once(tmp_path):
    """2,000 overlapping 64 KiB regions of one file: the bytes compared add up to the bytes
    written, not to a quadratic number of pairs (the budget issue 12 names)."""
    path = tmp_path / "ram.bin"
    with open(path, "wb") as fh:
        fh.truncate(64 << 20)
    compared = []

    def counting(a, b, paddr, size):
        compared.append(size)
        return payload_same_bytes(a, b, paddr, size)
    regions = [Region(None, f"r{i}", paddr=0x80000000 + i * 0x1000, size=0x10000, source="s",
                      payload=Payload(str(path), i * 0x1000, 0x10000)) for i in range(2000)]
    out = resolve(regions, counting)
    assert {r.status for r in out} == {Status.WRITTEN}
    assert sum(compared) <= sum(r.size for r in regions)
