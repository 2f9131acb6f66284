"""The ``Raw_Dmp!`` rawdump partition image XBL writes on a crash.

A packed 56-byte header, ``sections_count`` 64-byte section headers, then the
data.  Each section is one ``md_*.BIN`` blob (``section_name``); DDR and SV
sections carry the region's physical base in ``section_info``.  SDM670 XBL
makes section offsets relative to the dump's base; newer XBL writes one dump
at offset 0, where the two readings agree.
"""

from __future__ import annotations

import os

from minidump.assemble import assemble
from minidump.errors import FormatError
from minidump.formats.common import parse_at
from minidump.formats.qcom_minidump import (RAW_DUMP_INSUFFICIENT_STORAGE, RAW_DUMP_SIGNATURE,
                                            RAW_DUMP_VALID, raw_dump_header,
                                            raw_dump_section_header)
from minidump.files import read_at
from minidump.model import Capture, Payload, Status
from minidump.sources.mddir import candidates_from_files
from minidump.sources.tables import (TableEntry, decode_name, name_from_filename, read_dump_info,
                             read_load_cmm)

HEADER = raw_dump_header.sizeof()
SECTION = raw_dump_section_header.sizeof()


def sniff(path: str) -> bool:
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as fh:
        return fh.read(8) == RAW_DUMP_SIGNATURE


def read(path: str, *, table: list[TableEntry] | None = None, vmcoreinfo=None,
         arch: str | None = None) -> Capture:
    size = os.path.getsize(path)
    capture = Capture(path, "rawdump image (Raw_Dmp!)")
    with open(path, "rb") as fh:
        head = read_at(fh, 0, HEADER, path=path, what="raw_dump_header")
        header = parse_at(raw_dump_header, head, path=path)
        count = header.sections_count
        if HEADER + count * SECTION > size:
            raise FormatError(f"{count} section headers need {HEADER + count * SECTION:#x} bytes, "
                              f"the image has {size:#x}", path=path, offset=52,
                              field="raw_dump_header.sections_count")
        if not header.validity_flag & RAW_DUMP_VALID:
            capture.warn(f"{path}: validity_flag {header.validity_flag:#x} does not mark the dump valid")
        if header.validity_flag & RAW_DUMP_INSUFFICIENT_STORAGE:
            capture.warn(f"{path}: the partition was too small for the dump "
                         f"(needs {header.total_dump_size_required:#x} bytes); regions are missing")
        dumps = header.os_data & 0xFFFF  # SDM670 XBL counts back-to-back dumps here
        if dumps > 1:
            capture.warn(f"{path}: the image holds {dumps} dumps (raw_dump_header.os_data); "
                         "only the first, at offset 0, is read")
        table_bytes = read_at(fh, HEADER, count * SECTION, path=path, what="raw_dump_section_header")
        files: dict[str, Payload] = {}
        addresses: list[TableEntry] = []
        side: list[TableEntry] = []
        seen: dict[str, int] = {}
        for index in range(count):
            at = HEADER + index * SECTION
            sec = parse_at(raw_dump_section_header, table_bytes, index * SECTION, path=path,
                           base=HEADER, what=f"raw_dump_section_header[{index}]")
            name = decode_name(sec.section_name) or f"section{index}"
            where = f"{os.path.basename(path)}: section {index}"
            if name.lower() in seen:
                # two sections, one name: keep both, each with its own bytes and address
                unique = f"{name}#{index}"
                capture.warn(f"{where}: section name {name} repeats section {seen[name.lower()]}; "
                             f"listed as {name_from_filename(unique)}")
                name = unique
            seen[name.lower()] = index
            end = sec.section_offset + sec.section_size
            if end > size or end < sec.section_offset:
                capture.warn(f"{path}: offset {at:#x} (raw_dump_section_header[{index}]): data "
                             f"{sec.section_offset:#x}+{sec.section_size:#x} runs past the image "
                             f"end {size:#x}")
                if sec.section_offset < size:
                    files[name] = Payload(path, sec.section_offset, size - sec.section_offset)
                else:
                    addresses.append(TableEntry(name_from_filename(name),
                                                sec.section_info.base_addr or None,
                                                sec.section_size, filename=name, valid=False,
                                                reason="section data outside the image",
                                                where=where))
                    continue
            else:
                files[name] = Payload(path, sec.section_offset, sec.section_size)
            if name.lower() in ("load.cmm", "dump_info.txt"):
                text = read_at(fh, sec.section_offset, min(sec.section_size, 1 << 20),
                               path=path, what=name).decode("latin-1")
                parser = read_load_cmm if name.lower() == "load.cmm" else read_dump_info
                side += parser(text, path=f"{path}:{name}")
                del files[name]
                continue
            base = sec.section_info.base_addr
            addresses.append(TableEntry(name_from_filename(name),
                                        base or None, sec.section_size, filename=name,
                                        valid=bool(sec.validity_flag & RAW_DUMP_VALID),
                                        reason="" if sec.validity_flag & RAW_DUMP_VALID else
                                        f"section validity_flag {sec.validity_flag:#x} not valid",
                                        where=where))
    rows = list(table or []) + [_with_side(row, side) for row in addresses] + side
    cands = candidates_from_files(files, rows, lambda n: f"{os.path.basename(path)}:{n}",
                                  capture.warn)
    for cand in cands:
        if cand.payload is None and cand.status is None:
            cand.status, cand.reason = Status.MISSING, "section data outside the image"
    return assemble(capture, cands, vmcoreinfo_override=vmcoreinfo, arch=arch)


def _with_side(row: TableEntry, side: list[TableEntry]) -> TableEntry:
    """Fill a missing base address from load.cmm / dump_info.txt inside the image."""
    if row.paddr is not None:
        return row
    for other in side:
        if other.filename and row.filename and other.filename.lower() == row.filename.lower():
            return TableEntry(row.name, other.paddr, row.size, row.seq, row.filename, row.valid,
                              row.reason, row.where)
    return row
