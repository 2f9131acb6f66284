"""Numbers and flags as users and attackers type them: ASCII digits only, finite seconds,
``--color always`` over ``NO_COLOR``, and inputs that are no files (a symlink loop,
``/proc/self/mem``) named in one line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from builders import SAMPLES, one_error_line, run

MD = str(SAMPLES / "md")


@pytest.mark.parametrize("spec", ["\u0661\u0662", "1_0", "\uff11\uff10", "0x\u0661"])
def test_memory_addresses_are_ascii_hex(capsys, spec):
    code, _, err = run(capsys, "regions", MD, "--memory", f"{SAMPLES / 'ram' / 'ddr0.bin'}@{spec}")
    assert code == 2
    assert one_error_line(err).endswith("is not a hexadecimal address")


def test_color_always_beats_no_color():
    env = {**os.environ, "NO_COLOR": "1"}
    out = subprocess.run([sys.executable, "-m", "minidump", "regions", MD, "--color", "always"],
                         capture_output=True, text=True, env=env, timeout=120).stdout
    assert "\x1b[32m" in out          # green "written": colour, not only bold
    plain = subprocess.run([sys.executable, "-m", "minidump", "regions", MD],
                           capture_output=True, text=True, env=env, timeout=120).stdout
    assert "\x1b[" not in plain


def test_a_symlink_loop_says_so(tmp_path, capsys):
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    code, _, err = run(capsys, "info", str(loop))
    assert code == 2
    assert one_error_line(err) == (f"minidump: error: {loop}: a symbolic link loop (too many "
                                   "levels of symbolic links)")


def test_an_unreadable_device_is_named():
    if not os.path.exists("/proc/self/mem"):
        pytest.skip("no /proc/self/mem")
    proc = subprocess.run([sys.executable, "-m", "minidump", "info", "/proc/self/mem"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert one_error_line(proc.stderr).startswith("minidump: error: /proc/self/mem: ")


@pytest.mark.parametrize("value", ["\u0661\u0660\u0662\u0664", "4_096", "4095", "0"])
def test_pagesize_is_checked(capsys, value, tmp_path):
    code, _, err = run(capsys, "vmcoreinfo", "--vmlinux", str(tmp_path / "v"), "--pagesize",
                       value)
    assert code == 2
    assert "--pagesize" in one_error_line(err)
