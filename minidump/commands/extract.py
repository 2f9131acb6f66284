"""``minidump extract`` and ``minidump regions --vmlinux``.

extract: from a full capture (ELF vmcore, raw RAM images) and its vmlinux,
write a vmcore holding only what the kernel registered for inspection:
meminspect's runtime ``inspect_entries[]`` (kernel/meminspect/meminspect.c),
else its static ``.inspect_table`` translated to runtime addresses, plus
memblock regions flagged INSPECT (series v1), plus the lines of
``--regions FILE`` for kernels without meminspect.  ``--profile crash`` adds
the few variables the real crash reads before its prompt.  The regions go
through the same planner and writer as ``build``.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from typing import Any

from minidump.errors import SymbolError, UsageError
from minidump.kernel.memory import FaultError
from minidump.model import Capture, Payload, Region

EXIT_OK, EXIT_LOST = 0, 3

EXTRACT_EXAMPLES = """\
examples:
  minidump extract --vmlinux vmlinux vmcore -o mini.vmcore            # a meminspect kernel
  minidump extract --vmlinux vmlinux vmcore --regions v3-default \\
      --profile crash -o mini.vmcore                                  # any kernel
  minidump extract --vmlinux vmlinux ram.bin@0x80000000 -o mini.vmcore  # a raw RAM image
then:  crash --minimal vmlinux mini.vmcore     drgn -c mini.vmcore -s vmlinux
"""

#: what crash reads at startup before its prompt, per arch (vmcore-consumers.md a.3, a.5):
#: x86_64 machdep_init(POST_RELOC) reads the randomized bases with FAULT_ON_ERROR
PROFILES: dict[str, dict[str, tuple[tuple[str, str], ...]]] = {
    "crash": {
        "x86_64": (
            ("page_offset_base", "crash x86_64 POST_RELOC: direct-map base (RANDOMIZE_MEMORY)"),
            ("vmalloc_base", "crash x86_64 POST_RELOC: vmalloc base (RANDOMIZE_MEMORY)"),
            ("vmemmap_base", "crash x86_64 POST_RELOC: vmemmap base (RANDOMIZE_MEMORY)"),
            ("kexec_crash_image", "crash kdump_backup_region_init reads it at startup; "
                                  "without it crash warns 'failed to init kexec backup region'"),
        ),
    },
}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "extract", help="write a minidump of a full vmcore or RAM image",
        description="Write a small vmcore holding only the regions the kernel registered for "
                    "inspection (meminspect static + runtime entries, memblock INSPECT), or "
                    "those a --regions file lists, read from a full capture.",
        epilog=EXTRACT_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("capture", metavar="CAPTURE",
                   help="ELF vmcore (kdump, QEMU dump-guest-memory) or raw RAM image FILE@PADDR")
    p.add_argument("--vmlinux", metavar="VMLINUX", required=True,
                   help="the capture's vmlinux with its symbol table")
    p.add_argument("--memory", metavar="FILE@PADDR", action="append", default=[],
                   help="more raw RAM images (repeatable)")
    p.add_argument("--regions", metavar="FILE",
                   help="symbols / physical ranges to extract (format in the README; "
                        "'v3-default' is the shipped meminspect v3 set)")
    p.add_argument("--profile", choices=sorted(PROFILES),
                   help="also add what that consumer needs to start (crash: x86_64 "
                        "page_offset_base, vmalloc_base, vmemmap_base)")
    p.add_argument("--meminspect-version", choices=("v1", "v2", "v3"),
                   help="ID names when the vmlinux has no enum meminspect_uid")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="vmcore to write")
    p.add_argument("--force", action="store_true", help="replace an existing OUT")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no report table")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)


@dataclass
class Selection:
    """The regions chosen for a capture, before payloads."""

    regions: list[Region] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    added: list[dict[str, Any]] = field(default_factory=list)   # --profile additions


def _symbol_region(vmlinux, capture, name: str, size: int | None, source: str,
                   reason: str = "") -> Region:
    symbol = vmlinux.symbol(name)
    size = size or symbol.size
    if not size:
        raise SymbolError(f"symbol {name} has no size; give 'SYMBOL SIZE'", path=source)
    vaddr = capture.runtime(symbol.value)
    return Region(name, size, capture.pa(vaddr), vaddr, None, source, reason=reason)


def _from_regions_file(vmlinux, capture, name: str, out: Selection) -> None:
    from minidump.meminspect.regionsfile import load_regions

    path, specs = load_regions(name)
    label = os.path.basename(path)
    for spec in specs:
        source = f"{label}:{spec.line}"
        if spec.paddr is not None:
            out.regions.append(Region(f"phys {spec.paddr:#x}", spec.size, spec.paddr,
                                      capture.linear_va(spec.paddr), None, source))
        elif spec.symbol not in vmlinux.symbols and spec.optional:
            out.warnings.append(f"{source}: {spec.symbol} is not in the vmlinux; skipped")
        else:
            try:
                out.regions.append(_symbol_region(vmlinux, capture, spec.symbol, spec.size,
                                                  source))
            except SymbolError as exc:
                raise SymbolError(f"line {spec.line}: {exc.problem}", path=path) from None


def _from_meminspect(vmlinux, capture, version: str | None, debuginfo, out: Selection) -> bool:
    """Runtime ``inspect_entries[]``, else static ``.inspect_table``; False if neither."""
    from dataclasses import replace

    from minidump.meminspect.static import effective, enum_names, read_static
    from minidump.meminspect.runtime import read_runtime

    static, names = read_static(vmlinux, enum_names(debuginfo), debuginfo, version)
    entries = read_runtime(vmlinux, capture, names, debuginfo)
    if entries is None:
        if not static:
            return False
        out.warnings.append("no inspect_entries[] in the vmlinux: static .inspect_table only, "
                            "dynamic entries unknown")
        entries = [replace(e, va=capture.runtime(e.va), pa=capture.pa(capture.runtime(e.va)) or 0)
                   for e in effective(static)]
    for entry in entries:
        source = entry.where + (f" {entry.symbol}" if entry.symbol else "")
        out.regions.append(Region(entry.id_name, entry.size, entry.pa or None, entry.va or None,
                                  entry.id, source))
    return True


def _from_memblock(vmlinux, capture, debuginfo, out: Selection) -> None:
    from minidump.meminspect.memblock import inspect_regions, layout_from_debuginfo, read_memblock

    try:
        regions = read_memblock(vmlinux, capture, layout_from_debuginfo(debuginfo, vmlinux.bits))
    except FaultError as exc:
        out.warnings.append(f"memblock not in the capture ({exc.problem}); INSPECT regions "
                            "not read")
        return
    for region in regions or ():
        if region.unknown_flags or region.unknown_names:
            out.warnings.append(f"memblock.{region.type}[{region.index}] at {region.base:#x}: "
                                f"unknown flags {'|'.join(region.flag_names)}")
    for region in inspect_regions(regions or []):
        out.regions.append(Region(f"memblock.{region.type}[{region.index}]", region.size,
                                  region.base, capture.linear_va(region.base), None,
                                  "memblock INSPECT"))


def _profile(vmlinux, capture, profile: str, out: Selection) -> None:
    for name, why in PROFILES[profile].get(capture.arch.name, ()):
        if name not in vmlinux.symbols:
            continue
        region = _symbol_region(vmlinux, capture, name, None, f"--profile {profile}", why)
        out.regions.append(region)
        out.added.append({"name": name, "vaddr": region.vaddr, "paddr": region.paddr,
                          "size": region.size, "why": why})


def select(vmlinux, capture, *, regions_file: str | None, profile: str | None,
           version: str | None) -> Selection:
    """Every region ``extract`` writes for this capture, in report order."""
    from minidump.meminspect.static import open_debuginfo

    out = Selection()
    has_meminspect = ".inspect_table" in {s.name for s in vmlinux.sections} or \
        "inspect_entries" in vmlinux.symbols
    if has_meminspect:
        debuginfo = open_debuginfo(vmlinux.path)
        try:
            _from_meminspect(vmlinux, capture, version, debuginfo, out)
            _from_memblock(vmlinux, capture, debuginfo, out)
        finally:
            if debuginfo is not None:
                debuginfo.close()
    if regions_file:
        _from_regions_file(vmlinux, capture, regions_file, out)
    if not out.regions:
        if not has_meminspect and not regions_file:
            raise UsageError(f"{vmlinux.path}: this kernel has no meminspect (.inspect_table, "
                             "inspect_entries); give --regions FILE, e.g. --regions v3-default")
        out.warnings.append("no registered regions found")
    if profile:
        _profile(vmlinux, capture, profile, out)
    return out


def with_payloads(capture, regions: list[Region]) -> list[Region]:
    """Point each region into the capture's files; split where it spans two of them.

    The parts of a split region keep its ID, so the Capture keeps the default
    scheme (duplicates are same ID *and* name, or same range), not "meminspect".
    """
    out = []
    for region in regions:
        if region.paddr is None or region.size <= 0:
            out.append(region)
            continue
        pieces = capture.pieces(region.paddr, region.size)
        held = sum(p.size for p in pieces)
        if held < region.size or len(pieces) == 1:
            first = pieces[0] if pieces else None
            out.append(region.with_(payload=Payload(first.path, first.offset, first.size)
                                    if first else None))
            continue
        for number, piece in enumerate(pieces, 1):
            delta = piece.paddr - region.paddr
            out.append(region.with_(name=f"{region.name} (part {number}/{len(pieces)})",
                                    paddr=piece.paddr, size=piece.size,
                                    vaddr=region.vaddr + delta if region.vaddr else None,
                                    payload=Payload(piece.path, piece.offset, piece.size)))
    return out


def prepare(args, capture_arg: str) -> tuple[Capture, Selection]:
    """Open the inputs and build the Capture that ``build``'s planner takes."""
    from minidump.sources.fullcapture import FullCapture
    from minidump.elf.vmlinux import Vmlinux

    with Vmlinux.open(args.vmlinux) as vmlinux, FullCapture.open(capture_arg,
                                                                  args.memory) as full:
        full.attach(vmlinux)
        chosen = select(vmlinux, full, regions_file=getattr(args, "regions", None),
                        profile=getattr(args, "profile", None),
                        version=args.meminspect_version)
        capture = Capture(capture_arg, f"{full.container} + vmlinux",
                          with_payloads(full, chosen.regions), full.vmcoreinfo.raw,
                          full.vmcoreinfo_source, full.notes, full.arch,
                          list(chosen.warnings))
    return capture, chosen


def _report(capture: Capture, plan, chosen: Selection, output: str | None, as_json: bool
            ) -> None:
    from minidump.cli import _document, _print

    doc = _document(capture, plan, output)
    doc["profile"] = chosen.added
    _print(doc, as_json)
    if not as_json:
        for item in chosen.added:
            print(f"added by --profile: {item['name']} ({item['size']} bytes at "
                  f"{item['vaddr']:#x}): {item['why']}")


def _inputs(args) -> list[str]:
    return [args.capture.rpartition("@")[0] if "@" in args.capture and not os.path.exists(
        args.capture) else args.capture, args.vmlinux] + [m.rpartition("@")[0]
                                                          for m in args.memory]


def run(args) -> int:
    from minidump.cli import _progress
    from minidump.files import atomic_output
    from minidump.vmcore.plan import plan_capture, write_vmcore

    inputs = _inputs(args)
    real = os.path.realpath(args.output)
    if any(os.path.realpath(p) == real for p in inputs):
        raise UsageError(f"output {args.output} is also an input; choose another -o")
    if os.path.exists(args.output) and not args.force:
        raise UsageError(f"output {args.output} exists; use --force to replace it")
    capture, chosen = prepare(args, args.capture)
    plan = plan_capture(capture)
    with atomic_output(args.output, force=args.force, inputs=inputs) as out:
        with _progress(plan.written_bytes, enabled=not args.json) as advance:
            write_vmcore(plan, out, advance)
    if not args.quiet or args.json:
        _report(capture, plan, chosen, args.output, args.json)
    return EXIT_LOST if plan.lost or not capture.vmcoreinfo else EXIT_OK


def _static_document(vmlinux_path: str, version: str | None) -> dict[str, Any]:
    from minidump.meminspect.static import enum_names, open_debuginfo, read_static
    from minidump.model import Status
    from minidump.report import region_rows, totals
    from minidump.elf.vmlinux import Vmlinux

    with Vmlinux.open(vmlinux_path) as vmlinux:
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
        regions.append(Region(entry.id_name, entry.size, None, entry.va, entry.id,
                              entry.symbol or "?", status=status, reason=reason))
    rows = region_rows(regions)
    for row, entry in zip(rows, entries):
        row["symbol"] = entry.symbol
        row["index"] = entry.index
    warnings = [] if entries else [
        "no .inspect_table: this kernel was built without meminspect (see extract --regions)"]
    return {"input": vmlinux_path, "container": f".inspect_table, IDs from {names.source}",
            "output": None, "arch": None, "regions": rows, "totals": totals(regions),
            "warnings": warnings}


def run_regions(args) -> int:
    """``minidump regions [INPUT] --vmlinux VMLINUX``."""
    from minidump.cli import _print
    from minidump.elf import core as elfcore
    from minidump.vmcore.plan import plan_capture

    if args.input is None:
        _print(_static_document(args.vmlinux, args.meminspect_version), args.json)
        return EXIT_OK
    if not (elfcore.sniff(args.input) or "@" in args.input):
        raise UsageError(f"regions --vmlinux takes a full capture (ELF vmcore or FILE@PADDR), "
                         f"not {args.input}; without --vmlinux it lists firmware minidumps")
    capture, chosen = prepare(args, args.input)
    plan = plan_capture(capture)
    _report(capture, plan, chosen, None, args.json)
    return EXIT_LOST if plan.lost or not capture.vmcoreinfo else EXIT_OK

