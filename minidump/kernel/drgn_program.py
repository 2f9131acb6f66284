"""drgn on a Capture: a :class:`drgn.Program` whose memory the Capture serves, no vmcore first.

drgn reads a Linux kernel from any memory transport through its public API:
``Program.set_core_dump`` takes the ELF notes (NT_PRSTATUS, VMCOREINFO) from a file
descriptor, and ``Program.add_memory_segment`` maps physical and virtual ranges to
Python callbacks.  The Program made here gets

* a notes-only ELF core in an anonymous memory file (``memfd_create``): the ELF header
  names the platform (the capture's arch), the PT_NOTE holds the capture's CPU notes and
  its VMCOREINFO, and no PT_LOAD -- so drgn knows it is a kernel, finds the crashed CPU's
  registers, and reads nothing from the file;
* one physical segment per captured extent (region payloads, RAM images, a core's
  PT_LOADs), read through :meth:`Capture.read`;
* the virtual segments the capture gives or the kernel-image and linear-map rules imply
  (:class:`~minidump.kernel.translate.Translator`): the capture's own ``p_vaddr``, the
  linear-map alias of every extent, and the kernel-image alias of the part that holds the
  image.  drgn's page-table walk stays below them (segments added later win), so vmalloc
  and module addresses still translate where the tables were captured; on riscv64, where
  drgn 0.3.0 has no page-table walk, these segments are what makes kernel addresses
  readable at all;
* debug info from ``vmlinux`` when given; without it a symbol finder over the capture's
  own kallsyms tables (or, lacking those, VMCOREINFO's ``SYMBOL()`` entries and the
  regions' named objects), untyped ``unsigned char[size]`` objects for the named regions,
  and the printk ring's types built from VMCOREINFO's ``OFFSET()``/``SIZE()`` entries
  (:mod:`minidump.kernel.drgn_types`), so drgn's printk helpers work with no vmlinux.

Memory the capture does not hold raises drgn's ``FaultError``: no segment covers it.
"""

from __future__ import annotations

import bisect
import os
import re
import threading
from typing import TYPE_CHECKING, Any

from minidump.errors import MinidumpError, UnsupportedError
from minidump.kernel.translate import MASK64, X86_64_START_KERNEL_MAP

if TYPE_CHECKING:
    from minidump.capture import Capture

#: what a region's object must look like to be a symbol (``runqueues[cpu1]`` is not one)
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: SYMBOL() keys whose value is not the symbol's address: kernel/vmcore_info.c prints
#: VMCOREINFO_SYMBOL_ARRAY(mem_section), the pointer's value with SPARSEMEM_EXTREME
VALUE_SYMBOLS = frozenset({"mem_section"})
#: the kernel image's end is rounded up to this when it bounds the image alias
IMAGE_ALIGN = 2 << 20
#: x86_64 KERNEL_IMAGE_SIZE with CONFIG_RANDOMIZE_BASE (arch/x86/include/asm/page_64_types.h)
X86_64_KERNEL_IMAGE_SIZE = 1 << 30


def import_drgn():
    """The drgn module, or a one-line :class:`UnsupportedError` saying how to get it."""
    try:
        import drgn
    except ImportError as exc:
        raise UnsupportedError("drgn is not installed; install it with "
                               "pip install 'kminidump[drgn]'") from exc
    return drgn


def program(cap: "Capture", vmlinux: str | None = None) -> Any:
    """A :class:`drgn.Program` on ``cap``'s memory (see the module docstring)."""
    drgn = import_drgn()
    if vmlinux is not None:
        _attach(cap, os.fspath(vmlinux))
    elif cap.arch == "x86_64":
        cap._find_direct_map()        # KASLR's direct-map base, from the capture's kallsyms
    info = cap.require_vmcoreinfo()
    if cap.elf_arch is None:
        raise UnsupportedError("unknown architecture: the capture names none; give --arch",
                               path=cap.input)
    prog = drgn.Program()
    _set_notes(prog, cap)
    if cap.arch == "riscv64":   # drgn 0.3.0 unwinds no riscv64: minidump.stack_trace() does
        from minidump.kernel.drgn_unwind import remember_registers
        remember_registers(prog, cap)
    lock = threading.Lock()   # PhysicalMemory shares file handles; Capture reads are not
                              # thread-safe before issue 20's change lands

    def read(address: int, count: int, offset: int, physical: bool) -> bytes:
        with lock:
            try:
                return cap.read(address, count)
            except MinidumpError as exc:   # a file shorter than when the capture was read
                raise drgn.FaultError(str(exc), address) from exc

    for extent in cap.memory.extents:
        prog.add_memory_segment(extent.paddr, extent.size, read, True)
    for vaddr, size, paddr in virtual_segments(cap, _image_end(cap, vmlinux)):
        prog.add_memory_segment(vaddr, size, _bound(read, paddr), False)
    if vmlinux is not None:
        _load_vmlinux(prog, drgn, os.fspath(vmlinux))
    else:
        from minidump.kernel.drgn_types import add_vmcoreinfo_types
        symbols = symbol_table(cap)
        prog.register_symbol_finder("minidump", drgn.SymbolIndex(
            [drgn.Symbol(name, address, size,
                         drgn.SymbolBinding.GLOBAL if upper else drgn.SymbolBinding.LOCAL,
                         drgn.SymbolKind.FUNC if kind == "func" else drgn.SymbolKind.OBJECT)
             for name, address, size, kind, upper in symbols]), enable_index=-1)
        add_vmcoreinfo_types(prog, info, cap.elf_arch, _region_objects(cap))
    return prog


def _bound(read, paddr: int):
    """A virtual segment's reader: the physical bytes at ``paddr`` + the segment offset."""
    def read_virtual(address: int, count: int, offset: int, physical: bool) -> bytes:
        return read(paddr + offset, count, offset, True)
    return read_virtual


def _attach(cap: "Capture", vmlinux: str) -> None:
    if cap._attached == vmlinux:
        return
    from minidump.elf.vmlinux import Vmlinux
    with Vmlinux.open(vmlinux) as image:
        cap.attach_vmlinux(image)
        end = image.symbols.get("_end")
        cap._image_end = None if end is None else end.value


def _set_notes(prog, cap: "Capture") -> None:
    """Give drgn the capture's notes and VMCOREINFO as a notes-only ELF core in memory."""
    from minidump.vmcore.plan import plan_vmcore
    info = cap.vmcoreinfo
    header = plan_vmcore([], info.raw if info is not None else None, cap.notes,
                         cap.elf_arch, remember=False).header
    fd = os.memfd_create("minidump-notes", os.MFD_CLOEXEC)
    try:
        os.write(fd, header)
        # by path, so drgn opens (and later closes) a descriptor of its own: given ours,
        # it closes that number when the Program goes, by then perhaps another file's
        prog.set_core_dump(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def _image_end(cap: "Capture", vmlinux: str | None) -> int | None:
    """The kernel image's runtime ``_end``: the vmlinux's, the capture's kallsyms', or a
    region whose object is ``_end``; None when nothing says."""
    kernel = cap.kernel
    link = getattr(cap, "_image_end", None) if vmlinux is not None else None
    if link is not None:
        return kernel.runtime(link)
    from minidump.kernel.kallsyms import address_in
    end = address_in(cap, "_end")
    if end is not None:
        return end
    return next((r.vaddr for r in cap.regions if r.object == "_end" and r.vaddr), None)


def _image_window(cap: "Capture", end: int | None) -> tuple[int, int] | None:
    """The virtual range the kernel image's alias may cover."""
    info, arch = cap.vmcoreinfo, cap.arch
    if arch == "x86_64":
        start, stop = X86_64_START_KERNEL_MAP, X86_64_START_KERNEL_MAP + X86_64_KERNEL_IMAGE_SIZE
    elif arch in ("arm64", "riscv64"):
        stext = info.symbol("_stext")
        if stext is None:
            return None
        start, stop = stext - IMAGE_ALIGN, stext + (1 << 30)
    else:
        return None   # 32-bit arm: the image lies in lowmem, the linear alias covers it
    if end is not None and start < end <= stop:
        stop = -(-end // IMAGE_ALIGN) * IMAGE_ALIGN
    return start, stop


def virtual_segments(cap: "Capture", image_end: int | None = None) -> list[tuple[int, int, int]]:
    """``(vaddr, size, paddr)`` of every virtual range the capture's memory answers: each
    extent's own address, its linear-map alias and its kernel-image alias (within the
    image); in the order added (a later one wins where they overlap)."""
    kernel = cap.kernel
    translator = kernel.translator
    window = _image_window(cap, image_end) if translator is not None else None
    out: list[tuple[int, int, int]] = []
    seen: set[tuple[int, int]] = set()

    def add(vaddr: int, size: int, paddr: int) -> None:
        if size > 0 and (vaddr, paddr) not in seen:
            seen.add((vaddr, paddr))
            out.append((vaddr, size, paddr))

    for extent in cap.memory.extents:
        if translator is not None:
            linear = translator.linear_va(extent.paddr)
            if linear is not None:
                add(linear, _contiguous(translator.linear_va, extent.paddr, extent.size, linear),
                    extent.paddr)
            image = translator.image_va(extent.paddr) if window is not None else None
            if image is not None:
                lo, hi = max(image, window[0]), min(image + extent.size, window[1])
                add(lo, hi - lo, extent.paddr + lo - image)
        if extent.vaddr:   # the capture's own address wins: added last
            add(extent.vaddr, extent.size, extent.paddr)
    return out


def _contiguous(to_va, paddr: int, size: int, vaddr: int) -> int:
    """How many bytes from ``paddr`` map one to one from ``vaddr`` (arm's lowmem ends)."""
    if to_va(paddr + size - 1) == (vaddr + size - 1) & MASK64:
        return size
    lo, hi = 1, size - 1   # lo maps, hi + 1 does not
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if to_va(paddr + mid - 1) == (vaddr + mid - 1) & MASK64:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _region_objects(cap: "Capture") -> list[tuple[str, int, int]]:
    """``(name, vaddr, size)`` of every written region whose object is a plain symbol."""
    out = []
    for region in cap.regions:
        if region.object and IDENTIFIER.match(region.object) and region.vaddr \
                and region.status is not None and not region.status.lost and region.size:
            out.append((region.object, region.vaddr, region.size))
    return out


def symbol_table(cap: "Capture") -> list[tuple[str, int, int, str, bool]]:
    """``(name, address, size, kind, global)`` for drgn without a vmlinux.

    The regions' named objects first, with their exact sizes; then the capture's kallsyms
    tables where they read (a symbol's size runs to the next address, as
    ``kernel/kallsyms.c`` reports it); then VMCOREINFO's ``SYMBOL()`` entries for names
    neither gave (size 0: an address only).
    """
    from minidump.kernel.kallsyms import readable_table
    out: dict[tuple[str, int], tuple[str, int, int, str, bool]] = {}
    for name, vaddr, size in _region_objects(cap):
        out.setdefault((name, vaddr), (name, vaddr, size, "object", True))
    table = readable_table(cap)
    if table is not None:
        addresses = [s.address for s in table.symbols]
        for symbol in table.symbols:
            following = bisect.bisect_right(addresses, symbol.address)
            following = addresses[following] if following < len(addresses) else symbol.address
            kind = "func" if symbol.type in "tTwW" else "object"
            out.setdefault((symbol.name, symbol.address),
                           (symbol.name, symbol.address, following - symbol.address, kind,
                            symbol.type.isupper()))
    # kallsyms lists data only with CONFIG_KALLSYMS_ALL (Debian's cloud-arm64 has text only)
    info, named = cap.vmcoreinfo, {name for name, _ in out}
    for key in info:
        match = re.fullmatch(r"SYMBOL\((\w+)\)", key)
        name = match.group(1) if match else None
        address = info.symbol(name) if name and name not in VALUE_SYMBOLS else None
        if address and name not in named:
            out[(name, address)] = (name, address, 0, "object", True)
    return list(out.values())


def _load_vmlinux(prog, drgn, vmlinux: str) -> None:
    """The vmlinux's debug info for the kernel itself (modules: not in a minidump)."""
    try:
        prog.load_debug_info([vmlinux], main=True)
    except drgn.MissingDebugInfoError:
        module = prog.main_module()
        if module is None or module.debug_file_status != drgn.ModuleFileStatus.HAS:
            raise MinidumpError("drgn found no debug info in it (the -dbg package's "
                                "vmlinux, matching the capture's build, is needed)",
                                path=vmlinux) from None
