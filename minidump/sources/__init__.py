"""Sniff an input and run the matching reader: the front of every command."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from minidump.errors import FormatError, UsageError
from minidump.files import PhysicalMemory, parse_int, parse_memory_spec, read_small
from minidump.model import ARCHES, Capture
from minidump.sources import mddir, rawdump, smem
from minidump.sources.tables import TableEntry
from minidump.kernel.vmcoreinfo import VmcoreInfo

VMCOREINFO_MAX = 1 << 16  # the kernel caps it at one page (VMCOREINFO_BYTES)
FORMATS = ("auto", "mddir", "rawdump", "smem-blob", "ram", "elf")


@dataclass
class InputOptions:
    input: str
    memory: list[str] = field(default_factory=list)
    table_addr: str | None = None
    smem_base: str | None = None
    vmcoreinfo: str | None = None
    format: str = "auto"
    sahara_table: str | None = None
    arch: str | None = None

    def paths(self) -> list[str]:
        """Every file the command reads (so -o can refuse them)."""
        out = [self.input] + [m.rpartition("@")[0] for m in self.memory]
        return out + [p for p in (self.vmcoreinfo, self.sahara_table) if p]


def sniff(path: str) -> str | None:
    if os.path.isdir(path):
        return "mddir" if mddir.sniff(path) else None
    if rawdump.sniff(path):
        return "rawdump"
    if smem.sniff_blob(path):
        return "smem-blob"
    from minidump.elf import core as elfcore
    if elfcore.sniff(path):
        return "elf"
    return None


def _smem_base(text: str | None) -> tuple[int | None, int | None]:
    if not text:
        return None, None
    base, _, size = text.partition(",")
    return parse_int(base, "--smem-base"), parse_int(size, "--smem-base size") if size else None


def open_capture(opts: InputOptions) -> Capture:
    """Read the input named by ``opts`` into a Capture."""
    if not os.path.exists(opts.input):
        raise UsageError(f"{opts.input}: no such file or directory")
    if opts.arch and opts.arch not in ARCHES:
        raise UsageError(f"--arch {opts.arch!r}: expected one of {', '.join(sorted(ARCHES))}")
    kind = opts.format
    if kind == "auto":
        kind = sniff(opts.input)
        if kind is None:
            if opts.memory:
                kind = "ram"
            else:
                raise FormatError("not a md_*.BIN directory, a Raw_Dmp! image or an SMEM item-602 "
                                  "blob; for a RAM image holding the SMEM table also pass "
                                  "--memory FILE@PADDR", path=opts.input)
    info = None
    if opts.vmcoreinfo:
        info = VmcoreInfo(read_small(opts.vmcoreinfo, VMCOREINFO_MAX, "VMCOREINFO"),
                          path=opts.vmcoreinfo)
    memory = PhysicalMemory([parse_memory_spec(m) for m in opts.memory])
    table_addr = parse_int(opts.table_addr, "--table-addr") if opts.table_addr else None
    base, size = _smem_base(opts.smem_base)
    with memory:
        if kind in ("ram", "smem-blob"):
            if kind == "ram" and not memory.extents:
                raise UsageError("a RAM image input needs --memory FILE@PADDR")
            capture = smem.read(opts.input, memory, table_addr=table_addr, smem_base=base,
                                smem_size=size, vmcoreinfo=info, arch=opts.arch,
                                blob=kind == "smem-blob")
        else:
            table: list[TableEntry] = []
            table_warnings: list[str] = []
            if memory.extents:
                table, table_warnings = _table_rows(memory, table_addr, base, size)
            if kind == "mddir":
                capture = mddir.read(opts.input, sahara_table=opts.sahara_table, table=table,
                                     vmcoreinfo=info, arch=opts.arch)
            elif kind == "elf":
                from minidump.elf import core as elfcore
                capture = elfcore.read(opts.input)
                if info is not None:
                    capture.vmcoreinfo, capture.vmcoreinfo_source = info.raw, opts.vmcoreinfo
            elif kind == "rawdump":
                capture = rawdump.read(opts.input, table=table, vmcoreinfo=info, arch=opts.arch)
            else:
                raise UsageError(f"--format {kind!r}: expected one of {', '.join(FORMATS)}")
            capture.warnings[:0] = table_warnings
    if opts.arch:
        capture.arch = ARCHES[opts.arch]
    elif capture.arch is None and capture.vmcoreinfo:
        guess = VmcoreInfo(capture.vmcoreinfo).guess_arch()
        capture.arch = ARCHES.get(guess) if guess else None
    return capture


def _table_rows(memory: PhysicalMemory, table_addr, base, size) -> tuple[list[TableEntry],
                                                                         list[str]]:
    """The SMEM table in RAM images as address rows for blob containers, and its warnings."""
    capture = Capture("--memory", "SMEM minidump table")
    rows = [TableEntry(cand.name, cand.paddr, cand.size, cand.seq,
                       valid=cand.status is None or cand.status.value != "invalid",
                       reason=cand.reason, where=cand.source, payload=cand.payload)
            for cand in smem.table_candidates(memory, capture, table_addr=table_addr,
                                              smem_base=base, smem_size=size)]
    return rows, capture.warnings
