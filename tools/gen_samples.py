#!/usr/bin/env python3
"""Generate the synthetic minidump sample set under ``samples/``.

The model: a meminspect v3 arm64 kernel (``6.18.0-rc2-minidump-sample``,
4 KiB pages, VA_BITS 48, KASLR) crashed by ``echo c > /proc/sysrq-trigger`` on
a Qualcomm-style device whose boot loader keeps a version-12 SMEM heap with the
minidump table of contents (item 602).  From that one model the script writes
every container the firmware and host tools produce:

* ``md/``         one ``md_<name><seq>.BIN`` per dumped region + ``sahara_table.bin``
* ``md-nokelf/``  the same without ``md_KELF1.BIN``
* ``rawdump.img`` a ``Raw_Dmp!`` partition image
* ``ram/``        raw RAM images (``FILE@PADDR`` listed in ``MEMORY.txt``)
* ``item602.bin`` the bare SMEM item 602 (global minidump TOC)
* ``expected.json`` the ground truth

Specs followed: /work/shared/spec/meminspect.md, qcom-minidump.md,
vmcore-consumers.md (section numbers are quoted next to the code).

Everything is deterministic: a fixed seed, hash-based filler bytes, no clocks.
Only the standard library and ``construct`` are used; every binary structure
that ``minidump.formats`` describes is built with those schemas.

Usage::

    python tools/gen_samples.py --out samples
    python tools/gen_samples.py --out samples --check   # regenerate and self-test

Tests import this file (``sys.path.insert(0, "tools")``) and call
``make_model()``, the ``write_*`` functions, ``generate()`` and ``selftest()``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import construct as cs

try:  # installed package (pip install -e .)
    from minidump.formats.elf import EM, ET, PF, PT, NT, elf_structs
    from minidump.formats.meminspect import inspect_entry
    from minidump.formats import qcom_minidump as qmd
except ImportError:  # pragma: no cover - source tree without installation
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from formats.elf import EM, ET, PF, PT, NT, elf_structs  # type: ignore[no-redef]
    from formats.meminspect import inspect_entry  # type: ignore[no-redef]
    import formats.qcom_minidump as qmd  # type: ignore[no-redef]

MASK64 = (1 << 64) - 1
SAMPLE_SET = "arm64-meminspect"
ES = elf_structs(True, 64)
INSPECT_ENTRY = inspect_entry(True, 64)


def align(value: int, to: int) -> int:
    return (value + to - 1) // to * to


def align4(value: int) -> int:
    return align(value, 4)


def u64(value: int) -> bytes:
    return (value & MASK64).to_bytes(8, "little")


def u32(value: int) -> bytes:
    return (value & 0xFFFFFFFF).to_bytes(4, "little")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def prng(seed: int, label: str, n: int) -> bytes:
    """Deterministic filler: SHA-256 in counter mode over (seed, label)."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{label}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:n])


def prng_int(seed: int, label: str, bits: int = 32) -> int:
    return int.from_bytes(prng(seed, label, 8), "little") & ((1 << bits) - 1)


# ---------------------------------------------------------------------------
# kernel structures that minidump.formats does not describe (local schemas)

# include/linux/elfcore.h struct elf_prpsinfo (LP64): sizeof 136
elf_prpsinfo = "elf_prpsinfo" / cs.Struct(
    "pr_state" / cs.Int8sl,
    "pr_sname" / cs.Int8ul,
    "pr_zomb" / cs.Int8ul,
    "pr_nice" / cs.Int8sl,
    cs.Padding(4),
    "pr_flag" / cs.Int64ul,
    "pr_uid" / cs.Int32ul,
    "pr_gid" / cs.Int32ul,
    "pr_pid" / cs.Int32sl,
    "pr_ppid" / cs.Int32sl,
    "pr_pgrp" / cs.Int32sl,
    "pr_sid" / cs.Int32sl,
    "pr_fname" / cs.Bytes(16),
    "pr_psargs" / cs.Bytes(80),
)
ELF_PRSTATUS_SIZE_ARM64 = 392

# kernel/printk/printk_ringbuffer.h (64-bit)
prb_desc = "prb_desc" / cs.Struct(
    "state_var" / cs.Int64ul,
    "text_blk_lpos" / cs.Struct("begin" / cs.Int64ul, "next" / cs.Int64ul),
)
printk_info = "printk_info" / cs.Struct(
    "seq" / cs.Int64ul,
    "ts_nsec" / cs.Int64ul,
    "text_len" / cs.Int16ul,
    "facility" / cs.Int8ul,
    "flags_level" / cs.Int8ul,  # flags:5 (low bits), level:3 (high bits)
    "caller_id" / cs.Int32ul,
    "dev_info" / cs.Struct("subsystem" / cs.Bytes(16), "device" / cs.Bytes(48)),
)
printk_ringbuffer = "printk_ringbuffer" / cs.Struct(
    "desc_ring" / cs.Struct(
        "count_bits" / cs.Int32ul, cs.Padding(4),
        "descs" / cs.Int64ul, "infos" / cs.Int64ul,
        "head_id" / cs.Int64ul, "tail_id" / cs.Int64ul,
        "last_finalized_seq" / cs.Int64ul,
    ),
    "text_data_ring" / cs.Struct(
        "size_bits" / cs.Int32ul, cs.Padding(4),
        "data" / cs.Int64ul, "head_lpos" / cs.Int64ul, "tail_lpos" / cs.Int64ul,
    ),
    "fail" / cs.Int64ul,
)
latched_seq = "latched_seq" / cs.Struct(
    "seqcount" / cs.Int32ul, cs.Padding(4), "val" / cs.Array(2, cs.Int64ul))
# include/linux/panic.h struct taint_flag (6.x, with desc)
taint_flag = "taint_flag" / cs.Struct(
    "c_true" / cs.Int8ul, "c_false" / cs.Int8ul, "module" / cs.Int8ul, cs.Padding(5),
    "desc" / cs.Int64ul)
# include/linux/utsname.h struct uts_namespace (6.x: name first, no kref)
UTS_LEN = 65
uts_namespace = "uts_namespace" / cs.Struct(
    "name" / cs.Struct(*[n / cs.Bytes(UTS_LEN) for n in
                         ("sysname", "nodename", "release", "version", "machine", "domainname")]),
    cs.Padding(2),
    "user_ns" / cs.Int64ul,
    "ucounts" / cs.Int64ul,
    "ns" / cs.Struct("stashed" / cs.Int64ul, "ops" / cs.Int64ul, "inum" / cs.Int32ul,
                     "count" / cs.Int32ul),
)
assert prb_desc.sizeof() == 24 and printk_info.sizeof() == 88
assert printk_ringbuffer.sizeof() == 88 and latched_seq.sizeof() == 24
assert elf_prpsinfo.sizeof() == 136 and taint_flag.sizeof() == 16
assert uts_namespace.sizeof() == 432

# ---------------------------------------------------------------------------
# meminspect v3 (meminspect.md §3.2, §4.1, §8.4)

MEMINSPECT_ID_MAX = 201
MEMINSPECT_ID_DYNAMIC = 44
ID_ELF, ID_VMCOREINFO, ID_CONFIG = 1, 2, 3

#: v3 meminspect_id_to_md_string[] (30 strings); IDs >= 30 become "unknown"
V3_MD_STRINGS = [
    "", "ELF", "vmcoreinfo", "config", "totalram", "cpu_possible", "cpu_present",
    "cpu_online", "cpu_active", "mem_section", "jiffies", "linux_banner", "nr_threads",
    "nr_irqs", "tainted_mask", "taint_flags", "node_states", "__per_cpu_offset",
    "nr_swapfiles", "init_uts_ns", "printk_rb_static", "printk_rb_dynamic", "prb",
    "prb_descs", "prb_infos", "prb_data", "clear_seq", "high_memory", "init_mm", "tk_data",
]


def smem_region_name(mid: int) -> str:
    """drivers/soc/qcom/minidump.c: "K" + at most 8 chars of the name source (§8.3)."""
    src = V3_MD_STRINGS[mid] if mid < len(V3_MD_STRINGS) else "unknown"
    return "K" + src[:8]


def md_file_stem(name: str, seq: int) -> str:
    """XBL naming (qcom-minidump.md §3.1): "md_" + name (<= 12), + seq if 0 < seq < 10000; <= 15 chars."""
    stem = ("md_" + name[:12])[:15]
    if 0 < seq < 10000:
        stem = (stem + str(seq))[:15]
    return stem


# ---------------------------------------------------------------------------
# printk lockless ring buffer (vmcore-consumers.md §d.2-§d.4; kernel/printk/printk_ringbuffer.[ch])

DESC_SV_BITS = 64
DESC_FLAGS_SHIFT = DESC_SV_BITS - 2
DESC_ID_MASK = (1 << DESC_FLAGS_SHIFT) - 1
desc_reserved, desc_committed, desc_finalized, desc_reusable = 0, 1, 2, 3
FAILED_LPOS = 0x1
EMPTY_LINE_LPOS = 0x3
LOG_NEWLINE = 2
KERN_SOH = b"\x01"


@dataclass
class LogRecord:
    ts_nsec: int
    level: int
    caller_id: int
    text: str
    facility: int = 0
    dev: tuple[str, str] | None = None  # (subsystem, device)
    final: bool = True                   # newline-terminated -> finalized


class PrintkRing:
    """A faithful re-implementation of the writer side of the lockless ring."""

    def __init__(self, count_bits: int, size_bits: int) -> None:
        self.count_bits, self.size_bits = count_bits, size_bits
        self.count, self.size = 1 << count_bits, 1 << size_bits
        self.descs = [[0, 0, 0] for _ in range(self.count)]        # state_var, begin, next
        self.infos: list[dict[str, Any]] = [self._empty_info() for _ in range(self.count)]
        desc0_id = (-(self.count + 1)) & DESC_ID_MASK               # DESC0_ID
        self.descs[self.count - 1] = [(desc_reusable << DESC_FLAGS_SHIFT) | desc0_id,
                                      FAILED_LPOS, FAILED_LPOS]
        self.infos[0]["seq"] = (-self.count) & MASK64
        self.infos[self.count - 1]["seq"] = 0
        self.head_id = self.tail_id = desc0_id
        self.last_finalized_seq = 0
        self.head_lpos = self.tail_lpos = (-self.size) & MASK64     # BLK0_LPOS
        self.data = bytearray(self.size)                            # __log_buf is .bss
        self.wrapped_ids: list[int] = []
        self.total_blk_bytes = 0
        self.id_of_record: list[int] = []

    @staticmethod
    def _empty_info() -> dict[str, Any]:
        return dict(seq=0, ts_nsec=0, text_len=0, facility=0, flags_level=0, caller_id=0,
                    dev_info=dict(subsystem=bytes(16), device=bytes(48)))

    # DATA_* helpers
    def wraps(self, lpos: int) -> int:
        return (lpos & MASK64) >> self.size_bits

    def index(self, lpos: int) -> int:
        return lpos & (self.size - 1)

    def _state(self, idx: int) -> int:
        return (self.descs[idx][0] >> DESC_FLAGS_SHIFT) & 3

    def _get_next_lpos(self, begin: int, size: int) -> int:
        nxt = (begin + size) & MASK64
        if self.wraps(begin) == self.wraps(nxt):
            return nxt
        if self.index(nxt) == 0:
            raise ValueError("data block ends exactly at the ring end; adjust the log text")
        return ((nxt & ~(self.size - 1)) + size) & MASK64  # DATA_THIS_WRAP_START_LPOS + size

    def _data_push_tail(self, lpos: int) -> None:
        while ((lpos - self.tail_lpos - 1) & MASK64) < self.size:
            begin = self.tail_lpos
            while ((lpos - begin - 1) & MASK64) < self.size:      # data_make_reusable()
                blk_id = int.from_bytes(self.data[self.index(begin):self.index(begin) + 8], "little")
                d = self.descs[blk_id % self.count]
                assert d[0] & DESC_ID_MASK == blk_id and d[1] == begin, "ring corrupt"
                state = (d[0] >> DESC_FLAGS_SHIFT) & 3
                assert state in (desc_finalized, desc_reusable), "tail block not finalized"
                d[0] = (desc_reusable << DESC_FLAGS_SHIFT) | blk_id  # desc_make_reusable()
                begin = d[2]
            self.tail_lpos = begin

    def _data_alloc(self, size: int, desc_id: int) -> tuple[int, int, int]:
        blk_size = align(size + 8, 8)                                 # to_blk_size()
        self.total_blk_bytes += blk_size
        begin = self.head_lpos
        nxt = self._get_next_lpos(begin, blk_size)
        self._data_push_tail((nxt - self.size) & MASK64)
        self.head_lpos = nxt
        self.data[self.index(begin):self.index(begin) + 8] = u64(desc_id)
        data_off = self.index(begin) + 8
        if self.wraps(begin) != self.wraps(nxt):                     # wrapping block: data at 0
            self.data[0:8] = u64(desc_id)
            data_off = 8
            self.wrapped_ids.append(desc_id)
        return begin, nxt, data_off

    def emit(self, rec: LogRecord) -> int:
        """vprintk_store(): reserve, copy text, commit / final-commit."""
        desc_id = (self.head_id + 1) & DESC_ID_MASK
        if ((desc_id - self.count) & DESC_ID_MASK) == self.tail_id:
            raise NotImplementedError("descriptor ring full (desc_push_tail) is not modelled")
        self.head_id = desc_id
        idx = desc_id % self.count
        seq = self.infos[idx]["seq"]
        info = self._empty_info()
        info["seq"] = idx if (seq == 0 and idx != 0) else (seq + self.count) & MASK64
        self.infos[idx] = info
        self.descs[idx][0] = (desc_reserved << DESC_FLAGS_SHIFT) | desc_id
        # desc_make_final() of the previous record
        prev = (desc_id - 1) & DESC_ID_MASK
        p = self.descs[prev % self.count]
        if p[0] == (desc_committed << DESC_FLAGS_SHIFT) | prev:
            p[0] = (desc_finalized << DESC_FLAGS_SHIFT) | prev
            self.last_finalized_seq = self.infos[prev % self.count]["seq"]

        text = rec.text.encode("ascii")
        if rec.facility == 0:
            raw = KERN_SOH + str(rec.level).encode() + text + (b"\n" if rec.final else b"")
        else:  # /dev/kmsg: printk_emit(facility, level, NULL, "%s", line)
            raw = text + (b"\n" if rec.final else b"")
        reserve = len(raw) + 1                                        # vsnprintf() + 1
        begin, nxt, off = self._data_alloc(reserve, desc_id)
        # printk_sprint(): vscnprintf writes raw + NUL, the level prefix is memmove()d away
        buf = bytearray(raw + b"\0")
        if rec.facility == 0:
            buf[0:len(text)] = text
        self.data[off:off + len(buf)] = buf
        self.descs[idx][1:] = [begin, nxt]
        info.update(ts_nsec=rec.ts_nsec, text_len=len(text), facility=rec.facility,
                    flags_level=(rec.level << 5) | (LOG_NEWLINE if rec.final else 0),
                    caller_id=rec.caller_id)
        if rec.dev:
            info["dev_info"] = dict(subsystem=rec.dev[0].encode().ljust(16, b"\0"),
                                    device=rec.dev[1].encode().ljust(48, b"\0"))
        state = desc_finalized if rec.final else desc_committed
        self.descs[idx][0] = (state << DESC_FLAGS_SHIFT) | desc_id
        if rec.final:
            self.last_finalized_seq = info["seq"]
        self.id_of_record.append(desc_id)
        return desc_id

    # image of the three arrays and the ring buffer struct
    def descs_bytes(self) -> bytes:
        return b"".join(prb_desc.build(dict(state_var=d[0], text_blk_lpos=dict(begin=d[1], next=d[2])))
                        for d in self.descs)

    def infos_bytes(self) -> bytes:
        return b"".join(printk_info.build(i) for i in self.infos)

    def ringbuffer_bytes(self, descs_va: int, infos_va: int, data_va: int) -> bytes:
        return printk_ringbuffer.build(dict(
            desc_ring=dict(count_bits=self.count_bits, descs=descs_va, infos=infos_va,
                           head_id=self.head_id, tail_id=self.tail_id,
                           last_finalized_seq=self.last_finalized_seq),
            text_data_ring=dict(size_bits=self.size_bits, data=data_va,
                                head_lpos=self.head_lpos, tail_lpos=self.tail_lpos),
            fail=0))


def format_dmesg_line(ts_nsec: int, text: str) -> str:
    """makedumpfile --dump-dmesg: "[%5lu.%06lu] " + text (no caller id)."""
    return "[%5lu.%06lu] %s" % (ts_nsec // 1000000000, ts_nsec % 1000000000 // 1000, text)


def read_printk_ring(read, vmci: dict[str, str]) -> list[tuple[int, str]]:
    """Reader following vmcore-consumers.md §d.4 with the precise get_data() rule.

    ``read(va, n)`` returns kernel memory by virtual address; ``vmci`` is the
    parsed VMCOREINFO.  Returns (ts_nsec, text) for every readable record.
    """
    def num(key: str) -> int:
        return int(vmci[key], 10)

    def word(va: int) -> int:
        return int.from_bytes(read(va, 8), "little")

    rb = word(int(vmci["SYMBOL(prb)"], 16))
    desc_ring = rb + num("OFFSET(printk_ringbuffer.desc_ring)")
    count_bits = int.from_bytes(read(desc_ring + num("OFFSET(prb_desc_ring.count_bits)"), 4), "little")
    count = 1 << count_bits
    descs = word(desc_ring + num("OFFSET(prb_desc_ring.descs)"))
    infos = word(desc_ring + num("OFFSET(prb_desc_ring.infos)"))
    data_ring = rb + num("OFFSET(printk_ringbuffer.text_data_ring)")
    size_bits = int.from_bytes(read(data_ring + num("OFFSET(prb_data_ring.size_bits)"), 4), "little")
    dsize = 1 << size_bits
    data_va = word(data_ring + num("OFFSET(prb_data_ring.data)"))
    ctr = num("OFFSET(atomic_long_t.counter)")
    tail = word(desc_ring + num("OFFSET(prb_desc_ring.tail_id)") + ctr)
    head = word(desc_ring + num("OFFSET(prb_desc_ring.head_id)") + ctr)
    sz_desc, sz_info = num("SIZE(prb_desc)"), num("SIZE(printk_info)")
    data = read(data_va, dsize)
    out = []
    did = tail
    while True:
        d = descs + (did % count) * sz_desc
        sv = word(d + num("OFFSET(prb_desc.state_var)") + ctr)
        state = (sv >> DESC_FLAGS_SHIFT) & 3
        if (sv & DESC_ID_MASK) == did and state in (desc_committed, desc_finalized):
            i = infos + (did % count) * sz_info
            ts = word(i + num("OFFSET(printk_info.ts_nsec)"))
            text_len = int.from_bytes(read(i + num("OFFSET(printk_info.text_len)"), 2), "little")
            lp = d + num("OFFSET(prb_desc.text_blk_lpos)")
            begin = word(lp + num("OFFSET(prb_data_blk_lpos.begin)"))
            nxt = word(lp + num("OFFSET(prb_data_blk_lpos.next)"))
            if begin & 1:
                text = b""
            elif (begin >> size_bits) == (nxt >> size_bits) and begin < nxt:
                start, blk = begin % dsize, nxt - begin
            elif (((begin + dsize) & MASK64) >> size_bits) == (nxt >> size_bits):
                start, blk = 0, nxt % dsize
            else:
                raise ValueError(f"illegal block lpos for id {did:#x}")
            if not begin & 1:
                assert int.from_bytes(data[start:start + 8], "little") == did
                text = data[start + 8:start + 8 + min(text_len, blk - 8)]
            out.append((ts, text.decode("ascii")))
        if did == head:
            break
        did = (did + 1) & DESC_ID_MASK
    return out


# ---------------------------------------------------------------------------
# the model


@dataclass
class Region:
    """One meminspect entry as it exists at crash time."""

    id: int
    symbol: str
    kind: str          # "static" | "dynamic"
    va: int            # inspect_entries[id].va (runtime)
    pa: int
    size: int          # as registered (unaligned)
    data: bytes        # exactly ``size`` bytes

    @property
    def asize(self) -> int:
        return align4(self.size)

    @property
    def payload(self) -> bytes:
        """The bytes the firmware dumps: ALIGN(size, 4), zero padded."""
        return self.data + bytes(self.asize - self.size)

    @property
    def smem_name(self) -> str:
        return smem_region_name(self.id)

    @property
    def file_name(self) -> str:
        return md_file_stem(self.smem_name, self.id) + ".BIN"


@dataclass
class FirmwareRegion:
    """A region of a firmware-owned subsystem slot (not a meminspect entry)."""

    name: str
    seq: int
    pa: int
    data: bytes

    @property
    def file_name(self) -> str:
        return md_file_stem(self.name, self.seq) + ".BIN"


@dataclass
class KernelModel:
    # ---- parameters (override with make_model(**kw)) ----
    seed: int = 0x4D494E49
    release: str = "6.18.0-rc2-minidump-sample"
    uts_version: str = "#1 SMP PREEMPT Tue Oct 21 12:00:00 UTC 2025"
    nodename: str = "sa8775p-ride"
    compile_by: str = "builder"
    compile_host: str = "buildhost"
    compiler: str = "aarch64-linux-gnu-gcc (GCC) 14.2.0, GNU ld (GNU Binutils) 2.43.1"
    machine_model: str = "Qualcomm Technologies, Inc. SA8775P Ride"
    cmdline: str = ("console=ttyMSM0,115200n8 earlycon root=/dev/sda7 rw rootwait "
                    "qcom_scm.download_mode=mini androidboot.hardware=qcom loglevel=8 "
                    "kasan=off")
    page_size: int = 4096
    va_bits: int = 48
    phys_offset: int = 0x80000000
    kimage_vaddr: int = 0xFFFF800080000000    # link address of _text
    kaslr_offset: int = 0x1A2B5C600000        # KERNELOFFSET (2 MiB aligned)
    kimage_pa: int = 0x81000000               # physical load address of _text
    ram_end: int = 0x280000000                # one 8 GiB bank from PHYS_OFFSET
    nr_cpus: int = 8
    config_nr_cpus: int = 64                  # CONFIG_NR_CPUS -> sizeof(struct cpumask) = 8
    panic_cpu: int = 3
    log_buf_shift: int = 14
    prb_avgbits: int = 5
    hz: int = 250
    rq_size: int = 0x1340                     # sizeof(struct rq)
    percpu_base_pa: int = 0x27FFB0000         # first-chunk units (memblock, top-down)
    percpu_unit: int = 0x8000
    runqueues_percpu_off: int = 0x2C0         # &runqueues - __per_cpu_start
    mem_section_root_pa: int = 0x27FFF0000    # memblock_alloc in memblocks_present
    vmcoreinfo_pa: int = 0xF29F8000           # get_zeroed_page()
    region_array_pa: int = 0xF29FA000         # qcom minidump: 201 x minidump_region
    late_size: int = 6016                     # the late registration: SIZE(pglist_data)
    elf_pa: int = 0xF2A00000                  # CMA block for the ELF header (ID 1)
    smem_base: int = 0x86000000
    smem_size: int = 0x200000
    smem_num_items: int = 615
    toc_slots: int = 10
    adsp_carveout_pa: int = 0x8B0A0000
    probe_early: bool = True                  # minidump driver built in (spec §6.7 defect)
    late_registration: bool = True            # one registration after late_initcall
    ram_cluster_gap: int = 0x10000

    # ---- derived (filled by build()) ----
    symbols: dict[str, int] = field(default_factory=dict, repr=False)
    regions: dict[int, Region] = field(default_factory=dict, repr=False)
    phdr_order: list[int] = field(default_factory=list)
    smem_order: list[int] = field(default_factory=list)
    dynamic_log: list[str] = field(default_factory=list)
    vmcoreinfo: str = ""
    kelf: bytes = field(default=b"", repr=False)
    kelf_layout: dict[str, int] = field(default_factory=dict)
    log_records: list[LogRecord] = field(default_factory=list, repr=False)
    dmesg: list[tuple[int, str]] = field(default_factory=list, repr=False)
    printk_state: dict[str, Any] = field(default_factory=dict)
    region_array: bytes = field(default=b"", repr=False)
    inspect_table: bytes = field(default=b"", repr=False)
    adsp_regions: list[FirmwareRegion] = field(default_factory=list, repr=False)
    adsp_array_pa: int = 0
    smem: bytes = field(default=b"", repr=False)
    smem_items: dict[int, dict[str, int]] = field(default_factory=dict)
    item602: bytes = field(default=b"", repr=False)
    item602_pa: int = 0
    ram_images: list[tuple[str, int, bytes]] = field(default_factory=list, repr=False)

    # ---------------- address model (spec meminspect.md §2.7, vmcore-consumers §a.3)
    @property
    def page_offset(self) -> int:
        return (-(1 << self.va_bits)) & MASK64

    @property
    def kimage_voffset(self) -> int:
        return (self.kimage_vaddr + self.kaslr_offset - self.kimage_pa) & MASK64

    def linear(self, pa: int) -> int:
        """phys_to_virt(): the linear-map alias (flipped layout, >= 5.4)."""
        return (self.page_offset + (pa - self.phys_offset)) & MASK64

    def image_va(self, off: int) -> int:
        """Runtime VA of the kernel image byte at ``off`` from _text."""
        return (self.kimage_vaddr + self.kaslr_offset + off) & MASK64

    def image_pa(self, off: int) -> int:
        return self.kimage_pa + off

    @property
    def tcr_el1_t1sz(self) -> int:
        return 64 - self.va_bits

    @property
    def banner(self) -> str:
        return (f"Linux version {self.release} ({self.compile_by}@{self.compile_host}) "
                f"({self.compiler}) {self.uts_version}\n")

    @property
    def build_id(self) -> str:
        return hashlib.sha1(f"{self.seed}:{self.release}:build-id".encode()).hexdigest()

    @property
    def rq_pa(self) -> list[int]:
        return [self.percpu_base_pa + cpu * self.percpu_unit + self.runqueues_percpu_off
                for cpu in range(self.nr_cpus)]

    def build(self) -> "KernelModel":
        _build(self)
        return self


def make_model(**overrides: Any) -> KernelModel:
    """Build the ground-truth model; keyword arguments override KernelModel parameters."""
    return KernelModel(**overrides).build()


# kernel image layout (offsets from _text).  Compressed: a real image is ~40 MiB;
# the order of sections is kept (text, rodata, init, data, bss) but gaps are
# shrunk so the RAM images stay small.
IMAGE_LAYOUT: dict[str, int] = {
    "_text": 0x0,
    "_stext": 0x10000,
    "_etext": 0x1220000,
    # .rodata
    "linux_banner": 0x1230040,
    "taint_flags": 0x1230200,
    "taint_desc_strings": 0x1230400,
    "kernel_config_data": 0x1231008,       # IKCFG_ST at -8
    "kallsyms_offsets": 0x1234000,
    "kallsyms_names": 0x1234800,
    "kallsyms_markers": 0x1235000,
    "kallsyms_token_table": 0x1235800,
    "kallsyms_token_index": 0x1236000,
    "kallsyms_seqs_of_names": 0x1236800,
    "kallsyms_num_syms": 0x1236FF8,
    "swapper_pg_dir": 0x1237000,
    "utsns_operations": 0x1238000,
    # .init
    "_sinittext": 0x1400000,
    "_einittext": 0x1402A48,
    "__per_cpu_start": 0x1480000,
    # .data
    "init_uts_ns": 0x1500000,
    "_totalram_pages": 0x1500200,
    "jiffies_64": 0x1500240,
    "__cpu_possible_mask": 0x1500280,
    "__cpu_present_mask": 0x1500288,
    "__cpu_online_mask": 0x1500290,
    "__cpu_active_mask": 0x1500298,
    "node_states": 0x15002C0,
    "mem_section": 0x1500300,
    "mem_map": 0x1500308,
    "nr_threads": 0x1500340,
    "total_nr_irqs": 0x1500344,
    "nr_swapfiles": 0x1500348,
    "tainted_mask": 0x1500350,
    "high_memory": 0x1500358,
    "prb": 0x1500360,
    "__per_cpu_offset": 0x1500400,
    "init_mm": 0x1500600,
    "printk_rb_static": 0x1500A80,
    "clear_seq": 0x1500B00,
    "timekeeper_data": 0x1500B40,
    "_printk_rb_static_descs": 0x1501000,
    "_printk_rb_static_infos": 0x1504000,
    "init_user_ns": 0x150F000,
    # .bss
    "__log_buf": 0x1510000,
    "printk_rb_dynamic": 0x1514000,
    "inspect_entries": 0x1514100,
    "contig_page_data": 0x1516400,   # !CONFIG_NUMA: NODE_DATA(0), SIZE(pglist_data) 6016
    "_end": 0x1518000,
}

TAINT_FLAGS = [  # (c_true, c_false, module, desc) kernel/panic.c, TAINT_FLAGS_COUNT = 20
    ("P", "G", 1, "PROPRIETARY_MODULE"), ("F", " ", 1, "FORCED_MODULE"),
    ("S", " ", 0, "CPU_OUT_OF_SPEC"), ("R", " ", 0, "FORCED_RMMOD"),
    ("M", " ", 0, "MACHINE_CHECK"), ("B", " ", 0, "BAD_PAGE"), ("U", " ", 0, "USER"),
    ("D", " ", 0, "DIE"), ("A", " ", 0, "OVERRIDDEN_ACPI_TABLE"), ("W", " ", 0, "WARN"),
    ("C", " ", 1, "CRAP"), ("I", " ", 0, "FIRMWARE_WORKAROUND"), ("O", " ", 1, "OOT_MODULE"),
    ("E", " ", 1, "UNSIGNED_MODULE"), ("L", " ", 0, "SOFTLOCKUP"), ("K", " ", 1, "LIVEPATCH"),
    ("X", " ", 1, "AUX"), ("T", " ", 1, "RANDSTRUCT"), ("N", " ", 1, "TEST"),
    ("J", " ", 1, "FWCTL"),
]
TAINT_OOT_MODULE = 12

#: static entries: id -> (symbol, size or None for computed)
AREA = 8


def _static_table(m: KernelModel) -> list[tuple[int, str, int]]:
    descs = 1 << (m.log_buf_shift - m.prb_avgbits)
    mask_size = (m.config_nr_cpus + 63) // 64 * 8
    return [
        (4, "_totalram_pages", 8),
        (5, "__cpu_possible_mask", mask_size),
        (6, "__cpu_present_mask", mask_size),
        (7, "__cpu_online_mask", mask_size),
        (8, "__cpu_active_mask", mask_size),
        (9, "mem_section", 8),                      # SPARSEMEM_EXTREME: the pointer
        (10, "jiffies_64", 8),
        (11, "linux_banner", len(m.banner) + 1),
        (12, "nr_threads", 4),
        (13, "total_nr_irqs", 4),
        (14, "tainted_mask", 8),
        (15, "taint_flags", len(TAINT_FLAGS) * taint_flag.sizeof()),
        (16, "node_states", 6 * 8),                 # NR_NODE_STATES x nodemask_t
        (17, "__per_cpu_offset", m.config_nr_cpus * 8),
        (18, "nr_swapfiles", 4),
        (19, "init_uts_ns", uts_namespace.sizeof()),
        (20, "printk_rb_static", printk_ringbuffer.sizeof()),
        (21, "printk_rb_dynamic", printk_ringbuffer.sizeof()),
        (22, "prb", 8),
        (23, "_printk_rb_static_descs", descs * prb_desc.sizeof()),
        (24, "_printk_rb_static_infos", descs * printk_info.sizeof()),
        (25, "__log_buf", 1 << m.log_buf_shift),
        (26, "clear_seq", latched_seq.sizeof()),
        (27, "high_memory", 8),
        (28, "init_mm", 0x440),
        (29, "_sinittext", AREA), (30, "_einittext", AREA), (31, "_end", AREA),
        (32, "_text", AREA), (33, "_stext", AREA), (34, "_etext", AREA),
        (35, "kallsyms_num_syms", 4),
        (36, "kallsyms_offsets", AREA), (37, "kallsyms_names", AREA),
        (38, "kallsyms_token_table", AREA), (39, "kallsyms_token_index", AREA),
        (40, "kallsyms_markers", AREA), (41, "kallsyms_seqs_of_names", AREA),
        (42, "swapper_pg_dir", AREA),
        (43, "timekeeper_data", 0x280),             # tk_data[TIMEKEEPERS_MAX = 1]
    ]


# ---------------------------------------------------------------------------
# boot log


def _boot_log(m: KernelModel) -> list[LogRecord]:
    recs: list[LogRecord] = []
    clock = [0]

    def T(pid: int) -> int:
        return pid

    def C(cpu: int) -> int:
        return 0x80000000 | cpu

    def at(seconds_us: int) -> None:
        clock[0] = max(clock[0], seconds_us * 1000)

    def log(text: str, level: int = 6, caller: int = 0, dev=None, facility: int = 0,
            final: bool = True, step_us: int | None = None, zero: bool = False) -> None:
        if not zero:
            n = len(recs)
            step = step_us if step_us is not None else 3 + prng_int(m.seed, f"log-step-{n}") % 90
            clock[0] += step * 1000 + prng_int(m.seed, f"log-ns-{n}") % 1000
        recs.append(LogRecord(0 if zero else clock[0], level, caller, text, facility, dev, final))

    def early(text: str, level: int = 6) -> None:
        log(text, level, T(0), zero=True)

    early("Booting Linux on physical CPU 0x0000000000 [0x410fd083]")
    early(m.banner.rstrip("\n"), 5)
    early("KASLR enabled", 6)
    early("random: crng init done", 5)
    early(f"Machine model: {m.machine_model}")
    early("efi: UEFI not found.")
    early("OF: reserved mem: 0x0000000085700000..0x00000000857fffff (1024 KiB) nomap non-reusable cpucp-fw@85700000")
    early(f"OF: reserved mem: 0x{m.smem_base:016x}..0x{m.smem_base + m.smem_size - 1:016x} "
          f"({m.smem_size // 1024} KiB) nomap non-reusable smem@{m.smem_base:x}")
    early("OF: reserved mem: 0x000000008b000000..0x000000008cdfffff (30720 KiB) nomap non-reusable adsp@8b000000")
    early("OF: reserved mem: initialized node linux,cma, compatible id shared-dma-pool")
    early("OF: reserved mem: 0x00000000f2a00000..0x00000000f49fffff (32768 KiB) map reusable linux,cma")
    early("Zone ranges:")
    early("  DMA      [mem 0x0000000080000000-0x00000000ffffffff]")
    early("  DMA32    empty")
    early(f"  Normal   [mem 0x0000000100000000-0x{m.ram_end - 1:016x}]")
    early("Movable zone start for each node")
    early("Early memory node ranges")
    for lo, hi in ((0x80000000, 0x85ffffff), (m.smem_base, m.smem_base + m.smem_size - 1),
                   (0x86200000, 0x8affffff), (0x8b000000, 0x8cdfffff), (0x8ce00000, m.ram_end - 1)):
        early(f"  node   0: [mem 0x{lo:016x}-0x{hi:016x}]")
    early(f"Initmem setup node 0 [mem 0x0000000080000000-0x{m.ram_end - 1:016x}]")
    for t in ("psci: probing for conduit method from DT.", "psci: PSCIv1.1 detected in firmware.",
              "psci: Using standard PSCI v0.2 function IDs", "psci: MIGRATE_INFO_TYPE not supported.",
              "psci: SMC Calling Convention v1.3"):
        early(t)
    early(f"percpu: Embedded 8 pages/cpu s20480 r8192 d4096 u{m.percpu_unit}")
    early("pcpu-alloc: s20480 r8192 d4096 u32768 alloc=8*4096", 7)
    early("pcpu-alloc: " + " ".join(f"[0] {c}" for c in range(m.nr_cpus)) + " ", 7)
    early("Detected PIPT I-cache on CPU0")
    for feat in ("Address authentication (architected QARMA5 algorithm)",
                 "GIC system register CPU interface", "Virtualization Host Extensions",
                 "Spectre-v4", "Spectre-BHB"):
        early(f"CPU features: detected: {feat}")
    early("alternatives: applying boot alternatives")
    early(f"Kernel command line: {m.cmdline}", 5)
    early("Unknown kernel command line parameters \"androidboot.hardware=qcom\", will be passed to user space.", 5)
    for t in ("Dentry cache hash table entries: 1048576 (order: 11, 8388608 bytes, linear)",
              "Inode-cache hash table entries: 524288 (order: 10, 4194304 bytes, linear)",
              "Built 1 zonelists, mobility grouping on.  Total pages: 2064384",
              "mem auto-init: stack:all(zero), heap alloc:off, heap free:off",
              "software IO TLB: area num 8.",
              "software IO TLB: mapped [mem 0x00000000fbe00000-0x00000000ffe00000] (64MB)",
              f"SLUB: HWalign=64, Order=0-3, MinObjects=0, CPUs={m.nr_cpus}, Nodes=1",
              "rcu: Preemptible hierarchical RCU implementation.",
              "rcu: \tRCU event tracing is enabled.",
              f"rcu: \tRCU restricting CPUs from NR_CPUS={m.config_nr_cpus} to nr_cpu_ids={m.nr_cpus}.",
              "\tTrampoline variant of Tasks RCU enabled.",
              "rcu: RCU calculated value of scheduler-enlistment delay is 25 jiffies.",
              f"rcu: Adjusting geometry for rcu_fanout_leaf=16, nr_cpu_ids={m.nr_cpus}",
              "NR_IRQS: 64, nr_irqs: 64, preallocated irqs: 0",
              "GICv3: 988 SPIs implemented", "GICv3: 0 Extended SPIs implemented",
              "Root IRQ handler: gic_handle_irq", "GICv3: GICv3 features: 16 PPIs",
              "GICv3: CPU0: found redistributor 0 region 0:0x0000000017a60000",
              "ITS [mem 0x17a40000-0x17a5ffff]",
              "ITS@0x0000000017a40000: allocated 8192 Devices @100080000 (indirect, esz 8, psz 64K, shr 1)",
              "rcu: srcu_init: Setting srcu_struct sizes based on contention.",
              "arch_timer: cp15 timer(s) running at 19.20MHz (virt).",
              "clocksource: arch_sys_counter: mask: 0xffffffffffffff max_cycles: 0x46d987e47, max_idle_ns: 440795202767 ns",
              "sched_clock: 56 bits at 19MHz, resolution 52ns, wraps every 4398046511078ns"):
        early(t)
    at(282)
    for t in ("Console: colour dummy device 80x25",
              "Calibrating delay loop (skipped), value calculated using timer frequency.. 38.40 BogoMIPS (lpj=76800)",
              "pid_max: default: 32768 minimum: 301",
              "LSM: initializing lsm=capability,selinux",
              "SELinux:  Initializing.",
              "Mount-cache hash table entries: 16384 (order: 5, 131072 bytes, linear)",
              "Mountpoint-cache hash table entries: 16384 (order: 5, 131072 bytes, linear)",
              "rcu: Hierarchical SRCU implementation.",
              "rcu: \tMax phase no-delay instances is 1000.",
              "smp: Bringing up secondary CPUs ..."):
        log(t, caller=T(1) if t.startswith("smp") else T(0))
    at(2547)
    for cpu in range(1, m.nr_cpus):
        log(f"Detected PIPT I-cache on CPU{cpu}", caller=T(0), step_us=980)
        log(f"GICv3: CPU{cpu}: found redistributor {cpu}00 region 0:0x{0x17a60000 + cpu * 0x20000:016x}",
            caller=T(0))
        log(f"CPU{cpu}: Booted secondary processor 0x0000000{cpu}00 [0x410fd083]", caller=T(0))
    for t in (f"smp: Brought up 1 node, {m.nr_cpus} CPUs",
              f"SMP: Total of {m.nr_cpus} processors activated.",
              "CPU: All CPU(s) started at EL2",
              "CPU features: detected: 32-bit EL0 Support",
              "CPU features: detected: CRC32 instructions",
              "CPU features: detected: RCpc load-acquire (LDAPR)",
              "CPU features: detected: LSE atomic instructions",
              "CPU features: detected: Privileged Access Never",
              "CPU features: detected: Speculation barrier (SB)",
              "alternatives: applying system-wide alternatives",
              "Memory: 7842040K/8388608K available (17984K kernel code, 4420K rwdata, 11208K rodata, "
              "9856K init, 1044K bss, 480960K reserved, 32768K cma-reserved)"):
        log(t, caller=T(1))
    at(16100)
    for t in ("devtmpfs: initialized",
              "clocksource: jiffies: mask: 0xffffffff max_cycles: 0xffffffff, max_idle_ns: 7645041785100000 ns",
              "futex hash table entries: 2048 (order: 5, 131072 bytes, linear)",
              "pinctrl core: initialized pinctrl subsystem",
              "NET: Registered PF_NETLINK/PF_ROUTE protocol family",
              "DMA: preallocated 1024 KiB GFP_KERNEL pool for atomic allocations",
              "DMA: preallocated 1024 KiB GFP_KERNEL|GFP_DMA pool for atomic allocations",
              "DMA: preallocated 1024 KiB GFP_KERNEL|GFP_DMA32 pool for atomic allocations",
              "audit: initializing netlink subsys (disabled)",
              "thermal_sys: Registered thermal governor 'step_wise'",
              "cpuidle: using governor menu",
              "hw-breakpoint: found 6 breakpoint and 4 watchpoint registers.",
              "ASID allocator initialised with 65536 entries",
              "Serial: AMBA PL011 UART driver",
              "HugeTLB: registered 1.00 GiB page size, pre-allocated 0 pages",
              "HugeTLB: 0 KiB vmemmap can be freed for a 1.00 GiB page",
              "HugeTLB: registered 32.0 MiB page size, pre-allocated 0 pages",
              "HugeTLB: 0 KiB vmemmap can be freed for a 32.0 MiB page",
              "HugeTLB: registered 2.00 MiB page size, pre-allocated 0 pages",
              "HugeTLB: 0 KiB vmemmap can be freed for a 2.00 MiB page",
              "HugeTLB: registered 64.0 KiB page size, pre-allocated 0 pages",
              "HugeTLB: 0 KiB vmemmap can be freed for a 64.0 KiB page",
              "iommu: Default domain type: Translated",
              "iommu: DMA domain TLB invalidation policy: strict mode",
              "SCSI subsystem initialized",
              "usbcore: registered new interface driver usbfs",
              "usbcore: registered new interface driver hub",
              "usbcore: registered new device driver usb",
              "pps_core: LinuxPPS API ver. 1 registered",
              "pps_core: Software ver. 5.3.6 - Copyright 2005-2007 Rodolfo Giometti <giometti@linux.it>",
              "PTP clock support registered",
              "EDAC MC: Ver: 3.0.0",
              "qcom_scm: convention: smc arm64"):
        log(t, caller=T(1))
    at(61000)
    log("arm-smmu 15000000.iommu: probing hardware configuration...", caller=T(1),
        dev=("platform", "+platform:15000000.iommu"))
    log("arm-smmu 15000000.iommu: SMMUv2 with:", caller=T(1), dev=("platform", "+platform:15000000.iommu"))
    for t in ("stage 1 translation", "stage 2 translation", "nested translation",
              "stream matching with 80 register groups", "64 context banks (0 stage-2 only)",
              "Supported page sizes: 0x61311000", "Stage-1: 36-bit VA -> 36-bit IPA",
              "Stage-2: 36-bit IPA -> 36-bit PA", "preserved 0 boot mappings"):
        log(f"arm-smmu 15000000.iommu: \t{t}", caller=T(1), dev=("platform", "+platform:15000000.iommu"))
    at(150000)
    for t in ("clocksource: Switched to clocksource arch_sys_counter",
              "NET: Registered PF_INET protocol family",
              "IP idents hash table entries: 131072 (order: 8, 1048576 bytes, linear)",
              "tcp_listen_portaddr_hash hash table entries: 4096 (order: 4, 65536 bytes, linear)",
              "Table-perturb hash table entries: 65536 (order: 6, 262144 bytes, linear)",
              "TCP established hash table entries: 65536 (order: 7, 524288 bytes, linear)",
              "TCP bind hash table entries: 65536 (order: 9, 2097152 bytes, linear)",
              "TCP: Hash tables configured (established 65536 bind 65536)",
              "UDP hash table entries: 4096 (order: 5, 131072 bytes, linear)",
              "NET: Registered PF_UNIX/PF_LOCAL protocol family",
              "PCI: CLS 0 bytes, default 64",
              "Initialise system trusted keyrings",
              "workingset: timestamp_bits=42 max_order=21 bucket_order=0",
              "squashfs: version 4.0 (2009/01/31) Phillip Lougher",
              "Key type asymmetric registered",
              "Asymmetric key parser 'x509' registered",
              "Block layer SCSI generic (bsg) driver version 0.4 loaded (major 245)",
              "io scheduler mq-deadline registered",
              "io scheduler kyber registered",
              "Serial: 8250/16550 driver, 4 ports, IRQ sharing enabled"):
        log(t, caller=T(1))
    at(212000)
    log("a8c000.serial: ttyMSM0 at MMIO 0xa8c000 (irq = 134, base_baud = 0) is a MSM", caller=T(1),
        dev=("platform", "+platform:a8c000.serial"))
    log("printk: legacy console [ttyMSM0] enabled", caller=T(1))
    for i, reg in enumerate(("vreg_l1c", "vreg_l2c", "vreg_l3c", "vreg_l4c", "vreg_l5c", "vreg_l6c",
                             "vreg_l7c", "vreg_l8c", "vreg_l9c", "vreg_l1e", "vreg_l2e", "vreg_l3e")):
        lo = 1140000 + 40000 * i
        log(f"{reg}: Setting {lo}-{lo + 120000}uV", caller=T(62))
    for t in ("loop: module loaded", "tun: Universal TUN/TAP device driver, 1.6",
              "usbcore: registered new interface driver r8152"):
        log(t, caller=T(1))
    for dev, grp in (("23040000.ethernet", 2), ("1d84000.ufs", 3), ("a600000.usb", 4),
                     ("a800000.usb", 5), ("88e0000.usb", 6), ("3d00000.gpu", 7),
                     ("aa00000.video-codec", 8), ("ac00000.isp", 9), ("1c00000.pcie", 10),
                     ("1c10000.pcie", 11)):
        log(f"{dev.split('.', 1)[1].replace('-', '_')} {dev}: Adding to iommu group {grp}",
            caller=T(67), dev=("platform", f"+platform:{dev}"))
    log("ufshcd-qcom 1d84000.ufs: ufshcd_populate_vreg: Unable to find vdd-hba-supply regulator, assuming enabled",
        4, T(67), dev=("platform", "+platform:1d84000.ufs"))
    for t in ("sdhci: Secure Digital Host Controller Interface driver",
              "hid: raw HID events driver (C) Jiri Kosina",
              "usbcore: registered new interface driver usbhid",
              "usbhid: USB HID core driver",
              "NET: Registered PF_INET6 protocol family",
              "Segment Routing with IPv6",
              "In-situ OAM (IOAM) with IPv6",
              "NET: Registered PF_PACKET protocol family",
              "registered taskstats version 1",
              "Loading compiled-in X.509 certificates",
              "clk: Disabling unused clocks",
              "PM: genpd: Disabling unused power domains"):
        log(t, caller=T(1))
    log("hrtimer: interrupt took 2604 ns", 4, C(2))
    at(1203000)
    log("scsi host0: ufshcd", caller=T(9))
    log("scsi 0:0:0:49488: Well-known LUN    SAMSUNG  KLUDG4UHDC-B0E1  0600 PQ: 0 ANSI: 6", 5, T(9),
        dev=("scsi", "+scsi:0:0:0:49488"))
    log("scsi 0:0:0:0: Direct-Access     SAMSUNG  KLUDG4UHDC-B0E1  0600 PQ: 0 ANSI: 6", 5, T(9),
        dev=("scsi", "+scsi:0:0:0:0"))
    for t in ("[sda] 30529536 4096-byte logical blocks: (125 GB/116 GiB)",
              "[sda] Write Protect is off",
              "[sda] Write cache: enabled, read cache: enabled, supports DPO and FUA"):
        log(f"sd 0:0:0:0: {t}", 5, T(81), dev=("scsi", "+scsi:0:0:0:0"))
    log(" sda: sda1 sda2 sda3 sda4 sda5 sda6 sda7", caller=T(81))
    log("sd 0:0:0:0: [sda] Attached SCSI disk", 5, T(81), dev=("scsi", "+scsi:0:0:0:0"))
    at(1805000)
    for t in ("EXT4-fs (sda7): mounted filesystem 3f9c4a2e-1b7d-4c51-9b0a-5e1d2c3b4a59 ro with ordered "
              "data mode. Quota mode: none.",
              "VFS: Mounted root (ext4 filesystem) readonly on device 8:7.",
              "devtmpfs: mounted",
              "Freeing unused kernel memory: 9856K",
              "Run /sbin/init as init process"):
        log(t, caller=T(1))
    at(2504000)
    for t in ("systemd 257.2-1 running in system mode (+PAM +AUDIT +SELINUX +APPARMOR +IMA +SMACK "
              "+SECCOMP +GCRYPT -GNUTLS +OPENSSL +ACL +BLKID +CURL +ELFUTILS +FIDO2 +IDN2 -IDN +IPTC "
              "+KMOD +LIBCRYPTSETUP +LIBFDISK +PCRE2 +PWQUALITY +P11KIT +QRENCODE +TPM2 +BZIP2 +LZ4 "
              "+XZ +ZLIB +ZSTD +BPF_FRAMEWORK +XKBCOMMON +UTMP +SYSVINIT +LIBARCHIVE)",
              "Detected architecture arm64.",
              f"Hostname set to <{m.nodename}>."):
        log(f"systemd[1]: {t}", 6, T(1), facility=3)
    at(5210000)
    log("EXT4-fs (sda7): re-mounted 3f9c4a2e-1b7d-4c51-9b0a-5e1d2c3b4a59 r/w.", caller=T(231))
    at(12402000)
    rp = ("remoteproc", "+remoteproc:remoteproc0")
    log("remoteproc remoteproc0: 30000000.remoteproc is available", caller=T(290), dev=rp)
    log("remoteproc remoteproc0: powering up 30000000.remoteproc", caller=T(290), dev=rp)
    log("remoteproc remoteproc0: Booting fw image qcom/sa8775p/adsp.mbn, size 5838604",
        caller=T(290), dev=rp)
    log("remoteproc remoteproc0: remote processor 30000000.remoteproc is up", caller=T(290),
        dev=rp, step_us=98000)
    at(20117000)
    log("late_dbg: loading out-of-tree module taints kernel.", 4, T(388))
    log(f"late_dbg: registered node 0 pglist_data ({m.late_size} bytes) with meminspect", 6, T(388))
    at(42113000)
    sh = T(412)
    log("sysrq: Trigger a crash", 6, sh)
    log("Kernel panic - not syncing: sysrq triggered crash", 0, sh)
    log(f"CPU: {m.panic_cpu} UID: 0 PID: 412 Comm: sh Tainted: G           O        "
        f"{m.release} #1 PREEMPT ", 4, sh)
    log("Tainted: [O]=OOT_MODULE", 4, sh)
    log(f"Hardware name: {m.machine_model} (DT)", 4, sh)
    log("Call trace:", 4, sh)
    for frame in (" show_stack+0x18/0x24 (C)", " dump_stack_lvl+0x60/0x80", " dump_stack+0x18/0x24",
                  " vpanic+0x118/0x2f8", " panic+0x54/0x58", " sysrq_handle_crash+0x24/0x28",
                  " __handle_sysrq+0xd4/0x1e0", " write_sysrq_trigger+0x7c/0xa4",
                  " proc_reg_write+0x9c/0xf0", " vfs_write+0xd8/0x380", " ksys_write+0x70/0x108",
                  " __arm64_sys_write+0x1c/0x2c", " invoke_syscall+0x48/0x114",
                  " el0_svc_common.constprop.0+0x40/0xe0", " do_el0_svc+0x1c/0x28",
                  " el0_svc+0x30/0xcc", " el0t_64_sync_handler+0x100/0x12c",
                  " el0t_64_sync+0x198/0x19c"):
        log(frame, 4, sh, step_us=2)
    log("SMP: stopping secondary CPUs", 2, sh, step_us=1100)
    log(f"Kernel Offset: 0x{m.kaslr_offset:x} from 0x{m.kimage_vaddr:x}", 0, sh)
    log(f"PHYS_OFFSET: 0x{m.phys_offset:x}", 0, sh)
    log("CPU features: 0x000000,00000000,8000a7a1,67b7f723", 0, sh)
    log("Memory Limit: none", 0, sh)
    log("---[ end Kernel panic - not syncing: sysrq triggered crash ]---", 0, sh, final=False)
    return recs


# ---------------------------------------------------------------------------
# VMCOREINFO (vmcore-consumers.md §e.2, §e.3, §d.2)


def _vmcoreinfo(m: KernelModel) -> str:
    s = m.symbols
    lines: list[str] = []

    def add(line: str) -> None:
        assert len(line) < 80, line  # one vmcoreinfo_append_str() is formatted into 80 bytes
        lines.append(line + "\n")

    def sym(name: str, value: int | None = None) -> None:
        add(f"SYMBOL({name})={(s[name] if value is None else value):x}")

    def size(name: str, v: int) -> None:
        add(f"SIZE({name})={v}")

    def off(name: str, v: int) -> None:
        add(f"OFFSET({name})={v}")

    def length(name: str, v: int) -> None:
        add(f"LENGTH({name})={v}")

    def number(name: str, v: int) -> None:
        add(f"NUMBER({name})={v}")

    vmemmap_start = (-(1 << 30) - ((((1 << 47) >> 12) * 64))) & MASK64  # VMEMMAP_END - VMEMMAP_SIZE
    add(f"OSRELEASE={m.release}")
    add(f"BUILD-ID={m.build_id}")
    add(f"PAGESIZE={m.page_size}")
    sym("init_uts_ns")
    off("uts_namespace.name", 0)
    sym("node_online_map", s["node_states"] + 8)           # node_states[N_ONLINE]
    sym("swapper_pg_dir")
    sym("_stext")
    add(f"NUMBER(VMALLOC_START)=0x{m.kimage_vaddr:x}")     # = MODULES_END
    sym("mem_map")                                          # !CONFIG_NUMA
    sym("contig_page_data")
    sym("vmemmap", (vmemmap_start - (m.phys_offset >> 12) * 64) & MASK64)
    # VMCOREINFO_SYMBOL_ARRAY: the pointer's value (the SPARSEMEM_EXTREME root), not &mem_section
    sym("mem_section", m.linear(m.mem_section_root_pa))
    length("mem_section", 8192)                             # NR_SECTION_ROOTS
    size("mem_section", 16)
    off("mem_section.section_mem_map", 0)
    number("SECTION_SIZE_BITS", 27)
    number("MAX_PHYSMEM_BITS", 48)
    size("page", 64)
    size("pglist_data", 6016)
    size("zone", 1536)
    size("free_area", 104)
    size("list_head", 16)
    size("nodemask_t", 8)
    for f, v in (("flags", 0), ("_refcount", 52), ("mapping", 24), ("lru", 8),
                 ("_mapcount", 48), ("private", 40), ("compound_head", 8)):
        off(f"page.{f}", v)
    for f, v in (("node_zones", 0), ("nr_zones", 5312), ("node_start_pfn", 5328),
                 ("node_spanned_pages", 5344), ("node_id", 5352)):
        off(f"pglist_data.{f}", v)
    off("zone.free_area", 192)
    off("zone.vm_stat", 1344)
    off("zone.spanned_pages", 104)
    off("free_area.free_list", 0)
    off("list_head.next", 0)
    off("list_head.prev", 8)
    length("zone.free_area", 11)
    # log_buf_vmcoreinfo_setup() (kernel/printk/printk.c)
    sym("prb")
    sym("printk_rb_static")
    sym("clear_seq")
    size("printk_ringbuffer", 88)
    off("printk_ringbuffer.desc_ring", 0)
    off("printk_ringbuffer.text_data_ring", 48)
    off("printk_ringbuffer.fail", 80)
    size("prb_desc_ring", 48)
    off("prb_desc_ring.count_bits", 0)
    off("prb_desc_ring.descs", 8)
    off("prb_desc_ring.infos", 16)
    off("prb_desc_ring.head_id", 24)
    off("prb_desc_ring.tail_id", 32)
    size("prb_desc", 24)
    off("prb_desc.state_var", 0)
    off("prb_desc.text_blk_lpos", 8)
    size("prb_data_blk_lpos", 16)
    off("prb_data_blk_lpos.begin", 0)
    off("prb_data_blk_lpos.next", 8)
    size("printk_info", 88)
    off("printk_info.seq", 0)
    off("printk_info.ts_nsec", 8)
    off("printk_info.text_len", 16)
    off("printk_info.caller_id", 20)
    off("printk_info.dev_info", 24)
    size("dev_printk_info", 64)
    off("dev_printk_info.subsystem", 0)
    length("printk_info_subsystem", 16)
    off("dev_printk_info.device", 16)
    length("printk_info_device", 48)
    size("prb_data_ring", 32)
    off("prb_data_ring.size_bits", 0)
    off("prb_data_ring.data", 8)
    off("prb_data_ring.head_lpos", 16)
    off("prb_data_ring.tail_lpos", 24)
    size("atomic_long_t", 8)
    off("atomic_long_t.counter", 0)
    size("latched_seq", 24)
    off("latched_seq.val", 8)
    # back in crash_save_vmcoreinfo_init()
    length("free_area.free_list", 6)
    number("NR_FREE_PAGES", 0)
    number("PG_lru", 4)
    number("PG_private", 13)
    number("PG_swapcache", 9)
    number("PG_swapbacked", 18)
    number("PAGE_SLAB_MAPCOUNT_VALUE", -184549376)      # PGTY_slab << 24
    number("PG_hwpoison", 21)
    number("PG_head_mask", 64)
    number("PAGE_BUDDY_MAPCOUNT_VALUE", -268435456)     # PGTY_buddy << 24
    number("PAGE_HUGETLB_MAPCOUNT_VALUE", -201326592)
    number("PAGE_OFFLINE_MAPCOUNT_VALUE", -251658240)
    for name in ("kallsyms_names", "kallsyms_num_syms", "kallsyms_token_table",
                 "kallsyms_token_index", "kallsyms_offsets"):
        sym(name)
    # arch/arm64/kernel/vmcore_info.c arch_crash_save_vmcoreinfo()
    number("VA_BITS", m.va_bits)
    add(f"NUMBER(MODULES_VADDR)=0x{(-(1 << 47)) & MASK64:x}")
    add(f"NUMBER(MODULES_END)=0x{m.kimage_vaddr:x}")
    add(f"NUMBER(VMALLOC_END)=0x{(vmemmap_start - 0x10000000) & MASK64:x}")
    add(f"NUMBER(VMEMMAP_START)=0x{vmemmap_start:x}")
    add(f"NUMBER(VMEMMAP_END)=0x{(-(1 << 30)) & MASK64:x}")
    add(f"NUMBER(kimage_voffset)=0x{m.kimage_voffset:x}")
    add(f"NUMBER(PHYS_OFFSET)=0x{m.phys_offset:x}")
    add(f"NUMBER(TCR_EL1_T1SZ)=0x{m.tcr_el1_t1sz:x}")
    add(f"KERNELOFFSET={m.kaslr_offset:x}")
    add(f"NUMBER(KERNELPACMASK)=0x{((MASK64 >> m.va_bits) << m.va_bits) & MASK64:x}")
    text = "".join(lines)
    assert len(text) <= m.page_size
    return text


def parse_vmcoreinfo(text: str) -> dict[str, str]:
    out = {}
    for line in text.rstrip("\0").split("\n"):
        if "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
    return out


# ---------------------------------------------------------------------------
# meminspect core + Qualcomm backend (meminspect.md §6.1, §8.3)


class _QcomMinidump:
    """drivers/soc/qcom/minidump.c: mirrors ADD/REMOVE events into the region array."""

    def __init__(self) -> None:
        self.order: list[int] = []

    def add(self, r: Region) -> None:
        if (r.va == 0 and r.pa == 0) or r.size == 0:
            return
        if r.id in self.order or len(self.order) >= MEMINSPECT_ID_MAX:
            return
        self.order.append(r.id)

    def remove(self, mid: int) -> None:
        if mid in self.order:
            self.order.remove(mid)


class _Meminspect:
    """kernel/meminspect/meminspect.c: the table, the ELF phdr list, the notifier."""

    def __init__(self, log: list[str]) -> None:
        self.table: dict[int, Region] = {}
        self.phdrs: list[int] = []
        self.elf_ready = False
        self.notifiers: list[_QcomMinidump] = []
        self.log = log

    def register(self, r: Region, when: str) -> Region:
        assert 0 < r.id < MEMINSPECT_ID_MAX and r.id not in self.table
        self.table[r.id] = r
        self.log.append(f"{when}: register id {r.id} ({r.symbol})")
        if self.elf_ready and r.id not in (ID_ELF, ID_VMCOREINFO):
            self.phdrs.append(r.id)
        for n in self.notifiers:
            n.add(r)
        return r

    def first_free_dynamic(self) -> int:
        return next(i for i in range(MEMINSPECT_ID_DYNAMIC, MEMINSPECT_ID_MAX) if i not in self.table)

    def unregister(self, mid: int, when: str) -> None:
        r = self.table.pop(mid)
        self.log.append(f"{when}: unregister id {mid} ({r.symbol})")
        if self.elf_ready and mid in self.phdrs:
            self.phdrs.remove(mid)
        for n in self.notifiers:
            n.remove(mid)

    def probe(self, n: _QcomMinidump, when: str) -> None:
        self.log.append(f"{when}: qcom-minidump probe, traverse ids {sorted(self.table)}")
        self.notifiers.append(n)
        for mid in sorted(self.table):
            n.add(self.table[mid])

    def prepare_table(self, statics: list[Region], elf: Region) -> None:
        for r in statics:                                  # copy .inspect_table (no notifier)
            self.table[r.id] = r
        self.log.append("late_initcall: meminspect_prepare_table copies static ids "
                        f"{statics[0].id}..{statics[-1].id}")
        self.register(elf, "late_initcall")                # before ELF ready: no PT_LOAD
        self.phdrs = [i for i in sorted(self.table) if i >= 3]
        self.elf_ready = True
        for mid in sorted(self.table):                     # ADD for all ids 1..200
            for n in self.notifiers:
                n.add(self.table[mid])


def _build_kelf(m: KernelModel, phdr_ids: list[int]) -> tuple[bytes, dict[str, int]]:
    """meminspect.md §6.2-§6.5: the ELF header region (ID 1)."""
    vsize = len(m.vmcoreinfo)
    V = align4(vsize)
    S_eh, S_ph, S_pr, S_ps = ES.ehdr_size, ES.phdr_size, ELF_PRSTATUS_SIZE_ARM64, elf_prpsinfo.sizeof()
    elfh_size = align4(S_eh + S_pr + S_ps + 11 + V + MEMINSPECT_ID_MAX * S_ph)
    psargs = m.cmdline.encode()[:79]
    notes = ES.Elf_Note.build(dict(n_type=NT.PRSTATUS, name=b"CORE\0", desc=bytes(S_pr)))
    notes += ES.Elf_Note.build(dict(n_type=NT.PRPSINFO, name=b"CORE\0", desc=elf_prpsinfo.build(dict(
        pr_state=0, pr_sname=ord("R"), pr_zomb=0, pr_nice=0, pr_flag=0, pr_uid=0, pr_gid=0,
        pr_pid=0, pr_ppid=0, pr_pgrp=0, pr_sid=0, pr_fname=b"vmlinux".ljust(16, b"\0"),
        pr_psargs=psargs.ljust(80, b"\0")))))
    notes += ES.Elf_Nhdr.build(dict(n_namesz=11, n_descsz=V, n_type=0)) + b"VMCOREINFO\0\0"
    note_len = len(notes) + V
    assert note_len == 36 + 16 + 12 + align4(S_pr) + align4(S_ps) + V
    buf_sz = elfh_size + note_len - V
    buf = bytearray(buf_sz)
    buf[0:S_eh] = ES.Elf_Ehdr.build(dict(
        e_ident=dict(EI_CLASS=2, EI_DATA=1, EI_VERSION=1, EI_OSABI=0, EI_ABIVERSION=0),
        e_type=ET.CORE, e_machine=EM.AARCH64, e_version=1, e_entry=0, e_phoff=S_eh, e_shoff=0,
        e_flags=0, e_ehsize=S_eh, e_phentsize=S_ph, e_phnum=1 + len(phdr_ids),
        e_shentsize=0, e_shnum=0, e_shstrndx=0))
    phdrs = [ES.Elf_Phdr.build(dict(p_type=PT.NOTE, p_flags=0, p_offset=elfh_size, p_vaddr=0,
                                    p_paddr=0, p_filesz=note_len, p_memsz=0, p_align=0))]
    offset = elfh_size + note_len
    for mid in phdr_ids:
        r = m.regions[mid]
        vaddr = r.va if r.kind == "static" else m.linear(r.pa)
        phdrs.append(ES.Elf_Phdr.build(dict(p_type=PT.LOAD, p_flags=PF.R | PF.W, p_offset=offset,
                                            p_vaddr=vaddr, p_paddr=r.pa, p_filesz=r.asize,
                                            p_memsz=r.asize, p_align=0)))
        offset += r.asize
    ph = b"".join(phdrs)
    buf[S_eh:S_eh + len(ph)] = ph
    buf[elfh_size:elfh_size + len(notes)] = notes
    layout = dict(elfh_size=elfh_size, note_len=note_len, buf_sz=buf_sz, V=V,
                  vmcoreinfo_size=vsize, first_load_offset=elfh_size + note_len, core_size=offset)
    return bytes(buf), layout


def _build_smem(m: KernelModel, toc: bytes, adsp_array: bytes) -> bytes:
    """qcom-minidump.md §1.12.2-§1.12.5: a version-12 SMEM region as XBL builds it."""
    smem = bytearray(m.smem_size)
    version = [0] * 32
    version[qmd.SMEM_MASTER_SBL_VERSION_INDEX] = qmd.SMEM_GLOBAL_PART_VERSION << 16
    smem[0:qmd.smem_header.sizeof()] = qmd.smem_header.build(dict(
        proc_comm=[0] * 16, version=version, initialized=1, free_offset=0x1000, available=0,
        reserved=0))
    toc_off = m.smem_size - qmd.SMEM_TOC_SIZE
    pair_size = 0x80000
    pair_off = toc_off - pair_size
    glob_off, glob_size = 0x1000, pair_off - 0x1000
    entries = [  # table page, pair partitions, common partition, legacy page (§1.12.2 item 7)
        dict(offset=toc_off, size=qmd.SMEM_TOC_SIZE, host0=0xFFFF, host1=0xFFFF, cacheline=0),
        dict(offset=pair_off, size=pair_size, host0=0, host1=1, cacheline=32),      # APPS-MODEM
        dict(offset=glob_off, size=glob_size, host0=qmd.SMEM_GLOBAL_HOST,
             host1=qmd.SMEM_GLOBAL_HOST, cacheline=32),
        dict(offset=0, size=0x1000, host0=0xFFFF, host1=0xFFFF, cacheline=0),
    ]
    pos = toc_off
    smem[pos:pos + 32] = qmd.smem_ptable.build(dict(magic=qmd.SMEM_PTABLE_MAGIC, version=1,
                                                    num_entries=len(entries), reserved=[0] * 5))
    pos += 32
    for e in entries:
        smem[pos:pos + 48] = qmd.smem_ptable_entry.build(dict(flags=0, reserved=[0] * 7, **e))
        pos += 48
    smem[pos:pos + qmd.smem_info.sizeof()] = qmd.smem_info.build(dict(
        magic=qmd.SMEM_INFO_MAGIC, size=m.smem_size, base_addr=m.smem_base,
        num_items=m.smem_num_items, reserved=0))
    # pair partition: empty
    smem[pair_off:pair_off + 32] = qmd.smem_partition_header.build(dict(
        magic=qmd.SMEM_PART_MAGIC, host0=0, host1=1, size=pair_size, offset_free_uncached=32,
        offset_free_cached=pair_size, reserved=[0] * 3))
    # global partition: uncached items 137 (socinfo), 469, 602 (minidump TOC), 614 (ADSP regions)
    socinfo = u32(0x00000013) + u32(534) + u32(0x00010000) + b"SA8775P.LA.1.0-00042".ljust(32, b"\0")
    socinfo += u32(0) * 5
    assert len(socinfo) == 64
    items = [(137, socinfo), (469, prng(m.seed, "smem-item-469", 0x55)), (602, toc), (614, adsp_array)]
    e = 32
    m.smem_items = {}
    for item, data in items:
        size = align(len(data), 8)
        hdr = qmd.smem_private_entry.build(dict(canary=qmd.SMEM_PRIVATE_CANARY, item=item, size=size,
                                                padding_data=size - len(data), padding_hdr=0,
                                                reserved=0))
        base = glob_off + e
        smem[base:base + 16] = hdr
        smem[base + 16:base + 16 + len(data)] = data
        m.smem_items[item] = dict(header_offset=base, data_offset=base + 16,
                                  data_pa=m.smem_base + base + 16, size=size, length=len(data))
        e += 16 + size
    smem[glob_off:glob_off + 32] = qmd.smem_partition_header.build(dict(
        magic=qmd.SMEM_PART_MAGIC, host0=qmd.SMEM_GLOBAL_HOST, host1=qmd.SMEM_GLOBAL_HOST,
        size=glob_size, offset_free_uncached=e, offset_free_cached=glob_size, reserved=[0] * 3))
    return bytes(smem)


def _build(m: KernelModel) -> None:
    seed = m.seed
    L = dict(IMAGE_LAYOUT)
    m.symbols = {name: m.image_va(off) for name, off in L.items()}
    m.symbols["runqueues"] = m.image_va(L["__per_cpu_start"] + m.runqueues_percpu_off)
    n_descs = 1 << (m.log_buf_shift - m.prb_avgbits)

    # ---- printk ring
    ring = PrintkRing(m.log_buf_shift - m.prb_avgbits, m.log_buf_shift)
    m.log_records = _boot_log(m)
    for rec in m.log_records:
        ring.emit(rec)
    ts_last = m.log_records[-1].ts_nsec

    # ---- static contents
    rq_va = [m.linear(pa) for pa in m.rq_pa]
    per_cpu_offset = [(va - m.symbols["runqueues"]) & MASK64 for va in rq_va]
    uptime_jiffies = ts_last * m.hz // 1000000000
    initial_jiffies = (1 << 32) - 300 * m.hz
    cpu_all = (1 << m.nr_cpus) - 1
    cfg_text = _kernel_config(m).encode()
    cfg_gz = bytearray(gzip.compress(cfg_text, compresslevel=9, mtime=0))
    cfg_gz[9] = 3                                            # OS = Unix, like gzip -n
    config_blob = b"IKCFG_ST" + bytes(cfg_gz) + b"IKCFG_ED"
    taint_strings = L["taint_desc_strings"]
    taints = b""
    for i, (ct, cf, mod, desc) in enumerate(TAINT_FLAGS):
        taints += taint_flag.build(dict(c_true=ord(ct), c_false=ord(cf), module=mod,
                                        desc=m.image_va(taint_strings + 32 * i)))
    uts = uts_namespace.build(dict(
        name={k: v.encode().ljust(UTS_LEN, b"\0") for k, v in (
            ("sysname", "Linux"), ("nodename", m.nodename), ("release", m.release),
            ("version", m.uts_version), ("machine", "aarch64"), ("domainname", "(none)"))},
        user_ns=m.symbols["init_user_ns"], ucounts=0,
        ns=dict(stashed=0, ops=m.symbols["utsns_operations"], inum=0xEFFFFFFE, count=4)))

    def area(label: str) -> bytes:
        return prng(seed, f"area-{label}", AREA)

    contents: dict[str, bytes] = {
        "_totalram_pages": u64(1960510),
        "__cpu_possible_mask": u64(cpu_all), "__cpu_present_mask": u64(cpu_all),
        "__cpu_online_mask": u64(1 << m.panic_cpu),       # the others were stopped by panic()
        "__cpu_active_mask": u64(cpu_all),
        "mem_section": u64(m.linear(m.mem_section_root_pa)),
        "jiffies_64": u64(initial_jiffies + uptime_jiffies),
        "linux_banner": m.banner.encode() + b"\0",
        "nr_threads": u32(187),
        "total_nr_irqs": u32(338),
        "tainted_mask": u64(1 << TAINT_OOT_MODULE),
        "taint_flags": taints,
        "node_states": b"".join(u64(1) for _ in range(6)),
        "__per_cpu_offset": b"".join(u64(per_cpu_offset[c]) if c < m.nr_cpus else u64(0)
                                     for c in range(m.config_nr_cpus)),
        "nr_swapfiles": u32(1),
        "init_uts_ns": uts,
        "printk_rb_static": ring.ringbuffer_bytes(m.symbols["_printk_rb_static_descs"],
                                                  m.symbols["_printk_rb_static_infos"],
                                                  m.symbols["__log_buf"]),
        "printk_rb_dynamic": bytes(printk_ringbuffer.sizeof()),
        "prb": u64(m.symbols["printk_rb_static"]),
        "_printk_rb_static_descs": ring.descs_bytes(),
        "_printk_rb_static_infos": ring.infos_bytes(),
        "__log_buf": bytes(ring.data),
        "clear_seq": latched_seq.build(dict(seqcount=0, val=[0, 0])),
        "high_memory": u64(m.linear(m.ram_end)),
        "init_mm": prng(seed, "init_mm", 0x440),
        "_text": b"MZ@\xfa" + bytes.fromhex("ff3f4814"),   # ccmp x18,#0,#0xd,pl; b primary_entry
        "_stext": area("_stext"), "_etext": bytes(AREA), "_sinittext": area("_sinittext"),
        "_einittext": area("_einittext"), "_end": bytes(AREA),
        "kallsyms_num_syms": u32(143217),
        "kallsyms_offsets": u32(0) + u32(0x10000),
        "kallsyms_names": bytes.fromhex("0854d75f74657874"),
        "kallsyms_markers": u32(0) + u32(0x9a1),
        "kallsyms_token_table": b"ma\0te\0ct",
        "kallsyms_token_index": bytes.fromhex("0000030006000900"),
        "kallsyms_seqs_of_names": bytes.fromhex("00c2d7019e2a0125"),
        "swapper_pg_dir": u64(0x8251A000 | 0x3),            # table descriptor
        "timekeeper_data": prng(seed, "tk_data", 0x280),
    }
    statics: list[Region] = []
    for mid, sym, size in _static_table(m):
        data = contents[sym]
        assert len(data) == size, (sym, len(data), size)
        off = L[sym]
        statics.append(Region(mid, sym, "static", m.image_va(off), m.image_pa(off), size, data))
    m.symbols["kernel_config_data"] = m.image_va(L["kernel_config_data"])

    # ---- the boot sequence (meminspect.md §4.2, §6.1, §6.7, §8.3)
    m.dynamic_log = []
    sim = _Meminspect(m.dynamic_log)
    qcom = _QcomMinidump()

    def dyn(symbol: str, pa: int, data: bytes, when: str) -> Region:
        r = Region(sim.first_free_dynamic(), symbol, "dynamic", m.linear(pa), pa, len(data), data)
        return sim.register(r, when)

    root = bytearray(8192 * 8)
    root[0:8] = u64(m.linear(m.mem_section_root_pa - 0x1000))   # root 0 covers all RAM
    dyn("mem_section[] root", m.mem_section_root_pa, bytes(root), "setup_arch/memblocks_present")
    scratch = dyn("early scratch (modelled)", m.percpu_base_pa - 0x1000, bytes(0x100),
                  "setup_arch")
    for cpu in range(m.nr_cpus):
        rq = bytearray(prng(seed, f"rq{cpu}", m.rq_size))
        rq[0:8] = bytes(8)                                       # __lock (unlocked)
        rq[8:12] = u32(1 if cpu == m.panic_cpu else 0)           # nr_running
        dyn(f"runqueues[cpu{cpu}]", m.rq_pa[cpu], bytes(rq), "sched_init")
    sim.unregister(scratch.id, "core_initcall")
    m.vmcoreinfo = _vmcoreinfo(m)                            # needs the symbols only
    vtext = m.vmcoreinfo.encode()
    sim.register(Region(ID_VMCOREINFO, "vmcoreinfo_data", "dynamic", m.linear(m.vmcoreinfo_pa),
                        m.vmcoreinfo_pa, len(vtext), vtext), "subsys_initcall")
    cfg_off = L["kernel_config_data"] - 8
    sim.register(Region(ID_CONFIG, "kernel_config_data - 8", "dynamic", m.image_va(cfg_off),
                        m.image_pa(cfg_off), len(config_blob), config_blob), "device_initcall/ikconfig_init")
    if m.probe_early:
        sim.probe(qcom, "device_initcall")
    buf_sz = _build_kelf(m, [])[1]["buf_sz"]                  # depends on V only
    elf_region = Region(ID_ELF, "meminspect ELF header", "dynamic", m.linear(m.elf_pa), m.elf_pa,
                        buf_sz, bytes(buf_sz))
    sim.prepare_table(statics, elf_region)
    if not m.probe_early:
        sim.probe(qcom, "module_init (qcom_minidump.ko)")
    if m.late_registration:
        # an out-of-tree driver registers NODE_DATA(0) (contig_page_data, !CONFIG_NUMA) by its
        # image address: the capture names it by VMCOREINFO's SYMBOL(contig_page_data)
        pgdat = bytearray(prng(seed, "late", m.late_size))
        pgdat[5312:5316] = u32(3)                                   # nr_zones
        pgdat[5328:5336] = u64(m.phys_offset >> 12)                 # node_start_pfn
        pgdat[5344:5352] = u64((m.ram_end - m.phys_offset) >> 12)   # node_spanned_pages
        pgdat[5352:5356] = u32(0)                                   # node_id
        off = L["contig_page_data"]
        sim.register(Region(sim.first_free_dynamic(), "contig_page_data", "dynamic",
                            m.image_va(off), m.image_pa(off), m.late_size, bytes(pgdat)),
                     "after late_initcall")
    m.regions = dict(sorted(sim.table.items()))
    m.phdr_order = list(sim.phdrs)
    m.smem_order = list(qcom.order)

    # ---- the ELF header as it stands at crash time
    m.kelf, m.kelf_layout = _build_kelf(m, m.phdr_order)
    elf = m.regions[ID_ELF]
    assert len(m.kelf) == elf.size
    elf.data = m.kelf

    # ---- printk ground truth
    m.dmesg = read_printk_ring(_model_reader(m), parse_vmcoreinfo(m.vmcoreinfo))
    present = [r for r, i in zip(m.log_records, ring.id_of_record)
               if ring.descs[i % ring.count][0] >> DESC_FLAGS_SHIFT in (desc_committed, desc_finalized)]
    assert [(r.ts_nsec, r.text) for r in present] == m.dmesg
    overwritten = [i for i in ring.id_of_record
                   if ring.descs[i % ring.count][0] >> DESC_FLAGS_SHIFT == desc_reusable]
    m.printk_state = dict(
        records_written=len(m.log_records), records_present=len(m.dmesg),
        records_overwritten=len(overwritten), reusable_ids=[f"{i:#x}" for i in overwritten],
        wrapped_block_ids=[f"{i:#x}" for i in ring.wrapped_ids],
        head_id=f"{ring.head_id:#x}", tail_id=f"{ring.tail_id:#x}",
        head_lpos=f"{ring.head_lpos:#x}", tail_lpos=f"{ring.tail_lpos:#x}",
        last_finalized_seq=ring.last_finalized_seq,
        total_block_bytes=ring.total_blk_bytes,
        data_size=ring.size, desc_count=ring.count)
    assert ring.wrapped_ids, "the text ring must wrap"
    assert overwritten, "some records must be overwritten"
    assert n_descs == ring.count

    # ---- Qualcomm region array (201 entries) in kernel DDR
    arr = bytearray(MEMINSPECT_ID_MAX * qmd.minidump_region.sizeof())
    for i, mid in enumerate(m.smem_order):
        r = m.regions[mid]
        arr[i * 40:(i + 1) * 40] = qmd.minidump_region.build(dict(
            name=r.smem_name.encode().ljust(16, b"\0"), seq_num=mid,
            valid=qmd.MD.REGION_VALID, address=r.pa, size=r.asize))
    m.region_array = bytes(arr)
    # runtime inspect_entries[201]
    tab = bytearray(MEMINSPECT_ID_MAX * INSPECT_ENTRY.sizeof())
    for mid, r in m.regions.items():
        tab[mid * 40:(mid + 1) * 40] = INSPECT_ENTRY.build(dict(id=mid, va=r.va, pa=r.pa, size=r.size, type=0))
    m.inspect_table = bytes(tab)

    # ---- ADSP (firmware-owned slot 5): two regions, array in SMEM item 614
    m.adsp_regions = [
        FirmwareRegion("adsp_log", 0, m.adsp_carveout_pa, prng(seed, "adsp_log", 0x200)),
        FirmwareRegion("adsp_state", 0, m.adsp_carveout_pa + 0x1000, prng(seed, "adsp_state", 0x100)),
    ]
    adsp_array = b"".join(qmd.minidump_region.build(dict(
        name=fr.name.encode().ljust(16, b"\0"), seq_num=fr.seq, valid=qmd.MD.REGION_VALID,
        address=fr.pa, size=len(fr.data))) for fr in m.adsp_regions)

    # ---- item 602 (global TOC) -- region array PA for slot 5 needs the SMEM layout first
    def toc_bytes(adsp_pa: int) -> bytes:
        slots = [dict(status=0, enabled=0, encryption_status=0, encryption_required=0,
                      region_count=0, regions_baseptr=0) for _ in range(m.toc_slots)]
        slots[qmd.MINIDUMP_SUBSYSTEM_APSS] = dict(
            status=qmd.MD.SS_TOC_INIT, enabled=qmd.MD.SS_ENABLED,
            encryption_status=qmd.MD.SS_ENCR_DONE, encryption_required=qmd.MD.SS_ENCR_NOTREQ,
            region_count=len(m.smem_order), regions_baseptr=m.region_array_pa)
        slots[5] = dict(status=qmd.MD.SS_TOC_MAGIC, enabled=qmd.MD.SS_ENABLED,
                        encryption_status=qmd.MD.SS_ENCR_DONE,
                        encryption_required=qmd.MD.SS_ENCR_NOTREQ,
                        region_count=len(m.adsp_regions), regions_baseptr=adsp_pa)
        return qmd.minidump_global_toc(m.toc_slots).build(dict(
            status=1, md_revision=qmd.MD_REVISION, enabled=qmd.MD.SS_ENABLED, subsystems=slots))

    _build_smem(m, toc_bytes(0), adsp_array)                 # pass 1: learn item offsets
    m.adsp_array_pa = m.smem_items[614]["data_pa"]
    m.item602 = toc_bytes(m.adsp_array_pa)
    m.smem = _build_smem(m, m.item602, adsp_array)
    m.item602_pa = m.smem_items[602]["data_pa"]
    assert len(m.item602) == 16 + 32 * m.toc_slots

    # ---- RAM images
    m.ram_images = _ram_images(m)


def _model_reader(m: KernelModel):
    """read(va, n) over the model's PT_LOAD regions (by p_vaddr)."""
    segs = []
    for mid in m.phdr_order:
        r = m.regions[mid]
        segs.append((r.va if r.kind == "static" else m.linear(r.pa), r.payload))

    def read(va: int, n: int) -> bytes:
        for base, data in segs:
            if base <= va and va + n <= base + len(data):
                return data[va - base:va - base + n]
        raise KeyError(f"VA {va:#x}+{n:#x} not captured")
    return read


def _kernel_config(m: KernelModel) -> str:
    return f"""#
# Automatically generated file; DO NOT EDIT.
# Linux/arm64 {m.release.split('-')[0]} Kernel Configuration
#
CONFIG_CC_VERSION_TEXT="aarch64-linux-gnu-gcc (GCC) 14.2.0"
CONFIG_CC_IS_GCC=y
CONFIG_GCC_VERSION=140200
CONFIG_LOCALVERSION="-minidump-sample"
CONFIG_DEFAULT_HOSTNAME="(none)"
CONFIG_PREEMPT=y
CONFIG_IKCONFIG=y
CONFIG_IKCONFIG_PROC=y
CONFIG_LOG_BUF_SHIFT={m.log_buf_shift}
CONFIG_LOG_CPU_MAX_BUF_SHIFT=10
CONFIG_PRINTK=y
CONFIG_KALLSYMS=y
CONFIG_KALLSYMS_ALL=y
CONFIG_CRASH_DUMP=y
CONFIG_VMCORE_INFO=y
CONFIG_MEMINSPECT=y
CONFIG_ARM64=y
CONFIG_64BIT=y
CONFIG_ARCH_QCOM=y
CONFIG_ARM64_4K_PAGES=y
CONFIG_ARM64_VA_BITS_48=y
CONFIG_ARM64_VA_BITS={m.va_bits}
CONFIG_ARM64_PA_BITS=48
CONFIG_ARM64_PTR_AUTH=y
CONFIG_SMP=y
CONFIG_NR_CPUS={m.config_nr_cpus}
# CONFIG_NUMA is not set
CONFIG_HZ_250=y
CONFIG_HZ={m.hz}
CONFIG_RELOCATABLE=y
CONFIG_RANDOMIZE_BASE=y
CONFIG_SPARSEMEM=y
CONFIG_SPARSEMEM_EXTREME=y
CONFIG_SPARSEMEM_VMEMMAP=y
CONFIG_MEMORY_FAILURE=y
CONFIG_CMA=y
CONFIG_DMA_CMA=y
CONFIG_QCOM_SCM=y
CONFIG_QCOM_SMEM=y
CONFIG_QCOM_MINIDUMP=y
CONFIG_QCOM_Q6V5_PAS=y
CONFIG_MAGIC_SYSRQ=y
CONFIG_MODULES=y
"""


def _ram_objects(m: KernelModel) -> list[tuple[str, int, bytes]]:
    objs = [(f"region {r.id} {r.symbol}", r.pa, r.payload) for r in m.regions.values()]
    vmci = m.regions[ID_VMCOREINFO]
    objs = [o for o in objs if o[1] != vmci.pa]
    objs.append(("vmcoreinfo_data page", vmci.pa, vmci.data + bytes(m.page_size - len(vmci.data))))
    objs.append(("qcom minidump_region[201]", m.region_array_pa, m.region_array))
    objs.append(("inspect_entries[201]", m.image_pa(IMAGE_LAYOUT["inspect_entries"]), m.inspect_table))
    for fr in m.adsp_regions:
        objs.append((f"adsp {fr.name}", fr.pa, fr.data))
    objs.sort(key=lambda o: o[1])
    for a, b in zip(objs, objs[1:]):
        assert a[1] + len(a[2]) <= b[1], f"overlap: {a[0]} / {b[0]}"
    assert not any(m.smem_base <= o[1] < m.smem_base + m.smem_size for o in objs)
    return objs


def _ram_images(m: KernelModel) -> list[tuple[str, int, bytes]]:
    objs = _ram_objects(m)
    clusters: list[list[tuple[str, int, bytes]]] = []
    for o in objs:
        if clusters:
            last = clusters[-1][-1]
            if o[1] - align(last[1] + len(last[2]), 0x1000) <= m.ram_cluster_gap:
                clusters[-1].append(o)
                continue
        clusters.append([o])
    images = []
    for n, cl in enumerate(clusters):
        base = cl[0][1] & ~0xFFF
        end = align(cl[-1][1] + len(cl[-1][2]), 0x1000)
        img = bytearray(prng(m.seed, f"ram-filler-{base:x}", end - base))  # other kernel memory
        for _, pa, data in cl:
            img[pa - base:pa - base + len(data)] = data
        images.append((f"ddr{n}.bin", base, bytes(img)))
    images.append(("smem.bin", m.smem_base, m.smem))
    return images


# ---------------------------------------------------------------------------
# containers


def dump_order(m: KernelModel) -> list[tuple[str, str, int, bytes]]:
    """What the firmware dumps, in order: (stem, file name, PA, bytes) -- slot 0 then slot 5."""
    out = []
    for mid in m.smem_order:
        r = m.regions[mid]
        out.append((md_file_stem(r.smem_name, mid), r.file_name, r.pa, r.payload))
    for fr in m.adsp_regions:
        out.append((md_file_stem(fr.name, fr.seq), fr.file_name, fr.pa, fr.data))
    return out


def sahara_table(m: KernelModel) -> bytes:
    """qcom-minidump.md §3.1: one sahara_debug_region64 per dumped region."""
    return b"".join(qmd.sahara_debug_region64.build(dict(
        type=0, addr=pa, length=len(data), region=stem.encode().ljust(20, b"\0"),
        filename=fname.encode().ljust(20, b"\0"))) for stem, fname, pa, data in dump_order(m))


def write_md(m: KernelModel, directory: str | Path, *, include_kelf: bool = True) -> list[Path]:
    """md/: one md_<name><seq>.BIN per dumped region plus sahara_table.bin."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, fname, pa, data in dump_order(m):
        if not include_kelf and fname == "md_KELF1.BIN":
            continue
        (d / fname).write_bytes(data)
        written.append(d / fname)
    (d / "sahara_table.bin").write_bytes(sahara_table(m))
    written.append(d / "sahara_table.bin")
    return written


def write_md_nokelf(m: KernelModel, directory: str | Path) -> list[Path]:
    """md-nokelf/: the same blobs without md_KELF1.BIN (the Sahara table still lists it)."""
    return write_md(m, directory, include_kelf=False)


def rawdump_image(m: KernelModel) -> bytes:
    """qcom-minidump.md §3.2: single-dump Raw_Dmp! image with absolute offsets."""
    blobs = dump_order(m)
    hdr_size = qmd.raw_dump_header.sizeof()
    sec_size = qmd.raw_dump_section_header.sizeof()
    offset = hdr_size + sec_size * len(blobs)
    sections, data = [], []
    for stem, fname, pa, blob in blobs:
        stype = qmd.RAW_DUMP_SECTION.SV if len(blob) < 0x1000 else qmd.RAW_DUMP_SECTION.DDR
        sections.append(qmd.raw_dump_section_header.build(dict(
            validity_flag=qmd.RAW_DUMP_VALID, section_version=qmd.RAW_DUMP_VERSION,
            section_type=stype, section_offset=offset, section_size=len(blob),
            section_info=dict(base_addr=pa, reserved=bytes(8)),
            section_name=fname.encode().ljust(20, b"\0"))))
        data.append(blob)
        offset += len(blob)
    header = qmd.raw_dump_header.build(dict(
        version=qmd.RAW_DUMP_VERSION, validity_flag=qmd.RAW_DUMP_VALID, os_data=0,
        cpu_context=bytes(8), reset_trigger=0, dump_size=offset,
        total_dump_size_required=offset, sections_count=len(blobs)))
    img = header + b"".join(sections) + b"".join(data)
    assert len(img) == offset
    return img


def write_rawdump(m: KernelModel, directory: str | Path) -> Path:
    p = Path(directory) / "rawdump.img"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(rawdump_image(m))
    return p


def write_ram(m: KernelModel, directory: str | Path) -> list[Path]:
    """ram/: raw RAM images and MEMORY.txt with one FILE@PADDR per line."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    written = []
    for name, pa, data in m.ram_images:
        (d / name).write_bytes(data)
        written.append(d / name)
    (d / "MEMORY.txt").write_text("".join(f"{name}@0x{pa:x}\n" for name, pa, _ in m.ram_images))
    written.append(d / "MEMORY.txt")
    return written


def write_item602(m: KernelModel, directory: str | Path) -> Path:
    p = Path(directory) / "item602.bin"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(m.item602)
    return p


def expected(m: KernelModel) -> dict[str, Any]:
    """The ground truth as a JSON-able dict."""
    hexs = lambda v: f"0x{v:x}"  # noqa: E731
    regions = []
    for mid, r in m.regions.items():
        in_kelf = mid in m.phdr_order
        regions.append(dict(
            id=mid, name=r.smem_name, file=r.file_name, symbol=r.symbol, kind=r.kind,
            pa=hexs(r.pa), va=hexs(r.va if r.kind == "static" else m.linear(r.pa)),
            table_va=hexs(r.va), size=r.asize, raw_size=r.size, sha256=sha256(r.payload),
            kelf_phdr=(m.phdr_order.index(mid) + 1) if in_kelf else None,
            smem_index=m.smem_order.index(mid)))
    S = m.symbols
    return dict(
        generator="tools/gen_samples.py",
        model=dict(arch="arm64", release=m.release, meminspect_series="v3",
                   page_size=m.page_size, va_bits=m.va_bits, phys_offset=hexs(m.phys_offset),
                   page_offset=hexs(m.page_offset), kimage_vaddr=hexs(m.kimage_vaddr),
                   kaslr_offset=hexs(m.kaslr_offset), kimage_pa=hexs(m.kimage_pa),
                   kimage_voffset=hexs(m.kimage_voffset), tcr_el1_t1sz=m.tcr_el1_t1sz,
                   nr_cpus=m.nr_cpus, panic_cpu=m.panic_cpu, build_id=m.build_id,
                   banner=m.banner, cmdline=m.cmdline, probe_early=m.probe_early,
                   late_registration=m.late_registration),
        symbols={k: hexs(v) for k, v in sorted(S.items())},
        regions=regions,
        kelf=dict(pt_load_order=m.phdr_order, **m.kelf_layout),
        smem_order=m.smem_order,
        boot_events=m.dynamic_log,
        vmcoreinfo=m.vmcoreinfo,
        vmcoreinfo_size=len(m.vmcoreinfo),
        dmesg=[format_dmesg_line(ts, text) for ts, text in m.dmesg],
        printk=m.printk_state,
        smem=dict(base=hexs(m.smem_base), size=hexs(m.smem_size), version=hexs(0x000C0000),
                  ptable_pa=hexs(m.smem_base + m.smem_size - 0x1000),
                  global_partition_pa=hexs(m.smem_base + 0x1000), num_items=m.smem_num_items,
                  items={str(k): {kk: (hexs(vv) if "pa" in kk or "offset" in kk else vv)
                                  for kk, vv in v.items()} for k, v in m.smem_items.items()},
                  item602_pa=hexs(m.item602_pa), item602_size=len(m.item602),
                  toc_slots=m.toc_slots, apss_region_array_pa=hexs(m.region_array_pa),
                  apss_region_count=len(m.smem_order), adsp_region_array_pa=hexs(m.adsp_array_pa)),
        firmware_regions=[dict(slot=5, name=fr.name, seq=fr.seq, file=fr.file_name,
                               pa=hexs(fr.pa), size=len(fr.data), sha256=sha256(fr.data))
                          for fr in m.adsp_regions],
        sahara_order=[fname for _, fname, _, _ in dump_order(m)],
        inspect_entries=dict(va=hexs(S["inspect_entries"]),
                             pa=hexs(m.image_pa(IMAGE_LAYOUT["inspect_entries"])),
                             count=MEMINSPECT_ID_MAX, entry_size=INSPECT_ENTRY.sizeof()),
        ram_images=[dict(file=name, pa=hexs(pa), size=len(data)) for name, pa, data in m.ram_images],
    )


def write_expected(m: KernelModel, directory: str | Path) -> Path:
    p = Path(directory) / "expected.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(expected(m), indent=1) + "\n")
    return p


PROVENANCE_HEAD = """\
# Sample provenance

Everything under `samples/` is **synthetic**. No byte comes from a real device or
a real kernel build. All files are generated, deterministically (fixed seed,
hash-based filler, no timestamps), by

    python tools/gen_samples.py --out samples

and re-checked with `python tools/gen_samples.py --out samples --check` (which
runs `selftest()`). Regenerating must reproduce the SHA-256 list at the end of
this file byte for byte.

## The modelled system

A **meminspect v3** arm64 kernel (`{release}`, 4 KiB pages, VA_BITS 48,
TCR_EL1_T1SZ 16, PHYS_OFFSET 0x{phys_offset:x}, KASLR KERNELOFFSET 0x{kaslr:x},
`_text` linked at 0x{kimage_vaddr:x} and loaded at PA 0x{kimage_pa:x}, so
kimage_voffset = 0x{voffset:x}), 8 CPUs (CONFIG_NR_CPUS=64), CONFIG_NUMA off,
SPARSEMEM_EXTREME, LOG_BUF_SHIFT 14. It panics with "sysrq triggered crash" on
CPU {panic_cpu} on a Qualcomm-style board whose boot loader keeps a version-12
SMEM heap at 0x{smem_base:x} (2 MiB) with the minidump TOC in item 602.
Mini download mode then dumps every valid region.

Specs followed, with the kernel sources they describe. The specs (meminspect.md,
qcom-minidump.md, vmcore-consumers.md) are the project's design notes, kept outside
this repository; the kernel and firmware sources in the last column are the public
references they were written from:

| Part | Spec | Kernel / firmware behaviour modelled |
|---|---|---|
| Region set, IDs 1-43 + dynamic ≥ 44, sizes | meminspect.md §3.2 (v3 column), §4.1, §4.2 | `include/linux/meminspect.h`, the v3 annotation patches (`init/version.c`, `kernel/printk/printk.c`, `mm/sparse.c`, `kernel/sched/core.c`, `kernel/configs.c`, `kernel/vmcore_info.c`, `kernel/time/timekeeping.c`, …) |
| Runtime table `inspect_entries[201]` (40-byte `struct inspect_entry`, in RAM image) | meminspect.md §2.2, §7 | `kernel/meminspect/meminspect.c` |
| KELF region (ID 1): Ehdr, 201 phdr slots, PT_NOTE (CORE/NT_PRSTATUS zeros, CORE/NT_PRPSINFO, VMCOREINFO header only), PT_LOADs for IDs 3..200 in ascending order, `p_vaddr` image VA (static) / linear VA (dynamic) | meminspect.md §6.1–§6.5 | `init_elfheader()` / `meminspect_prepare_table()` in `kernel/meminspect/meminspect.c` |
| One registration after late_initcall (ID 45, reused after an early unregistration) appended as the **last** PT_LOAD: an out-of-tree driver registers NODE_DATA(0) (`contig_page_data`, !CONFIG_NUMA, SIZE(pglist_data) 6016) by its linear-map alias, so the capture names it by SYMBOL(contig_page_data)'s physical address | meminspect.md §6.1 step 4, §6.7 | same |
| VMCOREINFO text, key order and formats | vmcore-consumers.md §e.2, §e.3, §d.2 | `kernel/vmcore_info.c` `crash_save_vmcoreinfo_init()`, `kernel/printk/printk.c` `log_buf_vmcoreinfo_setup()`, `arch/arm64/kernel/vmcore_info.c` |
| printk lockless ring (512 descriptors, 16 KiB text ring that wraps: tail pushed, reusable descriptors, a wrapping block stored at index 0 with its id at both ends) | vmcore-consumers.md §d.3, §d.4 | `kernel/printk/printk_ringbuffer.[ch]` (`data_alloc`, `get_next_lpos`, `data_push_tail`, `desc_make_reusable`), `kernel/printk/printk.c` (`vprintk_store`, `printk_sprint`) |
| SMEM region array (201 × `minidump_region`, names "K"+8 chars, seq = ID, size ALIGN 4), APSS slot 0, ADD-order with the built-in probe-early defect `[2, 3, dynamic…, 1, 4…43, late]` | meminspect.md §6.7, §8.2–§8.4 | `drivers/soc/qcom/minidump.c`, `include/linux/soc/qcom/minidump.h` |
| Item 602 (16 + 32·10 bytes), slot 5 ADSP (`TOC` magic, 2 regions, array in SMEM item 614) | qcom-minidump.md §1.2–§1.6 | XBL `boot_minidump.h`, `drivers/remoteproc/qcom_common.c` |
| SMEM v12 heap: header, `$TOC` table page at base+size−4 KiB, `SIII`, `$PRT` pair + global partitions, uncached items 137, 469, 602, 614 | qcom-minidump.md §1.12.2–§1.12.5 | `drivers/soc/qcom/smem.c`, XBL `SmemLib` |
| `md_<name><seq>.BIN` naming and the Sahara 64-bit memory-debug table | qcom-minidump.md §3.1 | XBL `boot_minidump.c`, qdl `sahara.c` |
| `Raw_Dmp!` image (single dump, absolute offsets, SV < 0x1000 ≤ DDR, base address always set) | qcom-minidump.md §3.2 | XBL `boot_raw_partition_ramdump.[ch]` |

Deliberate simplifications: the kernel image layout is compressed (text,
rodata, init, data, bss keep their order but the gaps are shrunk) and only
the memory near captured objects is present in `ram/`; bytes that no model
object defines (rest of the runqueues, init_mm, tk_data, AREA words, RAM
between objects) are hash-generated filler. ID 45 is first used by a modelled
early-boot registration that is unregistered before the minidump driver
probes, so the post-late_initcall registration reuses it.

## Files (`samples/{set}/`)

| File | What it is |
|---|---|
| `md/md_*.BIN` | One blob per dumped region, named as XBL names them (`md_KELF1.BIN`, `md_Kvmcorein2.BIN`, `md_Kconfig3.BIN`, … `md_Kunknown53.BIN`, plus the ADSP blobs `md_adsp_log.BIN`, `md_adsp_state.BIN`); contents = ALIGN(size, 4) bytes at the region's PA |
| `md/sahara_table.bin` | The raw Sahara memory-debug table: one 64-byte `sahara_debug_region64` per region in dump order (SMEM slot 0 order, then slot 5) |
| `md-nokelf/` | The same without `md_KELF1.BIN`; `sahara_table.bin` is identical (it still lists the missing blob) |
| `rawdump.img` | `Raw_Dmp!` partition image holding the same blobs |
| `ram/ddr*.bin`, `ram/smem.bin` | Raw RAM images; `ram/MEMORY.txt` lists `FILE@PADDR` per line. They contain every region payload, the region array, `inspect_entries[]` and the 2 MiB SMEM |
| `item602.bin` | The bare SMEM item 602 (global minidump TOC, 10 slots) |
| `expected.json` | Ground truth: per region id, SMEM name, file, PA, VA (the KELF `p_vaddr`; linear VA for IDs 1 and 2 which have no PT_LOAD), ALIGN(size,4), raw size, SHA-256 of the payload; the KELF PT_LOAD order; the SMEM order; the VMCOREINFO text; the expected dmesg lines (`[%5lu.%06lu] text`, as `makedumpfile --dump-dmesg` prints them); SMEM/Sahara/RAM layout |

A crash-loadable core is `cat md/md_KELF1.BIN md/md_Kvmcorein2.BIN` followed by
the PT_LOAD payloads in `p_offset` order (`assemble_core()` in the script).

## SHA-256 of the generated files
"""


def write_provenance(m: KernelModel, out: str | Path, files: list[Path]) -> Path:
    out = Path(out)
    head = PROVENANCE_HEAD.format(
        release=m.release, phys_offset=m.phys_offset, kaslr=m.kaslr_offset,
        kimage_vaddr=m.kimage_vaddr, kimage_pa=m.kimage_pa, voffset=m.kimage_voffset,
        panic_cpu=m.panic_cpu, smem_base=m.smem_base, set=SAMPLE_SET)
    lines = [f"    {sha256(p.read_bytes())}  {p.relative_to(out).as_posix()}  ({p.stat().st_size} bytes)"
             for p in sorted(files, key=lambda p: p.relative_to(out).as_posix())]
    p = out / "PROVENANCE.md"
    p.write_text(head + "\n" + "\n".join(lines) + "\n")
    return p


def generate(out: str | Path, model: KernelModel | None = None) -> list[Path]:
    """Write the whole sample set under ``out`` and return the files written."""
    m = model or make_model()
    out = Path(out)
    base = out / SAMPLE_SET
    if base.exists():
        shutil.rmtree(base)
    files: list[Path] = []
    files += write_md(m, base / "md")
    files += write_md_nokelf(m, base / "md-nokelf")
    files.append(write_rawdump(m, base))
    files += write_ram(m, base / "ram")
    files.append(write_item602(m, base))
    files.append(write_expected(m, base))
    files.append(write_provenance(m, out, files))
    return files


# ---------------------------------------------------------------------------
# self-test


def _parse_elf(core: bytes) -> tuple[Any, list[Any]]:
    eh = ES.Elf_Ehdr.parse(core[:64])
    ph = [ES.Elf_Phdr.parse(core[eh.e_phoff + i * 56:eh.e_phoff + (i + 1) * 56]) for i in range(eh.e_phnum)]
    return eh, ph


def assemble_core(md_dir: str | Path) -> bytes:
    """Concatenate md_KELF1.BIN, md_Kvmcorein2.BIN and the PT_LOAD payloads in p_offset order.

    Blobs are matched to PT_LOADs by p_paddr through the Sahara table (qdl's rule).
    """
    d = Path(md_dir)
    kelf = (d / "md_KELF1.BIN").read_bytes()
    core = bytearray(kelf + (d / "md_Kvmcorein2.BIN").read_bytes())
    table = (d / "sahara_table.bin").read_bytes()
    by_pa = {}
    for i in range(0, len(table), 64):
        e = qmd.sahara_debug_region64.parse(table[i:i + 64])
        by_pa[e.addr] = d / e.filename.rstrip(b"\0").decode()
    _, ph = _parse_elf(kelf)
    for p in sorted((p for p in ph if p.p_type == PT.LOAD), key=lambda p: p.p_offset):
        assert p.p_offset == len(core), "PT_LOAD offsets are not contiguous"
        blob = by_pa[p.p_paddr].read_bytes()
        assert len(blob) == p.p_filesz
        core += blob
    return bytes(core)


def _read_ram(images: list[tuple[int, bytes]], pa: int, n: int) -> bytes:
    for base, data in images:
        if base <= pa and pa + n <= base + len(data):
            return data[pa - base:pa - base + n]
    raise KeyError(f"PA {pa:#x}+{n:#x} not in any RAM image")


def selftest(outdir: str | Path, *, use_drgn: bool = True, use_readelf: bool = True) -> list[str]:
    """Check the generated sample set against the model; returns a list of findings (raises on error)."""
    out = Path(outdir)
    base = out / SAMPLE_SET if (out / SAMPLE_SET).exists() else out
    exp = json.loads((base / "expected.json").read_text())
    notes: list[str] = []
    regions = {r["id"]: r for r in exp["regions"]}

    # 1. md: every blob has the expected hash; the concatenation is a valid core
    md = base / "md"
    for r in exp["regions"]:
        assert sha256((md / r["file"]).read_bytes()) == r["sha256"], r["file"]
    core = assemble_core(md)
    eh, ph = _parse_elf(core)
    assert eh.e_type == ET.CORE and eh.e_machine == EM.AARCH64 and eh.e_phoff == 64
    assert ph[0].p_type == PT.NOTE and ph[0].p_memsz == 0
    loads = [p for p in ph if p.p_type == PT.LOAD]
    assert len(core) == max(p.p_offset + p.p_filesz for p in loads) == exp["kelf"]["core_size"]
    order = []
    for p in loads:
        r = next(r for r in exp["regions"] if int(r["pa"], 16) == p.p_paddr)
        order.append(r["id"])
        assert int(r["va"], 16) == p.p_vaddr and r["size"] == p.p_filesz == p.p_memsz
        assert sha256(core[p.p_offset:p.p_offset + p.p_filesz]) == r["sha256"], r["id"]
    assert order == exp["kelf"]["pt_load_order"]
    if exp["model"]["late_registration"]:
        assert order[-1] < max(order), "the late registration must sit at the end with a reused low id"
    # notes
    pos, end = ph[0].p_offset, ph[0].p_offset + ph[0].p_filesz
    found = {}
    while pos < end:
        n = ES.Elf_Note.parse(core[pos:end])
        found[(n.name, n.n_type)] = n.desc
        pos += 12 + align4(n.n_namesz) + align4(n.n_descsz)
    assert found[(b"VMCOREINFO\0", 0)].rstrip(b"\0").decode() == exp["vmcoreinfo"]
    assert found[(b"CORE\0", NT.PRSTATUS)] == bytes(ELF_PRSTATUS_SIZE_ARM64)
    # dmesg through the VMCOREINFO offsets, reading the core by virtual address
    segs = [(p.p_vaddr, core[p.p_offset:p.p_offset + p.p_filesz]) for p in loads]

    def read(va: int, n: int) -> bytes:
        for vb, data in segs:
            if vb <= va and va + n <= vb + len(data):
                return data[va - vb:va - vb + n]
        raise KeyError(hex(va))
    lines = [format_dmesg_line(ts, t) for ts, t in read_printk_ring(read, parse_vmcoreinfo(exp["vmcoreinfo"]))]
    assert lines == exp["dmesg"]
    notes.append(f"core: {len(core)} bytes, {len(loads)} PT_LOADs, {len(lines)} dmesg lines")

    # 2. md-nokelf
    nok = base / "md-nokelf"
    assert not (nok / "md_KELF1.BIN").exists()
    assert (nok / "sahara_table.bin").read_bytes() == (md / "sahara_table.bin").read_bytes()
    for f in md.iterdir():
        if f.name != "md_KELF1.BIN":
            assert (nok / f.name).read_bytes() == f.read_bytes()

    # 3. rawdump
    img = (base / "rawdump.img").read_bytes()
    hdr = qmd.raw_dump_header.parse(img)
    assert hdr.dump_size == len(img) and hdr.validity_flag == 1
    table = (md / "sahara_table.bin").read_bytes()
    for i in range(hdr.sections_count):
        s = qmd.raw_dump_section_header.parse(img[56 + 64 * i:56 + 64 * (i + 1)])
        e = qmd.sahara_debug_region64.parse(table[64 * i:64 * (i + 1)])
        assert s.section_name == e.filename and s.section_info.base_addr == e.addr
        assert s.section_type == (3 if s.section_size < 0x1000 else 1)
        fname = s.section_name.rstrip(b"\0").decode()
        assert img[s.section_offset:s.section_offset + s.section_size] == (md / fname).read_bytes()

    # 4. SMEM chain through the RAM images
    ram = base / "ram"
    images = []
    for line in (ram / "MEMORY.txt").read_text().split():
        name, pa = line.split("@")
        images.append((int(pa, 16), (ram / name).read_bytes()))
    smem_base, smem_size = int(exp["smem"]["base"], 16), int(exp["smem"]["size"], 16)
    h = qmd.smem_header.parse(_read_ram(images, smem_base, qmd.smem_header.sizeof()))
    assert h.initialized == 1 and h.reserved == 0 and h.version[7] >> 16 == 12
    tpa = smem_base + smem_size - 0x1000
    pt = qmd.smem_ptable.parse(_read_ram(images, tpa, 32))
    assert pt.magic == b"$TOC" and pt.version == 1
    ents = [qmd.smem_ptable_entry.parse(_read_ram(images, tpa + 32 + 48 * i, 48)) for i in range(pt.num_entries)]
    info = qmd.smem_info.parse(_read_ram(images, tpa + 32 + 48 * pt.num_entries, 20))
    assert info.magic == b"SIII" and info.base_addr == smem_base and info.size == smem_size
    assert info.num_items > 602
    g = next(e for e in ents if e.host0 == e.host1 == 0xFFFE and e.offset and e.size)
    ppa = smem_base + g.offset
    phdr = qmd.smem_partition_header.parse(_read_ram(images, ppa, 32))
    assert phdr.magic == b"$PRT" and phdr.size == g.size and h.free_offset == g.offset
    e = 32
    item_pa = item_len = None
    while e < phdr.offset_free_uncached:
        it = qmd.smem_private_entry.parse(_read_ram(images, ppa + e, 16))
        assert it.canary == 0xA5A5
        if it.item == 602:
            item_pa, item_len = ppa + e + 16 + it.padding_hdr, it.size - it.padding_data
            break
        e += 16 + it.padding_hdr + it.size
    assert item_pa == int(exp["smem"]["item602_pa"], 16)
    toc_raw = _read_ram(images, item_pa, item_len)
    assert toc_raw == (base / "item602.bin").read_bytes()
    toc = qmd.minidump_global_toc((item_len - 16) // 32).parse(toc_raw)
    slot = toc.subsystems[0]
    assert slot.status == 1 and slot.enabled == qmd.MD.SS_ENABLED
    arr = _read_ram(images, slot.regions_baseptr, 40 * slot.region_count)
    seen = []
    for i in range(slot.region_count):
        reg = qmd.minidump_region.parse(arr[40 * i:40 * (i + 1)])
        r = regions[reg.seq_num]
        assert reg.valid == qmd.MD.REGION_VALID and reg.name.rstrip(b"\0").decode() == r["name"]
        assert reg.address == int(r["pa"], 16) and reg.size == r["size"]
        assert sha256(_read_ram(images, reg.address, reg.size)) == r["sha256"]
        seen.append(reg.seq_num)
    assert seen == exp["smem_order"]
    adsp = toc.subsystems[5]
    assert adsp.status == qmd.MD.SS_TOC_MAGIC and adsp.region_count == 2
    # inspect_entries[] in RAM
    ie = exp["inspect_entries"]
    raw = _read_ram(images, int(ie["pa"], 16), ie["count"] * ie["entry_size"])
    for mid, r in regions.items():
        ent = INSPECT_ENTRY.parse(raw[40 * mid:40 * (mid + 1)])
        assert ent.id == mid and ent.pa == int(r["pa"], 16) and ent.size == r["raw_size"]
    notes.append(f"smem chain ok: item 602 at {item_pa:#x}, {slot.region_count} APSS regions")

    # 5. external tools
    if use_readelf and shutil.which("readelf"):
        res = subprocess.run(["readelf", "-lnW", str(md / "md_KELF1.BIN")], capture_output=True, text=True)
        assert res.stdout.count(" LOAD ") == len(loads) and " NOTE " in res.stdout, res.stdout + res.stderr
        import tempfile
        with tempfile.NamedTemporaryFile(suffix=".vmcore") as tmp:
            tmp.write(core)
            tmp.flush()
            res = subprocess.run(["readelf", "-lnW", tmp.name], capture_output=True, text=True)
        assert "VMCOREINFO" in res.stdout and "NT_PRPSINFO" in res.stdout and not res.stderr, \
            res.stdout + res.stderr
        notes.append("readelf -lnW: md_KELF1.BIN phdrs parse; the assembled core's notes parse")
    if use_drgn:
        try:
            import drgn  # type: ignore
        except ImportError:
            notes.append("drgn not installed: skipped")
        else:
            import tempfile
            with tempfile.NamedTemporaryFile(suffix=".vmcore") as tmp:
                tmp.write(core)
                tmp.flush()
                prog = drgn.Program()
                prog.set_core_dump(tmp.name)
                assert prog.flags & drgn.ProgramFlags.IS_LINUX_KERNEL
                banner = exp["model"]["banner"].encode()
                got = prog.read(int(exp["symbols"]["linux_banner"], 16), len(banner))
                assert got == banner, got
                notes.append("drgn: opened the assembled core, read linux_banner by VA")
    return notes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="samples", help="output directory (default: samples)")
    ap.add_argument("--check", action="store_true", help="run selftest() after generating")
    args = ap.parse_args(argv)
    out = Path(args.out)
    files = generate(out)
    for p in sorted(files, key=lambda p: p.as_posix()):
        print(f"{sha256(p.read_bytes())}  {p.as_posix()}")
    if args.check:
        for note in selftest(out):
            print("selftest:", note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
