"""The streaming vmcore writer: the planned header, then each payload, with a bounded buffer.

Payloads go through ``os.copy_file_range`` (an in-kernel copy, as cat does)
when the output is a real file, else a 1 MiB ``readinto`` loop; the caller
(:meth:`minidump.capture.Capture.write_vmcore`) writes to a temporary file and
renames it into place.
"""

from __future__ import annotations

import io
import os
import stat
from typing import BinaryIO, Callable

from minidump.errors import TruncatedError
from minidump.files import CHUNK
from minidump.model import Payload
from minidump.vmcore.plan import Plan

COPY_STEP = 8 * CHUNK  # in-kernel copy unit; also the progress granularity


def write_vmcore(plan: Plan, out: BinaryIO, progress: Callable[[int], None] | None = None) -> None:
    """Stream the planned bytes to ``out`` with a bounded buffer.

    Payloads go through ``os.copy_file_range`` (an in-kernel copy, as cat
    does) when ``out`` is a real file, else a 1 MiB ``readinto`` loop.
    """
    out.write(plan.header)
    fd = _real_fd(out)
    buffer = None
    for load in plan.loads:
        payload = load.payload
        with open(payload.path, "rb") as src:
            done = _kernel_copy(src.fileno(), fd, payload.offset, load.size, progress) if fd else 0
            if done < load.size:
                if buffer is None:
                    buffer = memoryview(bytearray(CHUNK))
                _buffered_copy(src, out, payload, done, load.size, buffer, progress)
    if fd is not None:
        out.seek(0, os.SEEK_END)
    out.write(plan.trailer)


def _real_fd(out: BinaryIO) -> int | None:
    try:
        fd = out.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None
    out.flush()
    return fd if stat.S_ISREG(os.fstat(fd).st_mode) else None


def _kernel_copy(src: int, dst: int, offset: int, size: int, progress) -> int:
    """Copy in the kernel; returns how many bytes it managed (0 if unsupported)."""
    done = 0
    while done < size:
        try:
            n = os.copy_file_range(src, dst, min(COPY_STEP, size - done), offset + done)
        except OSError:
            return done
        if n == 0:
            return done
        done += n
        if progress:
            progress(n)
    return done


def _buffered_copy(src, out: BinaryIO, payload: Payload, start: int, size: int,
                   buffer: memoryview, progress) -> None:
    src.seek(payload.offset + start)
    left = size - start
    while left:
        got = src.readinto(buffer[:min(CHUNK, left)])
        if not got:
            raise TruncatedError(f"file ended {left:#x} bytes early (changed while reading?)",
                                 path=payload.path, offset=payload.offset + size - left,
                                 field="payload")
        out.write(buffer[:got])
        left -= got
        if progress:
            progress(got)
