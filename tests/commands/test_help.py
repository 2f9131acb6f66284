"""Help as people meet it: wrapped to the terminal, every example command kept whole.

Each command's --help is run as a real process at 60, 80 and 200 columns (COLUMNS, as
argparse reads it in a pipe). At 80 columns and wider no line is longer than the
width; at 60 the only longer lines are example command lines, which are never broken
(a command split across lines cannot be copied). Every word of the description and
every example command survives the wrapping.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from minidump.commands import COMMANDS, load
import minidump.cli as cli


def _help(command: str | None, columns: int) -> str:
    argv = [sys.executable, "-m", "minidump"] + ([command] if command else []) + ["--help"]
    env = dict(os.environ, COLUMNS=str(columns))
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
    return proc.stdout


def _source(command: str | None) -> tuple[str, str]:
    """The description and epilog as written in the source."""
    if command is None:
        parser = cli.build_parser()
    else:
        parser = cli.command_parsers(cli.build_parser(command))[command]
    return parser.description or "", parser.epilog or ""


def _commands_in(epilog: str) -> list[str]:
    """Example command lines (comment removed), joined across backslash continuations."""
    found, pending = [], ""
    for line in epilog.splitlines():
        text = line.split("  # ")[0].strip()
        if not line.startswith(" ") and not pending:
            continue
        if text.endswith("\\"):
            pending += text[:-1].strip() + " "
            continue
        if pending or text.startswith("minidump"):
            found.append(pending + text)
        pending = ""
    return found


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("command", [None, *COMMANDS])
@pytest.mark.parametrize("columns", [60, 80, 200])
def test_help_fits_the_terminal_and_keeps_every_example(command, columns):
    out = _help(command, columns)
    description, epilog = _source(command)
    width = columns - 2          # argparse leaves a margin of two
    for line in out.splitlines():
        if len(line) <= width:
            continue
        # only a whole example command may be longer, and never with its comment on it
        assert columns < 80, (columns, line)
        assert re.match(r"^ {2,}(minidump |--)", line) and " # " not in line, line
    assert _words(description) in _words(out)
    lines = out.splitlines()     # the description is a plain paragraph: no hanging indent
    first = next(i for i, line in enumerate(lines) if line.startswith(description[:20]))
    body = lines[first:lines.index("", first)]
    assert not [line for line in body if line.startswith(" ")], body
    examples = _commands_in(epilog)
    assert examples, "every command's help carries an example"
    joined = _commands_in(out[out.index("examples:"):])
    for example in examples:
        assert example in joined, (example, joined)


def test_prose_in_the_epilog_is_wrapped_not_cut():
    out = _help("triage", 60)
    _, epilog = _source("triage")
    prose = epilog[epilog.index("what is a capture"):]
    assert _words(prose) in _words(out)
    assert max(len(line) for line in out.splitlines()
               if not line.startswith("  minidump")) <= 58


def test_the_then_line_lists_each_command_on_its_own_line_when_narrow():
    out = _help("build", 40).splitlines()
    i = out.index("then:")
    assert out[i + 1].strip() == "crash --minimal vmlinux vmcore"
    assert out[i + 2].strip() == "drgn -c vmcore -s vmlinux"
    wide = _help("build", 200)
    assert "then:  crash --minimal vmlinux vmcore     drgn -c vmcore -s vmlinux" in wide


def test_every_command_uses_the_shared_help_formatter():
    for name in COMMANDS:
        parser = cli.command_parsers(cli.build_parser(name))[name]
        assert parser.formatter_class is cli.HelpFormatter, name
        assert load(name) is not None
