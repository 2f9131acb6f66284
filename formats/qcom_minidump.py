"""Qualcomm minidump layouts: the SMEM item-602 table, the SMEM heap that holds
it, the Sahara memory-debug table and the ``Raw_Dmp!`` rawdump partition.

Sources:
- ``drivers/remoteproc/qcom_common.c`` / ``include/linux/soc/qcom/minidump.h``
  (meminspect v3 22/26): ``minidump_global_toc``, ``minidump_subsystem``,
  ``minidump_region`` -- little-endian, natural alignment, not packed.
- ``drivers/soc/qcom/smem.c``: ``smem_header``, ``smem_ptable``,
  ``smem_ptable_entry``, ``smem_info``, ``smem_partition_header``,
  ``smem_private_entry``.
- qdl ``src/sahara.c``: the 64-bit memory-debug table entry.
- SDM670 XBL ``boot_raw_partition_ramdump.h``: the rawdump header (packed).
"""

from __future__ import annotations

import enum

import construct as cs

u16, u32, u64 = cs.Int16ul, cs.Int32ul, cs.Int64ul


def fourcc(chars: str) -> int:
    """The u32 the firmware builds from four characters, first char in the top byte."""
    value = 0
    for ch in chars.rjust(4, "\0"):
        value = (value << 8) | ord(ch)
    return value


class MD(enum.IntEnum):
    """Magic words of the minidump table (stored LE, so the bytes read backwards)."""

    REGION_VALID = 0x56414C49    # 'VALI'; on disk "ILAV"  (MINIDUMP_REGION_VALID)
    REGION_INVALID = 0x494E5641  # 'INVA'
    REGION_INIT = 0x494E4954     # 'INIT'
    REGION_NOINIT = 0
    SS_ENABLED = 0x454E424C      # 'ENBL'  (MINIDUMP_SS_ENABLED)
    SS_DISABLED = 0x4453424C     # 'DSBL'
    SS_ENCR_DONE = 0x444F4E45    # 'DONE'  (MINIDUMP_SS_ENCR_DONE)
    SS_ENCR_NONE = 0x4E4F4E45    # 'NONE'  downstream Linux <= 5.4
    SS_ENCR_START = 0x53545254   # 'STRT'  XBL MD_SS_ENCR_START / MD_SS_ENCR_NOT_DONE
    SS_ENCR_REQ = 0x00594553     # 'YES'
    SS_ENCR_NOTREQ = 0x00004E52  # 'NR'    (MINIDUMP_SS_ENCR_NOTREQ)
    SS_TOC_MAGIC = 0x00544F43    # 'TOC'   newer XBL slot magic
    SS_TOC_MAGIC_SDM670 = 0xDEEDDEED  # SDM670 subsystem header / AOP
    SS_TOC_MAGIC_SHRM = 0xDEEDBEEF
    SS_TOC_INIT = 1              # what Linux writes to subsystem.status


#: SBL_MINIDUMP_SMEM_ID (qcom_common.c) / MINIDUMP_SMEM_ID (XBL)
SBL_MINIDUMP_SMEM_ID = 602
MD_REVISION = 1
#: MAX_NUM_OF_SS in upstream and SDM670 XBL; newer firmware has more slots
MAX_NUM_OF_SS = 10
#: subsystem slot used by Linux on the application processor
MINIDUMP_SUBSYSTEM_APSS = 0
MAX_REGION_NAME_LENGTH = 16

# drivers/remoteproc/qcom_common.c: struct minidump_region; C sizeof == 40
minidump_region = "minidump_region" / cs.Struct(
    "name" / cs.Bytes(MAX_REGION_NAME_LENGTH),  # NUL-padded, not always terminated
    "seq_num" / u32,
    "valid" / u32,
    "address" / u64,  # physical
    "size" / u64,
)

# drivers/remoteproc/qcom_common.c: struct minidump_subsystem (not __packed); C sizeof == 32
minidump_subsystem = "minidump_subsystem" / cs.Struct(
    "status" / u32,
    "enabled" / u32,
    "encryption_status" / u32,
    "encryption_required" / u32,
    "region_count" / u32,
    cs.Padding(4),  # implicit: regions_baseptr is 8-byte aligned
    "regions_baseptr" / u64,  # physical address of the minidump_region array
)

# drivers/remoteproc/qcom_common.c: struct minidump_global_toc header; C offsetof(subsystems) == 16
minidump_global_toc_header = "minidump_global_toc" / cs.Struct(
    "status" / u32,
    "md_revision" / u32,
    "enabled" / u32,
    cs.Padding(4),  # implicit: subsystems[] holds u64s, so it starts at 16, not 12
)


def minidump_global_toc(slots: int = MAX_NUM_OF_SS) -> cs.Construct:
    """The whole item-602 table with ``slots`` subsystem slots (10 upstream, up to 29 seen)."""
    return "minidump_global_toc" / cs.Struct(
        "status" / u32,
        "md_revision" / u32,
        "enabled" / u32,
        cs.Padding(4),
        "subsystems" / cs.Array(slots, minidump_subsystem),
    )


# ---------------------------------------------------------------------------
# SMEM (drivers/soc/qcom/smem.c)

SMEM_ITEM_COUNT = 512
SMEM_MASTER_SBL_VERSION_INDEX = 7
SMEM_GLOBAL_HEAP_VERSION = 11
SMEM_GLOBAL_PART_VERSION = 12
SMEM_GLOBAL_HOST = 0xFFFE
SMEM_TOC_SIZE = 0x1000  # the partition table lives in the last 4 KiB of SMEM
SMEM_PTABLE_MAGIC = b"$TOC"   # 0x434f5424
SMEM_PART_MAGIC = b"$PRT"     # 0x54525024
SMEM_INFO_MAGIC = b"SIII"     # 0x49494953
SMEM_PRIVATE_CANARY = 0xA5A5
SMEM_PTABLE_MAX_ENTRIES = 84  # what fits in the 4 KiB table page

# struct smem_header: proc_comm[4], version[32], heap info; C offsetof(toc) == 208
smem_header = "smem_header" / cs.Struct(
    "proc_comm" / cs.Array(16, u32),
    "version" / cs.Array(32, u32),
    "initialized" / u32,
    "free_offset" / u32,
    "available" / u32,
    "reserved" / u32,
)

# struct smem_ptable header; sizeof 32 (entries follow)
smem_ptable = "smem_ptable" / cs.Struct(
    "magic" / cs.Bytes(4),
    "version" / u32,
    "num_entries" / u32,
    "reserved" / cs.Array(5, u32),
)

# struct smem_ptable_entry; sizeof 48
smem_ptable_entry = "smem_ptable_entry" / cs.Struct(
    "offset" / u32,
    "size" / u32,
    "flags" / u32,
    "host0" / u16,
    "host1" / u16,
    "cacheline" / u32,
    "reserved" / cs.Array(7, u32),
)

# struct smem_info; sizeof 20 (Linux reads base_addr as u32 + reserved u32)
smem_info = "smem_info" / cs.Struct(
    "magic" / cs.Bytes(4),
    "size" / u32,
    "base_addr" / u64,
    "num_items" / u16,
    "reserved" / u16,
)

# struct smem_partition_header; sizeof 32
smem_partition_header = "smem_partition_header" / cs.Struct(
    "magic" / cs.Bytes(4),
    "host0" / u16,
    "host1" / u16,
    "size" / u32,
    "offset_free_uncached" / u32,
    "offset_free_cached" / u32,
    "reserved" / cs.Array(3, u32),
)

# struct smem_private_entry; sizeof 16
smem_private_entry = "smem_private_entry" / cs.Struct(
    "canary" / u16,
    "item" / u16,
    "size" / u32,
    "padding_data" / u16,
    "padding_hdr" / u16,
    "reserved" / u32,
)

# ---------------------------------------------------------------------------
# Sahara memory debug (qdl src/sahara.c: struct sahara_debug_region64); sizeof 64

SAHARA_REGION_NAME = 20
sahara_debug_region64 = "sahara_debug_region64" / cs.Struct(
    "type" / u64,  # save preference; meaning of the bits is not public
    "addr" / u64,  # physical base
    "length" / u64,
    "region" / cs.Bytes(SAHARA_REGION_NAME),    # description, e.g. "md_KELF1"
    "filename" / cs.Bytes(SAHARA_REGION_NAME),  # e.g. "md_KELF1.BIN"
)

# ---------------------------------------------------------------------------
# rawdump partition (SDM670 XBL boot_raw_partition_ramdump.h; packed)

RAW_DUMP_SIGNATURE = b"Raw_Dmp!"  # LE u64 0x21706D445F776152
RAW_DUMP_VERSION = 0x1000
RAW_DUMP_VALID = 0x1
RAW_DUMP_INSUFFICIENT_STORAGE = 0x2


class RAW_DUMP_SECTION(enum.IntEnum):
    RESERVED = 0
    DDR = 1
    CPU_CONTEXT = 2
    SV = 3  # silicon-vendor data


# struct raw_dump_header (packed); sizeof 56
raw_dump_header = "raw_dump_header" / cs.Struct(
    "signature" / cs.Const(RAW_DUMP_SIGNATURE),
    "version" / u32,
    "validity_flag" / u32,
    "os_data" / u64,
    "cpu_context" / cs.Bytes(8),
    "reset_trigger" / u32,
    "dump_size" / u64,
    "total_dump_size_required" / u64,
    "sections_count" / u32,
)

RAW_DUMP_SECTION_NAME = 20
# struct raw_dump_section_header (packed); sizeof 64
raw_dump_section_header = "raw_dump_section_header" / cs.Struct(
    "validity_flag" / u32,
    "section_version" / u32,
    "section_type" / u32,
    "section_offset" / u64,
    "section_size" / u64,
    "section_info" / cs.Struct(  # union; DDR/SV: base address in the first u64
        "base_addr" / u64,
        "reserved" / cs.Bytes(8),
    ),
    "section_name" / cs.Bytes(RAW_DUMP_SECTION_NAME),
)
