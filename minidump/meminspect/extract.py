"""What ``extract`` keeps of a full capture: the regions a kernel registered for inspection.

From a full capture (ELF vmcore, raw RAM images) and its vmlinux: meminspect's
runtime ``inspect_entries[]`` (``kernel/meminspect/meminspect.c``), else its
static ``.inspect_table`` translated to runtime addresses, plus memblock
regions flagged INSPECT (series v1), plus the lines of ``--regions FILE`` for
kernels without meminspect.  ``--profile crash`` adds what the real crash
reads before its prompt (on x86_64, what its normal mode walks: see ``_crash``).  The result is a Capture like any other:
the same planner and writer as ``build`` turn it into a vmcore.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from minidump.errors import FaultError, MinidumpError, SymbolError, UsageError
from minidump.model import Payload, Region

if TYPE_CHECKING:
    from minidump.capture import Capture
    from minidump.elf.vmlinux import Vmlinux
    from minidump.kernel.memory import KernelMemory

#: what crash reads at startup before its prompt, per arch (vmcore-consumers.md a.3, a.5):
#: x86_64 machdep_init(POST_RELOC) reads the randomized bases with FAULT_ON_ERROR
PROFILES: dict[str, dict[str, tuple[tuple[str, str], ...]]] = {
    "crash": {
        "x86_64": (
            ("page_offset_base", "crash x86_64 POST_RELOC: direct-map base (RANDOMIZE_MEMORY)"),
            ("vmalloc_base", "crash x86_64 POST_RELOC: vmalloc base (RANDOMIZE_MEMORY)"),
            ("vmemmap_base", "crash x86_64 POST_RELOC: vmemmap base (RANDOMIZE_MEMORY)"),
            ("kexec_crash_image", "crash kdump_backup_region_init reads it at startup; "
                                  "without it crash warns 'failed to init kexec backup region'"),
        ),
    },
}
#: ``--profile triage``: the crash profile, plus what a backtrace of each CPU's current task
#: needs (see :func:`_triage`)
PROFILES["triage"] = PROFILES["crash"]
#: ``--profile symbols``: the kallsyms tables whole (kernel/kallsyms_internal.h), so a reader
#: with no vmlinux can name addresses (see :func:`_symbols`)
PROFILES["symbols"] = PROFILES["crash"]
#: the tables scripts/kallsyms.c emits, in .rodata one after the other; kallsyms_token_index
#: (256 u16) is the last
KALLSYMS_TABLES = ("kallsyms_addresses", "kallsyms_offsets", "kallsyms_relative_base",
                   "kallsyms_num_syms", "kallsyms_names", "kallsyms_markers",
                   "kallsyms_seqs_of_names", "kallsyms_token_table", "kallsyms_token_index")
#: per-CPU variables that lead to the running task and its stacks (x86_64 arch/x86/kernel/cpu
#: /common.c, irq_64.c; arm64 arch/arm64/kernel/irq.c; kernel/sched/core.c ``runqueues``)
TRIAGE_PERCPU = ("current_task", "pcpu_hot", "hardirq_stack_ptr", "cpu_current_top_of_stack",
                 "runqueues", "irq_stack_ptr", "irq_stack", "__cpu_number", "cpu_number",
                 "cpu_tss_rw")
#: x86_64's IST stacks in the cpu_entry_area (arch/x86/include/asm/cpu_entry_area.h
#: ESTACKS_MEMBERS; VC stacks are empty without SEV): an NMI or #DF backtrace runs there,
#: and crash checks each one at startup through the page tables
EXCEPTION_STACKS = ("DF_stack", "NMI_stack", "DB_stack", "MCE_stack", "VC_stack", "VC2_stack")
#: (the task_struct is found through ``current_task`` or ``runqueues.curr``)
#: THREAD_SIZE and IRQ_STACK_SIZE without KASAN on x86_64 and arm64 (4 KiB pages)
THREAD_SIZE = 16384
#: globals a backtrace tool reads to pick the crashed CPU and walk tables
TRIAGE_GLOBALS = ("panic_cpu", "crashing_cpu", "nr_cpu_ids", "__cpu_online_mask",
                  "__cpu_possible_mask", "__cpu_present_mask", "tainted_mask", "init_top_pgt",
                  "swapper_pg_dir")
#: small globals crash 8.0 reads early in normal mode (found by running it on the triage
#: minidump of the harness's panic dump); the kernel text and tables it reads after them
#: are ``--profile crash``'s (see ``_crash``)
CRASH_STARTUP = ("xen_start_info", "shadow_timekeeper", "pv_ops", "idt_table",
                 "lookup_num_blocks")

#: where ``--profile crash`` keeps what crash's normal mode walks (measured with the real
#: crash on the harness's panics); elsewhere it keeps the base variables above only
CRASH_NORMAL_ARCHES = ("x86_64",)
#: ``--profile crash``: the triage profile plus what crash's normal mode walks before its
#: prompt and for ``sys``, ``bt``, ``log``, ``p``, ``ps`` (docs/howto/crash-normal-mode.md).
#: Kernel text crash 8.0 reads at startup (x86_64.c): x86_64_framepointer_init reads the
#: first bytes of these functions (and 5 bytes on, past a ftrace NOP) ...
CRASH_TEXT_HEADS = {"x86_64": ("sys_open", "sys_fork", "sys_read", "__x64_sys_open",
                               "__x64_sys_fork", "__x64_sys_read", "do_futex", "do_fork",
                               "_do_fork", "sys_write", "vfs_read", "__schedule")}
#: ... and x86_64_irq_eframe_link_init has gdb disassemble common_interrupt to the next
#: symbol (a failed read there leaves crash's temporary file open: "recursive temporary
#: file usage" ends the session)
CRASH_TEXT_WHOLE = {"x86_64": ("common_interrupt",)}
#: ... and x86_64_thread_return_init has gdb print as many *instructions* as the function
#: has bytes (``x/Ni``) from ``schedule``, then ``__schedule``, looking for the call to
#: ``__switch_to``: up to 15 bytes each (the longest x86 instruction)
CRASH_TEXT_INSNS = {"x86_64": ("schedule", "__schedule")}
MAX_INSN = {"x86_64": 15}
#: gdb reads code through its dcache, in 64-byte lines
GDB_LINE = 64
#: globals crash reads at startup or the commands print: pid namespace root (task table),
#: idle task, ``p jiffies / nr_irqs / node_states``, ``sys`` (load average, memory, uptime)
CRASH_GLOBALS = ("init_pid_ns", "init_task", "jiffies_64", "nr_irqs", "node_states",
                 "pv_info", "avenrun", "_totalram_pages", "totalram_pages", "nr_threads",
                 "init_mm", "init_uts_ns", "high_memory", "max_pfn", "min_low_pfn",
                 "max_low_pfn", "sys_tz", "panic_threads",
                 # memory.c vm_init: the pgdat list and page-flag names
                 "node_data", "contig_page_data", "pageflag_names",
                 # task.c task_init: the downsized task_struct, ps's state letters
                 "arch_task_struct_size", "task_state_array",
                 # sys: MACHINE's clock rate, PANIC's sysrq check
                 "cpu_khz", "sysrq_pressed",
                 # crash 9.0 maple_init (the VMA tree's node geometry)
                 "mt_slots", "mt_pivots")
#: pointers to strings crash prints at startup: (struct, member, symbol)
CRASH_STRINGS = (("pv_info", "name", "pv_info"),)
#: arrays of string pointers crash reads at startup: (symbol, words per entry, word of the
#: pointer): memory.c page_flags_init (``struct trace_print_flags {mask, name}``), task.c
#: ps's state names (``const char * const task_state_array[]``)
CRASH_STRING_TABLES = (("pageflag_names", 2, 1), ("task_state_array", 1, 0))
#: x86_64 ORC: LOOKUP_BLOCK_SIZE (1 << 8) bytes of text per orc_lookup entry, and
#: sizeof(struct orc_entry)
ORC_BLOCK, ORC_ENTRY = 256, 6
#: stacks whose return addresses lead crash's ``bt`` (and gdb) into kernel text
STACK_REGIONS = ("stack[", "irq_stack[") + tuple(f"{name}[" for name in EXCEPTION_STACKS)
#: a string followed through a pointer is kept to the end of its page: crash's read_string
#: reads up to BUFSIZE bytes, page by page, and a read that runs past a PT_LOAD fails
STRING_PAGE = 4096


def _string_size(pointer: int) -> int:
    return STRING_PAGE - pointer % STRING_PAGE


@dataclass
class Selection:
    """The regions chosen for a capture, before payloads."""

    regions: list[Region] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    added: list[dict[str, Any]] = field(default_factory=list)   # --profile additions


def _symbol_region(vmlinux: "Vmlinux", kernel: "KernelMemory", name: str, size: int | None,
                   source: str, reason: str = "") -> Region:
    symbol = vmlinux.symbol(name)
    size = size or symbol.size
    if not size:
        raise SymbolError(f"symbol {name} has no size; give 'SYMBOL SIZE'", path=source)
    vaddr = kernel.runtime(symbol.value)
    # the vmlinux placed it, so the object is that symbol, whatever the capture can tell
    return Region(None, name, object=name, paddr=kernel.pa(vaddr), vaddr=vaddr, size=size,
                  source=source, reason=reason)


def _from_regions_file(vmlinux, kernel, name: str, out: Selection) -> None:
    from minidump.meminspect.regionsfile import load_regions

    path, specs = load_regions(name, out.warnings)
    label = os.path.basename(path)
    ranges: dict[tuple, Region] = {}   # (paddr, vaddr, size) -> the first symbol's region
    aliases: list[str] = []
    for spec in specs:
        source = f"{label}:{spec.line}"
        if spec.paddr is not None:
            out.regions.append(Region(None, f"phys {spec.paddr:#x}", paddr=spec.paddr,
                                      vaddr=kernel.linear_va(spec.paddr), size=spec.size,
                                      source=source))
        elif spec.symbol not in vmlinux.symbols and spec.optional:
            out.warnings.append(f"{source}: {spec.symbol} is not in the vmlinux; skipped")
        else:
            try:
                region = _symbol_region(vmlinux, kernel, spec.symbol, spec.size, source)
            except SymbolError as exc:
                raise SymbolError(f"line {spec.line}: {exc.problem}", path=path) from None
            key = (region.paddr, region.vaddr, region.size)
            alias = ranges.get(key)
            if alias is not None:     # two names of one range (x86_64 _text and _stext)
                aliases.append(f"{source}: {spec.symbol} is {alias.name}")
                continue
            ranges[key] = region
            out.regions.append(region)
    if aliases:   # one warning, however many: a long file must not print a line per alias
        more = f"; and {len(aliases) - 3} more" if len(aliases) > 3 else ""
        out.warnings.append("; ".join(aliases[:3]) + more + " (same address and size); "
                            "kept once")


def _printk_dynamic(kernel: "KernelMemory", out: Selection) -> None:
    """What meminspect v3 registers at run time for a larger log (setup_log_buf: log_buf_len=
    or the per-CPU rule): the descriptor, info and text arrays ``prb`` now points at."""
    from minidump.errors import MinidumpError
    from minidump.kernel.printk import DYNAMIC_BUFFERS, dynamic_buffers
    info = kernel.translator.vmcoreinfo if kernel.translator is not None else None
    if info is None or kernel.arch is None or info.symbol("prb") is None:
        return
    try:
        buffers = dynamic_buffers(kernel, info, bits=kernel.arch.bits,
                                  little=kernel.arch.little_endian)
    except MinidumpError as exc:
        out.warnings.append(f"prb points at printk_rb_dynamic, whose buffers are not readable "
                            f"({exc.problem}); the log is not extracted")
        return
    for name, region in buffers:
        out.regions.append(Region(None, name, object=name, paddr=kernel.pa(region.vaddr),
                                  vaddr=region.vaddr, size=region.size,
                                  source="v3-default: dynamic"))
    if buffers:
        out.warnings.append("the kernel log is in larger buffers setup_log_buf allocated "
                            "(log_buf_len=): " + ", ".join(DYNAMIC_BUFFERS) + " added, as "
                            "meminspect v3 registers them")


def _from_meminspect(vmlinux, kernel, version: str | None, debuginfo, out: Selection) -> bool:
    """Runtime ``inspect_entries[]``, else static ``.inspect_table``; False if neither."""
    from minidump.meminspect.entries import read_inspect_entries
    from minidump.meminspect.static import effective, enum_names, read_static

    static, names = read_static(vmlinux, enum_names(debuginfo), debuginfo, version)
    entries = read_inspect_entries(vmlinux, kernel, names, debuginfo)
    if entries is None:
        if not static:
            return False
        out.warnings.append("no inspect_entries[] in the vmlinux: static .inspect_table only, "
                            "dynamic entries unknown")
        entries = [replace(e, va=kernel.runtime(e.va), pa=kernel.pa(kernel.runtime(e.va)) or 0)
                   for e in effective(static)]
    for entry in entries:
        source = entry.where + (f" {entry.symbol}" if entry.symbol else "")
        out.regions.append(Region(entry.id, entry.id_name, paddr=entry.pa or None,
                                  vaddr=entry.va or None, size=entry.size, source=source))
    return True


def _from_memblock(vmlinux, kernel, debuginfo, out: Selection) -> None:
    """memblock regions flagged INSPECT: series v1 only (v2/v3 dropped ``MEMBLOCK_INSPECT``
    after review), so a kernel whose ``enum memblock_flags`` lacks it is not read at all."""
    from minidump.meminspect.memblock import (inspect_regions, layout_from_debuginfo,
                                              read_memblock)

    flags = debuginfo.enum("memblock_flags") if debuginfo is not None else None
    if flags and "MEMBLOCK_INSPECT" not in flags:
        return
    try:
        regions = read_memblock(vmlinux, kernel, layout_from_debuginfo(debuginfo, vmlinux.bits))
    except FaultError as exc:
        out.warnings.append(f"memblock not in the capture ({exc.problem}); INSPECT regions "
                            "not read")
        return
    except MinidumpError as exc:
        # x86_64 (no ARCH_KEEP_MEMBLOCK) frees memblock's arrays after boot and the freed
        # pages are poisoned: the struct no longer describes anything
        out.warnings.append(f"memblock was freed after boot ({exc.problem}); INSPECT regions "
                            "(series v1 only) not read")
        return
    for region in regions or ():
        if region.unknown_flags or region.unknown_names:
            out.warnings.append(f"memblock.{region.type}[{region.index}] at {region.base:#x}: "
                                f"unknown flags {'|'.join(region.flag_names)}")
    for region in inspect_regions(regions or []):
        out.regions.append(Region(None, f"memblock.{region.type}[{region.index}]",
                                  paddr=region.base, vaddr=kernel.linear_va(region.base),
                                  size=region.size, source="memblock INSPECT"))


def _profile(vmlinux, kernel, arch: str, profile: str, out: Selection) -> None:
    base = kernel.translator.layout().phys_offset if kernel.translator is not None else None
    if arch == "arm" and base is not None:
        # crash (arm.c arm_kdump_phys_base) takes PHYS_OFFSET from the lowest PT_LOAD of an
        # ELF dump: the first page of RAM makes it the right one (Debian 6.1 armmp-lpae)
        out.regions.append(Region(None, "PHYS_OFFSET", paddr=base, vaddr=kernel.linear_va(base),
                                  size=4096, source=f"--profile {profile}"))
        out.added.append({"name": "PHYS_OFFSET", "vaddr": kernel.linear_va(base), "paddr": base,
                          "size": 4096, "why": "crash arm: PHYS_OFFSET is the lowest PT_LOAD"})
    for name, why in PROFILES[profile].get(arch, ()):
        if name not in vmlinux.symbols:
            continue
        # the why is said once, in the report's "added by --profile" lines (a row with a
        # reason is one a person must look at)
        region = _symbol_region(vmlinux, kernel, name, None, f"--profile {profile}")
        out.regions.append(region)
        out.added.append({"name": name, "vaddr": region.vaddr, "paddr": region.paddr,
                          "size": region.size, "why": why})


def select_runtime(capture: "Capture", *, version: str | None) -> Selection:
    """What ``extract`` writes for a full capture with no vmlinux: the kernel's own runtime
    table ``inspect_entries[]``, found through the capture's kallsyms, every used slot."""
    from minidump.meminspect.entries import read_runtime_table
    from minidump.meminspect.static import builtin_names

    info = capture.vmcoreinfo
    if info is None:
        raise UsageError(f"{capture.input}: no VMCOREINFO (note, or text in its memory); "
                         "give --vmlinux VMLINUX or --vmcoreinfo FILE")
    names = builtin_names(version or "v3")
    entries = read_runtime_table(capture, names)
    if entries is None:
        raise UsageError(f"{capture.input}: without --vmlinux, extract reads the kernel's own "
                         "meminspect table (inspect_entries) through the capture's kallsyms, "
                         "which do not list it; give --vmlinux VMLINUX (and --regions "
                         "v3-default for a kernel without meminspect)")
    out = Selection()
    for entry in entries:
        out.regions.append(Region(entry.id, entry.id_name, paddr=entry.pa or None,
                                  vaddr=entry.va or None, size=entry.size, source=entry.where))
    if version is None:
        # v1/v2 shift IDs 26-43: where VMCOREINFO's symbols sit says which series it is
        from minidump.meminspect.naming import capture_version
        if capture_version(out.regions, info, "unknown").series == "v2":
            names = builtin_names("v2")
            out.regions = [r.with_(name=names.name(r.id)) for r in out.regions]
    if not out.regions:
        out.warnings.append("no registered regions found")
    return out


def select(vmlinux: "Vmlinux", kernel: "KernelMemory", arch: str, *, regions_file: str | None,
           profile: str | None, version: str | None) -> Selection:
    """Every region ``extract`` writes for this capture, in report order."""
    from minidump.meminspect.static import open_debuginfo

    if profile is not None and profile not in PROFILES:
        raise UsageError(f"--profile {profile!r}: expected one of {', '.join(sorted(PROFILES))}")
    out = Selection()
    has_meminspect = ".inspect_table" in {s.name for s in vmlinux.sections} or \
        "inspect_entries" in vmlinux.symbols
    if has_meminspect:
        debuginfo = open_debuginfo(vmlinux.path)
        try:
            _from_meminspect(vmlinux, kernel, version, debuginfo, out)
            _from_memblock(vmlinux, kernel, debuginfo, out)
        finally:
            if debuginfo is not None:
                debuginfo.close()
    if regions_file:
        _from_regions_file(vmlinux, kernel, regions_file, out)
        if os.path.basename(regions_file).removesuffix(".regions") == "v3-default":
            _printk_dynamic(kernel, out)
    if not out.regions:
        if not has_meminspect and not regions_file:
            raise UsageError(f"{vmlinux.path}: this kernel has no meminspect (.inspect_table, "
                             "inspect_entries); give --regions FILE, e.g. --regions v3-default")
        out.warnings.append("no registered regions found")
    if profile:
        _profile(vmlinux, kernel, arch, profile, out)
    if profile == "triage" or (profile == "crash" and arch in CRASH_NORMAL_ARCHES):
        _triage(vmlinux, kernel, arch, out)
    if profile == "crash" and arch in CRASH_NORMAL_ARCHES:
        _crash(vmlinux, kernel, arch, out)
    if profile == "symbols":
        _symbols(vmlinux, kernel, out)
    return out


def _symbols(vmlinux: "Vmlinux", kernel: "KernelMemory", out: Selection) -> None:
    """One region from the first kallsyms table to the end of ``kallsyms_token_index``."""
    found = [vmlinux.symbols.get(n) for n in KALLSYMS_TABLES if n in vmlinux.symbols]
    if not found or "kallsyms_token_index" not in vmlinux.symbols:
        out.warnings.append("--profile symbols: no kallsyms tables in the vmlinux")
        return
    start = min(s.value for s in found)
    end = vmlinux.symbols.get("kallsyms_token_index").value + 256 * 2
    vaddr = kernel.runtime(start)
    _add(out, Region(None, "kallsyms", paddr=kernel.pa(vaddr), vaddr=vaddr, size=end - start,
                     source="--profile symbols"),
         "symbols: kallsyms tables (" + ", ".join(s.name for s in found) + ")")


def _add(out: Selection, region: Region | None, why: str) -> None:
    if region is None or region.paddr is None or region.size <= 0:
        return
    if any(r.paddr == region.paddr and r.size >= region.size for r in out.regions):
        return                                  # already kept (a --regions line, another CPU)
    # a smaller region inside this one (v3-default keeps init_top_pgt's first 8 bytes) goes
    # after it: crash reads from the first PT_LOAD holding the start of a read, and a page
    # read that runs past that segment's end fails (crash 8.0.2 then reads a zero PGD)
    inside = [i for i, r in enumerate(out.regions) if r.paddr is not None and
              region.paddr <= r.paddr and r.paddr + r.size <= region.paddr + region.size]
    out.regions.insert(inside[0] if inside else len(out.regions), region)
    out.added.append({"name": region.name, "vaddr": region.vaddr, "paddr": region.paddr,
                      "size": region.size, "why": why})


def _triage(vmlinux: "Vmlinux", kernel: "KernelMemory", arch: str, out: Selection) -> None:
    """What ``bt`` needs for every CPU's current task: per-CPU pointers, ``task_struct``,
    kernel stack and IRQ stack, with the page-table pages that map vmalloc'd stacks."""
    from minidump.kernel.pgtable import PAGE_SIZE, walk
    from minidump.meminspect.static import open_debuginfo

    symbols = vmlinux.symbols
    why = "--profile triage"
    for name in TRIAGE_GLOBALS + CRASH_STARTUP:
        if name in symbols and symbols.get(name).size:
            _add(out, _symbol_region(vmlinux, kernel, name, None, why), "triage: " + name)
    if "__per_cpu_offset" not in symbols:
        out.warnings.append("--profile triage: no __per_cpu_offset in the vmlinux (UP kernel?); "
                            "per-CPU data not added")
        return
    word = vmlinux.bits // 8
    base = kernel.runtime(symbols.get("__per_cpu_offset").value)
    ncpus = _cpu_count(vmlinux, kernel)
    offsets = []
    for cpu in range(ncpus):
        try:
            offsets.append(kernel.word(base + cpu * word, "__per_cpu_offset"))
        except MinidumpError:
            break
    _add(out, Region(None, "__per_cpu_offset", paddr=kernel.pa(base), vaddr=base,
                     size=len(offsets) * word, source=why), "triage: per-CPU bases")
    debuginfo = open_debuginfo(vmlinux.path)
    try:
        task_size = _task_size(vmlinux, kernel, (debuginfo.struct_size("task_struct")
                                                 if debuginfo else None) or
                               symbols.get("init_task").size)
        stack_at = debuginfo.member_offset("task_struct", "stack") if debuginfo else None
        rq_curr = debuginfo.member_offset("rq", "curr") if debuginfo else None
        estacks = [(debuginfo.member_offset("cea_exception_stacks", m),
                    debuginfo.member_size("cea_exception_stacks", m), m)
                   for m in EXCEPTION_STACKS] if debuginfo and arch == "x86_64" else []
        thread_size = (debuginfo.struct_size("thread_union") if debuginfo else None) or \
            THREAD_SIZE * (2 if "kasan_init" in symbols else 1)
    finally:
        if debuginfo is not None:
            debuginfo.close()
    info = kernel.translator.vmcoreinfo if kernel.translator is not None else None
    root_name = "init_top_pgt" if arch == "x86_64" else "swapper_pg_dir"
    root = kernel.pa(kernel.runtime(symbols.get(root_name).value)) if root_name in symbols \
        else None
    levels, sme = 4, 0
    if info is not None:
        if arch == "x86_64" and info.number("pgtable_l5_enabled"):
            levels = 5
        sme = (info.number("sme_mask") or 0) if arch == "x86_64" else 0
        if arch == "riscv64":
            from minidump.kernel.pgtable import riscv64_levels
            levels = riscv64_levels(info.number("VA_BITS")) or levels
    geometry = {}
    if arch == "arm64":
        from minidump.kernel.pgtable import arm64_geometry
        t1sz = info.number("TCR_EL1_T1SZ") if info is not None else None
        va_bits = 64 - t1sz if t1sz else (info.number("VA_BITS") if info is not None else None)
        shift, levels, lpa2 = arm64_geometry(info.number("PAGESIZE") if info else None, va_bits)
        geometry = {"page_shift": shift, "lpa2": lpa2}
    tables: set[int] = set()

    def mapped(name: str, vaddr: int, size: int, reason: str) -> None:
        """A range that may be vmalloc'd: linear/image rule first, else a page-table walk."""
        start, end = vaddr & ~(PAGE_SIZE - 1), vaddr + size
        direct = kernel.pa(vaddr)
        if direct is not None and kernel.pa(end - 1) == direct + size - 1 and (
                root is None or walk(kernel.memory, arch, root, vaddr, levels=levels,
                                     sme_mask=sme, **geometry).paddr in (None, direct)):
            # the image or linear-map rule holds (arm64's image rule also answers for the
            # vmalloc'd stacks around the image: the page tables decide)
            _add(out, Region(None, name, paddr=direct, vaddr=vaddr, size=size, source=why),
                 reason)
            return
        if root is None:
            out.warnings.append(f"--profile triage: {name} at {vaddr:#x} needs a page-table "
                                f"walk and {root_name} is unknown")
            return
        runs: list[list[int]] = []          # [vaddr, paddr, size] of physically contiguous pages
        for page in range(start, end, PAGE_SIZE):
            step = walk(kernel.memory, arch, root, page, levels=levels, sme_mask=sme,
                        **geometry)
            tables.update(step.tables)
            if step.paddr is None:
                out.warnings.append(f"--profile triage: {name} page {page:#x} is not mapped "
                                    "in the capture")
                continue
            if runs and runs[-1][0] + runs[-1][2] == page and runs[-1][1] + runs[-1][2] == \
                    step.paddr:
                runs[-1][2] += PAGE_SIZE
            else:
                runs.append([page, step.paddr, PAGE_SIZE])
        for number, (va, pa, length) in enumerate(runs, 1):
            label = name if len(runs) == 1 else f"{name} (part {number}/{len(runs)})"
            _add(out, Region(None, label, paddr=pa, vaddr=va, size=length, source=why), reason)

    for cpu, offset in enumerate(offsets):
        for name in TRIAGE_PERCPU:
            symbol = symbols.get(name)
            if symbol is None or not symbol.size:
                continue
            vaddr = _percpu_address(kernel, vmlinux, symbol, offset)
            mapped(f"{name}[cpu{cpu}]", vaddr, symbol.size, f"triage: CPU {cpu} {name}")
        task = _current_task(kernel, symbols, vmlinux, offset, word, rq_curr)
        if task is None:
            out.warnings.append(f"--profile triage: CPU {cpu}: current task not readable")
            continue
        mapped(f"task_struct[cpu{cpu}]", task, task_size, f"triage: CPU {cpu} current task")
        if stack_at is not None:
            try:
                stack = kernel.word(task + stack_at, "task_struct.stack")
            except MinidumpError:
                stack = None
            if stack:
                mapped(f"stack[cpu{cpu}]", stack, thread_size,
                       f"triage: CPU {cpu} current task's kernel stack (THREAD_SIZE)")
        irq = _percpu_word(kernel, symbols, vmlinux, ("hardirq_stack_ptr", "irq_stack_ptr"),
                           offset, word)
        if irq:
            # x86_64 hardirq_stack_ptr points at the top of the IRQ stack (minus 8); arm64
            # irq_stack_ptr at its base
            low = (irq + 8 - THREAD_SIZE) & ~(PAGE_SIZE - 1) if arch == "x86_64" else irq
            mapped(f"irq_stack[cpu{cpu}]", low, THREAD_SIZE, f"triage: CPU {cpu} IRQ stack")
        ist = _percpu_word(kernel, symbols, vmlinux, ("cea_exception_stacks",), offset, word)
        for at, size, member in estacks if ist else ():
            if at is not None and size:
                mapped(f"{member}[cpu{cpu}]", ist + at, size,
                       f"triage: CPU {cpu} exception stack (cpu_entry_area)")
    for table in sorted(tables):
        va = kernel.linear_va(table)
        _add(out, Region(None, f"page table {table:#x}", paddr=table, vaddr=va, size=PAGE_SIZE,
                         source=why), "triage: page-table page (maps a vmalloc'd stack)")


def _crash(vmlinux: "Vmlinux", kernel: "KernelMemory", arch: str, out: Selection) -> None:
    """What crash's normal mode reads beyond the triage set: the kernel text its x86_64
    startup reads, the globals its commands print, and the task table it builds from
    ``init_pid_ns``'s xarray (every ``struct pid`` and ``task_struct``, each user task's
    ``mm_struct``)."""
    from minidump.meminspect.static import open_debuginfo

    symbols = vmlinux.symbols
    why = "--profile crash"

    def keep(name: str, link: int, size: int, reason: str, line: int = 1) -> None:
        start, end = link & ~(line - 1), (link + size + line - 1) & ~(line - 1)
        link, size = start, end - start
        vaddr = kernel.runtime(link)
        _add(out, Region(None, name, paddr=kernel.pa(vaddr), vaddr=vaddr, size=size,
                         source=why), reason)

    for name in CRASH_TEXT_HEADS.get(arch, ()):
        if name in symbols:
            keep(f"{name} (text)", symbols.get(name).value, 16,
                 "crash: framepointer check reads the function's first bytes")
    for name in CRASH_TEXT_WHOLE.get(arch, ()):
        symbol = symbols.get(name)
        if symbol is None:
            continue
        end = symbols.next_start(symbol.value) or symbol.value + symbol.size
        keep(f"{name} (text)", symbol.value, max(symbol.size, end - symbol.value),
             "crash: gdb disassembles it at startup", GDB_LINE)
    for name in CRASH_TEXT_INSNS.get(arch, ()):
        symbol = symbols.get(name)
        if symbol is None:
            continue
        end = symbols.next_start(symbol.value) or symbol.value + symbol.size
        keep(f"{name} (text)", symbol.value, (end - symbol.value) * MAX_INSN[arch],
             "crash: gdb lists as many instructions as the function has bytes", GDB_LINE)
    for name in CRASH_GLOBALS:
        if name in symbols and symbols.get(name).size:
            _add(out, _symbol_region(vmlinux, kernel, name, None, why), "crash: " + name)
    for name, stride, at in CRASH_STRING_TABLES:
        symbol = symbols.get(name)
        if symbol is None or not symbol.size:
            continue
        _add(out, _symbol_region(vmlinux, kernel, name, None, why), "crash: " + name)
        word = vmlinux.bits // 8
        try:
            table = kernel.words(kernel.runtime(symbol.value), symbol.size // word, name)
        except MinidumpError:
            continue
        # crash reads an entry past the array's end, looking for its NULL terminator
        _add(out, Region(None, f"{name} end", paddr=kernel.pa(kernel.runtime(symbol.value)) +
                         symbol.size, vaddr=kernel.runtime(symbol.value) + symbol.size,
                         size=stride * word, source=why), f"crash: the entry after {name}")
        for pointer in table[at::stride]:
            if pointer:
                _add(out, Region(None, f"{name} string", paddr=kernel.pa(pointer),
                                 vaddr=pointer, size=_string_size(pointer), source=why),
                     f"crash: a string {name} points at")
    _stack_text(vmlinux, kernel, arch, out)
    _mem_sections(kernel, out)
    debuginfo = open_debuginfo(vmlinux.path)
    if debuginfo is None:
        out.warnings.append("--profile crash: the vmlinux has no BTF or DWARF; the task "
                            "table (ps) is not added")
        return
    try:
        for struct, member, name in CRASH_STRINGS:
            at = debuginfo.member_offset(struct, member)
            if name in symbols and at is not None:
                try:
                    pointer = kernel.word(kernel.runtime(symbols.get(name).value) + at, name)
                except MinidumpError:
                    continue
                _add(out, Region(None, f"{name}.{member} string", paddr=kernel.pa(pointer),
                                 vaddr=pointer, size=_string_size(pointer), source=why),
                     f"crash: prints {struct}.{member}")
        _nodes(debuginfo, vmlinux, kernel, out)
        _tasks(debuginfo, vmlinux, kernel, out)
    finally:
        debuginfo.close()


def _stack_text(vmlinux: "Vmlinux", kernel: "KernelMemory", arch: str,
                out: Selection) -> None:
    """The kernel functions the kept stacks return into: crash's ``bt`` reads the call
    before each return address and has gdb disassemble the function to size its frame."""
    symbols = vmlinux.symbols
    first, last = symbols.get("_stext") or symbols.get("_text"), symbols.get("_etext")
    if first is None or last is None:
        return
    low, high = kernel.runtime(first.value), kernel.runtime(last.value)
    word = vmlinux.bits // 8
    little = "little" if kernel.arch is None or kernel.arch.little_endian else "big"
    functions: set[int] = set()
    for region in [r for r in out.regions if r.name.startswith(STACK_REGIONS)]:
        try:
            data = kernel.memory.read(region.paddr, region.size, region.name)
        except MinidumpError:
            continue
        for at in range(0, len(data) - word + 1, word):
            value = int.from_bytes(data[at:at + word], little)
            if low <= value < high:
                functions.add(value - kernel.kerneloffset & ((1 << 64) - 1))
    _orc(vmlinux, kernel, sorted(functions), out)
    for link in sorted(functions):
        # a return address may be just past its function (a call to a noreturn function
        # ends it): the call before it names the function
        found = symbols.preceding(link - 1)
        if found is None:
            continue
        found = (found[0], found[1] + 1)
        start = link - found[1]
        end = max(link, symbols.next_start(start) or link + 1,
                  # x86_64_get_framesize: gdb lists as many instructions as the return
                  # address is bytes into its function
                  start + found[1] * MAX_INSN.get(arch, 4))
        # gdb's dcache line around each end: it reads a line past a function's last byte
        start = (start & ~(GDB_LINE - 1)) - GDB_LINE
        end = ((end + GDB_LINE - 1) & ~(GDB_LINE - 1)) + GDB_LINE
        vaddr = kernel.runtime(start)
        _add(out, Region(None, f"{found[0]} (text)", paddr=kernel.pa(vaddr), vaddr=vaddr,
                         size=end - start, source="--profile crash"),
             "crash: a function a kept stack returns into (bt)")


def _orc(vmlinux: "Vmlinux", kernel: "KernelMemory", links: list[int], out: Selection) -> None:
    """x86_64 ORC unwind data for these text addresses (arch/x86/kernel/unwind_orc.c, which
    crash's x86_64 ``bt`` mirrors): ``orc_lookup[idx]`` and ``[idx + 1]`` for the address's
    256-byte block bound a run of ``__start_orc_unwind_ip`` (4 bytes each) searched by
    bisection, and the matching run of ``__start_orc_unwind`` entries (6 bytes each)."""
    symbols = vmlinux.symbols
    names = ("orc_lookup", "__start_orc_unwind_ip", "__start_orc_unwind", "_stext")
    if not all(name in symbols for name in names):
        return
    lookup, ips, entries, stext = (symbols.get(name).value for name in names)
    runs: set[tuple[int, int]] = set()
    for link in links:
        idx = (link - stext) // ORC_BLOCK
        at = kernel.runtime(lookup + idx * 4)
        try:
            start, stop = (int.from_bytes(kernel.read_virt(at, 8, "orc_lookup")[i:i + 4],
                                          "little") for i in (0, 4))
        except MinidumpError:
            continue
        _add(out, Region(None, f"orc_lookup[{idx}]", paddr=kernel.pa(at), vaddr=at, size=8,
                         source="--profile crash"), "crash: ORC lookup block (bt)")
        if stop >= start:
            runs.add((start, stop + 1))
    for start, stop in sorted(runs):
        for base, width, label in ((ips, 4, "orc_unwind_ip"), (entries, ORC_ENTRY, "orc_unwind")):
            vaddr = kernel.runtime(base + start * width)
            _add(out, Region(None, f"{label}[{start}:{stop + 1}]", paddr=kernel.pa(vaddr),
                             vaddr=vaddr, size=(stop + 1 - start) * width,
                             source="--profile crash"), "crash: ORC unwind entries (bt)")


def _mem_sections(kernel: "KernelMemory", out: Selection) -> None:
    """SPARSEMEM_EXTREME's tables (include/linux/mmzone.h): crash reads the root table
    whole at startup (``mem_section``, LENGTH(mem_section) pointers) and the
    ``struct mem_section`` arrays of the roots in use (a page each)."""
    info = kernel.translator.vmcoreinfo if kernel.translator is not None else None
    if info is None or not info.symbol("mem_section") or not info.length("mem_section"):
        return
    root, roots = info.symbol("mem_section"), info.length("mem_section")
    section = info.size("mem_section") or 16
    page = info.number("PAGESIZE") or 4096
    word = kernel.arch.bits // 8 if kernel.arch is not None else 8
    _add(out, Region(None, "mem_section roots", paddr=kernel.pa(root), vaddr=root,
                     size=roots * word, source="--profile crash"),
         "crash: sparsemem root table (read whole at startup)")
    try:
        pointers = kernel.words(root, roots, "mem_section")
    except MinidumpError as exc:
        out.warnings.append(f"--profile crash: mem_section not readable ({exc.problem})")
        return
    for number, pointer in enumerate(pointers):
        if pointer:
            _add(out, Region(None, f"mem_section[{number}]", paddr=kernel.pa(pointer),
                             vaddr=pointer, size=page // section * section,
                             source="--profile crash"), "crash: sparsemem sections")


def _nodes(debuginfo, vmlinux: "Vmlinux", kernel: "KernelMemory", out: Selection) -> None:
    """NUMA ``node_data[]`` (memory.c node_table_init): each node's ``pglist_data`` whole,
    with its zones, and the zone names they point at (``sys``, ``kmem -z``)."""
    symbol = vmlinux.symbols.get("node_data")
    size = debuginfo.struct_size("pglist_data")
    zones = debuginfo.member_offset("pglist_data", "node_zones")
    zone_size = debuginfo.struct_size("zone")
    zone_name = debuginfo.member_offset("zone", "name")
    count = debuginfo.member_length("pglist_data", "node_zones")
    if symbol is None or not size:
        return
    word = vmlinux.bits // 8
    try:
        pointers = kernel.words(kernel.runtime(symbol.value), symbol.size // word, "node_data")
    except MinidumpError:
        return
    for node, pgdat in enumerate(pointers):
        if not pgdat:
            continue
        _add(out, Region(None, f"pglist_data[{node}]", paddr=kernel.pa(pgdat), vaddr=pgdat,
                         size=size, source="--profile crash"), "crash: node's pglist_data")
        for zone in range(count or 0) if None not in (zones, zone_size, zone_name) else ():
            try:
                name = kernel.word(pgdat + zones + zone * zone_size + zone_name, "zone.name")
            except MinidumpError:
                continue
            if name:
                _add(out, Region(None, f"zone name {node}.{zone}", paddr=kernel.pa(name),
                                 vaddr=name, size=16, source="--profile crash"),
                     "crash: zone name")


def _task_size(vmlinux: "Vmlinux", kernel: "KernelMemory", static: int | None) -> int | None:
    """The size of a task's allocation: x86_64's ``arch_task_struct_size`` (task_struct with
    the FPU state cut to the CPU's xstate size: 6144 on the harness's QEMU CPU, against
    9728 in BTF), which crash also reads.  Keeping the BTF size would overlap the next
    task in the slab, and crash reads a task from the first PT_LOAD holding its start."""
    symbol = vmlinux.symbols.get("arch_task_struct_size")
    if symbol is None:
        return static
    try:
        size = kernel.word(kernel.runtime(symbol.value), "arch_task_struct_size", size=4)
    except MinidumpError:
        return static
    return size if 0 < size <= (static or size) else static


def _idle_tasks(debuginfo, vmlinux: "Vmlinux", kernel: "KernelMemory", task_size: int,
                out: Selection) -> None:
    """Each CPU's idle task (``runqueues.idle``): PID 0 is in no pid namespace, and crash
    adds the idle tasks to its table first."""
    symbols = vmlinux.symbols
    idle_at = debuginfo.member_offset("rq", "idle")
    if idle_at is None or "runqueues" not in symbols or "__per_cpu_offset" not in symbols:
        return
    word = vmlinux.bits // 8
    base = kernel.runtime(symbols.get("__per_cpu_offset").value)
    for cpu in range(_cpu_count(vmlinux, kernel)):
        try:
            offset = kernel.word(base + cpu * word, "__per_cpu_offset")
            rq = _percpu_address(kernel, vmlinux, symbols.get("runqueues"), offset)
            task = kernel.word(rq + idle_at, "rq.idle")
        except MinidumpError:
            continue
        if task:
            _add(out, Region(None, f"idle task[cpu{cpu}]", paddr=kernel.pa(task), vaddr=task,
                             size=task_size, source="--profile crash"),
                 f"crash: CPU {cpu} idle task (task table)")


def _xarray_entries(kernel: "KernelMemory", head: int, nodes: list[int],
                    node_slots: int) -> list[int]:
    """Every pointer entry of an xarray (include/linux/xarray.h): an internal entry
    (low bits 10) above 4096 is an ``xa_node`` (``shift`` at 0, ``slots[64]`` at
    ``node_slots``); small internal entries are siblings/retries, odd ones values."""
    entries, todo = [], [head]
    while todo and len(nodes) < 65536:
        entry = todo.pop()
        if entry == 0 or entry & 1:
            continue
        if entry & 3 == 2:
            if entry < 4096 * 4 + 2:
                continue                        # sibling or retry entry
            node = entry - 2
            try:
                slots = kernel.words(node + node_slots, 64, "xa_node.slots")
            except MinidumpError:
                continue
            nodes.append(node)
            todo.extend(reversed(slots))
            continue
        entries.append(entry)
    return entries


def _tasks(debuginfo, vmlinux: "Vmlinux", kernel: "KernelMemory", out: Selection) -> None:
    """crash's task table: ``init_pid_ns.idr`` is an xarray of ``struct pid``; each pid's
    ``tasks[PIDTYPE_PID].first`` is ``task_struct.pid_links[0]`` of its task."""
    symbols = vmlinux.symbols
    need = {"head": debuginfo.member_offset("pid_namespace", "idr.idr_rt.xa_head"),
            "slots": debuginfo.member_offset("xa_node", "slots"),
            "tasks": debuginfo.member_offset("pid", "tasks"),
            "links": debuginfo.member_offset("task_struct", "pid_links"),
            "mm": debuginfo.member_offset("task_struct", "mm"),
            "pid": debuginfo.struct_size("pid"), "upid": debuginfo.struct_size("upid"),
            "node": debuginfo.struct_size("xa_node"),
            "task": debuginfo.struct_size("task_struct"),
            "mm_struct": debuginfo.struct_size("mm_struct")}
    need["task"] = _task_size(vmlinux, kernel, need["task"])
    if None in need.values() or "init_pid_ns" not in symbols:
        out.warnings.append("--profile crash: no init_pid_ns xarray (struct pid, xa_node) in "
                            "the vmlinux's types; the task table (ps) is not added")
        return
    try:
        head = kernel.word(kernel.runtime(symbols.get("init_pid_ns").value) + need["head"],
                           "init_pid_ns.idr")
    except MinidumpError as exc:
        out.warnings.append(f"--profile crash: init_pid_ns not readable ({exc.problem}); "
                            "the task table (ps) is not added")
        return
    _idle_tasks(debuginfo, vmlinux, kernel, need["task"], out)
    nodes: list[int] = []
    pids = _xarray_entries(kernel, head, nodes, need["slots"])
    for node in nodes:
        _add(out, Region(None, f"xa_node {node:#x}", paddr=kernel.pa(node), vaddr=node,
                         size=need["node"], source="--profile crash"),
             "crash: init_pid_ns xarray node (task table)")
    mms: set[int] = set()
    for pid in pids:
        # struct pid ends in numbers[level + 1]; init_pid_ns is level 0
        _add(out, Region(None, f"pid {pid:#x}", paddr=kernel.pa(pid), vaddr=pid,
                         size=need["pid"] + need["upid"], source="--profile crash"),
             "crash: struct pid (task table)")
        try:
            first = kernel.word(pid + need["tasks"], "pid.tasks")
        except MinidumpError:
            continue
        if not first:
            continue
        task = first - need["links"]
        _add(out, Region(None, f"task_struct {task:#x}", paddr=kernel.pa(task), vaddr=task,
                         size=need["task"], source="--profile crash"),
             "crash: task_struct (task table, ps)")
        try:
            mm = kernel.word(task + need["mm"], "task_struct.mm")
        except MinidumpError:
            continue
        if mm and mm not in mms:
            mms.add(mm)
            _add(out, Region(None, f"mm_struct {mm:#x}", paddr=kernel.pa(mm), vaddr=mm,
                             size=need["mm_struct"], source="--profile crash"),
                 "crash: mm_struct (ps memory columns)")


def vmlinux_start(vmlinux: "Vmlinux") -> int:
    """Lowest kernel-image link address: per-CPU symbols below it are offsets (x86_64)."""
    symbol = vmlinux.symbols.get("_stext") or vmlinux.symbols.get("_text")
    return symbol.value if symbol is not None else 0


def _percpu_address(kernel, vmlinux, symbol, offset: int) -> int:
    if symbol.value >= vmlinux_start(vmlinux):
        return (kernel.runtime(symbol.value) + offset) & ((1 << 64) - 1)
    return (symbol.value + offset) & ((1 << 64) - 1)


def _percpu_word(kernel, symbols, vmlinux, names, offset: int, word: int) -> int | None:
    for name in names:
        symbol = symbols.get(name)
        if symbol is not None:
            try:
                return kernel.word(_percpu_address(kernel, vmlinux, symbol, offset), name)
            except MinidumpError:
                return None
    return None


def _current_task(kernel, symbols, vmlinux, offset: int, word: int,
                  rq_curr: int | None) -> int | None:
    """The CPU's running task: x86_64 ``current_task`` / ``pcpu_hot.current_task`` (offset 0),
    else ``runqueues.curr`` (kernel/sched/sched.h ``struct rq``; arm64 keeps ``current`` in
    ``sp_el0``, which only the CPU notes hold)."""
    task = _percpu_word(kernel, symbols, vmlinux, ("current_task", "pcpu_hot"), offset, word)
    if task:
        return task
    rq = symbols.get("runqueues")
    if rq is None or rq_curr is None:
        return None
    try:
        return kernel.word(_percpu_address(kernel, vmlinux, rq, offset) + rq_curr, "rq.curr")
    except MinidumpError:
        return None


def _cpu_count(vmlinux, kernel) -> int:
    """``nr_cpu_ids`` from memory, bounded; 1 when unreadable."""
    symbol = vmlinux.symbols.get("nr_cpu_ids")
    if symbol is None:
        return 1
    try:
        count = kernel.word(kernel.runtime(symbol.value), "nr_cpu_ids", size=4)
    except MinidumpError:
        return 1
    return max(1, min(count, 4096))


def with_payloads(capture: "Capture", regions: list[Region]) -> list[Region]:
    """Point each region into the capture's files; split where it spans two of them.

    The parts of a split region keep its ID, so the result keeps the default
    scheme (duplicates are same ID *and* name, or same range), not "meminspect".
    """
    out = []
    for region in regions:
        if region.paddr is None or region.size <= 0:
            out.append(region)
            continue
        pieces = capture.memory.pieces(region.paddr, region.size)
        held = sum(p.size for p in pieces)
        if held < region.size or len(pieces) == 1:
            first = pieces[0] if pieces else None
            out.append(region.with_(payload=Payload(first.path, first.offset, first.size)
                                    if first else None))
            continue
        for number, piece in enumerate(pieces, 1):
            delta = piece.addr - region.paddr
            out.append(region.with_(name=f"{region.name} (part {number}/{len(pieces)})",
                                    paddr=piece.addr, size=piece.size,
                                    vaddr=region.vaddr + delta if region.vaddr else None,
                                    payload=Payload(piece.path, piece.offset, piece.size)))
    return out
