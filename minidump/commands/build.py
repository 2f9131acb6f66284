"""``minidump build --from-table INPUT -o OUT``: one ELF vmcore from a firmware minidump."""

from __future__ import annotations

import argparse

from minidump.cli import ExitCode, HelpFormatter
from minidump.commands import COMMANDS
from minidump.commands.common import (add_input_options, input_paths, open_capture,
                                      output_options, plan_and_report,
                                      report_options)
from minidump.report import Document

EXAMPLES = """\
examples:
  minidump build --from-table md/ -o vmcore             # md_*.BIN blobs (qdl / QPST)
  minidump build --from-table rawdump.img -o vmcore     # a Raw_Dmp! partition image
  minidump build --from-table ram/smem.bin \\
      --memory ram/smem.bin@0x86000000 \\
      --memory ram/ddr0.bin@0x80000000 -o vmcore
then:  crash --minimal vmlinux vmcore     drgn -c vmcore -s vmlinux
"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "build", help=COMMANDS["build"],
                       description="Write one ELF vmcore (VMCOREINFO note + one PT_LOAD per "
                                   "region) from a firmware minidump.",
                       epilog=EXAMPLES, formatter_class=HelpFormatter)
    p.add_argument("--from-table", dest="input", metavar="INPUT", required=True,
                   help="md_*.BIN directory, Raw_Dmp! image, SMEM item-602 blob, or RAM "
                        "image holding the SMEM table")
    add_input_options(p, positional=None)
    p.add_argument("--vmlinux", metavar="VMLINUX",
                   help="name the regions from its symbols (its BUILD-ID must match the "
                        "capture's); also reads VMCOREINFO from memory when no region holds it")
    output_options(p, required=True, what="vmcore to write")
    report_options(p)
    return p


def run(args) -> tuple[Document | None, ExitCode]:
    from minidump.files import check_output

    check_output(args.output, force=args.force, inputs=input_paths(args, args.input))
    with open_capture(args, args.input, vmlinux=args.vmlinux) as capture:
        return plan_and_report(capture, args, args.output)
