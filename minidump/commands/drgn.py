"""``minidump drgn CAPTURE [--vmlinux V] [SCRIPT [ARGS...]]``: drgn on any capture, no vmcore.

The Program is :meth:`minidump.Capture.drgn`'s.  Without SCRIPT it starts drgn's own
interactive shell (``drgn.cli.run_interactive``, as ``drgn -c`` does) with ``prog``
bound and drgn's helpers imported; with SCRIPT it runs the script as ``__main__`` with
``prog`` in its globals and ``sys.argv`` = ``[SCRIPT, ARGS...]``, as ``drgn -c VMCORE
SCRIPT`` does.  Exit status: 0 when the shell or script ends; the script's own
``sys.exit(N)``; 1 when the capture cannot be opened or the script raises (its traceback
is printed: it is the script's); 2 on a usage error.
"""

from __future__ import annotations

import argparse
import os
import sys

from minidump.cli import ExitCode, HelpFormatter
from minidump.commands import COMMANDS
from minidump.commands.common import add_input_options, open_capture

EXAMPLES = """\
examples:
  minidump drgn md/ --vmlinux vmlinux           # drgn's shell on md_*.BIN blobs, prog bound
  minidump drgn rawdump.img                     # no vmlinux: kallsyms symbols, drgn's printk helpers
  minidump drgn md/ --vmlinux vmlinux tasks.py -v    # run a drgn script (sys.argv: tasks.py -v)
  minidump drgn ram.bin --memory ram.bin@80000000 --vmlinux vmlinux   # a RAM image
then:  minidump info md/
"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "drgn", help=COMMANDS["drgn"],
        description="Open drgn on the capture's memory, without writing a vmcore first: the "
                    "interactive shell with prog bound (as drgn -c does), or a drgn script. "
                    "Exit status: 0 when the shell or script ends, the script's sys.exit(N), "
                    "1 when the capture does not open or the script raises, 2 on usage errors.",
        epilog=EXAMPLES, formatter_class=HelpFormatter)
    add_input_options(p, positional="capture")
    p.add_argument("--vmlinux", metavar="VMLINUX",
                   help="the kernel's vmlinux with debug info (types, variables, stack "
                        "traces); without it symbols come from the capture's kallsyms")
    p.add_argument("script", metavar="SCRIPT", nargs="?",
                   help="a drgn script to run non-interactively (prog is a global)")
    p.add_argument("script_args", metavar="ARGS", nargs="*",
                   help="the script's arguments (its sys.argv[1:]), options included")
    parse = p.parse_known_args

    def parse_known_args(args=None, namespace=None):
        # everything from SCRIPT on is the script's, options included (as drgn's own CLI
        # has it); options may still follow CAPTURE (argparse.REMAINDER would take them)
        head, tail = split_at_script(p, list(args or []))
        namespace, extras = parse(head, namespace)
        if tail:
            namespace.script, namespace.script_args = tail[0], tail[1:]
        return namespace, extras

    p.parse_known_args = parse_known_args
    return p


def split_at_script(p: argparse.ArgumentParser, argv: list[str]) -> tuple[list[str], list[str]]:
    """``argv`` before SCRIPT (the second positional word), and SCRIPT with its arguments."""
    takes_value = {option for action in p._actions if action.nargs != 0
                   for option in action.option_strings}
    positionals, i = 0, 0
    while i < len(argv):
        word = argv[i]
        if word == "--":              # the rest is positional: CAPTURE (if not yet), SCRIPT...
            rest = argv[i + 1:]
            split = 1 - positionals
            return argv[:i] + rest[:split], rest[split:]
        if word.startswith("-") and word != "-":
            i += 2 if word in takes_value else 1
            continue
        positionals += 1
        if positionals == 2:
            return argv[:i], argv[i:]
        i += 1
    return argv, []


def run(args) -> tuple[None, int]:
    from minidump.kernel.drgn_program import import_drgn
    import_drgn()                                # the one-line error before any reading
    if args.script is not None and not os.path.isfile(args.script):
        from minidump.errors import UsageError
        raise UsageError(f"{args.script}: no such script")
    capture = open_capture(args, args.capture)
    with capture:
        prog = capture.drgn(vmlinux=args.vmlinux)
        if args.script is None:
            from drgn.cli import run_interactive
            run_interactive(prog)
            return None, ExitCode.OK
        return None, run_script(prog, args.script, args.script_args)


def run_script(prog, script: str, argv: list[str]) -> int:
    """Run ``script`` as drgn does (``__main__``, ``prog`` global); its exit status."""
    import pkgutil
    import runpy
    import traceback

    import drgn
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [script, *argv]
    if pkgutil.get_importer(script) is None:
        sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    drgn.set_default_prog(prog)
    try:
        runpy.run_path(script, init_globals={"prog": prog}, run_name="__main__")
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return ExitCode.ERROR
    except Exception:   # the script's own error: its traceback is what its author needs
        traceback.print_exc()
        return ExitCode.ERROR
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
        drgn.set_default_prog(None)
    return ExitCode.OK
