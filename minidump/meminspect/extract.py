"""What ``extract`` keeps of a full capture: the regions a kernel registered for inspection.

From a full capture (ELF vmcore, raw RAM images) and its vmlinux: meminspect's
runtime ``inspect_entries[]`` (``kernel/meminspect/meminspect.c``), else its
static ``.inspect_table`` translated to runtime addresses, plus memblock
regions flagged INSPECT (series v1), plus the lines of ``--regions FILE`` for
kernels without meminspect.  ``--profile crash`` adds the few variables the
real crash reads before its prompt.  The result is a Capture like any other:
the same planner and writer as ``build`` turn it into a vmcore.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from minidump.errors import FaultError, SymbolError, UsageError
from minidump.model import Payload, Region

if TYPE_CHECKING:
    from minidump.capture import Capture
    from minidump.elf.vmlinux import Vmlinux
    from minidump.kernel.memory import KernelMemory

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


@dataclass
class Selection:
    """The regions chosen for a capture, before payloads."""

    regions: list[Region] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    added: list[dict[str, Any]] = field(default_factory=list)   # --profile additions


def _symbol_region(vmlinux: "Vmlinux", kernel: "KernelMemory", name: str, size: int | None,
                   source: str, reason: str = "") -> Region:
    symbol = vmlinux.symbol(name)
    size = size or symbol.size
    if not size:
        raise SymbolError(f"symbol {name} has no size; give 'SYMBOL SIZE'", path=source)
    vaddr = kernel.runtime(symbol.value)
    return Region(None, name, paddr=kernel.pa(vaddr), vaddr=vaddr, size=size, source=source,
                  reason=reason)


def _from_regions_file(vmlinux, kernel, name: str, out: Selection) -> None:
    from minidump.meminspect.regionsfile import load_regions

    path, specs = load_regions(name)
    label = os.path.basename(path)
    for spec in specs:
        source = f"{label}:{spec.line}"
        if spec.paddr is not None:
            out.regions.append(Region(None, f"phys {spec.paddr:#x}", paddr=spec.paddr,
                                      vaddr=kernel.linear_va(spec.paddr), size=spec.size,
                                      source=source))
        elif spec.symbol not in vmlinux.symbols and spec.optional:
            out.warnings.append(f"{source}: {spec.symbol} is not in the vmlinux; skipped")
        else:
            try:
                out.regions.append(_symbol_region(vmlinux, kernel, spec.symbol, spec.size,
                                                  source))
            except SymbolError as exc:
                raise SymbolError(f"line {spec.line}: {exc.problem}", path=path) from None


def _from_meminspect(vmlinux, kernel, version: str | None, debuginfo, out: Selection) -> bool:
    """Runtime ``inspect_entries[]``, else static ``.inspect_table``; False if neither."""
    from minidump.meminspect.entries import read_inspect_entries
    from minidump.meminspect.static import effective, enum_names, read_static

    static, names = read_static(vmlinux, enum_names(debuginfo), debuginfo, version)
    entries = read_inspect_entries(vmlinux, kernel, names, debuginfo)
    if entries is None:
        if not static:
            return False
        out.warnings.append("no inspect_entries[] in the vmlinux: static .inspect_table only, "
                            "dynamic entries unknown")
        entries = [replace(e, va=kernel.runtime(e.va), pa=kernel.pa(kernel.runtime(e.va)) or 0)
                   for e in effective(static)]
    for entry in entries:
        source = entry.where + (f" {entry.symbol}" if entry.symbol else "")
        out.regions.append(Region(entry.id, entry.id_name, paddr=entry.pa or None,
                                  vaddr=entry.va or None, size=entry.size, source=source))
    return True


def _from_memblock(vmlinux, kernel, debuginfo, out: Selection) -> None:
    from minidump.meminspect.memblock import (inspect_regions, layout_from_debuginfo,
                                              read_memblock)

    try:
        regions = read_memblock(vmlinux, kernel, layout_from_debuginfo(debuginfo, vmlinux.bits))
    except FaultError as exc:
        out.warnings.append(f"memblock not in the capture ({exc.problem}); INSPECT regions "
                            "not read")
        return
    for region in regions or ():
        if region.unknown_flags or region.unknown_names:
            out.warnings.append(f"memblock.{region.type}[{region.index}] at {region.base:#x}: "
                                f"unknown flags {'|'.join(region.flag_names)}")
    for region in inspect_regions(regions or []):
        out.regions.append(Region(None, f"memblock.{region.type}[{region.index}]",
                                  paddr=region.base, vaddr=kernel.linear_va(region.base),
                                  size=region.size, source="memblock INSPECT"))


def _profile(vmlinux, kernel, arch: str, profile: str, out: Selection) -> None:
    for name, why in PROFILES[profile].get(arch, ()):
        if name not in vmlinux.symbols:
            continue
        region = _symbol_region(vmlinux, kernel, name, None, f"--profile {profile}", why)
        out.regions.append(region)
        out.added.append({"name": name, "vaddr": region.vaddr, "paddr": region.paddr,
                          "size": region.size, "why": why})


def select(vmlinux: "Vmlinux", kernel: "KernelMemory", arch: str, *, regions_file: str | None,
           profile: str | None, version: str | None) -> Selection:
    """Every region ``extract`` writes for this capture, in report order."""
    from minidump.meminspect.static import open_debuginfo

    if profile is not None and profile not in PROFILES:
        raise UsageError(f"--profile {profile!r}: expected one of {', '.join(sorted(PROFILES))}")
    out = Selection()
    has_meminspect = ".inspect_table" in {s.name for s in vmlinux.sections} or \
        "inspect_entries" in vmlinux.symbols
    if has_meminspect:
        debuginfo = open_debuginfo(vmlinux.path)
        try:
            _from_meminspect(vmlinux, kernel, version, debuginfo, out)
            _from_memblock(vmlinux, kernel, debuginfo, out)
        finally:
            if debuginfo is not None:
                debuginfo.close()
    if regions_file:
        _from_regions_file(vmlinux, kernel, regions_file, out)
    if not out.regions:
        if not has_meminspect and not regions_file:
            raise UsageError(f"{vmlinux.path}: this kernel has no meminspect (.inspect_table, "
                             "inspect_entries); give --regions FILE, e.g. --regions v3-default")
        out.warnings.append("no registered regions found")
    if profile:
        _profile(vmlinux, kernel, arch, profile, out)
    return out


def with_payloads(capture: "Capture", regions: list[Region]) -> list[Region]:
    """Point each region into the capture's files; split where it spans two of them.

    The parts of a split region keep its ID, so the result keeps the default
    scheme (duplicates are same ID *and* name, or same range), not "meminspect".
    """
    out = []
    for region in regions:
        if region.paddr is None or region.size <= 0:
            out.append(region)
            continue
        pieces = capture.memory.pieces(region.paddr, region.size)
        held = sum(p.size for p in pieces)
        if held < region.size or len(pieces) == 1:
            first = pieces[0] if pieces else None
            out.append(region.with_(payload=Payload(first.path, first.offset, first.size)
                                    if first else None))
            continue
        for number, piece in enumerate(pieces, 1):
            delta = piece.addr - region.paddr
            out.append(region.with_(name=f"{region.name} (part {number}/{len(pieces)})",
                                    paddr=piece.addr, size=piece.size,
                                    vaddr=region.vaddr + delta if region.vaddr else None,
                                    payload=Payload(piece.path, piece.offset, piece.size)))
    return out
