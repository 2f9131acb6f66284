"""The kernel log from memory, using VMCOREINFO only (no vmlinux).

Three layouts, newest first, chosen by the keys the kernel exported:

- lockless ring buffer (5.10+): ``kernel/printk/printk_ringbuffer.h``
  (``struct printk_ringbuffer``, ``prb_desc_ring``, ``prb_data_ring``,
  ``prb_desc``, ``printk_info``), exported by ``log_buf_vmcoreinfo_setup`` in
  ``kernel/printk/printk.c``;
- structured ``log_buf`` (3.5 to 5.9): ``struct printk_log`` records (``struct
  log`` before 3.11) between ``log_first_idx`` and ``log_next_idx``;
- plain character ring (before 3.5): ``log_buf``/``log_end``/``log_buf_len``.

The walk and the text layout follow makedumpfile's ``printk.c:dump_record``
and ``makedumpfile.c:dump_log_entry`` so the output equals
``makedumpfile --dump-dmesg``: ``[%5lu.%06lu] `` then the text, a newline
inside a record continues under the prefix, bytes that are neither printable
nor white space become ``\\xNN``.  Records that are reserved, reusable or
data-less are skipped, as makedumpfile and vmcore-dmesg do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from minidump.errors import FormatError
from minidump.kernel.memory import FaultError
from minidump.kernel.translate import kernel_version
from minidump.kernel.vmcoreinfo import VmcoreInfo

#: kernel/printk/printk_ringbuffer.h: enum desc_state
DESC_COMMITTED, DESC_FINALIZED = 1, 2
#: makedumpfile.h PID_CHARS_DEFAULT: width of the caller field, "[    T123] "
CALLER_WIDTH = 8
#: include/linux/printk.h: caller_id bit 31 marks a CPU id, else a task id
CALLER_CPU = 0x80000000
#: a printk structure is a few dozen bytes; a SIZE() beyond this is a corrupt VMCOREINFO
STRUCT_MAX = 1 << 16
#: reads of the log larger than this must be backed by file data, not holes of a sparse file:
#: the walk's cost follows the bytes a capture really holds, not the geometry it claims
SPARSE_CHECK_MIN = 64 << 20
#: kernel/printk/printk.c: log_buf_len is at most 2 GiB (LOG_BUF_LEN_MAX), so neither ring's
#: count_bits / size_bits can exceed 31; larger values are corrupt, not big rings
RING_BITS_MAX = 31
_PLAIN = re.compile(rb"^[\x20-\x7e\t\v\f\r]*$")
_ESCAPE = re.compile(rb"[^\x20-\x7e\t\n\v\f\r]")


class VirtualMemory(Protocol):
    """What the walk needs: bounded reads by kernel virtual address."""

    def read_virt(self, vaddr: int, size: int, what: str = "") -> bytes: ...


@dataclass(frozen=True, slots=True)
class Record:
    """One printk record: ``struct printk_info`` fields and its text.

    ``timestamp_ns`` is ``ts_nsec`` (None for a pre-3.5 plain ring's lines);
    ``level`` the console log level (0 emergency .. 7 debug) where the layout
    gives it; ``caller`` ``"T123"`` (task) or ``"C1"`` (CPU) where the kernel
    records it; ``text`` is what dmesg shows (bytes that are neither printable
    nor white space as ``\\xNN``), ``raw`` the bytes as the kernel stored them.
    ``str(record)`` is the dmesg line, as ``makedumpfile --dump-dmesg`` writes it.
    """

    seq: int | None
    timestamp_ns: int | None
    level: int | None
    caller: str | None
    raw: bytes
    caller_id: int | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        return _escaped(self.raw).decode("ascii")

    def __str__(self) -> str:
        return format_record(self).decode("ascii").rstrip("\n")


def make_record(ts_nsec: int | None, raw: bytes, caller_id: int | None = None,
                seq: int | None = None, level: int | None = None) -> Record:
    """A :class:`Record` from the kernel's fields (``caller_id`` as ``printk_info`` holds it)."""
    caller = None
    if caller_id is not None:
        caller = f"{'C' if caller_id & CALLER_CPU else 'T'}{caller_id & ~CALLER_CPU}"
    return Record(seq, ts_nsec, level, caller, raw, caller_id)


@dataclass(frozen=True, slots=True)
class RingRegion:
    """Memory the lockless log needs: ``size`` bytes at kernel virtual address ``vaddr``."""

    name: str
    vaddr: int
    size: int


@dataclass(frozen=True, slots=True)
class KernelLog:
    """The recovered log: ``kind`` is lockless, structured or plain.

    ``plain`` holds the raw characters of a pre-3.5 ring, which has no records.
    """

    kind: str
    records: tuple[Record, ...] = ()
    plain: bytes = b""

    def text(self, *, caller: bool = False) -> bytes:
        """The log as makedumpfile writes it; ``caller`` adds ``[    T123] `` (makedumpfile 1.7.5+)."""
        if self.kind == "plain":
            return self.plain
        return b"".join(format_record(r, caller=caller) for r in self.records)

    def as_records(self) -> list[Record]:
        """The records; a plain ring's lines as records without timestamps."""
        if self.kind != "plain":
            return list(self.records)
        return [Record(None, None, None, None, line) for line in self.plain.splitlines()]


def _escaped(text: bytes) -> bytes:
    if _PLAIN.match(text):
        return text
    return _ESCAPE.sub(lambda m: b"\\x%02x" % m.group()[0], text)


def format_record(record: Record, *, caller: bool = False) -> bytes:
    """``[%5lu.%06lu] text\\n`` (makedumpfile ``dump_record``)."""
    if record.timestamp_ns is None:
        return _escaped(record.raw) + b"\n"
    seconds, rem = divmod(record.timestamp_ns, 1_000_000_000)
    prefix = f"[{seconds:5d}.{rem // 1000:06d}] "
    if caller and record.caller is not None:
        prefix += f"[{record.caller:>{CALLER_WIDTH}}] "
    text = record.raw
    if not _PLAIN.match(text):
        text = _escaped(text).replace(b"\n", b"\n" + b" " * len(prefix))
    return prefix.encode() + text + b"\n"


class _Keys:
    """VMCOREINFO keys read with a located error when one is missing."""

    def __init__(self, info: VmcoreInfo) -> None:
        self.info = info

    def _need(self, value: int | None, key: str) -> int:
        if value is None:
            raise FormatError(f"VMCOREINFO has no {key}; cannot find the kernel log",
                              path=self.info.path, field="VMCOREINFO")
        return value

    def symbol(self, name: str) -> int:
        return self._need(self.info.symbol(name), f"SYMBOL({name})")

    def size(self, name: str) -> int:
        value = self._need(self.info.size(name), f"SIZE({name})")
        if not 0 < value <= STRUCT_MAX:
            raise FormatError(f"SIZE({name})={value} is not a structure size (1..{STRUCT_MAX})",
                              path=self.info.path, field="VMCOREINFO")
        return value

    def offset(self, name: str) -> int:
        return self._need(self.info.offset(name), f"OFFSET({name})")


def log_kind(info: VmcoreInfo) -> str | None:
    """Which layout the VMCOREINFO describes (makedumpfile's order), or None."""
    if info.symbol("prb") is not None:
        return "lockless"
    if info.symbol("log_buf") is None or info.symbol("log_buf_len") is None:
        return None
    return "plain" if info.symbol("log_end") is not None else "structured"


def read_log(mem: VirtualMemory, info: VmcoreInfo, *, bits: int = 64, little: bool = True,
             partial: bool = False) -> KernelLog:
    """Recover the kernel log.

    ``mem`` reads kernel virtual addresses; ``info`` is the
    :class:`~minidump.kernel.vmcoreinfo.VmcoreInfo`; ``bits``/``little`` are the
    word size and byte order of the dumped kernel; ``partial`` starts at
    ``clear_seq``/``clear_idx`` (``dmesg -c`` semantics, makedumpfile
    ``--partial-dmesg``).
    """
    kind = log_kind(info)
    reader = _Reader(mem, _Keys(info), bits, little)
    if kind == "lockless":
        return KernelLog(kind, tuple(reader.lockless(partial)))
    if kind == "structured":
        return KernelLog(kind, tuple(reader.structured(partial)))
    if kind == "plain":
        return KernelLog(kind, plain=reader.plain(info.osrelease))
    raise FormatError("VMCOREINFO has neither SYMBOL(prb) (5.10+) nor SYMBOL(log_buf) and "
                      "SYMBOL(log_buf_len); cannot find the kernel log", path=info.path,
                      field="VMCOREINFO")


def ring_regions(mem: VirtualMemory, info: VmcoreInfo, *, bits: int = 64,
                 little: bool = True) -> list[RingRegion]:
    """The lockless ring's regions (reads the ``prb`` pointer and the ring struct)."""
    return _Reader(mem, _Keys(info), bits, little).ring()[1]


#: printk's larger buffers (setup_log_buf: log_buf_len= or the per-CPU rule), named by the
#: pointer of ``printk_rb_dynamic`` that leads to each, in :func:`ring_regions` order
DYNAMIC_BUFFERS = ("printk_rb_dynamic.desc_ring.descs", "printk_rb_dynamic.desc_ring.infos",
                   "printk_rb_dynamic.text_data_ring.data")


def dynamic_buffers(mem: VirtualMemory, info: VmcoreInfo, *, bits: int = 64,
                    little: bool = True) -> list[tuple[str, RingRegion]]:
    """The buffers the log moved to, by name, when ``prb`` points away from
    ``printk_rb_static``; empty when it does not.  Raises as :func:`ring_regions` does."""
    static = info.symbol("printk_rb_static")
    if static is None:
        return []
    regions = ring_regions(mem, info, bits=bits, little=little)
    return [] if regions[1].vaddr == static else list(zip(DYNAMIC_BUFFERS, regions[2:]))


class _Reader:
    """The three walks over one memory and one set of VMCOREINFO keys."""

    def __init__(self, mem: VirtualMemory, keys: _Keys, bits: int, little: bool) -> None:
        self.mem = mem
        self.keys = keys
        self.word_size = bits // 8
        self.order = "little" if little else "big"
        self.id_mask = (1 << (bits - 2)) - 1   # DESC_ID_MASK: all but the two state bits

    def _int(self, buf: bytes, at: int, size: int) -> int:
        return int.from_bytes(buf[at:at + size], self.order)

    def _word(self, buf: bytes, at: int) -> int:
        return self._int(buf, at, self.word_size)

    def level(self, buf: bytes, at: int) -> int | None:
        """``u8 flags:5, level:3`` after ``facility`` (``printk_info``, ``printk_log``): GCC
        allocates bit-fields from the low bit on little-endian targets, the high bit on big."""
        if not 0 <= at < len(buf):
            return None
        return buf[at] >> 5 if self.order == "little" else buf[at] & 7

    def _read(self, vaddr: int, size: int, what: str) -> bytes:
        data_bytes = getattr(self.mem, "data_bytes", None)
        if size > SPARSE_CHECK_MIN and data_bytes is not None:
            held = data_bytes(vaddr, size)
            if held * 2 < size:
                raise FormatError(f"{what} claims {size:#x} bytes at {vaddr:#x}, but the "
                                  f"capture holds data for only {held:#x} of them",
                                  path=self.keys.info.path, field=what)
        try:
            return self.mem.read_virt(vaddr, size, what)
        except FaultError as exc:
            raise FaultError(f"{what} ({size:#x} bytes at {vaddr:#x}) is not in the capture: "
                             f"{exc.problem}", address=exc.address, path=exc.path) from exc

    # -- lockless ring (5.10+) -------------------------------------------------
    def ring(self) -> tuple[bytes, list[RingRegion]]:
        """``struct printk_ringbuffer`` and the four regions the log needs, in read order."""
        k, w = self.keys, self.word_size
        prb = RingRegion("pointer prb", k.symbol("prb"), w)
        rb_region = RingRegion("struct printk_ringbuffer (*prb)",
                               self._word(self._read(prb.vaddr, w, prb.name), 0),
                               k.size("printk_ringbuffer"))
        rb = self._read(rb_region.vaddr, rb_region.size, rb_region.name)
        desc_ring = k.offset("printk_ringbuffer.desc_ring")
        data_ring = k.offset("printk_ringbuffer.text_data_ring")
        count_at = desc_ring + k.offset("prb_desc_ring.count_bits")
        size_at = data_ring + k.offset("prb_data_ring.size_bits")
        for name, at in (("prb_desc_ring.count_bits", count_at),
                         ("prb_data_ring.size_bits", size_at)):
            bits = self._int(rb, at, 4)
            if at + 4 > len(rb) or bits > RING_BITS_MAX:
                raise FormatError(f"{name} is {bits} at {rb_region.vaddr + at:#x}, expected "
                                  f"0..{RING_BITS_MAX} inside struct printk_ringbuffer",
                                  path=self.keys.info.path, field=name)
        count = 1 << self._int(rb, count_at, 4)
        return rb, [prb, rb_region, RingRegion(
            f"prb descriptor ring (prb_desc[{count}])",
            self._word(rb, desc_ring + k.offset("prb_desc_ring.descs")),
            count * k.size("prb_desc")), RingRegion(
            f"prb info ring (printk_info[{count}])",
            self._word(rb, desc_ring + k.offset("prb_desc_ring.infos")),
            count * k.size("printk_info")), RingRegion(
            "prb text data ring", self._word(rb, data_ring + k.offset("prb_data_ring.data")),
            1 << self._int(rb, size_at, 4))]

    def lockless(self, partial: bool) -> list[Record]:
        k = self.keys
        rb, regions = self.ring()
        descs, infos, data = (self._read(r.vaddr, r.size, r.name) for r in regions[2:])
        count = len(descs) // k.size("prb_desc")
        desc_ring = k.offset("printk_ringbuffer.desc_ring")
        counter = k.offset("atomic_long_t.counter")
        # ids live in the low bits (DESC_ID_MASK); masking also keeps a corrupt head reachable
        tail_id = self._word(rb, desc_ring + k.offset("prb_desc_ring.tail_id") + counter) \
            & self.id_mask
        head_id = self._word(rb, desc_ring + k.offset("prb_desc_ring.head_id") + counter) \
            & self.id_mask
        if partial and k.info.symbol("clear_seq") is not None:
            # seq and id share their index (seq % count == id % count): step back from head
            tail_id = (head_id - (head_id - self._clear_seq()) % count) & self.id_mask
        if (head_id - tail_id) & self.id_mask >= count:
            # a ring of count descriptors holds at most count ids; older ones are overwritten
            # (their state_var names a newer id), so starting later loses nothing and bounds
            # the walk when tail_id/head_id are corrupt
            tail_id = (head_id - count + 1) & self.id_mask
        walk = _LocklessWalk(self, descs, infos, data, count)
        records, id_ = [], tail_id
        while True:
            record = walk.record(id_)
            if record is not None:
                records.append(record)
            if id_ == head_id:
                return records
            id_ = (id_ + 1) & self.id_mask

    def _clear_seq(self) -> int:
        k = self.keys
        at = k.symbol("clear_seq")
        raw = self._int(self._read(at, 8, "clear_seq"), 0, 8)
        if k.info.size("latched_seq") is None:
            return raw
        # latched_seq: val[2] read through the latch's low sequence bit
        at += k.offset("latched_seq.val") + (raw & 1) * 8
        return self._int(self._read(at, 8, "clear_seq.val"), 0, 8)

    # -- structured log_buf (3.5 - 5.9) -----------------------------------------
    def _log_struct(self) -> str:
        return "printk_log" if self.keys.info.size("printk_log") is not None else "log"

    def structured(self, partial: bool) -> list[Record]:
        k, info = self.keys, self.keys.info
        name = self._log_struct()
        header = k.size(name)
        ts_at, len_at = k.offset(f"{name}.ts_nsec"), k.offset(f"{name}.len")
        text_len_at = k.offset(f"{name}.text_len")
        caller_at = info.offset(f"{name}.caller_id")
        first_sym = "clear_idx" if partial and info.symbol("clear_idx") is not None \
            else "log_first_idx"
        first = self._int(self._read(k.symbol(first_sym), 4, first_sym), 0, 4)
        next_idx = self._int(self._read(k.symbol("log_next_idx"), 4, "log_next_idx"), 0, 4)
        buf_va = self._word(self._read(k.symbol("log_buf"), self.word_size, "pointer log_buf"), 0)
        size = self._int(self._read(k.symbol("log_buf_len"), 4, "log_buf_len"), 0, 4)
        buf = self._read(buf_va, size, "log_buf")
        records, idx, seen = [], first, set()
        while idx != next_idx:
            if idx in seen or idx + header > size:
                raise FormatError(f"log_buf record index {idx:#x} loops or runs past "
                                  f"log_buf_len {size:#x}", path=info.path, field="log_buf")
            seen.add(idx)
            if self._int(buf, idx + len_at, 2) == 0:   # end-of-buffer marker: wrap
                idx = 0
                continue
            text_len = self._int(buf, idx + text_len_at, 2)
            records.append(make_record(
                self._int(buf, idx + ts_at, 8), buf[idx + header:idx + header + text_len],
                None if caller_at is None else self._int(buf, idx + caller_at, 4),
                level=self.level(buf, idx + text_len_at + 5)))
            idx += self._int(buf, idx + len_at, 2)
        return records

    # -- plain character ring (before 3.5) --------------------------------------
    def plain(self, release: str | None) -> bytes:
        k = self.keys
        # log_end: unsigned long up to 2.6.24, unsigned int from 2.6.25
        width = 4 if kernel_version(release) >= (2, 6, 25) else self.word_size
        log_end = self._int(self._read(k.symbol("log_end"), width, "log_end"), 0, width)
        buf_va = self._word(self._read(k.symbol("log_buf"), self.word_size, "pointer log_buf"), 0)
        size = self._int(self._read(k.symbol("log_buf_len"), 4, "log_buf_len"), 0, 4)
        if log_end < size:
            return self._read(buf_va, log_end, "log_buf")
        index = log_end & (size - 1)
        return self._read(buf_va + index, size - index, "log_buf") + \
            self._read(buf_va, index, "log_buf")


class _LocklessWalk:
    """Per-record decoding of the three lockless arrays (makedumpfile ``dump_record``)."""

    def __init__(self, reader: _Reader, descs: bytes, infos: bytes, data: bytes,
                 count: int) -> None:
        k = reader.keys
        self.r, self.descs, self.infos, self.data, self.count = reader, descs, infos, data, count
        counter = k.offset("atomic_long_t.counter")
        self.desc_size, self.info_size = k.size("prb_desc"), k.size("printk_info")
        self.state_at = k.offset("prb_desc.state_var") + counter
        lpos = k.offset("prb_desc.text_blk_lpos")
        self.begin_at = lpos + k.offset("prb_data_blk_lpos.begin")
        self.next_at = lpos + k.offset("prb_data_blk_lpos.next")
        self.ts_at = k.offset("printk_info.ts_nsec")
        self.len_at = k.offset("printk_info.text_len")
        self.caller_at = k.info.offset("printk_info.caller_id")
        self.seq_at = k.info.offset("printk_info.seq")
        self.state_shift = reader.word_size * 8 - 2

    def record(self, id_: int) -> Record | None:
        r, size = self.r, len(self.data)
        d = (id_ % self.count) * self.desc_size
        state_var = r._word(self.descs, d + self.state_at)
        if state_var & r.id_mask != id_ or (state_var >> self.state_shift) & 3 not in (
                DESC_COMMITTED, DESC_FINALIZED):
            return None
        begin = r._word(self.descs, d + self.begin_at) % size
        next_ = r._word(self.descs, d + self.next_at) % size
        if begin == next_:          # data-less record (FAILED_LPOS / EMPTY_LINE_LPOS)
            return None
        i = (id_ % self.count) * self.info_size
        text_len = r._int(self.infos, i + self.len_at, 2)
        if begin > next_:           # the block wrapped: its data starts at index 0
            begin = 0
        begin += r.word_size        # skip the block's descriptor id
        text_len = max(0, min(text_len, next_ - begin))
        return make_record(r._int(self.infos, i + self.ts_at, 8),
                           self.data[begin:begin + text_len],
                           None if self.caller_at is None else r._int(self.infos,
                                                                      i + self.caller_at, 4),
                           None if self.seq_at is None else r._int(self.infos, i + self.seq_at, 8),
                           r.level(self.infos, i + self.len_at + 3))
