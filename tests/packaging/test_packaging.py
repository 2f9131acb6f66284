"""The distribution: every package ships, the build is clean, and the wheel works from anywhere,
including from the root of a checkout, whose ``minidump/`` then comes first on ``sys.path``.

``minidump/formats`` is a link to the top-level ``formats/``, so the checkout's
package is whole; before it was, every command run from the checkout root
after ``pip install .`` failed with ``No module named 'minidump.formats'``
(and forkserver workers re-imported the broken copy).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def clean_env() -> dict[str, str]:
    """The environment without what would hide or taint build output."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "VIRTUAL_ENV")}


def test_build_prints_no_warnings(installed):
    warnings = [line for line in installed.build_log.splitlines() if re.search(r"warn", line, re.I)]
    assert warnings == []


def test_every_package_and_data_file_ships(installed):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for init in (ROOT / "minidump").rglob("__init__.py"):
        assert f"minidump/{init.relative_to(ROOT / 'minidump')}" in names, init
    for schema in (ROOT / "formats").glob("*.py"):
        assert f"minidump/formats/{schema.name}" in names, schema
    for data in (ROOT / "minidump" / "data").rglob("*"):
        if data.is_file():
            assert f"minidump/{data.relative_to(ROOT / 'minidump')}" in names, data
    assert "minidump/py.typed" in names
    assert not [n for n in names if n.startswith(("formats/", "tests/", "tools/", "docs/"))]


def test_the_checkout_is_the_package():
    """The link is what makes the checkout importable; it must stay a link to formats/."""
    link = ROOT / "minidump" / "formats"
    assert link.is_symlink() and link.resolve() == (ROOT / "formats").resolve()


def test_an_sdist_builds_a_wheel_with_the_schemas(tmp_path):
    """sdist -> wheel (both isolated builds, as pip and build do them) keeps minidump.formats."""
    proc = subprocess.run([sys.executable, "-m", "build", "--sdist", "-o", str(tmp_path), str(ROOT)],
                          capture_output=True, text=True, env=clean_env(), timeout=600)
    if proc.returncode != 0 and "Could not find a version" in proc.stdout + proc.stderr:
        pytest.skip("the build backend (setuptools>=77) is not reachable from this machine")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with tarfile.open(next(tmp_path.glob("kminidump-*.tar.gz"))) as tar:
        tar.extractall(tmp_path / "src", filter="data")
    src = next((tmp_path / "src").iterdir())
    out = tmp_path / "wheel"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                           str(out), str(src)], capture_output=True, text=True, env=clean_env(),
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = set(zipfile.ZipFile(next(out.glob("*.whl"))).namelist())
    for schema in (ROOT / "formats").glob("*.py"):
        assert f"minidump/formats/{schema.name}" in names, schema


def _run(installed, args, **kw):
    return subprocess.run(args, capture_output=True, text=True, cwd=installed.checkout,
                          env=installed.env(COLUMNS="100"), timeout=300, **kw)


def test_scripts_work_outside_the_checkout(installed, tmp_path):
    for script in ("minidump", "kminidump"):
        help_text = subprocess.run([str(installed.bin / script), "--help"], capture_output=True,
                                   text=True, cwd=tmp_path, env=installed.env(),
                                   check=True).stdout
        assert "build" in help_text and "dmesg" in help_text and "examples:" in help_text
    where = subprocess.run([str(installed.python), "-c",
                            "import minidump; print(minidump.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=installed.env())
    assert where.stdout.startswith(str(installed.env_dir))  # the installed copy


def test_python_m_minidump_from_the_checkout_root(installed):
    proc = _run(installed, [str(installed.python), "-m", "minidump", "regions",
                            "samples/arm64-meminspect/rawdump.img", "--json"])
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert len(doc["regions"]) == 53 and proc.stderr == ""
    where = _run(installed, [str(installed.python), "-c",
                             "import minidump; print(minidump.__file__)"]).stdout
    assert where.strip() == str(installed.checkout / "minidump" / "__init__.py")


def test_triage_of_the_samples_from_the_checkout_root(installed):
    """Workers (forkserver) import the package again, from the checkout: every capture reads."""
    proc = _run(installed, ["minidump", "triage", "samples/", "--json", "--workers", "2"])
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    captures = [r for r in records if r["type"] == "capture"]
    assert captures and not [r for r in captures if "internal error" in (r["error"] or "")]
    by_input = {r["input"]: r["status"] for r in captures}
    assert by_input["samples/arm64-meminspect/md"] == "ok"
    assert by_input["samples/arm64-meminspect/ram"] == "ok"
    assert proc.returncode == 3          # the bare item-602 blob alone is an error record


def test_a_local_pool_from_the_checkout_root(installed):
    code = ("from minidump.fleet.discover import discover\n"
            "from minidump.fleet.local import LocalPool\n"
            "specs = discover(['samples/arm64-meminspect']).specs\n"
            "records, interrupted = LocalPool(2).run(specs)\n"
            "print(sorted((r['input'], r['status']) for r in records), interrupted)\n")
    proc = _run(installed, [str(installed.python), "-c", code])
    assert proc.returncode == 0, proc.stderr
    assert "('samples/arm64-meminspect/md', 'ok')" in proc.stdout
    assert "internal error" not in proc.stdout and proc.stdout.rstrip().endswith("False")


def test_the_readme_api_example_from_the_checkout_root(installed):
    text = (ROOT / "README.md").read_text()
    code, shown = re.search(r"```python\n(.*?)```\n\nprints\n\n```text\n(.*?)```", text,
                            re.S).groups()
    run = _run(installed, [str(installed.python), "-c", code])
    assert run.returncode == 0, run.stderr
    assert run.stdout == shown
