"""One wheel and one clean venv with it installed, shared by the packaging and examples tests.

The wheel is built by pip (an isolated build, as ``pip install .`` does) and
installed, not editable, into a fresh venv.  ``checkout`` is a copy of the
files a clone has at its top (``minidump/`` with its ``formats`` link,
``formats/``, ``samples/``, ``README.md``, ``docs/``): commands run there
with the checkout's ``minidump/`` first on ``sys.path``, as they do when a
user runs them from the root of a clone after ``pip install .``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without what would hide or taint build output or pick another copy."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "VIRTUAL_ENV", "COLUMNS")}
    env["PIP_ROOT_USER_ACTION"] = "ignore"
    env.update(extra)
    return env


@dataclass
class Installed:
    wheel: Path
    build_log: str
    env_dir: Path
    checkout: Path

    @property
    def python(self) -> Path:
        return self.env_dir / "bin" / "python"

    @property
    def bin(self) -> Path:
        return self.env_dir / "bin"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment with this venv's scripts first on PATH."""
        base = clean_env(**extra)
        base["PATH"] = f"{self.bin}{os.pathsep}{base.get('PATH', '')}"
        return base


@pytest.fixture(scope="session")
def installed(tmp_path_factory) -> Installed:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w",
                           str(out), str(ROOT)], capture_output=True, text=True,
                          env=clean_env(), timeout=600)
    if proc.returncode != 0 and "Could not find a version" in proc.stdout + proc.stderr:
        pytest.skip("the build backend (setuptools>=77) is not reachable from this machine")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheel = next(out.glob("kminidump-*.whl"))
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True).create(env_dir)
    pip = subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q",
                          str(wheel)], capture_output=True, text=True, env=clean_env(),
                         timeout=600)
    if pip.returncode != 0 and "No matching distribution" in pip.stderr:
        pytest.skip("the runtime dependencies are not reachable from this machine")
    assert pip.returncode == 0, pip.stderr[-3000:]
    checkout = tmp_path_factory.mktemp("checkout")
    for name in ("minidump", "formats", "samples", "docs", "tools", "tests"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, checkout / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "_build"))
    shutil.copy(ROOT / "README.md", checkout / "README.md")
    return Installed(wheel, proc.stdout + proc.stderr, env_dir, checkout)
