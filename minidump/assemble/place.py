"""Placing payloads on the PT_LOADs of the kernel's ELF header region (KELF).

Matching never trusts names alone (meminspect v3 names collide and mislabel,
meminspect.md section 8.4): payloads are placed by physical address and
length where the container knows addresses; downstream blobs by the
firmware's name for the k-th section of a name; what is left by an
order-preserving alignment of lengths against meminspect ID order, which the
kernel's phdr order follows for everything registered before late_initcall
(meminspect.md section 6.7).
"""

from __future__ import annotations

from collections import Counter

from minidump.assemble import meminspect_id, trimmed
from minidump.elf.kelf import Kelf
from minidump.model import Payload, Region, Row, Status
from minidump.sources.tables import firmware_filename

#: alignment table cells; real tables have at most 201 x 201 (meminspect: 200 IDs)
ALIGN_CELLS_MAX = 1 << 20


def _align4(n: int) -> int:
    return (n + 3) & ~3


def place_on_kelf(kelf: Kelf, kelf_row: Row, rest: list[Row], used: set[int],
                  warn) -> list[Region]:
    """One region per PT_LOAD of the header, each joined to the row placed on it.

    ``used`` holds ``id()`` of rows already taken; rows placed here are added.
    """
    loads = list(kelf.loads)
    placed: dict[int, Row] = {}
    # 1. the downstream banner copy lives inside the header region itself
    header_payload = kelf_row.payload
    for i, load in enumerate(loads):
        if load.offset + load.filesz <= (header_payload.length if header_payload else 0) \
                and load.offset < kelf.header_size:
            placed[i] = Row(load.name or "linux_banner", paddr=load.paddr, size=load.filesz,
                            payload=Payload(header_payload.path,
                                            header_payload.offset + load.offset, load.filesz),
                            source=kelf_row.source)
    # 2. by physical address and length where the container knows addresses
    by_pa: dict[int, list[Row]] = {}
    for row in rest:
        if row.paddr is not None:
            by_pa.setdefault(row.paddr, []).append(row)
    for i, load in enumerate(loads):
        if i in placed:
            continue
        for row in by_pa.get(load.paddr, ()):
            if id(row) not in used and (row.size is None or row.size in (load.filesz, load.memsz)
                                        or _align4(row.size) == load.filesz):
                placed[i] = row
                used.add(id(row))
                break
    #    a container that states only the blob's length (a Raw_Dmp! section_size) for a
    #    longer blob at a PT_LOAD's address: the blob is this region's, cut to it and said
    for i, load in enumerate(loads):
        if i in placed:
            continue
        for row in by_pa.get(load.paddr, ()):
            if id(row) not in used and row.size is not None and row.size > load.filesz:
                placed[i] = row
                used.add(id(row))
                break
    # 3. downstream: by section name; the k-th region of a name has seq_num k and the
    #    firmware names its blob md_<name><k>.BIN
    if kelf.variant == "downstream":
        by_file = {r.filename.lower(): r for r in rest if r.filename and id(r) not in used}
        seen: dict[str, int] = {}
        for i, load in enumerate(loads):
            if not load.name:
                continue
            seq = seen.get(load.name, -1) + 1
            seen[load.name] = seq
            row = by_file.get(firmware_filename(load.name, seq).lower())
            if i in placed or row is None or id(row) in used or row.paddr is not None:
                continue
            row.name, row.seq = load.name, seq
            placed[i] = row
            used.add(id(row))
    # 4. no address match: align lengths against meminspect ID order
    loose = [r for r in rest if id(r) not in used and (r.payload is not None
                                                       or r.paddr is not None)]
    open_loads = [i for i in range(len(loads)) if i not in placed]
    if loose and open_loads:
        if len(loose) * len(open_loads) > ALIGN_CELLS_MAX:
            warn(f"{len(loose)} payloads and {len(open_loads)} PT_LOADs without addresses "
                 "are too many to align by order; matched by unique length only")
        for i, row in _align_by_length(loads, open_loads, loose):
            if row.paddr is not None and row.paddr != loads[i].paddr:
                # the region table and the kernel's header disagree: trust neither
                row.status = Status.INVALID
                row.reason = (f"region table says PA {row.paddr:#x}, the ELF header "
                              f"PA {loads[i].paddr:#x}")
            placed[i] = row
            used.add(id(row))
    return [_region_for(load, placed.get(i)) for i, load in enumerate(loads)]


def _region_for(load, row: Row | None) -> Region:
    """A PT_LOAD of the kernel's header joined to the payload placed on it."""
    if row is None:
        return Region(None, load.name or f"PT_LOAD[{load.index}]", paddr=load.paddr,
                      vaddr=load.vaddr, size=load.filesz, status=Status.MISSING,
                      reason=f"no payload captured for PT_LOAD[{load.index}] at PA "
                             f"{load.paddr:#x}")
    payload, reason = trimmed(row.payload, load.filesz, row.reason)
    return Region(row.seq, row.name, paddr=load.paddr, vaddr=load.vaddr, size=load.filesz,
                  source=row.source, payload=payload, status=row.status, reason=reason)


def _blob_len(row: Row) -> int:
    return row.size if row.size is not None else row.payload.length


def _align_by_length(loads, open_loads: list[int], loose: list[Row]) -> list[tuple[int, Row]]:
    """Order-preserving match of PT_LOADs to payloads sorted by ID, equal lengths only.

    A longest-common-subsequence over lengths keeps the kernel's ID order;
    what remains (late registrations sit at the end of the phdr table) is
    matched by a length no other leftover shares.
    """
    ordered = sorted(loose, key=lambda r: (meminspect_id(r) is None, meminspect_id(r) or 0,
                                           r.source))
    a = [loads[i].filesz for i in open_loads]
    b = [_align4(_blob_len(r)) for r in ordered]
    n, m = len(a), len(b)
    if n * m > ALIGN_CELLS_MAX:  # no real table is this big: keep memory O(input)
        n = m = 0
    dp = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        row, below = dp[i], dp[i + 1]
        for j in range(m - 1, -1, -1):
            row[j] = below[j + 1] + 1 if a[i] == b[j] else max(below[j], row[j + 1])
    pairs, i, j = [], 0, 0
    # prefer skipping payloads (late registrations) over skipping loads: phdrs registered
    # at late_initcall are a prefix in ID order
    while i < n and j < m:
        if a[i] == b[j] and dp[i][j] == dp[i + 1][j + 1] + 1:
            pairs.append((open_loads[i], ordered[j]))
            i, j = i + 1, j + 1
        elif dp[i][j + 1] >= dp[i + 1][j]:
            j += 1
        else:
            i += 1
    taken_loads = {p[0] for p in pairs}
    taken = {id(p[1]) for p in pairs}
    left_loads = [k for k in open_loads if k not in taken_loads]
    load_sizes = Counter(loads[k].filesz for k in left_loads)
    by_size: dict[int, list[Row]] = {}
    for row in ordered:
        if id(row) not in taken:
            by_size.setdefault(_align4(_blob_len(row)), []).append(row)
    for k in left_loads:
        size = loads[k].filesz
        if load_sizes[size] == 1 and len(by_size.get(size, ())) == 1:
            pairs.append((k, by_size[size].pop()))
    return pairs
