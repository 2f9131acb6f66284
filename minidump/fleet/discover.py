"""Finding captures under paths: each capture once, as a picklable spec.

A spec is a plain dict (it crosses process and machine boundaries as it is):
``{"input": PATH as given, "path": absolute PATH, "cwd": the directory PATH is relative
to, "open": {keyword arguments of minidump.open, absolute paths}}``.  Workers
open the absolute paths, so they need not share the caller's working
directory, only its file system; records name inputs as they were given.

What is one capture:

- a directory holding ``md_*.BIN`` blobs (with its side tables): not searched further;
- a directory holding ``MEMORY.txt`` (a RAM-image set): one ``FILE@PADDR`` per
  line, paths relative to the directory, ``#`` starts a comment; a line that
  is a bare ``FILE`` names the input to open (an item-602 blob or the image
  holding the SMEM table), else the first image listed is the input (the SMEM
  table is found by scanning all of them);
- a file that a reader recognises: ELF vmcore, ``Raw_Dmp!`` image, item-602 blob.

Paths named on the command line are always captures (a file no reader knows
becomes an error record); files met while searching a directory that no
reader knows are listed as ``skipped``, never dropped silently.  Symbolic
links are followed once: the same file or directory (device and inode: through a
symbolic or a hard link) reached twice is one capture (under the first path that
reached it).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from minidump.errors import UsageError
from minidump.sources.memoryset import MEMORY_FILE, read_memory_set

@dataclass(slots=True)
class Found:
    """What :func:`discover` found: capture specs in a stable order, and skipped files."""

    specs: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def memory_set(directory: str) -> dict:
    """The spec of a RAM-image set described by ``directory/MEMORY.txt``."""
    return {"input": directory, "open": read_memory_set(directory)}


def _sniffed(path: str) -> bool:
    """A file some reader recognises by its magic (directories are handled apart)."""
    from minidump.sources import READERS
    for reader in READERS:
        if reader.sniffs and reader.kind != "mddir":
            try:
                if reader.load().sniff(path):
                    return True
            except (OSError, ValueError):
                return False
    return False


def _is_capture_dir(path: str) -> bool:
    from minidump.sources import mddir
    return os.path.isfile(os.path.join(path, MEMORY_FILE)) or mddir.sniff(path)


def _spec(path: str) -> dict:
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, MEMORY_FILE)):
        try:
            return memory_set(path)
        except (UsageError, OSError) as exc:   # the record says why
            return {"input": path, "open": {"path": path}, "error": _one_line(exc)}
    return {"input": path, "open": {"path": path}}


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _identity(path: str, status: os.stat_result | None = None):
    """What makes two paths the same file or directory: its device and inode (one stat; a
    path that cannot be stat()ed is its resolved name)."""
    try:
        status = status or os.stat(path)
    except OSError:
        return os.path.realpath(path)
    return (status.st_dev, status.st_ino)


def discover(paths: list[str]) -> Found:
    """Every capture under ``paths`` (files and directories, searched recursively), once."""
    found = Found()
    paths = [os.fspath(p) for p in paths]
    seen: set = set()

    def add(path: str, status: os.stat_result | None = None) -> None:
        key = _identity(path, status)
        if key not in seen:
            seen.add(key)
            found.specs.append(_spec(path))

    for top in paths:
        if not os.path.isdir(top) or _is_capture_dir(top):
            add(top)     # named on the command line: a capture, even one no reader knows
            continue
        for root, dirs, files in os.walk(top, followlinks=True):
            real = _identity(root)
            if real in seen and root != top:
                dirs[:] = []
                continue
            seen.add(real)
            keep = []
            for name in sorted(dirs):
                sub = os.path.join(root, name)
                if _is_capture_dir(sub):
                    add(sub)
                elif _identity(sub) not in seen:
                    keep.append(name)
            dirs[:] = keep
            for name in sorted(files):
                path = os.path.join(root, name)
                try:
                    status = os.stat(path)
                except OSError:
                    status = None
                if status is None or not stat.S_ISREG(status.st_mode):
                    found.skipped.append(path)   # FIFOs, sockets, devices: never opened here
                elif _identity(path, status) in seen:
                    continue
                elif _sniffed(path):
                    add(path, status)
                else:
                    found.skipped.append(path)
    return found
