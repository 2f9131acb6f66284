"""The printk walks against rings built the kernel's way and the sample's expected log."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from minidump.errors import FormatError
from minidump.errors import FaultError
from minidump.kernel.printk import KernelLog, format_record, make_record, read_log
from minidump.kernel.vmcoreinfo import VmcoreInfo
from builders.printk import (EMPTY_LINE_LPOS, FAILED_LPOS, RESERVED, DictMemory, LocklessRing)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "arm64-meminspect"
BASE = 0xFFFF800081000000


def _log(ring: LocklessRing, **kw) -> KernelLog:
    chunks, keys = ring.memory(BASE)
    return read_log(DictMemory(chunks), VmcoreInfo(keys.encode()), **kw)


def test_wrapped_blocks_reused_and_unfinished_descriptors():
    ring = LocklessRing(count_bits=2, size_bits=7)
    for i in range(3):                       # overwritten: their descriptors are reused below
        ring.add(f"old {i}".encode(), i * 1000)
    ring.add(b"alpha line", 1_500_000_000)
    ring.add(b"beta", 2_000_001_000, caller=0x80000003)
    ring.add(b"gamma wraps", 3_000_000_000)  # this block straddles the ring end: stored at 0
    ring.add(b"in flight", 4_000_000_000, state=RESERVED)   # head, not yet committed
    log = _log(ring)
    assert [r.raw for r in log.records] == [b"alpha line", b"beta", b"gamma wraps"]
    assert log.text() == (b"[    1.500000] alpha line\n[    2.000001] beta\n"
                          b"[    3.000000] gamma wraps\n")
    assert log.text(caller=True).splitlines()[1] == b"[    2.000001] [      C3] beta"


def test_wrap_really_happened():
    ring = LocklessRing(count_bits=2, size_bits=7)
    for text in (b"x" * 30, b"y" * 30, b"z" * 30, b"w" * 30):
        ring.add(text, 1)
    _sv, begin, next_ = ring.descs[ring.head_id % ring.count]
    assert begin % 128 > next_ % 128          # the last block wrapped to index 0
    assert _log(ring).records[-1].raw == b"w" * 30


def test_reusable_tail_and_dataless_records_are_skipped():
    ring = LocklessRing(count_bits=3, size_bits=8)
    ring.add(b"will be reused", 1)
    ring.add(b"", 2, dataless=FAILED_LPOS)
    ring.add(b"", 3, dataless=EMPTY_LINE_LPOS)
    ring.add(b"kept", 4)
    for _ in range(4):
        ring.add(b"filler", 5)
    ring.reuse_tail()
    texts = [r.raw for r in _log(ring).records]
    assert texts == [b"kept"] + [b"filler"] * 4


def test_escapes_and_continuation_lines():
    record = make_record(12_345_678_901, b"first\nsecond\x01\x7f\xe2\ttab")
    assert format_record(record) == (b"[   12.345678] first\n               second\\x01\\x7f"
                                     b"\\xe2\ttab\n")


def test_partial_starts_at_clear_seq():
    ring = LocklessRing(count_bits=3, size_bits=9)
    for i in range(5):
        ring.add(f"line {i}".encode(), i)
    chunks, keys = ring.memory(BASE)
    clear_va = BASE + 0x10000
    clear_seq = (ring.first_id + 3) & ((1 << 62) - 1)         # the 4th record's seq
    chunks[clear_va] = struct.pack("<QQQ", 0, clear_seq, 0)   # latched_seq {seq, val[2]}
    keys += f"SYMBOL(clear_seq)={clear_va:x}\nSIZE(latched_seq)=24\nOFFSET(latched_seq.val)=8\n"
    log = read_log(DictMemory(chunks), VmcoreInfo(keys.encode()), partial=True)
    assert [r.raw for r in log.records] == [b"line 3", b"line 4"]


def test_missing_ring_memory_names_the_region():
    ring = LocklessRing()
    ring.add(b"hello", 1)
    chunks, keys = ring.memory(BASE)
    data_va = max(chunks)
    del chunks[data_va]
    with pytest.raises(FaultError) as exc:
        read_log(DictMemory(chunks), VmcoreInfo(keys.encode()))
    assert f"prb text data ring (0x80 bytes at {data_va:#x}) is not in the capture" in str(exc.value)


def test_structured_log_buf_wraps_at_zero_length_record():
    def record(text: bytes, ts: int) -> bytes:
        size = (16 + len(text) + 7) & ~7
        return struct.pack("<QHHHBB", ts, size, len(text), 0, 0, 0) + text + bytes(
            size - 16 - len(text))
    buf = bytearray(128)
    first = record(b"newest", 3)
    buf[0:len(first)] = first
    tail = record(b"older", 1) + record(b"old2", 2)
    start = 128 - len(tail) - 16
    buf[start:start + len(tail)] = tail                      # then a len == 0 wrap marker
    base = 0xFFFFFFFF81000000
    chunks = {base: struct.pack("<Q", base + 0x100), base + 0x100: bytes(buf),
              base + 0x200: struct.pack("<IIII", 128, start, len(first), 0)}
    keys = (f"OSRELEASE=5.4.0\nSYMBOL(log_buf)={base:x}\nSYMBOL(log_buf_len)={base + 0x200:x}\n"
            f"SYMBOL(log_first_idx)={base + 0x204:x}\nSYMBOL(log_next_idx)={base + 0x208:x}\n"
            "SIZE(printk_log)=16\nOFFSET(printk_log.ts_nsec)=0\nOFFSET(printk_log.len)=8\n"
            "OFFSET(printk_log.text_len)=10\n")
    log = read_log(DictMemory(chunks), VmcoreInfo(keys.encode()))
    assert log.kind == "structured"
    assert [r.raw for r in log.records] == [b"older", b"old2", b"newest"]


def test_plain_ring_linearised():
    base = 0xC0000000
    chunks = {base: struct.pack("<I", base + 0x100), base + 0x100: b"CDEFGHAB",
              base + 0x200: struct.pack("<II", 8, 14)}
    keys = (f"OSRELEASE=3.2.0\nSYMBOL(log_buf)={base:x}\nSYMBOL(log_buf_len)={base + 0x200:x}\n"
            f"SYMBOL(log_end)={base + 0x204:x}\n")
    log = read_log(DictMemory(chunks), VmcoreInfo(keys.encode()), bits=32)
    assert log.kind == "plain" and log.text() == b"ABCDEFGH"


def test_no_log_keys_is_a_clear_error():
    with pytest.raises(FormatError, match="neither SYMBOL\\(prb\\)"):
        read_log(DictMemory({}), VmcoreInfo(b"OSRELEASE=6.1\n"))


@pytest.mark.skipif(not (SAMPLE / "expected.json").exists(), reason="samples not generated")
def test_sample_ring_matches_expected(tmp_path):
    from minidump.cli import main
    out = tmp_path / "x.vmcore"
    assert main(["build", "--from-table", str(SAMPLE / "md"), "-o", str(out), "-q"]) == 0
    import minidump
    with minidump.open(out) as capture:
        log = read_log(capture.kernel, capture.vmcoreinfo)
    expected = json.loads((SAMPLE / "expected.json").read_text())["dmesg"]
    assert log.text().decode().splitlines() == expected
