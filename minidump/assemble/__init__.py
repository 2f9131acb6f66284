"""Join region payloads, region tables and the kernel's ELF header into a Capture.

Every container reader (md_*.BIN directory, rawdump image, SMEM table in RAM)
reduces its input to :class:`Candidate` rows -- a name, a sequence number or
meminspect ID, a physical address and size where the container knows them,
and where the bytes are -- and hands them to :func:`assemble`.

Matching never trusts names alone (meminspect v3 names collide and mislabel,
meminspect.md section 8.4): with a KELF header, payloads are placed on its
PT_LOADs by physical address and length; without addresses, by an
order-preserving alignment of lengths against meminspect ID order, which the
kernel's phdr order follows for everything registered before late_initcall
(meminspect.md section 6.7).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from minidump.errors import MinidumpError
from minidump.elf.kelf import Kelf, parse_kelf
from minidump.elf.core import is_elf_core
from minidump.model import Capture, Payload, Region, Status
from minidump.sources.tables import firmware_filename
from minidump.kernel.vmcoreinfo import Translator, VmcoreInfo

KELF_NAMES = ("KELF", "KELF_HEADER", "KELF_HDR")
#: meminspect v3 static IDs (``.inspect_table``); everything else is dynamic
STATIC_IDS = range(4, 44)
#: alignment table cells; real tables have at most 201 x 201 (meminspect: 200 IDs)
ALIGN_CELLS_MAX = 1 << 20
MAX_VMCOREINFO = 1 << 16  # VMCOREINFO_BYTES is one page
#: the kernel's header region: 201 phdrs + notes (meminspect ~16 KiB, downstream ~28 KiB)
MAX_KELF = 1 << 20


@dataclass(slots=True)
class Candidate:
    """A region as one container describes it, before joining."""

    name: str
    seq: int | None
    paddr: int | None
    size: int | None
    payload: Payload | None
    source: str
    status: Status | None = None
    reason: str = ""
    filename: str | None = None  # the blob's file name, where it came from a file
    used: bool = False


def read_payload(payload: Payload, size: int | None = None) -> bytes:
    """The first ``size`` bytes of a payload (all of it by default)."""
    length = payload.length if size is None else min(size, payload.length)
    with open(payload.path, "rb") as fh:
        fh.seek(payload.offset)
        return fh.read(length)


def _is_kelf(cand: Candidate) -> bool:
    base = re.sub(r"\d+$", "", cand.name).upper()
    return base in KELF_NAMES or cand.seq == 1 and base.startswith("KELF")


def _meminspect_id(cand: Candidate) -> int | None:
    return cand.seq if cand.seq and cand.seq > 0 else None


def assemble(capture: Capture, candidates: list[Candidate], *,
             vmcoreinfo_override: VmcoreInfo | None = None, arch: str | None = None) -> Capture:
    """Fill ``capture.regions``, ``.vmcoreinfo``, ``.notes`` and ``.arch``."""
    kelf_cand = next((c for c in candidates if _is_kelf(c)), None)
    kelf: Kelf | None = None
    if kelf_cand is not None:
        kelf_cand.used = True
        kelf = _load_kelf(capture, kelf_cand)
    capture.scheme = _scheme(kelf, candidates)

    vmci_cand = _find_vmcoreinfo(candidates, kelf)
    info = vmcoreinfo_override
    if vmci_cand is not None:
        vmci_cand.used = True
        raw = read_payload(vmci_cand.payload, MAX_VMCOREINFO) if vmci_cand.payload else b""
        if kelf and kelf.vmcoreinfo_descsz is not None:
            raw = raw[:kelf.vmcoreinfo_descsz]
        raw = raw.rstrip(b"\0")
        capture.regions.append(Region(vmci_cand.name, vmci_cand.size or len(raw), vmci_cand.paddr,
                                      None, vmci_cand.seq, vmci_cand.source, vmci_cand.payload,
                                      vmci_cand.status, vmci_cand.reason, kind="vmcoreinfo"))
        if info is None and raw:
            try:
                info = VmcoreInfo(raw, path=vmci_cand.source)
            except MinidumpError as exc:
                capture.warn(f"VMCOREINFO region unusable: {exc}")
    if info is not None:
        capture.vmcoreinfo = info.raw.rstrip(b"\0")
        capture.vmcoreinfo_source = info.path or (vmci_cand.source if vmci_cand else "")
    elif kelf is not None and kelf.vmcoreinfo_descsz is not None:
        capture.warn("the ELF header declares a VMCOREINFO note but its region (ID 2) was not "
                     "captured; give --vmcoreinfo FILE")

    if kelf is not None:
        capture.arch = kelf.arch
        capture.notes.extend(kelf.notes)
    arch_name = arch or (capture.arch.name if capture.arch else None) or (
        info.guess_arch() if info else None)
    translator = Translator(arch_name, info) if info and arch_name else None

    rest = [c for c in candidates if not c.used]
    if kelf is not None:
        _place_on_kelf(capture, kelf, kelf_cand, rest)
    meminspect = capture.scheme == "meminspect"
    foreign = []
    for cand in rest:
        if cand.used:
            continue
        if _foreign(cand, capture.scheme, kelf):
            foreign.append(cand.source or cand.name)
            continue
        capture.regions.append(_free_region(cand, translator, meminspect))
    if foreign:
        listed = ", ".join(foreign[:8]) + (f", and {len(foreign) - 8} more" if len(foreign) > 8
                                          else "")
        capture.warn(f"{len(foreign)} blobs are not Linux regions (other subsystems or firmware "
                     f"data) and are not written: {listed}")
    # the header and VMCOREINFO regions are memory too: give them their linear-map alias
    if translator is not None:
        capture.regions = [r.with_(vaddr=translator.linear_va(r.paddr))
                           if r.kind != "load" and r.vaddr is None and r.paddr is not None else r
                           for r in capture.regions]
    return capture


def _scheme(kelf: Kelf | None, candidates: list[Candidate]) -> str:
    """meminspect (seq_num is the meminspect ID) or downstream msm_minidump naming."""
    if kelf is not None:
        return kelf.variant
    names = {re.sub(r"\d+$", "", c.name).upper() for c in candidates}
    if names & {"KELF_HEADER", "KELF_HDR"}:
        return "downstream"
    if any(c.seq == 1 and c.name.upper().startswith("KELF") for c in candidates) or any(
            c.seq == 2 and c.name.lower().startswith("kvmcore") for c in candidates):
        return "meminspect"
    return "unknown"


def _load_kelf(capture: Capture, cand: Candidate) -> Kelf | None:
    capture.regions.append(Region(cand.name, cand.size or (cand.payload.length if cand.payload else 0),
                                  cand.paddr, None, cand.seq, cand.source, cand.payload,
                                  cand.status, cand.reason, kind="elf"))
    if cand.payload is None or cand.status is not None:
        return None
    data = read_payload(cand.payload, MAX_KELF)
    if not is_elf_core(data):
        capture.regions[-1] = capture.regions[-1].with_(
            status=Status.ENCRYPTED if data[:4] != b"\x7fELF" else Status.INVALID,
            reason="does not start with an ELF core header (encrypted?)")
        capture.warn(f"{cand.source}: the kernel ELF header region is not an ELF core; "
                     "addresses come from the region table only")
        return None
    kelf = parse_kelf(data, path=cand.source)
    return kelf


def _find_vmcoreinfo(candidates: list[Candidate], kelf: Kelf | None) -> Candidate | None:
    ordered = sorted((c for c in candidates if not c.used and c.payload is not None),
                     key=lambda c: (c.seq != 2, not c.name.lower().startswith("kvmcore")))
    for cand in ordered:
        if cand.payload.length > MAX_VMCOREINFO:
            continue
        if VmcoreInfo.looks_like(read_payload(cand.payload, 64)):
            return cand
    return next((c for c in candidates if not c.used and c.seq == 2
                 and c.name.lower().startswith("kvmcore")), None)


def _region_for(load, cand: Candidate | None, index: int) -> Region:
    """A PT_LOAD of the kernel's header joined to the payload placed on it."""
    if cand is None:
        return Region(load.name or f"PT_LOAD[{index}]", load.filesz, load.paddr, load.vaddr,
                      None, "", None, Status.MISSING,
                      f"no payload captured for PT_LOAD[{index}] at PA {load.paddr:#x}")
    return Region(cand.name, load.filesz, load.paddr, load.vaddr, cand.seq, cand.source,
                  _trimmed(cand.payload, load.filesz), cand.status, cand.reason)


def _trimmed(payload: Payload | None, size: int) -> Payload | None:
    """A blob padded past the region (ALIGN(size, 4), partition slack) cut to the region.

    Missing and short payloads are judged by the planner (:func:`minidump.vmcore.plan.resolve`).
    """
    if payload is not None and payload.length > size:
        return Payload(payload.path, payload.offset, size)
    return payload


def _place_on_kelf(capture: Capture, kelf: Kelf, kelf_cand: Candidate,
                   rest: list[Candidate]) -> None:
    loads = list(kelf.loads)
    placed: dict[int, Candidate] = {}
    # 1. the downstream banner copy lives inside the header region itself
    for i, load in enumerate(loads):
        if load.offset + load.filesz <= (kelf_cand.payload.length if kelf_cand.payload else 0) \
                and load.offset < kelf.header_size:
            placed[i] = Candidate(load.name or "linux_banner", None, load.paddr, load.filesz,
                                  Payload(kelf_cand.payload.path,
                                          kelf_cand.payload.offset + load.offset, load.filesz),
                                  kelf_cand.source)
    # 2. by physical address and length where the container knows addresses
    by_pa: dict[int, list[Candidate]] = {}
    for cand in rest:
        if cand.paddr is not None:
            by_pa.setdefault(cand.paddr, []).append(cand)
    for i, load in enumerate(loads):
        if i in placed:
            continue
        for cand in by_pa.get(load.paddr, ()):
            if not cand.used and (cand.size is None or cand.size in (load.filesz, load.memsz)
                                  or _align4(cand.size) == load.filesz):
                placed[i] = cand
                cand.used = True
                break
    # 3. downstream: by section name; the k-th region of a name has seq_num k and the
    #    firmware names its blob md_<name><k>.BIN
    if kelf.variant == "downstream":
        by_file = {c.filename.lower(): c for c in rest if c.filename and not c.used}
        seen: dict[str, int] = {}
        for i, load in enumerate(loads):
            if not load.name:
                continue
            seq = seen.get(load.name, -1) + 1
            seen[load.name] = seq
            cand = by_file.get(firmware_filename(load.name, seq).lower())
            if i in placed or cand is None or cand.used or cand.paddr is not None:
                continue
            cand.name, cand.seq = load.name, seq
            placed[i] = cand
            cand.used = True
    # 4. no address match: align lengths against meminspect ID order
    loose = [c for c in rest if not c.used and (c.payload is not None or c.paddr is not None)]
    open_loads = [i for i in range(len(loads)) if i not in placed]
    if loose and open_loads:
        if len(loose) * len(open_loads) > ALIGN_CELLS_MAX:
            capture.warn(f"{len(loose)} payloads and {len(open_loads)} PT_LOADs without addresses "
                         "are too many to align by order; matched by unique length only")
        for i, cand in _align_by_length(loads, open_loads, loose):
            if cand.paddr is not None and cand.paddr != loads[i].paddr:
                # the region table and the kernel's header disagree: trust neither
                cand.status = Status.INVALID
                cand.reason = (f"region table says PA {cand.paddr:#x}, the ELF header "
                               f"PA {loads[i].paddr:#x}")
            placed[i] = cand
            cand.used = True
    for i, load in enumerate(loads):
        capture.regions.append(_region_for(load, placed.get(i), load.index))


def _align4(n: int) -> int:
    return (n + 3) & ~3


def _blob_len(cand: Candidate) -> int:
    return cand.size if cand.size is not None else cand.payload.length


def _align_by_length(loads, open_loads: list[int], loose: list[Candidate]):
    """Order-preserving match of PT_LOADs to payloads sorted by ID, equal lengths only.

    A longest-common-subsequence over lengths keeps the kernel's ID order;
    what remains (late registrations sit at the end of the phdr table) is
    matched by a length no other leftover shares.
    """
    ordered = sorted(loose, key=lambda c: (_meminspect_id(c) is None, _meminspect_id(c) or 0,
                                           c.source))
    a = [loads[i].filesz for i in open_loads]
    b = [_align4(_blob_len(c)) for c in ordered]
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
    by_size: dict[int, list[Candidate]] = {}
    for cand in ordered:
        if id(cand) not in taken:
            by_size.setdefault(_align4(_blob_len(cand)), []).append(cand)
    for k in left_loads:
        size = loads[k].filesz
        if load_sizes[size] == 1 and len(by_size.get(size, ())) == 1:
            pairs.append((k, by_size[size].pop()))
    return pairs


def _foreign(cand: Candidate, scheme: str, kelf: Kelf | None) -> bool:
    """A blob another subsystem or the firmware dumped next to the Linux regions.

    meminspect names every Linux region "K..."; a downstream KELF header lists
    every Linux region, so an address-less blob it does not name is not one.
    """
    if scheme == "meminspect":
        return not cand.name.startswith("K")
    if kelf is not None and kelf.variant == "downstream":
        return cand.paddr is None or cand.name.upper().startswith("MD_")
    return cand.name.upper().startswith("MD_")


def _free_region(cand: Candidate, translator: Translator | None, meminspect: bool) -> Region:
    """A region no KELF PT_LOAD describes: address from its table, VA derived."""
    size = cand.size if cand.size is not None else (cand.payload.length if cand.payload else 0)
    vaddr = None
    if cand.paddr is not None and translator is not None:
        ident = _meminspect_id(cand)
        if meminspect and ident in STATIC_IDS:
            vaddr = translator.image_va(cand.paddr)
        else:
            vaddr = translator.linear_va(cand.paddr)
    return Region(cand.name, size, cand.paddr, vaddr, cand.seq, cand.source,
                  _trimmed(cand.payload, size), cand.status, cand.reason)
