"""The one memory model: physical extents over files, and the kernel's view on top.

:class:`PhysicalMemory` is a sparse physical address space over the files
that hold captured bytes -- region blobs, RAM images ``FILE@PADDR``, an ELF
core's PT_LOADs.  Reads are bounded and lazy: nothing is loaded whole, files
are opened on first use and closed with the memory.

:class:`KernelMemory` reads kernel virtual addresses: first through the
virtual addresses the capture itself gives (a PT_LOAD's ``p_vaddr``, a region's
address in the kernel's header, as vmcore-dmesg does), then by the
kernel-image and linear-map rules of :class:`~minidump.kernel.translate.Translator`.
No page tables: a minidump rarely holds them.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from typing import BinaryIO, Iterable

from minidump.errors import FaultError
from minidump.files import Closable, read_at
from minidump.model import Arch

from minidump.kernel.translate import MASK64  # noqa: E402


@dataclass(frozen=True, slots=True)
class Extent:
    """``size`` bytes of memory at ``paddr`` (and at ``vaddr`` where known), held in ``path``
    at ``offset``."""

    paddr: int
    size: int
    path: str
    offset: int
    vaddr: int | None = None

    @property
    def end(self) -> int:
        return self.paddr + self.size


class _Index:
    """Extents sorted by one address, with the running maximum of their ends.

    ``pieces`` walks back from the last extent starting at or below an address
    only while an earlier one can still reach it, so overlapping extents are
    found exactly and a lookup costs O(log n + overlaps).
    """

    def __init__(self, extents: Iterable[Extent], key: str) -> None:
        self.key = key
        self.items = sorted(extents, key=lambda e: getattr(e, key))
        self.starts = [getattr(e, key) for e in self.items]
        self.reach: list[int] = []
        top = -1
        for extent, start in zip(self.items, self.starts):
            top = max(top, start + extent.size)
            self.reach.append(top)

    def find(self, addr: int, size: int = 1) -> Extent | None:
        """The extent holding ``[addr, addr + size)`` whole, or None."""
        index = bisect.bisect_right(self.starts, addr) - 1
        while index >= 0 and self.reach[index] > addr:
            extent, start = self.items[index], self.starts[index]
            if start <= addr and addr + size <= start + extent.size:
                return extent
            index -= 1
        return None

    def covering(self, addr: int) -> tuple[Extent, int] | None:
        """The extent holding ``addr`` that reaches furthest, and how far that is."""
        index = bisect.bisect_right(self.starts, addr) - 1
        best = None
        while index >= 0 and self.reach[index] > addr:
            extent, start = self.items[index], self.starts[index]
            if start + extent.size > addr and (best is None or start + extent.size > best[1]):
                best = (extent, start + extent.size)
            index -= 1
        return best


@dataclass(frozen=True, slots=True)
class Piece:
    """``size`` bytes at address ``addr`` held in ``path`` at ``offset``."""

    addr: int
    size: int
    path: str
    offset: int


class PhysicalMemory(Closable):
    """A sparse physical address space over files; reads are bounded and lazy.

    Overlapping extents are allowed (they hold the same bytes: the planner
    never writes two that differ); a read may span adjacent extents.
    """

    def __init__(self, extents: Iterable[Extent] = (), *, name: str | None = None) -> None:
        self.name = name
        self._extents = [e for e in extents if e.size > 0]
        self._phys = _Index(self._extents, "paddr")
        self._virt = _Index([e for e in self._extents if e.vaddr is not None], "vaddr")
        self._handles: dict[str, BinaryIO] = {}
        self._opening = threading.Lock()   # one handle per file, whichever thread opens it

    def _handle(self, path: str) -> BinaryIO:
        """The open handle of ``path``; read only through :func:`read_at` (``os.pread``), so
        threads share it safely."""
        fh = self._handles.get(path)
        if fh is None:
            with self._opening:
                fh = self._handles.get(path)
                if fh is None:
                    fh = self._handles[path] = open(path, "rb")  # noqa: SIM115
        return fh

    @property
    def extents(self) -> list[Extent]:
        return list(self._extents)

    def find(self, paddr: int, size: int = 1) -> Extent | None:
        """The extent holding ``[paddr, paddr + size)`` whole, or None."""
        return self._phys.find(paddr, size)

    def find_mapped(self, vaddr: int, size: int = 1) -> Extent | None:
        """The extent whose own virtual range holds ``[vaddr, vaddr + size)`` whole, or None."""
        return self._virt.find(vaddr, size)

    def pieces(self, addr: int, size: int, *, virtual: bool = False) -> list[Piece]:
        """The file ranges holding ``[addr, addr + size)``, up to the first hole."""
        index, key = (self._virt, "vaddr") if virtual else (self._phys, "paddr")
        out: list[Piece] = []
        cur, end = addr, addr + size
        while cur < end:
            hit = index.covering(cur)
            if hit is None:
                break
            extent, reach = hit
            n = min(end, reach) - cur
            out.append(Piece(cur, n, extent.path, extent.offset + cur - getattr(extent, key)))
            cur += n
        return out

    def held(self, addr: int, size: int, *, virtual: bool = False) -> bool:
        """Whether every byte of ``[addr, addr + size)`` is captured."""
        return sum(p.size for p in self.pieces(addr, size, virtual=virtual)) == size

    def _read_pieces(self, pieces: list[Piece], what: str) -> bytes:
        out = []
        for piece in pieces:
            fh = self._handle(piece.path)
            out.append(read_at(fh, piece.offset, piece.size, path=piece.path, what=what or None))
        return b"".join(out)

    def read(self, paddr: int, size: int, what: str = "") -> bytes:
        """``size`` captured bytes at physical ``paddr``, or a FaultError at the first hole."""
        pieces = self.pieces(paddr, size)
        held = sum(p.size for p in pieces)
        if held < size:
            raise FaultError(f"physical address {paddr + held:#x} is not in the capture"
                             + (f" (reading {what})" if what else ""), address=paddr + held,
                             what=what or None, path=self.name)
        return self._read_pieces(pieces, what)

    def read_mapped(self, vaddr: int, size: int, what: str = "") -> bytes | None:
        """Bytes at ``vaddr`` through the extents' own virtual addresses; None if not all held."""
        pieces = self.pieces(vaddr, size, virtual=True)
        if sum(p.size for p in pieces) < size:
            return None
        return self._read_pieces(pieces, what)

    def data_bytes(self, addr: int, size: int, *, virtual: bool = False) -> int:
        """How many bytes of ``[addr, addr + size)`` the files really hold: holes of sparse
        files do not count (``SEEK_DATA``), nor does what no extent covers."""
        from minidump.files import data_ranges
        total = 0
        for piece in self.pieces(addr, size, virtual=virtual):
            fh = self._handle(piece.path)
            total += sum(end - start for start, end in data_ranges(
                fh.fileno(), piece.offset, piece.offset + piece.size))
        return total

    def close(self) -> None:
        for fh in self._handles.values():
            fh.close()
        self._handles.clear()


class KernelMemory:
    """Kernel virtual reads over a :class:`PhysicalMemory`.

    ``translator`` is None when VMCOREINFO or the arch is unknown; then only
    the capture's own virtual addresses are readable.  ``kerneloffset`` is the
    KASLR offset (``KERNELOFFSET``) that turns link-time addresses into runtime ones.
    """

    def __init__(self, memory: PhysicalMemory, arch: Arch | None, translator=None,
                 kerneloffset: int = 0) -> None:
        self.memory = memory
        self.arch = arch
        self.translator = translator
        self.kerneloffset = kerneloffset

    @property
    def path(self) -> str | None:
        """The capture's name, for messages."""
        return self.memory.name

    def runtime(self, link_vaddr: int) -> int:
        """Runtime address of a link-time kernel-image address."""
        return (link_vaddr + self.kerneloffset) & MASK64

    def pa(self, vaddr: int) -> int | None:
        """Physical address of a kernel-image or linear-map address; None elsewhere."""
        return self.translator.pa(vaddr) if self.translator is not None else None

    def linear_va(self, paddr: int) -> int | None:
        """Linear-map alias of a physical address, where the rules give one."""
        return self.translator.linear_va(paddr) if self.translator is not None else None

    def read_virt(self, vaddr: int, size: int, what: str = "") -> bytes:
        """Bytes at a kernel virtual address: the capture's own mapping, then translation."""
        data = self.memory.read_mapped(vaddr, size, what)
        if data is not None:
            return data
        paddr = self.pa(vaddr)
        if paddr is None:
            raise FaultError(f"virtual address {vaddr:#x} is not in the capture"
                             + (f" (reading {what})" if what else ""), address=vaddr,
                             what=what or None, path=self.memory.name)
        try:
            return self.memory.read(paddr, size, what)
        except FaultError as exc:
            raise FaultError(f"virtual address {vaddr:#x} (PA {paddr:#x}) is not in the "
                             f"capture" + (f" (reading {what})" if what else ""),
                             address=vaddr, what=what or None, path=self.memory.name) from exc

    def data_bytes(self, vaddr: int, size: int) -> int:
        """Bytes of ``[vaddr, vaddr + size)`` backed by file data (see
        :meth:`PhysicalMemory.data_bytes`), through the same mapping as :meth:`read_virt`."""
        if self.memory.held(vaddr, size, virtual=True):
            return self.memory.data_bytes(vaddr, size, virtual=True)
        paddr = self.pa(vaddr)
        return 0 if paddr is None else self.memory.data_bytes(paddr, size)

    def word(self, vaddr: int, what: str = "", size: int | None = None) -> int:
        """An unsigned integer of the target's word size (or ``size`` bytes) at ``vaddr``."""
        size = size or self.arch.bits // 8
        return int.from_bytes(self.read_virt(vaddr, size, what), self.arch.byteorder)

    def words(self, vaddr: int, count: int, what: str = "") -> list[int]:
        """``count`` target words (``unsigned long[count]``) at ``vaddr``."""
        size = self.arch.bits // 8
        data = self.read_virt(vaddr, size * count, what)
        return [int.from_bytes(data[i:i + size], self.arch.byteorder)
                for i in range(0, len(data), size)]
