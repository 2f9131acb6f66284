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
    """What :func:`discover` found: capture specs in a stable order, and skipped files with
    the reason each was skipped (``reasons[path]``)."""

    specs: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)

    def skip(self, path: str, reason: str) -> None:
        self.skipped.append(path)
        self.reasons[path] = reason


def memory_set(directory: str) -> dict:
    """The spec of a RAM-image set described by ``directory/MEMORY.txt``."""
    return {"input": directory, "open": read_memory_set(directory)}


def _sniffed(path: str) -> bool:
    """A file some reader recognises by its magic (directories are handled apart); an
    OSError when it cannot be read."""
    from minidump.sources import READERS
    for reader in READERS:
        if reader.sniffs and reader.kind != "mddir":
            try:
                if reader.load().sniff(path):
                    return True
            except ValueError:
                return False
    return False


def _is_capture_dir(path: str) -> bool:
    """A md_*.BIN directory or a RAM-image set; OSError when it cannot be listed."""
    from minidump.sources import mddir
    return os.path.isfile(os.path.join(path, MEMORY_FILE)) or mddir.sniff(path)


def _claimed(directory: str, spec: dict) -> set[str]:
    """The names directly in ``directory`` that its capture reads: the md_*.BIN blobs and
    their side tables, or MEMORY.txt and the images it lists.  Everything else there is
    searched as if the capture were not there, so a stray ``md_readme.BIN`` cannot hide
    its siblings."""
    from minidump.sources import mddir
    if os.path.isfile(os.path.join(directory, MEMORY_FILE)):
        listed = [spec["open"].get("path", ""),
                  *(m.rpartition("@")[0] for m in spec["open"].get("memory", ()))]
        return {MEMORY_FILE} | {os.path.basename(p) for p in listed
                                if os.path.dirname(p) == directory}
    names = os.listdir(directory)
    return {n for n in names
            if mddir.BLOB.fullmatch(n) or n in ("dump_info.txt", "load.cmm")
            or ("sahara" in n.lower() and n.lower().endswith((".bin", ".tbl")))}


def _spec(path: str) -> dict:
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, MEMORY_FILE)):
        try:
            return memory_set(path)
        except (UsageError, OSError) as exc:   # the record says why
            return {"input": path, "open": {"path": path}, "error": _one_line(exc)}
    return {"input": path, "open": {"path": path}}


def _unreadable(path: str, exc: OSError) -> dict:
    """The error record's spec for a path that cannot be listed or read."""
    why = (exc.strerror or str(exc)).lower()
    return {"input": path, "open": {"path": path}, "error": f"{path}: cannot be read: {why}"}


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


#: what an unreadable capture directory claims: all of it
ALL: set[str] = set()


def discover(paths: list[str]) -> Found:
    """Every capture under ``paths`` (files and directories, searched recursively), once.

    Every path given or found ends in exactly one place: a capture's spec (an error
    spec when it cannot be read: the run goes on and its record says why), a file a
    capture reads, or ``skipped`` with the reason.
    """
    found = Found()
    paths = [os.fsdecode(os.fspath(p)) for p in paths]
    seen: set = set()

    def add(path: str, spec: dict | None = None,
            status: os.stat_result | None = None) -> dict | None:
        key = _identity(path, status)
        if key in seen:
            return None
        seen.add(key)
        spec = spec or _spec(path)
        found.specs.append(spec)
        return spec

    def unreadable(exc: OSError) -> None:
        path = exc.filename if isinstance(exc.filename, str) else str(exc.filename)
        add(path, _unreadable(path, exc))

    def capture_dir(path: str) -> set[str] | None:
        """The names the capture in ``path`` claims (None: no capture here; every name when
        ``path`` cannot be listed, its error record standing for all of it)."""
        try:
            if not _is_capture_dir(path):
                return None
            spec = add(path)
            if spec is None:      # reached before under another name: all of it is done
                return ALL
            return {MEMORY_FILE} if spec.get("error") else _claimed(path, spec)
        except OSError as exc:
            unreadable(OSError(exc.errno, exc.strerror, path))
            return ALL

    claims: dict = {}   # subdirectories looked at from their parent, by identity
    for top in paths:
        if not os.path.isdir(top):
            add(top)     # named on the command line: a capture, even one no reader knows
            continue
        for root, dirs, files in os.walk(top, followlinks=True, onerror=unreadable):
            real = _identity(root)
            claimed = claims.pop(real, None) if root != top else capture_dir(root)
            if claimed is ALL or (real in seen and root != top and claimed is None):
                dirs[:] = []
                continue
            claimed = claimed or set()
            seen.add(real)
            keep = []
            for name in sorted(dirs):    # captures in subdirectories first, as listed
                if name in claimed:
                    continue
                sub = os.path.join(root, name)
                key = _identity(sub)
                if key in seen:
                    continue
                claims[key] = capture_dir(sub)
                if claims[key] is not ALL:
                    keep.append(name)
            dirs[:] = keep
            for name in sorted(files):
                if name in claimed:
                    continue
                path = os.path.join(root, name)
                try:
                    status = os.stat(path)
                except OSError:
                    status = None
                if status is not None and _identity(path, status) in seen:
                    continue
                if status is None or not stat.S_ISREG(status.st_mode):
                    # FIFOs, sockets, devices: never opened here
                    found.skip(path, "a dangling symbolic link" if status is None
                               else "not a regular file")
                    continue
                try:
                    known = _sniffed(path)
                except OSError as exc:
                    unreadable(OSError(exc.errno, exc.strerror, path))
                    continue
                if known:
                    add(path, status=status)
                else:
                    found.skip(path, "not a capture (no reader knows its format)")
    return found
