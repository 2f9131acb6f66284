"""The SMEM minidump table (item 602) in raw RAM images, or as a bare blob.

Finding the item follows qcom-minidump.md section 1.12.8: an SMEM base from
``--smem-base`` or a self-locating ``$TOC`` page found by scanning every 4 KiB
boundary of the images; the header must be initialised with a version-12
(global partition) allocator; item 602 is walked for on the global
partition's uncached list, then the cached list.  ``--table-addr`` skips the
search.  Region arrays and payloads are read from the same images.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from minidump.errors import FaultError, FormatError, UnsupportedError
from minidump.formats.common import iter_table, parse_at
from minidump.formats.qcom_minidump import (MD, MD_REVISION, MINIDUMP_SUBSYSTEM_APSS,
                                            SBL_MINIDUMP_SMEM_ID, SMEM_GLOBAL_HOST,
                                            SMEM_GLOBAL_PART_VERSION, SMEM_INFO_MAGIC,
                                            SMEM_PART_MAGIC, SMEM_PRIVATE_CANARY,
                                            SMEM_PTABLE_MAGIC, SMEM_PTABLE_MAX_ENTRIES,
                                            SMEM_TOC_SIZE, minidump_global_toc_header,
                                            minidump_region, minidump_subsystem, smem_header,
                                            smem_info, smem_partition_header, smem_private_entry,
                                            smem_ptable, smem_ptable_entry)
from minidump.files import data_ranges
from minidump.kernel.memory import PhysicalMemory
from minidump.model import Payload, Row, Status
from minidump.sources import Context, Source
from minidump.sources.tables import decode_name


class SmemNotFound(FormatError):
    """No SMEM heap in the RAM images (the scan found no self-consistent ``$TOC`` page)."""

TOC_HEADER = minidump_global_toc_header.sizeof()
SLOT = minidump_subsystem.sizeof()
REGION = minidump_region.sizeof()
SMEM_SIZES = (0x200000, 0x100000)
#: regions one subsystem may have before we call its count corrupt (201 in Linux, 300 in firmware)
MAX_REGIONS = 1024
MAX_SLOTS = 64
SLOT_STATUS = {0, MD.SS_TOC_INIT, MD.SS_TOC_MAGIC, MD.SS_TOC_MAGIC_SDM670, MD.SS_TOC_MAGIC_SHRM}
SUBSYSTEM_NAMES = {0: "APSS (Linux)", 1: "TZ", 2: "hypervisor", 3: "modem", 4: "WLAN", 5: "ADSP",
                   6: "SLPI", 7: "CDSP", 8: "secure processor", 9: "AOP"}


@dataclass(frozen=True, slots=True)
class FoundTable:
    data: bytes
    paddr: int | None
    where: str


def fourcc_text(value: int) -> str:
    chars = value.to_bytes(4, "big").lstrip(b"\0")
    return chars.decode("ascii") if chars and all(0x20 <= c < 0x7F for c in chars) else ""


# -- locating item 602 --------------------------------------------------------------

def _where(memory: PhysicalMemory, paddr: int) -> tuple[str | None, int | None]:
    """(file, offset) holding a physical address, for error messages."""
    extent = memory.find(paddr)
    if extent is None:
        return None, None
    return extent.path, extent.offset + paddr - extent.paddr


def _read(memory: PhysicalMemory, paddr: int, size: int, what: str) -> bytes:
    """Bytes of the SMEM heap or table; outside the images is a format error of the table."""
    try:
        return memory.read(paddr, size, what)
    except FaultError:
        raise FormatError(f"PA {paddr:#x}+{size:#x} is not inside any --memory image",
                          field=what) from None


def _parse_pa(memory: PhysicalMemory, schema, paddr: int, what: str):
    data = _read(memory, paddr, schema.sizeof(), what)
    path, offset = _where(memory, paddr)
    return parse_at(schema, data, 0, path=path, base=offset or 0, what=what)


def _fail(memory: PhysicalMemory, paddr: int, field: str, problem: str, cls=FormatError):
    path, offset = _where(memory, paddr)
    if path is None:
        problem = f"PA {paddr:#x}: {problem}"
    return cls(problem, path=path, offset=offset, field=field)


def _scan_toc_pages(memory: PhysicalMemory, progress=None) -> list[int]:
    """PAs of 4 KiB-aligned pages starting with ``$TOC`` in every image.

    Holes of sparse images are skipped (``SEEK_DATA``), the data is searched
    in 4 MiB blocks with ``bytes.find``; ``progress(n)`` is told each block's size.
    """
    found = []
    chunk = 1 << 22
    for extent in memory.extents:
        with open(extent.path, "rb") as fh:
            for start, end in data_ranges(fh.fileno(), extent.offset, extent.offset + extent.size):
                pos = start
                while pos < end:
                    fh.seek(pos)
                    block = fh.read(min(chunk, end - pos) + 3)   # + 3: a magic across blocks
                    if not block:
                        break
                    at = block.find(SMEM_PTABLE_MAGIC)
                    while 0 <= at < min(chunk, end - pos):
                        paddr = extent.paddr + pos + at - extent.offset
                        if paddr % SMEM_TOC_SIZE == 0:
                            found.append(paddr)
                        at = block.find(SMEM_PTABLE_MAGIC, at + 1)
                    if progress is not None:
                        progress(min(chunk, end - pos))
                    pos += chunk
    return found


def _self_located_base(memory: PhysicalMemory, toc_pa: int) -> tuple[int, int] | None:
    """(base, size) a ``$TOC`` page names for itself through SIII or its own entry."""
    try:
        table = _parse_pa(memory, smem_ptable, toc_pa, "smem_ptable")
    except FormatError:
        return None
    if table.version != 1 or not 1 <= table.num_entries <= SMEM_PTABLE_MAX_ENTRIES:
        return None
    info_pa = toc_pa + smem_ptable.sizeof() + table.num_entries * smem_ptable_entry.sizeof()
    try:
        info = _parse_pa(memory, smem_info, info_pa, "smem_info")
        if info.magic == SMEM_INFO_MAGIC and info.base_addr + info.size - SMEM_TOC_SIZE == toc_pa:
            return info.base_addr, info.size
    except FormatError:
        pass
    for i in range(table.num_entries):
        entry = _parse_pa(memory, smem_ptable_entry, toc_pa + 32 + 48 * i, f"smem_ptable_entry[{i}]")
        if entry.size == SMEM_TOC_SIZE and entry.host0 == entry.host1 == 0xFFFF and entry.offset:
            return toc_pa - entry.offset, entry.offset + SMEM_TOC_SIZE
    return None


def find_item_602(memory: PhysicalMemory, *, smem_base: int | None = None,
                  smem_size: int | None = None, warn=lambda m: None,
                  progress: bool = False) -> FoundTable:
    """Locate item 602 through the SMEM heap; raises the E1-E18 errors of the spec."""
    if smem_base is not None:
        sizes = [smem_size] if smem_size else list(SMEM_SIZES)
        candidates = [(smem_base, s) for s in sizes]
    else:
        bases = {}
        from minidump.report import Progress
        total = sum(e.size for e in memory.extents)
        with Progress(total, enabled=progress, label="scanning for SMEM") as advance:
            pages = _scan_toc_pages(memory, advance)
        for toc_pa in pages:
            found = _self_located_base(memory, toc_pa)
            if found:
                bases[found[0]] = found
        if not bases:
            raise SmemNotFound("SMEM not found: no --smem-base, no self-consistent '$TOC' page in "
                              "the --memory images; give --smem-base or --table-addr")
        if len(bases) > 1:
            listed = " and ".join(f"{b:#x}" for b in sorted(bases))
            raise FormatError(f"SMEM ambiguous: bases {listed} all validate; give --smem-base")
        candidates = list(bases.values())
    last_error = None
    for base, size in candidates:
        try:
            return _item_from_smem(memory, base, size, warn)
        except FormatError as exc:
            last_error = exc
            if smem_size or len(candidates) == 1:
                raise
    raise last_error


def _item_from_smem(memory: PhysicalMemory, base: int, size: int, warn) -> FoundTable:
    header = _parse_pa(memory, smem_header, base, "smem_header")
    if header.initialized != 1 or header.reserved != 0:
        raise _fail(memory, base + 192, "smem_header.initialized",
                    f"SMEM not initialised by the boot loader, expected 1, got {header.initialized:#x}")
    version = header.version[7]
    major = version >> 16
    if major == 11:
        raise _fail(memory, base + 92, "smem_header.version[7]",
                    "SMEM version 11 (global heap, items < 512) cannot hold item 602",
                    UnsupportedError)
    if major != SMEM_GLOBAL_PART_VERSION:
        raise _fail(memory, base + 92, "smem_header.version[7]",
                    f"unsupported SMEM version, expected 0x000bxxxx or 0x000cxxxx, got {version:#010x}",
                    UnsupportedError)
    toc_pa = base + size - SMEM_TOC_SIZE
    table = _parse_pa(memory, smem_ptable, toc_pa, "smem_ptable")
    if table.magic != SMEM_PTABLE_MAGIC:
        raise _fail(memory, toc_pa, "smem_ptable.magic",
                    f"no partition table at PA {toc_pa:#x} (base + size - 4 KiB), expected "
                    f"'$TOC', got {table.magic!r}; is the SMEM size right?")
    if table.version != 1:
        raise _fail(memory, toc_pa + 4, "smem_ptable.version", f"expected 1, got {table.version}",
                    UnsupportedError)
    if not 1 <= table.num_entries <= SMEM_PTABLE_MAX_ENTRIES:
        raise _fail(memory, toc_pa + 8, "smem_ptable.num_entries",
                    f"expected 1..{SMEM_PTABLE_MAX_ENTRIES}, got {table.num_entries}")
    entries = [_parse_pa(memory, smem_ptable_entry, toc_pa + 32 + 48 * i, f"smem_ptable_entry[{i}]")
               for i in range(table.num_entries)]
    info_pa = toc_pa + 32 + 48 * table.num_entries
    info = _parse_pa(memory, smem_info, info_pa, "smem_info")
    if info.magic == SMEM_INFO_MAGIC:
        if (info.base_addr, info.size) != (base, size):
            warn(f"SMEM info block names base {info.base_addr:#x} size {info.size:#x}, "
                 f"not {base:#x} {size:#x}")
        if info.num_items <= SBL_MINIDUMP_SMEM_ID:
            warn(f"SMEM num_items {info.num_items} <= 602: Linux would refuse this lookup")
    glob = next(((i, e) for i, e in enumerate(entries)
                 if e.host0 == e.host1 == SMEM_GLOBAL_HOST and e.offset and e.size), None)
    if glob is None:
        raise _fail(memory, toc_pa + 32, "smem_ptable.entry[]",
                    "no entry with host0 = host1 = 0xfffe (global partition)")
    gi, gentry = glob
    if gentry.offset % SMEM_TOC_SIZE or gentry.offset + gentry.size > size - SMEM_TOC_SIZE:
        raise _fail(memory, toc_pa + 32 + 48 * gi, f"smem_ptable.entry[{gi}].offset",
                    f"partition {gentry.offset:#x} + {gentry.size:#x} runs past the partition table")
    part_pa = base + gentry.offset
    part = _parse_pa(memory, smem_partition_header, part_pa, "smem_partition_header")
    if part.magic != SMEM_PART_MAGIC:
        raise _fail(memory, part_pa, "smem_partition_header.magic",
                    f"expected '$PRT', got {part.magic!r}")
    if part.host0 != SMEM_GLOBAL_HOST or part.host1 != SMEM_GLOBAL_HOST:
        raise _fail(memory, part_pa + 4, "smem_partition_header.host0",
                    f"expected 0xfffe, got {part.host0:#x}/{part.host1:#x}")
    if part.size != gentry.size:
        raise _fail(memory, part_pa + 8, "smem_partition_header.size",
                    f"expected {gentry.size:#x} (ptable entry), got {part.size:#x}")
    if not 32 <= part.offset_free_uncached <= part.offset_free_cached <= part.size:
        raise _fail(memory, part_pa + 12, "smem_partition_header.offset_free_uncached",
                    "expected 32 <= x <= offset_free_cached <= size, got "
                    f"{part.offset_free_uncached:#x}/{part.offset_free_cached:#x}")
    pos, index = 32, 0
    while pos + 16 <= part.offset_free_uncached:
        entry = _parse_pa(memory, smem_private_entry, part_pa + pos, f"smem_private_entry[{index}]")
        if entry.canary != SMEM_PRIVATE_CANARY:
            raise _fail(memory, part_pa + pos, f"smem_private_entry[{index}].canary",
                        f"expected 0xa5a5, got {entry.canary:#x}")
        if entry.size > part.size or entry.padding_data > entry.size:
            raise _fail(memory, part_pa + pos + 4, f"smem_private_entry[{index}].size",
                        f"{entry.size:#x} exceeds the partition size {part.size:#x}, "
                        "or padding_data exceeds size")
        data_at = pos + 16 + entry.padding_hdr
        nxt = data_at + entry.size
        if nxt > part.offset_free_uncached:
            raise _fail(memory, part_pa + pos, f"smem_private_entry[{index}]",
                        f"entry ends at {nxt:#x}, past offset_free_uncached "
                        f"{part.offset_free_uncached:#x}")
        if entry.item == SBL_MINIDUMP_SMEM_ID:
            length = entry.size - entry.padding_data
            pa = part_pa + data_at
            return FoundTable(_read(memory, pa, length, "minidump_global_toc"), pa,
                              f"SMEM item 602 at PA {pa:#x}")
        pos, index = nxt, index + 1
    raise FormatError(f"SMEM item 602 (minidump table) not found in the global partition "
                      f"({index} items scanned); minidump was probably not enabled in this boot")


def table_at(memory: PhysicalMemory, paddr: int, warn) -> FoundTable:
    """``--table-addr``: the item's data PA; its length from the SMEM item header if present."""
    slots = 10
    try:
        hdr = _parse_pa(memory, smem_private_entry, paddr - 16, "smem_private_entry")
        if hdr.canary == SMEM_PRIVATE_CANARY and hdr.item == SBL_MINIDUMP_SMEM_ID:
            slots = max(1, (hdr.size - hdr.padding_data - TOC_HEADER) // SLOT)
        else:
            warn(f"no SMEM item header for item 602 before PA {paddr:#x}; assuming 10 slots")
    except FormatError:
        warn(f"no SMEM item header before PA {paddr:#x}; assuming 10 slots")
    length = TOC_HEADER + SLOT * slots
    return FoundTable(_read(memory, paddr, length, "minidump_global_toc"), paddr,
                      f"item 602 at PA {paddr:#x}")


# -- reading the table ---------------------------------------------------------------

def sniff_blob(path: str) -> bool:
    """A bare item-602 blob: 16 + 32*K bytes with an initialised header."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return False
    if not os.path.isfile(path) or size < TOC_HEADER + SLOT or (size - TOC_HEADER) % SLOT \
            or size > TOC_HEADER + SLOT * MAX_SLOTS:
        return False
    with open(path, "rb") as fh:
        head = parse_at(minidump_global_toc_header, fh.read(TOC_HEADER))
    return head.status != 0 and head.md_revision == MD_REVISION


def read_table(found: FoundTable, memory: PhysicalMemory, capture: Source, *,
               path: str | None = None, base: int = 0) -> list[Row]:
    """Slot 0 (APSS) regions as candidates; other slots are reported, not converted."""
    data = found.data
    if len(data) < TOC_HEADER + SLOT:
        raise FormatError(f"item 602 is {len(data)} bytes, need at least {TOC_HEADER + SLOT}",
                          path=path, offset=base, field="minidump_global_toc")
    if (len(data) - TOC_HEADER) % SLOT:
        capture.warn(f"item 602 length {len(data)} is not 16 + 32*K; ignoring the tail")
    head = parse_at(minidump_global_toc_header, data, 0, path=path, base=base)
    if head.status == 0:
        raise FormatError("table not initialised, expected nonzero, got 0", path=path, offset=base,
                          field="minidump_global_toc.status")
    if head.md_revision != MD_REVISION:
        capture.warn(f"minidump_global_toc.md_revision is {head.md_revision}, expected 1")
    slots = min((len(data) - TOC_HEADER) // SLOT, MAX_SLOTS)
    cands: list[Row] = []
    for index, slot in iter_table(minidump_subsystem, data, slots, TOC_HEADER, path=path,
                                  base=base):
        at = base + TOC_HEADER + index * SLOT
        if slot["status"] == 0:
            continue
        field = f"minidump_subsystem[{index}]"
        if slot["status"] not in SLOT_STATUS:
            capture.warn(f"{field}.status {slot['status']:#x} is not a known value; slot skipped")
            continue
        if index != MINIDUMP_SUBSYSTEM_APSS:
            capture.warn(f"subsystem slot {index} ({SUBSYSTEM_NAMES.get(index, 'unknown')}) holds "
                         f"{slot['region_count']} regions; only slot 0 (Linux) goes into the vmcore")
            continue
        if slot["enabled"] != MD.SS_ENABLED:
            capture.warn(f"{field}.enabled is {slot['enabled']:#x} "
                         f"'{fourcc_text(slot['enabled'])}', not ENBL")
        count, base = slot["region_count"], slot["regions_baseptr"]
        if count > MAX_REGIONS:
            raise FormatError(f"region_count {count} is past any table size (max {MAX_REGIONS})",
                              path=path, offset=at + 16, field=f"{field}.region_count")
        if base == 0:
            raise FormatError("regions_baseptr is 0", path=path, offset=at + 24,
                              field=f"{field}.regions_baseptr")
        extent = memory.find(base, count * REGION)
        if extent is None:
            raise FormatError(f"region array at PA {base:#x} ({count} x {REGION} bytes) is not "
                              "inside any --memory image", path=path, offset=at + 24,
                              field=f"{field}.regions_baseptr")
        array = _read(memory, base, count * REGION, "minidump_region")
        arr_path, arr_off = extent.path, extent.offset + base - extent.paddr
        for i, row in iter_table(minidump_region, array, count, path=arr_path, base=arr_off):
            cands.append(_candidate(row, i, memory, arr_path, arr_off + i * REGION))
    if not cands:
        capture.warn("no Linux (slot 0) regions in the minidump table")
    return cands


def _candidate(row: dict, index: int, memory: PhysicalMemory, path: str, at: int) -> Row:
    name = decode_name(row["name"])
    where = f"{os.path.basename(path)}@{at:#x}"
    addr, size = row["address"], row["size"]
    cand = Row(name or f"region{index}", row["seq_num"], addr or None, size, source=where)
    if row["valid"] != MD.REGION_VALID:
        cand.status = Status.INVALID
        cand.reason = f"valid is {row['valid']:#x} '{fourcc_text(row['valid'])}', not VALI"
    elif addr == 0 or size == 0:
        cand.status, cand.reason = Status.INVALID, "address or size is 0"
    elif addr + size > 1 << 64:
        cand.status, cand.reason = Status.INVALID, "address + size wraps past 2^64"
    else:
        extent = memory.find(addr, size)
        if extent is not None:
            cand.payload = Payload(extent.path, extent.offset + addr - extent.paddr, size)
            cand.source = f"{os.path.basename(extent.path)}@{extent.offset + addr - extent.paddr:#x}"
        elif memory.find(addr) is not None:
            start = memory.find(addr)
            cand.payload = Payload(start.path, start.offset + addr - start.paddr, start.end - addr)
            cand.status = Status.SHORT
            cand.reason = f"only {start.end - addr:#x} of {size:#x} bytes inside --memory images"
        else:
            cand.status, cand.reason = Status.MISSING, "not inside any --memory image"
    return cand


def table_rows(memory: PhysicalMemory, source: Source, *, table_addr: int | None = None,
               smem_base: int | None = None, smem_size: int | None = None,
               blob: str | None = None, progress: bool = False) -> list[Row]:
    """Locate item 602 (a bare ``blob`` file, ``table_addr``, or the SMEM heap) and read slot 0.

    Errors in the table name the RAM image and offset that hold it.
    """
    if blob is not None:
        with open(blob, "rb") as fh:
            found = FoundTable(fh.read(TOC_HEADER + SLOT * MAX_SLOTS), None, blob)
    elif table_addr is not None:
        found = table_at(memory, table_addr, source.warn)
    else:
        found = find_item_602(memory, smem_base=smem_base, smem_size=smem_size, warn=source.warn,
                              progress=progress)
    source.table_where = found.where
    if found.paddr is not None:
        table_path, table_offset = _where(memory, found.paddr)
    else:
        table_path, table_offset = blob, 0
    return read_table(found, memory, source, path=table_path, base=table_offset or 0)


def sniff(path: str) -> bool:
    return sniff_blob(path)


def read(path: str, context: Context) -> Source:
    """The Linux regions of the table: in a bare item-602 blob, or in the RAM images."""
    blob = context.kind == "smem-blob"
    if not blob and not context.memory.extents:
        from minidump.errors import UsageError
        raise UsageError("a RAM image input needs --memory FILE@PADDR")
    source = Source("bare SMEM item 602" if blob else "SMEM minidump table")
    source.rows = table_rows(context.memory, source, table_addr=context.table_addr,
                             smem_base=context.smem_base, smem_size=context.smem_size,
                             blob=path if blob else None, progress=context.progress)
    return source
