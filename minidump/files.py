"""Files: bounded reads, small side files, and the atomic output file.

Every read of a capture goes through :func:`read_at`, which checks the size
against the file before it allocates and names the file and offset when it
cannot read."""

from __future__ import annotations

import errno
import io
import os
import stat
from contextlib import contextmanager
from typing import BinaryIO, Iterator

from minidump.errors import FormatError, TruncatedError, UsageError

CHUNK = 1 << 20  # streaming copy unit (STYLE.md section 9: 1 MiB readinto is fastest, flat RSS)


def read_at(fh: BinaryIO, offset: int, size: int, *, path: str | None = None,
            what: str | None = None) -> bytes:
    """Read exactly ``size`` bytes at ``offset`` or raise a located TruncatedError.

    This is the one place where capture bytes are read from files.  A real file
    is read with ``os.pread``, which never moves the handle's shared position,
    so any number of threads may read one handle at once (DESIGN.md: "Reads are
    safe from several threads at once"); only in-memory streams seek.
    """
    if offset < 0 or size < 0:
        raise TruncatedError("negative offset or size", path=path, offset=max(offset, 0), field=what)
    fd = _fd(fh)
    length = _length(fh) if fd is None else _fd_length(fd)
    if offset + size > length:
        # checked before reading: a size field from the file must not size the allocation
        raise TruncatedError(f"truncated: need {size:#x} bytes, file has "
                             f"{max(0, min(size, length - offset)):#x} here",
                             path=path, offset=offset, field=what)
    if fd is None:
        fh.seek(offset)
        data = fh.read(size)
    else:
        try:
            data = _pread(fd, offset, size)
        except OSError as exc:   # EIO from a failing disk or /proc/self/mem: say where
            raise FormatError(f"cannot read: {(exc.strerror or str(exc)).lower()}",
                              path=path, offset=offset, field=what) from exc
    if len(data) != size:
        raise TruncatedError(f"truncated: need {size:#x} bytes, file has {len(data):#x} here",
                             path=path, offset=offset, field=what)
    return data


def _fd(fh: BinaryIO) -> int | None:
    """The descriptor behind ``fh``, or None for an in-memory stream."""
    try:
        return fh.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


def _fd_length(fd: int) -> int:
    """Size of a file or block device, without touching any handle's position."""
    status = os.fstat(fd)
    if stat.S_ISREG(status.st_mode):
        return status.st_size
    try:   # block devices (a Raw_Dmp! partition): pread ignores the position lseek moves
        return os.lseek(fd, 0, os.SEEK_END)
    except OSError:
        return status.st_size


def _pread(fd: int, offset: int, size: int) -> bytes:
    """``size`` bytes at ``offset`` (fewer at end of file); one call unless the kernel splits it."""
    data = os.pread(fd, size, offset)
    if len(data) == size or not data:
        return data
    parts = [data]   # Linux returns at most 0x7ffff000 bytes per call
    got = len(data)
    while got < size:
        more = os.pread(fd, size - got, offset + got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _length(fh: BinaryIO) -> int:
    """Size of an in-memory stream."""
    here = fh.tell()
    end = fh.seek(0, os.SEEK_END)
    fh.seek(here)
    return end


def read_small(path: str, limit: int, what: str) -> bytes:
    """A whole side file (table, VMCOREINFO text) that has no business being big.

    Only a regular file is opened: a FIFO would block, a device would not end.
    """
    status = os.stat(path)
    if not stat.S_ISREG(status.st_mode):
        raise FormatError(f"not a regular file (a {what} must be one)", path=path,
                          field=what)
    size = status.st_size
    if size > limit:
        raise FormatError(f"{size:#x} bytes is too large for a {what} (limit {limit:#x})",
                          path=path, offset=0, field=what)
    with open(path, "rb") as fh:
        return fh.read(limit)


def check_input(path: str) -> os.stat_result:
    """The input's status, or a UsageError carrying ``.path`` that says why it cannot be read
    (missing, a symlink loop, no permission, ...)."""
    try:
        return os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            problem = "no such file or directory"
        elif exc.errno == errno.ELOOP:
            problem = "a symbolic link loop (too many levels of symbolic links)"
        else:
            problem = (exc.strerror or str(exc)).lower()
        raise UsageError(problem, path=path) from None


def file_size(path: str) -> int:
    return os.stat(path).st_size


_DECIMAL = None
_NUMBER = None
_HEX = None


def _patterns():
    """ASCII digits only: ``int()`` also takes Arabic-Indic and other Unicode digits and
    ``_`` separators, which no user means in a size or an address."""
    global _DECIMAL, _NUMBER, _HEX
    if _DECIMAL is None:
        import re
        _DECIMAL = re.compile(r"[0-9]+", re.ASCII)
        _NUMBER = re.compile(r"(0[xX][0-9a-fA-F]+|[0-9]+)", re.ASCII)
        _HEX = re.compile(r"-?(0[xX])?[0-9a-fA-F]+", re.ASCII)   # negative: out of range
    return _DECIMAL, _NUMBER, _HEX


def parse_int(text: str, what: str = "number") -> int:
    """Parse decimal or 0x-hex (as users type sizes), ASCII digits only."""
    stripped = text.strip()
    if not _patterns()[1].fullmatch(stripped):
        raise UsageError(f"{what} {text!r} is not a number (decimal or 0x-hex)")
    return int(stripped, 16) if stripped[:2].lower() == "0x" else int(stripped, 10)


def parse_count(text: str, what: str, *, low: int, high: int) -> int:
    """A decimal count typed by a user (ASCII digits) within ``[low, high]``."""
    stripped = text.strip()
    if not _patterns()[0].fullmatch(stripped):
        raise UsageError(f"{what} {text!r}: expected a whole number ({low} to {high})")
    value = int(stripped, 10)
    if not low <= value <= high:
        raise UsageError(f"{what} {value}: expected {low} to {high}")
    return value


def parse_seconds(text: str, what: str, *, high: float) -> float:
    """A finite, non-negative number of seconds up to ``high``: ``nan``, ``inf`` and
    Unicode digits are refused (float() takes them all)."""
    import math
    import re
    stripped = text.strip()
    if not re.fullmatch(r"([0-9]+(\.[0-9]*)?|\.[0-9]+)", stripped, re.ASCII):
        raise UsageError(f"{what} {text!r}: expected a number of seconds (0 to {high:g})")
    value = float(stripped)
    if not math.isfinite(value) or not 0 <= value <= high:
        raise UsageError(f"{what} {text}: expected 0 to {high:g} seconds")
    return value


ADDRESS_LIMIT = 1 << 64


def parse_address(text: str | int, what: str) -> int:
    """A physical address as crash reads one: hexadecimal, ``0x`` optional; 0 <= PADDR < 2^64."""
    if isinstance(text, bool):
        raise UsageError(f"{what} {text!r} is not an address")
    if isinstance(text, int):
        value = text
    else:
        digits = text.strip()
        if not _patterns()[2].fullmatch(digits):
            raise UsageError(f"{what} {text!r} is not a hexadecimal address")
        value = int(digits, 16)
    if not 0 <= value < ADDRESS_LIMIT:
        raise UsageError(f"{what} {text!r} is outside the 64-bit physical address space")
    return value


def data_ranges(fd: int, start: int, end: int) -> Iterator[tuple[int, int]]:
    """The parts of ``[start, end)`` of a file that hold data, skipping holes (SEEK_DATA).

    File systems without hole reporting give the whole range.
    """
    pos = start
    while pos < end:
        try:
            data = os.lseek(fd, pos, os.SEEK_DATA)
            hole = os.lseek(fd, data, os.SEEK_HOLE)
        except OSError as exc:
            if exc.errno == errno.ENXIO:   # no data after pos
                return
            yield pos, end                # no hole reporting here: all of it
            return
        if data >= end:
            return
        yield data, min(hole, end)
        pos = hole


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


def _shares_inode_with(directory: str, status: os.stat_result) -> str | None:
    """A file directly inside ``directory`` that is the same inode as ``status``, if any."""
    try:
        names = os.listdir(directory)
    except OSError:
        return None
    for name in names:
        try:
            other = os.stat(os.path.join(directory, name))
        except OSError:
            continue
        if (other.st_dev, other.st_ino) == (status.st_dev, status.st_ino):
            return name
    return None


def check_output(path: str, *, force: bool = False, inputs: list[str] = ()) -> None:
    """Refuse an output that is empty, an input, inside (or a hard link into) an input
    directory, a directory, anything but a regular file, in a missing directory, or that
    exists without ``force``."""
    if not path:
        raise UsageError("output path is empty; give -o FILE")
    real = os.path.realpath(path)
    status = None
    try:
        status = os.lstat(path)
    except OSError:
        pass
    for item in inputs:
        if item and _same_file(item, path):
            raise UsageError(f"output {path} is also an input; choose another -o")
        if item and os.path.isdir(item):
            if real.startswith(os.path.realpath(item) + os.sep):
                raise UsageError(f"output {path} is inside the input directory {item}; "
                                 "choose another -o")
            if status is not None and stat.S_ISREG(status.st_mode) and status.st_nlink > 1:
                twin = _shares_inode_with(item, status)
                if twin is not None:
                    raise UsageError(f"output {path} is a hard link to {twin} in the input "
                                     f"directory {item}; choose another -o")
    if os.path.isdir(path):
        raise UsageError(f"output {path} is a directory")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError(f"output {path}: directory {directory} does not exist")
    if status is not None:
        if not force:
            raise UsageError(f"output {path} exists; use --force to replace it")
        if not stat.S_ISREG(status.st_mode):
            raise UsageError(f"output {path} is not a regular file; --force replaces only "
                             "regular files")


@contextmanager
def atomic_output(path: str, *, force: bool = False, inputs: list[str] = ()) -> Iterator[BinaryIO]:
    """Write to a temp file beside ``path`` and publish it there only when all went well.

    The file is created readable by its owner only (it holds kernel memory).
    Without ``force`` it is published with a hard link, which fails if anything
    appeared at ``path`` meanwhile, so two runs never replace each other's output;
    with ``force`` only a regular file is replaced.  On any failure (an error, a
    full disk, a signal) the temp file is removed and nothing appears at ``path``.
    """
    import tempfile
    check_output(path, force=force, inputs=inputs)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".minidump-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, path) from exc
    try:
        try:
            with os.fdopen(fd, "wb") as fh:
                yield fh
            _publish(tmp, path, force=force)
        except OSError as exc:
            if exc.filename is None or exc.filename == tmp:   # name the user's path
                raise OSError(exc.errno, exc.strerror, path) from exc
            raise
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


#: outputs this process has published (a signal after that must not say "nothing written")
PUBLISHED: list[str] = []


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold the termination signals while an output is published and recorded as such."""
    import signal
    held = {getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
            if hasattr(signal, n)}
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, OSError, ValueError):
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _publish(tmp: str, path: str, *, force: bool) -> None:
    """Move the finished temp file to ``path`` (see :func:`atomic_output`)."""
    with _signals_held():
        _move(tmp, path, force=force)
        PUBLISHED.append(path)


def _move(tmp: str, path: str, *, force: bool) -> None:
    if force:
        check_output(path, force=True)   # still a regular file (or nothing) right now
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise UsageError(f"output {path} exists; use --force to replace it") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
            raise
        # no hard links on this file system: the plain rename, checked just before
        check_output(path, force=False)
        os.replace(tmp, path)
        return
    os.unlink(tmp)
