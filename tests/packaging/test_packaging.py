"""The distribution: every package ships by discovery, the build is clean, a wheel works alone.

The wheel is built by pip (an isolated build, as ``pip install .`` does), then
installed into a fresh venv where ``minidump --help`` and the README's API
example must run, with nothing from this checkout on the path.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    """The environment without what would hide or taint build output."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
    env["PIP_ROOT_USER_ACTION"] = "ignore"
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w",
                           str(out), str(ROOT)], capture_output=True, text=True, env=_env(),
                          timeout=600)
    if proc.returncode != 0 and "Could not find a version" in proc.stdout + proc.stderr:
        pytest.skip("the build backend (setuptools>=77) is not reachable from this machine")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return next(out.glob("kminidump-*.whl")), proc.stdout + proc.stderr


def test_build_prints_no_warnings(wheel):
    _, log = wheel
    warnings = [line for line in log.splitlines() if re.search(r"warn", line, re.I)]
    assert warnings == []


def test_every_package_and_data_file_ships(wheel):
    path, _ = wheel
    names = set(zipfile.ZipFile(path).namelist())
    for init in (ROOT / "minidump").rglob("__init__.py"):
        assert f"minidump/{init.relative_to(ROOT / 'minidump')}" in names, init
    for schema in (ROOT / "formats").glob("*.py"):
        assert f"minidump/formats/{schema.name}" in names, schema
    for data in (ROOT / "minidump" / "data").glob("*"):
        assert f"minidump/data/{data.name}" in names, data
    assert "minidump/py.typed" in names
    assert not [n for n in names if n.startswith(("formats/", "tests/", "tools/"))]


def test_wheel_works_in_a_clean_venv(wheel, tmp_path):
    path, _ = wheel
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", str(path)],
                          capture_output=True, text=True, env=_env(), timeout=600)
    if proc.returncode != 0 and "No matching distribution" in proc.stderr:
        pytest.skip("the runtime dependencies are not reachable from this machine")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for script in ("minidump", "kminidump"):
        help_text = subprocess.run([str(env_dir / "bin" / script), "--help"], capture_output=True,
                                   text=True, cwd=tmp_path, env=_env(), check=True).stdout
        assert "build" in help_text and "dmesg" in help_text and "examples:" in help_text
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Library API"):]
    code, shown = re.search(r"```python\n(.*?)```\n\nprints\n\n((?:    [^\n]*\n)+)", section,
                            re.S).groups()
    (tmp_path / "samples").symlink_to(ROOT / "samples")
    run = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, env=_env(), timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "".join(line[4:] + "\n" for line in shown.splitlines())
    where = subprocess.run([str(python), "-c", "import minidump; print(minidump.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=_env()).stdout
    assert where.startswith(str(env_dir))     # the installed copy, not this checkout
