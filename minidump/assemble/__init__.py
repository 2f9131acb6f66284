"""Join a container's rows into a Capture: the one place rows become regions.

Every reader (:mod:`minidump.sources`) gives :class:`~minidump.model.Row`
objects; :func:`assemble` then, once for every container:

- finds the kernel's ELF header region (meminspect ``KELF``, downstream
  ``KELF_HEADER``/``KELF_HDR``) and places payloads on its PT_LOADs
  (:mod:`minidump.assemble.place`);
- finds VMCOREINFO: an ELF core's note, else the region that holds the text;
- applies the overrides (``--vmcoreinfo``, ``--arch``);
- gives every region without a header PT_LOAD its virtual address by the
  kernel-image or linear-map rule, never a guessed vmalloc one;
- leaves out blobs of other subsystems and firmware, and says so.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from minidump.capture import Capture
from minidump.elf.core import is_elf_core, vmcoreinfo_note
from minidump.errors import MinidumpError
from minidump.formats.elf import VMCOREINFO_NOTE_NAME
from minidump.kernel.translate import Translator
from minidump.kernel.vmcoreinfo import VmcoreInfo
from minidump.limits import KELF_MAX, VMCOREINFO_MAX
from minidump.model import ARCHES, Kind, Payload, Region, Row, Status
from minidump.sources import Source

if TYPE_CHECKING:
    from minidump.elf.kelf import Kelf
    from minidump.kernel.memory import PhysicalMemory

KELF_NAMES = ("KELF", "KELF_HEADER", "KELF_HDR")
#: meminspect v3 static IDs (``.inspect_table``); everything else is dynamic
STATIC_IDS = range(4, 44)


def meminspect_id(row: Row) -> int | None:
    return row.seq if row.seq and row.seq > 0 else None


#: what a reason starts with when a payload was longer than its region
OVERSIZED = "payload has "


def trimmed(payload: Payload | None, size: int, reason: str = "") -> tuple[Payload | None, str]:
    """A payload longer than its region cut to the region, and the region's reason.

    Only the region's bytes are written.  Padding to ALIGN(size, 4) is what the
    Qualcomm backend registers and passes silently; anything longer is said in
    the reason (and summed up in a warning), never written.  Missing and short
    payloads are judged by the planner (:func:`minidump.vmcore.plan.resolve`).
    """
    if payload is None or payload.length <= size:
        return payload, reason
    cut = Payload(payload.path, payload.offset, size)
    if payload.length <= (size + 3) & ~3:
        return cut, reason
    extra = (f"{OVERSIZED}{payload.length:#x} bytes, the region {size:#x}: the last "
             f"{payload.length - size:#x} are not written")
    return cut, f"{reason}; {extra}" if reason else extra


def oversized(regions: list[Region]) -> list[Region]:
    """The regions whose payloads were longer than the region by more than the slack.

    The slack is ALIGN(size, 4) for md_*.BIN files and for Raw_Dmp! sections
    alike: XBL writes each section packed, ``section_size`` being the blob's
    own length (the section data of one dump follow each other unpadded), so
    a partition section carries no padding beyond the blob's.
    """
    return [r for r in regions if OVERSIZED in r.reason and "are not written" in r.reason]


def oversized_warning(regions: list[Region]) -> str | None:
    """One warning naming the regions whose payloads were longer than the region."""
    over = oversized(regions)
    if not over:
        return None
    named = ", ".join(r.source or r.name for r in over[:8])
    more = f", and {len(over) - 8} more" if len(over) > 8 else ""
    many = len(over) > 1
    return (f"{len(over)} payload{'s are' if many else ' is'} longer than "
            f"{'their regions' if many else 'its region'}; "
            f"only the region's bytes are written: {named}{more}")


def read_payload(payload: Payload, size: int | None = None) -> bytes:
    """The first ``size`` bytes of a payload (all of it by default)."""
    length = payload.length if size is None else min(size, payload.length)
    with open(payload.path, "rb") as fh:
        fh.seek(payload.offset)
        return fh.read(length)


def assemble(source: Source, *, input: str, vmcoreinfo: VmcoreInfo | None = None,
             vmcoreinfo_source: str = "", arch: str | None = None,
             ram: "PhysicalMemory | None" = None) -> Capture:
    """The Capture of ``source``'s rows; ``vmcoreinfo`` and ``arch`` override the capture's.

    ``ram`` (the ``--memory`` images of a blob container) fills regions whose
    blobs are missing or short, where one image holds the whole region.
    """
    rows = list(source.rows)
    used: set[int] = set()
    warnings = list(source.warnings)
    regions: list[Region] = []
    kelf_row = None if source.mapped else next((r for r in rows if _is_kelf(r)), None)
    kelf: "Kelf | None" = None
    if kelf_row is not None:
        used.add(id(kelf_row))
        region, kelf = _load_kelf(kelf_row, warnings)
        regions.append(region)
    scheme = source.scheme or _scheme(kelf, rows)

    # VMCOREINFO: the override, else an ELF core's note, else the region holding the text
    info, info_source = vmcoreinfo, vmcoreinfo_source
    note_text = vmcoreinfo_note(source.notes)
    notes = [n for n in source.notes if n.name != VMCOREINFO_NOTE_NAME]
    if note_text is not None and info is None:
        info = VmcoreInfo(note_text, path=f"{input}: VMCOREINFO")
        info_source = f"{_base(input)} note"
    vmci_row = None if source.mapped else _find_vmcoreinfo(rows, used)
    if vmci_row is not None:
        used.add(id(vmci_row))
        raw = read_payload(vmci_row.payload, VMCOREINFO_MAX) if vmci_row.payload else b""
        if kelf and kelf.vmcoreinfo_descsz is not None:
            raw = raw[:kelf.vmcoreinfo_descsz]
        raw = raw.rstrip(b"\0")
        regions.append(Region(vmci_row.seq, vmci_row.name, paddr=vmci_row.paddr,
                              size=vmci_row.size or len(raw), source=vmci_row.source,
                              payload=vmci_row.payload, status=vmci_row.status,
                              reason=vmci_row.reason, kind=Kind.VMCOREINFO))
        if info is None and raw:
            try:
                info, info_source = VmcoreInfo(raw, path=vmci_row.source), vmci_row.source
            except MinidumpError as exc:
                warnings.append(f"VMCOREINFO region unusable: {exc}")
    if info is None and source.mapped and rows:
        # a full capture without the note (no qemu_fw_cfg, 32-bit arm, a RAM image): the
        # kernel's own text is in its memory, at the start of a page
        from minidump.kernel.image import search_vmcoreinfo
        found = search_vmcoreinfo(_row_memory(rows), path=input)
        if found is not None:
            info, info_source = found[0], f"{_base(input)}: {found[1]}"
    if info is None and kelf is not None and kelf.vmcoreinfo_descsz is not None:
        warnings.append("the ELF header declares a VMCOREINFO note but its region (ID 2) was "
                        "not captured; give --vmcoreinfo FILE")
    if kelf is not None:
        notes.extend(kelf.notes)

    elf_arch = ARCHES[arch] if arch else (kelf.arch if kelf else source.arch)
    if elf_arch is None and info is not None:
        guess = info.guess_arch()
        elf_arch = ARCHES.get(guess) if guess else None
    phys_offset = None
    if info and elf_arch and elf_arch.name == "arm":
        try:
            if info.number("PHYS_OFFSET") is None:
                phys_offset = _arm_phys_offset(rows, info, scheme, source.mapped, warnings)
        except MinidumpError as exc:      # a malformed key: no evidence, said once
            warnings.append(f"arm's PHYS_OFFSET not derived: {exc.problem}")
    translator = Translator(elf_arch.name, info, phys_offset=phys_offset) \
        if info and elf_arch and not source.mapped else None

    if source.kernel_header == "meminspect" and info is not None and elf_arch is not None:
        rows = _meminspect_order(rows, info, elf_arch)
        if any(r.seq is not None for r in rows):
            scheme = "meminspect"     # the rows' seq are meminspect IDs now
    rest = [r for r in rows if id(r) not in used]
    if kelf is not None:
        from minidump.assemble.place import place_on_kelf
        regions += place_on_kelf(kelf, kelf_row, rest, used, warnings.append)
    meminspect = scheme == "meminspect"
    foreign = []
    for row in rest:
        if id(row) in used:
            continue
        if not source.mapped and _foreign(row, scheme, kelf):
            foreign.append(row.source or row.name)
            continue
        regions.append(_free_region(row, translator, meminspect))
    if foreign:
        warnings.append(f"{len(foreign)} blobs are not Linux regions (other subsystems or "
                        f"firmware data) and are not written: {_listed(foreign)}")
    # the header and VMCOREINFO regions are memory too: give them their linear-map alias
    if translator is not None:
        regions = [r.with_(vaddr=translator.linear_va(r.paddr))
                   if r.kind is not Kind.LOAD and r.vaddr is None and r.paddr is not None else r
                   for r in regions]
    if ram is not None and ram.extents:
        regions = _from_ram(regions, ram, warnings)
    oversized = oversized_warning(regions)
    if oversized:
        warnings.append(oversized)
    capture = Capture(input, source.container, regions=regions, elf_arch=elf_arch,
                      vmcoreinfo=info, vmcoreinfo_source=info_source if info else "",
                      notes=notes, warnings=warnings, scheme=scheme,
                      table_where=source.table_where)
    capture.phys_offset = phys_offset
    capture.recorded_objects = dict(source.objects)
    return capture


def _meminspect_order(rows: list[Row], info: VmcoreInfo, elf_arch) -> list[Row]:
    """The rows of a meminspect kernel's own core with the IDs their order and the capture's
    evidence give (:mod:`minidump.meminspect.order`)."""
    from dataclasses import replace

    from minidump.kernel.translate import X86_64_START_KERNEL_MAP
    from minidump.meminspect.order import infer_ids
    try:
        rules = Translator(elf_arch.name, info)
        if elf_arch.name == "x86_64":
            def image(vaddr): return vaddr >= X86_64_START_KERNEL_MAP
        elif elf_arch.name == "arm64":
            def image(vaddr): return rules.arm64_linear(vaddr) is False
        else:
            def image(vaddr):
                pa = rules.pa(vaddr)
                return pa is not None and rules.image_va(pa) == vaddr
    except MinidumpError:
        return rows

    def starts(index: int, magic: bytes) -> bool:
        payload = rows[index].payload
        if payload is None or payload.length < len(magic):
            return False
        return read_payload(payload, len(magic)) == magic

    loads = [(r.vaddr, r.paddr, r.size or 0) for r in rows]
    try:
        ids = infer_ids(loads, info, image=image, starts=starts, word=elf_arch.bits // 8)
    except MinidumpError:
        return rows
    return [replace(r, seq=ids[i], source=f"{r.source} {r.name}") if i in ids else r
            for i, r in enumerate(rows)]


def _row_memory(rows: list[Row]) -> "PhysicalMemory":
    """The rows of a mapped container as physical memory (no files opened)."""
    from minidump.kernel.memory import Extent, PhysicalMemory
    return PhysicalMemory([Extent(r.paddr, min(r.size or 0, r.payload.length), r.payload.path,
                                  r.payload.offset)
                           for r in rows if r.payload is not None and r.paddr is not None])


def _arm_phys_offset(rows: list[Row], info: VmcoreInfo, scheme: str, mapped: bool,
                     warnings: list[str]) -> int | None:
    """32-bit arm's PHYS_OFFSET, which its VMCOREINFO does not export, from the capture
    itself: lowmem (and the kernel image in it) lies at ``PHYS_OFFSET + (VA - PAGE_OFFSET)``,
    so a region whose virtual address is known gives it -- a meminspect region whose ID
    names an object VMCOREINFO places (``init_uts_ns``, ``prb``, ...), or a core's PT_LOAD
    with both addresses.  Every such region must agree, else nothing is assumed."""
    from minidump.kernel.translate import ARM_LOWMEM_END, Translator
    from minidump.meminspect.naming import id_object
    page_offset = Translator("arm", info).layout().page_offset
    if page_offset is None or not (mapped or scheme == "meminspect"):
        return None
    found: dict[int, list[str]] = {}
    for row in rows:
        if mapped:
            name, vaddr = row.name, row.vaddr
        else:
            name = id_object(meminspect_id(row), None)
            vaddr = info.symbol(name) if name else None
        if vaddr is None or row.paddr is None or not page_offset <= vaddr < ARM_LOWMEM_END:
            continue
        found.setdefault(row.paddr - (vaddr - page_offset), []).append(name)
    if len(found) > 1:
        said = "; ".join(f"{', '.join(names[:3])}: {value:#x}" for value, names in found.items())
        warnings.append(f"regions disagree on arm's PHYS_OFFSET ({said}); virtual addresses "
                        "are left out (give --vmcoreinfo FILE with NUMBER(PHYS_OFFSET))")
        return None
    return next(iter(found), None)


def _base(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def _is_kelf(row: Row) -> bool:
    base = re.sub(r"\d+$", "", row.name).upper()
    return base in KELF_NAMES or row.seq == 1 and base.startswith("KELF")


def _scheme(kelf: "Kelf | None", rows: list[Row]) -> str:
    """meminspect (seq_num is the meminspect ID) or downstream msm_minidump naming."""
    if kelf is not None:
        return kelf.variant
    names = {re.sub(r"\d+$", "", r.name).upper() for r in rows}
    if names & {"KELF_HEADER", "KELF_HDR"}:
        return "downstream"
    if any(r.seq == 1 and r.name.upper().startswith("KELF") for r in rows) or any(
            r.seq == 2 and r.name.lower().startswith("kvmcore") for r in rows):
        return "meminspect"
    return "unknown"


def _load_kelf(row: Row, warnings: list[str]) -> "tuple[Region, Kelf | None]":
    from minidump.elf.kelf import parse_kelf
    region = Region(row.seq, row.name, paddr=row.paddr, size=row.length, source=row.source,
                    payload=row.payload, status=row.status, reason=row.reason, kind=Kind.ELF)
    if row.payload is None or row.status is not None:
        return region, None
    data = read_payload(row.payload, KELF_MAX)
    if not is_elf_core(data):
        warnings.append(f"{row.source}: the kernel ELF header region is not an ELF core; "
                        "addresses come from the region table only")
        return region.with_(status=Status.ENCRYPTED if data[:4] != b"\x7fELF"
                            else Status.INVALID,
                            reason="does not start with an ELF core header (encrypted?)"), None
    return region, parse_kelf(data, path=row.source)


def _find_vmcoreinfo(rows: list[Row], used: set[int]) -> Row | None:
    ordered = sorted((r for r in rows if id(r) not in used and r.payload is not None),
                     key=lambda r: (r.seq != 2, not r.name.lower().startswith("kvmcore")))
    for row in ordered:
        if row.payload.length > VMCOREINFO_MAX:
            continue
        if VmcoreInfo.looks_like(read_payload(row.payload, 64)):
            return row
    return next((r for r in rows if id(r) not in used and r.seq == 2
                 and r.name.lower().startswith("kvmcore")), None)


def _foreign(row: Row, scheme: str, kelf: "Kelf | None") -> bool:
    """A blob another subsystem or the firmware dumped next to the Linux regions.

    meminspect names every Linux region "K..."; a downstream KELF header lists
    every Linux region, so an address-less blob it does not name is not one.
    """
    if scheme == "meminspect":
        return not row.name.startswith("K")
    if kelf is not None and kelf.variant == "downstream":
        return row.paddr is None or row.name.upper().startswith("MD_")
    return row.name.upper().startswith("MD_")


def _free_region(row: Row, translator: Translator | None, meminspect: bool) -> Region:
    """A region no KELF PT_LOAD describes: address from its table, VA given or derived."""
    size = row.length
    vaddr = row.vaddr
    if vaddr is None and row.paddr is not None and translator is not None:
        if meminspect and meminspect_id(row) in STATIC_IDS:
            vaddr = translator.image_va(row.paddr)
        else:
            vaddr = translator.linear_va(row.paddr)
    payload, reason = trimmed(row.payload, size, row.reason)
    return Region(row.seq, row.name, paddr=row.paddr, vaddr=vaddr, size=size, source=row.source,
                  payload=payload, status=row.status, reason=reason, kind=row.kind)


def _from_ram(regions: list[Region], ram: "PhysicalMemory", warnings: list[str]) -> list[Region]:
    """Regions whose blob is missing or short, with their bytes from a RAM image instead.

    Only where one ``--memory`` image holds the region's whole physical range;
    a region the table itself marks bad (invalid, encrypted) keeps its status.
    """
    out, filled, by_header = [], [], []
    for region in regions:
        have = region.payload.length if region.payload is not None else 0
        if (region.kind is Kind.ELF or region.status not in (None, Status.MISSING, Status.SHORT)
                or region.paddr is None or region.size <= 0 or have >= region.size):
            out.append(region)
            continue
        extent = ram.find(region.paddr, region.size)
        if extent is None:
            out.append(region)
            continue
        offset = extent.offset + region.paddr - extent.paddr
        where = f"{_base(extent.path)}@{offset:#x}"
        if region.id is None and region.kind is Kind.LOAD and not region.source:
            # no table entry at all: the kernel's own ELF header still gives the address
            reason = (f"no table entry; read from the RAM image at {region.name}'s address in "
                      "the kernel's ELF header")
            by_header.append(region.name)
        else:
            lacked = (f"blob {region.source} has only {have:#x} of {region.size:#x} bytes"
                      if region.payload is not None and have else "no blob captured")
            reason = f"{lacked}; bytes from the --memory image"
            filled.append(f"ID {region.id}" if region.id is not None else region.name)
        out.append(region.with_(payload=Payload(extent.path, offset, region.size), source=where,
                                status=None, reason=reason))
    if filled:
        warnings.append(f"{_count(filled, 'region')} taken from the --memory images (blob "
                        f"missing or short): {_listed(filled)}")
    if by_header:
        warnings.append(f"{_count(by_header, 'region')} the table lacks read from the RAM "
                        f"images at the addresses of the kernel's ELF header: "
                        f"{_listed(by_header)}")
    return out


def _count(items: list, noun: str) -> str:
    return f"{len(items)} {noun}{'s' if len(items) > 1 else ''}"


def _listed(items: list[str]) -> str:
    return ", ".join(items[:8]) + (f", and {len(items) - 8} more" if len(items) > 8 else "")
