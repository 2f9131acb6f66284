"""Packages by discovery: every subpackage of minidump/ ships, and formats/ as minidump.formats.

Everything else about the distribution is in pyproject.toml; this file only
exists because pyproject's package discovery cannot map a folder outside the
package (formats/) into it.
"""

from setuptools import find_namespace_packages, setup

setup(packages=find_namespace_packages(include=["minidump", "minidump.*"],
                                       exclude=["*.__pycache__"]) + ["minidump.formats"],
      package_dir={"minidump.formats": "formats"})
