"""Synthetic printk rings and tiny ELF vmcores for the dmesg/info tests.

``LocklessRing`` allocates records the way ``kernel/printk/printk_ringbuffer.c``
does (``desc_reserve`` / ``data_alloc``): ids grow by one and reuse
``descs[id % count]``; a data block that would straddle the end of the data
ring is placed at index 0 with ``next`` counted from the next wrap.  Layouts
are the 64-bit ones of vmcore-consumers.md section d.2.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from minidump.model import Arch, Payload, Region
from minidump.vmcore.plan import plan_vmcore, resolve
from minidump.vmcore.write import write_vmcore

MASK64 = (1 << 64) - 1
ID_MASK = (1 << 62) - 1
COMMITTED, FINALIZED, REUSABLE, RESERVED = 1, 2, 3, 0
FAILED_LPOS, EMPTY_LINE_LPOS = 1, 3

LOCKLESS_KEYS = """\
SIZE(printk_ringbuffer)=88
OFFSET(printk_ringbuffer.desc_ring)=0
OFFSET(printk_ringbuffer.text_data_ring)=48
OFFSET(printk_ringbuffer.fail)=80
SIZE(prb_desc_ring)=48
OFFSET(prb_desc_ring.count_bits)=0
OFFSET(prb_desc_ring.descs)=8
OFFSET(prb_desc_ring.infos)=16
OFFSET(prb_desc_ring.head_id)=24
OFFSET(prb_desc_ring.tail_id)=32
SIZE(prb_desc)=24
OFFSET(prb_desc.state_var)=0
OFFSET(prb_desc.text_blk_lpos)=8
SIZE(prb_data_blk_lpos)=16
OFFSET(prb_data_blk_lpos.begin)=0
OFFSET(prb_data_blk_lpos.next)=8
SIZE(printk_info)=88
OFFSET(printk_info.seq)=0
OFFSET(printk_info.ts_nsec)=8
OFFSET(printk_info.text_len)=16
OFFSET(printk_info.caller_id)=20
OFFSET(printk_info.dev_info)=24
SIZE(prb_data_ring)=32
OFFSET(prb_data_ring.size_bits)=0
OFFSET(prb_data_ring.data)=8
OFFSET(prb_data_ring.head_lpos)=16
OFFSET(prb_data_ring.tail_lpos)=24
SIZE(atomic_long_t)=8
OFFSET(atomic_long_t.counter)=0
"""


@dataclass
class LocklessRing:
    """A lockless printk ring: ``add`` records, then ``memory(base)`` gives its bytes."""

    count_bits: int = 2
    size_bits: int = 7
    first_id: int = ID_MASK - 2          # ids wrap through the 62-bit mask
    descs: dict[int, tuple[int, int, int]] = field(default_factory=dict)   # index -> sv, b, n
    infos: dict[int, tuple[int, int, int, int]] = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)
    head_id: int | None = None
    head_lpos: int = 0
    seq0: int | None = None              # the kernel's first seq (0); None stores the id as seq
    added: int = 0

    def __post_init__(self) -> None:
        self.data = bytearray(1 << self.size_bits)
        # kernel: data ring lpos start at -size (DATA_SIZE); any start works for the walk
        self.head_lpos = 3 << self.size_bits

    @property
    def count(self) -> int:
        return 1 << self.count_bits

    def add(self, text: bytes, ts_nsec: int, *, state: int = FINALIZED, caller: int = 1,
            dataless: int | None = None) -> int:
        """Append one record; ``dataless`` is FAILED_LPOS or EMPTY_LINE_LPOS."""
        id_ = self.first_id if self.head_id is None else (self.head_id + 1) & ID_MASK
        self.head_id = id_
        size = 1 << self.size_bits
        if dataless is not None:
            begin = next_ = dataless
        else:
            block = (8 + len(text) + 7) & ~7
            begin = self.head_lpos
            next_ = begin + block
            at = begin % size
            if begin // size != (next_ - 1) // size:   # would straddle the end: wrap to 0
                next_ = (begin // size + 1) * size + block
                at = 0
            self.data[at:at + 8] = struct.pack("<Q", id_)
            self.data[at + 8:at + 8 + len(text)] = text
            self.head_lpos = next_
        index = id_ % self.count
        self.descs[index] = ((state << 62) | id_, begin, next_)
        seq = id_ if self.seq0 is None else self.seq0 + self.added
        self.added += 1
        self.infos[index] = (seq, ts_nsec, len(text), caller)   # seq % count == id % count
        return id_

    def tail_id(self) -> int:
        return (self.head_id - self.count + 1) & ID_MASK

    def reuse_tail(self) -> None:
        """Mark the oldest live descriptor reusable, as the kernel does when it pushes the tail."""
        index = self.tail_id() % self.count
        sv, b, n = self.descs[index]
        self.descs[index] = ((REUSABLE << 62) | (sv & ID_MASK), b, n)

    def memory(self, base: int) -> tuple[dict[int, bytes], str]:
        """``({vaddr: bytes}, VMCOREINFO keys)`` with prb at ``base``."""
        rb_va, descs_va = base + 0x100, base + 0x1000
        infos_va = descs_va + 24 * self.count
        data_va = infos_va + 88 * self.count
        descs = bytearray(24 * self.count)
        infos = bytearray(88 * self.count)
        for index, (sv, b, n) in self.descs.items():
            struct.pack_into("<QQQ", descs, 24 * index, sv, b & MASK64, n & MASK64)
        for index, (seq, ts, length, caller) in self.infos.items():
            struct.pack_into("<QQHBBI", infos, 88 * index, seq, ts, length, 0, 0, caller)
        rb = struct.pack("<I4xQQQQ8xI4xQQQQ", self.count_bits, descs_va, infos_va,
                         self.head_id, self.tail_id(), self.size_bits, data_va,
                         self.head_lpos, 0, 0)
        keys = f"SYMBOL(prb)={base:x}\n" + LOCKLESS_KEYS
        return {base: struct.pack("<Q", rb_va), rb_va: rb, descs_va: bytes(descs),
                infos_va: bytes(infos), data_va: bytes(self.data)}, keys


class DictMemory:
    """Kernel virtual memory made of a few byte strings (what the walk reads)."""

    def __init__(self, chunks: dict[int, bytes]) -> None:
        self.chunks = chunks

    def read_virt(self, vaddr: int, size: int, what: str = "") -> bytes:
        from minidump.errors import FaultError
        for start, data in self.chunks.items():
            if start <= vaddr and vaddr + size <= start + len(data):
                return data[vaddr - start:vaddr - start + size]
        raise FaultError(f"virtual address {vaddr:#x} is not in the capture", address=vaddr,
                         what=what)


def write_core(path: Path, chunks: dict[int, bytes], vmcoreinfo: bytes | None,
               arch: Arch = Arch(183), paddr_base: int = 0x80000000, notes=()) -> Path:
    """A vmcore with one PT_LOAD per chunk (p_vaddr = the chunk's address), via our writer."""
    blobs = path.with_suffix(".blobs")
    regions, offset, data = [], 0, bytearray()
    for i, (vaddr, chunk) in enumerate(sorted(chunks.items())):
        regions.append(Region(i + 1, f"chunk{i}", paddr=paddr_base + (i << 20), vaddr=vaddr,
                              size=len(chunk), source="test",
                              payload=Payload(str(blobs), offset, len(chunk))))
        data += chunk
        offset += len(chunk)
    blobs.write_bytes(bytes(data))
    plan = plan_vmcore(resolve(regions), vmcoreinfo, list(notes), arch)
    with open(path, "wb") as out:
        write_vmcore(plan, out)
    return path
