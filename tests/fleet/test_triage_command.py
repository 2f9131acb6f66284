"""``minidump triage``: every capture accounted for, identical crashes under one signature."""

from __future__ import annotations

import collections
import json
import shutil

import pytest

from builders import SAMPLES, run
from builders.fleet import PANIC, SAMPLE_RELEASE, make_fleet
from minidump.fleet.triage import panic_line_event


def lines(out: str) -> tuple[list[dict], dict]:
    objects = [json.loads(line) for line in out.splitlines()]
    assert [o["type"] for o in objects] == ["capture"] * (len(objects) - 1) + ["summary"]
    return objects[:-1], objects[-1]


def test_samples_json_lines(capsys):
    code, out, err = run(capsys, "triage", str(SAMPLES.parent), "--json", "--workers", "2")
    records, summary = lines(out)
    assert code == 3 and err == ""                 # item602.bin needs the RAM images: an error
    by_input = {r["input"]: r for r in records}
    assert sorted(by_input) == sorted(f"{SAMPLES}/{n}" for n in
                                      ("md", "md-nokelf", "ram", "item602.bin", "rawdump.img"))
    assert {n: by_input[f"{SAMPLES}/{n}"]["status"] for n in
            ("md", "md-nokelf", "ram", "item602.bin", "rawdump.img")} == {
        "md": "ok", "md-nokelf": "partial", "ram": "ok", "item602.bin": "error",
        "rawdump.img": "ok"}
    md = by_input[f"{SAMPLES}/md"]
    assert md["container"] == "md_*.BIN directory" and md["arch"] == "arm64"
    assert md["release"] == SAMPLE_RELEASE
    assert md["build_id"] == "73a3c82dde20a85e8bfcb1c769daffc14e784ce4"
    assert md["uptime"] == 42.114576
    assert md["crash"]["event"] == "sysrq: Trigger a crash"          # crash triage's event
    assert md["crash"]["kind"] == "sysrq-crash" and md["crash"]["source"] == "crash triage"
    assert md["regions"] == {"total": 53, "written": 53, "lost": 0}
    assert by_input[f"{SAMPLES}/md-nokelf"]["problems"] == ["1 region lost: KELF missing"]
    assert by_input[f"{SAMPLES}/item602.bin"]["error"].startswith(
        f"{SAMPLES}/item602.bin: offset 0x28 (minidump_subsystem[0].regions_baseptr): ")
    (group,) = summary["signatures"]                # four containers, one crash
    assert group["count"] == 4 and group["releases"] == [SAMPLE_RELEASE]
    assert group["signature"] == md["crash"]["signature"]
    assert (summary["captures"], summary["ok"], summary["partial"], summary["error"]) == (
        5, 3, 1, 1)
    assert summary["skipped"] == [str(SAMPLES.parent / "PROVENANCE.md"),
                                  f"{SAMPLES}/expected.json"]


def test_table_view_and_no_progress_bar_in_a_pipe(capsys):
    code, out, err = run(capsys, "triage", str(SAMPLES / "md"), str(SAMPLES / "rawdump.img"))
    assert code == 0 and err == ""
    assert "crashes by signature" in out
    assert "2 captures: 2 ok, 0 partial, 0 errors; 1 crash signatures" in out
    assert "e371c72ca1510f06" in out       # the sample's sysrq crash (tests/kernel/test_crash.py)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet") / "uploads"
    return root, make_fleet(root, 60, corrupt_every=10, no_panic_every=25)


def test_a_fleet_every_capture_once_and_grouped_by_signature(fleet, capsys):
    root, truth = fleet
    code, out, err = run(capsys, "triage", str(root), "--json", "--workers", "2")
    records, summary = lines(out)
    assert code == 3 and err == ""
    assert sorted(r["input"] for r in records) == sorted(truth)       # each exactly once
    for rec in records:
        want = truth[rec["input"]]
        assert rec["status"] == want["status"], rec
        assert (rec["crash"] or {}).get("event") == want["panic"], rec
        assert rec["release"] == want["release"], rec
    panics = collections.Counter(t["panic"] for t in truth.values() if t["panic"])
    groups = {g["event"]: g for g in summary["signatures"]}
    assert {event: g["count"] for event, g in groups.items()} == dict(panics)
    assert len({g["signature"] for g in summary["signatures"]}) == len(panics)
    for event, group in groups.items():
        assert group["releases"] == sorted({t["release"] for t in truth.values()
                                            if t["panic"] == event})
    # newest first: by mtime, which the builder spaces a minute apart
    seen = [r["seen"]["time"] for r in records]
    assert seen == sorted(seen, reverse=True)
    assert summary["no_crash"]["count"] == sum(1 for t in truth.values()
                                               if t["status"] != "error" and not t["panic"])
    assert summary["error"] == len(summary["errors"]) == sum(
        1 for t in truth.values() if t["status"] == "error")


def test_overlapping_paths_count_each_capture_once(capsys, tmp_path):
    shutil.copytree(SAMPLES / "md", tmp_path / "md")
    code, out, _ = run(capsys, "triage", str(tmp_path), str(tmp_path / "md"), "--json")
    records, summary = lines(out)
    assert [r["input"] for r in records] == [str(tmp_path / "md")] and code == 0


def test_help_has_an_example(capsys):
    with pytest.raises(SystemExit):
        run(capsys, "triage", "--help")
    out = capsys.readouterr().out
    assert "minidump triage captures/ --json" in out and "MEMORY.txt" in out


def test_bad_options_are_usage_errors(capsys):
    code, _, err = run(capsys, "triage", str(SAMPLES / "md"), "--workers", "0")
    assert code == 2 and err == "minidump: error: --workers 0: expected 1 to 65536\n"


def test_panic_line_fallback():
    """Where crash triage classifies no event, the panic line (addresses and numbers out)."""
    first = panic_line_event(["x", PANIC + "Attempted to kill init! exitcode=0x0000000b"])
    again = panic_line_event([PANIC + "Attempted to kill init! exitcode=0x00000009"])
    assert first["source"] == "panic line" and first["kind"] == "panic"
    assert first["signature"] == again["signature"]
    assert panic_line_event(["nothing", "to see"]) is None
