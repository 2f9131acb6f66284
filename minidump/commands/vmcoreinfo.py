"""``minidump vmcoreinfo``: print a capture's VMCOREINFO, or generate one from a vmlinux.

``minidump vmcoreinfo CAPTURE`` prints the text verbatim (``--table`` decodes
every key, ``--json`` for scripts); ``minidump vmcoreinfo --vmlinux VMLINUX
[CAPTURE]`` generates the text (:mod:`minidump.kernel.vmcoreinfo_gen`), with
runtime values from CAPTURE when given.  The text is what ``minidump build
--vmcoreinfo FILE`` and ``makedumpfile -i FILE`` take.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from minidump.cli import ExitCode, HelpFormatter
from minidump.commands import COMMANDS
from minidump.commands.common import add_input_options, input_paths, open_capture, output_options
from minidump.errors import FormatError, UsageError
from minidump.report import Document

EXAMPLES = """\
examples:
  minidump vmcoreinfo vmcore                        # the note's text, verbatim
  minidump vmcoreinfo md/                           # the same from md_*.BIN blobs
  minidump vmcoreinfo vmcore --table                # every key decoded, arch facts, problems
  minidump vmcoreinfo --vmlinux vmlinux > vmcoreinfo.txt   # as makedumpfile -g
  minidump vmcoreinfo --vmlinux vmlinux capture.vmcore > vmcoreinfo.txt   # + KASLR etc.
then:  minidump build --from-table md/ --vmcoreinfo vmcoreinfo.txt -o vmcore
"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "vmcoreinfo", help=COMMANDS["vmcoreinfo"],
                       description="Print the VMCOREINFO of a capture, or generate one "
                                   "from a vmlinux (BTF, else DWARF) like makedumpfile "
                                   "-g, taking runtime values (KERNELOFFSET, phys_base, "
                                   "...) from CAPTURE when given.",
                       epilog=EXAMPLES, formatter_class=HelpFormatter)
    add_input_options(p, positional="capture", optional=True)
    p.add_argument("--vmlinux", metavar="VMLINUX", help="generate from this vmlinux")
    p.add_argument("--pagesize", metavar="N",
                   help="PAGESIZE to write when generating (default: the capture's, else 4096)")
    p.add_argument("--table", action="store_true", help="decode every key into a table")
    output_options(p, required=False, what="write the text to FILE, not stdout")
    return p


def document(info, arch: str | None, source: str, runtime_source: str = "") -> dict[str, Any]:
    """Rows for the table and JSON: every entry, the arch layout and the problems."""
    from dataclasses import asdict

    from minidump.kernel.translate import Translator
    arch = arch or info.guess_arch()
    layout = asdict(Translator(arch, info).layout()) if arch else None
    return {"source": source, "runtime_source": runtime_source, "arch": arch,
            "osrelease": info.osrelease, "entries": [
                {"key": e.key, "kind": e.kind, "name": e.name, "text": e.text,
                 "value": e.value, "problem": e.problem} for e in info.items()],
            "layout": layout, "problems": info.problems()}


def run(args) -> tuple[Document | None, ExitCode]:
    from minidump.kernel.vmcoreinfo import VmcoreInfo

    if not args.vmlinux and not args.capture:
        raise UsageError("vmcoreinfo needs CAPTURE, or --vmlinux VMLINUX [CAPTURE]")
    if args.pagesize is not None:
        from minidump.files import parse_count
        args.pagesize = parse_count(str(args.pagesize), "--pagesize", low=1 << 10, high=1 << 18)
        if args.pagesize & (args.pagesize - 1):
            raise UsageError(f"--pagesize {args.pagesize}: not a power of two")
    inputs = input_paths(args, args.capture)
    if args.output:
        from minidump.files import check_output
        check_output(args.output, force=args.force, inputs=inputs)
    capture = open_capture(args, args.capture) if args.capture else None
    runtime_source = ""
    try:
        if args.vmlinux:
            from minidump.kernel.debuginfo import DebugInfo
            from minidump.kernel.vmcoreinfo_gen import generate_text
            with DebugInfo.open(args.vmlinux) as dbg:
                if capture is not None:
                    capture.check_vmlinux(dbg.vmlinux)
                else:
                    dbg.vmlinux.check_kernel()
                text, runtime = generate_text(dbg, capture, pagesize=args.pagesize)
            source, runtime_source = f"generated from {args.vmlinux} ({dbg.type_source})", \
                runtime.source
            arch = dbg.arch
        else:
            if capture.vmcoreinfo is None:
                raise FormatError("no VMCOREINFO note; generate one with --vmlinux VMLINUX "
                                  f"{args.capture}", path=args.capture)
            raw = capture.vmcoreinfo.raw
            text = raw + b"\n" * (not raw.endswith(b"\n"))
            source, arch = f"{args.capture} note", capture.arch
    finally:
        if capture is not None:
            capture.close()
    info = VmcoreInfo(text, path=source)
    doc = None
    if args.json or args.table:
        doc = Document("vmcoreinfo", document(info, arch, source, runtime_source), args.json)
    if args.output:
        from minidump.files import atomic_output
        with atomic_output(args.output, force=args.force, inputs=inputs) as out:
            out.write(text)
    elif doc is None:
        doc = Document("raw", text)
    if runtime_source and not args.json:
        print(f"minidump: runtime values from {runtime_source}", file=sys.stderr)
    return doc, ExitCode.OK
