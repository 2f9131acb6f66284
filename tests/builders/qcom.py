"""Qualcomm containers built with our schemas: SMEM item 602 and its regions, Sahara
table rows, Raw_Dmp! images.  Keyword arguments set what a hostile capture would."""

from __future__ import annotations

from minidump.formats import qcom_minidump as qm

VALI = qm.MD.REGION_VALID


def region(name: bytes, seq: int, address: int, size: int, valid: int = VALI) -> bytes:
    return qm.minidump_region.build(dict(name=name.ljust(16, b"\0")[:16], seq_num=seq,
                                         valid=valid, address=address, size=size))


def item602(region_count: int, regions_baseptr: int, *, slots: int = 10) -> bytes:
    """Item 602 with the APSS slot (0) pointing at ``region_count`` regions."""
    head = qm.minidump_global_toc_header.build(dict(status=1, md_revision=qm.MD_REVISION,
                                                    enabled=qm.MD.SS_ENABLED))
    slot0 = qm.minidump_subsystem.build(dict(
        status=1, enabled=qm.MD.SS_ENABLED, encryption_status=0, encryption_required=0,
        region_count=region_count, regions_baseptr=regions_baseptr))
    return head + slot0 + bytes(32 * (slots - 1))


def sahara_row(name: bytes, addr: int, length: int, filename: bytes | None = None) -> bytes:
    return qm.sahara_debug_region64.build(dict(
        type=0, addr=addr, length=length, region=name.ljust(20, b"\0")[:20],
        filename=(filename if filename is not None else name + b".BIN").ljust(20, b"\0")[:20]))


def rawdump(sections: list[tuple[str, bytes, int]], *, count: int | None = None) -> bytes:
    header_size = qm.raw_dump_header.sizeof() + qm.raw_dump_section_header.sizeof() * len(sections)
    data, offset, heads = b"", header_size, b""
    for name, payload, base in sections:
        heads += qm.raw_dump_section_header.build(dict(
            validity_flag=1, section_version=0x1000, section_type=qm.RAW_DUMP_SECTION.SV,
            section_offset=offset, section_size=len(payload),
            section_info=dict(base_addr=base, reserved=bytes(8)),
            section_name=name.encode().ljust(20, b"\0")))
        data += payload
        offset += len(payload)
    head = qm.raw_dump_header.build(dict(
        version=0x1000, validity_flag=1, os_data=0, cpu_context=bytes(8), reset_trigger=0,
        dump_size=offset, total_dump_size_required=offset,
        sections_count=len(sections) if count is None else count))
    return head + heads + data
