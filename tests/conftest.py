"""Shared fixtures: the bundled samples and the sample generator."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "arm64-meminspect"
sys.path.insert(0, str(ROOT / "tools"))


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def expected() -> dict:
    return json.loads((SAMPLES / "expected.json").read_text())


def memory_args(ram: Path) -> list[str]:
    """``--memory FILE@PADDR`` for every line of ram/MEMORY.txt."""
    args = []
    for line in (ram / "MEMORY.txt").read_text().split():
        args += ["--memory", str(ram / line)]
    return args
