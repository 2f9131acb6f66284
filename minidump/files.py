"""Files: bounded reads, small side files, and the atomic output file.

Every read of a capture goes through :func:`read_at`, which checks the size
against the file before it allocates and names the file and offset when it
cannot read."""

from __future__ import annotations

import io
import os
import stat
from contextlib import contextmanager
from typing import BinaryIO, Iterator

from minidump.errors import FormatError, TruncatedError, UsageError

CHUNK = 1 << 20  # streaming copy unit (STYLE.md section 9: 1 MiB readinto is fastest, flat RSS)


def read_at(fh: BinaryIO, offset: int, size: int, *, path: str | None = None,
            what: str | None = None) -> bytes:
    """Read exactly ``size`` bytes at ``offset`` or raise a located TruncatedError."""
    if offset < 0 or size < 0:
        raise TruncatedError("negative offset or size", path=path, offset=max(offset, 0), field=what)
    length = _length(fh)
    if offset + size > length:
        # checked before reading: a size field from the file must not size the allocation
        raise TruncatedError(f"truncated: need {size:#x} bytes, file has "
                             f"{max(0, min(size, length - offset)):#x} here",
                             path=path, offset=offset, field=what)
    fh.seek(offset)
    data = fh.read(size)
    if len(data) != size:
        raise TruncatedError(f"truncated: need {size:#x} bytes, file has {len(data):#x} here",
                             path=path, offset=offset, field=what)
    return data


def _length(fh: BinaryIO) -> int:
    """Size of the file behind ``fh`` (a real file or an in-memory stream)."""
    try:
        status = os.fstat(fh.fileno())
        if stat.S_ISREG(status.st_mode):
            return status.st_size
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        pass
    here = fh.tell()   # block devices (a Raw_Dmp! partition) and in-memory streams
    end = fh.seek(0, os.SEEK_END)
    fh.seek(here)
    return end


def read_small(path: str, limit: int, what: str) -> bytes:
    """A whole side file (table, VMCOREINFO text) that has no business being big."""
    size = os.stat(path).st_size
    if size > limit:
        raise FormatError(f"{size:#x} bytes is too large for a {what} (limit {limit:#x})",
                          path=path, offset=0, field=what)
    with open(path, "rb") as fh:
        return fh.read(limit)


def file_size(path: str) -> int:
    return os.stat(path).st_size


def parse_int(text: str, what: str = "number") -> int:
    """Parse decimal or 0x-hex (as users type addresses and sizes)."""
    try:
        return int(text.strip().replace("_", ""), 0)
    except ValueError:
        raise UsageError(f"{what} {text!r} is not a number (decimal or 0x-hex)") from None


class Closable:
    """The context-manager protocol for objects that hold files open and have ``close()``."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _same_file(a: str, b: str) -> bool:
    """One file under two names: equal real paths, or (hard links, bind mounts) one inode."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output(path: str, *, force: bool = False, inputs: list[str] = ()) -> None:
    """Refuse an output that is an input or inside an input directory, a directory, or
    exists without ``force``."""
    real = os.path.realpath(path)
    for item in inputs:
        if item and _same_file(item, path):
            raise UsageError(f"output {path} is also an input; choose another -o")
        if item and os.path.isdir(item) and real.startswith(os.path.realpath(item) + os.sep):
            raise UsageError(f"output {path} is inside the input directory {item}; "
                             "choose another -o")
    if os.path.isdir(path):
        raise UsageError(f"output {path} is a directory")
    if os.path.lexists(path) and not force:
        raise UsageError(f"output {path} exists; use --force to replace it")


@contextmanager
def atomic_output(path: str, *, force: bool = False, inputs: list[str] = ()) -> Iterator[BinaryIO]:
    """Write to a temp file beside ``path`` and rename it into place on success.

    Refuses an output that is one of the inputs, and an existing output
    without ``force``.  On any failure (including KeyboardInterrupt) the temp
    file is removed and nothing appears at ``path``.
    """
    import tempfile
    check_output(path, force=force, inputs=inputs)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".minidump-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
