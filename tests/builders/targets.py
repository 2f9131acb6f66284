"""The fuzz targets: every reader, driven by one byte string each.

A target turns one byte string into an input (a file, a directory, a VMCOREINFO
text, a memory image), runs the reader and whatever consumes its result, and
accepts exactly two outcomes: a result, or a :class:`minidump.errors.MinidumpError`
whose message is one line.  Anything else is a finding.  The hypothesis tests
(``tests/hostile/test_fuzz.py``) and the atheris harness (``tools/fuzz.py``) run
the same targets, so a finding of either reproduces with ``run(target, data)``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from builders import SAMPLES
from minidump.errors import MinidumpError

#: SMEM sample windows the ``smem`` target overwrites (offsets in ram/smem.bin): the header,
#: the global partition's item list, item 614 and the partition table page; then the
#: APSS region array (53 x 40 bytes) at the start of ram/ddr5.bin
SMEM_WINDOWS = ((0x0, 0x200), (0x1000, 0x1400), (0x17F000, 0x17F100), (0x1FF000, 0x1FF100))
SMEM_ARRAY = ("ddr5.bin", 0, 53 * 40)
PRINTK_BASE = 0xFFFF800081000000
PRINTK_HEAD = "OSRELEASE=6.18.0\nPAGESIZE=4096\n"


class Finding(AssertionError):
    """A reader broke its contract (raised by the targets' own checks)."""


@dataclass
class Target:
    name: str
    what: str
    seeds: Callable[[], list[bytes]]
    run: Callable[[bytes], None]


_WORK: Path | None = None


def work() -> Path:
    """A private scratch directory for this process (inputs are written here)."""
    global _WORK
    if _WORK is None:
        _WORK = Path(tempfile.mkdtemp(prefix="minidump-fuzz-"))
        import atexit
        atexit.register(shutil.rmtree, _WORK, ignore_errors=True)
    return _WORK


_OUTCOMES: list[str] = []


def _checked(call: Callable[[], object]) -> object:
    """Run ``call``; a MinidumpError must be one line, anything else propagates."""
    try:
        return call()
    except MinidumpError as exc:
        text = str(exc)
        if "\n" in text or not text:
            raise Finding(f"error message is not one line: {text!r}") from exc
        _OUTCOMES.append(text.replace(str(work()) + os.sep, ""))
        return exc


def _open(path, **options):
    """``minidump.open`` as a target sees it: a Capture, or the one-line error."""
    from minidump.api import open as open_
    return _checked(lambda: open_(str(path), **options))


def _plan(capture) -> None:
    from minidump.report import region_rows, totals
    plan = _checked(capture.plan)
    if isinstance(plan, MinidumpError):
        return
    region_rows(plan.regions), totals(plan.regions)
    for load in plan.loads:
        if load.payload.length < load.size:
            raise Finding(f"PT_LOAD of {load.size:#x} bytes from a payload of "
                          f"{load.payload.length:#x}")


# -- ELF input ----------------------------------------------------------------------------

def _elf_seeds() -> list[bytes]:
    from builders.printk import LocklessRing, write_core
    out = work() / "seed-elf"
    out.mkdir(exist_ok=True)
    ring = LocklessRing(count_bits=3, size_bits=8)
    for i in range(10):
        ring.add(f"message {i}".encode(), i * 1_000_000)
    chunks, keys = ring.memory(PRINTK_BASE)
    ring_core = write_core(out / "ring.vmcore", chunks, (PRINTK_HEAD + keys).encode())
    seeds = [ring_core.read_bytes()]
    from minidump.cli import main
    vmcore = out / "sample.vmcore"
    if not vmcore.exists() and (SAMPLES / "md").is_dir():
        main(["build", "--from-table", str(SAMPLES / "md"), "-o", str(vmcore), "-q"])
    if vmcore.exists():
        seeds.append(vmcore.read_bytes())
    return seeds


def run_elf(data: bytes) -> None:
    """ELF vmcore: headers, notes, plan; then VMCOREINFO and the printk walk (``dmesg``)."""
    from minidump.elf import core as elfcore
    path = work() / "input.vmcore"
    path.write_bytes(data)
    if not elfcore.sniff(str(path)):
        return
    capture = _open(path)
    if isinstance(capture, MinidumpError):
        return
    with capture:
        _plan(capture)
        if capture.vmcoreinfo is not None:
            _checked(lambda: capture.kernel_log().text())


# -- md_*.BIN directory (the KELF header blob and the Sahara table) ------------------------

def _md_dir(kind: str) -> Path:
    """A copy of samples/.../md as symlinks, except the file the target rewrites."""
    directory = work() / f"md-{kind}"
    if not directory.exists():
        directory.mkdir()
        for item in (SAMPLES / "md").iterdir():
            (directory / item.name).symlink_to(item)
    return directory


def _md_seeds() -> list[bytes]:
    return [(SAMPLES / "md" / "md_KELF1.BIN").read_bytes()]


def run_mddir(data: bytes) -> None:
    """md_*.BIN directory whose KELF header blob (ID 1) is ``data``: parse, join, plan."""
    from minidump.elf.kelf import parse_kelf
    _checked(lambda: parse_kelf(data, path="md_KELF1.BIN"))
    directory = _md_dir("kelf")
    target = directory / "md_KELF1.BIN"
    if target.is_symlink():
        target.unlink()
    target.write_bytes(data)
    capture = _open(directory)
    if not isinstance(capture, MinidumpError):
        with capture:
            _plan(capture)


def _sahara_seeds() -> list[bytes]:
    return [(SAMPLES / "md" / "sahara_table.bin").read_bytes()]


def run_sahara(data: bytes) -> None:
    """Raw Sahara memory-debug table: parse, then give md-nokelf/ its addresses with it."""
    from minidump.sources.tables import read_sahara_table, sniff_sahara_table
    _checked(lambda: sniff_sahara_table(data))
    _checked(lambda: read_sahara_table(data, path="sahara_table.bin"))
    directory = work() / "md-sahara"
    if not directory.exists():
        directory.mkdir()
        for item in (SAMPLES / "md-nokelf").iterdir():
            if item.name != "sahara_table.bin":
                (directory / item.name).symlink_to(item)
    (directory / "sahara_table.bin").write_bytes(data)
    capture = _open(directory, arch="arm64")   # md-nokelf has no ELF header
    if not isinstance(capture, MinidumpError):
        with capture:
            _plan(capture)


# -- rawdump ------------------------------------------------------------------------------

def _rawdump_seeds() -> list[bytes]:
    return [(SAMPLES / "rawdump.img").read_bytes()]


def run_rawdump(data: bytes) -> None:
    """A ``Raw_Dmp!`` image: header, section table, sections, side files, plan."""
    path = work() / "rawdump.img"
    path.write_bytes(data)
    capture = _open(path, format="rawdump")
    if not isinstance(capture, MinidumpError):
        with capture:
            _plan(capture)


# -- SMEM table in RAM images and the bare item-602 blob ---------------------------------

def _smem_files() -> tuple[Path, Path]:
    smem, array = work() / "smem.bin", work() / SMEM_ARRAY[0]
    if not smem.exists():
        shutil.copyfile(SAMPLES / "ram" / "smem.bin", smem)
        shutil.copyfile(SAMPLES / "ram" / SMEM_ARRAY[0], array)
    return smem, array


def _smem_seeds() -> list[bytes]:
    smem = (SAMPLES / "ram" / "smem.bin").read_bytes()
    array = (SAMPLES / "ram" / SMEM_ARRAY[0]).read_bytes()
    seed = b"".join(smem[a:b] for a, b in SMEM_WINDOWS)
    return [seed + array[SMEM_ARRAY[1]:SMEM_ARRAY[1] + SMEM_ARRAY[2]]]


def _memory_specs(smem: Path, array: Path) -> list[str]:
    specs = []
    for line in (SAMPLES / "ram" / "MEMORY.txt").read_text().split():
        name, _, addr = line.partition("@")
        path = {"smem.bin": smem, SMEM_ARRAY[0]: array}.get(name, SAMPLES / "ram" / name)
        specs.append(f"{path}@{addr}")
    return specs


def run_smem(data: bytes) -> None:
    """SMEM heap in RAM images: ``data`` overwrites the header, item list, partition table
    and the APSS region array; the scan finds item 602, its regions are read and planned."""
    smem, array = _smem_files()
    data = data.ljust(sum(b - a for a, b in SMEM_WINDOWS) + SMEM_ARRAY[2], b"\0")
    with open(smem, "r+b") as fh:
        pos = 0
        for a, b in SMEM_WINDOWS:
            fh.seek(a)
            fh.write(data[pos:pos + b - a])
            pos += b - a
    with open(array, "r+b") as fh:
        fh.seek(SMEM_ARRAY[1])
        fh.write(data[pos:pos + SMEM_ARRAY[2]])
    capture = _open(smem, memory=_memory_specs(smem, array))
    if not isinstance(capture, MinidumpError):
        with capture:
            _plan(capture)


def _item602_seeds() -> list[bytes]:
    return [(SAMPLES / "item602.bin").read_bytes()]


def run_item602(data: bytes) -> None:
    """A bare item-602 blob plus the sample's RAM images (``--format smem-blob``)."""
    from minidump.sources.smem import sniff_blob
    path = work() / "item602.bin"
    path.write_bytes(data)
    _checked(lambda: sniff_blob(str(path)))
    memory = [str(SAMPLES / "ram" / line) for line in
              (SAMPLES / "ram" / "MEMORY.txt").read_text().split()]
    capture = _open(path, memory=memory, format="smem-blob")
    if not isinstance(capture, MinidumpError):
        with capture:
            _plan(capture)


# -- vmlinux .inspect_table ---------------------------------------------------------------

def _inspect_seeds() -> list[bytes]:
    from minidump.formats.meminspect import inspect_entry
    entry = inspect_entry(True, 64)
    base = 0xFFFFFFFF81000000
    return [b"".join(entry.build(dict(id=uid, va=base + off, pa=0, size=8, type=0))
                     for uid, off in ((10, 0x100), (11, 0x200), (26, 0x300), (10, 0x104)))]


def run_inspect_table(data: bytes) -> None:
    """``.inspect_table`` section bytes in a synthetic vmlinux (ELF64 and ELF32, by byte 0)."""
    import io

    from builders.vmlinux import Sec, Sym, VmlinuxSpec, make_vmlinux

    from minidump.formats.elf import EM
    from minidump.meminspect.static import effective, read_static
    from minidump.elf.vmlinux import Vmlinux
    bits = 32 if data[:1] and data[0] & 1 else 64
    base = 0xFFFFFFFF81000000 if bits == 64 else 0xC0008000
    spec = VmlinuxSpec(bits, True, EM.X86_64 if bits == 64 else EM.ARM,
                       [Sec(".data", base, bytes(0x1000)),
                        Sec(".inspect_table", base + 0x10000, data)],
                       [Sym(n, base + o, 8) for n, o in (("jiffies_64", 0x100),
                                                         ("linux_banner", 0x200),
                                                         ("clear_seq", 0x300))])
    image = make_vmlinux(spec)

    def go():
        vm = Vmlinux(io.BytesIO(image), "vmlinux")
        entries, _ = read_static(vm)
        effective(entries)
    _checked(go)


# -- runtime inspect_entries[] and memblock (full captures) --------------------------------

class _Sym:
    def __init__(self, value: int, size: int) -> None:
        self.value, self.size, self.shndx = value, size, 0


class _Symbols:
    def __init__(self, table: dict[str, _Sym]) -> None:
        self.table = table

    def get(self, name: str):
        return self.table.get(name)

    def with_prefix(self, prefix: str):
        return iter(())

    def __contains__(self, name: str) -> bool:
        return name in self.table


class _Vmlinux:
    """The part of :class:`minidump.elf.vmlinux.Vmlinux` the runtime/memblock readers use."""

    bits, little_endian, path = 64, True, "vmlinux"

    def __init__(self, symbols: dict[str, _Sym]) -> None:
        self.symbols = _Symbols(symbols)

    def section(self, name: str):
        return None

    def symbolize(self, vaddr: int):
        return None


#: arm64 layout of the full-capture targets: RAM at PA 0x80000000, 1 MiB image
FULL_PA, FULL_SIZE = 0x80000000, 1 << 20
FULL_KIMAGE_VOFFSET = 0xFFFF800000000000 - FULL_PA
FULL_INFO = ("OSRELEASE=6.18.0\nPAGESIZE=4096\nNUMBER(VA_BITS)=48\nNUMBER(TCR_EL1_T1SZ)=16\n"
             f"NUMBER(kimage_voffset)={FULL_KIMAGE_VOFFSET:#x}\nNUMBER(PHYS_OFFSET)={FULL_PA:#x}\n"
             "SYMBOL(_stext)=ffff800000010000\nKERNELOFFSET=0\n").encode()
LINEAR = 0xFFFF000000000000  # arm64 48-bit linear map start (PA FULL_PA)


def _full_capture(data: bytes, at: int):
    """A 1 MiB arm64 RAM image holding ``data`` at ``at``, with its VMCOREINFO: the kernel view."""
    from minidump.formats.elf import EM
    from minidump.kernel.memory import Extent, KernelMemory, PhysicalMemory
    from minidump.kernel.translate import Translator
    from minidump.kernel.vmcoreinfo import VmcoreInfo
    from minidump.model import Arch
    path = work() / "ram-full.bin"
    with open(path, "wb") as fh:
        fh.truncate(FULL_SIZE)
        fh.seek(at)
        fh.write(data[:FULL_SIZE - at])
    memory = PhysicalMemory([Extent(FULL_PA, FULL_SIZE, str(path), 0)], name=str(path))
    info = VmcoreInfo(FULL_INFO, path="vmcoreinfo")
    return memory, KernelMemory(memory, Arch(EM.AARCH64), Translator("arm64", info))


def _runtime_seeds() -> list[bytes]:
    from minidump.formats.meminspect import inspect_entry
    entry = inspect_entry(True, 64)
    table = bytearray(201 * 40)
    for uid, pa, size in ((2, FULL_PA + 0x8000, 0x100), (10, FULL_PA + 0x200, 8),
                          (44, FULL_PA + 0x9000, 0x100)):
        table[uid * 40:uid * 40 + 40] = entry.build(dict(
            id=uid, va=pa - FULL_PA + LINEAR, pa=pa, size=size, type=0))
    return [bytes(table)]


def run_runtime(data: bytes) -> None:
    """``inspect_entries[201]`` at link address PA+0x1000 of a 1 MiB arm64 RAM image."""
    from minidump.meminspect.static import builtin_names
    from minidump.meminspect.entries import read_inspect_entries
    memory, kernel = _full_capture(data, 0x1000)
    vm = _Vmlinux({"inspect_entries": _Sym(FULL_PA + 0x1000 + FULL_KIMAGE_VOFFSET, 201 * 40)})
    with memory:
        _checked(lambda: read_inspect_entries(vm, kernel, builtin_names("v3")))


def _memblock_seeds() -> list[bytes]:
    from minidump.formats.memblock import memblock_structs
    structs = memblock_structs(True, 64)
    region = structs.memblock_region
    top = structs.memblock.build(dict(
        bottom_up=0, current_limit=0,
        memory=dict(cnt=2, max=4, total_size=0, regions=LINEAR + 0x2100, name=0),
        reserved=dict(cnt=1, max=4, total_size=0, regions=LINEAR + 0x2200, name=0)))
    regions = (region.build(dict(base=FULL_PA, size=0x8000, flags=0, nid=0)) +
               region.build(dict(base=FULL_PA + 0x9000, size=0x100, flags=0x80, nid=0)))
    reserved = region.build(dict(base=FULL_PA + 0xA000, size=0x1000, flags=0, nid=0))
    debugfs = (b"   0: 0x0000000080000000..0x0000000080007fff    0 NONE\n"
               b"   1: 0x0000000080009000..0x00000000800090ff    x NOMAP|INSPECT|UNKNOWN\n")
    return [top.ljust(0x100, b"\0") + regions.ljust(0x100, b"\0") + reserved, debugfs]


def run_memblock(data: bytes) -> None:
    """``struct memblock`` and its arrays at PA+0x2000; also the same bytes as debugfs text."""
    from minidump.meminspect.memblock import parse_debugfs, read_memblock
    memory, kernel = _full_capture(data, 0x2000)
    vm = _Vmlinux({"memblock": _Sym(FULL_PA + 0x2000 + FULL_KIMAGE_VOFFSET, 96)})
    with memory:
        _checked(lambda: read_memblock(vm, kernel))
    _checked(lambda: parse_debugfs(data.decode("latin-1"), path="memblock/reserved"))


# -- VMCOREINFO text ----------------------------------------------------------------------

def _vmcoreinfo_seeds() -> list[bytes]:
    seeds = [FULL_INFO]
    sample = SAMPLES / "md" / "md_Kvmcorein2.BIN"
    if sample.exists():
        seeds.append(sample.read_bytes().rstrip(b"\0"))
    return seeds


def run_vmcoreinfo(data: bytes) -> None:
    """Parse, decode every line, list problems, and translate with every arch's rules."""
    from minidump.kernel.translate import Translator
    from minidump.kernel.vmcoreinfo import VmcoreInfo
    info = _checked(lambda: VmcoreInfo(data, path="VMCOREINFO"))
    if isinstance(info, MinidumpError):
        return
    info.items(), info.problems(), info.guess_arch()
    for arch in ("arm64", "x86_64", "riscv64", "arm"):
        t = Translator(arch, info)

        def rules():
            t.layout()
            for addr in (0, FULL_PA, 0xFFFF000000001000, 0xFFFFFFFF81000000, (1 << 64) - 1):
                t.image_va(addr), t.linear_va(addr), t.pa(addr)
        _checked(rules)


# -- printk ring --------------------------------------------------------------------------

def _printk_seeds() -> list[bytes]:
    from builders.printk import LocklessRing
    ring = LocklessRing(count_bits=3, size_bits=8)
    for i in range(10):
        ring.add(f"message {i}".encode(), i * 1_000_000)
    chunks, keys = ring.memory(PRINTK_BASE)
    return [(PRINTK_HEAD + keys).encode() + b"\0" + _flat(chunks)]


def _flat(chunks: dict[int, bytes]) -> bytes:
    end = max(a + len(d) for a, d in chunks.items())
    out = bytearray(end - PRINTK_BASE)
    for at, chunk in chunks.items():
        out[at - PRINTK_BASE:at - PRINTK_BASE + len(chunk)] = chunk
    return bytes(out)


class _FlatMemory:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read_virt(self, vaddr: int, size: int, what: str = "") -> bytes:
        from minidump.errors import FaultError
        at = vaddr - PRINTK_BASE
        if size < 0 or at < 0 or at + size > len(self.data):
            raise FaultError(f"virtual address {vaddr:#x} is not in the capture",
                             address=vaddr, what=what)
        return self.data[at:at + size]


def run_printk(data: bytes) -> None:
    """VMCOREINFO keys, NUL, then kernel memory at 0xffff800081000000: the three log walks."""
    from minidump.kernel.printk import read_log
    from minidump.kernel.vmcoreinfo import VmcoreInfo
    keys, _, memory = data.partition(b"\0")
    info = _checked(lambda: VmcoreInfo(keys, path="VMCOREINFO"))
    if isinstance(info, MinidumpError):
        return
    mem = _FlatMemory(memory)
    for partial in (False, True):
        _checked(lambda: read_log(mem, info, partial=partial).text(caller=True))


# -- untrusted side files: --regions and --vmlinux ------------------------------------------

def _regions_seeds() -> list[bytes]:
    from minidump.meminspect.regionsfile import shipped
    shipped_text = Path(shipped("v3-default")).read_bytes()
    return [shipped_text, b"jiffies_64\nlinux_banner 0x40  # x\nphys 0x80000000 0x1000\n"
            b"total_nr_irqs?\njiffies_64\n"]


def run_regions(data: bytes) -> None:
    """A ``--regions`` file: bounded, decoded as UTF-8 with the line named, parsed."""
    from minidump.meminspect.regionsfile import load_regions
    path = work() / "fuzz.regions"
    path.write_bytes(data)
    warnings: list[str] = []
    result = _checked(lambda: load_regions(str(path), warnings))
    if not isinstance(result, MinidumpError) and len(warnings) > 1:
        raise Finding(f"{len(warnings)} warnings for one file: {warnings[:2]}")


def _vmlinux_seeds() -> list[bytes]:
    import json
    from builders.vmlinux import Sec, Sym, VmlinuxSpec, make_vmlinux, sample_vmlinux
    seeds = [make_vmlinux(VmlinuxSpec(sections=[Sec(".data", 0x1000, bytes(32))],
                                      symbols=[Sym("linux_banner", 0x1000, 8),
                                               Sym("jiffies_64", 0x1008, 8)]))]
    expected = SAMPLES / "expected.json"
    if expected.exists():
        seeds.append(sample_vmlinux(json.loads(expected.read_text())))
    return seeds


def run_vmlinux(data: bytes) -> None:
    """A ``--vmlinux``: headers, the kernel check (symbols bounded), lookups, build-id."""
    from minidump.elf.vmlinux import Vmlinux
    path = work() / "fuzz.vmlinux"
    path.write_bytes(data)
    image = _checked(lambda: Vmlinux.open(str(path)))
    if isinstance(image, MinidumpError):
        return
    with image:
        if isinstance(_checked(image.check_kernel), MinidumpError):
            return
        _checked(lambda: image.build_id)
        for name in ("linux_banner", "jiffies_64", "_text", "nothing"):
            _checked(lambda: image.symbol(name))
        _checked(lambda: image.symbolize(0x1004))


TARGETS = {t.name: t for t in (
    Target("elf", "ELF vmcore input (minidump.open, plan, VMCOREINFO, dmesg)", _elf_seeds, run_elf),
    Target("mddir", "md_*.BIN directory: the KELF header blob", _md_seeds, run_mddir),
    Target("rawdump", "Raw_Dmp! image", _rawdump_seeds, run_rawdump),
    Target("smem", "SMEM heap and item 602 in RAM images", _smem_seeds, run_smem),
    Target("item602", "bare item-602 blob (--format smem-blob)", _item602_seeds, run_item602),
    Target("sahara", "Sahara memory-debug table", _sahara_seeds, run_sahara),
    Target("inspect_table", "vmlinux .inspect_table section", _inspect_seeds, run_inspect_table),
    Target("runtime", "runtime inspect_entries[] in a RAM image", _runtime_seeds, run_runtime),
    Target("memblock", "struct memblock + arrays in a RAM image; debugfs text", _memblock_seeds,
           run_memblock),
    Target("vmcoreinfo", "VMCOREINFO text and address translation", _vmcoreinfo_seeds,
           run_vmcoreinfo),
    Target("printk", "printk ring walks over VMCOREINFO + memory", _printk_seeds, run_printk),
    Target("regions", "--regions file text (size, encoding, lines)", _regions_seeds,
           run_regions),
    Target("vmlinux", "--vmlinux ELF: headers, kernel check, bounded symbol table", _vmlinux_seeds,
           run_vmlinux),
)}

def run(name: str, data: bytes) -> list[str]:
    """Run one input through a target; raises on a finding (for tests and --replay).

    Returns the one-line errors the readers gave on the way (scratch paths made relative).
    """
    _OUTCOMES.clear()
    TARGETS[name].run(bytes(data))
    return list(_OUTCOMES)


def truncations(name: str, step: int = 1) -> int:
    """Every truncation of every seed of ``name`` (``step`` bytes apart); returns the count."""
    n = 0
    for seed in TARGETS[name].seeds():
        for cut in range(0, len(seed) + 1, step):
            run(name, seed[:cut])
            n += 1
    return n
