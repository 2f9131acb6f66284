"""What kernel object each region of a capture holds, without a vmlinux.

Firmware names are truncated and sometimes wrong (meminspect v3 names ID 29
``Ktk_data`` and IDs 30-200 ``Kunknown``, meminspect.md section 8.4), so a
region's ``object`` comes only from evidence in the capture itself, strongest
first:

1. the capture's kallsyms tables: one symbol name starts at the region's VA;
2. VMCOREINFO: ``SYMBOL(name)`` is the region's VA;
3. the meminspect ID, read with the ID table of the series the capture was
   built with (:func:`capture_version`: v1/v2 or v3; IDs 26-43 differ), for
   static IDs (``.inspect_table``, meminspect.md section 4.1) and the
   kernel's own regions 1-3; a VMCOREINFO symbol of another address
   contradicts it and leaves the region unnamed;
4. dynamic registrations (section 4.2) recognised by what points at them:
   the ``mem_section`` root (the pointer ``mem_section`` holds, which is what
   VMCOREINFO's ``SYMBOL(mem_section)`` gives), each node's ``pglist_data``
   (``node_data[nid]``), printk's dynamic buffers (``printk_rb_dynamic``'s
   pointers) and each
   possible CPU's ``runqueues`` (the one per-CPU object meminspect registers:
   one region per possible CPU at ``__per_cpu_offset[cpu]`` plus one constant,
   all of one size, at least two CPUs).

Anything else is ``unknown``: nothing is guessed from a name or a size alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from minidump.errors import MinidumpError
from minidump.meminspect.static import ID_TABLES, MEMINSPECT_ID_DYNAMIC
from minidump.model import Kind, Region, Status

if TYPE_CHECKING:
    from minidump.capture import Capture

UNKNOWN = "unknown"

#: the object an ID's enum name registers, where the two differ (meminspect.md section 4.1)
ID_OBJECTS = {"prb_descs": "_printk_rb_static_descs", "prb_infos": "_printk_rb_static_infos",
              "prb_data": "__log_buf", "tk_data": "timekeeper_data"}
#: the kernel's own regions, registered at run time with fixed IDs
OWN_OBJECTS = {1: "meminspect ELF header", 2: "vmcoreinfo_data"}
#: the region of ID 3 starts 8 bytes before kernel_config_data, at its "IKCFG_ST" marker
CONFIG_MARKER = b"IKCFG_ST"

#: the firmware's name for an ID in one series only (its name table, meminspect.md 8.4)
_NAME_EVIDENCE = {(26, "Kclear_se"): "v3", (29, "Ktk_data"): "v3",
                  (26, "Khigh_mem"): "v2", (28, "Kinit_mm_"): "v2"}


@dataclass(frozen=True, slots=True)
class Version:
    """The meminspect series of a capture and why: ``v3``, ``v2`` (v1 and v2 share IDs) or
    None when the capture does not say, or says both."""

    series: str | None
    evidence: tuple[str, ...]

    def text(self) -> str:
        what = {"v3": "v3", "v2": "v1/v2", None: "not known"}[self.series]
        return f"{what} ({'; '.join(self.evidence)})" if self.evidence else what


def capture_version(regions: list[Region], info, scheme: str) -> Version:
    """v3 or v1/v2, from where VMCOREINFO's symbols sit and the firmware's names by ID."""
    votes: list[tuple[str, str]] = []
    by_id = {r.id: r for r in regions if r.id is not None and r.vaddr is not None}
    if info is not None:
        clear_seq = info.symbol("clear_seq")
        if clear_seq is not None and 26 in by_id:
            votes.append(("v3" if by_id[26].vaddr == clear_seq else "v2",
                          f"ID 26 {'is' if by_id[26].vaddr == clear_seq else 'is not'} "
                          "clear_seq"))
        pgd = info.symbol("swapper_pg_dir")
        for ident, series in ((42, "v3"), (43, "v2")):
            if pgd is not None and ident in by_id and by_id[ident].vaddr == pgd:
                votes.append((series, f"ID {ident} is swapper_pg_dir"))
    if scheme == "meminspect":
        for region in regions:
            series = _NAME_EVIDENCE.get((region.id, region.name))
            if series:
                votes.append((series, f"ID {region.id} is named {region.name}"))
    found = {series for series, _ in votes}
    evidence = tuple(why for _, why in votes)
    return Version(found.pop() if len(found) == 1 else None, evidence)


def id_object(ident: int | None, version: str | None) -> str | None:
    """The object a static meminspect ID registers in ``version`` (None: only where every
    series agrees), or None for IDs that name no fixed object."""
    if ident is None or not 4 <= ident < MEMINSPECT_ID_DYNAMIC:
        return None
    tables = [ID_TABLES[version]] if version else [ID_TABLES["v3"], ID_TABLES["v2"]]
    names = {t[ident] for t in tables if ident < len(t)}
    if len(names) != 1:
        return None
    name = names.pop()
    if name == "init_mm_pgd":    # declared, never annotated (meminspect.md section 3.2)
        return None
    return ID_OBJECTS.get(name, name)


def name_objects(capture: "Capture", regions: list[Region]) -> tuple[list[str], dict]:
    """The object of each of ``regions`` (``unknown`` where nothing identifies it), and what
    the naming rests on (``meminspect`` version, ``objects`` counts by evidence; with the
    capture's vmlinux, ``uncaptured``: registered ``.inspect_table`` entries it lacks)."""
    if capture.vmlinux:
        from minidump.elf.vmlinux import Vmlinux
        with Vmlinux.open(capture.vmlinux) as vmlinux:
            return _name_all(capture, regions, vmlinux)
    return _name_all(capture, regions, None)


def _name_all(capture, regions, vmlinux) -> tuple[list[str], dict]:
    from minidump.meminspect.vmlinux_names import VmlinuxNames, uncaptured
    info = capture.vmcoreinfo
    from minidump.kernel.kallsyms import readable_table
    table = readable_table(capture)
    meminspect = capture.scheme == "meminspect" or any(
        r.source.startswith("inspect_entries[") for r in regions)   # extract's runtime table
    version = capture_version(regions, info, capture.scheme) if meminspect else None
    symbols = _vmcoreinfo_symbols(info, _translator(capture))
    names = VmlinuxNames(capture, vmlinux) if vmlinux is not None else None
    dynamic = _dynamic_objects(capture, regions, info, names) if meminspect else {}
    out, counts = [], {}
    for index, region in enumerate(regions):
        name, how = _name_one(capture, region, index, table, symbols, version, dynamic, meminspect)
        if not name and capture.recorded_objects:
            from minidump.vmcore.metadata import recorded_key
            name = capture.recorded_objects.get(recorded_key(region))
            how = RECORDED if name else how
        if names is not None:
            name, how = _with_vmlinux(names, region, name, how)
        out.append(name or UNKNOWN)
        if name:
            counts[how] = counts.get(how, 0) + 1
    meta: dict = {"objects": counts}
    if version is not None:
        meta["meminspect"] = version.text()
    if vmlinux is not None and meminspect:
        meta["uncaptured"] = uncaptured(capture, vmlinux, regions)
    return out, meta


VMLINUX = "the vmlinux's symbols"
#: an object our vmcore recorded (its MINIDUMP note) where nothing else in it names one
RECORDED = "the vmcore's record"


def _with_vmlinux(names, region, name, how):
    """The symbol table decides, except where other evidence names a symbol that starts
    there too (``_sinittext`` rather than the first init function) or a dynamic object."""
    if name and how == "the vmlinux (the symbol it was extracted by)":
        return name, how
    if name and how == "meminspect ID" and (name in names.symbols or " " in name):
        # the ID says what the region is; a symbol that shares its address does not.  An
        # ID whose label is no symbol of this kernel (v1/v2 ``nr_irqs`` registering
        # ``total_nr_irqs``; x86_64's ``swapper_pg_dir``, a macro for ``init_top_pgt``)
        # takes the symbol the vmlinux has there
        return name, how
    if name and names.agrees(name, region):
        return name, VMLINUX
    hit = names.hit(region)
    if name and "[" in name:     # a dynamic object: the pointers that lead to it name it
        return name, VMLINUX if hit is not None and hit.text() == name else how
    if hit is not None and hit.exact:
        return hit.text(), VMLINUX
    if name:
        return name, how
    return (hit.text(), VMLINUX) if hit is not None else (None, "")


def _name_one(capture, region, index, table, symbols, version, dynamic, meminspect):
    """One region's object.  For a meminspect capture the ID says what a region is: a
    symbol that merely shares its address (``set_reset_devices`` at ``_sinittext``, an
    alias like x86_64's ``init_top_pgt``) does not; only VMCOREINFO placing the ID's object
    elsewhere unnames it."""
    from minidump.kernel.kallsyms import certain_name
    if region.object:
        return region.object, "the vmlinux (the symbol it was extracted by)"
    runtime = region.source.startswith("inspect_entries[")   # the kernel's own table
    if meminspect and region.id in OWN_OBJECTS:
        own = region.kind is (Kind.VMCOREINFO if region.id == 2 else Kind.ELF)
        if own or runtime:
            return OWN_OBJECTS[region.id], "meminspect ID"
    if meminspect and region.id == 3 and (runtime or
                                          _starts_with(capture, region, CONFIG_MARKER)):
        return "kernel_config_data - 8", "meminspect ID"
    if meminspect:
        name = id_object(region.id, version.series if version else None)
        if name is not None:
            where = symbols.get(name)
            if where is not None and where != region.vaddr:
                return None, ""      # VMCOREINFO places that object elsewhere
            return name, "meminspect ID"
    if table is not None:
        name = certain_name(table, region.vaddr)
        if name:
            return name, "kallsyms"
    by_symbol = symbols.get(region.vaddr) if region.vaddr is not None else None
    if by_symbol is None and region.paddr is not None:
        # an image object registered by its linear-map alias: the same physical address
        by_symbol = symbols.get(("pa", region.paddr))
    if by_symbol is not None:
        return by_symbol, "VMCOREINFO"
    if index in dynamic:
        return dynamic[index], BY_CONTENT if index in dynamic.by_content else POINTED_AT
    return None, ""


def _translator(capture):
    """VMCOREINFO's kernel-image rule (virtual to physical), or None."""
    if capture.vmcoreinfo is None or not capture.arch:
        return None
    from minidump.kernel.translate import Translator
    try:
        return Translator(capture.arch, capture.vmcoreinfo)
    except MinidumpError:
        return None


#: VMCOREINFO_SYMBOL_ARRAY (kernel/crash_core.c, vmcore_info.c): SYMBOL() is the pointer's
#: value, not the variable's address: the object it points at (None: no object to name)
VALUE_SYMBOLS = {"mem_section": "mem_section[] root", "vmemmap": None}


def _vmcoreinfo_symbols(info, translator=None) -> dict:
    """``SYMBOL(name)=addr`` both ways: address -> name (unique addresses only), name -> address,
    and ``("pa", paddr)`` -> name where ``translator`` maps the symbol to a physical address."""
    if info is None:
        return {}
    by_addr: dict = {}
    by_name: dict = {}
    for key in list(info.entries):
        if not key.startswith("SYMBOL(") or not key.endswith(")"):
            continue
        name = key[7:-1]
        addr = info.symbol(name)
        if addr is None or name in VALUE_SYMBOLS and VALUE_SYMBOLS[name] is None:
            continue
        if name in VALUE_SYMBOLS:
            by_addr.setdefault(addr, set()).add(VALUE_SYMBOLS[name])
            continue
        by_name[name] = addr
        by_addr.setdefault(addr, set()).add(name)
        paddr = _image_pa(translator, addr)
        if paddr is not None:
            by_addr.setdefault(("pa", paddr), set()).add(name)
    out: dict = {a: n.pop() for a, n in by_addr.items() if len(n) == 1}
    out.update(by_name)
    return out


def _image_pa(translator, vaddr: int) -> int | None:
    if translator is None:
        return None
    try:
        return translator.pa(vaddr)
    except MinidumpError:
        return None


def _starts_with(capture, region: Region, magic: bytes) -> bool:
    if region.paddr is None or region.status not in (Status.WRITTEN, None):
        return False
    try:
        return capture.read(region.paddr, len(magic)) == magic
    except MinidumpError:
        return False


def _read_words(capture, vaddr: int | None, count: int) -> list[int] | None:
    """``count`` target words (``unsigned long``: 4 or 8 bytes) at ``vaddr``, or None."""
    if vaddr is None or capture.elf_arch is None:
        return None
    try:
        return capture.kernel.words(vaddr, count)
    except MinidumpError:
        return None


POINTED_AT, BY_CONTENT = "what points at it", "its own fields"


class _Found(dict):
    """Region index -> object, and which of them were known by their own fields."""

    def __init__(self) -> None:
        super().__init__()
        self.by_content: set[int] = set()


def _dynamic_objects(capture, regions: list[Region], info, names=None) -> _Found:
    """Dynamic registrations recognised by the captured pointers that lead to them."""
    found = _Found()
    dyn = {i: r for i, r in enumerate(regions)
           if r.id is not None and r.id >= MEMINSPECT_ID_DYNAMIC and r.vaddr is not None}
    if not dyn:
        return found

    def where(symbol: str) -> int | None:
        addr = info.symbol(symbol) if info is not None else None
        return addr if addr is not None or names is None else names.symbol_at(symbol)

    def claim(vaddr: int | None, name: str, least: int | None = None) -> None:
        for i, region in dyn.items():
            if vaddr and region.vaddr == vaddr and i not in found \
                    and (least is None or region.size >= least):
                found[i] = name

    # the SPARSEMEM_EXTREME root: what the mem_section pointer holds (VMCOREINFO's
    # SYMBOL(mem_section) is that value already)
    root = [info.symbol("mem_section")] if info is not None and info.symbol("mem_section") \
        else _read_words(capture, names.symbol_at("mem_section") if names else None, 1)
    if root:
        claim(root[0], "mem_section[] root")
    # each NUMA node's pglist_data: node_data[nid] points at it
    nodes = where("node_data")
    if nodes is not None:
        count = (info.length("node_data") if info is not None else None) or _symbol_words(
            names, "node_data") or 1
        least = info.size("pglist_data") if info is not None else None
        for nid, pointer in enumerate(_read_words(capture, nodes, min(count, 1024)) or ()):
            claim(pointer, f"node_data[{nid}]", least)
    _nodes_by_content(capture, info, dyn, found)
    # printk's dynamic buffers (setup_log_buf): printk_rb_dynamic's pointers lead to them
    for name, pointer in _printk_dynamic(capture, info):
        claim(pointer, name)
    found.update(_runqueues(capture, regions, dyn, found))
    return found


def _nodes_by_content(capture, info, dyn, found) -> None:
    """A node's pglist_data when ``node_data[]`` itself is not captured: the size the kernel
    allocates for it (SIZE(pglist_data) rounded up to a cache line or a page) and its own
    fields agreeing: ``node_id`` a node number, ``nr_zones`` a zone count, a non-empty span."""
    if info is None:
        return
    size, page = info.size("pglist_data"), info.pagesize or 4096
    fields = {f: info.offset(f"pglist_data.{f}") for f in
              ("node_id", "nr_zones", "node_spanned_pages")}
    nodes = info.length("node_data") or 1
    if not size or None in fields.values() or capture.elf_arch is None:
        return
    kernel = capture.kernel
    for i, region in dyn.items():
        if i in found or not size <= region.size <= -(-size // page) * page:
            continue
        try:     # int node_id, int nr_zones, unsigned long node_spanned_pages
            nid = kernel.word(region.vaddr + fields["node_id"], "node_id", 4)
            zones = kernel.word(region.vaddr + fields["nr_zones"], "nr_zones", 4)
            spanned = kernel.word(region.vaddr + fields["node_spanned_pages"],
                                  "node_spanned_pages")
        except MinidumpError:
            continue
        if nid < nodes and 0 < zones <= 8 and spanned:
            found[i] = f"node_data[{nid}]"
            found.by_content.add(i)


def _symbol_words(names, symbol: str) -> int | None:
    found = names.symbols.get(symbol) if names is not None else None
    return found.size // names.word if found is not None and found.size else None


def _printk_dynamic(capture, info) -> list[tuple[str, int]]:
    """The buffers setup_log_buf moved the log to, named by the pointer that leads to each."""
    from minidump.kernel.printk import dynamic_buffers
    if info is None or info.symbol("prb") is None:
        return []
    arch = capture.elf_arch
    try:
        buffers = dynamic_buffers(capture.kernel, info, bits=arch.bits if arch else 64,
                                  little=arch.little_endian if arch else True)
    except MinidumpError:
        return []
    return [(name, region.vaddr) for name, region in buffers]


#: the static per-CPU section's span (``.data..percpu``: a few hundred KiB)
PERCPU_SECTION_MAX = 4 << 20


def _percpu_static(capture, base: int) -> bool:
    """Is ``base`` an address in the static per-CPU section: zero-based on older x86_64
    (Debian's 6.1), within the kernel image elsewhere (and on x86_64 7.2)?"""
    if capture.arch == "x86_64" and base < PERCPU_SECTION_MAX:
        return True
    info = capture.vmcoreinfo
    stext = info.symbol("_stext") if info is not None else None
    return stext is not None and stext <= base < stext + (1 << 30)


def _runqueues(capture, regions, dyn, found) -> dict[int, str]:
    """runqueues: one region per possible CPU at __per_cpu_offset[cpu] + one constant."""
    out: dict[int, str] = {}
    by_id = {r.id: r for r in regions if r.id is not None}
    offsets_region, possible_region = by_id.get(17), by_id.get(5)
    word = capture.elf_arch.bits // 8 if capture.elf_arch is not None else 8
    if offsets_region is None or possible_region is None or offsets_region.size < word:
        return out
    offsets = _read_words(capture, offsets_region.vaddr, offsets_region.size // word)
    mask = _read_words(capture, possible_region.vaddr, max(1, possible_region.size // word))
    if not offsets or not mask:
        return out
    bits = 8 * word
    cpus = [c for c in range(min(len(offsets), bits * len(mask)))
            if mask[c // bits] >> (c % bits) & 1]
    if len(cpus) == 1:
        # one CPU: runqueues is the one per-CPU object meminspect registers, so the one
        # dynamic region whose per-CPU base (vaddr - __per_cpu_offset[cpu]) lies in the
        # static per-CPU section (zero-based on x86_64, in the kernel image elsewhere)
        cpu = cpus[0]
        hits = [i for i, region in dyn.items() if i not in found
                and _percpu_static(capture, (region.vaddr - offsets[cpu]) % (1 << bits))]
        if len(hits) == 1:
            out[hits[0]] = f"runqueues[cpu{cpu}]"
        return out
    groups: dict[tuple[int, int], dict[int, int]] = {}
    for i, region in dyn.items():
        if i in found:
            continue
        for cpu in cpus:
            base = (region.vaddr - offsets[cpu]) % (1 << bits)
            groups.setdefault((base, region.size), {})[cpu] = i
    for (base, size), members in groups.items():
        if len(members) == len(cpus):
            for cpu, i in members.items():
                out[i] = f"runqueues[cpu{cpu}]"
    return out
