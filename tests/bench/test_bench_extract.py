"""pytest-benchmark figures for issue 3 (real Debian vmlinux and capture; skipped without them).

    python tools/realkernel/harness.py all
    python -m pytest tests/bench/test_bench_extract.py --benchmark-only

Whole-process figures (extract vs makedumpfile, 1/4/16 GiB sparse images) come
from ``tools/bench_extract.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).parents[2] / "tools" / "realkernel" / "harness.py"
pytestmark = pytest.mark.benchmark


def _paths() -> dict:
    out = subprocess.run([sys.executable, str(HARNESS), "paths"], text=True,
                         capture_output=True, check=True).stdout
    return json.loads(out)


@pytest.fixture(scope="module")
def real():
    paths = _paths()
    if not paths["kernel"] or not paths["captures"]:
        pytest.skip("no real kernel: python tools/realkernel/harness.py all")
    return paths


def test_inspect_table_and_symbol_index(benchmark, real):
    """Open the vmlinux, build the symbol index, read .inspect_table (target: <= 0.5 s)."""
    from minidump.meminspect.static import read_static
    from minidump.elf.vmlinux import Vmlinux

    def run():
        with Vmlinux.open(real["kernel"]["files"]["vmlinux"]) as vmlinux:
            read_static(vmlinux)
            return len(vmlinux.symbols)

    assert benchmark(run) > 100_000


def test_extract_in_process(benchmark, real, tmp_path):
    """extract --regions v3-default --profile crash from the 512 MiB QEMU dump."""
    from minidump.cli import main
    rec = real["captures"][sorted(real["captures"])[0]]
    out = str(tmp_path / "mini.vmcore")
    argv = ["extract", "-q", "--force", "--vmlinux", rec["vmlinux"], rec["vmcore"],
            "--regions", "v3-default", "--profile", "crash", "-o", out]
    assert benchmark(main, argv) == 0
