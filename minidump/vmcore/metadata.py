"""What a vmcore we write remembers about its regions: one note of our own, and sections.

The ``MINIDUMP`` note (type :data:`NT_MINIDUMP_REGIONS`) in the PT_NOTE holds, as compact
JSON, every region of the capture in its order -- meminspect ID / SMEM ``seq_num``, the
container's (firmware) name, the kernel object, addresses, size, status and reason, which
PT_LOAD holds its bytes -- and the capture's ID scheme.  Reading the vmcore back
(:mod:`minidump.sources.elfcore`) restores them, lost and duplicate regions included, so
``regions`` and ``info`` answer as they did on the source capture.

The section headers name each PT_LOAD's bytes after its object (the region's name where the
object is unknown), the way downstream kernels' minidump ELF header does, so ``readelf -S``
and other ELF tools list them; they repeat the note, never add to it.  Why both, and why
the consumers are unaffected: docs/explanation/vmcore-metadata.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from minidump.model import Kind, Region, Status

#: the note's name (its namespace: types below are ours, not Linux's NT_* values)
NOTE_NAME = b"MINIDUMP"
#: 'MREG'; far from every NT_* crash, drgn or makedumpfile look at (crash matches
#: NT_PRSTATUS by type alone, whatever the name)
NT_MINIDUMP_REGIONS = 0x4D524547
VERSION = 1
#: more sections than this need ELF's extended numbering (SHN_LORESERVE); the note still
#: records every region then, the sections are left out
MAX_SECTIONS = 0xFF00 - 2


@dataclass(frozen=True, slots=True)
class Recorded:
    """One region as the note records it; ``load`` is the index of its PT_LOAD among the
    vmcore's PT_LOADs (None: no bytes in the file)."""

    region: Region
    load: int | None


def recorded_key(region: Region) -> tuple:
    """What ties a region read back to the one recorded (statuses are resolved again)."""
    return (region.id, region.name, region.paddr, region.size)


def section_name(region: Region) -> str:
    """What ``readelf -S`` shows for a region's bytes: its object, else its name."""
    if region.object and region.object != "unknown":
        return region.object
    return region.name


def encode(regions: list[Region], loads: dict[int, int], scheme: str) -> bytes:
    """The note's descriptor: ``loads`` maps a region's index to its PT_LOAD's."""
    rows = []
    for index, region in enumerate(regions):
        rows.append({"id": region.id, "name": region.name, "object": region.object,
                     "paddr": region.paddr, "vaddr": region.vaddr, "size": region.size,
                     "status": region.status.value if region.status else None,
                     "reason": region.reason, "kind": region.kind.value,
                     "load": loads.get(index)})
    return json.dumps({"version": VERSION, "scheme": scheme, "regions": rows},
                      separators=(",", ":"), ensure_ascii=True).encode() + b"\n"


class MetadataError(ValueError):
    """The note does not say what version 1 says (another tool's, or damaged)."""


def _int(value, what: str, *, optional: bool = True) -> int | None:
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 64:
        raise MetadataError(f"{what} is not an address or size: {value!r}")
    return value


def _text(value, what: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > 4096:
        raise MetadataError(f"{what} is not a short text: {str(value)[:40]!r}")
    return value


def decode(desc: bytes, load_count: int) -> tuple[str, list[Recorded]]:
    """The scheme and the recorded regions; :class:`MetadataError` on anything unexpected."""
    try:
        doc = json.loads(desc.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MetadataError(f"not JSON ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        raise MetadataError(f"version {doc.get('version') if isinstance(doc, dict) else '?'} "
                            f"is not {VERSION}")
    scheme = _text(doc.get("scheme"), "scheme")
    rows = doc.get("regions")
    if not isinstance(rows, list):
        raise MetadataError("no region list")
    out, used = [], set()
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise MetadataError(f"region {i} is not a record")
        what = f"region {i}"
        try:
            status = Status(row["status"]) if row.get("status") is not None else None
            kind = Kind(row.get("kind", "load"))
        except ValueError as exc:
            raise MetadataError(f"{what}: {exc}") from exc
        load = _int(row.get("load"), f"{what}.load")
        if load is not None and (load >= load_count or load in used):
            raise MetadataError(f"{what}: PT_LOAD {load} is not one of the "
                                f"{load_count} or is named twice")
        if load is not None:
            used.add(load)
        region = Region(_int(row.get("id"), f"{what}.id"), _text(row.get("name"), f"{what}.name"),
                        object=_text(row.get("object"), f"{what}.object", optional=True),
                        paddr=_int(row.get("paddr"), f"{what}.paddr"),
                        vaddr=_int(row.get("vaddr"), f"{what}.vaddr"),
                        size=_int(row.get("size"), f"{what}.size", optional=False),
                        status=status, reason=_text(row.get("reason", ""), f"{what}.reason"),
                        kind=kind)
        out.append(Recorded(region, load))
    return scheme, out
