"""VMCOREINFO generation and the BTF/DWARF reader, judged by compilers, the kernel and makedumpfile."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from minidump.cli import main
from minidump.kernel.debuginfo import DebugInfo
from minidump.elf.core import read_core
from minidump.kernel.vmcoreinfo import VmcoreInfo

C_SOURCE = r"""
#include <stddef.h>
#include <stdio.h>
enum pageflags { PG_locked, PG_referenced, PG_lru = 4, PG_head = 16 };
typedef struct { long counter; } atomic_long_t;
struct prb_data_blk_lpos { unsigned long begin; unsigned long next; };
struct prb_desc { atomic_long_t state_var; struct prb_data_blk_lpos text_blk_lpos; };
struct zone { char pad[3]; union { int a; struct { short hidden; long deep; }; }; struct prb_desc free_area[11]; };
struct zone z; struct prb_desc d; atomic_long_t counter; enum pageflags f;
int main(void) {
    printf("%zu %zu %zu %zu %zu %zu %zu\n", sizeof(struct prb_desc),
           offsetof(struct prb_desc, text_blk_lpos.next), sizeof(atomic_long_t),
           sizeof(struct zone), offsetof(struct zone, deep), offsetof(struct zone, free_area),
           sizeof(((struct zone *)0)->free_area));
    return 0;
}
"""


@pytest.fixture(scope="module")
def dwarf_program(tmp_path_factory) -> tuple[Path, list[int]]:
    gcc = shutil.which("gcc")
    if not gcc:
        pytest.skip("gcc not installed")
    tmp = tmp_path_factory.mktemp("dwarf")
    (tmp / "t.c").write_text(C_SOURCE)
    subprocess.run([gcc, "-g", "-O0", "-o", str(tmp / "t"), str(tmp / "t.c")], check=True)
    out = subprocess.run([str(tmp / "t")], capture_output=True, text=True, check=True).stdout
    return tmp / "t", [int(x) for x in out.split()]


def test_dwarf_fallback_agrees_with_the_compiler(dwarf_program):
    path, (desc, next_off, atomic, zone, deep, free_area, free_size) = dwarf_program
    with DebugInfo.open(str(path)) as dbg:
        assert dbg.type_source == "DWARF" and not dbg.has_btf
        assert dbg.struct_size("prb_desc") == desc
        assert dbg.member_offset("prb_desc", "text_blk_lpos.next") == next_off
        assert dbg.struct_size("atomic_long_t") == atomic
        assert dbg.struct_size("zone") == zone
        assert dbg.member_offset("zone", "deep") == deep            # through anonymous members
        assert dbg.member_offset("zone", "free_area") == free_area
        assert dbg.member_size("zone", "free_area") == free_size
        assert dbg.member_length("zone", "free_area") == 11
        assert dbg.enum("pageflags") == {"PG_locked": 0, "PG_referenced": 1, "PG_lru": 4,
                                         "PG_head": 16}
        assert dbg.enumerator("PG_head") == 16 and dbg.struct_size("nonexistent") is None
        assert dbg.symbol("main") is not None


@pytest.mark.realkernel
def test_btf_matches_the_kernels_own_vmcoreinfo(realkernel):
    rec = realkernel["captures"]["cloud-amd64-nokaslr"]
    real = VmcoreInfo(read_core(rec["vmcore"]).vmcoreinfo)
    with DebugInfo.open(rec["vmlinux"]) as dbg:
        assert dbg.has_btf and dbg.build_id == rec["build_id"]
        assert dbg.osrelease == rec["kernel_release"] and dbg.arch == "x86_64"
        for e in real.items():
            if e.kind == "SIZE":
                assert dbg.struct_size(e.name) == e.value, e.key
            elif e.kind == "OFFSET":
                struct, _, member = e.name.partition(".")
                assert dbg.member_offset(struct, member) == e.value, e.key


@pytest.mark.realkernel
def test_generation_from_memory_equals_the_note(realkernel, normalized, tmp_path, capsys):
    """Hide the note: KERNELOFFSET, phys_base and the rest must come back from memory."""
    rec = realkernel["captures"]["cloud-amd64-kaslr"]
    copy = tmp_path / "novmci.vmcore"
    shutil.copyfile(normalized("kaslr"), copy)
    with open(copy, "r+b") as fh:
        at = fh.read(1 << 20).index(b"VMCOREINFO\0")
        fh.seek(at)
        fh.write(b"VMCOREINFX\0")
    assert read_core(str(copy)).vmcoreinfo is None
    out = tmp_path / "vmci.txt"
    assert main(["vmcoreinfo", "--vmlinux", rec["vmlinux"], str(copy), "-o", str(out)]) == 0
    generated = VmcoreInfo(out.read_bytes())
    real = VmcoreInfo(read_core(rec["vmcore"]).vmcoreinfo)
    assert {k: generated.get(k) for k in real.entries if k in generated} == {
        k: v for k, v in real.entries.items() if k in generated}
    # only the #define-only values are left out (no type information carries them)
    assert sorted(set(real.entries) - set(generated.entries)) == [
        "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)", "NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)"]

    # ...and the capture becomes a vmcore drgn opens through the generated text
    drgn = pytest.importorskip("drgn")
    vmcore = tmp_path / "rebuilt.vmcore"
    code = main(["build", "--from-table", str(copy), "--format", "elf", "--vmcoreinfo", str(out),
                 "-o", str(vmcore), "-q"])
    assert code == 0
    prog = drgn.Program()
    prog.set_core_dump(str(vmcore))
    prog.load_debug_info([rec["vmlinux"]])
    assert prog["init_uts_ns"].name.release.string_().decode() == rec["kernel_release"]
    assert prog["jiffies_64"].value_() > 4294000000


@pytest.mark.realkernel
def test_generation_agrees_with_makedumpfile_g(realkernel, tmp_path):
    mdf = shutil.which("makedumpfile")
    if not mdf:
        pytest.skip("makedumpfile not installed")
    rec = realkernel["captures"]["cloud-amd64-nokaslr"]
    oracle = tmp_path / "mdf.txt"
    subprocess.run([mdf, "-g", str(oracle), "-x", rec["vmlinux"]], check=True,
                   capture_output=True)
    ours = tmp_path / "ours.txt"
    assert main(["vmcoreinfo", "--vmlinux", rec["vmlinux"], "-o", str(ours)]) == 0
    theirs, mine = VmcoreInfo(oracle.read_bytes()), VmcoreInfo(ours.read_bytes())
    common = [k for k in theirs.entries if k in mine.entries]
    assert len(common) >= 70
    differ = {k: (theirs.get(k), mine.get(k)) for k in common if theirs.get(k) != mine.get(k)}
    # makedumpfile -g reads node_data's bound from DWARF as 2^63-2; the kernel writes 1024
    assert differ == {"LENGTH(node_data)": ("9223372036854775806", "1024")}
