"""The region model every reader produces and every command consumes."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace


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


@dataclass(frozen=True, slots=True)
class Payload:
    """Where a region's bytes are: ``length`` bytes of ``path`` at ``offset``."""

    path: str
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class Region:
    """One registered memory region.

    ``id`` is the meminspect ID / SMEM ``seq_num`` where there is one; ``size``
    is the number of bytes the capture says the region has (``p_filesz`` of
    the kernel's own ELF header where there is one).
    """

    name: str
    size: int
    paddr: int | None = None
    vaddr: int | None = None
    id: int | None = None
    source: str = ""
    payload: Payload | None = None
    status: Status | None = None   # set by readers for known-bad entries, else by the planner
    reason: str = ""
    kind: str = "load"             # "load": a PT_LOAD; "vmcoreinfo": the note text; "elf": the header region

    def with_(self, **changes) -> "Region":
        return replace(self, **changes)


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
        from minidump.formats.elf import EM
        names = {EM.AARCH64: "arm64", EM.X86_64: "x86_64", EM.ARM: "arm", EM.RISCV: "riscv64"
                 if self.bits == 64 else "riscv32", EM.I386: "x86"}
        return names.get(self.machine, f"EM_{self.machine}")


ARCHES = {
    "arm64": Arch(183), "aarch64": Arch(183),
    "x86_64": Arch(62), "amd64": Arch(62),
    "arm": Arch(40, 32), "riscv64": Arch(243),
}


@dataclass(slots=True)
class Capture:
    """What any input gives: regions, where their bytes are, VMCOREINFO and notes."""

    input: str
    container: str
    regions: list[Region] = field(default_factory=list)
    vmcoreinfo: bytes | None = None
    vmcoreinfo_source: str = ""
    notes: list[Note] = field(default_factory=list)
    arch: Arch | None = None
    warnings: list[str] = field(default_factory=list)
    table_where: str = ""
    scheme: str = "unknown"  # "meminspect" (seq_num = meminspect ID) or "downstream"

    def warn(self, message: str) -> None:
        self.warnings.append(message)
