"""``minidump info VMCORE [--vmlinux VMLINUX]``: kernel facts and consumer readiness.

Facts and rows come from :mod:`minidump.kernel.facts`; with ``--vmlinux`` the
capture's BUILD-ID, OSRELEASE and in-memory ``linux_banner`` must match the
vmlinux, else the command fails (exit 1) naming the mismatch.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from minidump.errors import MinidumpError
from minidump.report import make_console

EXIT_PARTIAL = 3

EXAMPLES = """\
examples:
  minidump info vmcore                          # facts VMCOREINFO and memory allow + readiness
  minidump info vmcore --vmlinux vmlinux        # + jiffies, taint, CPUs; verify the vmlinux
  minidump info vmcore --json                   # the same as JSON
exit status: 0 nothing known missing, 3 some consumer lacks a key or region, 1 error
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("info", help="kernel facts and what crash/drgn/makedumpfile need",
                              description="Show release, build-id, arch, page size, KASLR "
                                          "offset, banner, jiffies, taint and CPUs (as far as "
                                          "the capture allows) and, for crash --minimal, crash, "
                                          "drgn, makedumpfile --dump-dmesg and vmcore-dmesg, "
                                          "which keys and regions are present or missing.",
                              epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("vmcore", metavar="VMCORE", help="ELF vmcore")
    p.add_argument("--vmlinux", metavar="VMLINUX",
                   help="read symbols from it and verify it matches the capture")
    p.add_argument("--vmcoreinfo", metavar="FILE",
                   help="VMCOREINFO text to use instead of the vmcore's note")
    p.add_argument("--json", action="store_true", help="print the document as JSON")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    return p


def _hex(value: int | None) -> str:
    return "-" if value is None else f"{value:#x}"


def render_info(doc: dict[str, Any], out: TextIO, *, width: int | None = None) -> None:
    """The facts as a two-column table, then the readiness table."""
    from rich.table import Table
    from rich.text import Text

    console = make_console(out, width)
    f = doc["facts"]
    facts = Table(title=f"{doc['input']}" + (f" + {doc['vmlinux']}" if doc["vmlinux"] else ""),
                  title_justify="left", show_header=False, pad_edge=False)
    facts.add_column("fact", style="bold")
    facts.add_column("value", overflow="fold")
    uts = f["utsname"]
    taint = f["taint"]
    for name, value in (
            ("release", f["release"] or uts.get("release") or "-"),
            ("build-id", f["build_id"] or "-"), ("arch", f["arch"]),
            ("page size", str(f["page_size"] or "-")), ("KASLR offset", _hex(f["kaslr_offset"])),
            ("banner", f"{f['banner']}  [{f['banner_source']}]" if f["banner"] else "-"),
            ("utsname", " ".join(uts.get(k, "") for k in ("sysname", "nodename", "version",
                                                          "machine")) if uts else "-"),
            ("jiffies", str(f["jiffies"]) if f["jiffies"] is not None else "- (needs --vmlinux)"),
            ("taint", f"{taint['mask']:#x} {taint['flags'] or '(none)'}" if taint
             else "- (needs --vmlinux)"),
            ("CPUs online", f"{f['cpus_online']}  [{f['cpus_source']}]" if f["cpus_online"]
             else "-"),
            ("crash time", str(f["crashtime"]) if f["crashtime"] else "-"),
            ("kernel log", f["log"])):
        facts.add_row(name, value)
    console.print(facts)
    if doc["layout"]:
        console.print("layout: " + ", ".join(
            f"{k}={v}" if k in ("arch", "va_bits", "source") or not isinstance(v, int)
            else f"{k}={_hex(v)}" for k, v in doc["layout"].items() if v not in (None, "")))
    table = Table(title="readiness", title_justify="left", pad_edge=False)
    for name in ("consumer", "needs", "kind", "status", "detail"):
        table.add_column(name, overflow="fold")
    styles = {True: ("present", "green"), False: ("missing", "red"), None: ("unknown", "yellow")}
    for row in doc["readiness"]:
        label, style = styles[row["present"]]
        table.add_row(row["consumer"], row["item"], row["kind"], Text(label, style=style),
                      row["detail"])
    console.print(table)
    words = {True: "yes", False: "NO", None: "unknown"}
    console.print("ready: " + ", ".join(f"{c} {words[ok]}" for c, ok in doc["ready"].items()))
    for problem in doc["vmcoreinfo_problems"]:
        console.print(Text(f"VMCOREINFO problem: {problem}", style="yellow"))


def run(args) -> int:
    from minidump.commands.dmesg import load_vmcoreinfo
    from minidump.kernel.facts import gather, verify_vmlinux
    from minidump.kernel.memory import CoreMemory
    from minidump.elf.core import read_core

    core = read_core(args.vmcore)
    try:
        info = load_vmcoreinfo(core, args.vmcoreinfo)
    except MinidumpError:
        info = None   # facts without VMCOREINFO are few, but the readiness rows say why
    dbg = None
    if args.vmlinux:
        from minidump.kernel.debuginfo import DebugInfo
        dbg = DebugInfo.open(args.vmlinux)
    try:
        with CoreMemory(core, info) as mem:
            doc = gather(core, info, mem, dbg)
        if dbg is not None:
            problems = verify_vmlinux(info, doc["facts"]["banner"], dbg, args.vmlinux)
            if problems:
                raise MinidumpError(f"does not match {args.vmcore}: " + "; ".join(problems),
                                    path=args.vmlinux)
    finally:
        if dbg is not None:
            dbg.close()
    if args.json:
        from minidump.report import render_json
        render_json(doc, sys.stdout)
    else:
        render_info(doc, sys.stdout)
    return EXIT_PARTIAL if False in doc["ready"].values() else 0
