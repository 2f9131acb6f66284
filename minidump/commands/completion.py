"""``minidump completion SHELL``: a tab-completion script for bash, zsh or tcsh.

The script is generated from the same argparse parser the commands use, by
shtab (https://github.com/iterative/shtab), so it never falls behind the
options. Inputs and outputs (CAPTURE, FILE, VMLINUX, PATH ...) complete as
file names.
"""

from __future__ import annotations

import argparse

from minidump import cli
from minidump.cli import ExitCode, HelpFormatter
from minidump.commands import COMMANDS
from minidump.report import Document

SHELLS = ("bash", "zsh", "tcsh")

EXAMPLES = """\
examples:
  d=~/.local/share/bash-completion/completions     # bash-completion loads it on demand
  mkdir -p $d; minidump completion bash > $d/minidump
  minidump completion zsh > ~/.zfunc/_minidump     # with fpath+=~/.zfunc in ~/.zshrc
  source <(minidump completion bash)               # this shell only
"""

#: metavars whose values are paths: they complete as file names
_PATHS = ("CAPTURE", "INPUT", "FILE", "OUT", "VMLINUX", "PATH")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "completion", help=COMMANDS["completion"],
        description="Print a tab-completion script for SHELL, generated from the command "
                    "line parser: subcommands, options, choices, and file names where a "
                    "path is expected.",
        epilog=EXAMPLES, formatter_class=HelpFormatter)
    p.add_argument("shell", metavar="SHELL", choices=SHELLS, help=", ".join(SHELLS))
    return p


def script(shell: str, prog: str) -> str:
    """The completion script of every command for ``shell``."""
    import shtab

    parser = cli.build_parser(every=True)
    parser.prog = prog
    for action in _actions(parser):
        metavar = action.metavar if isinstance(action.metavar, str) else ""
        if any(word in metavar.upper() for word in _PATHS) and not action.choices:
            action.complete = shtab.FILE
    return shtab.complete(parser, shell=shell)


def _actions(parser: argparse.ArgumentParser):
    yield from parser._actions
    for sub in cli.command_parsers(parser).values():
        yield from sub._actions


def run(args) -> tuple[Document, ExitCode]:
    return Document("raw", script(args.shell, cli.PROG).encode()), ExitCode.OK
