"""The vmcore planner: every header byte and file offset of the output, no I/O but
the overlap check's byte comparison.

Output, per vmcore-consumers.md section f: an ELF core whose phdr 0 is the
only PT_NOTE (CORE notes as captured, then the VMCOREINFO note, 4-byte
framing), followed by one PT_LOAD per written region with ``p_paddr`` and
``p_vaddr``, ``p_filesz == p_memsz`` and ``p_align`` 0 (so crash reads it as a
kdump ELF).  Payloads follow the notes back to back, in region order.
"""

from __future__ import annotations

import bisect
import os
import struct
from dataclasses import dataclass, replace
from typing import BinaryIO, Callable

from minidump.errors import LayoutError
from minidump.files import CHUNK
from minidump.elf.core import EHDR_FIELDS, LAYOUTS, PHDR_FIELDS
from minidump.formats.elf import EV_CURRENT, ET, PF, PT, SHF, SHT, VMCOREINFO_NOTE_NAME

#: Elf_Shdr's fields in order (formats/elf.py; LAYOUTS' third format)
SHDR_FIELDS = ("sh_name", "sh_type", "sh_flags", "sh_addr", "sh_offset", "sh_size", "sh_link",
               "sh_info", "sh_addralign", "sh_entsize")
from minidump.model import Arch, Kind, Note, Payload, Region, Status

MAX_PHNUM = 0xFFFF - 1  # PN_XNUM and above need extended numbering; not produced here
PT_LOAD_FLAGS = PF.R | PF.W | PF.X  # as kexec-tools and /proc/vmcore write them
PT_NOTE_ALIGN = 4  # drgn parses notes with 8-byte framing only when p_align == 8


@dataclass(frozen=True, slots=True)
class PlannedLoad:
    region: int          # index into Plan.regions
    paddr: int
    vaddr: int
    size: int
    offset: int          # file offset of the data
    payload: Payload


@dataclass(frozen=True, slots=True)
class Plan:
    arch: Arch
    header: bytes        # Ehdr + phdrs + notes
    loads: tuple[PlannedLoad, ...]
    regions: tuple[Region, ...]   # every region, with its final status
    size: int            # total output size
    warnings: tuple[str, ...] = ()
    trailer: bytes = b""  # after the data: section names and headers

    @property
    def lost(self) -> list[Region]:
        return [r for r in self.regions if r.status is not None and r.status.lost]

    @property
    def written_bytes(self) -> int:
        return sum(load.size for load in self.loads)

    def with_warnings(self, warnings: tuple[str, ...]) -> "Plan":
        return replace(self, warnings=warnings)


SameBytes = Callable[[Region, Region, int, int], bool]


def _label(region: Region) -> str:
    return region.name if region.id is None else f"{region.name} (ID {region.id})"


def _different(reason: str, region: Region, status: Status = Status.INVALID) -> Region:
    return region.with_(status=status, reason=reason)


def resolve(regions: list[Region], same_bytes: SameBytes | None = None) -> list[Region]:
    """Give every region its final status: written, or why not.

    A region with the same physical range and bytes as one already written
    is a duplicate; the same range with other bytes is invalid (a conflict
    the report names, exit 3), as a partial overlap is; a table that repeats an ID for a different range loses
    nothing (both are written, and the reason says so).  Partial overlaps are
    written only when ``same_bytes`` says the overlapping bytes agree, so no
    two PT_LOADs ever give different contents for one physical byte.
    """
    out: list[Region] = []
    written = _Written()
    seen_ids: dict[int, int] = {}
    seen_ranges: dict[tuple[int, int], int] = {}
    for region in regions:
        if region.status is not None:
            out.append(region)
            continue
        if region.paddr is None and region.kind is Kind.VMCOREINFO and region.payload is not None:
            out.append(region.with_(status=Status.WRITTEN,
                                    reason="as the VMCOREINFO note only: no physical address"))
            continue
        if region.paddr is None and region.kind is Kind.ELF and region.payload is not None:
            out.append(region.with_(status=Status.WRITTEN,
                                    reason="its PT_LOADs and notes only: no physical address"))
            continue
        if region.paddr is None:
            out.append(_different("no physical address", region))
            continue
        if region.size <= 0:
            out.append(_different("size is 0", region))
            continue
        if region.paddr + region.size > 1 << 64:
            out.append(_different("address + size wraps past 2^64", region))
            continue
        if region.payload is None:
            out.append(_different("no payload captured", region, Status.MISSING))
            continue
        if region.payload.length < region.size:
            out.append(_different(f"payload has {region.payload.length:#x} of "
                                  f"{region.size:#x} bytes", region, Status.SHORT))
            continue
        first = seen_ranges.get((region.paddr, region.size))
        if first is not None:
            twin = out[first]
            if same_bytes is not None and not same_bytes(twin, region, region.paddr,
                                                         region.size):
                # crash and drgn would read one range two ways: a conflict, not a duplicate
                out.append(_different(f"same range as {_label(twin)} with different bytes; "
                                      f"only {_label(twin)}'s are written", region))
                continue
            out.append(_different(f"same range as {_label(twin)}, already written",
                                  region, Status.DUPLICATE))
            continue
        clash = written.clash(region, same_bytes)
        if clash is not None:
            out.append(_different(f"overlaps {_label(clash)} at PA "
                                  f"{max(clash.paddr, region.paddr):#x} with different bytes",
                                  region))
            continue
        reason = region.reason
        if region.id is not None and region.id > 0:
            twin = seen_ids.setdefault(region.id, len(out))
            if twin != len(out) and not reason:
                reason = (f"ID {region.id} also names {out[twin].name} at PA "
                          f"{out[twin].paddr:#x}; both written")
        seen_ranges[(region.paddr, region.size)] = len(out)
        out.append(region.with_(status=Status.WRITTEN, reason=reason))
        written.add(out[-1])
    return out


class _Written:
    """Which written region supplies each physical byte: disjoint segments, sorted.

    A new region is compared only with the segments it meets, each over their
    intersection, so the bytes compared add up to the new region's size and
    the work stays O(n log n) in regions whatever the overlaps.
    """

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.owners: list[Region] = []

    def _meeting(self, start: int, end: int) -> range:
        """Indices of the segments that meet ``[start, end)``."""
        first = bisect.bisect_right(self.ends, start)
        last = bisect.bisect_left(self.starts, end, first)
        return range(first, last)

    def add(self, region: Region) -> None:
        """Let ``region`` supply the bytes of its range no written region supplies yet."""
        start, end = region.paddr, region.paddr + region.size
        meeting = self._meeting(start, end)
        segments = [(self.starts[i], self.ends[i], self.owners[i]) for i in meeting]
        cursor, gaps = start, []
        for s_start, s_end, _ in segments:
            if s_start > cursor:
                gaps.append((cursor, s_start, region))
            cursor = max(cursor, s_end)
        if cursor < end:
            gaps.append((cursor, end, region))
        merged = sorted(segments + gaps, key=lambda seg: seg[0])
        self.starts[meeting.start:meeting.stop] = [seg[0] for seg in merged]
        self.ends[meeting.start:meeting.stop] = [seg[1] for seg in merged]
        self.owners[meeting.start:meeting.stop] = [seg[2] for seg in merged]

    def clash(self, region: Region, same_bytes: SameBytes | None) -> Region | None:
        """The first written region whose overlapping bytes differ from ``region``'s."""
        start, end = region.paddr, region.paddr + region.size
        for i in self._meeting(start, end):
            lo, hi = max(start, self.starts[i]), min(end, self.ends[i])
            if same_bytes is None or not same_bytes(self.owners[i], region, lo, hi - lo):
                return self.owners[i]
        return None


class SameBytesInFiles:
    """Compares the bytes two regions' payloads give for a physical range; files stay open
    (one handle per payload file) until :meth:`close`."""

    def __init__(self) -> None:
        self._handles: dict[str, BinaryIO] = {}

    def _chunks(self, region: Region, paddr: int, size: int):
        fh = self._handles.get(region.payload.path)
        if fh is None:
            fh = self._handles[region.payload.path] = open(region.payload.path, "rb")  # noqa
        offset = region.payload.offset + paddr - region.paddr
        left = size
        while left:
            block = os.pread(fh.fileno(), min(CHUNK, left), offset)   # position-free
            if not block:
                return
            offset += len(block)
            left -= len(block)
            yield block

    def __call__(self, a: Region, b: Region, paddr: int, size: int) -> bool:
        if size <= 16 * CHUNK:
            return b"".join(self._chunks(a, paddr, size)) == b"".join(self._chunks(b, paddr, size))
        return all(x == y for x, y in zip(self._chunks(a, paddr, size),
                                          self._chunks(b, paddr, size)))

    def close(self) -> None:
        for fh in self._handles.values():
            fh.close()
        self._handles.clear()


def payload_same_bytes(a: Region, b: Region, paddr: int, size: int) -> bool:
    """Compare the bytes two regions give for ``[paddr, paddr + size)`` (one-off)."""
    compare = SameBytesInFiles()
    try:
        return compare(a, b, paddr, size)
    finally:
        compare.close()


def note_record(name: bytes, ntype: int, desc: bytes, order: str = "<") -> bytes:
    """One ELF note with Linux's 4-byte framing (``Elf_Note`` in formats/elf.py: the name
    with its NUL, then name and descriptor each padded to 4 bytes)."""
    name = name + b"\0"
    return (struct.pack(order + "III", len(name), len(desc), ntype) + name
            + bytes(-len(name) % 4) + desc + bytes(-len(desc) % 4))


def plan_vmcore(regions: list[Region], vmcoreinfo: bytes | None, notes: list[Note],
                arch: Arch, *, scheme: str = "unknown", remember: bool = True) -> Plan:
    """Every header byte and file offset of the output; no I/O.

    ``regions`` must already be resolved (:func:`resolve`); those with status
    WRITTEN become PT_LOADs in order.  ``remember``: the MINIDUMP note records every
    region (``scheme`` says what its IDs are) and the section headers after the data name
    each PT_LOAD (:mod:`minidump.vmcore.metadata`).
    """
    from minidump.vmcore import metadata
    order = "<" if arch.little_endian else ">"
    ehdr_s, phdr_s, shdr_s = (struct.Struct(order + f) for f in LAYOUTS[arch.bits])
    written = [(i, r) for i, r in enumerate(regions)
               if r.status is Status.WRITTEN and r.paddr is not None]
    phnum = 1 + len(written)
    if phnum > MAX_PHNUM:
        raise LayoutError(f"{len(written)} regions exceed the {MAX_PHNUM - 1} PT_LOADs "
                          "an ELF header can list")
    all_notes = list(notes)
    if vmcoreinfo:
        all_notes.append(Note(VMCOREINFO_NOTE_NAME, 0, vmcoreinfo))
    if remember:
        loads_of = {index: n for n, (index, _) in enumerate(written)}
        all_notes.append(Note(metadata.NOTE_NAME, metadata.NT_MINIDUMP_REGIONS,
                              metadata.encode(list(regions), loads_of, scheme)))
    note_bytes = b"".join(note_record(n.name, n.type, n.desc, order) for n in all_notes)
    phoff = ehdr_s.size
    note_offset = phoff + phnum * phdr_s.size
    offset = note_offset + len(note_bytes)
    limit = (1 << arch.bits) - 1
    loads, phdrs = [], [dict(p_type=PT.NOTE, p_flags=0, p_offset=note_offset, p_vaddr=0,
                             p_paddr=0, p_filesz=len(note_bytes), p_memsz=len(note_bytes),
                             p_align=PT_NOTE_ALIGN)]
    for index, region in written:
        vaddr = region.vaddr or 0
        if region.paddr + region.size - 1 > limit or vaddr > limit or offset + region.size > limit:
            raise LayoutError(f"region {region.name} at PA {region.paddr:#x} does not fit an "
                              f"ELF{arch.bits} vmcore")
        loads.append(PlannedLoad(index, region.paddr, vaddr, region.size, offset, region.payload))
        phdrs.append(dict(p_type=PT.LOAD, p_flags=int(PT_LOAD_FLAGS), p_offset=offset,
                          p_vaddr=vaddr, p_paddr=region.paddr, p_filesz=region.size,
                          p_memsz=region.size, p_align=0))
        offset += region.size
    shoff, shnum, shstrndx, trailer = 0, 0, 0, b""
    if remember and 0 < len(loads) <= metadata.MAX_SECTIONS:
        shoff, shnum, shstrndx, trailer = _sections(loads, regions, offset, shdr_s, arch)
    ident = bytes([0x7F, ord("E"), ord("L"), ord("F"), 2 if arch.bits == 64 else 1,
                   1 if arch.little_endian else 2, EV_CURRENT, 0, 0]).ljust(16, b"\0")
    ehdr = ehdr_s.pack(*(dict(
        e_ident=ident, e_type=ET.CORE, e_machine=arch.machine, e_version=EV_CURRENT, e_entry=0,
        e_phoff=phoff, e_shoff=shoff, e_flags=0, e_ehsize=ehdr_s.size,
        e_phentsize=phdr_s.size, e_phnum=phnum, e_shentsize=shdr_s.size if shnum else 0,
        e_shnum=shnum, e_shstrndx=shstrndx)[f] for f in EHDR_FIELDS))
    fields = PHDR_FIELDS[arch.bits]
    header = ehdr + b"".join(phdr_s.pack(*(p[f] for f in fields)) for p in phdrs) + note_bytes
    warnings = [] if vmcoreinfo else [
        "no VMCOREINFO: crash and drgn need it to open the vmcore; give --vmcoreinfo FILE"]
    return Plan(arch, header, tuple(loads), tuple(regions), offset + len(trailer),
                tuple(warnings), trailer)


def _sections(loads: list[PlannedLoad], regions: list[Region], offset: int,
              shdr_s: struct.Struct, arch: Arch) -> tuple[int, int, int, bytes]:
    """``(e_shoff, e_shnum, e_shstrndx, bytes)``: after the data at ``offset``, the section
    names, then SHT_NULL, one SHT_PROGBITS per PT_LOAD named after its region's object, and
    ``.shstrtab``."""
    from minidump.vmcore.metadata import section_name
    names = bytearray(b"\0")
    rows = [dict(sh_name=0, sh_type=SHT.NULL, sh_flags=0, sh_addr=0, sh_offset=0, sh_size=0,
                 sh_link=0, sh_info=0, sh_addralign=0, sh_entsize=0)]
    for load in loads:
        name = section_name(regions[load.region]).replace("\0", "")
        rows.append(dict(sh_name=len(names), sh_type=SHT.PROGBITS,
                         sh_flags=int(SHF.ALLOC | SHF.WRITE), sh_addr=load.vaddr,
                         sh_offset=load.offset, sh_size=load.size, sh_link=0, sh_info=0,
                         sh_addralign=1, sh_entsize=0))
        names += name.encode("utf-8", "backslashreplace") + b"\0"
    rows.append(dict(sh_name=len(names), sh_type=SHT.STRTAB, sh_flags=0, sh_addr=0,
                     sh_offset=offset, sh_size=0, sh_link=0, sh_info=0, sh_addralign=1,
                     sh_entsize=0))
    names += b".shstrtab\0"
    rows[-1]["sh_size"] = len(names)
    pad = -(offset + len(names)) % (arch.bits // 8)
    shoff = offset + len(names) + pad
    table = b"".join(shdr_s.pack(*(row[f] for f in SHDR_FIELDS)) for row in rows)
    return shoff, len(rows), len(rows) - 1, bytes(names) + bytes(pad) + table
