"""The distribution ships every package and data file the code imports."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_subpackage_is_listed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "minidump").rglob("__init__.py")}
    assert found <= listed, found - listed
    assert config["package-dir"]["minidump.formats"] == "formats"


def test_data_files_are_packaged():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["package-data"]["minidump"]
    for path in (ROOT / "minidump" / "data").glob("*"):
        assert any(path.match(f"*/{pattern}") for pattern in patterns), path
