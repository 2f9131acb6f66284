"""Shared fixtures: the bundled samples, and the opt-in real-kernel captures.

The synthetic inputs are built by :mod:`builders` (this directory is on
``sys.path`` as the tests' root, so test modules import ``builders.*``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builders import SAMPLES
from builders.realkernel import normalized, realkernel  # noqa: F401 - fixtures for every test


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def expected() -> dict:
    return json.loads((SAMPLES / "expected.json").read_text())
