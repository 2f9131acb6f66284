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
from minidump.model import Capture, Payload, Status
from minidump.tables import (TableEntry, firmware_filename, name_from_filename, read_dump_info,
                             read_load_cmm, read_sahara_table)

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
        with open(path, "rb") as fh:
            entries += read_sahara_table(fh.read(), path=path)
    for name, parser in (("dump_info.txt", read_dump_info), ("load.cmm", read_load_cmm)):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            with open(path, encoding="latin-1") as fh:
                entries += parser(fh.read(), path=path)
    return entries


def candidates_from_files(files: dict[str, Payload], table: list[TableEntry],
                          source_of) -> list[Candidate]:
    """Join blob files (``{filename: payload}``) with table rows by the firmware's naming rule.

    A table row's file is its explicit ``filename`` or the name the firmware
    would give it; rows without a file become candidates without a payload.
    """
    by_lower = {name.lower(): name for name in files}
    out: list[Candidate] = []
    claimed: set[str] = set()
    for row in table:
        fname = row.filename or firmware_filename(row.name, row.seq)
        key = by_lower.get(fname.lower())
        if key is not None and key in claimed:
            continue  # the same file listed by two tables: first wins
        payload = files[key] if key else None
        if key:
            claimed.add(key)
        seq = row.seq
        if seq is None and key:
            match = _SEQ.match(key)
            seq = int(match.group(2)) if match else None
        out.append(Candidate(row.name, seq, row.paddr, row.size, payload,
                             source_of(key) if key else row.where,
                             None if row.valid else Status.INVALID, row.reason))
    for name in sorted(files):
        if name in claimed:
            continue
        match = _SEQ.match(name)
        if match:  # meminspect: "md_K<name><ID>.BIN"
            region, seq = match.group(1), int(match.group(2))
        else:
            region, seq = name_from_filename(name), None
        out.append(Candidate(region, seq, None, None, files[name], source_of(name)))
    return out


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
    cands = candidates_from_files(files, rows, lambda n: n)
    return assemble(capture, cands, vmcoreinfo_override=vmcoreinfo, arch=arch)
