"""``minidump regions INPUT``: what build (or extract) would write, without writing.

With ``--vmlinux`` alone it lists the kernel's static meminspect table
(``.inspect_table``); with a full capture and ``--vmlinux`` it previews
``extract``.
"""

from __future__ import annotations

import argparse
from typing import Any

from minidump.cli import ExitCode, HelpFormatter
from minidump.commands import COMMANDS
from minidump.commands.common import add_input_options, open_capture, plan_and_report
from minidump.errors import UsageError
from minidump.report import Document

EXAMPLES = """\
examples:
  minidump regions md/                 # what build would write, as a table
  minidump regions rawdump.img --json  # the same rows for scripts
  minidump regions --vmlinux vmlinux   # what this kernel registers (.inspect_table)
  minidump regions md/ --vmlinux vmlinux   # every region named from the symbol table
  minidump regions vmcore --vmlinux vmlinux --regions v3-default \\
      --profile crash                  # what that extract would write
"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "regions", help=COMMANDS["regions"],
                       description="List the regions of a capture and what build would "
                                   "do with each.",
                       epilog=EXAMPLES, formatter_class=HelpFormatter)
    add_input_options(p, optional=True)
    p.add_argument("--vmlinux", metavar="VMLINUX",
                   help="alone: list its static meminspect entries (.inspect_table); with a "
                        "firmware minidump: name every region from its symbols and list "
                        "registered regions the capture lacks; with a full capture: the "
                        "regions extract would write")
    p.add_argument("--meminspect-version", choices=("v1", "v2", "v3"),
                   help="ID names when the vmlinux has no enum meminspect_uid")
    from minidump.meminspect.extract import PROFILES
    p.add_argument("--regions", metavar="FILE",
                   help="with a full capture and --vmlinux: preview extract --regions FILE "
                        "('v3-default' is the shipped meminspect v3 set)")
    p.add_argument("--profile", choices=sorted(PROFILES),
                   help="with a full capture and --vmlinux: preview extract --profile")
    return p


def run(args) -> tuple[Document, ExitCode]:
    if args.vmlinux:
        return _with_vmlinux(args)
    if args.regions or args.profile:
        raise UsageError("--regions and --profile preview an extract: give a full capture "
                         "and --vmlinux VMLINUX")
    if not args.input:
        raise UsageError("regions needs INPUT, or --vmlinux VMLINUX")
    with open_capture(args, args.input) as capture:
        return plan_and_report(capture, args)


def _with_vmlinux(args) -> tuple[Document, ExitCode]:
    from minidump.api import extract
    from minidump.elf.core import kernel_header, sniff
    from minidump.sources import is_memory_spec

    if args.input is None:
        if args.regions or args.profile:
            raise UsageError("--regions and --profile preview an extract: give the full "
                             "capture too")
        return Document("regions", static_document(args.vmlinux, args.meminspect_version),
                        args.json), ExitCode.OK
    if not (sniff(args.input) or is_memory_spec(args.input)) or kernel_header(args.input):
        if args.regions or args.profile:
            raise UsageError(f"--regions and --profile preview an extract from a full capture "
                             f"(ELF vmcore or FILE@PADDR), not {args.input}")
        # a firmware minidump: its regions, named from the vmlinux's symbols
        with open_capture(args, args.input, vmlinux=args.vmlinux) as capture:
            return plan_and_report(capture, args)
    with extract(args.input, vmlinux=args.vmlinux, memory=args.memory,
                 meminspect_version=args.meminspect_version, vmcoreinfo=args.vmcoreinfo,
                 regions=args.regions, profile=args.profile) as capture:
        return plan_and_report(capture, args)


def static_document(vmlinux_path: str, version: str | None) -> dict[str, Any]:
    """The vmlinux's ``.inspect_table`` as region rows (a later entry of one ID supersedes)."""
    from minidump.elf.vmlinux import Vmlinux
    from minidump.meminspect.static import enum_names, open_debuginfo, read_static
    from minidump.model import Region, Status
    from minidump.report import region_rows, totals

    with Vmlinux.open(vmlinux_path) as vmlinux:
        vmlinux.check_kernel()
        debuginfo = open_debuginfo(vmlinux_path) if vmlinux.section(".inspect_table") else None
        try:
            names = enum_names(debuginfo) if version is None else None
            entries, names = read_static(vmlinux, names, debuginfo, version)
        finally:
            if debuginfo is not None:
                debuginfo.close()
    last = {e.id: e.index for e in entries}
    regions = []
    for entry in entries:
        status, reason = None, ""
        if last[entry.id] != entry.index:
            status, reason = Status.DUPLICATE, f"superseded by .inspect_table[{last[entry.id]}]"
        regions.append(Region(entry.id, entry.id_name, vaddr=entry.va, size=entry.size,
                              source=entry.symbol or "?", status=status, reason=reason))
    rows = region_rows(regions)
    for row, entry in zip(rows, entries):
        row["symbol"] = entry.symbol
        row["index"] = entry.index
    warnings = [] if entries else [
        "no .inspect_table: this kernel was built without meminspect (see extract --regions)"]
    return {"input": vmlinux_path, "container": f".inspect_table, IDs from {names.source}",
            "output": None, "arch": None, "regions": rows, "totals": totals(regions),
            "warnings": warnings}
