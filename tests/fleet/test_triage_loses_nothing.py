"""``triage`` never loses an input: every path given or found is in exactly one record, read
by a capture, or in ``skipped`` with a reason; unreadable paths are error records; every
termination signal keeps the finished records (exit 128+N); workers are capped; options and
scheduler addresses are checked; the pool works from a script without a ``__main__`` guard."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from builders import ROOT, SAMPLES, run
from minidump.cli import main

PYTHON = sys.executable


def lines(out: str):
    objects = [json.loads(line) for line in out.splitlines()]
    return objects[:-1], objects[-1]


def _vmcore(path: Path) -> Path:
    assert main(["build", "--from-table", str(SAMPLES / "md"), "-o", str(path), "-q"]) == 0
    return path


def _accounted(root: Path, records, summary) -> dict[str, str]:
    """Where each file under ``root`` ended: its own record, a capture directory's record
    (the files it reads), or skipped; asserts each is in exactly one place."""
    inputs = {r["input"] for r in records}
    assert len(inputs) == len(records), "a capture twice"
    where = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            places = [p for p in (path in inputs and "record",
                                  path in summary["skipped"] and "skipped") if p]
            if not places and dirpath in inputs:
                places = ["read by " + dirpath]
            assert len(places) == 1, (path, places)
            where[os.path.relpath(path, root)] = places[0]
    for path in summary["skipped"]:
        assert summary["skipped_reasons"][path]
    return where


def test_a_stray_md_blob_does_not_swallow_its_siblings(tmp_path, capsys):
    root = tmp_path / "uploads"
    root.mkdir()
    (root / "md_readme.BIN").write_bytes(b"notes about this folder\n")
    shutil.copy(SAMPLES / "rawdump.img", root / "board.img")
    shutil.copytree(SAMPLES / "md", root / "md")
    _vmcore(root / "crash.vmcore")
    (root / "deep" / "er").mkdir(parents=True)
    shutil.copy(SAMPLES / "item602.bin", root / "deep" / "er" / "x.bin")
    (root / "README.txt").write_text("hello")
    code, out, err = run(capsys, "triage", str(root), "--json", "--workers", "2")
    records, summary = lines(out)
    status = {os.path.relpath(r["input"], root): r["status"] for r in records}
    assert status["board.img"] == status["md"] == status["crash.vmcore"] == "ok"
    assert "." in status and "deep/er/x.bin" in status     # the stray blob's folder: a record
    where = _accounted(root, records, summary)
    assert where["md_readme.BIN"] == f"read by {root}"
    assert where["README.txt"] == "skipped"
    assert summary["skipped_reasons"][str(root / "README.txt")].startswith("not a capture")


def _unprivileged() -> list[str]:
    """A command prefix that takes root's power to read any directory (CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH) away, so a mode-000 directory is unreadable as for any user."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root and setpriv (util-linux) is not installed")
    return ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]


def test_an_unreadable_directory_is_an_error_record_and_the_run_goes_on():
    top = Path(tempfile.mkdtemp(prefix="minidump-unreadable-"))
    try:
        os.chmod(top, 0o755)
        shutil.copy(SAMPLES / "rawdump.img", top / "a.img")
        os.chmod(top / "a.img", 0o644)
        (top / "locked").mkdir()
        shutil.copy(SAMPLES / "rawdump.img", top / "locked" / "b.img")
        os.chmod(top / "locked", 0o000)
        (top / "locked-md").mkdir()
        os.chmod(top / "locked-md", 0o100)        # searchable, not listable
        proc = subprocess.run([*_unprivileged(), PYTHON, "-m", "minidump", "triage", str(top),
                               "--json", "--workers", "1"], cwd="/", capture_output=True,
                              text=True, timeout=120)
        assert "Traceback" not in proc.stderr, proc.stderr
        records, summary = lines(proc.stdout)
        got = {os.path.basename(r["input"]): (r["status"], r["error"]) for r in records}
        assert got["a.img"] == ("ok", None)
        for name in ("locked", "locked-md"):
            assert got[name][0] == "error" and "permission denied" in got[name][1], got
        assert proc.returncode == 3
    finally:
        for name in ("locked", "locked-md"):
            os.chmod(top / name, 0o755)
        shutil.rmtree(top)


def _start(tmp_path: Path) -> subprocess.Popen:
    from builders.fleet import slow_core
    slow_core(tmp_path / "stuck")
    shutil.copy(SAMPLES / "rawdump.img", tmp_path / "a.img")
    return subprocess.Popen(
        [PYTHON, "-m", "minidump", "triage", str(tmp_path), "--json", "--workers", "2",
         "--timeout", "600"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True)


def _wait_for_first_record(tmp_path: Path) -> None:
    time.sleep(3)   # not a timed assert: whatever is done by then is reported either way


@pytest.mark.parametrize("signals,status", [
    ((signal.SIGTERM,), 128 + signal.SIGTERM),
    ((signal.SIGHUP,), 128 + signal.SIGHUP),
    ((signal.SIGINT, signal.SIGINT), 128 + signal.SIGINT),      # Ctrl-C twice, 20 ms apart
    ((signal.SIGINT, signal.SIGTERM), 128 + signal.SIGINT),     # Ctrl-C under timeout(1)
], ids=["term", "hup", "int-int", "int-term"])
def test_every_termination_signal_keeps_the_finished_records(tmp_path, signals, status):
    proc = _start(tmp_path)
    _wait_for_first_record(tmp_path)
    for n, signum in enumerate(signals):
        if n:
            time.sleep(0.02)
        os.kill(proc.pid, signum)          # the parent alone, as kill(1) and timeout(1) do
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    assert "Traceback" not in err
    records, summary = lines(out)
    assert summary["interrupted"] is True
    assert summary["signal"] == signal.Signals(signals[0]).name
    got = {os.path.basename(r["input"]): r for r in records}
    assert sorted(got) == ["a.img", "stuck"]                       # each exactly once
    assert got["stuck"]["error"] == "not read: the run was interrupted"


def test_workers_are_capped_at_the_cpu_count(capsys):
    from minidump.fleet.limits import max_workers
    code, out, _ = run(capsys, "triage", str(SAMPLES / "md"), "--json", "--workers", "10000")
    _, summary = lines(out)
    assert code == 0
    assert summary["engine"].startswith(f"local, {max_workers()} worker processes")
    assert "--workers 10000 capped at the CPU count" in summary["engine"]


@pytest.mark.parametrize("option,value,words", [
    ("--workers", "0", "expected 1 to"),
    ("--workers", "\u0661", "expected a whole number"),           # Arabic-Indic one
    ("--workers", "1_0", "expected a whole number"),
    ("--workers", "-3", "expected a whole number"),
    ("--timeout", "nan", "expected a number of seconds"),
    ("--timeout", "inf", "expected a number of seconds"),
    ("--timeout", "1e400", "expected a number of seconds"),
    ("--timeout", "-1", "expected a number of seconds"),
    ("--timeout", "9999999999", "expected 0 to"),
    ("--memory-limit", "99999999999999", "expected 0 to"),
    ("--memory-limit", "10", "expected 0 (none) or 256"),
    ("--memory-limit", "\u0662\u0660\u0664\u0668", "expected a whole number"),
    ("--scheduler", "bogus", "expected local, local:N, or an address"),
    ("--scheduler", "local:0", "expected 1 to"),
    ("--scheduler", "local:x", "expected a whole number"),
    ("--scheduler", "tcp://host:99999", "port 99999 is not 1 to 65535"),
    ("--scheduler", "http://host:8786", "expected local, local:N, or an address"),
])
def test_options_are_range_checked(capsys, option, value, words):
    code, out, err = run(capsys, "triage", str(SAMPLES / "md"), option, value)
    assert code == 2 and out == ""
    assert err.startswith(f"minidump: error: {option.split()[0]} ") or \
        err.startswith("minidump: error: local:N "), err
    assert words in err and err.count("\n") == 1


def test_an_unreachable_scheduler_fails_with_one_line(capsys):
    pytest.importorskip("distributed")
    code, out, err = run(capsys, "triage", str(SAMPLES / "md"), "--scheduler",
                         "tcp://127.0.0.1:1")
    assert code == 1 and out == ""
    assert err.startswith("minidump: error: --scheduler tcp://127.0.0.1:1: no Dask scheduler "
                          "answered within 5 s") and err.count("\n") == 1


def test_the_pool_works_from_a_script_without_a_main_guard(tmp_path):
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import json, sys\n"
        "from minidump.fleet.discover import discover\n"
        "from minidump.fleet.local import LocalPool\n"
        "records, _ = LocalPool(2).run(discover([sys.argv[1]]).specs)\n"
        "print(json.dumps({r['input']: r['status'] for r in records}))\n")
    proc = subprocess.run([PYTHON, str(script), str(SAMPLES / "md"), str(SAMPLES)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {str(SAMPLES / "md"): "ok"}


def test_a_long_tmpdir_says_how_to_fix_it(tmp_path):
    long = Path(tempfile.gettempdir()) / ("x" * 120)
    long.mkdir(exist_ok=True)
    try:
        proc = subprocess.run([PYTHON, "-m", "minidump", "triage", str(SAMPLES / "md")],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "TMPDIR": str(long)})
    finally:
        shutil.rmtree(long, ignore_errors=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "set TMPDIR to a shorter directory" in proc.stderr
    assert proc.stderr.count("\n") == 1
