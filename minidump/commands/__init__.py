"""One module per subcommand, each a thin adapter over the library API.

A command module has ``add_parser(subparsers)`` and ``run(args) -> (Document,
ExitCode)``: it builds a document (:mod:`minidump.report`) and says how the run
went; :mod:`minidump.cli` prints the document and maps errors to exit codes.
Only the module of the command being run is imported.
"""

from __future__ import annotations

import importlib

#: every subcommand and its one-line summary (for --help without importing them)
COMMANDS = {
    "build": "write a vmcore from a firmware minidump",
    "regions": "list what build would write, without writing",
    "extract": "write the minidump of a full vmcore or RAM image (needs the vmlinux)",
    "info": "release, banner, KASLR, jiffies... and what each tool can do with the capture",
    "dmesg": "print the kernel log from any capture, using VMCOREINFO only",
    "vmcoreinfo": "print a capture's VMCOREINFO, or generate one from a vmlinux",
    "drgn": "drgn on any capture, no conversion: the interactive shell with prog, or a script",
    "triage": "many captures at once: one record each, crashes grouped by signature",
    "report": "one self-contained HTML page of a triage store (triage --db)",
    "completion": "print a tab-completion script for bash, zsh or tcsh",
}


def load(name: str):
    """The module of subcommand ``name``."""
    return importlib.import_module(f"minidump.commands.{name}")
