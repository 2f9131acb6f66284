"""The data every stage passes on: container rows, regions, notes, the target's ELF identity.

A container reader (:mod:`minidump.sources`) turns its input into :class:`Row`
objects, the one row type between container and join; :mod:`minidump.assemble`
joins them into :class:`Region` objects, which the planner and every report use.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace


class Status(str, enum.Enum):
    """What became of a region."""

    WRITTEN = "written"        # its bytes are in the output
    MISSING = "missing"        # registered, but no payload was captured
    SHORT = "short"            # the payload is shorter than the region
    DUPLICATE = "duplicate"    # same ID or same bytes as a region already written
    INVALID = "invalid"        # the table entry itself is unusable (not VALI, no address, ...)
    ENCRYPTED = "encrypted"    # the payload is ciphertext

    @property
    def lost(self) -> bool:
        """True when a registered region's bytes did not reach the output."""
        return self in (Status.MISSING, Status.SHORT, Status.INVALID, Status.ENCRYPTED)


class Kind(str, enum.Enum):
    """What a region is to the vmcore: memory, or one of the kernel's own side regions."""

    LOAD = "load"              # memory: one PT_LOAD
    VMCOREINFO = "vmcoreinfo"  # the VMCOREINFO text (also memory where it has an address)
    ELF = "elf"                # the kernel's ELF header region (KELF)


@dataclass(frozen=True, slots=True)
class Payload:
    """Where a region's bytes are: ``length`` bytes of ``path`` at ``offset``."""

    path: str
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class Region:
    """One registered memory region, as every report and the library API show it.

    ``id`` is the meminspect ID / SMEM ``seq_num`` where there is one; ``name``
    is what the container calls it; ``object`` the kernel object it holds where
    that is known (None until then); ``size`` is the number of bytes the
    capture says the region has (``p_filesz`` of the kernel's own ELF header
    where there is one); ``status`` and ``reason`` say what became of it.
    """

    id: int | None
    name: str
    object: str | None = None
    paddr: int | None = None
    vaddr: int | None = None
    size: int = 0
    source: str = ""
    status: Status | None = None
    reason: str = ""
    payload: Payload | None = None
    kind: Kind = Kind.LOAD

    def with_(self, **changes) -> "Region":
        return replace(self, **changes)


@dataclass(slots=True)
class Row:
    """One region as one container (or one of its tables) describes it, before the join.

    ``seq`` is the SMEM ``seq_num`` / meminspect ID; ``paddr``, ``vaddr`` and
    ``size`` are what the container knows (None where it does not); ``payload``
    is where its bytes are; ``source`` names the file and offset for reports;
    ``filename`` is the blob's file name where the row came from, or names, a file.
    A reader sets ``status``/``reason`` for rows it already knows are bad.
    """

    name: str
    seq: int | None = None
    paddr: int | None = None
    size: int | None = None
    payload: Payload | None = None
    source: str = ""
    status: Status | None = None
    reason: str = ""
    filename: str | None = None
    vaddr: int | None = None
    kind: "Kind" = Kind.LOAD          # our vmcores record the kernel's side regions

    @property
    def length(self) -> int:
        """The region's length: its size where known, else its payload's."""
        if self.size is not None:
            return self.size
        return self.payload.length if self.payload is not None else 0


@dataclass(frozen=True, slots=True)
class Note:
    """One ELF note, already unframed."""

    name: bytes     # without the trailing NUL
    type: int
    desc: bytes


@dataclass(frozen=True, slots=True)
class Arch:
    """What the output ELF header needs: machine, class and byte order."""

    machine: int
    bits: int = 64
    little_endian: bool = True

    @property
    def name(self) -> str:
        return ARCH_NAMES.get((self.machine, self.bits), f"EM_{self.machine}")

    @property
    def byteorder(self) -> str:
        return "little" if self.little_endian else "big"


#: include/uapi/linux/elf-em.h: EM_AARCH64 183, EM_X86_64 62, EM_ARM 40, EM_RISCV 243, EM_386 3
ARCH_NAMES = {(183, 64): "arm64", (62, 64): "x86_64", (40, 32): "arm", (243, 64): "riscv64",
              (243, 32): "riscv32", (3, 32): "x86"}
ARCHES = {
    "arm64": Arch(183), "aarch64": Arch(183),
    "x86_64": Arch(62), "amd64": Arch(62),
    "arm": Arch(40, 32), "riscv64": Arch(243),
}
