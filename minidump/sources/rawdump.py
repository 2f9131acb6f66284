"""The ``Raw_Dmp!`` rawdump partition image XBL writes on a crash.

A packed 56-byte header, ``sections_count`` 64-byte section headers, then the
data.  Each section is one ``md_*.BIN`` blob (``section_name``); DDR and SV
sections carry the region's physical base in ``section_info``.  SDM670 XBL
makes section offsets relative to the dump's base; newer XBL writes one dump
at offset 0, where the two readings agree.
"""

from __future__ import annotations

import os

from minidump.errors import FormatError
from minidump.formats.common import parse_at
from minidump.formats.qcom_minidump import (RAW_DUMP_INSUFFICIENT_STORAGE, RAW_DUMP_SIGNATURE,
                                            RAW_DUMP_VALID, raw_dump_header,
                                            raw_dump_section_header)
from minidump.files import read_at
from minidump.limits import SIDE_FILE_MAX
from minidump.model import Payload, Row, Status
from minidump.sources import Context, Source
from minidump.sources.mddir import rows_from_files
from minidump.sources.tables import (decode_name, name_from_filename, read_dump_info,
                                     read_load_cmm)

HEADER = raw_dump_header.sizeof()
SECTION = raw_dump_section_header.sizeof()


def sniff(path: str) -> bool:
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as fh:
        return fh.read(8) == RAW_DUMP_SIGNATURE


def read(path: str, context: Context) -> Source:
    """Each section of the image as a blob row, addressed by its base or a table inside."""
    size = os.path.getsize(path)
    source = Source("rawdump image (Raw_Dmp!)")
    with open(path, "rb") as fh:
        head = read_at(fh, 0, HEADER, path=path, what="raw_dump_header")
        header = parse_at(raw_dump_header, head, path=path)
        count = header.sections_count
        if HEADER + count * SECTION > size:
            raise FormatError(f"{count} section headers need {HEADER + count * SECTION:#x} bytes, "
                              f"the image has {size:#x}", path=path, offset=52,
                              field="raw_dump_header.sections_count")
        if not header.validity_flag & RAW_DUMP_VALID:
            source.warn(f"{path}: validity_flag {header.validity_flag:#x} does not mark the dump valid")
        if header.validity_flag & RAW_DUMP_INSUFFICIENT_STORAGE:
            source.warn(f"{path}: the partition was too small for the dump "
                         f"(needs {header.total_dump_size_required:#x} bytes); regions are missing")
        dumps = header.os_data & 0xFFFF  # SDM670 XBL counts back-to-back dumps here
        if dumps > 1:
            source.warn(f"{path}: the image holds {dumps} dumps (raw_dump_header.os_data); "
                         "only the first, at offset 0, is read")
        table_bytes = read_at(fh, HEADER, count * SECTION, path=path, what="raw_dump_section_header")
        files: dict[str, Payload] = {}
        addresses: list[Row] = []
        side: list[Row] = []
        seen: dict[str, int] = {}
        sections = [parse_at(raw_dump_section_header, table_bytes, index * SECTION, path=path,
                             base=HEADER, what=f"raw_dump_section_header[{index}]")
                    for index in range(count)]
        overlapping = _overlapping(sections, size)
        for index, sec in enumerate(sections):
            at = HEADER + index * SECTION
            name = decode_name(sec.section_name) or f"section{index}"
            where = f"{os.path.basename(path)}: section {index}"
            if name.lower() in seen:
                # two sections, one name: keep both, each with its own bytes and address
                unique = f"{name}#{index}"
                source.warn(f"{where}: section name {name} repeats section {seen[name.lower()]}; "
                             f"listed as {name_from_filename(unique)}")
                name = unique
            seen[name.lower()] = index
            end = sec.section_offset + sec.section_size
            if index in overlapping:
                # each section has data of its own: two starting at one offset are
                # impossible, and counting them would report the image many times over
                other = overlapping[index]
                source.warn(f"{path}: offset {at:#x} (raw_dump_section_header[{index}]): data "
                            f"{sec.section_offset:#x}+{sec.section_size:#x} overlaps section "
                            f"{other}'s; not written")
                addresses.append(Row(name_from_filename(name),
                                     paddr=sec.section_info.base_addr or None,
                                     size=sec.section_size, filename=name,
                                     status=Status.INVALID,
                                     reason=f"section data overlaps section {other}'s "
                                            "(impossible offset)", source=where))
                continue
            if end > size or end < sec.section_offset:
                source.warn(f"{path}: offset {at:#x} (raw_dump_section_header[{index}]): data "
                             f"{sec.section_offset:#x}+{sec.section_size:#x} runs past the image "
                             f"end {size:#x}")
                if sec.section_offset < size:
                    files[name] = Payload(path, sec.section_offset, size - sec.section_offset)
                else:
                    addresses.append(Row(name_from_filename(name),
                                         paddr=sec.section_info.base_addr or None,
                                         size=sec.section_size, filename=name,
                                         status=Status.INVALID,
                                         reason="section data outside the image", source=where))
                    continue
            else:
                files[name] = Payload(path, sec.section_offset, sec.section_size)
            if name.lower() in ("load.cmm", "dump_info.txt"):
                text = read_at(fh, sec.section_offset, min(sec.section_size, SIDE_FILE_MAX),
                               path=path, what=name).decode("latin-1")
                parser = read_load_cmm if name.lower() == "load.cmm" else read_dump_info
                side += parser(text, path=f"{path}:{name}")
                del files[name]
                continue
            base = sec.section_info.base_addr
            valid = bool(sec.validity_flag & RAW_DUMP_VALID)
            addresses.append(Row(name_from_filename(name), paddr=base or None,
                                 size=sec.section_size, filename=name,
                                 status=None if valid else Status.INVALID,
                                 reason="" if valid else
                                 f"section validity_flag {sec.validity_flag:#x} not valid",
                                 source=where))
    table = list(context.table_rows) + [_with_side(row, side) for row in addresses] + side
    source.rows = rows_from_files(files, table, lambda n: f"{os.path.basename(path)}:{n}",
                                   source.warn)
    for row in source.rows:
        if row.payload is None and row.status is None:
            row.status, row.reason = Status.MISSING, "section data outside the image"
    return source


def _overlapping(sections, image_size: int) -> dict[int, int]:
    """Sections that start at the same offset of the image as another (non-empty) one, each
    with the index of one it collides with: two sections cannot hold one blob's bytes, and
    neither can be told from the other, so both are refused.  A section that merely runs
    into the next one (a packed image with one size too large) is left to the payload
    check, which cuts it to its region and says so (exit 3)."""
    starts: dict[int, int] = {}
    out: dict[int, int] = {}
    for index, sec in enumerate(sections):
        if not sec.section_size or sec.section_offset + sec.section_size > image_size:
            continue
        first = starts.setdefault(sec.section_offset, index)
        if first != index:
            out[index] = first
            out.setdefault(first, index)
    return out


def _with_side(row: Row, side: list[Row]) -> Row:
    """Fill a missing base address from load.cmm / dump_info.txt inside the image."""
    if row.paddr is not None:
        return row
    for other in side:
        if other.filename and row.filename and other.filename.lower() == row.filename.lower():
            return Row(row.name, row.seq, other.paddr, row.size, row.payload, row.source,
                       row.status, row.reason, row.filename)
    return row
