"""``minidump info CAPTURE [--vmlinux VMLINUX]``: kernel facts and consumer readiness.

Facts and rows come from :mod:`minidump.kernel.facts`; with ``--vmlinux`` the
capture's BUILD-ID, OSRELEASE and in-memory ``linux_banner`` must match the
vmlinux, else the command fails (exit 1) naming the mismatch.
"""

from __future__ import annotations

import argparse

from minidump.cli import ExitCode, HelpFormatter
from minidump.commands import COMMANDS
from minidump.commands.common import add_input_options, open_capture
from minidump.errors import MinidumpError
from minidump.report import Document

EXAMPLES = """\
examples:
  minidump info vmcore                          # facts VMCOREINFO and memory allow + readiness
  minidump info md/                             # the same, straight from md_*.BIN blobs
  minidump info vmcore --vmlinux vmlinux        # + jiffies, taint, CPUs; verify the vmlinux
  minidump info vmcore --verbose                # + every key and region each tool needs
  minidump info vmcore --json                   # the same as JSON
exit status: 0 nothing known missing, 3 some consumer lacks a key or region, 1 error
"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "info", help=COMMANDS["info"],
                       description="Show release, build-id, arch, page size, KASLR "
                                   "offset, banner, jiffies, taint and CPUs (as far as "
                                   "the capture allows, each with its source, or why not) "
                                   "and, for crash --minimal, crash, drgn, makedumpfile "
                                   "--dump-dmesg and vmcore-dmesg, whether it will open "
                                   "the capture, with which command line, and the first "
                                   "missing piece that blocks it.",
                       epilog=EXAMPLES, formatter_class=HelpFormatter)
    add_input_options(p, positional="capture")
    p.add_argument("--vmlinux", metavar="VMLINUX",
                   help="read symbols from it and verify it matches the capture")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="also list every key, note and region each consumer needs")
    return p


def run(args) -> tuple[Document, ExitCode]:
    from minidump.kernel.facts import verify_vmlinux

    with open_capture(args, args.capture) as capture:
        if not args.vmlinux:
            doc = capture.facts()
        else:
            from minidump.kernel.debuginfo import DebugInfo
            with DebugInfo.open(args.vmlinux) as dbg:
                doc = capture.facts(debuginfo=dbg)
                problems = verify_vmlinux(capture.vmcoreinfo, doc["facts"]["banner"], dbg,
                                          args.vmlinux)
            if problems:
                raise MinidumpError(f"does not match {args.capture}: " + "; ".join(problems),
                                    path=args.vmlinux)
    code = ExitCode.LOST if False in doc["ready"].values() else ExitCode.OK
    return Document("info-verbose" if args.verbose else "info", doc, args.json), code
