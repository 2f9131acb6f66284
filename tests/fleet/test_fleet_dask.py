"""Dask: the same records from a real LocalCluster of worker processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from builders import ROOT, SAMPLES, run
from builders.fleet import dies_on_kill, hangs_telling_pid, make_fleet
from minidump.fleet.discover import discover
from minidump.fleet.local import LocalPool

pytest.importorskip("distributed", reason="Dask is the optional extra [dask]")


def without_timings(records):
    return [{k: v for k, v in r.items() if k != "timings"} for r in records]


def test_local_cluster_gives_the_records_of_the_local_run(tmp_path, capsys):
    root = tmp_path / "uploads"
    make_fleet(root, 12, corrupt_every=4)
    paths = [str(root), str(SAMPLES)]
    code, out, err = run(capsys, "triage", *paths, "--json", "--workers", "2")
    local = [json.loads(line) for line in out.splitlines()]
    code_dask, out, err_dask = run(capsys, "triage", *paths, "--json", "--scheduler", "local:2")
    dask = [json.loads(line) for line in out.splitlines()]
    assert (code, code_dask, err, err_dask) == (3, 3, "", "")
    assert len(local) == 12 + 5 + 1
    assert without_timings(dask[:-1]) == without_timings(local[:-1])
    strip = {"engine", "elapsed_s"}
    assert {k: v for k, v in dask[-1].items() if k not in strip} == \
        {k: v for k, v in local[-1].items() if k not in strip}
    assert dask[-1]["engine"] == "dask local:2"


def test_dask_records_go_into_the_store_like_local_ones(tmp_path, capsys):
    """The store's one writer is the triage process: Dask workers send records back to it."""
    root = tmp_path / "uploads"
    make_fleet(root, 8, corrupt_every=4)
    db = str(tmp_path / "fleet.sqlite")
    code, out, err = run(capsys, "triage", str(root), "--json", "--scheduler", "local:2",
                         "--db", db)
    first = [json.loads(line) for line in out.splitlines()]
    assert (code, err, first[-1]["store"]["read"]) == (3, "", 8)
    code, out, err = run(capsys, "triage", str(root), "--json", "--workers", "1", "--db", db)
    again = [json.loads(line) for line in out.splitlines()]
    assert again[-1]["store"]["read"] == 0 and again[:-1] == first[:-1]


def test_a_capture_that_kills_its_dask_worker(tmp_path):
    from minidump.fleet.dask import run_dask
    for name in ("a.img", "kill.img"):
        shutil.copy(SAMPLES / "rawdump.img", tmp_path / name)
    specs = discover([str(tmp_path)]).specs
    records, interrupted = run_dask(specs, "local:1", func=dies_on_kill)
    local, _ = LocalPool(1).run(specs[:1])
    assert not interrupted
    assert [(os.path.basename(r["input"]), r["status"], r["error"]) for r in records] == [
        ("a.img", "ok", None), ("kill.img", "error", "worker died (KilledWorker)")]
    assert without_timings(records[:1]) == without_timings(local)


def test_a_hanging_capture_is_stopped_at_the_timeout_and_its_worker_goes_on(tmp_path):
    """One Dask worker with one thread: the hanging capture's process is killed at --timeout,
    and the same worker then reads every other capture."""
    from minidump.fleet.dask import run_dask
    for name in ("hang.img", "a.img", "b.img", "c.img"):
        shutil.copy(SAMPLES / "rawdump.img", tmp_path / name)
    specs = discover([str(tmp_path)]).specs
    records, interrupted = run_dask(specs, "local:1", timeout=3, func=hangs_telling_pid)
    assert not interrupted
    by_name = {os.path.basename(r["input"]): r for r in records}
    assert {n: (r["status"], r["error"]) for n, r in by_name.items()} == {
        "a.img": ("ok", None), "b.img": ("ok", None), "c.img": ("ok", None),
        "hang.img": ("error", "timed out after 3 s; its process was killed")}
    assert by_name["hang.img"]["timings"]["total_s"] >= 3
    # the process that hung is gone (killed and reaped), not left running on the worker
    pid = int((tmp_path / "hang.img.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    local, _ = LocalPool(1).run([s for s in specs if not s["input"].endswith("hang.img")])
    assert without_timings([r for r in records if r["status"] == "ok"]) == without_timings(local)


def test_without_dask_scheduler_says_how_to_install_it():
    code = ("import sys; sys.modules['distributed'] = None; sys.modules['dask'] = None\n"
            "from minidump.cli import main\n"
            f"sys.exit(main(['triage', {str(SAMPLES / 'md')!r}, '--scheduler', 'local:1']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 1
    assert proc.stderr == ("minidump: error: --scheduler needs Dask: pip install "
                           "'distributed>=2023.1' (in a checkout: pip install '.[dask]')\n")
