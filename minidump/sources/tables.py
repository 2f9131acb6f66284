"""Region tables that say where each blob belongs.

- the Sahara 64-bit memory-debug table (qdl ``struct sahara_debug_region64``),
- ``dump_info.txt`` (Qualcomm's partition splitter: ``1 0xADDR SIZE NAME FILE``),
- ``load.cmm`` (TRACE32: ``d.load.binary FILE 0xADDR``),

and the firmware's file-naming rule that links a table entry to ``md_*.BIN``.
"""

from __future__ import annotations

import os
import re
import struct

from minidump.errors import FormatError
from minidump.model import Row

MD_NAME_CHARS = 12  # "md_" + 12 + ".BIN" + NUL fills the 20-byte Sahara filename field
SEQ_LIMIT = 10000


def decode_name(raw: bytes) -> str:
    """A NUL-padded C name as printable ASCII; other bytes are escaped, never trusted."""
    raw = raw.split(b"\0", 1)[0]
    out = []
    for byte in raw:
        out.append(chr(byte) if 0x20 < byte < 0x7F and chr(byte) not in "/\\" else f"\\x{byte:02x}")
    return "".join(out)


def name_from_filename(filename: str) -> str:
    """``md_KELF1.BIN`` -> ``KELF1``: the prefix and a .bin suffix dropped, nothing else."""
    stem = filename[:-4] if filename.lower().endswith(".bin") else filename
    return stem[3:] if stem.lower().startswith("md_") else stem


def firmware_filename(name: str, seq: int | None) -> str:
    """The ``md_*.BIN`` name XBL writes for a region (SDM670 ``boot_minidump.c`` rule).

    "md_" + the name, kept within 15 characters; the sequence number in
    decimal when 0 < seq < 10000, still within the 15; then ".BIN".
    """
    stem = ("md_" + name)[:15]
    if seq is not None and 0 < seq < SEQ_LIMIT:
        stem = (stem + str(seq))[:15]
    return stem + ".BIN"


#: ``sahara_debug_region64`` (formats/qcom_minidump.py) pinned as a ``struct`` layout, so that
#: reading a md directory imports no construct (tests/sources/test_tables.py checks they agree)
SAHARA_FIELDS = ("type", "addr", "length", "region", "filename")
SAHARA_LAYOUT = struct.Struct("<QQQ20s20s")


def read_sahara_table(data: bytes, *, path: str) -> list[Row]:
    """Parse a raw Sahara memory-debug table (a whole number of 64-byte entries)."""
    size = SAHARA_LAYOUT.size
    if not data or len(data) % size:
        raise FormatError(f"size {len(data):#x} is not a non-zero multiple of the "
                          f"{size}-byte entry", path=path, offset=len(data) - len(data) % size,
                          field="sahara_debug_region64")
    entries = []
    for index, values in enumerate(SAHARA_LAYOUT.iter_unpack(data)):
        row = dict(zip(SAHARA_FIELDS, values))
        name = decode_name(row["region"])
        filename = decode_name(row["filename"])
        if name.lower().startswith("md_"):
            name = name[3:]
        entries.append(Row(name, paddr=row["addr"], size=row["length"], filename=filename,
                           source=f"{os.path.basename(path)}[{index}]"))
    return entries


_DUMP_INFO = re.compile(r"^\s*\d+\s+(0x[0-9a-fA-F]+)\s+(\d+)\s+(\S+)\s+(\S+)\s*$")
_LOAD_CMM = re.compile(r"^\s*d(?:ata)?\.load\.binary\s+\"?([^\s\"]+)\"?\s+(0x[0-9a-fA-F]+|[0-9]+)",
                       re.IGNORECASE)


def read_dump_info(text: str, *, path: str) -> list[Row]:
    """``dump_info.txt``: ``1 0x<16 hex> <size decimal> <name> <file>`` per line."""
    entries = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _DUMP_INFO.match(line)
        if not match:
            raise FormatError(f"line {lineno} is not '1 0xADDR SIZE NAME FILE'", path=path,
                              field="dump_info")
        addr, size, name, filename = match.groups()
        entries.append(Row(name.removeprefix("md_"), paddr=int(addr, 16), size=int(size),
                           filename=filename, source=f"{os.path.basename(path)}:{lineno}"))
    return entries


def read_load_cmm(text: str, *, path: str) -> list[Row]:
    """``load.cmm``: one ``d.load.binary FILE ADDR`` per blob (no sizes)."""
    entries = []
    for lineno, line in enumerate(text.splitlines(), 1):
        match = _LOAD_CMM.match(line)
        if match:
            filename, addr = match.groups()
            stem = filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
            entries.append(Row(name_from_filename(stem), paddr=int(addr, 0), filename=stem,
                               source=f"{os.path.basename(path)}:{lineno}"))
    return entries


def sniff_sahara_table(data: bytes) -> bool:
    """64-byte rows whose filename fields end in .BIN/.bin."""
    from minidump.formats.common import parse_at
    from minidump.formats.qcom_minidump import sahara_debug_region64
    size = sahara_debug_region64.sizeof()
    if not data or len(data) % size:
        return False
    row = parse_at(sahara_debug_region64, data, 0)
    return row.filename.split(b"\0", 1)[0].lower().endswith(b".bin")
