"""The Sahara table's pinned ``struct`` layout agrees with the ``formats`` schema."""

from __future__ import annotations

from minidump.formats.common import struct_format
from minidump.formats.qcom_minidump import sahara_debug_region64
from minidump.sources.tables import SAHARA_FIELDS, SAHARA_LAYOUT, read_sahara_table


def test_layout_is_the_schema(samples):
    fast, fields = struct_format(sahara_debug_region64)
    assert (fast.format, fields) == (SAHARA_LAYOUT.format, SAHARA_FIELDS)
    data = (samples / "md" / "sahara_table.bin").read_bytes()
    rows = read_sahara_table(data, path="sahara_table.bin")
    for row, offset in zip(rows, range(0, len(data), SAHARA_LAYOUT.size)):
        entry = sahara_debug_region64.parse(data[offset:offset + SAHARA_LAYOUT.size])
        assert (row.paddr, row.size) == (entry.addr, entry.length)
        assert row.filename == entry.filename.rstrip(b"\0").decode()
    assert len(rows) == len(data) // 64
