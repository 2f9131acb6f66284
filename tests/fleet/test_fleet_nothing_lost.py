"""Nothing lost: a capture that raises, hangs or kills its worker is an error record, and the
run goes on; Ctrl-C prints what was done.  Real worker processes throughout."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

from builders import ROOT, SAMPLES, run
from builders.fleet import dies_on_kill, hangs_on_hang, raises_on_raise, slow_core
from minidump.fleet.discover import discover
from minidump.fleet.local import LocalPool


def captures(tmp_path, *names):
    """A copy of the sample's Raw_Dmp! image under each name."""
    for name in names:
        shutil.copy(SAMPLES / "rawdump.img", tmp_path / name)
    return discover([str(tmp_path)]).specs


def outcome(records):
    return {os.path.basename(r["input"]): (r["status"], r["error"]) for r in records}


def test_a_capture_that_kills_its_worker(tmp_path):
    specs = captures(tmp_path, "a.img", "kill.img", "b.img", "c.img")
    records, interrupted = LocalPool(2, func=dies_on_kill).run(specs)
    assert not interrupted
    assert outcome(records) == {
        "a.img": ("ok", None), "b.img": ("ok", None), "c.img": ("ok", None),
        "kill.img": ("error", "worker died: killed by SIGKILL (out of memory?)")}


def test_a_capture_that_raises(tmp_path):
    specs = captures(tmp_path, "a.img", "raise.img", "b.img")
    records, _ = LocalPool(1, func=raises_on_raise).run(specs)
    assert outcome(records) == {
        "a.img": ("ok", None), "b.img": ("ok", None),
        "raise.img": ("error", "internal error: RuntimeError: injected failure")}


def test_a_capture_that_hangs(tmp_path):
    specs = captures(tmp_path, "hang.img", "a.img", "b.img")
    records, _ = LocalPool(2, timeout=1, func=hangs_on_hang).run(specs)
    assert outcome(records) == {"a.img": ("ok", None), "b.img": ("ok", None),
                                "hang.img": ("error", "timed out after 1 s; worker killed")}


def test_captures_queued_behind_a_hang_or_a_death_are_read_by_the_next_worker(tmp_path):
    """A worker holds the capture it reads and the next one (in its pipe); when it is killed
    or dies, the one it had not started goes to the next worker, not to an error record."""
    specs = captures(tmp_path, "hang.img", "a.img", "b.img")
    records, _ = LocalPool(1, timeout=1, func=hangs_on_hang).run(specs)
    assert outcome(records) == {"a.img": ("ok", None), "b.img": ("ok", None),
                                "hang.img": ("error", "timed out after 1 s; worker killed")}
    for path in tmp_path.iterdir():
        path.unlink()
    specs = captures(tmp_path, "a.img", "kill.img", "b.img", "c.img")
    records, _ = LocalPool(1, func=dies_on_kill).run(specs)
    assert outcome(records) == {
        "a.img": ("ok", None), "b.img": ("ok", None), "c.img": ("ok", None),
        "kill.img": ("error", "worker died: killed by SIGKILL (out of memory?)")}


def test_a_capture_that_takes_too_long_times_out(tmp_path, capsys):
    stuck = slow_core(tmp_path / "stuck")
    code, out, err = run(capsys, "triage", str(stuck), str(SAMPLES / "md"), "--timeout", "1",
                         "--json")
    records = [json.loads(line) for line in out.splitlines()][:-1]
    assert code == 3 and err == ""
    assert outcome(records) == {"md": ("ok", None), "stuck": (
        "error", "timed out after 1 s; worker killed")}


def test_ctrl_c_prints_what_was_done(tmp_path):
    slow_core(tmp_path / "stuck")
    shutil.copy(SAMPLES / "rawdump.img", tmp_path / "a.img")
    proc = subprocess.Popen(
        [sys.executable, "-m", "minidump", "triage", str(tmp_path), "--json", "--workers", "2",
         "--timeout", "600"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True)
    time.sleep(3)       # not a timed assert: whatever is done by then is reported either way
    os.killpg(proc.pid, signal.SIGINT)        # as a terminal's Ctrl-C: the whole group
    out, err = proc.communicate(timeout=60)
    objects = [json.loads(line) for line in out.splitlines()]
    records, summary = objects[:-1], objects[-1]
    assert proc.returncode == 130, err
    assert summary["interrupted"] is True and err == ""
    assert sorted(outcome(records)) == ["a.img", "stuck"]          # each exactly once
    assert outcome(records)["stuck"] == ("error", "not read: the run was interrupted")
