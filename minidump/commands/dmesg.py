"""``minidump dmesg VMCORE``: the kernel log from a vmcore, using VMCOREINFO only.

The text equals ``makedumpfile --dump-dmesg VMCORE OUT`` (see
:mod:`minidump.kernel.printk`); memory is read by virtual address through the
PT_LOADs' ``p_vaddr``, then the kernel-image and linear-map rules of
:class:`minidump.kernel.vmcoreinfo.Translator`.
"""

from __future__ import annotations

import argparse
import sys

from minidump.errors import FormatError

EXAMPLES = """\
examples:
  minidump dmesg vmcore                      # the log, as makedumpfile --dump-dmesg writes it
  minidump dmesg vmcore --caller             # with [    T123] caller ids (makedumpfile 1.7.5+)
  minidump dmesg md.vmcore --vmcoreinfo vmcoreinfo.txt   # a capture without VMCOREINFO
then:  minidump info vmcore
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("dmesg", help="print the kernel log from a vmcore (no vmlinux)",
                              description="Print the kernel log from the printk ring buffer "
                                          "(lockless 5.10+, or the older log_buf formats) using "
                                          "VMCOREINFO only.",
                              epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("vmcore", metavar="VMCORE", help="ELF vmcore (minidump build/extract output, "
                                                    "kdump /proc/vmcore copy, QEMU dump)")
    p.add_argument("--vmcoreinfo", metavar="FILE",
                   help="VMCOREINFO text to use instead of the vmcore's note")
    p.add_argument("--caller", action="store_true",
                   help="print the caller id ([    T123] / [     C1]) after the timestamp")
    p.add_argument("--partial", action="store_true",
                   help="only records after the last 'dmesg -c' (clear_seq), like "
                        "makedumpfile --partial-dmesg")
    p.add_argument("-o", "--output", metavar="FILE", help="write the log to FILE, not stdout")
    p.add_argument("--force", action="store_true", help="replace an existing FILE")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    return p


def load_vmcoreinfo(core, override: str | None):
    """The VMCOREINFO to use: ``--vmcoreinfo FILE`` or the core's note."""
    from minidump.kernel.vmcoreinfo import VmcoreInfo
    if override:
        with open(override, "rb") as fh:
            return VmcoreInfo(fh.read(), path=override)
    if core.vmcoreinfo is None:
        raise FormatError("no VMCOREINFO note; give --vmcoreinfo FILE (minidump vmcoreinfo "
                          "--vmlinux VMLINUX can generate one)", path=core.path)
    return VmcoreInfo(core.vmcoreinfo, path=f"{core.path}: VMCOREINFO")


def run(args) -> int:
    from minidump.kernel.memory import CoreMemory
    from minidump.kernel.printk import read_log
    from minidump.files import atomic_output, check_output
    from minidump.elf.core import read_core

    inputs = [p for p in (args.vmcore, args.vmcoreinfo) if p]
    if args.output:   # refuse before the (possibly long) walk, not after it
        check_output(args.output, force=args.force, inputs=inputs)
    core = read_core(args.vmcore)
    info = load_vmcoreinfo(core, args.vmcoreinfo)
    with CoreMemory(core, info) as mem:
        log = read_log(mem, info, bits=core.arch.bits, little=core.arch.little_endian,
                       partial=args.partial)
    text = log.text(caller=args.caller)
    if args.output:
        with atomic_output(args.output, force=args.force, inputs=inputs) as out:
            out.write(text)
    else:
        sys.stdout.buffer.write(text)
        sys.stdout.flush()
    return 0
