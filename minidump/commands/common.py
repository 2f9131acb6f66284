"""The input options every reading command shares, and opening a capture with them."""

from __future__ import annotations

import argparse

from minidump.sources import FORMATS

CAPTURE_HELP = ("md_*.BIN directory, Raw_Dmp! image, SMEM item-602 blob, RAM image holding the "
                "SMEM table (with --memory), raw RAM image FILE@PADDR, or ELF vmcore")


def add_input_options(p: argparse.ArgumentParser, *, positional: str | None = "input",
                      metavar: str = "CAPTURE", optional: bool = False) -> None:
    """The capture and the options that say how to read it (the API's keywords)."""
    group = p.add_argument_group("input")
    if positional:
        group.add_argument(positional, metavar=metavar, nargs="?" if optional else None,
                           help=CAPTURE_HELP)
    group.add_argument("--memory", metavar="FILE@PADDR", action="append", default=[],
                       help="raw RAM image loaded at PADDR, read as crash reads it (hexadecimal, "
                            "0x optional; repeatable); with blobs it also fills regions whose "
                            "blob is missing or short")
    group.add_argument("--table-addr", metavar="PADDR",
                       help="physical address of the minidump table (SMEM item 602)")
    group.add_argument("--smem-base", metavar="PADDR[,SIZE]",
                       help="SMEM base (and size) instead of scanning the RAM images")
    group.add_argument("--sahara-table", metavar="FILE",
                       help="raw Sahara memory-debug table giving each md_*.BIN its address")
    group.add_argument("--vmcoreinfo", metavar="FILE",
                       help="VMCOREINFO text to use instead of the captured one")
    group.add_argument("--format", default="auto", choices=FORMATS, metavar="FORMAT",
                       help="input container: " + ", ".join(FORMATS) + " (default: auto, "
                            "detect)")
    group.add_argument("--arch", help="arm64, x86_64, arm, riscv64 (default: from the capture)")


def open_capture(args, path: str, *, vmlinux: str | None = None):
    """``minidump.open`` with the command's input options."""
    from minidump.api import open as open_
    from minidump.errors import FormatError
    try:
        return open_(path, memory=args.memory, table_addr=args.table_addr,
                     smem_base=args.smem_base, sahara_table=args.sahara_table,
                     vmcoreinfo=args.vmcoreinfo, format=args.format, arch=args.arch,
                     vmlinux=vmlinux, progress=not getattr(args, "json", False))
    except FormatError as exc:
        hint = _format_hint(args, path)
        if hint:
            raise FormatError(f"{exc.problem}; {hint}", path=exc.path, offset=exc.offset,
                              field=exc.field) from exc
        raise
    except (IsADirectoryError, NotADirectoryError) as exc:
        # a forced --format whose reader wants a file got a directory (or the reverse)
        hint = _format_hint(args, path)
        if hint:
            raise FormatError(f"{exc.strerror}; {hint}", path=exc.filename or path) from exc
        raise


def _format_hint(args, path: str) -> str:
    """The fix for a forced ``--format`` that does not match the input (same line)."""
    if args.format == "auto":
        return ""
    from minidump.sources import detect
    from minidump.sources.memoryset import MEMORY_FILE, is_memory_set
    if is_memory_set(path):
        return f"this is a RAM-image set ({MEMORY_FILE}): drop --format {args.format}"
    try:
        found = detect(path, has_memory=bool(args.memory)).kind
    except Exception:   # noqa: BLE001  (a hint only: the original error stands)
        return ""
    if found == args.format:
        return ""
    return f"this is a {found} input: drop --format {args.format} (or pass --format {found})"


def input_paths(args, path: str | None) -> list[str]:
    """Every file the command reads, so ``-o`` can refuse them (before reading anything)."""
    from minidump.sources import is_memory_spec
    out = [path.rpartition("@")[0] if path and is_memory_spec(path) else path]
    out += [m.rpartition("@")[0] for m in args.memory]
    out += [getattr(args, name, None) for name in ("vmcoreinfo", "sahara_table", "vmlinux")]
    return [p for p in out if p]


def output_options(p: argparse.ArgumentParser, *, required: bool, what: str) -> None:
    p.add_argument("-o", "--output", metavar="OUT" if required else "FILE", required=required,
                   help=what)
    p.add_argument("--force", action="store_true", help="replace an existing output")


def report_options(p: argparse.ArgumentParser) -> None:
    """How ``build`` and ``extract`` report: a summary by default, every row on request."""
    p.add_argument("--table", "-v", "--verbose", dest="table", action="store_true",
                   help="list every region (default: a summary and the regions that need "
                        "attention)")


def plan_and_report(capture, args, output: str | None = None):
    """Plan the capture (and write it to ``output``); the regions report and exit code.

    What ``regions``, ``build`` and ``extract`` share: losses, a missing VMCOREINFO
    or a payload longer than its region make the run exit 3.  ``regions`` prints
    every row; ``build`` and ``extract`` print a summary and the rows that need
    attention (every row with ``--table``).  ``-q`` leaves the report out but never
    a loss: lost regions then go to stderr, one line each.
    """
    from minidump.cli import ExitCode
    from minidump.report import Document, Progress, regions_document

    plan = capture.plan()
    doc = regions_document(capture, plan, output)   # before publishing: a failure leaves nothing
    fill_objects(capture, plan.regions, doc)
    if output is not None:
        with Progress(plan.written_bytes, enabled=not args.json) as advance:
            capture.write_vmcore(output, force=args.force, progress=advance)
    from minidump.assemble import oversized
    # a blob cut to its region (mislabeled or corrupt) is not a clean run either
    code = ExitCode.LOST if plan.lost or capture.vmcoreinfo is None or oversized(plan.regions) \
        else ExitCode.OK
    if getattr(args, "quiet", False) and not args.json:
        return (Document("losses", doc) if code == ExitCode.LOST else None), code
    kind = "build" if output is not None and not getattr(args, "table", False) else "regions"
    return Document(kind, doc, args.json), code


def fill_objects(capture, regions, doc) -> None:
    """Each row's ``object`` (``unknown`` where nothing in the capture identifies it) and what
    the names rest on (``objects``; ``meminspect``: the series the IDs were read with)."""
    from minidump.kernel.kallsyms import KALLSYMS_SOURCE
    from minidump.meminspect.naming import UNKNOWN
    # the capture names its regions once (Capture.regions); the plan's rows are those
    # regions with their final statuses
    named = {_same(r): r.object for r in capture.regions}
    meta = capture.naming
    for row, region in zip(doc["regions"], regions):
        row["object"] = named.get(_same(region), UNKNOWN)
    names = [row["object"] for row in doc["regions"]]
    counts = meta["objects"]
    if counts:
        how = ", ".join(f"{n} from {KALLSYMS_SOURCE if k == 'kallsyms' else k}"
                        for k, n in counts.items())
        doc["objects"] = f"{sum(counts.values())} of {len(names)} regions named: {how}"
    if "meminspect" in meta:
        doc["meminspect"] = meta["meminspect"]
    if "uncaptured" in meta:
        doc["uncaptured"] = meta["uncaptured"]
        if meta["uncaptured"]:
            listed = ", ".join(f"ID {e['id']} {e['object']} ({e['size']} bytes)"
                               for e in meta["uncaptured"])
            doc["warnings"].append(f"{len(meta['uncaptured'])} regions the vmlinux's "
                                   f".inspect_table registers are not in the capture: {listed}")


def _same(region) -> tuple:
    """What identifies a region between the capture's list and the plan's."""
    return region.id, region.name, region.paddr, region.vaddr, region.size, region.source
