"""``minidump extract [--vmlinux VMLINUX] CAPTURE -o OUT``: the minidump of a full capture."""

from __future__ import annotations

import argparse

from minidump.cli import ExitCode, HelpFormatter
from minidump.commands import COMMANDS
from minidump.commands.common import (input_paths, output_options, plan_and_report,
                                      report_options)
from minidump.report import Document

EXAMPLES = """\
examples:
  minidump extract vmcore -o mini.vmcore                               # a meminspect kernel
  minidump extract --vmlinux vmlinux vmcore -o mini.vmcore            # the same, named
  minidump extract --vmlinux vmlinux vmcore --regions v3-default \\
      --profile crash -o mini.vmcore                                  # any kernel
  minidump extract --vmlinux vmlinux ram.bin@0x80000000 -o mini.vmcore  # a raw RAM image
then:  crash --minimal vmlinux mini.vmcore     drgn -c mini.vmcore -s vmlinux
"""


def add_parser(sub) -> argparse.ArgumentParser:
    from minidump.meminspect.extract import PROFILES
    p = sub.add_parser(
        "extract", help=COMMANDS["extract"],
        description="Write a small vmcore holding only the regions the kernel registered for "
                    "inspection (meminspect static + runtime entries, memblock INSPECT), or "
                    "those a --regions file lists, read from a full capture.",
        epilog=EXAMPLES, formatter_class=HelpFormatter)
    p.add_argument("capture", metavar="CAPTURE",
                   help="ELF vmcore (kdump, QEMU dump-guest-memory) or raw RAM image FILE@PADDR")
    p.add_argument("--vmlinux", metavar="VMLINUX",
                   help="the capture's vmlinux with its symbol table (without it: the "
                        "kernel's own meminspect table, found through the capture's kallsyms)")
    p.add_argument("--memory", metavar="FILE@PADDR", action="append", default=[],
                   help="more raw RAM images (repeatable)")
    p.add_argument("--vmcoreinfo", metavar="FILE",
                   help="VMCOREINFO text to use instead of the captured one")
    p.add_argument("--regions", metavar="FILE",
                   help="symbols / physical ranges to extract, one a line: SYMBOL, SYMBOL SIZE, "
                        "or phys PADDR SIZE ('#' comments; SYMBOL? is optional); "
                        "'v3-default' is the shipped meminspect v3 set")
    p.add_argument("--profile", choices=sorted(PROFILES),
                   help="also add what that consumer needs to start (crash: x86_64 "
                        "page_offset_base, vmalloc_base, vmemmap_base)")
    p.add_argument("--meminspect-version", choices=("v1", "v2", "v3"),
                   help="ID names when the vmlinux has no enum meminspect_uid")
    output_options(p, required=True, what="vmcore to write")
    report_options(p)
    return p


def run(args) -> tuple[Document | None, ExitCode]:
    from minidump.api import extract
    from minidump.files import check_output

    check_output(args.output, force=args.force, inputs=input_paths(args, args.capture))
    with extract(args.capture, vmlinux=args.vmlinux, regions=args.regions,
                 profile=args.profile, memory=args.memory, vmcoreinfo=args.vmcoreinfo,
                 meminspect_version=args.meminspect_version) as capture:
        return plan_and_report(capture, args, args.output)
