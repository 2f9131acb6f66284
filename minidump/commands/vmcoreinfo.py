"""``minidump vmcoreinfo``: print a capture's VMCOREINFO, or generate one from a vmlinux.

``minidump vmcoreinfo VMCORE`` prints the note's text verbatim (``--table``
decodes every key, ``--json`` for scripts); ``minidump vmcoreinfo --vmlinux
VMLINUX [CAPTURE]`` generates the text (:mod:`minidump.kernel.vmcoreinfo_gen`), with
runtime values from CAPTURE when given.  The text is what ``minidump build
--vmcoreinfo FILE`` and ``makedumpfile -i FILE`` take.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from minidump.errors import UsageError
from minidump.report import make_console

EXAMPLES = """\
examples:
  minidump vmcoreinfo vmcore                        # the note's text, verbatim
  minidump vmcoreinfo vmcore --table                # every key decoded, arch facts, problems
  minidump vmcoreinfo --vmlinux vmlinux-6.1.0-56-cloud-amd64 > vmcoreinfo.txt
  minidump vmcoreinfo --vmlinux vmlinux capture.vmcore > vmcoreinfo.txt   # + KASLR etc.
then:  minidump build --from-table md/ --vmcoreinfo vmcoreinfo.txt -o vmcore
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("vmcoreinfo", help="print a capture's VMCOREINFO or generate one",
                              description="Print the VMCOREINFO of a vmcore, or generate one "
                                          "from a vmlinux (BTF, else DWARF) like makedumpfile "
                                          "-g, taking runtime values (KERNELOFFSET, phys_base, "
                                          "...) from CAPTURE when given.",
                              epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("capture", metavar="VMCORE", nargs="?",
                   help="ELF vmcore or capture to read VMCOREINFO (or runtime values) from")
    p.add_argument("--vmlinux", metavar="VMLINUX", help="generate from this vmlinux")
    p.add_argument("--pagesize", type=int, metavar="N",
                   help="PAGESIZE to write when generating (default: the capture's, else 4096)")
    p.add_argument("--table", action="store_true", help="decode every key into a table")
    p.add_argument("--json", action="store_true", help="print the decoded keys as JSON")
    p.add_argument("-o", "--output", metavar="FILE", help="write the text to FILE, not stdout")
    p.add_argument("--force", action="store_true", help="replace an existing FILE")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    return p


def document(info, arch: str | None, source: str, runtime_source: str = "") -> dict[str, Any]:
    """Rows for the table and JSON: every entry, the arch layout and the problems."""
    from dataclasses import asdict

    from minidump.kernel.vmcoreinfo import Translator
    arch = arch or info.guess_arch()
    layout = asdict(Translator(arch, info).layout()) if arch else None
    return {"source": source, "runtime_source": runtime_source, "arch": arch,
            "osrelease": info.osrelease, "entries": [
                {"key": e.key, "kind": e.kind, "name": e.name, "text": e.text,
                 "value": e.value, "problem": e.problem} for e in info.items()],
            "layout": layout, "problems": info.problems()}


def render_table(doc: dict[str, Any], out: TextIO, *, width: int | None = None) -> None:
    """Decoded keys grouped by kind, then the arch layout and problems."""
    from rich.table import Table
    from rich.text import Text

    console = make_console(out, width)
    table = Table(title=f"VMCOREINFO — {doc['source']}", title_justify="left", pad_edge=False)
    for name, justify in (("kind", "left"), ("name", "left"), ("text", "left"),
                          ("value", "right")):
        table.add_column(name, justify=justify, overflow="fold")
    for row in doc["entries"]:
        value = row["value"]
        shown = Text(row["problem"], style="red") if row["problem"] else Text(
            f"{value:#x}" if isinstance(value, int) and row["kind"] in ("SYMBOL", "KERNELOFFSET")
            else str(value))
        table.add_row(row["kind"], row["name"] or row["key"], row["text"], shown)
    console.print(table)
    if doc["layout"]:
        facts = ", ".join(f"{k}={v:#x}" if isinstance(v, int) and k != "va_bits" else f"{k}={v}"
                          for k, v in doc["layout"].items() if v not in (None, ""))
        console.print(f"layout: {facts}")
    if doc["runtime_source"]:
        console.print(f"runtime values from: {doc['runtime_source']}")
    for problem in doc["problems"]:
        console.print(Text(f"problem: {problem}", style="yellow"))


def run(args) -> int:
    from minidump.elf.core import read_core
    from minidump.kernel.vmcoreinfo import VmcoreInfo

    if not args.vmlinux and not args.capture:
        raise UsageError("vmcoreinfo needs VMCORE, or --vmlinux VMLINUX [CAPTURE]")
    core = read_core(args.capture) if args.capture else None
    runtime_source = ""
    if args.vmlinux:
        from minidump.kernel.debuginfo import DebugInfo
        from minidump.kernel.vmcoreinfo_gen import generate_text
        with DebugInfo.open(args.vmlinux) as dbg:
            text, runtime = generate_text(dbg, core, pagesize=args.pagesize)
        source, runtime_source = f"generated from {args.vmlinux} ({dbg.type_source})", \
            runtime.source
        arch = dbg.arch
    else:
        if core.vmcoreinfo is None:
            from minidump.errors import FormatError
            raise FormatError("no VMCOREINFO note; generate one with --vmlinux VMLINUX "
                              f"{args.capture}", path=args.capture)
        text, source, arch = core.vmcoreinfo + b"\n" * (not core.vmcoreinfo.endswith(b"\n")), \
            f"{args.capture} note", core.arch.name
    info = VmcoreInfo(text, path=source)
    if args.json or args.table:
        doc = document(info, arch, source, runtime_source)
        if args.json:
            from minidump.report import render_json
            render_json(doc, sys.stdout)
        else:
            render_table(doc, sys.stdout)
    if args.output:
        from minidump.files import atomic_output
        inputs = [p for p in (args.capture, args.vmlinux) if p]
        with atomic_output(args.output, force=args.force, inputs=inputs) as out:
            out.write(text)
    elif not (args.json or args.table):
        sys.stdout.buffer.write(text)
        sys.stdout.flush()
    if runtime_source and not args.json:
        print(f"minidump: runtime values from {runtime_source}", file=sys.stderr)
    return 0
