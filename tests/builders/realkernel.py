"""Opt-in real-kernel captures from tools/realkernel (MINIDUMP_REALKERNEL=1).

``realkernel`` gives the harness's ``paths`` record; ``normalized`` gives a
copy of a capture with its program headers at offset 64, which makedumpfile
(up to 1.7.x) needs because it ignores ``e_phoff`` (harness README).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "tools" / "realkernel" / "harness.py"


def _paths() -> dict:
    if os.environ.get("MINIDUMP_REALKERNEL") != "1":
        pytest.skip("real-kernel tests are opt-in: MINIDUMP_REALKERNEL=1")
    out = subprocess.run([sys.executable, str(HARNESS), "paths"], capture_output=True,
                         text=True, check=False)
    record = json.loads(out.stdout or "{}")
    if not record.get("captures"):
        pytest.skip("no captures: run python tools/realkernel/harness.py all")
    return record


def load_tool(name: str):
    """``tools/realkernel/<name>.py`` as a module, loaded once from its file (tools/ is no
    package; registered in ``sys.modules`` first, as dataclasses need, under its own name so
    that the harness and checks.py import each other)."""
    import importlib.util
    if name in sys.modules:
        return sys.modules[name]
    if str(HARNESS.parent) not in sys.path:
        sys.path.insert(0, str(HARNESS.parent))
    spec = importlib.util.spec_from_file_location(name, HARNESS.parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_harness():
    """``tools/realkernel/harness.py`` as a module."""
    return load_tool("harness")


def captures(arches: tuple[str, ...], kinds: tuple[str, ...] = ("captures",)) -> dict[str, dict]:
    """The harness's capture records for ``arches``, by name (``kinds``: ``captures`` for the
    plain boots, ``panics``); empty unless the real-kernel tests are enabled."""
    if os.environ.get("MINIDUMP_REALKERNEL") != "1":
        return {}
    harness = load_harness()
    found: dict[str, dict] = {}
    for arch in arches:
        available = harness.available_captures(arch)
        for kind in kinds:
            found.update(available.get(kind, {}))
    return found


@pytest.fixture(scope="session")
def realkernel() -> dict:
    return _paths()


@pytest.fixture(scope="session")
def normalized(realkernel, tmp_path_factory):
    """``normalized(name) -> Path``: a header-normalised copy, made once per session."""
    harness = load_harness()
    made: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name not in made:
            rec = realkernel["captures"][f"cloud-amd64-{name}"]
            dst = tmp_path_factory.mktemp("norm") / f"{name}.vmcore"
            harness.normalized_elf_copy(Path(rec["vmcore"]), dst)
            made[name] = dst
        return made[name]
    return make
