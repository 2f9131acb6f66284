"""Sphinx configuration: MyST Markdown pages, autodoc for the API, the CLI reference generated
from the argparse parser (docs/_ext/minidump_docs.py).  Build with warnings as errors:

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))      # the checkout imports as the installed package

import minidump  # noqa: E402

project = "minidump"
author = "the kminidump developers"
copyright = "the kminidump developers; GPL-2.0-or-later"
release = version = minidump.__version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "minidump_docs"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "README.md"]
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 4
smartquotes = False          # option names keep their two hyphens

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "imported-members": True}

html_theme = "alabaster"
html_title = f"minidump {release}"
html_static_path: list[str] = []
