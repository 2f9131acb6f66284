"""The man page: man/minidump.1 is what tools/make_manpage.py makes from today's parser,
and man renders every command, option and example from it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from minidump import cli
from minidump.commands import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "man" / "minidump.1"

pytest.importorskip("argparse_manpage", reason="argparse-manpage comes with the test extra")


def test_the_committed_page_is_up_to_date():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "make_manpage.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(shutil.which("man") is None, reason="needs man (man-db)")
def test_man_renders_every_command_option_and_example():
    out = subprocess.run(["man", "-l", str(PAGE)], capture_output=True, text=True, check=True,
                         env=dict(os.environ, MANWIDTH="100", MAN_KEEP_FORMATTING="")).stdout
    parser = cli.build_parser(every=True)
    commands = cli.command_parsers(parser)
    words = " ".join(out.split())
    for name in COMMANDS:
        assert f"COMMAND 'minidump {name}'" in out, name
        for action in commands[name]._actions:
            if action.dest == "help":       # -h is in the usage line, not listed
                continue
            for option in action.option_strings:
                assert option in out, (name, option)
        epilog = (commands[name].epilog or "").replace("examples:", f"minidump {name}:", 1)
        for line in epilog.splitlines():   # examples: commands whole, comments (maybe above)
            command, _, comment = line.partition("  # ")
            assert " ".join(command.split()) in words, (name, line)
            assert " ".join(comment.split()) in words, (name, line)


@pytest.mark.skipif(shutil.which("man") is None, reason="needs man (man-db)")
def test_man_fits_80_columns_and_has_the_usual_sections():
    out = subprocess.run(["man", "-l", str(PAGE)], capture_output=True, text=True, check=True,
                         env=dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="")).stdout
    assert [line for line in out.splitlines() if len(line) > 80] == []
    headings = [line for line in out.splitlines() if line[:1].isupper() and line.isupper()]
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "EXAMPLES", "EXIT STATUS",
                    "ENVIRONMENT", "SEE ALSO"):
        assert section in headings, section
    assert "POSITIONAL ARGUMENTS" not in out
    commands = out[out.index("\nCOMMANDS\n"):out.index("\nCOMMAND 'minidump build'")]
    for name in COMMANDS:
        assert f"minidump {name}" in commands, name
    for code, _ in cli.EXIT_STATUS:
        assert f"\n       {int(code) if not isinstance(code, str) else code} " in out, code
