"""The front door of the library: :func:`open` any capture, :func:`extract` from a full one.

Paths are opened here and nowhere else above the readers; every keyword is a
command-line option of the same name (``--memory`` is ``memory=``,
``--table-addr`` is ``table_addr=``, ...), so a script and the CLI mean the
same thing by the same words.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterable, Union

from minidump.capture import Capture, _path_argument
from minidump.errors import FormatError, UsageError
from minidump.files import check_input, parse_address, parse_int, read_small
from minidump.limits import VMCOREINFO_MAX
from minidump.model import ARCHES

if TYPE_CHECKING:
    from minidump.kernel.vmcoreinfo import VmcoreInfo

PathLike = Union[str, "os.PathLike[str]"]


def _smem_base(value) -> tuple[int | None, int | None]:
    """``--smem-base``: an int, ``(base, size)``, or the text ``PADDR[,SIZE]``."""
    if value is None or value == "":
        return None, None
    if isinstance(value, int):
        return parse_address(value, "--smem-base"), None
    if isinstance(value, tuple):
        return (parse_address(value[0], "--smem-base"),
                _size(value[1]) if len(value) > 1 and value[1] is not None else None)
    base, _, size = str(value).partition(",")
    return parse_address(base, "--smem-base"), _size(size) if size else None


def _size(value) -> int:
    size = value if isinstance(value, int) else parse_int(str(value), "--smem-base size")
    if not 0 < size < 1 << 64:
        raise UsageError(f"--smem-base size {value!r} must be positive and below 2^64")
    return size


def _address(value, what: str) -> int | None:
    return None if value is None else parse_address(value, what)


def load_vmcoreinfo(value) -> "tuple[VmcoreInfo, str] | tuple[None, str]":
    """``--vmcoreinfo``: a file of VMCOREINFO text (bounded like the kernel's), or the bytes."""
    from minidump.kernel.vmcoreinfo import VmcoreInfo
    if value is None:
        return None, ""
    if isinstance(value, (bytes, bytearray)):
        return VmcoreInfo(bytes(value), path="--vmcoreinfo"), "--vmcoreinfo"
    path = os.fspath(value)
    raw = read_small(path, VMCOREINFO_MAX, "VMCOREINFO")
    if not raw.strip(b"\0 \t\r\n"):
        raise FormatError("the VMCOREINFO file is empty", path=path, offset=0,
                          field="VMCOREINFO")
    return VmcoreInfo(raw, path=path), path


def open(path: PathLike, *, memory: Iterable[str] = (), table_addr: int | str | None = None,
         smem_base: int | str | tuple | None = None, sahara_table: PathLike | None = None,
         vmcoreinfo: PathLike | bytes | None = None, format: str = "auto",
         arch: str | None = None, vmlinux: PathLike | None = None,
         progress: bool = False) -> Capture:
    """Open any capture: a md_*.BIN directory, a Raw_Dmp! image, an SMEM item-602 blob, a RAM
    image holding the SMEM table (with ``memory``), raw RAM images ``FILE@PADDR``, a directory
    whose ``MEMORY.txt`` lists RAM images as ``FILE@PADDR`` lines, or an ELF vmcore.

    ``memory`` lists raw RAM images as ``"FILE@PADDR"``; ``table_addr`` and
    ``smem_base`` (``PADDR`` or ``"PADDR,SIZE"``) locate the SMEM table;
    ``sahara_table`` gives md_*.BIN blobs their addresses; ``vmcoreinfo`` (a
    file of text) replaces the captured VMCOREINFO; ``format`` forces the
    container kind (``mddir``, ``rawdump``, ``smem-blob``, ``ram``, ``memory``,
    ``elf``); ``arch`` the architecture; ``vmlinux`` is the kernel's image with
    symbols, for what needs it (VMCOREINFO of a full capture without the note,
    the randomized x86_64 direct map, ``facts()``, each region's ``object``
    from the symbol table); its BUILD-ID must match the capture's; ``progress`` shows a progress
    bar on a terminal's stderr during long scans (the CLI's default).  Nothing is written.
    Errors are :class:`minidump.MinidumpError` subclasses with ``.path``,
    ``.offset`` and ``.field`` (a missing, looping or unreadable input too); a
    ``path`` that is no ``str``, ``bytes`` or ``os.PathLike``, or a ``memory`` that
    is one string, is a ``TypeError``.
    """
    from minidump.assemble import assemble
    from minidump.kernel.memory import PhysicalMemory
    from minidump.sources import (BY_KIND, FORMATS, Context, Source, detect, is_memory_spec,
                                  memory_extent, split_memory_spec)
    from minidump.sources.memoryset import is_memory_set, read_memory_set

    path = _path_argument(path, "path")
    spec = is_memory_spec(path)
    if not spec:
        check_input(path)
    if arch and arch not in ARCHES:
        raise UsageError(f"--arch {arch!r}: expected one of {', '.join(sorted(ARCHES))}")
    if format not in FORMATS:
        raise UsageError(f"--format {format!r}: expected one of {', '.join(FORMATS)}")
    if isinstance(memory, (str, bytes, os.PathLike)):
        raise TypeError("memory must be a list of \"FILE@PADDR\" strings, not one string")
    memory = [_path_argument(m, "memory item") for m in memory]
    if not spec and format in ("auto", "ram", "smem-blob") and is_memory_set(path):
        listed = read_memory_set(path)      # a RAM-image set: what triage reads it as
        path, memory = listed["path"], [*listed["memory"], *memory]
    info, info_source = load_vmcoreinfo(vmcoreinfo)
    extents = ([memory_extent(path)] if spec else []) + [memory_extent(m) for m in memory]
    name = split_memory_spec(path)[0] if spec else path
    ram = PhysicalMemory(extents, name=name)
    try:
        reader = detect(path, has_memory=bool(extents)) if format == "auto" else BY_KIND[format]
        base, size = _smem_base(smem_base)
        context = Context(reader.kind, ram, _address(table_addr, "--table-addr"), base, size,
                          os.fspath(sahara_table) if sahara_table else None, progress=progress)
        table_warnings: list[str] = []
        fallback = None
        if reader.kind in ("smem-blob", "ram") and ram.extents:
            fallback = ram      # a PT_LOAD of the kernel's header that the table lost
        if reader.kind in ("mddir", "rawdump") and ram.extents:
            from minidump.sources.smem import SmemNotFound, table_rows
            found = Source("SMEM minidump table")
            fallback = ram
            try:
                context.table_rows = table_rows(ram, found, table_addr=context.table_addr,
                                                smem_base=base, smem_size=size, progress=progress)
            except SmemNotFound:
                # plain DDR images: no table to read, but bytes for blobs the capture lacks
                found.warn("no SMEM table in the --memory images; they only fill regions "
                           "whose blobs are missing or short")
            table_warnings = found.warnings
        source = reader.load().read(name, context)
        source.warnings[:0] = table_warnings
        capture = assemble(source, input=name, vmcoreinfo=info, vmcoreinfo_source=info_source,
                           arch=arch, ram=fallback)
    except BaseException:
        ram.close()
        raise
    capture.hold(ram, [name, *(split_memory_spec(m)[0] for m in memory),
                       *(os.fspath(p) for p in (vmcoreinfo, sahara_table, vmlinux)
                         if p is not None and not isinstance(p, (bytes, bytearray)))])
    if vmlinux is not None:
        capture.vmlinux = os.fspath(vmlinux)
        from minidump.elf.vmlinux import Vmlinux
        try:
            with Vmlinux.open(capture.vmlinux) as image:
                capture.attach_vmlinux(image)
        except BaseException:
            capture.close()
            raise
    return capture


def extract(full_capture: "PathLike | Capture", *, vmlinux: PathLike | None = None,
            regions: str | None = None, profile: str | None = None,
            memory: Iterable[str] = (), meminspect_version: str | None = None,
            vmcoreinfo: PathLike | bytes | None = None) -> Capture:
    """The minidump of a full capture: only the regions the kernel registered for inspection.

    ``full_capture`` is an ELF vmcore (kdump, QEMU ``dump-guest-memory``), raw
    RAM ``"FILE@PADDR"``, or an open :class:`Capture` of one; ``vmlinux`` its
    kernel with symbols (without one, the kernel's own runtime table is read through the
    capture's kallsyms: a meminspect kernel with ``CONFIG_KALLSYMS_ALL``, no ``regions`` or
    ``profile``); ``regions`` a ``--regions`` file or a shipped set
    (``"v3-default"``) for kernels without meminspect; ``profile="crash"``
    adds what crash reads before its prompt.  Returns a Capture whose
    ``write_vmcore()`` writes the small vmcore.
    """
    from minidump.elf.vmlinux import Vmlinux
    from minidump.meminspect.extract import select, select_runtime, with_payloads

    if isinstance(full_capture, Capture):
        full, owned = full_capture, False
    else:
        full, owned = _open_full(os.fspath(full_capture), memory, vmcoreinfo), True
    try:
        if vmlinux is None:
            if regions or profile:
                raise UsageError("--regions and --profile name kernel symbols: give "
                                 "--vmlinux VMLINUX")
            chosen = select_runtime(full, version=meminspect_version)
        else:
            vmlinux = os.fspath(vmlinux)
            with Vmlinux.open(vmlinux) as image:
                full.attach_vmlinux(image, required=True)
                chosen = select(image, full.kernel, full.arch or image.arch.name,
                                regions_file=regions, profile=profile,
                                version=meminspect_version)
        picked = with_payloads(full, chosen.regions)
    finally:
        if owned:
            full.close()
    how = "vmlinux" if vmlinux else "its own meminspect table"
    out = Capture(full.input, f"{full.container} + {how}", regions=picked,
                  elf_arch=full.elf_arch, vmcoreinfo=full.vmcoreinfo,
                  vmcoreinfo_source=full.vmcoreinfo_source, notes=full.notes,
                  warnings=chosen.warnings,
                  inputs=[*full.inputs, *([vmlinux] if vmlinux else [])], vmlinux=vmlinux)
    out.profile = chosen.added
    # the same kernel's layout: what the full capture read from memory (arm's PHYS_OFFSET
    # from __pv_phys_pfn_offset, x86_64's randomized direct map) holds for its minidump too
    out.phys_offset, out.page_offset = full.phys_offset, full.page_offset
    return out


def _open_full(path: str, memory: Iterable[str], vmcoreinfo) -> Capture:
    """A full capture: an ELF vmcore or raw RAM ``FILE@PADDR``; anything else is a usage error."""
    from minidump.elf.core import sniff
    from minidump.sources import is_memory_spec
    if is_memory_spec(path):
        return open(path, memory=memory, vmcoreinfo=vmcoreinfo, format="memory")
    if sniff(path):
        return open(path, memory=memory, vmcoreinfo=vmcoreinfo, format="elf")
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file")
    raise UsageError(f"{path} is not an ELF vmcore; give a raw RAM image as FILE@PADDR")


__all__ = ["open", "extract", "load_vmcoreinfo"]
