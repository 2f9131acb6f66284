"""The Capture: one object for any input, whatever its container.

A Capture holds the regions (each with its final status), one memory model
(:class:`~minidump.kernel.memory.PhysicalMemory` over the captured bytes, with
the kernel view :class:`~minidump.kernel.memory.KernelMemory` on top), the
VMCOREINFO and the ELF notes.  Every command is a thin adapter over it:
``regions``/``build`` plan and write it, ``dmesg``/``info``/``vmcoreinfo``
read kernel memory through it, on any container.

Make one with :func:`minidump.open` (or :func:`minidump.extract`); it holds
files open, so use it as a context manager.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from minidump.errors import FaultError, FormatError, LayoutError, MinidumpError, OutputError
from minidump.files import Closable
from minidump.model import Arch, Note, Region, Status

if TYPE_CHECKING:
    from minidump.kernel.kallsyms import Kallsyms
    from minidump.kernel.kinfo import KernelInfo
    from minidump.elf.vmlinux import Vmlinux
    from minidump.kernel.memory import KernelMemory, PhysicalMemory
    from minidump.kernel.printk import Record
    from minidump.kernel.vmcoreinfo import VmcoreInfo
    from minidump.vmcore.plan import Plan


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What :meth:`Capture.write_vmcore` wrote: the path, its size, every region and the lost ones."""

    path: str
    size: int
    regions: tuple[Region, ...]
    lost: tuple[Region, ...]
    warnings: tuple[str, ...]


class Capture(Closable):
    """Regions, memory, VMCOREINFO and notes of one capture.

    ``arch`` is ``"x86_64"``, ``"arm64"``, ``"arm"``, ``"riscv64"`` or None when
    nothing in the capture names it; ``vmcoreinfo`` is a mapping
    (``cap.vmcoreinfo["OSRELEASE"]``) or None; ``regions`` are
    :class:`~minidump.model.Region` rows with their final status.

    Thread safety: one Capture may be read from several threads at once.  ``read``,
    ``read_virt``, ``dmesg``, ``facts``, ``regions``, ``kallsyms`` and ``write_vmcore``
    give each thread what a single thread gets: bytes come from files through
    ``os.pread`` (no shared file position) and the lazy parts are built once, under a
    lock.  Do not ``close()`` it while other threads read, and set it up
    (``attach_vmlinux``) before sharing it.  See docs/explanation/thread-safety.md.
    """

    def __init__(self, input: str, container: str, *, regions: list[Region],
                 elf_arch: Arch | None = None, vmcoreinfo: "VmcoreInfo | None" = None,
                 vmcoreinfo_source: str = "", notes: list[Note] | None = None,
                 warnings: list[str] | None = None, scheme: str = "unknown",
                 table_where: str = "", ram: "PhysicalMemory | None" = None,
                 inputs: list[str] | None = None, vmlinux: str | None = None) -> None:
        self.input = input
        self.container = container
        self.elf_arch = elf_arch
        self.vmcoreinfo = vmcoreinfo
        self.vmcoreinfo_source = vmcoreinfo_source
        self.notes = list(notes or [])
        self.warnings = list(warnings or [])
        self.scheme = scheme          # "meminspect" (seq_num = meminspect ID), "downstream", ...
        self.table_where = table_where
        self.inputs = list(inputs or [input])
        self.vmlinux = vmlinux
        self._assembled = list(regions)
        self._ram = ram               # RAM images given with the capture (--memory), if any
        self._regions: list[Region] | None = None
        self._named: list[Region] | None = None   # _regions with their objects (regions)
        self._naming: dict = {}
        self._plan: "Plan | None" = None
        self._memory: "PhysicalMemory | None" = None
        self._kernel: "KernelMemory | None" = None
        self.page_offset: int | None = None   # x86_64 direct-map base read from memory
        self.phys_offset: int | None = None   # 32-bit arm PHYS_OFFSET read from memory
        self.profile: list[dict] = []         # what extract --profile added, and why
        #: objects a vmcore of ours records, by (id, name, paddr, size): what naming falls
        #: back on where the capture's own evidence names nothing
        self.recorded_objects: dict[tuple, str] = {}
        self._attached: str | None = None     # the vmlinux attach() used
        self._logs: dict = {}                 # kernel_log() by `partial`, until memory changes
        self._lazy = threading.RLock()        # one thread at a time builds the lazy parts

    # -- identity ------------------------------------------------------------
    @property
    def arch(self) -> str | None:
        """The target architecture's name, or None when the capture does not say."""
        return self.elf_arch.name if self.elf_arch is not None else None

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    # -- regions and the plan --------------------------------------------------
    @property
    def regions(self) -> list[Region]:
        """Every region with its final status (written, or why not) and its ``object``: the
        kernel object it holds, or ``unknown`` where nothing in the capture identifies it.

        The objects are named on first use (kallsyms, VMCOREINFO, meminspect IDs, captured
        pointers: :mod:`minidump.meminspect.naming`), so commands that never list regions
        (``dmesg``, ``info``) do not pay for it.
        """
        with self._lazy:
            if self._named is None:
                from minidump.meminspect.naming import name_objects
                resolved = self.resolved_regions()
                names, self._naming = name_objects(self, resolved)
                self._named = tuple(r.with_(object=n) for r, n in zip(resolved, names))
            return self._named

    @property
    def naming(self) -> dict:
        """What the regions' objects rest on: ``objects`` (counts by evidence) and, for
        meminspect captures, ``meminspect`` (the ID series read, and why)."""
        if self._named is None:
            self.regions
        return dict(self._naming)

    def resolved_regions(self) -> list[Region]:
        """:attr:`regions` without naming their objects (the cheap part: statuses only)."""
        with self._lazy:
            if self._regions is None:
                from minidump.vmcore.plan import SameBytesInFiles, resolve
                compare = SameBytesInFiles()
                try:
                    self._regions = resolve(self._assembled, compare)
                finally:
                    compare.close()
            return list(self._regions)

    def plan(self) -> "Plan":
        """Every header, note and file offset of the vmcore this capture becomes (no I/O)."""
        with self._lazy:
            return self._make_plan()

    def _make_plan(self) -> "Plan":
        if self._plan is None:
            from minidump.vmcore.plan import plan_vmcore
            if self.elf_arch is None:
                raise LayoutError("unknown architecture: the capture has no ELF header region "
                                  "and its VMCOREINFO names none; give --arch")
            # the named regions: the vmcore remembers each one's object (its sections, its
            # MINIDUMP note)
            # IDs read from extract's inspect_entries[] are meminspect IDs too: say so
            scheme = "meminspect" if "meminspect" in self.naming else self.scheme
            plan = plan_vmcore(self.regions, self.vmcoreinfo.raw if self.vmcoreinfo else None,
                               self.notes, self.elf_arch, scheme=scheme)
            self._plan = plan.with_warnings(tuple(self.warnings) + plan.warnings)
        return self._plan

    @property
    def lost(self) -> list[Region]:
        """Registered regions whose bytes the capture does not hold."""
        return [r for r in self.resolved_regions() if r.status is not None and r.status.lost]

    # -- memory ----------------------------------------------------------------
    @property
    def memory(self) -> "PhysicalMemory":
        """The captured physical bytes: region payloads, then the RAM images."""
        with self._lazy:
            return self._build_memory() if self._memory is None else self._memory

    def _build_memory(self) -> "PhysicalMemory":
        if self._memory is None:
            from minidump.kernel.memory import Extent, PhysicalMemory
            extents = []
            for region in self.resolved_regions():
                usable = region.status in (Status.WRITTEN, Status.SHORT)
                if usable and region.payload is not None and region.paddr is not None:
                    size = min(region.size, region.payload.length)
                    extents.append(Extent(region.paddr, size, region.payload.path,
                                          region.payload.offset, region.vaddr))
            ram = self._ram.extents if self._ram is not None else []
            self._memory = PhysicalMemory(extents + ram, name=self.input)
        return self._memory

    @property
    def kernel(self) -> "KernelMemory":
        """Kernel virtual reads: the capture's own virtual addresses, then VMCOREINFO's rules."""
        with self._lazy:
            return self._build_kernel() if self._kernel is None else self._kernel

    def _build_kernel(self) -> "KernelMemory":
        if self._kernel is None:
            from minidump.kernel.memory import KernelMemory
            from minidump.kernel.translate import Translator
            info = self.vmcoreinfo
            translator = Translator(self.arch, info, page_offset=self.page_offset,
                                    phys_offset=self.phys_offset) \
                if info is not None and self.arch else None
            offset = (info.kerneloffset or 0) if info is not None else 0
            self._kernel = KernelMemory(self.memory, self.elf_arch, translator, offset)
        return self._kernel

    def hold(self, ram: "PhysicalMemory", inputs: list[str]) -> None:
        """The RAM images read with the capture (closed with it) and every input path."""
        self._ram, self.inputs = ram, list(inputs)

    def attach_vmlinux(self, vmlinux: "Vmlinux", *, required: bool = False) -> None:
        """Use the vmlinux where the capture alone cannot answer.

        Without VMCOREINFO, it is read from ``vmcoreinfo_data`` through the
        kernel image found in memory (``required``: failing that is an error,
        else a warning).  On x86_64 the randomized direct-map base is read from
        ``page_offset_base``.
        """
        from minidump.errors import FormatError, MinidumpError, SymbolError
        from minidump.kernel.image import find_image, vmcoreinfo_from_memory
        self.check_vmlinux(vmlinux)
        self._attached = vmlinux.path
        if self.vmcoreinfo is None:
            try:
                image = find_image(self.memory, vmlinux, path=self.input)
                self.set_vmcoreinfo(*vmcoreinfo_from_memory(image, path=self.input))
            except MinidumpError as exc:
                if required:
                    cls = SymbolError if isinstance(exc, SymbolError) else FormatError
                    raise cls(f"no VMCOREINFO note, and reading it from memory failed: "
                              f"{exc.problem}", path=self.input) from exc
                self.warn(f"no VMCOREINFO, and reading it from memory failed: {exc.problem}")
                return
        self._check_build_id(vmlinux)
        if self.elf_arch is None:
            self.set_arch(vmlinux.arch)
        if self.arch == "arm" and "__pv_phys_pfn_offset" in vmlinux.symbols:
            # arm's VMCOREINFO has no PHYS_OFFSET: the kernel's own (ARM_PATCH_PHYS_VIRT)
            try:
                pfn = find_image(self.memory, vmlinux, path=self.input).word(
                    "__pv_phys_pfn_offset")
                self.phys_offset, self._kernel = pfn << 12, None
            except MinidumpError as exc:
                self.warn(f"__pv_phys_pfn_offset not readable ({exc.problem})")
        base = vmlinux.symbols.get("page_offset_base") if self.arch == "x86_64" else None
        if base is not None:
            try:
                self.use_direct_map(self.kernel.word(self.kernel.runtime(base.value),
                                                     "page_offset_base"))
            except MinidumpError as exc:
                if required:
                    raise
                self.warn(f"page_offset_base not readable ({exc.problem}); the direct map is "
                          "not translated")

    def check_vmlinux(self, vmlinux: "Vmlinux") -> None:
        """Refuse a vmlinux that cannot be this capture's kernel, in one line naming it: not
        a Linux kernel image (or no symbols), another machine or word size than the
        capture's, or (when both have one) another BUILD-ID.  Every command taking
        ``--vmlinux`` comes through here."""
        from minidump.errors import MinidumpError
        vmlinux.check_kernel()
        mine = self.elf_arch
        theirs = vmlinux.arch
        if mine is not None and (mine.machine, mine.bits) != (theirs.machine, theirs.bits):
            raise MinidumpError(f"does not match {self.input}: the vmlinux is {theirs.name}, "
                                f"the capture {mine.name}", path=vmlinux.path)
        self._check_build_id(vmlinux)

    def _check_build_id(self, vmlinux: "Vmlinux") -> None:
        """A vmlinux of another build names nothing right: refuse it (one line, both IDs)."""
        from minidump.errors import MinidumpError
        mine = self.vmcoreinfo.build_id if self.vmcoreinfo is not None else None
        theirs = vmlinux.build_id
        if mine and theirs and mine != theirs:
            raise MinidumpError(f"does not match {self.input}: BUILD-ID {mine} of the capture "
                                f"is not the vmlinux's {theirs}", path=vmlinux.path)

    def use_direct_map(self, page_offset: int) -> None:
        """Translate the linear map from this base (x86_64 ``page_offset_base`` read from memory)."""
        self.page_offset = page_offset
        self._kernel, self._logs, self._named = None, {}, None

    def set_vmcoreinfo(self, info: "VmcoreInfo", source: str) -> None:
        """VMCOREINFO found after the join (read from memory through a vmlinux)."""
        self.vmcoreinfo, self.vmcoreinfo_source = info, source
        self._kernel, self._plan, self._logs, self._named = None, None, {}, None

    def set_arch(self, arch: Arch) -> None:
        self.elf_arch = arch
        self._kernel, self._plan, self._logs, self._named = None, None, {}, None

    def read(self, paddr: int, size: int) -> bytes:
        """``size`` captured bytes at physical ``paddr``; :class:`minidump.FaultError` where
        nothing was captured.  ``TypeError`` unless both are ints, ``ValueError`` for a
        negative size or a range outside 64 bits.  Safe from several threads at once."""
        return self.memory.read(*_checked_range(paddr, size, "paddr"))

    def read_virt(self, vaddr: int, size: int) -> bytes:
        """``size`` bytes at kernel virtual ``vaddr`` (kernel image, linear map, or an address
        the capture gives); :class:`minidump.FaultError` where it cannot.  Arguments are
        checked as for :meth:`read`."""
        return self.kernel.read_virt(*_checked_range(vaddr, size, "vaddr"))

    # -- answers -----------------------------------------------------------------
    def require_vmcoreinfo(self) -> "VmcoreInfo":
        if self.vmcoreinfo is None:
            raise FormatError("no VMCOREINFO note; give --vmcoreinfo FILE (minidump vmcoreinfo "
                              "--vmlinux VMLINUX can generate one)", path=self.input)
        return self.vmcoreinfo

    def dmesg(self, *, partial: bool = False) -> list["Record"]:
        """The kernel log's records, oldest first (``partial``: only after ``dmesg -c``)."""
        return self.kernel_log(partial=partial).as_records()

    def kernel_log(self, *, partial: bool = False):
        """The kernel log as :class:`~minidump.kernel.printk.KernelLog` (records or plain text).

        Read once per capture (``facts()`` and ``dmesg()`` share it); a KernelLog is immutable.
        """
        with self._lazy:
            return self._read_log(partial)

    def _read_log(self, partial: bool):
        from minidump.kernel.printk import read_log
        if partial not in self._logs:
            info = self.require_vmcoreinfo()
            arch = self.elf_arch or Arch(0)
            def read():
                return read_log(self.kernel, info, bits=arch.bits, little=arch.little_endian,
                                partial=partial)
            try:
                log = read()
            except FaultError:
                # a log in buffers setup_log_buf allocated lies in the direct map, which
                # KASLR randomizes on x86_64: find its base, then read again
                if not self._find_direct_map():
                    raise
                log = read()
            self._logs[partial] = log
        return self._logs[partial]

    def _find_direct_map(self) -> bool:
        """x86_64 with KASLR and no vmlinux: the randomized direct-map base, read from
        ``page_offset_base`` located through the capture's own kallsyms tables.  True when
        found (and now used)."""
        info = self.vmcoreinfo
        if self.arch != "x86_64" or self.page_offset is not None or info is None \
                or not info.kerneloffset:
            return False
        from minidump.kernel.kallsyms import address_in
        address = address_in(self, "page_offset_base")
        if address is None:
            return False
        try:
            base = self.kernel.word(address, "page_offset_base")
        except MinidumpError:
            return False
        self.use_direct_map(base)
        return True

    def kallsyms(self) -> "Kallsyms | None":
        """The kernel's own symbol table decoded from the capture (no vmlinux), or None when
        VMCOREINFO does not locate the kallsyms tables or the capture does not hold them all;
        decoded once per capture.  Raises a :class:`~minidump.errors.MinidumpError` when the
        tables are there but make no sense.
        """
        try:
            return self.load_kallsyms()
        except FaultError:
            return None

    def load_kallsyms(self) -> "Kallsyms | None":
        """:meth:`kallsyms`, but a :class:`~minidump.errors.FaultError` (naming the first table
        not captured) where the tables are not all in the capture."""
        from minidump.kernel import kallsyms
        with self._lazy:
            if not hasattr(self, "_kallsyms"):
                info = self.vmcoreinfo
                if kallsyms.has_tables(info):
                    self._kallsyms = kallsyms.load(self.kernel, info)
                else:
                    self._kallsyms = self._kinfo_kallsyms()
            return self._kallsyms

    def _kinfo_kallsyms(self) -> "Kallsyms | None":
        """The symbol table located by the debug-kinfo block (its count and its tables'
        physical addresses, placed by VMCOREINFO's image rule), or None."""
        from minidump.kernel import kallsyms
        from minidump.kernel.kinfo import TABLES
        block = self.kinfo()
        translator = self.kernel.translator
        if block is None or translator is None or not block.fields.get("num_syms"):
            return None
        tables = {}
        for name in TABLES:
            pa = block.pa(name)
            va = translator.image_va(pa) if pa else None
            if va is not None:
                tables[name] = va
        if "kallsyms_names" not in tables or "kallsyms_offsets" not in tables:
            return None
        return kallsyms.load(self.kernel, self.vmcoreinfo, tables=tables,
                             count=block.fields["num_syms"])

    def kinfo(self) -> "KernelInfo | None":
        """Android's debug-kinfo block (``google,debug-kinfo`` reserved memory) when the
        capture's memory holds one with a valid checksum; searched once, full captures only
        (firmware minidumps hold only registered regions)."""
        with self._lazy:
            if not hasattr(self, "_kinfo"):
                kinfo = None
                if self.container.startswith(("ELF core", "raw RAM")) or self._ram is not None:
                    from minidump.kernel.kinfo import find_kinfo
                    kinfo = find_kinfo(self.memory)
                self._kinfo = kinfo
            return self._kinfo

    def facts(self, *, debuginfo=None) -> dict:
        """What ``minidump info --json`` prints: facts, layout and per-consumer readiness.

        ``debuginfo`` is an open :class:`~minidump.kernel.debuginfo.DebugInfo`; by
        default the capture's ``vmlinux`` is opened when it was given.
        """
        from minidump.kernel.facts import gather
        if debuginfo is None and self.vmlinux:
            from minidump.kernel.debuginfo import DebugInfo
            with DebugInfo.open(self.vmlinux) as dbg:
                return self.facts(debuginfo=dbg)
        if debuginfo is not None and self._attached != debuginfo.path:
            self.attach_vmlinux(debuginfo.vmlinux)
        return gather(self, debuginfo)

    def drgn(self, vmlinux: str | os.PathLike | None = None):
        """A :class:`drgn.Program` on this capture's memory, no vmcore written first.

        drgn gets the capture's notes and VMCOREINFO, its memory at every physical address
        and at the kernel virtual addresses the capture gives or the kernel-image and
        linear-map rules imply; memory the capture lacks raises ``drgn.FaultError``.  With
        ``vmlinux`` its debug info is loaded; without it, symbols come from the capture's
        own kallsyms tables, and drgn's printk helpers work from VMCOREINFO alone.  Needs
        the optional extra ``kminidump[drgn]`` (:class:`UnsupportedError` without it).
        """
        from minidump.kernel.drgn_program import program
        return program(self, None if vmlinux is None else os.fspath(vmlinux))

    # -- output --------------------------------------------------------------------
    def write_vmcore(self, path: str | os.PathLike, *, force: bool = False,
                     progress: Callable[[int], None] | None = None) -> WriteResult:
        """Write the ELF vmcore (what ``minidump build`` does), atomically.

        Refuses an output that is one of the inputs, and an existing one unless
        ``force``; a failure leaves nothing at ``path``.  ``progress`` is called
        with each number of bytes copied.  Errors are :class:`~minidump.MinidumpError`
        with ``.path``: a :class:`~minidump.errors.UsageError` for a refused path, an
        :class:`~minidump.errors.OutputError` (also an ``OSError``) when writing fails.
        """
        from minidump.files import atomic_output, check_output
        from minidump.vmcore.write import write_vmcore
        path = _path_argument(path, "path")
        check_output(path, force=force, inputs=self.inputs)   # before any planning I/O
        plan = self.plan()
        try:
            with atomic_output(path, force=force, inputs=self.inputs) as out:
                write_vmcore(plan, out, progress)
        except OSError as exc:
            if isinstance(exc, MinidumpError):
                raise
            raise OutputError(exc.strerror or str(exc), path=path, errno=exc.errno) from exc
        return WriteResult(path, plan.size, plan.regions, tuple(plan.lost), plan.warnings)

    # -- files ---------------------------------------------------------------------
    def close(self) -> None:
        if self._memory is not None:
            self._memory.close()
        if self._ram is not None:
            self._ram.close()

    def __repr__(self) -> str:
        return (f"<Capture {self.input!r}: {self.container}, {self.arch or 'arch unknown'}, "
                f"{len(self._assembled)} regions>")


ADDRESS_END = 1 << 64


def _checked_range(addr, size, what: str) -> tuple[int, int]:
    """``read``'s arguments as ints, or a TypeError/ValueError that says which is wrong."""
    for name, value in ((what, addr), ("size", size)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, not {type(value).__name__} ({value!r})")
    if not 0 <= addr < ADDRESS_END:
        raise ValueError(f"{what} {addr:#x} is outside the 64-bit address space")
    if size < 0:
        raise ValueError(f"size {size} is negative")
    if addr + size > ADDRESS_END:
        raise ValueError(f"{what} {addr:#x} + size {size:#x} runs past the 64-bit address space")
    return addr, size


def _path_argument(value, what: str) -> str:
    """A path argument (str, bytes or os.PathLike) as str; a TypeError naming it otherwise."""
    try:
        return os.fsdecode(os.fspath(value))
    except TypeError:
        raise TypeError(f"{what} must be a path (str, bytes or os.PathLike), not "
                        f"{type(value).__name__}") from None
