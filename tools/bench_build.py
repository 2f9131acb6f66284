"""Benchmark input for ``minidump build``: 201 region blobs totalling >= 256 MiB.

Writes a directory the way qdl/QPST leave one -- ``md_*.BIN`` blobs, a Sahara
memory-debug table giving each its address, and the VMCOREINFO blob -- with
a mix of region sizes (one large log-like buffer, a few MiB-sized ones and
many small ones).  The baseline it is measured against is the physical limit
of the job, ``cat md_*.BIN > out``.

    python tools/bench_build.py /tmp/bench-md            # make the input
    /usr/bin/time -v minidump build --from-table /tmp/bench-md -o /tmp/out.vmcore
    /usr/bin/time -v sh -c 'cat /tmp/bench-md/md_*.BIN > /tmp/out.cat'
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from builders.blobs import MIB, make_input  # noqa: E402  (the builder the tests use too)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory")
    parser.add_argument("--count", type=int, default=201)
    parser.add_argument("--total-mib", type=int, default=256)
    args = parser.parse_args()
    n = make_input(args.directory, count=args.count, total=args.total_mib * MIB)
    print(f"{args.count} regions, {n / MIB:.1f} MiB in {args.directory}")


if __name__ == "__main__":
    main()
