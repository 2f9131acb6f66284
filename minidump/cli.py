"""Command line: ``minidump build|regions ...``.

The only place that prints errors or picks exit codes: 0 done, nothing lost;
3 vmcore written but regions were lost; 1 error, nothing written; 2 usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from minidump import __version__
from minidump.errors import MinidumpError, UsageError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_LOST = 0, 1, 2, 3

BUILD_EXAMPLES = """\
examples:
  minidump build --from-table md/ -o vmcore             # md_*.BIN blobs (qdl / QPST)
  minidump build --from-table rawdump.img -o vmcore     # a Raw_Dmp! partition image
  minidump build --from-table ram/smem.bin \\
      --memory ram/smem.bin@0x86000000 --memory ram/ddr0.bin@0x80000000 -o vmcore
then:  crash --minimal vmlinux vmcore     drgn -c vmcore -s vmlinux
"""

REGIONS_EXAMPLES = """\
examples:
  minidump regions md/                 # what build would write, as a table
  minidump regions rawdump.img --json  # the same rows for scripts
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(EXIT_USAGE, f"minidump: error: {message}\n")


def _input_options(p: argparse.ArgumentParser, positional: bool = True) -> None:
    group = p.add_argument_group("input")
    if positional:
        group.add_argument("input", metavar="INPUT", nargs="?",
                           help="md_*.BIN directory, Raw_Dmp! image, SMEM item-602 blob, or a "
                                "RAM image holding the SMEM table")
    group.add_argument("--memory", metavar="FILE@PADDR", action="append", default=[],
                       help="raw RAM image loaded at PADDR (repeatable; crash's syntax)")
    group.add_argument("--table-addr", metavar="PADDR",
                       help="physical address of the minidump table (SMEM item 602)")
    group.add_argument("--smem-base", metavar="PADDR[,SIZE]",
                       help="SMEM base (and size) instead of scanning the RAM images")
    group.add_argument("--sahara-table", metavar="FILE",
                       help="raw Sahara memory-debug table giving each md_*.BIN its address")
    group.add_argument("--vmcoreinfo", metavar="FILE",
                       help="VMCOREINFO text to use instead of the captured one")
    group.add_argument("--format", default="auto",
                       choices=("auto", "mddir", "rawdump", "smem-blob", "ram", "elf"),
                       help="input container (default: detect)")
    group.add_argument("--arch", help="arm64, x86_64, arm, riscv64 (default: from the capture)")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; only the plugin module of ``command`` is imported."""
    parser = _Parser(prog="minidump",
                     description="Turn Linux kernel minidumps into small ELF vmcores that "
                                 "crash and drgn open.",
                     epilog=BUILD_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"minidump {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    build = sub.add_parser("build", help="write a vmcore from a firmware minidump",
                           description="Write one ELF vmcore (VMCOREINFO note + one PT_LOAD per "
                                       "region) from a firmware minidump.",
                           epilog=BUILD_EXAMPLES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("--from-table", dest="input", metavar="INPUT", required=True,
                       help="md_*.BIN directory, Raw_Dmp! image, SMEM item-602 blob, or RAM "
                            "image holding the SMEM table")
    _input_options(build, positional=False)
    build.add_argument("-o", "--output", metavar="OUT", required=True, help="vmcore to write")
    build.add_argument("--force", action="store_true", help="replace an existing OUT")
    build.add_argument("--json", action="store_true", help="print the report as JSON")
    build.add_argument("--quiet", "-q", action="store_true", help="no report table")
    build.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)

    regions = sub.add_parser("regions", help="list what build would write, without writing",
                             description="List the regions of a capture and what build would "
                                         "do with each.",
                             epilog=REGIONS_EXAMPLES,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    _input_options(regions)
    regions.add_argument("--vmlinux", metavar="VMLINUX",
                         help="list the vmlinux's static meminspect entries (.inspect_table); "
                              "with INPUT, resolve the capture's regions against it")
    regions.add_argument("--meminspect-version", choices=("v1", "v2", "v3"),
                         help="ID names when the vmlinux has no enum meminspect_uid")
    regions.add_argument("--json", action="store_true", help="print the rows as JSON")
    regions.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)

    for name, summary in PLUGINS.items():
        module = _plugin(name) if name == command else None
        if module is not None:
            module.add_parser(sub)
        else:  # listed in --help without importing it
            sub.add_parser(name, help=summary, add_help=False)
    return parser


#: commands that live in their own module ``minidump.cmd_<name>`` with
#: ``add_parser(subparsers)`` and ``run(args) -> int``; imported only when run
PLUGINS = {
    "extract": "write the minidump of a full vmcore or RAM image (needs the vmlinux)",
    "info": "release, banner, KASLR, jiffies... and what each tool can do with the capture",
    "dmesg": "print the kernel log from a vmcore, using VMCOREINFO only",
    "vmcoreinfo": "print a capture's VMCOREINFO, or generate one from a vmlinux",
}


def _command_in(argv: list[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word that is one)."""
    names = {"build", "regions", *PLUGINS}
    return next((a for a in argv if a in names), None)


def _plugin(name: str):
    import importlib
    try:
        return importlib.import_module(f"minidump.commands.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"minidump.commands.{name}":
            raise
        return None


def _document(capture, plan, output: str | None) -> dict[str, Any]:
    from minidump.report import region_rows, totals
    from minidump.kernel.vmcoreinfo import VmcoreInfo

    doc: dict[str, Any] = {"input": capture.input, "container": capture.container,
                           "output": output, "arch": plan.arch.name if plan else None,
                           "regions": region_rows(plan.regions if plan else capture.regions),
                           "totals": totals(plan.regions if plan else capture.regions)}
    if output:
        doc["output_size"] = plan.size
    if capture.vmcoreinfo:
        info = VmcoreInfo(capture.vmcoreinfo)
        doc["vmcoreinfo"] = (f"{info.osrelease or '?'} ({len(capture.vmcoreinfo)} bytes from "
                             f"{capture.vmcoreinfo_source})")
    doc["warnings"] = list(plan.warnings if plan else capture.warnings)
    return doc


def _print(doc: dict[str, Any], as_json: bool) -> None:
    from minidump.report import render_json, render_regions
    if as_json:
        render_json(doc, sys.stdout)
    else:
        render_regions(doc, sys.stdout)


def _options(args):
    from minidump.sources import InputOptions
    return InputOptions(args.input, args.memory, args.table_addr, args.smem_base, args.vmcoreinfo,
                        args.format, args.sahara_table, args.arch)


def cmd_regions(args) -> int:
    from minidump.sources import open_capture
    from minidump.vmcore.plan import plan_capture

    if args.vmlinux:
        module = _plugin("extract")  # the vmlinux side lives with extract
        if module is None:
            raise UsageError("--vmlinux is not available in this build")
        return module.run_regions(args)
    if not args.input:
        raise UsageError("regions needs INPUT, or --vmlinux VMLINUX")
    capture = open_capture(_options(args))
    plan = plan_capture(capture)
    doc = _document(capture, plan, None)
    _print(doc, args.json)
    return EXIT_LOST if plan.lost or not capture.vmcoreinfo else EXIT_OK


def cmd_build(args) -> int:
    from minidump.sources import open_capture
    from minidump.files import atomic_output, check_output
    from minidump.vmcore.plan import plan_capture, write_vmcore

    opts = _options(args)
    check_output(args.output, force=args.force, inputs=opts.paths())  # before reading anything
    capture = open_capture(opts)
    plan = plan_capture(capture)
    with atomic_output(args.output, force=args.force, inputs=opts.paths()) as out:
        with _progress(plan.written_bytes, enabled=not args.json) as advance:
            write_vmcore(plan, out, advance)
    if not args.quiet or args.json:
        _print(_document(capture, plan, args.output), args.json)
    return EXIT_LOST if plan.lost or not capture.vmcoreinfo else EXIT_OK


class _progress:
    """A rich progress bar on a terminal for copies over 64 MiB; nothing otherwise."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total = total
        self.enabled = enabled and total >= 64 << 20 and sys.stderr.isatty()
        self._progress = None

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.progress import (BarColumn, DownloadColumn, Progress, TimeRemainingColumn,
                                   TransferSpeedColumn)
        from rich.console import Console
        self._progress = Progress("writing", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                                  TimeRemainingColumn(), console=Console(stderr=True),
                                  transient=True)
        self._progress.start()
        task = self._progress.add_task("write", total=self.total)
        return lambda n: self._progress.advance(task, n)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()


COMMANDS = {"build": cmd_build, "regions": cmd_regions}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(_command_in(argv))
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        handler = COMMANDS.get(args.command) or _plugin(args.command).run
        return handler(args)
    except UsageError as exc:
        if args.debug:
            raise
        print(f"minidump: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # "| head": stop quietly, as other tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except (MinidumpError, OSError) as exc:
        if args.debug:
            raise
        message = str(exc) if isinstance(exc, MinidumpError) else (
            f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc))
        print(f"minidump: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("minidump: interrupted; nothing written", file=sys.stderr)
        return 130
