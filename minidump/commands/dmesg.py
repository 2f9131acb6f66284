"""``minidump dmesg CAPTURE``: the kernel log from any capture, using VMCOREINFO only.

The text equals ``makedumpfile --dump-dmesg VMCORE OUT`` (see
:mod:`minidump.kernel.printk`); memory is read by virtual address through the
capture's own virtual addresses, then the kernel-image and linear-map rules.
"""

from __future__ import annotations

import argparse

from minidump.cli import ExitCode, HelpFormatter
from minidump.commands import COMMANDS
from minidump.commands.common import add_input_options, input_paths, open_capture, output_options
from minidump.report import Document

EXAMPLES = """\
examples:
  minidump dmesg vmcore                      # the log, as makedumpfile --dump-dmesg writes it
  minidump dmesg md/                         # straight from md_*.BIN blobs (or Raw_Dmp!, RAM)
  minidump dmesg vmcore --caller             # with [    T123] caller ids (makedumpfile 1.7.5+)
  minidump dmesg md.vmcore --vmcoreinfo vmcoreinfo.txt   # a capture without VMCOREINFO
  minidump dmesg md/ --json                  # records: seq, timestamp, level, caller, text
then:  minidump info vmcore
"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "dmesg", help=COMMANDS["dmesg"],
                       description="Print the kernel log from the printk ring buffer "
                                   "(lockless 5.10+, or the older log_buf formats) using "
                                   "VMCOREINFO only.",
                       epilog=EXAMPLES, formatter_class=HelpFormatter)
    add_input_options(p, positional="capture")
    p.add_argument("--caller", action="store_true",
                   help="print the caller id ([    T123] / [     C1]) after the timestamp")
    p.add_argument("--partial", action="store_true",
                   help="only records after the last 'dmesg -c' (clear_seq), like "
                        "makedumpfile --partial-dmesg")
    output_options(p, required=False, what="write the log to FILE, not stdout")
    return p


def run(args) -> tuple[Document | None, ExitCode]:
    from minidump.files import atomic_output, check_output

    inputs = input_paths(args, args.capture)
    if args.output:   # refuse before the (possibly long) walk, not after it
        check_output(args.output, force=args.force, inputs=inputs)
    with open_capture(args, args.capture) as capture:
        log = capture.kernel_log(partial=args.partial)
    if args.json:
        records = [{"seq": r.seq, "timestamp": None if r.timestamp_ns is None
                    else r.timestamp_ns / 1e9, "timestamp_ns": r.timestamp_ns,
                    "level": r.level, "caller": r.caller, "text": r.text}
                   for r in log.as_records()]
        if not args.output:
            return Document("records", records, True), ExitCode.OK
        import json
        text = (json.dumps(records, indent=2) + "\n").encode()
    else:
        text = log.text(caller=args.caller)
    if args.output:
        with atomic_output(args.output, force=args.force, inputs=inputs) as out:
            out.write(text)
        return None, ExitCode.OK
    return Document("raw", text), ExitCode.OK
