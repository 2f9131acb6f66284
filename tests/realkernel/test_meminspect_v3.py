"""Real meminspect v3 kernels (opt-in): every form of capture read with no options.

Run:  python tools/realkernel/meminspect_kernels.py capture x86_64      # ~5 min build
      python tools/realkernel/meminspect_kernels.py capture arm64-va52  # ~6 min; 52-bit VA,
                                              # captured on cortex-a57 (48 bits) and max (LPA2)
      python tools/realkernel/meminspect_kernels.py capture arm64-va39  # Android GKI layout
      python tools/realkernel/meminspect_kernels.py capture arm64-16k   # 16K pages, 47 bits
      MINIDUMP_REALKERNEL=1 python -m pytest -m realkernel tests/realkernel/test_meminspect_v3.py

For each capture the harness recorded the kernel's own runtime table (``inspect_entries[]``
read through QEMU's translation of its address), what each entry holds (the
``MEMINSPECT_*_ENTRY()`` lines of the patched source; the guest's own pointers for the
dynamic ones) and the serial console.  Here, with nothing but the input:

* the full dump: ``extract`` writes exactly the table's regions at the table's addresses,
  named as the kernel names them; ``dmesg`` is what the console printed; ``info`` reads;
* QDL's ``minidump.elf`` and the backend's ``md_*.BIN`` files: the same IDs, objects and log;
* with the vmlinux: the same again;
* arm64 VA sizes: every region's virtual address translates to its physical one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from builders.console import kernel_lines, shown_lines

ENABLED = os.environ.get("MINIDUMP_REALKERNEL") == "1"
pytestmark = [pytest.mark.realkernel,
              pytest.mark.skipif(not ENABLED, reason="opt-in: MINIDUMP_REALKERNEL=1")]


def _captures() -> dict[str, dict]:
    if not ENABLED:
        return {}
    from builders.realkernel import load_tool
    return load_tool("meminspect_kernels").captures()


CAPTURES = _captures()
NAMES = sorted(CAPTURES) or ["none"]


@pytest.fixture(params=NAMES)
def rec(request) -> dict:
    if request.param not in CAPTURES:
        pytest.skip("no meminspect captures: run tools/realkernel/meminspect_kernels.py "
                    "capture x86_64")
    return CAPTURES[request.param]


def minidump(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minidump", *argv], capture_output=True,
                          text=True, check=False)


def as_json(*argv: str) -> dict:
    proc = minidump(*argv, "--json")
    assert proc.returncode in (0, 3), proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout)


def console_lines(rec: dict) -> list[str]:
    """What the kernel printed on the serial console (this config: no printk timestamps)."""
    return kernel_lines(Path(rec["console_log"]).read_text(errors="replace"))


def log_lines(path: str) -> list[str]:
    """The records the console shows (below KERN_DEBUG), as minidump dmesg reads them."""
    return shown_lines(as_json("dmesg", path))


def expected(rec: dict) -> dict[int, dict]:
    return {row["id"]: row for row in rec["table"]}


def written(doc: dict) -> list[dict]:
    return [r for r in doc["regions"] if r["status"] in ("written", "duplicate")]


def objects(doc: dict) -> dict[int, str]:
    return {r["id"]: r["object"] for r in doc["regions"] if r["id"] is not None}


def want_objects(rec: dict, vmlinux: bool = False) -> dict[int, str]:
    out = {row["id"]: row["object"] for row in rec["table"]}
    if vmlinux and rec["arch"] == "x86_64":
        out[42] = "init_top_pgt"    # arch/x86: #define swapper_pg_dir init_top_pgt
    return out


def test_full_dump_extract_is_the_kernels_table(rec, tmp_path):
    out = str(tmp_path / "mini.vmcore")
    doc = as_json("extract", rec["vmcore"], "-o", out)
    table = expected(rec)
    rows = {r["id"]: r for r in written(doc)}
    assert set(rows) == set(table), "the minidump holds exactly the runtime table's regions"
    for ident, row in table.items():
        got = rows[ident]
        assert (got["paddr"], got["vaddr"], got["size"]) == (row["pa"], row["va"], row["size"])
    assert objects(doc) == want_objects(rec)
    assert log_lines(out) == console_lines(rec)


def test_full_dump_dmesg_and_info_with_no_note(rec):
    assert log_lines(rec["vmcore"]) == console_lines(rec)
    info = as_json("info", rec["vmcore"])
    assert info["facts"]["release"] == rec["release"]
    assert "found in memory" in as_json("regions", rec["vmcore"])["vmcoreinfo"]


def test_full_dump_with_vmlinux(rec):
    doc = as_json("regions", "--vmlinux", rec["vmlinux"], rec["vmcore"])
    assert objects(doc) == want_objects(rec, vmlinux=True)
    assert not [w for w in doc["warnings"] if "memblock" in w and "Traceback" in w]


@pytest.mark.parametrize("form", ["minidump.elf", "md"])
def test_firmware_forms(rec, form):
    if form == "minidump.elf" and not rec.get("minidump_elf"):
        pytest.skip("the kernel registered no ELF header (v3 on 16K pages): no minidump.elf")
    path = rec["minidump_elf"] if form == "minidump.elf" else rec["md_dir"]
    table = expected(rec)
    for argv in ([path], ["--vmlinux", rec["vmlinux"], path]):
        doc = as_json("regions", *argv)
        got = objects(doc)
        want = want_objects(rec, vmlinux="--vmlinux" in argv)
        # minidump.elf holds no ELF header or VMCOREINFO region of its own (they are the
        # file's header and note)
        if form == "minidump.elf":
            want = {k: v for k, v in want.items() if k > 2}
        assert got == want, argv
        for r in written(doc):
            row = table[r["id"]]
            if r["id"] in (1, 2) and form == "md":
                # nothing in md_*.BIN files says where the header and VMCOREINFO were
                assert r["paddr"] in (None, row["pa"])
                continue
            assert r["paddr"] == row["pa"]
            assert r["vaddr"] in (row["va"], None) or r["id"] in (1, 2)
    assert log_lines(path) == console_lines(rec)
    info = as_json("info", path)
    assert info["facts"]["release"] == rec["release"]
    assert all(c["empty"] for c in info["facts"]["cpus"]), "meminspect's NT_PRSTATUS is zeroed"


def test_arm64_translation(rec):
    """Every arm64 region: the linear/image rule from VMCOREINFO gives the kernel's own pa."""
    if rec["arch"] != "arm64":
        pytest.skip("arm64 only")
    from minidump.kernel.translate import Translator
    from minidump.kernel.vmcoreinfo import VmcoreInfo
    rules = Translator("arm64", VmcoreInfo(rec["vmcoreinfo_text"].encode()))
    for row in rec["table"]:
        if row["id"] == 1:
            continue      # a vmalloc remap of CMA pages: no rule applies
        assert rules.pa(row["va"]) == row["pa"], row
        if row["id"] >= 44 or row["id"] in (2, 3):
            assert rules.linear_va(row["pa"]) == row["va"], row


def test_kinfo_block(rec):
    if not (rec.get("kinfo") or {}).get("filled"):
        pytest.skip("no debug-kinfo block in this capture")
    info = as_json("info", rec["vmcore"])
    kinfo = info["facts"]["kinfo"]
    assert kinfo["pa"] == rec["kinfo"]["pa"]
    assert kinfo["checksum_ok"]
    table = expected(rec)
    assert kinfo["text_pa"] == table[32]["pa"] and kinfo["stext_pa"] == table[33]["pa"]
    assert kinfo["swapper_pg_dir_pa"] == table[42]["pa"]
    assert kinfo["release"] == rec["release"]
    assert kinfo["text_va"] == table[32]["va"]
    assert kinfo["kaslr_offset"] == info["facts"]["kaslr_offset"]


def test_kinfo_locates_the_symbols(rec, tmp_path):
    """With VMCOREINFO's kallsyms keys removed, the kinfo block's table addresses still give
    the kernel's symbols: the CPUs' PCs are named as with them."""
    if not (rec.get("kinfo") or {}).get("filled"):
        pytest.skip("no debug-kinfo block in this capture")
    text = "".join(line + "\n" for line in rec["vmcoreinfo_text"].splitlines()
                   if "kallsyms" not in line)
    stripped = tmp_path / "vmcoreinfo"
    stripped.write_text(text)
    full = as_json("info", rec["vmcore"])["facts"]
    without = as_json("info", "--vmcoreinfo", str(stripped), rec["vmcore"])["facts"]
    assert "debug-kinfo" in without["symbols"]["source"]
    assert without["symbols"]["count"] == full["symbols"]["count"]
    assert [c["pc_symbol"] for c in without["cpus"]] == [c["pc_symbol"] for c in full["cpus"]]
    assert all(c["pc_symbol"] for c in full["cpus"])


def test_consumers_read_the_extract(rec, tmp_path):
    """vmcore-dmesg and drgn (with the vmlinux) read the minidump extract wrote with no
    options: the same log and release as the kernel printed."""
    import shutil
    out = str(tmp_path / "mini.vmcore")
    assert minidump("extract", "-q", rec["vmcore"], "-o", out).returncode == 0
    if shutil.which("vmcore-dmesg"):
        text = subprocess.run(["vmcore-dmesg", out], capture_output=True, text=True,
                              check=True).stdout
        lines = [re.sub(r"^\[\s*\d+\.\d+\] ", "", line) for line in text.splitlines()]
        assert [line for line in console_lines(rec) if line in lines] == console_lines(rec)
    drgn = pytest.importorskip("drgn")
    prog = drgn.Program()
    prog.set_core_dump(out)
    prog.load_debug_info([rec["vmlinux"]])
    assert prog["init_uts_ns"].name.release.string_().decode() == rec["release"]
