"""Real arm64 kernel: minidump's arm64 address handling against a QEMU capture (opt-in).

Run:  python tools/realkernel/arm64.py fetch                       # once: ~284 MB download
      python tools/realkernel/arm64.py capture [--kaslr]           # ~3 s each
      MINIDUMP_REALKERNEL=1 python -m pytest -m realkernel tests/realkernel/test_arm64.py -q

For each capture (``cloud-arm64`` = nokaslr, ``cloud-arm64-kaslr``) drgn and
``minidump dmesg`` must read the same from (1) ``minidump extract --regions
v3-default`` and (2) ``minidump build --from-table`` of firmware-style
``md_K*.BIN`` blobs + a raw Sahara table with no kernel ELF header, as from
the full dump; every PT_LOAD of (2) must carry the region's runtime VA.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ARM64 = Path(__file__).parents[2] / "tools" / "realkernel" / "arm64.py"
ENABLED = os.environ.get("MINIDUMP_REALKERNEL") == "1"
pytestmark = [pytest.mark.realkernel,
              pytest.mark.skipif(not ENABLED, reason="opt-in: MINIDUMP_REALKERNEL=1")]


def _arm64():
    spec = importlib.util.spec_from_file_location("realkernel_arm64", ARM64)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MODULE = _arm64() if ENABLED else None
CAPTURES = MODULE.available_captures()["captures"] if ENABLED else {}


@pytest.fixture(params=["cloud-arm64", "cloud-arm64-kaslr"])
def rec(request):
    if request.param not in CAPTURES:
        pytest.skip(f"no {request.param} capture: python tools/realkernel/arm64.py fetch && "
                    "python tools/realkernel/arm64.py capture [--kaslr]")
    pytest.importorskip("drgn")
    pytest.importorskip("elftools")
    return CAPTURES[request.param]


def test_vmcoreinfo_note_present(rec):
    # -device vmcoreinfo + the qemu_fw_cfg module: the full dump carries VMCOREINFO
    assert rec["vmcoreinfo_present"], "full dump has no VMCOREINFO note"
    assert rec["osrelease"] == rec["kernel_release"]


def test_kerneloffset(rec):
    offset = int(rec["kerneloffset"], 16)
    if "nokaslr" in rec["cmdline"].split():
        assert offset == 0
    else:
        # QEMU virt puts a kaslr-seed in /chosen: the image really moves under TCG
        assert offset != 0


def test_extract_and_firmware_build(rec, tmp_path, capsys):
    result = MODULE.check_capture(rec, tmp_path)
    out = capsys.readouterr().out
    assert not result["failures"], f"{result['failures']}\n{out}"
