"""Facts about a dumped kernel and what each consumer needs from the capture.

Facts come from VMCOREINFO and the captured memory; with a vmlinux also from
symbols the note does not carry: ``linux_banner`` (``init/version.c``),
``jiffies_64`` (``kernel/time/timer.c``), ``tainted_mask``
(``kernel/panic.c``, letters from ``taint_flags[]``), ``__cpu_online_mask``
(``kernel/cpu.c``).  Without a vmlinux the banner is the log's first
"Linux version" record and the release comes from ``init_uts_ns``
(``struct new_utsname``: six ``char[65]`` fields).

The readiness rows say, per consumer, which VMCOREINFO keys and which memory
it needs, following /work/shared/spec/vmcore-consumers.md: crash (a.2, a.5),
drgn (b.2), makedumpfile (c.3), vmcore-dmesg (c.4: memory by ``p_vaddr`` only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from typing import TYPE_CHECKING

from minidump.errors import FaultError, MinidumpError
from minidump.kernel.kallsyms import KALLSYMS_SOURCE, address_in
from minidump.kernel.printk import ring_regions
from minidump.kernel.translate import MASK64, Translator
from minidump.model import Arch

if TYPE_CHECKING:
    from minidump.capture import Capture

#: kernel/panic.c: taint_flags[] letters, bit order (TAINT_PROPRIETARY_MODULE = 0 ...)
TAINT_LETTERS = "PFSRMBUDAWCIOELKXTNJ"
#: include/uapi/linux/utsname.h: __NEW_UTS_LEN + 1
UTS_FIELD = 65
UTS_FIELDS = ("sysname", "nodename", "release", "version", "machine", "domainname")
#: kernel/printk/printk.c: log_buf_vmcoreinfo_setup, the keys every lockless reader uses
LOCKLESS_KEYS = ("SYMBOL(prb)", "SIZE(printk_ringbuffer)", "OFFSET(printk_ringbuffer.desc_ring)",
                 "OFFSET(printk_ringbuffer.text_data_ring)", "OFFSET(prb_desc_ring.count_bits)",
                 "OFFSET(prb_desc_ring.descs)", "OFFSET(prb_desc_ring.infos)",
                 "OFFSET(prb_desc_ring.head_id)", "OFFSET(prb_desc_ring.tail_id)",
                 "SIZE(prb_desc)", "OFFSET(prb_desc.state_var)", "OFFSET(prb_desc.text_blk_lpos)",
                 "OFFSET(prb_data_blk_lpos.begin)", "OFFSET(prb_data_blk_lpos.next)",
                 "SIZE(printk_info)", "OFFSET(printk_info.ts_nsec)",
                 "OFFSET(printk_info.text_len)", "OFFSET(prb_data_ring.size_bits)",
                 "OFFSET(prb_data_ring.data)", "OFFSET(atomic_long_t.counter)")
ARCH_KEYS = {"x86_64": ("NUMBER(phys_base)",),
             "arm64": ("NUMBER(kimage_voffset)", "NUMBER(PHYS_OFFSET)", "NUMBER(VA_BITS)")}
#: kernel/smp.c: smp_init() "Brought up %d node%s, %d CPU%s"
SMP_UP = re.compile(rb"^smp: Brought up \d+ nodes?, (\d+) CPUs?")
CONSUMERS = ("crash --minimal", "crash", "drgn", "makedumpfile --dump-dmesg", "vmcore-dmesg")


@dataclass(frozen=True, slots=True)
class Requirement:
    """One thing a consumer needs: a key, memory or a note; ``present`` None = unknown."""

    consumer: str
    item: str
    kind: str            # "key", "memory", "note"
    present: bool | None
    detail: str = ""


class Inspector:
    """Reads facts from one capture; ``dbg`` is an optional :class:`DebugInfo`."""

    def __init__(self, capture: "Capture", dbg=None) -> None:
        self.capture, self.info, self.dbg = capture, capture.vmcoreinfo, dbg
        self.arch = capture.elf_arch or Arch(0)
        self.order = self.arch.byteorder
        self.word = self.arch.bits // 8

    @property
    def mem(self):
        return self.capture.kernel

    # -- memory helpers -------------------------------------------------------
    def symbol_address(self, name: str) -> int | None:
        """Runtime address of a vmlinux symbol (link address + KERNELOFFSET)."""
        if self.dbg is None or self.dbg.symbol(name) is None:
            return None
        shift = (self.info.kerneloffset if self.info else None) or 0
        return (self.dbg.symbol(name) + shift) & MASK64

    def object_address(self, name: str) -> int | None:
        """The vmlinux symbol's address, else the vaddr of the meminspect region holding it."""
        address = self.symbol_address(name)
        if address is None and self.dbg is None:
            region = self.region_of(name)
            address = region.vaddr if region is not None else None
        return address

    def region_of(self, name: str):
        """The captured region that holds kernel object ``name`` by its meminspect static ID
        (``minidump.meminspect.static.ID_TABLES``), or None (not meminspect, not captured)."""
        if self.capture.scheme != "meminspect":
            return None
        from minidump.meminspect.naming import id_object
        for region in self.capture.regions:
            if (region.status.value == "written" and region.size
                    and id_object(region.id, None) == name):
                return region
        return None

    def locate(self, name: str, size: int | None = None) -> tuple[bytes | None, str]:
        """The bytes of kernel object ``name`` and where they came from: the vmlinux's symbol,
        else the captured meminspect region registering it; (None, why) when neither reads."""
        if self.dbg is not None and self.dbg.symbol(name) is not None:
            length = size or self.dbg.symbol_size(name) or self.word
            raw = self.read(self.symbol_address(name), length, name)
            if raw is not None:
                return raw, f"{name}, vmlinux symbol"
            return None, f"{name} not captured"
        region = self.region_of(name)
        if region is not None:
            length = min(size or region.size, region.size)
            raw = self.read(region.vaddr, length, name) if region.vaddr is not None else None
            if raw is None and region.paddr is not None:
                try:
                    raw = self.capture.read(region.paddr, length)
                except MinidumpError:
                    raw = None
            if raw is not None:
                return raw, f"{name}, meminspect ID {region.id}"
            return None, f"{name} (meminspect ID {region.id}) unreadable"
        if self.dbg is None:
            # a full capture holds the kernel's own symbol table (kallsyms)
            address = address_in(self.capture, name)
            if address is not None and size:
                raw = self.read(address, size, name)
                if raw is not None:
                    return raw, f"{name}, kallsyms"
            return None, f"{name}: address unknown (no meminspect region names it; give --vmlinux)"
        return None, f"{name} not in the vmlinux"

    def read(self, vaddr: int | None, size: int, what: str) -> bytes | None:
        if vaddr is None:
            return None
        try:
            return self.mem.read_virt(vaddr, size, what)
        except MinidumpError:
            return None

    def readable(self, vaddr: int | None, size: int) -> bool | None:
        return None if vaddr is None else self.read(vaddr, size, "") is not None

    def by_vaddr(self, vaddr: int, size: int) -> bool:
        """Covered by one PT_LOAD's ``p_vaddr`` range (vmcore-dmesg's only lookup)."""
        return self.capture.memory.find_mapped(vaddr, size) is not None

    # -- facts ----------------------------------------------------------------
    def utsname(self) -> dict[str, str]:
        info = self.info
        base = info.symbol("init_uts_ns") if info else None
        if base is None:
            return {}
        raw = self.read(base + (info.offset("uts_namespace.name") or 0),
                        UTS_FIELD * len(UTS_FIELDS), "init_uts_ns.name")
        if raw is None:
            return {}
        return {name: raw[i * UTS_FIELD:(i + 1) * UTS_FIELD].split(b"\0", 1)[0].decode(
            "ascii", "replace") for i, name in enumerate(UTS_FIELDS)}

    def banner(self, log_first: bytes | None) -> tuple[str | None, str]:
        """``linux_banner`` from memory (vmlinux symbol or meminspect ID 11), else the log's
        first record; (None, why) when neither has it."""
        if self.dbg is not None and self.dbg.banner is not None:
            raw = self.read(self.symbol_address("linux_banner"), len(self.dbg.banner), "linux_banner")
            if raw is not None:
                return raw.decode("ascii", "replace"), "memory (linux_banner)"
        region = self.region_of("linux_banner")
        if region is not None:
            raw, where = self.locate("linux_banner")
            text = raw.split(b"\0", 1)[0].rstrip(b"\n") if raw else b""
            if text.startswith(b"Linux version "):
                return text.decode("ascii", "replace"), f"memory ({where})"
        if log_first and log_first.startswith(b"Linux version "):
            return log_first.decode("ascii", "replace"), "kernel log"
        return None, ("linux_banner not located and the log's first record is not "
                      "\"Linux version\" (wrapped log?)"
                      if log_first is not None else
                      "linux_banner not captured and the kernel log is not readable")

    def word_at(self, name: str, size: int | None = None) -> tuple[int | None, str]:
        """A word-sized object and its source (or None and why it is not known)."""
        raw, where = self.locate(name, size or self.word)
        if raw is None or len(raw) < (size or self.word):
            return None, where
        return int.from_bytes(raw[:size or self.word], self.order), where

    def taint(self) -> tuple[dict | None, str]:
        mask, where = self.word_at("tainted_mask")
        if mask is None:
            return None, where
        letters = "".join(c for i, c in enumerate(TAINT_LETTERS) if mask >> i & 1)
        source = ("memory (tainted_mask)" if where.endswith("vmlinux symbol")
                  else f"memory ({where})")
        return {"mask": mask, "flags": letters, "source": source}, ""

    def cpu_masks(self) -> dict[str, dict]:
        """``__cpu_{possible,present,online,active}_mask`` (kernel/cpu.c) where captured:
        per mask the count, the CPU list and the source, or ``count`` None and ``why``."""
        out = {}
        for which in ("possible", "present", "online", "active"):
            name = f"__cpu_{which}_mask"
            raw, where = self.locate(name)
            if raw is None:
                out[which] = {"count": None, "cpus": None, "source": None, "why": where}
                continue
            bits = int.from_bytes(raw, "little" if self.order == "little" else "big")
            if self.order != "little":   # a bitmap of longs: bit n of word n // bits
                words = [int.from_bytes(raw[i:i + self.word], self.order)
                         for i in range(0, len(raw) - self.word + 1, self.word)]
                bits = sum(w << (i * self.word * 8) for i, w in enumerate(words))
            cpus = [i for i in range(len(raw) * 8) if bits >> i & 1]
            out[which] = {"count": len(cpus), "cpus": cpu_list(cpus), "source": where,
                          "why": None}
        return out

    def cpus_online(self, masks: dict[str, dict], records) -> tuple[int | None, str]:
        """Online CPUs: the kernel's ``__cpu_online_mask`` when captured, else the boot log's
        ``smp: Brought up N nodes, M CPUs`` (kernel/smp.c), else the NT_PRSTATUS note count
        (CPUs whose registers the dump saved, not necessarily all online ones)."""
        online = masks["online"]
        if online["count"] is not None:
            return online["count"], online["source"]
        for record in records or ():
            match = SMP_UP.search(record.raw)
            if match:
                return int(match.group(1)), "kernel log (smp: Brought up ... CPUs, at boot)"
        prstatus = sum(1 for n in self.capture.notes if n.name == b"CORE" and n.type == 1)
        if prstatus:
            return prstatus, "NT_PRSTATUS notes (CPUs with saved registers)"
        return None, (online["why"] + "; no \"smp: Brought up\" record in the log and no "
                      "NT_PRSTATUS notes")

    # -- readiness ------------------------------------------------------------
    def readiness(self) -> list[Requirement]:
        rows: list[Requirement] = []
        info, arch = self.info, self.arch.name
        # a core is read by the consumers as it is: VMCOREINFO found in its memory (or given
        # with --vmcoreinfo) is not in the file; what build writes always carries it as a note
        capture = self.capture
        in_file = capture.container != "ELF core" or \
            (capture.vmcoreinfo_source or "").endswith(" note")
        has_note = info is not None and in_file

        def key(consumer: str, name: str, why: str = "") -> None:
            rows.append(Requirement(consumer, name, "key", has_note and name in info, why))

        def memory(consumer: str, name: str, vaddr: int | None, size: int, why: str = "",
                   vaddr_only: bool = False) -> None:
            if vaddr is None:
                rows.append(Requirement(consumer, name, "memory", None,
                                        why or "address unknown without --vmlinux"))
                return
            ok = self.by_vaddr(vaddr, size) if vaddr_only else self.readable(vaddr, size)
            where = f"{size:#x} bytes at {vaddr:#x}" + (" (by p_vaddr)" if vaddr_only else "")
            if ok and consumer == "makedumpfile --dump-dmesg" and arch == "arm64" and \
                    Translator(arch, info).arm64_linear(vaddr) is False:
                # vaddr_to_paddr_arm64: __pa() for the linear map only, else a page-table
                # walk from swapper_pg_dir, whose tables a minidump rarely holds
                ok, where = None, where + ": not in the linear map; makedumpfile walks " \
                                          "swapper_pg_dir's page tables to read it"
            if not ok and not vaddr_only and not self.by_vaddr(vaddr, 1) and (
                    self.mem.translator is None or self.mem.translator.pa(vaddr) is None):
                ok, where = None, where + ": not translatable (randomized direct map? give " \
                                          "--vmlinux)"
            rows.append(Requirement(consumer, name, "memory", ok, where))

        def keys(consumer: str, names: tuple[str, ...], what: str) -> None:
            missing = [n for n in names if not has_note or n not in info]
            rows.append(Requirement(consumer, f"{what} ({len(names)} keys)", "key", not missing,
                                    "missing " + ", ".join(missing) if missing else ""))

        ring = self._ring()
        for consumer in CONSUMERS:
            # 32-bit arm has no KASLR: crash needs no VMCOREINFO (it reads the vmlinux, and
            # phys_base from the lowest PT_LOAD); checked with crash:armhf 8.0.2 on a Debian
            # armmp-lpae dump that has no VMCOREINFO note
            crash_arm = arch == "arm" and consumer.startswith("crash")
            if not crash_arm:
                rows.append(Requirement(consumer, "VMCOREINFO note", "note", has_note))
                for name in ("OSRELEASE", "PAGESIZE"):
                    key(consumer, name)
            if consumer.startswith("crash") or consumer == "drgn":
                for name in ARCH_KEYS.get(arch, ()):
                    key(consumer, name, "address translation")
            if consumer in ("crash --minimal", "crash") and not crash_arm:
                key(consumer, "SYMBOL(_stext)", "KASLR relocation")
            if consumer in ("crash --minimal", "crash") and arch == "x86_64":
                # x86_64_init(POST_RELOC) reads the randomized bases (FAULT_ON_ERROR) in
                # every mode; a kernel without RANDOMIZE_MEMORY has no such symbols
                for name in ("page_offset_base", "vmalloc_base", "vmemmap_base"):
                    if self.dbg is not None and self.dbg.symbol(name) is None:
                        continue
                    address = self.object_address(name)
                    if address is None and self.dbg is None:
                        address = address_in(self.capture, name)
                    why = "crash x86_64 start-up (RANDOMIZE_MEMORY)"
                    memory(consumer, name, address, self.word,
                           why if address is not None else
                           f"address unknown without --vmlinux; {why}")
            if consumer == "drgn":
                key(consumer, "SYMBOL(swapper_pg_dir)", "page-table walks")
            # makedumpfile's initial(): check_release before the log
            if consumer == "makedumpfile --dump-dmesg":
                # check_release(): "Can't get the symbol of system_utsname" without it
                key(consumer, "SYMBOL(init_uts_ns)", "check_release (utsname vs OSRELEASE)")
                uts = info.symbol("init_uts_ns") if info else None
                if uts is not None:
                    memory(consumer, "init_uts_ns", uts, 6 * UTS_FIELD + 4)
            if consumer in ("crash --minimal", "makedumpfile --dump-dmesg", "vmcore-dmesg"):
                if consumer != "crash --minimal":
                    keys(consumer, LOCKLESS_KEYS, "printk ring keys")
                for region in ring:
                    memory(consumer, region[0], region[1], region[2], "log",
                           vaddr_only=consumer == "vmcore-dmesg")
            if consumer == "crash":
                memory(consumer, "linux_banner", self.object_address("linux_banner"),
                       len(self.dbg.banner or "") if self.dbg else 1, "banner check")
                uts = info.symbol("init_uts_ns") if info else None
                memory(consumer, "init_uts_ns", uts, 6 * UTS_FIELD + 4)
                size = (self.dbg.symbol_size("__per_cpu_offset") if self.dbg else None) or 8
                memory(consumer, "__per_cpu_offset", self.object_address("__per_cpu_offset"),
                       min(size, 4096))
                if self.dbg is not None and self.dbg.symbol("modules") is not None:
                    # module_init: the list head; v3's recipe (--no_modules) skips it, and
                    # the command line names the recipe when it is not captured
                    memory(consumer, "modules", self.object_address("modules"), 16)
                if arch == "x86_64" and self.dbg is not None:
                    for name, size, why in self._crash_x86_64_startup():
                        memory(consumer, name, self.object_address(name.split(" ")[0]),
                               size, why)
            flatmem = info is not None and "SYMBOL(mem_section)" not in info and \
                "SYMBOL(mem_map)" in info      # FLATMEM (armmp-lpae): no sparsemem tables
            if consumer in ("crash", "makedumpfile --dump-dmesg") and not flatmem:
                section = info.symbol("mem_section") if info else None
                # crash's vm_init reads the root table whole (LENGTH(mem_section) pointers)
                roots = (info.length("mem_section") or 1) if consumer == "crash" and info \
                    else 1
                memory(consumer, "mem_section root", section, self.word * roots,
                       "memory map (makedumpfile initial())" if section is None else "")
            if consumer == "crash":
                # task_init, after vm_init: the idle task of CPU 0, then the task table
                size = (self.dbg.symbol_size("init_task") if self.dbg else None) or 8
                memory(consumer, "init_task", self.object_address("init_task"),
                       min(size, 4096))
            if consumer == "crash" and self.dbg is not None and \
                    self.dbg.symbol("init_pid_ns") is not None:
                memory(consumer, "init_pid_ns", self.object_address("init_pid_ns"),
                       self.dbg.symbol_size("init_pid_ns") or self.word,
                       "task_init: the task table's xarray root")
        return rows

    def _crash_x86_64_startup(self) -> list[tuple[str, int, str]]:
        """What crash 8.0's x86_64 start-up reads where a failure ends the session, in its
        order (x86_64.c): ``idt_table``, then gdb's disassembly of ``common_interrupt`` to
        the next symbol (a failed read leaves crash's temporary file open: "recursive
        temporary file usage"), then its listing of ``schedule``'s instructions."""
        symbols = self.dbg.vmlinux.symbols
        out = []
        idt = self.dbg.symbol_size("idt_table")
        if idt:
            out.append(("idt_table", idt, "crash x86_64 start-up (FAULT_ON_ERROR)"))
        for name, why in (("common_interrupt", "gdb disassembles it at crash start-up"),
                          ("schedule", "gdb lists its instructions at crash start-up")):
            symbol = symbols.get(name)
            if symbol is not None:
                end = symbols.next_start(symbol.value) or symbol.value + symbol.size
                out.append((f"{name} (text)", max(symbol.size, end - symbol.value, 1), why))
        return out

    def _ring(self) -> list[tuple[str, int | None, int]]:
        """The log's memory as (name, vaddr, size); unreadable pointers give vaddr None."""
        info = self.info
        if info is None or info.symbol("prb") is None:
            return [("printk ring (SYMBOL(prb))", None, 0)]
        try:
            regions = ring_regions(self.mem, info, bits=self.arch.bits,
                                   little=self.arch.little_endian)
        except MinidumpError as exc:
            return [("printk ring", info.symbol("prb"), self.word),
                    (f"printk ring ({exc.problem})", None, 0)]
        return [(r.name, r.vaddr, r.size) for r in regions]


def gather(capture: "Capture", dbg=None) -> dict:
    """The ``minidump info`` document: facts, per-arch layout and readiness rows."""
    from dataclasses import asdict

    info = capture.vmcoreinfo
    ins = Inspector(capture, dbg)
    first = None
    log_error = "" if info is not None else "no VMCOREINFO"
    records = None
    if info is not None:
        try:
            records = capture.kernel_log().records
            first = records[0].raw if records else None
        except MinidumpError as exc:
            log_error = exc.problem
    banner, banner_source = ins.banner(first)
    taint, taint_why = ins.taint()
    masks = ins.cpu_masks()
    cpus, cpus_source = ins.cpus_online(masks, records)
    jiffies, jiffies_where = ins.word_at("jiffies_64", 8)
    arch = ins.arch.name
    layout = asdict(Translator(arch, info).layout()) if info else None
    utsname = ins.utsname()
    facts = {
        "release": info.osrelease if info else None,
        "build_id": info.build_id if info else None,
        "arch": arch, "page_size": info.pagesize if info else None,
        "kaslr_offset": info.kerneloffset if info else None,
        "crashtime": info.crashtime if info else None,
        "banner": banner, "banner_source": banner_source if banner else None,
        "utsname": utsname,
        "jiffies": jiffies,
        "jiffies_source": jiffies_where if jiffies is not None else None,
        "taint": taint,
        "cpus_online": cpus, "cpus_source": cpus_source if cpus is not None else None,
        "cpu_masks": masks,
        "log": log_error or "readable",
    }
    facts["symbols"], facts["cpus"] = symbols_and_cpus(capture)
    facts["kinfo"] = kinfo_fact(capture, info)
    facts["why"] = why_missing(facts, info, log_error, {
        "banner": banner_source, "taint": taint_why, "jiffies": jiffies_where,
        "cpus_online": cpus_source, "utsname": _uts_why(info)})
    rows = ins.readiness()
    summary = {c: _verdict([r.present for r in rows if r.consumer == c and
                            not _picks_command(r)]) for c in CONSUMERS}
    return {"input": capture.input, "container": capture.container,
            "vmlinux": dbg.path if dbg else None, "facts": facts,
            "crash": crash_section(records, log_error,
                                   taint),
            "layout": layout, "vmcoreinfo_problems": info.problems() if info else [],
            "consumers": consumer_answers(rows, summary, capture, dbg),
            "readiness": [{"consumer": r.consumer, "item": r.item, "kind": r.kind,
                           "present": r.present, "detail": r.detail} for r in rows],
            "ready": summary}


#: VMCOREINFO keys behind facts that come only from the note
FACT_KEYS = {"release": "OSRELEASE", "build_id": "BUILD-ID", "page_size": "PAGESIZE",
             "kaslr_offset": "KERNELOFFSET", "crashtime": "CRASHTIME"}


def _uts_why(info) -> str:
    if info is None:
        return "no VMCOREINFO to locate init_uts_ns"
    if info.symbol("init_uts_ns") is None:
        return "SYMBOL(init_uts_ns) not in VMCOREINFO"
    return "init_uts_ns not captured"


def why_missing(facts: dict, info, log_error: str, known: dict[str, str]) -> dict[str, str]:
    """Why each fact that has no value has none: not captured, not in VMCOREINFO, unreadable."""
    why = {}
    for fact, key in FACT_KEYS.items():
        if facts[fact] is None:
            why[fact] = "no VMCOREINFO" if info is None else f"{key} not in VMCOREINFO"
    if facts["release"] is None and facts["utsname"].get("release"):
        why.pop("release")
    for fact in ("banner", "taint", "jiffies", "cpus_online"):
        if facts[fact] is None:
            why[fact] = known[fact] or "not captured"
    if not facts["utsname"]:
        why["utsname"] = known["utsname"]
    if log_error:
        why["log"] = log_error
    return why


def cpu_list(cpus: list[int]) -> str:
    """``0-3,6`` as the kernel prints a cpulist (``%*pbl``)."""
    parts, start = [], None
    for i, cpu in enumerate(cpus):
        if start is None:
            start = cpu
        if i + 1 == len(cpus) or cpus[i + 1] != cpu + 1:
            parts.append(str(start) if start == cpu else f"{start}-{cpu}")
            start = None
    return ",".join(parts)


#: meminspect v3's crash command line for a minidump without the module list
CRASH_RECIPE = "crash -s --no_modules --no_panic --no_kmem_cache --zero_excluded"


def _picks_command(row: Requirement) -> bool:
    """crash's ``modules`` row chooses its command line (plain, else v3's recipe): it
    never blocks crash."""
    return row.consumer == "crash" and row.item == "modules"

#: what each consumer cannot answer even when it opens the vmcore (spec/vmcore-consumers.md)
LIMITS = {
    "crash --minimal": "log, rd, sym, dis, eval only: no ps, bt or task data",
    "crash": "ps, bt and structures only where their memory was captured",
    "drgn": "objects outside the captured regions read as FaultError",
    "makedumpfile --dump-dmesg": "the kernel log only",
    "vmcore-dmesg": "the kernel log only",
}


def consumer_answers(rows: list[Requirement], ready: dict, capture: "Capture",
                     dbg) -> list[dict]:
    """Per consumer: will it open this capture, the command line to use, the first missing
    (or unknown) item that blocks it, and what it cannot answer even then."""
    is_core = capture.container == "ELF core"
    vmcore = capture.input if is_core else "out.vmcore"
    vmlinux = dbg.path if dbg else "vmlinux"
    machdep = _arm_machdep(capture)
    commands = {
        "crash --minimal": f"crash --minimal {machdep}{vmlinux} {vmcore}",
        "crash": f"crash {machdep}{vmlinux} {vmcore}",
        "drgn": f"drgn -c {vmcore} -s {vmlinux}",
        "makedumpfile --dump-dmesg": f"makedumpfile --dump-dmesg {vmcore} dmesg.txt",
        "vmcore-dmesg": f"vmcore-dmesg {vmcore}",
    }
    if any(_picks_command(r) and r.present is False for r in rows):
        commands["crash"] = f"{CRASH_RECIPE} {machdep}{vmlinux} {vmcore}"
    out = []
    for consumer in CONSUMERS:
        mine = [r for r in rows if r.consumer == consumer and not _picks_command(r)]
        first = next((r for r in mine if r.present is False), None) or next(
            (r for r in mine if r.present is None), None)
        blocker = None
        if first is not None:
            state = "missing" if first.present is False else "unknown"
            blocker = f"{first.item} {state}" + (f" ({first.detail})" if first.detail else "")
        out.append({"consumer": consumer, "ready": ready[consumer],
                    "command": commands[consumer],
                    "build_first": None if is_core else "minidump build --from-table "
                                                       f"{capture.input} -o out.vmcore",
                    "blocker": blocker, "cannot": LIMITS[consumer]})
    return out


def _arm_machdep(capture: "Capture") -> str:
    """crash's option for 32-bit arm when the vmcore's lowest PT_LOAD is not PHYS_OFFSET:
    crash takes phys_base from that PT_LOAD (checked with crash:armhf 8.0.2 on the Debian
    armmp-lpae kernel: without it, 'log: read error ... type: "prb"'; a NUMBER(PHYS_OFFSET)
    in VMCOREINFO does not help)."""
    from minidump.model import Status
    if capture.arch != "arm":
        return ""
    translator = capture.kernel.translator
    phys = translator.layout().phys_offset if translator is not None else None
    written = [r.paddr for r in capture.resolved_regions()
               if r.paddr is not None and r.status in (None, Status.WRITTEN)]
    if phys is None or not written or min(written) == phys:
        return ""
    return f"--machdep phys_base={phys:#x} "


#: where ``info`` says its names came from


def kinfo_fact(capture: "Capture", info) -> dict | None:
    """The debug-kinfo block (``facts["kinfo"]``): its fields, and where it places the image
    (``_text``'s virtual address by VMCOREINFO's image rule, and the KASLR offset that is
    from the link address arm64 uses: ``KIMAGE_VADDR``, 2 GiB into the upper half since
    6.6, 128 MiB before)."""
    try:
        block = capture.kinfo()
    except MinidumpError:
        return None
    if block is None:
        return None
    out = block.as_dict()
    translator = capture.kernel.translator
    text_va = translator.image_va(out["text_pa"]) if translator is not None else None
    out["text_va"] = text_va
    out["kaslr_offset"] = None
    if text_va is not None and capture.arch == "arm64" and info is not None:
        from minidump.kernel.translate import MASK64, kernel_version
        va_bits = min(info.number("VA_BITS") or 48, 48)
        modules = (2 << 30) if kernel_version(info.osrelease) >= (6, 6, 0) else (128 << 20)
        out["kaslr_offset"] = (text_va - ((-(1 << (va_bits - 1)) + modules) & MASK64)) & MASK64
    return out


def symbols_and_cpus(capture: "Capture") -> tuple[dict | None, list[dict]]:
    """``facts["symbols"]`` (the kallsyms table's source, count and encoding, or why it could
    not be read; None when VMCOREINFO does not locate it) and ``facts["cpus"]``: per
    NT_PRSTATUS note the PID, PC and SP, with the PC named from kallsyms where it can be."""
    from minidump.kernel.prstatus import cpu_states
    table, symbols = None, None
    try:
        table = capture.load_kallsyms()
    except FaultError:
        # which table faults first depends on what else the capture holds (RAM images
        # hold more than the vmcore built from them): say so without naming one
        symbols = {"source": KALLSYMS_SOURCE, "count": 0, "encoding": None,
                   "error": "the kallsyms tables are not all in the capture"}
    except MinidumpError as exc:
        symbols = {"source": KALLSYMS_SOURCE, "count": 0, "encoding": None,
                   "error": exc.problem}
    if table is not None:
        from minidump.kernel.kallsyms import has_tables
        source = KALLSYMS_SOURCE if has_tables(capture.vmcoreinfo) else \
            "kallsyms tables in the capture (located by the debug-kinfo block)"
        symbols = {"source": source, "count": len(table), "encoding": table.encoding,
                   "error": None}
    cpus = []
    for state in cpu_states(capture.notes, capture.elf_arch):
        if state.empty:      # a zeroed note says nothing: no PC of 0 reported as a fact
            cpus.append({"cpu": state.index, "pid": None, "pc": None, "sp": None,
                         "pc_symbol": None, "pc_source": None, "empty": True})
            continue
        where = table.lookup(state.pc) if table is not None else None
        cpus.append({"cpu": state.index, "pid": state.pid, "pc": state.pc, "sp": state.sp,
                     "pc_symbol": str(where) if where else None,
                     "pc_source": "kallsyms" if where else None, "empty": False})
    return symbols, cpus


def crash_section(records, log_error: str | None, taint: dict | None) -> dict:
    """The ``"crash"`` key of ``info``: :func:`minidump.kernel.crash.triage` of the log, with the
    captured ``tainted_mask`` (when a symbol table locates it) beside the log's taint."""
    from minidump.kernel.crash import decode_taint_mask, triage
    if records is None:
        return {"panic": None, "events": [], "primary": None, "event": None, "fault": None,
                "context": None,
                "pc": None, "lr": None, "frames": [], "modules": None, "signature": None,
                "kernel_offset": None,
                "log": {"records": 0, "first_seq": None, "last_seq": None, "lost": 0,
                        "notes": [f"kernel log not readable: {log_error}"]}}
    doc = triage(records, first_seq=0 if records and records[0].seq is not None else None)
    if taint is not None:
        doc["taint_mask"] = decode_taint_mask(taint["mask"]) | {
            "source": taint.get("source", "memory (tainted_mask)")}
    else:
        doc["taint_mask"] = None
    return doc


def _verdict(states: list[bool | None]) -> bool | None:
    """False if anything is missing, None if something is unknown, else True."""
    if False in states:
        return False
    return None if None in states else True


def verify_vmlinux(info, ins_banner: str | None, dbg, path: str) -> list[str]:
    """Mismatches between a capture and a vmlinux: BUILD-ID, then ``linux_banner``."""
    problems = []
    if info is not None and info.build_id and dbg.build_id and info.build_id != dbg.build_id:
        problems.append(f"BUILD-ID {info.build_id} of the capture is not the vmlinux's "
                        f"{dbg.build_id}")
    if ins_banner and dbg.banner and ins_banner.rstrip("\n") != dbg.banner:
        problems.append("linux_banner in memory differs from the vmlinux's")
    if info is not None and info.osrelease and dbg.osrelease and info.osrelease != dbg.osrelease:
        problems.append(f"OSRELEASE {info.osrelease} of the capture is not the vmlinux's "
                        f"{dbg.osrelease}")
    return problems
