"""A directory of per-region blobs ``md_<name><seq>.BIN`` as qdl / QPST write them.

Addresses come from the kernel's ELF header blob (``md_KELF*.BIN``), from a
Sahara memory-debug table saved alongside (``--sahara-table`` or a
``*sahara*.bin`` file in the directory), or from ``dump_info.txt`` /
``load.cmm`` written by Qualcomm's splitter.
"""

from __future__ import annotations

import os
import re

from minidump.errors import FormatError, UsageError
from minidump.files import read_small
from minidump.limits import SAHARA_TABLE_MAX, SIDE_FILE_MAX
from minidump.model import Payload, Row
from minidump.sources import Context, Source
from minidump.sources.tables import (firmware_filename, name_from_filename, read_dump_info,
                                     read_load_cmm, read_sahara_table)
BLOB = re.compile(r"md_.+\.bin", re.IGNORECASE | re.DOTALL)   # any name: a newline is data too
#: a Raw_Dmp! section may carry the blob's name without ".BIN" (section_name is 20 bytes)
_SEQ = re.compile(r"md_(K.*?)(\d+)(?:\.bin)?", re.IGNORECASE | re.DOTALL)


def sniff(path: str) -> bool:
    return os.path.isdir(path) and any(BLOB.fullmatch(n) for n in os.listdir(path))


def side_tables(directory: str, sahara_table: str | None) -> list[Row]:
    """Every address table found beside the blobs, most authoritative first."""
    entries: list[Row] = []
    # found by name: only regular files (a FIFO would block); named with --sahara-table: must be
    paths = [sahara_table] if sahara_table else sorted(
        os.path.join(directory, n) for n in os.listdir(directory)
        if "sahara" in n.lower() and n.lower().endswith((".bin", ".tbl"))
        and os.path.isfile(os.path.join(directory, n)))
    for path in paths:
        entries += read_sahara_table(read_small(path, SAHARA_TABLE_MAX, "sahara_table"), path=path)
    for name, parser in (("dump_info.txt", read_dump_info), ("load.cmm", read_load_cmm)):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            entries += parser(read_small(path, SIDE_FILE_MAX, name).decode("latin-1"), path=path)
    return entries


def meminspect_naming(names: list[str]) -> bool:
    """Files named by the meminspect backend: "md_K" + name + meminspect ID, always."""
    lower = {n.lower().removesuffix(".bin") for n in names}
    return "md_kelf1" in lower or "md_kvmcorein2" in lower


def split_name(filename: str, meminspect: bool) -> tuple[str, int | None]:
    """Region name and sequence number from a blob's file name.

    Only meminspect names are split: their ID is always appended, while a
    downstream name such as KSTACK1 may end in digits of its own.
    """
    match = _SEQ.fullmatch(filename) if meminspect else None
    if match:
        return match.group(1), int(match.group(2))
    return name_from_filename(filename), None


def rows_from_files(files: dict[str, Payload], table: list[Row], source_of,
                    warn=lambda message: None) -> list[Row]:
    """Join blob files (``{filename: payload}``) with table rows by the firmware's naming rule.

    A table row's file is its explicit ``filename`` or the name the firmware
    would give it; rows without a file become candidates without a payload.
    """
    by_lower = {name.lower(): name for name in files}
    meminspect = meminspect_naming(list(files) + [r.filename for r in table if r.filename])
    out: list[Row] = []
    claimed: dict[str, Row] = {}
    for row in table:
        fname = (row.filename or firmware_filename(row.name, row.seq)).lower()
        first = claimed.get(fname)
        if first is not None:  # the same file listed twice: the first row wins
            if (first.paddr, first.size) != (row.paddr, row.size):
                warn(f"{row.source} places {fname} at PA {_hex(row.paddr)} ({_hex(row.size)} "
                     f"bytes) but {first.source} at PA {_hex(first.paddr)} ({_hex(first.size)} "
                     "bytes); the first is used")
            continue
        claimed[fname] = row
        key = by_lower.get(fname)
        name, seq = row.name, row.seq
        if seq is None and row.filename:
            name, seq = split_name(row.filename, meminspect)
        out.append(Row(name, seq, row.paddr, row.size, files[key] if key else row.payload,
                       source_of(key) if key else row.source, row.status, row.reason, key))
    for filename in sorted(files):
        if filename.lower() not in claimed:
            name, seq = split_name(filename, meminspect)
            out.append(Row(name, seq, payload=files[filename], source=source_of(filename),
                           filename=filename))
    return out


def _hex(value: int | None) -> str:
    return "?" if value is None else f"{value:#x}"


def read(path: str, context: Context) -> Source:
    """The blobs of a md_*.BIN directory as rows, addresses joined from every table found."""
    if not os.path.isdir(path):
        raise UsageError(f"{path}: not a directory")
    files: dict[str, Payload] = {}
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if BLOB.fullmatch(name) and os.path.isfile(full):
            files[name] = Payload(full, 0, os.path.getsize(full))
    if not files:
        raise FormatError("no md_*.BIN files", path=path)
    table = list(context.table_rows) + side_tables(path, context.sahara_table)
    source = Source("md_*.BIN directory")
    source.rows = rows_from_files(files, table, lambda n: n, source.warn)
    return source
