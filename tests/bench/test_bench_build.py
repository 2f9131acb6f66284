"""pytest-benchmark: ``build`` on 201 region blobs, in-process.

CI runs this once with ``--benchmark-disable`` on 16 MiB; the issue's figure
(>= 256 MiB against ``cat md_*.BIN > out``) is measured whole-process with
``MINIDUMP_BENCH_MIB=256 python -m pytest tests/bench/test_bench_build.py`` and
with ``/usr/bin/time -v`` as README.md shows.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from builders import blobs as bench_build
from minidump.cli import main

MIB = 1 << 20
TOTAL = int(os.environ.get("MINIDUMP_BENCH_MIB", "16")) * MIB


@pytest.fixture(scope="module")
def blobs(tmp_path_factory):
    directory = tmp_path_factory.mktemp("bench-md")
    bench_build.make_input(directory, count=201, total=TOTAL)
    return directory


def test_build_201_regions(benchmark, blobs, tmp_path):
    out = tmp_path / "vmcore"

    def run():
        if out.exists():
            out.unlink()
        return main(["build", "--from-table", str(blobs), "-o", str(out), "-q"])

    assert benchmark(run) == 0
    assert out.stat().st_size > TOTAL


def test_cat_baseline(benchmark, blobs, tmp_path):
    out = tmp_path / "cat.out"
    files = sorted(str(p) for p in blobs.glob("md_*.BIN"))

    def run():
        with open(out, "wb") as fh:
            subprocess.run(["cat", *files], stdout=fh, check=True)

    benchmark(run)
    assert out.stat().st_size >= TOTAL
