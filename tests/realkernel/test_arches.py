"""Real Debian kernels of every architecture under QEMU: minidump judged end to end (opt-in).

Run:  python tools/realkernel/harness.py --arch ARCH all      # x86_64, arm64, arm, riscv64
      MINIDUMP_REALKERNEL=1 [MINIDUMP_REALKERNEL_ARCH=arm,riscv64] \\
          python -m pytest -m realkernel tests/realkernel/test_arches.py -q

``MINIDUMP_REALKERNEL_ARCH`` picks arches (comma-separated); default: every arch whose
captures are cached. For each plain capture (nokaslr, and KASLR where the arch has it)
``tools/realkernel/checks.py`` runs ``minidump extract``, judges every region's addresses
by the guest's own page tables and the full dump's bytes, and compares ``minidump dmesg``,
``vmcore-dmesg``, that arch's ``crash --minimal`` ``log`` (under qemu-user) and drgn (not
riscv64) on the minidump with the full dump; on arm/arm64 also ``build`` from md_*.BIN
blobs and from a Raw_Dmp! image.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TOOLS = Path(__file__).parents[2] / "tools" / "realkernel"
ENABLED = os.environ.get("MINIDUMP_REALKERNEL") == "1"
ALL_ARCHES = ("x86_64", "arm64", "arm", "riscv64")
pytestmark = [pytest.mark.realkernel,
              pytest.mark.skipif(not ENABLED, reason="opt-in: MINIDUMP_REALKERNEL=1")]


def _load(name: str):
    from builders.realkernel import load_tool
    return load_tool(name)


def _selected() -> list[str]:
    chosen = os.environ.get("MINIDUMP_REALKERNEL_ARCH", "")
    arches = [a.strip() for a in chosen.split(",") if a.strip()] or list(ALL_ARCHES)
    unknown = set(arches) - set(ALL_ARCHES)
    if unknown:
        raise ValueError(f"MINIDUMP_REALKERNEL_ARCH: unknown {sorted(unknown)}")
    return arches


HARNESS = _load("harness") if ENABLED else None
ARCHES = _selected() if ENABLED else []
CAPTURES = {arch: HARNESS.available_captures(arch)["captures"] for arch in ARCHES} \
    if ENABLED else {}
PARAMS = [(arch, HARNESS.capture_name(variant, arch=arch)) for arch in ARCHES
          for variant in HARNESS.variants(HARNESS.ARCHES[arch], panic=False)] if ENABLED \
    else [("none", "none")]


@pytest.fixture(params=PARAMS, ids=[f"{a}-{n}" for a, n in PARAMS])
def rec(request):
    arch, name = request.param
    if name not in CAPTURES.get(arch, {}):
        pytest.skip(f"no {name}: python tools/realkernel/harness.py --arch {arch} all")
    pytest.importorskip("elftools")
    return CAPTURES[arch][name]


def test_end_to_end(rec, tmp_path, capsys):
    checks = _load("checks")
    result = checks.check_capture(rec, tmp_path / "check")
    out = capsys.readouterr().out
    assert not result["failures"], f"{result['failures']}\n{out}"
    assert result["facts"]["mini_bytes"] < 2 << 20 < rec["vmcore_bytes"]


def test_kaslr_as_the_arch_has_it(rec):
    spec = HARNESS.ARCHES[rec["arch"]]
    offset = rec.get("kerneloffset")
    if not spec.kaslr:
        # arm: no KASLR at all; riscv64 (Debian): no CONFIG_RELOCATABLE. Neither prints
        # KERNELOFFSET (riscv64 note present, arm has no note at all)
        assert offset is None
        return
    if "nokaslr" in rec["cmdline"].split():
        assert int(offset, 16) == 0
    else:
        assert int(offset, 16) != 0


def test_vmcoreinfo_note_as_the_kernel_gives_it(rec):
    """arm (Debian armmp-lpae) has no qemu_fw_cfg: its dumps carry no note, and minidump
    reads the text from vmcoreinfo_data itself (test_end_to_end); the others carry it."""
    assert rec["vmcoreinfo_present"] is HARNESS.ARCHES[rec["arch"]].fw_cfg
    if rec["vmcoreinfo_present"]:
        assert rec["osrelease"] == rec["kernel_release"]
