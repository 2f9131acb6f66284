"""A directory of per-region blobs ``md_<name><seq>.BIN`` as qdl / QPST write them.

Addresses come from the kernel's ELF header blob (``md_KELF*.BIN``), from a
Sahara memory-debug table saved alongside (``--sahara-table`` or a
``*sahara*.bin`` file in the directory), or from ``dump_info.txt`` /
``load.cmm`` written by Qualcomm's splitter.
"""

from __future__ import annotations

import os
import re

from minidump.assemble import Candidate, assemble
from minidump.errors import FormatError, UsageError
from minidump.files import read_small
from minidump.model import Capture, Payload, Status
from minidump.sources.tables import (TableEntry, firmware_filename, name_from_filename, read_dump_info,
                             read_load_cmm, read_sahara_table)

SAHARA_TABLE_MAX = 1 << 16  # qdl refuses memory-debug tables over 64 KiB
SIDE_FILE_MAX = 1 << 20
BLOB = re.compile(r"^md_.+\.bin$", re.IGNORECASE)
_SEQ = re.compile(r"^md_(K.*?)(\d+)\.bin$", re.IGNORECASE)


def sniff(path: str) -> bool:
    return os.path.isdir(path) and any(BLOB.match(n) for n in os.listdir(path))


def side_tables(directory: str, sahara_table: str | None) -> list[TableEntry]:
    """Every address table found beside the blobs, most authoritative first."""
    entries: list[TableEntry] = []
    paths = [sahara_table] if sahara_table else sorted(
        os.path.join(directory, n) for n in os.listdir(directory)
        if "sahara" in n.lower() and n.lower().endswith((".bin", ".tbl")))
    for path in paths:
        entries += read_sahara_table(read_small(path, SAHARA_TABLE_MAX, "sahara_table"), path=path)
    for name, parser in (("dump_info.txt", read_dump_info), ("load.cmm", read_load_cmm)):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            entries += parser(read_small(path, SIDE_FILE_MAX, name).decode("latin-1"), path=path)
    return entries


def meminspect_naming(names: list[str]) -> bool:
    """Files named by the meminspect backend: "md_K" + name + meminspect ID, always."""
    lower = {n.lower() for n in names}
    return "md_kelf1.bin" in lower or "md_kvmcorein2.bin" in lower


def split_name(filename: str, meminspect: bool) -> tuple[str, int | None]:
    """Region name and sequence number from a blob's file name.

    Only meminspect names are split: their ID is always appended, while a
    downstream name such as KSTACK1 may end in digits of its own.
    """
    match = _SEQ.match(filename) if meminspect else None
    if match:
        return match.group(1), int(match.group(2))
    return name_from_filename(filename), None


def candidates_from_files(files: dict[str, Payload], table: list[TableEntry],
                          source_of, warn=lambda message: None) -> list[Candidate]:
    """Join blob files (``{filename: payload}``) with table rows by the firmware's naming rule.

    A table row's file is its explicit ``filename`` or the name the firmware
    would give it; rows without a file become candidates without a payload.
    """
    by_lower = {name.lower(): name for name in files}
    meminspect = meminspect_naming(list(files) + [r.filename for r in table if r.filename])
    out: list[Candidate] = []
    claimed: dict[str, TableEntry] = {}
    for row in table:
        fname = (row.filename or firmware_filename(row.name, row.seq)).lower()
        first = claimed.get(fname)
        if first is not None:  # the same file listed twice: the first row wins
            if (first.paddr, first.size) != (row.paddr, row.size):
                warn(f"{row.where} places {fname} at PA {_hex(row.paddr)} ({_hex(row.size)} bytes) "
                     f"but {first.where} at PA {_hex(first.paddr)} ({_hex(first.size)} bytes); "
                     "the first is used")
            continue
        claimed[fname] = row
        key = by_lower.get(fname)
        name, seq = row.name, row.seq
        if seq is None and row.filename:
            name, seq = split_name(row.filename, meminspect)
        out.append(Candidate(name, seq, row.paddr, row.size, files[key] if key else row.payload,
                             source_of(key) if key else row.where,
                             None if row.valid else Status.INVALID, row.reason, key))
    for filename in sorted(files):
        if filename.lower() not in claimed:
            name, seq = split_name(filename, meminspect)
            out.append(Candidate(name, seq, None, None, files[filename], source_of(filename),
                                 filename=filename))
    return out


def _hex(value: int | None) -> str:
    return "?" if value is None else f"{value:#x}"


def read(path: str, *, sahara_table: str | None = None, table: list[TableEntry] | None = None,
         vmcoreinfo=None, arch: str | None = None) -> Capture:
    if not os.path.isdir(path):
        raise UsageError(f"{path}: not a directory")
    files: dict[str, Payload] = {}
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if BLOB.match(name) and os.path.isfile(full):
            files[name] = Payload(full, 0, os.path.getsize(full))
    if not files:
        raise FormatError("no md_*.BIN files", path=path)
    rows = list(table or []) + side_tables(path, sahara_table)
    capture = Capture(path, "md_*.BIN directory")
    cands = candidates_from_files(files, rows, lambda n: n, capture.warn)
    return assemble(capture, cands, vmcoreinfo_override=vmcoreinfo, arch=arch)
