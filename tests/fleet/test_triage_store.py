"""``triage --db``: one SQLite store across runs; re-runs read only what is new or changed."""

from __future__ import annotations

import collections
import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from builders import ROOT, SAMPLES, one_error_line, run
from builders.fleet import DAY, EPOCH, make_fleet
from minidump.fleet.store import MIGRATIONS, SCHEMA_VERSION, Store, Writer
from minidump.fleet.triage import NOT_READ


def lines(out: str) -> tuple[list[dict], dict]:
    objects = [json.loads(line) for line in out.splitlines()]
    return objects[:-1], objects[-1]


def stored(db) -> dict[str, dict]:
    with Store(str(db)) as store:
        return {rec["input"]: rec for rec in store.records()}


@pytest.fixture(scope="module")
def two_days(tmp_path_factory):
    """Day one's 30 uploads, and day two's 20 (a day later) kept aside until the second run."""
    base = tmp_path_factory.mktemp("days")
    first = make_fleet(base / "made" / "day1", 30, corrupt_every=10)
    second = make_fleet(base / "later" / "day2", 20, corrupt_every=10, epoch=EPOCH + DAY)
    (base / "uploads").mkdir()
    shutil.move(str(base / "made" / "day1"), str(base / "uploads" / "day1"))
    first = {p.replace(str(base / "made"), str(base / "uploads")): t for p, t in first.items()}
    return base, first, second


def test_two_runs_a_day_apart_make_one_store(two_days, capsys):
    base, first, second = two_days
    uploads, db = base / "uploads", base / "fleet.sqlite"
    code, out, err = run(capsys, "triage", str(uploads), "--db", str(db), "--json",
                         "--workers", "2")
    records, summary = lines(out)
    assert (code, err) == (3, "")
    assert sorted(r["input"] for r in records) == sorted(first)
    assert summary["store"]["read"] == 30 and summary["store"]["unchanged"] == 0
    # the second day's uploads arrive beside the first's
    shutil.move(str(base / "later" / "day2"), str(uploads / "day2"))
    moved_truth = {p.replace(str(base / "later"), str(uploads)): t for p, t in second.items()}
    code, out, err = run(capsys, "triage", str(uploads), "--db", str(db), "--json",
                         "--workers", "2")
    records, summary = lines(out)
    assert (code, err) == (3, "")
    truth = {**first, **moved_truth}
    assert sorted(r["input"] for r in records) == sorted(truth)
    # only the new captures were read
    assert (summary["store"]["found"], summary["store"]["read"], summary["store"]["unchanged"],
            summary["store"]["moved"]) == (50, 20, 30, 0)
    assert summary["store"]["runs"] == 2
    # the summary spans both days: counts, first/last seen, days, releases
    assert summary["captures"] == 50
    panics = collections.Counter(t["panic"] for t in truth.values() if t["panic"])
    groups = {g["event"]: g for g in summary["signatures"]}
    assert {e: g["count"] for e, g in groups.items()} == dict(panics)
    for event, group in groups.items():
        days = collections.Counter()
        for path, t in truth.items():
            if t["panic"] == event:
                days["2025-10-21" if path in first else "2025-10-22"] += 1
        assert group["days"] == dict(sorted(days.items()))
        assert group["first_seen"].startswith("2025-10-21")
        assert group["last_seen"].startswith("2025-10-22")
        assert group["releases"] == sorted({t["release"] for t in truth.values()
                                            if t["panic"] == event})
    assert summary["error"] == sum(1 for t in truth.values() if t["status"] == "error")
    # --json's records are the store's records, object for object
    assert {r["input"]: r for r in records} == stored(db)


def test_a_moved_capture_is_not_counted_twice_and_a_changed_one_is_read_again(tmp_path,
                                                                                capsys):
    for name in ("md", "ram", "rawdump.img"):
        (shutil.copytree if (SAMPLES / name).is_dir() else shutil.copy)(
            SAMPLES / name, tmp_path / name)
    db = tmp_path.parent / f"{tmp_path.name}.sqlite"
    first = lines(run(capsys, "triage", str(tmp_path), "--db", str(db), "--json")[1])[0]
    os.rename(tmp_path / "rawdump.img", tmp_path / "renamed.img")
    os.rename(tmp_path / "md", tmp_path / "md-moved")
    code, out, _ = run(capsys, "triage", str(tmp_path), "--db", str(db), "--json")
    records, summary = lines(out)
    assert code == 0
    assert (summary["store"]["read"], summary["store"]["moved"],
            summary["store"]["unchanged"]) == (0, 2, 1)
    assert summary["captures"] == 3 and summary["signatures"][0]["count"] == 3
    by_input = {r["input"]: r for r in records}
    old = {r["input"]: r for r in first}
    assert by_input[str(tmp_path / "renamed.img")] == dict(
        old[str(tmp_path / "rawdump.img")], input=str(tmp_path / "renamed.img"))
    assert by_input == stored(db)
    # a changed capture (other bytes, same size) is read again, and replaces its old record
    data = bytearray((tmp_path / "renamed.img").read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / "renamed.img").write_bytes(data)
    code, out, _ = run(capsys, "triage", str(tmp_path), "--db", str(db), "--json")
    records, summary = lines(out)
    assert (summary["store"]["read"], summary["store"]["unchanged"]) == (1, 2)
    assert summary["captures"] == 3
    # touched but not changed: fingerprinted again, not read
    os.utime(tmp_path / "ram" / "ddr0.bin")
    code, out, _ = run(capsys, "triage", str(tmp_path), "--db", str(db), "--json")
    assert lines(out)[1]["store"]["read"] == 0 and lines(out)[1]["store"]["unchanged"] == 3
    # a copy at a second live path is a second upload: read, counted
    shutil.copy(tmp_path / "renamed.img", tmp_path / "copy.img")
    code, out, _ = run(capsys, "triage", str(tmp_path), "--db", str(db), "--json")
    assert lines(out)[1]["store"]["read"] == 1 and lines(out)[1]["captures"] == 4


def test_a_capture_missing_an_image_is_not_read_again_until_the_image_comes(tmp_path,
                                                                             capsys):
    shutil.copytree(SAMPLES / "ram", tmp_path / "ram")
    image = (tmp_path / "ram" / "ddr6.bin").read_bytes()
    (tmp_path / "ram" / "ddr6.bin").unlink()
    db = str(tmp_path.parent / f"{tmp_path.name}.sqlite")
    seen = []
    for _ in range(2):
        code, out, _ = run(capsys, "triage", str(tmp_path), "--db", db, "--json")
        records, summary = lines(out)
        seen.append((code, records[0]["status"], summary["store"]["read"]))
    (tmp_path / "ram" / "ddr6.bin").write_bytes(image)
    code, out, _ = run(capsys, "triage", str(tmp_path), "--db", db, "--json")
    records, summary = lines(out)
    seen.append((code, records[0]["status"], summary["store"]["read"]))
    assert seen == [(3, "error", 1), (3, "error", 0), (0, "ok", 1)]


def test_the_store_files_are_not_listed_as_skipped(tmp_path, capsys):
    shutil.copy(SAMPLES / "rawdump.img", tmp_path / "a.img")
    db = tmp_path / "fleet.sqlite"
    for _ in range(2):
        code, out, _ = run(capsys, "triage", str(tmp_path), "--db", str(db), "--json")
        assert code == 0 and lines(out)[1]["skipped"] == []


def test_a_store_of_the_first_schema_is_migrated(tmp_path, capsys):
    db = tmp_path / "old.sqlite"
    shutil.copy(SAMPLES / "rawdump.img", tmp_path / "a.img")
    con = sqlite3.connect(db)
    con.executescript(MIGRATIONS[0])
    rec = {"type": "capture", "input": "x.img", "status": "ok", "arch": "arm64",
           "crash": {"signature": "abc"}, "seen": {"time": "2025-10-21T12:00:00Z"}}
    con.execute("INSERT INTO captures (path, record, status, signature, seen) "
                "VALUES ('/gone/x.img', ?, 'ok', 'abc', '2025-10-21T12:00:00Z')",
                (json.dumps(rec),))
    con.execute("PRAGMA user_version = 1")
    con.execute("PRAGMA application_id = 0x6B6D6474")
    con.commit()
    con.close()
    code, out, err = run(capsys, "triage", str(tmp_path / "a.img"), "--db", str(db), "--json")
    assert (code, err) == (0, "")
    assert lines(out)[1]["captures"] == 2 and lines(out)[1]["store"]["schema_version"] == 2
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    assert con.execute("SELECT day FROM captures WHERE path = '/gone/x.img'").fetchone() == (
        "2025-10-21",)


def test_stores_it_cannot_use_are_one_line_errors(tmp_path, capsys):
    shutil.copy(SAMPLES / "rawdump.img", tmp_path / "a.img")
    newer = tmp_path / "newer.sqlite"
    con = sqlite3.connect(newer)
    con.execute("PRAGMA application_id = 0x6B6D6474")
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.close()
    (tmp_path / "text.sqlite").write_text("not a database at all, but long enough " * 40)
    for db, problem in ((newer, f"store schema version {SCHEMA_VERSION + 1} is newer than "
                                "this minidump knows"),
                        (other, "an SQLite database, but not a triage store"),
                        (tmp_path / "text.sqlite", "not a usable triage store")):
        code, out, err = run(capsys, "triage", str(tmp_path / "a.img"), "--db", str(db))
        assert code == 1 and out == ""
        assert one_error_line(err).startswith(f"minidump: error: {db}: {problem}")


def test_an_interrupted_runs_unread_captures_are_not_stored(tmp_path):
    db = str(tmp_path / "s.sqlite")
    with Store(db) as store:
        run_id = store.begin_run([], "test")
        spec = {"input": str(SAMPLES / "rawdump.img"), "open": {"path": ""}}
        plan = store.plan([spec, dict(spec, input=str(SAMPLES / "md"))], run_id)
        writer = Writer(store, run_id, plan)
        writer.add({"input": spec["input"], "status": "ok", "seen": None})
        writer.add({"input": str(SAMPLES / "md"), "status": "error", "error": NOT_READ})
        writer.flush()
        assert [r["input"] for r in store.records()] == [spec["input"]]


def test_concurrent_runs_on_one_store(tmp_path):
    """Two runs at once on one store: both finish, each capture is stored once."""
    truth = make_fleet(tmp_path / "uploads", 40, corrupt_every=10)
    db = tmp_path / "fleet.sqlite"
    argv = [sys.executable, "-m", "minidump", "triage", str(tmp_path / "uploads"), "--db",
            str(db), "--json", "--workers", "1"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                              text=True) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [3, 3], results
    assert [err for _, err in results] == ["", ""]
    for out, _ in results:
        records, summary = lines(out)
        assert sorted(r["input"] for r in records) == sorted(truth)
        assert summary["store"]["found"] == 40
    con = sqlite3.connect(db)
    paths = [p for (p,) in con.execute("SELECT path FROM captures")]
    assert sorted(paths) == sorted(truth)            # each capture once
    assert con.execute("SELECT count(*) FROM runs WHERE finished IS NOT NULL").fetchone() == (2,)
    # and a third run after them reads nothing
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    assert lines(proc.stdout)[1]["store"]["read"] == 0
