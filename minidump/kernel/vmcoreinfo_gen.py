"""Generate VMCOREINFO from a vmlinux, as ``makedumpfile -g`` does, plus runtime values.

The keys follow the kernel's own producer so a generated text can stand in
for a missing note: ``kernel/vmcore_info.c`` (generic block; ``crash_core.c``
before 6.9), ``kernel/printk/printk.c:log_buf_vmcoreinfo_setup`` (printk
block) and ``arch_crash_save_vmcoreinfo`` (``arch/x86/kernel/vmcore_info_64.c``,
``arch/arm64/kernel/vmcore_info.c``).  Sizes, offsets, lengths and enum values
come from :class:`~minidump.kernel.debuginfo.DebugInfo` (BTF, else DWARF); symbols
from ``.symtab``.  A key whose type or symbol the vmlinux lacks is left out,
as the kernel's ``#ifdef``s would leave it out.

Runtime values (KERNELOFFSET, x86_64 ``phys_base`` and ``pgtable_l5_enabled``,
arm64 ``kimage_voffset``/``PHYS_OFFSET``/``TCR_EL1_T1SZ``, the
``mem_section`` pointer) come from the capture: from its own VMCOREINFO when
it has one, else from memory: ``linux_banner`` is searched in the capture's
PT_LOADs to place the kernel image physically, and ``init_mm.pgd`` (which
holds ``swapper_pg_dir``'s runtime address) gives the KASLR offset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from minidump.errors import FormatError, MinidumpError
from minidump.kernel.debuginfo import DebugInfo
from minidump.kernel.image import find_image
from minidump.kernel.translate import MASK64, X86_64_START_KERNEL_MAP
from minidump.kernel.vmcoreinfo import VmcoreInfo, compose

if TYPE_CHECKING:
    from minidump.capture import Capture

#: runtime keys copied from a capture's own VMCOREINFO when it has one
RUNTIME_KEYS = ("KERNELOFFSET", "NUMBER(phys_base)", "NUMBER(pgtable_l5_enabled)",
                "NUMBER(sme_mask)", "NUMBER(kimage_voffset)", "NUMBER(PHYS_OFFSET)",
                "NUMBER(TCR_EL1_T1SZ)", "NUMBER(VA_BITS)", "NUMBER(KERNELPACMASK)",
                "NUMBER(VMALLOC_START)", "SYMBOL(mem_section)", "NUMBER(KERNEL_IMAGE_SIZE)")

#: (struct, member) pairs of the generic block, emitted as OFFSET(struct.member)
GENERIC_OFFSETS = (
    ("page", "flags"), ("page", "_refcount"), ("page", "mapping"), ("page", "lru"),
    ("page", "_mapcount"), ("page", "private"), ("page", "compound_dtor"),
    ("page", "compound_order"), ("page", "compound_head"), ("folio", "_folio_dtor"),
    ("folio", "_folio_order"), ("pglist_data", "node_zones"), ("pglist_data", "nr_zones"),
    ("pglist_data", "node_start_pfn"), ("pglist_data", "node_spanned_pages"),
    ("pglist_data", "node_id"), ("zone", "free_area"), ("zone", "vm_stat"),
    ("zone", "spanned_pages"), ("free_area", "free_list"), ("list_head", "next"),
    ("list_head", "prev"), ("vmap_area", "va_start"), ("vmap_area", "list"),
)
GENERIC_SIZES = ("page", "pglist_data", "zone", "free_area", "list_head", "nodemask_t")
#: the enum that declares each enumerator VMCOREINFO prints (include/linux/page-flags.h
#: ``pageflags``, mmzone.h ``zone_stat_item``, mm.h ``compound_dtor_id``, nodemask.h
#: ``node_states``): read from its enum, an enumerator the kernel lacks (PG_hwpoison without
#: CONFIG_MEMORY_FAILURE) costs no search of every DWARF unit (minutes on a kernel without BTF)
ENUM_OF = {"NR_FREE_PAGES": "zone_stat_item", "HUGETLB_PAGE_DTOR": "compound_dtor_id",
           "N_ONLINE": "node_states"}


def _enumerator(dbg, name: str) -> int | None:
    owner = "pageflags" if name.startswith("PG_") else ENUM_OF.get(name)
    values = dbg.enum(owner) if owner else {}
    return values.get(name) if values else dbg.enumerator(name)


GENERIC_NUMBERS = ("NR_FREE_PAGES", "PG_lru", "PG_private", "PG_swapcache", "PG_swapbacked",
                   "PG_slab", "PG_hwpoison", "HUGETLB_PAGE_DTOR")
KALLSYMS = ("kallsyms_names", "kallsyms_num_syms", "kallsyms_token_table",
            "kallsyms_token_index", "kallsyms_offsets", "kallsyms_relative_base")

#: kernel/printk/printk.c: log_buf_vmcoreinfo_setup, lockless ring (5.10+)
PRINTK_SIZES = ("printk_ringbuffer", "prb_desc_ring", "prb_desc", "prb_data_blk_lpos",
                "printk_info", "dev_printk_info", "prb_data_ring", "atomic_long_t",
                "latched_seq")
PRINTK_OFFSETS = (
    ("printk_ringbuffer", "desc_ring"), ("printk_ringbuffer", "text_data_ring"),
    ("printk_ringbuffer", "fail"), ("prb_desc_ring", "count_bits"), ("prb_desc_ring", "descs"),
    ("prb_desc_ring", "infos"), ("prb_desc_ring", "head_id"), ("prb_desc_ring", "tail_id"),
    ("prb_desc", "state_var"), ("prb_desc", "text_blk_lpos"), ("prb_data_blk_lpos", "begin"),
    ("prb_data_blk_lpos", "next"), ("printk_info", "seq"), ("printk_info", "ts_nsec"),
    ("printk_info", "text_len"), ("printk_info", "caller_id"), ("printk_info", "dev_info"),
    ("dev_printk_info", "subsystem"), ("dev_printk_info", "device"),
    ("prb_data_ring", "size_bits"), ("prb_data_ring", "data"), ("prb_data_ring", "head_lpos"),
    ("prb_data_ring", "tail_lpos"), ("atomic_long_t", "counter"), ("latched_seq", "val"),
)
#: the same function before 5.10: the structured log_buf
LEGACY_PRINTK_OFFSETS = (("printk_log", "ts_nsec"), ("printk_log", "len"),
                         ("printk_log", "text_len"), ("printk_log", "dict_len"),
                         ("printk_log", "caller_id"))

#: arch/x86/include/asm/sparsemem.h; arch/arm64/include/asm/sparsemem.h (6.x)
SECTION_SIZE_BITS = {"x86_64": 27, "arm64": 27}
MAX_PHYSMEM_BITS = {"x86_64": 46, "arm64": 48}


@dataclass(frozen=True)
class RuntimeValues:
    """Runtime values the vmlinux cannot know, and where they came from."""

    kerneloffset: int | None = None
    values: dict[str, str] = field(default_factory=dict)   # key -> VMCOREINFO text
    source: str = ""


def generate(dbg: DebugInfo, runtime: RuntimeValues | None = None,
             pagesize: int = 4096) -> list[tuple[str, str]]:
    """VMCOREINFO ``(key, value)`` pairs for ``dbg``'s kernel, in the kernel's order."""
    runtime = runtime or RuntimeValues()
    shift = runtime.kerneloffset or 0
    out: list[tuple[str, str]] = []
    add = out.append

    def symbol(name: str, alias: str | None = None, delta: int = 0) -> None:
        address = dbg.symbol(alias or name)
        if address is not None:
            add((f"SYMBOL({name})", f"{(address + shift + delta) & MASK64:x}"))

    def size(name: str) -> None:
        value = dbg.struct_size(name)
        if value is not None:
            add((f"SIZE({name})", str(value)))

    def offset(struct: str, member: str) -> None:
        value = dbg.member_offset(struct, member)
        if value is not None:
            add((f"OFFSET({struct}.{member})", str(value)))

    def number(name: str, value: int | None) -> None:
        if value is not None:
            add((f"NUMBER({name})", str(value)))

    add(("OSRELEASE", dbg.osrelease or ""))
    if dbg.build_id:
        add(("BUILD-ID", dbg.build_id))
    add(("PAGESIZE", str(pagesize)))
    symbol("init_uts_ns")
    offset("uts_namespace", "name")
    nodemask = dbg.struct_size("nodemask_t")
    n_online = _enumerator(dbg, "N_ONLINE")
    if nodemask is not None and n_online is not None:
        # node_online_map is node_states[N_ONLINE] (include/linux/nodemask.h)
        symbol("node_online_map", "node_states", n_online * nodemask)
    symbol("swapper_pg_dir", "init_top_pgt" if dbg.arch == "x86_64" else None)
    symbol("_stext")
    symbol("vmap_area_list")
    for name in ("mem_map", "contig_page_data", "vmemmap"):
        symbol(name)
    if "SYMBOL(mem_section)" in runtime.values:
        add(("SYMBOL(mem_section)", runtime.values["SYMBOL(mem_section)"]))
    else:
        symbol("mem_section")
    _sparsemem(dbg, add, pagesize)
    for name in GENERIC_SIZES:
        size(name)
    folios = dbg.member_offset("page", "compound_dtor") is None   # 6.3+: moved to folio
    for struct, member in GENERIC_OFFSETS:
        if struct != "folio" or folios:
            offset(struct, member)
    _length(dbg, add, "zone", "free_area")
    _printk(dbg, symbol, size, offset, add)
    _length(dbg, add, "free_area", "free_list")
    for name in GENERIC_NUMBERS:
        number(name, _enumerator(dbg, name))
    head = _enumerator(dbg, "PG_head")
    number("PG_head_mask", None if head is None else 1 << head)
    for name in KALLSYMS:
        symbol(name)
    _arch_block(dbg, runtime, symbol, add)
    return out


def _sparsemem(dbg: DebugInfo, add, pagesize: int) -> None:
    """LENGTH/SIZE/OFFSET of mem_section and the section geometry (SPARSEMEM_EXTREME)."""
    if dbg.symbol("mem_section") is None:   # FLATMEM (32-bit arm): no DWARF search
        return
    section = dbg.struct_size("mem_section")
    if section is None:
        return
    bits, physmem = SECTION_SIZE_BITS.get(dbg.arch), MAX_PHYSMEM_BITS.get(dbg.arch)
    if bits and physmem:
        # include/linux/mmzone.h: NR_SECTION_ROOTS = DIV_ROUND_UP(NR_MEM_SECTIONS, SECTIONS_PER_ROOT)
        per_root = pagesize // section
        add(("LENGTH(mem_section)", str(-(-(1 << (physmem - bits)) // per_root))))
    add(("SIZE(mem_section)", str(section)))
    offset = dbg.member_offset("mem_section", "section_mem_map")
    if offset is not None:
        add(("OFFSET(mem_section.section_mem_map)", str(offset)))
    if bits and physmem:
        add(("NUMBER(SECTION_SIZE_BITS)", str(bits)))
        add(("NUMBER(MAX_PHYSMEM_BITS)", str(physmem)))


def _length(dbg: DebugInfo, add, struct: str, member: str) -> None:
    value = dbg.member_length(struct, member)
    if value is not None:
        add((f"LENGTH({struct}.{member})", str(value)))


def _printk(dbg: DebugInfo, symbol, size, offset, add) -> None:
    if dbg.symbol("prb") is not None:
        for name in ("prb", "printk_rb_static", "clear_seq"):
            symbol(name)
        for name in PRINTK_SIZES:
            size(name)
        for struct, member in PRINTK_OFFSETS:
            offset(struct, member)
        for name, member in (("printk_info_subsystem", "subsystem"),
                             ("printk_info_device", "device")):
            value = dbg.member_size("dev_printk_info", member)
            if value is not None:
                add((f"LENGTH({name})", str(value)))
        return
    for name in ("log_buf", "log_buf_len", "log_first_idx", "clear_idx", "log_next_idx"):
        symbol(name)
    size("printk_log")
    for struct, member in LEGACY_PRINTK_OFFSETS:
        offset(struct, member)


def _arch_block(dbg: DebugInfo, runtime: RuntimeValues, symbol, add) -> None:
    values = runtime.values
    if dbg.arch == "x86_64":
        if "NUMBER(phys_base)" in values:
            add(("NUMBER(phys_base)", values["NUMBER(phys_base)"]))
        symbol("init_top_pgt")
        add(("NUMBER(pgtable_l5_enabled)", values.get("NUMBER(pgtable_l5_enabled)", "0")))
        node_data = dbg.symbol_size("node_data")
        if node_data is not None:
            symbol("node_data")
            add(("LENGTH(node_data)", str(node_data // (dbg.bits // 8))))
        if "NUMBER(KERNEL_IMAGE_SIZE)" not in values and dbg.symbol("kernel_randomize_memory"):
            # arch/x86/include/asm/page_64_types.h: 1 GiB with CONFIG_RANDOMIZE_BASE
            add(("NUMBER(KERNEL_IMAGE_SIZE)", str(1 << 30)))
    elif dbg.arch in ("arm64", "arm"):
        for key in ("NUMBER(VA_BITS)", "NUMBER(kimage_voffset)", "NUMBER(PHYS_OFFSET)",
                    "NUMBER(TCR_EL1_T1SZ)"):
            if key in values:
                add((key, values[key]))
    if runtime.kerneloffset is not None:
        add(("KERNELOFFSET", f"{runtime.kerneloffset:x}"))
    for key in ("NUMBER(KERNEL_IMAGE_SIZE)", "NUMBER(sme_mask)", "NUMBER(KERNELPACMASK)"):
        if key in values:
            add((key, values[key]))


# -- runtime values from a capture ---------------------------------------------
def runtime_from_vmcoreinfo(info: VmcoreInfo, source: str) -> RuntimeValues:
    """The runtime keys of an existing VMCOREINFO."""
    values = {key: info.get(key) for key in RUNTIME_KEYS if key in info}
    return RuntimeValues(info.kerneloffset, values, source)


def runtime_from_memory(capture: "Capture", dbg: DebugInfo) -> RuntimeValues:
    """Place the kernel image by finding ``linux_banner`` in the capture's memory.

    The KASLR offset is the capture's own virtual address of the banner where
    it has one (kdump PT_LOADs), else ``init_mm.pgd`` against the page-table
    root's link address.  Raises MinidumpError when the banner or ``init_mm``
    is not captured.
    """
    try:
        image = find_image(capture.memory, dbg.vmlinux, path=capture.input)
    except FormatError as exc:
        raise MinidumpError("linux_banner of the vmlinux is not in the capture; cannot derive "
                            "KERNELOFFSET (wrong vmlinux, or the kernel image was not captured)",
                            path=capture.input) from exc
    link_banner = dbg.symbol("linux_banner")
    banner_pa = image.pa(link_banner)
    kaslr = image.banner_kaslr()
    if kaslr is None:
        pgd = dbg.member_offset("mm_struct", "pgd")
        root = "init_top_pgt" if dbg.arch == "x86_64" else "swapper_pg_dir"
        kaslr = (image.word("init_mm", delta=pgd) - dbg.symbol(root)) & MASK64
    values: dict[str, str] = {}
    runtime_va = (link_banner + kaslr) & MASK64
    if dbg.arch == "x86_64":
        values["NUMBER(phys_base)"] = str(banner_pa - (runtime_va - X86_64_START_KERNEL_MAP))
        if dbg.symbol("__pgtable_l5_enabled") is not None:
            values["NUMBER(pgtable_l5_enabled)"] = str(image.word("__pgtable_l5_enabled", size=4))
        if dbg.symbol("sme_me_mask") is not None:
            values["NUMBER(sme_mask)"] = str(image.word("sme_me_mask", size=8))
    elif dbg.arch == "arm64":
        values["NUMBER(kimage_voffset)"] = f"{(runtime_va - banner_pa) & MASK64:#x}"
        if dbg.symbol("memstart_addr") is not None:
            values["NUMBER(PHYS_OFFSET)"] = f"{image.word('memstart_addr'):#x}"
        if dbg.symbol("vabits_actual") is not None:
            values["NUMBER(TCR_EL1_T1SZ)"] = f"{64 - image.word('vabits_actual'):#x}"
    elif dbg.arch == "arm" and dbg.symbol("__pv_phys_pfn_offset") is not None:
        # 32-bit arm's own VMCOREINFO has no PHYS_OFFSET (crash takes the lowest PT_LOAD);
        # the kernel keeps it as a pfn for ARM_PATCH_PHYS_VIRT
        values["NUMBER(PHYS_OFFSET)"] = f"{image.word('__pv_phys_pfn_offset') << 12:#x}"
    if dbg.symbol_size("mem_section") == dbg.bits // 8:
        # SPARSEMEM_EXTREME: VMCOREINFO_SYMBOL_ARRAY exports the pointer's value
        values["SYMBOL(mem_section)"] = f"{image.word('mem_section'):x}"
    return RuntimeValues(kaslr, values, "linux_banner and init_mm.pgd in the capture's memory")


def generate_text(dbg: DebugInfo, capture: "Capture | None" = None, *,
                  pagesize: int | None = None) -> tuple[bytes, RuntimeValues]:
    """The VMCOREINFO text for ``dbg`` and the runtime values used (from ``capture`` if given)."""
    runtime = RuntimeValues()
    if capture is not None:
        if capture.vmcoreinfo is not None:
            info = capture.vmcoreinfo
            runtime = runtime_from_vmcoreinfo(info, f"{capture.input}: VMCOREINFO note")
            pagesize = pagesize or info.pagesize
        else:
            runtime = runtime_from_memory(capture, dbg)
    return compose(generate(dbg, runtime, pagesize or 4096)), runtime
