"""A md_*.BIN directory of many region blobs, the way qdl/QPST leave one.

``md_*.BIN`` blobs, a Sahara memory-debug table giving each its address, and
the VMCOREINFO blob, with a mix of region sizes (one large log-like buffer, a
few MiB-sized ones and many small ones): the input of the build benchmark
(``tools/bench_build.py``) and of the interrupt tests.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from minidump.formats.qcom_minidump import sahara_debug_region64

MIB = 1 << 20
PHYS_BASE = 0x80000000

VMCOREINFO = (
    "OSRELEASE=6.18.0-bench\nPAGESIZE=4096\nSYMBOL(swapper_pg_dir)=ffff800081a2b000\n"
    "SYMBOL(_stext)=ffff800080010000\nNUMBER(VA_BITS)=48\n"
    "NUMBER(kimage_voffset)=0xffff7fff80000000\nNUMBER(PHYS_OFFSET)=0x80000000\n"
    "NUMBER(TCR_EL1_T1SZ)=0x10\nKERNELOFFSET=0\n"
)


def region_sizes(count: int, total: int, seed: int = 201) -> list[int]:
    """One region of total/2, four of total/16, the rest small; sums to >= total."""
    rng = random.Random(seed)
    sizes = [total // 2] + [total // 16] * 4
    small = count - len(sizes)
    left = total - sum(sizes)
    sizes += [max(8, (left // small) // 4 * 4 + rng.randrange(0, 64, 4)) for _ in range(small)]
    return sizes


def make_input(directory: str | Path, *, count: int = 201, total: int = 256 * MIB) -> int:
    """Write the blobs and the table; returns the number of payload bytes."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    rows, pa, written = [], PHYS_BASE, 0
    block = os.urandom(MIB)
    blobs = [("KVMCOREINFO", VMCOREINFO.encode())] + [(f"KREGION{i:03d}", None)
                                                      for i in range(count)]
    sizes = [len(VMCOREINFO)] + region_sizes(count, total)
    for (name, data), size in zip(blobs, sizes):
        filename = f"md_{name}.BIN"
        with open(out / filename, "wb") as fh:
            if data is not None:
                fh.write(data)
            else:
                left = size
                while left:
                    n = min(left, MIB)
                    fh.write(block[:n])
                    left -= n
        rows.append(sahara_debug_region64.build(dict(
            type=0, addr=pa, length=size, region=f"md_{name}".encode().ljust(20, b"\0"),
            filename=filename.encode().ljust(20, b"\0"))))
        pa += (size + 0xFFF) & ~0xFFF
        written += size
    (out / "sahara_table.bin").write_bytes(b"".join(rows))
    return written
