"""pytest-benchmark: ``triage --db`` re-run over unchanged captures (stat and stored
fingerprints only; nothing is read), in-process.

CI runs it once with ``--benchmark-disable`` on 200 captures; the issue's figure
(10,000 unchanged captures under 2 s, whole process) is measured with
``tools/bench_store.py`` (``MINIDUMP_BENCH_CAPTURES=10000`` runs this one at that size).
"""

from __future__ import annotations

import json
import os

import pytest

from builders.fleet import make_fleet
from minidump.cli import main

COUNT = int(os.environ.get("MINIDUMP_BENCH_CAPTURES", "200"))


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    top = tmp_path_factory.mktemp("bench-store")
    make_fleet(top / "uploads", COUNT)
    db = top / "fleet.sqlite"
    assert main(["triage", str(top / "uploads"), "--db", str(db), "-q"]) == 3
    return top / "uploads", db


@pytest.mark.benchmark
def test_rerun_over_unchanged_captures(benchmark, stored, capsys):
    uploads, db = stored

    def rerun():
        code = main(["triage", str(uploads), "--db", str(db), "--json"])
        summary = json.loads(capsys.readouterr().out.splitlines()[-1])
        return code, summary["store"]

    code, store = benchmark(rerun)
    assert code == 3 and store["read"] == 0 and store["unchanged"] == COUNT
