"""The exception hierarchy.

Every problem with an input is a :class:`MinidumpError` whose ``str()`` is one
line: ``PATH: offset 0xOFF (field): problem``, with the parts as attributes
(``.path``, ``.offset``, ``.field``, ``.problem``).  The CLI prints that line
and exits 1 (2 for a :class:`UsageError`); anything else that escapes is a bug
and keeps its traceback.
"""

from __future__ import annotations


class MinidumpError(Exception):
    """Base class: a problem with an input, an option or the output."""

    def __init__(self, problem: str, *, path: str | None = None,
                 offset: int | None = None, field: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path = path
        self.offset = offset
        self.field = field

    def __str__(self) -> str:
        where = None if self.offset is None else f"offset {self.offset:#x}"
        if where and self.field:
            where += f" ({self.field})"
        elif self.field:
            where = f"({self.field})"
        return ": ".join(p for p in (self.path, where, self.problem) if p)

    def located(self, path: str | None = None, base: int = 0,
                prefix: str | None = None) -> "MinidumpError":
        """Return a copy placed inside a larger file (path, base offset, field prefix)."""
        field = self.field
        if prefix:
            field = f"{prefix}.{field}" if field else prefix
        offset = None if self.offset is None else self.offset + base
        new = type(self)(self.problem, path=path or self.path, offset=offset, field=field)
        new.__cause__ = self.__cause__
        return new


class FormatError(MinidumpError, ValueError):
    """Bad bytes: wrong magic, impossible sizes or counts."""


class TruncatedError(FormatError):
    """A read past the end of a file or a table."""


class SymbolError(MinidumpError, LookupError):
    """A symbol the operation needs is not in the vmlinux."""


class LayoutError(MinidumpError, ValueError):
    """Regions that cannot be placed in one vmcore."""


class UnsupportedError(MinidumpError):
    """A known but unsupported architecture, revision or ELF class."""


class UsageError(MinidumpError):
    """Options that contradict each other or name impossible things."""


class OutputError(MinidumpError, OSError):
    """The output could not be written (a directory that takes no files, a full disk); also
    an :class:`OSError`, with ``.errno`` of the system's error."""

    def __init__(self, problem: str, *, path: str | None = None, errno: int | None = None) -> None:
        super().__init__(problem, path=path)
        self.errno = errno
        self.strerror = problem
        self.filename = path


class FaultError(MinidumpError, LookupError):
    """An address the capture does not hold; ``address`` is the first byte missing."""

    def __init__(self, problem: str, *, address: int, what: str | None = None,
                 path: str | None = None) -> None:
        super().__init__(problem, path=path, field=what)
        self.address = address

    def located(self, path: str | None = None, base: int = 0,
                prefix: str | None = None) -> "FaultError":
        new = FaultError(self.problem, address=self.address, path=path or self.path,
                         what=f"{prefix}.{self.field}" if prefix and self.field else
                         (prefix or self.field))
        new.__cause__ = self.__cause__
        return new
