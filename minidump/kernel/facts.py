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

from dataclasses import dataclass

from typing import TYPE_CHECKING

from minidump.errors import FaultError, MinidumpError
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
        """``linux_banner`` from memory (with a vmlinux), else the log's first record."""
        if self.dbg is not None and self.dbg.banner is not None:
            raw = self.read(self.symbol_address("linux_banner"), len(self.dbg.banner), "linux_banner")
            if raw is not None:
                return raw.decode("ascii", "replace"), "memory (linux_banner)"
        if log_first and log_first.startswith(b"Linux version "):
            return log_first.decode("ascii", "replace"), "kernel log"
        return None, ""

    def word_at(self, name: str, size: int | None = None) -> int | None:
        raw = self.read(self.symbol_address(name), size or self.word, name)
        return None if raw is None else int.from_bytes(raw, self.order)

    def taint(self) -> dict | None:
        mask = self.word_at("tainted_mask")
        if mask is None:
            return None
        letters = "".join(c for i, c in enumerate(TAINT_LETTERS) if mask >> i & 1)
        return {"mask": mask, "flags": letters}

    def cpus_online(self) -> tuple[int | None, str]:
        if self.dbg is not None and self.dbg.symbol("__cpu_online_mask") is not None:
            size = self.dbg.symbol_size("__cpu_online_mask") or self.word
            raw = self.read(self.symbol_address("__cpu_online_mask"), size, "__cpu_online_mask")
            if raw is not None:
                return sum(bin(b).count("1") for b in raw), "__cpu_online_mask"
        prstatus = sum(1 for n in self.capture.notes if n.name == b"CORE" and n.type == 1)
        return (prstatus or None), "NT_PRSTATUS notes" if prstatus else ""

    # -- readiness ------------------------------------------------------------
    def readiness(self) -> list[Requirement]:
        rows: list[Requirement] = []
        info, arch = self.info, self.arch.name
        has_note = info is not None

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
            rows.append(Requirement(consumer, "VMCOREINFO note", "note", has_note))
            for name in ("OSRELEASE", "PAGESIZE"):
                key(consumer, name)
            if consumer.startswith("crash") or consumer == "drgn":
                for name in ARCH_KEYS.get(arch, ()):
                    key(consumer, name, "address translation")
            if consumer in ("crash --minimal", "crash"):
                key(consumer, "SYMBOL(_stext)", "KASLR relocation")
            if consumer == "drgn":
                key(consumer, "SYMBOL(swapper_pg_dir)", "page-table walks")
            if consumer in ("crash --minimal", "makedumpfile --dump-dmesg", "vmcore-dmesg"):
                if consumer != "crash --minimal":
                    keys(consumer, LOCKLESS_KEYS, "printk ring keys")
                for region in ring:
                    memory(consumer, region[0], region[1], region[2], "log",
                           vaddr_only=consumer == "vmcore-dmesg")
            if consumer == "crash":
                memory(consumer, "linux_banner", self.symbol_address("linux_banner"),
                       len(self.dbg.banner or "") if self.dbg else 1, "banner check")
                uts = info.symbol("init_uts_ns") if info else None
                memory(consumer, "init_uts_ns", uts, 6 * UTS_FIELD + 4)
                for name in ("init_task", "__per_cpu_offset"):
                    size = (self.dbg.symbol_size(name) if self.dbg else None) or 8
                    memory(consumer, name, self.symbol_address(name), min(size, 4096))
            if consumer in ("crash", "makedumpfile --dump-dmesg"):
                section = info.symbol("mem_section") if info else None
                memory(consumer, "mem_section root", section, self.word,
                       "memory map (makedumpfile initial())" if section is None else "")
        return rows

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
    log_error = ""
    records = None
    if info is not None:
        try:
            records = capture.kernel_log().records
            first = records[0].raw if records else None
        except MinidumpError as exc:
            log_error = exc.problem
    banner, banner_source = ins.banner(first)
    taint = ins.taint()
    cpus, cpus_source = ins.cpus_online()
    jiffies = ins.word_at("jiffies_64", 8)
    arch = ins.arch.name
    layout = asdict(Translator(arch, info).layout()) if info else None
    facts = {
        "release": info.osrelease if info else None,
        "build_id": info.build_id if info else None,
        "arch": arch, "page_size": info.pagesize if info else None,
        "kaslr_offset": info.kerneloffset if info else None,
        "crashtime": info.crashtime if info else None,
        "banner": banner, "banner_source": banner_source,
        "utsname": ins.utsname(),
        "jiffies": jiffies, "taint": taint,
        "cpus_online": cpus, "cpus_source": cpus_source,
        "log": log_error or "readable",
    }
    facts["symbols"], facts["cpus"] = symbols_and_cpus(capture)
    rows = ins.readiness()
    summary = {c: _verdict([r.present for r in rows if r.consumer == c]) for c in CONSUMERS}
    return {"input": capture.input, "container": capture.container,
            "vmlinux": dbg.path if dbg else None, "facts": facts,
            "crash": crash_section(records, log_error or (None if info else "no VMCOREINFO"),
                                   taint),
            "layout": layout, "vmcoreinfo_problems": info.problems() if info else [],
            "readiness": [asdict(r) for r in rows], "ready": summary}


#: where ``info`` says its names came from
KALLSYMS_SOURCE = "kallsyms tables in the capture (VMCOREINFO SYMBOL(kallsyms_*))"


def symbols_and_cpus(capture: "Capture") -> tuple[dict | None, list[dict]]:
    """``facts["symbols"]`` (the kallsyms table's source, count and encoding, or why it could
    not be read; None when VMCOREINFO does not locate it) and ``facts["cpus"]``: per
    NT_PRSTATUS note the PID, PC and SP, with the PC named from kallsyms where it can be."""
    from minidump.kernel.prstatus import cpu_states
    table, symbols = None, None
    try:
        table = capture.kallsyms()
    except FaultError:
        # which table faults first depends on what else the capture holds (RAM images
        # hold more than the vmcore built from them): say so without naming one
        symbols = {"source": KALLSYMS_SOURCE, "count": 0, "encoding": None,
                   "error": "the kallsyms tables are not all in the capture"}
    except MinidumpError as exc:
        symbols = {"source": KALLSYMS_SOURCE, "count": 0, "encoding": None,
                   "error": exc.problem}
    if table is not None:
        symbols = {"source": KALLSYMS_SOURCE, "count": len(table), "encoding": table.encoding,
                   "error": None}
    cpus = []
    for state in cpu_states(capture.notes, capture.elf_arch):
        where = table.lookup(state.pc) if table is not None else None
        cpus.append({"cpu": state.index, "pid": state.pid, "pc": state.pc, "sp": state.sp,
                     "pc_symbol": str(where) if where else None,
                     "pc_source": "kallsyms" if where else None})
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
