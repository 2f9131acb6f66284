"""info's per-consumer verdicts on a real 32-bit arm dump are what the real tools do
(opt-in: MINIDUMP_REALKERNEL=1; needs harness.py --arch arm all).

Debian's armmp-lpae kernel has no qemu_fw_cfg, so QEMU's dump has no VMCOREINFO note.  crash
(no KASLR on arm: symbols from the vmlinux, phys_base from the lowest PT_LOAD) opens it
anyway; drgn, makedumpfile and vmcore-dmesg need the note.
"""

from __future__ import annotations

import json
import os

import pytest

from minidump.cli import main

ENABLED = os.environ.get("MINIDUMP_REALKERNEL") == "1"
pytestmark = [pytest.mark.realkernel,
              pytest.mark.skipif(not ENABLED, reason="opt-in: MINIDUMP_REALKERNEL=1")]


@pytest.fixture(scope="module")
def arm():
    from builders.realkernel import captures, load_harness
    found = captures(("arm",))
    if not found:
        pytest.skip("no arm capture: python tools/realkernel/harness.py --arch arm all")
    return load_harness(), next(iter(found.values()))


def test_full_dump_verdicts_match_the_tools(arm, capsys):
    harness, rec = arm
    assert main(["info", rec["vmcore"], "--vmlinux", rec["vmlinux"], "--json"]) in (0, 3)
    ready = json.loads(capsys.readouterr().out)["ready"]
    assert ready["crash --minimal"] is True
    assert ready["drgn"] is False and ready["vmcore-dmesg"] is False
    assert ready["makedumpfile --dump-dmesg"] is False
    if harness.crash_command("arm") is None:
        pytest.skip("no crash for arm")
    log = "\n".join(harness.crash_log(rec["vmlinux"], rec["vmcore"], "arm"))
    # crash --minimal opened it: its log has what the guest's userspace wrote to /dev/kmsg
    assert all(line in log for line in rec["kmsg_lines"]), log[-500:]
