"""meminspect's static table: ``.inspect_table`` in a vmlinux.

``include/linux/meminspect.h`` (series v1-v3) places one ``struct
inspect_entry`` per ``MEMINSPECT_*_ENTRY()`` in the output section
``.inspect_table`` (``include/asm-generic/vmlinux.lds.h``, bounded by
``__inspect_table``/``__inspect_table_end``); ``kernel/meminspect/meminspect.c``
walks it with stride ``sizeof(struct inspect_entry)``.  The ``va`` field holds
the link-time address of the symbol, or 0 on relocatable arm64 where the
``.rela.dyn`` addend has it.  IDs are ``enum meminspect_uid``; their names come
from the vmlinux's own debug info when it has the enum, else from the tables
below (meminspect.md section 3.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from minidump.errors import FormatError, MinidumpError, UsageError


def id_max() -> int:
    """``MEMINSPECT_ID_MAX`` (formats/meminspect.py; imported where a table is read, so that
    naming a capture's regions imports no construct)."""
    from minidump.formats.meminspect import MEMINSPECT_ID_MAX
    return MEMINSPECT_ID_MAX


if TYPE_CHECKING:
    import construct as cs

    from minidump.elf.vmlinux import Vmlinux

SECTION = ".inspect_table"
ENUM = "meminspect_uid"
ENUM_PREFIX = "MEMINSPECT_ID_"

_COMMON = ("ELF", "VMCOREINFO", "CONFIG", "_totalram_pages", "__cpu_possible_mask",
           "__cpu_present_mask", "__cpu_online_mask", "__cpu_active_mask", "mem_section",
           "jiffies_64", "linux_banner", "nr_threads")
_PRINTK = ("tainted_mask", "taint_flags", "node_states", "__per_cpu_offset", "nr_swapfiles",
           "init_uts_ns", "printk_rb_static", "printk_rb_dynamic", "prb", "prb_descs",
           "prb_infos", "prb_data")
_TEXT = ("_sinittext", "_einittext", "_end", "_text", "_stext", "_etext", "kallsyms_num_syms")
_KALLSYMS = ("kallsyms_names", "kallsyms_token_table", "kallsyms_token_index", "kallsyms_markers",
             "kallsyms_seqs_of_names", "swapper_pg_dir")

#: enum meminspect_uid by series (meminspect.md section 3.2); index = value
ID_TABLES: dict[str, tuple[str, ...]] = {
    "v3": ("NONE", *_COMMON, "total_nr_irqs", *_PRINTK, "clear_seq", "high_memory", "init_mm",
           *_TEXT, "kallsyms_offsets", *_KALLSYMS, "tk_data"),
    "v1": ("STATIC", *_COMMON, "nr_irqs", *_PRINTK, "high_memory", "init_mm", "init_mm_pgd",
           *_TEXT, "kallsyms_relative_base", "kallsyms_offsets", *_KALLSYMS),
}
ID_TABLES["v2"] = ID_TABLES["v1"]
MEMINSPECT_ID_DYNAMIC = 44
VERSIONS = ("v1", "v2", "v3")


@dataclass(frozen=True, slots=True)
class InspectEntry:
    """One ``struct inspect_entry``: from ``.inspect_table`` or ``inspect_entries[]``."""

    index: int           # position in its table
    id: int
    id_name: str
    va: int              # link-time VA (static table) or runtime VA (runtime table)
    pa: int
    size: int
    type: int
    symbol: str | None = None   # the symbol at va (link time), "name" or "name+0xoff"
    where: str = ""             # ".inspect_table[3]", "inspect_entries[44]"


@dataclass(frozen=True, slots=True)
class IdNames:
    """ID names and where they came from (the vmlinux's enum or a built-in table)."""

    names: dict[int, str]
    source: str

    def name(self, uid: int) -> str:
        if uid in self.names:
            return self.names[uid]
        if MEMINSPECT_ID_DYNAMIC <= uid < id_max():
            return f"DYNAMIC+{uid - MEMINSPECT_ID_DYNAMIC}"
        return f"unknown{uid}"


def builtin_names(version: str) -> IdNames:
    if version not in ID_TABLES:
        raise UsageError(f"--meminspect-version {version!r}: expected one of {', '.join(VERSIONS)}")
    names = dict(enumerate(ID_TABLES[version]))
    names[MEMINSPECT_ID_DYNAMIC] = "DYNAMIC"
    return IdNames(names, f"built-in {version} table")


def open_debuginfo(path: str | None):
    """The vmlinux's DWARF/BTF (``minidump.kernel.debuginfo``, issue 4), or None when unavailable."""
    if path is None:
        return None
    try:
        from minidump.kernel.debuginfo import DebugInfo
    except ImportError:
        return None
    try:
        return DebugInfo.open(path)
    except MinidumpError:
        return None   # unreadable BTF/DWARF: the built-in tables and C layouts still apply


def enum_names(debuginfo) -> IdNames | None:
    """``enum meminspect_uid`` from the vmlinux's debug info, prefix stripped."""
    if debuginfo is None:
        return None
    values = debuginfo.enum(ENUM)   # empty when the kernel has no such enum
    names = {}
    for name, value in values.items():
        short = name.removeprefix(ENUM_PREFIX)
        if short != "MAX":
            names.setdefault(value, short)
    return IdNames(names, f"enum {ENUM} in the vmlinux") if names else None


def detect_version(entries: list[InspectEntry]) -> str:
    """v3 vs v1/v2 from what ID 26 points at (meminspect.md section 3.2); default v3."""
    for entry in entries:
        if entry.id == 26 and entry.symbol:
            base = entry.symbol.partition("+")[0]
            if base == "high_memory":
                return "v2"
            if base == "clear_seq":
                return "v3"
    return "v3"


def entry_schema(vmlinux: "Vmlinux", debuginfo=None, section_size: int | None = None
                 ) -> "cs.Construct":
    """``struct inspect_entry`` for the vmlinux's ABI.

    32-bit kernels with a 64-bit ``phys_addr_t`` (LPAE/PAE) use 24-byte entries,
    others 20: the debug info's sizeof decides, else the entry symbols' st_size,
    else the section size.
    """
    if vmlinux.bits == 64:
        from minidump.formats.meminspect import inspect_entry
        return inspect_entry(vmlinux.little_endian, 64)
    size = _sizeof(debuginfo) or _symbol_stride(vmlinux)
    if size is None and section_size:
        size = 24 if section_size % 20 and not section_size % 24 else 20
    from minidump.formats.meminspect import inspect_entry
    return inspect_entry(vmlinux.little_endian, 32, size == 24)


def _sizeof(debuginfo) -> int | None:
    return None if debuginfo is None else debuginfo.struct_size("inspect_entry")


def _symbol_stride(vmlinux: "Vmlinux") -> int | None:
    """st_size of the ``__UNIQUE_ID___inspect_entry_*`` objects (meminspect.md section 2.5)."""
    section = vmlinux.section(SECTION)
    if section is None:
        return None
    for symbol in vmlinux.symbols.with_prefix("__UNIQUE_ID___inspect_entry_"):
        if symbol.shndx == section.index and symbol.size:
            return symbol.size
    return None


def entry_offsets(vmlinux: "Vmlinux", section) -> list[int]:
    """Section offsets of the ``__UNIQUE_ID___inspect_entry_*`` objects in ``.inspect_table``
    (meminspect.md section 2.8), in address order; empty when the symbols are gone."""
    found = {symbol.value - section.addr
             for symbol in vmlinux.symbols.with_prefix("__UNIQUE_ID___inspect_entry_")
             if symbol.shndx == section.index and section.addr <= symbol.value
             < section.addr + section.size}
    return sorted(found)


def read_static(vmlinux: "Vmlinux", names: IdNames | None = None, debuginfo=None,
                version: str | None = None) -> tuple[list[InspectEntry], IdNames]:
    """The ``.inspect_table`` entries, in section order, annotated with symbols.

    Raises FormatError when the section size is not a multiple of the entry
    size (the compiler may over-align entries; the kernel's own walk would then
    be wrong too).  Returns no entries when the vmlinux has no such section.
    """
    section = vmlinux.section(SECTION)
    if section is None:
        return [], names or builtin_names(version or "v3")
    schema = entry_schema(vmlinux, debuginfo, section.size)
    size = schema.sizeof()
    data = vmlinux.section_data(section)
    # each entry is an object of its own (``__UNIQUE_ID___inspect_entry_*``): read them where
    # their symbols put them, so an over-aligned table (x86_64 GCC aligns each 40-byte entry
    # to 32 bytes: 64 apart, meminspect v3 as posted) is read right; without those symbols
    # (stripped), entries are packed
    offsets = entry_offsets(vmlinux, section)
    if not offsets:
        if section.size % size:
            raise FormatError(f"section {SECTION}: size {section.size:#x} is not a multiple "
                              f"of entry size {size}", path=vmlinux.path,
                              offset=section.offset, field=SECTION)
        offsets = list(range(0, section.size, size))
    from minidump.formats.common import field_offsets, iter_table
    va_offset = field_offsets(schema)["va"]
    raw = []
    for index, at in enumerate(offsets):
        if at + size > len(data):
            raise FormatError(f"entry at {SECTION}+{at:#x} runs past the section's "
                              f"{len(data):#x} bytes", path=vmlinux.path,
                              offset=section.offset + at, field=f"inspect_entry[{index}]")
        _, fields = next(iter_table(schema, data, 1, at, path=vmlinux.path,
                                    what="inspect_entry", base=section.offset))
        va = fields["va"]
        if va == 0:
            va = vmlinux.relative_addend(section.addr + at + va_offset) or 0
        raw.append((index, fields, va, vmlinux.symbolize(va) if va else None))
    if names is None:
        names = enum_names(debuginfo)
    if names is None:
        provisional = [InspectEntry(i, f["id"], "", va, 0, 0, 0, sym) for i, f, va, sym in raw]
        names = builtin_names(version or detect_version(provisional))
    entries = [InspectEntry(index, f["id"], names.name(f["id"]), va, f["pa"], f["size"],
                            f["type"], symbol, f"{SECTION}[{index}]")
               for index, f, va, symbol in raw]
    return entries, names


def effective(entries: list[InspectEntry]) -> list[InspectEntry]:
    """Entries the kernel keeps: IDs 1..MAX-1, the last one per ID winning (section order)."""
    last: dict[int, InspectEntry] = {}
    for entry in entries:
        if 0 < entry.id < id_max():
            last[entry.id] = entry
    return [last[uid] for uid in sorted(last)]

