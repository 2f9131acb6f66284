"""tools/fuzz.py says in one line when atheris is missing, and exits non-zero.

A real finding makes libFuzzer's child exit non-zero (77 for a Python
exception), which fuzz.py passes on as exit 1; that path needs atheris and a
planted bug, so it was checked by hand (see docs/development.md, "Fuzzing").
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_without_atheris_one_line_and_non_zero():
    code = ("import runpy, sys; sys.modules['atheris'] = None; "      # atheris not importable
            f"sys.argv = ['tools/fuzz.py', 'rawdump', '--seconds', '5']; "
            f"runpy.run_path({str(ROOT / 'tools' / 'fuzz.py')!r}, run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("fuzz.py: error: atheris is not installed (pip install atheris)")
