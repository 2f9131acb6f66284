"""A synthetic x86_64 machine: a vmlinux (meminspect tables, memblock) and its RAM image.

``make_machine`` writes the raw image of physical memory with the kernel image
placed (with or without KASLR), VMCOREINFO in ``vmcoreinfo_data``, memblock
arrays and dynamic regions; ``make_elf_core`` cuts ELF vmcores from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from builders.vmlinux import LINK_TEXT, STB_LOCAL, Sec, Sym, VmlinuxSpec, make_vmlinux
from minidump.capture import Capture
from minidump.formats.meminspect import inspect_entry
from minidump.formats.memblock import memblock_structs
from minidump.kernel.vmcoreinfo import VmcoreInfo
from minidump.model import Arch, Payload, Region
from minidump.vmcore.write import write_vmcore

START_KERNEL_MAP = 0xFFFFFFFF80000000
PAGE_OFFSET = 0xFFFF9B0000000000      # a randomized direct map (RANDOMIZE_MEMORY)
RAM_SIZE = 0x8000000
VMCOREINFO_PA, RESERVED_PA, DYNAMIC_PA, INSPECT_SIZE = 0x7000000, 0x7100000, 0x7200000, 0x1000
JIFFIES = 0x1122334455667788
BANNER = b"Linux version 6.1.0-test (synthetic) #1 SMP\n\0".ljust(0x40, b"\0")
OFF = {"linux_banner": 0x100, "jiffies_64": 0x200, "page_offset_base": 0x208,
       "vmalloc_base": 0x210, "vmemmap_base": 0x218, "vmcoreinfo_data": 0x220,
       "vmcoreinfo_size": 0x228, "kexec_crash_image": 0x230, "memblock": 0x300,
       "memblock_memory_init_regions": 0x400, "inspect_entries": 0x800}
SIZE = {"linux_banner": 0x40, "memblock": 96, "memblock_memory_init_regions": 24 * 4,
        "inspect_entries": 201 * 40}


@dataclass
class Machine:
    vmlinux: str
    ram: str             # raw image of physical [0, RAM_SIZE)
    kerneloffset: int
    text_pa: int
    vmcoreinfo: bytes

    def va(self, name: str) -> int:
        return LINK_TEXT + OFF[name] + self.kerneloffset

    def pa(self, name: str) -> int:
        return self.text_pa + OFF[name]

    def ram_bytes(self, paddr: int, size: int) -> bytes:
        with open(self.ram, "rb") as fh:
            fh.seek(paddr)
            return fh.read(size)


def u64(value: int) -> bytes:
    return value.to_bytes(8, "little")


def make_machine(tmp_path, *, kaslr: bool) -> Machine:
    """vmlinux + a sparse 128 MiB RAM image of a booted (synthetic) meminspect kernel."""
    kerneloffset, text_pa = (0x2E00000, 0x6000000) if kaslr else (0, 0x1000000)
    phys_base = text_pa - (LINK_TEXT - START_KERNEL_MAP) - kerneloffset
    machine = Machine(str(tmp_path / "vmlinux"), str(tmp_path / "ram.bin"), kerneloffset,
                      text_pa, b"")
    info = (f"OSRELEASE=6.1.0-test\nPAGESIZE=4096\nSYMBOL(swapper_pg_dir)="
            f"{LINK_TEXT + 0x3000 + kerneloffset:x}\nNUMBER(phys_base)={phys_base}\n"
            f"KERNELOFFSET={kerneloffset:x}\n").encode()
    machine.vmcoreinfo = info

    link = bytearray(0x4000)                   # .data as linked: only the banner is set
    link[OFF["linux_banner"]:OFF["linux_banner"] + 0x40] = BANNER
    image = bytearray(link)                    # .data at runtime
    image[0x200:0x208] = u64(JIFFIES)
    for name, value in (("page_offset_base", PAGE_OFFSET), ("vmalloc_base", PAGE_OFFSET + (1 << 45)),
                        ("vmemmap_base", PAGE_OFFSET + (1 << 46)),
                        ("vmcoreinfo_data", PAGE_OFFSET + VMCOREINFO_PA),
                        ("vmcoreinfo_size", len(info))):
        image[OFF[name]:OFF[name] + 8] = u64(value)
    structs = memblock_structs(True, 64)
    mtype = lambda cnt, regions, name: dict(cnt=cnt, max=4, total_size=0, regions=regions,  # noqa: E731
                                            name=name)
    image[0x300:0x300 + 96] = structs.memblock.build(dict(
        bottom_up=0, current_limit=0, memory=mtype(2, machine.va("memblock_memory_init_regions"), 0),
        reserved=mtype(1, PAGE_OFFSET + RESERVED_PA, 0)))
    region = structs.memblock_region
    image[0x400:0x400 + 48] = region.build(dict(base=0, size=VMCOREINFO_PA, flags=0, nid=0)) + \
        region.build(dict(base=DYNAMIC_PA, size=INSPECT_SIZE, flags=0x80 | 0x100, nid=0))
    entry = inspect_entry(True, 64)
    slots = {2: (PAGE_OFFSET + VMCOREINFO_PA, VMCOREINFO_PA, len(info)),
             10: (machine.va("jiffies_64"), machine.pa("jiffies_64"), 8),
             11: (machine.va("linux_banner"), machine.pa("linux_banner"), 0x40),
             44: (PAGE_OFFSET + DYNAMIC_PA, DYNAMIC_PA, 0x100)}
    for uid, (va, pa, size) in slots.items():
        at = OFF["inspect_entries"] + uid * 40
        image[at:at + 40] = entry.build(dict(id=uid, va=va, pa=pa, size=size, type=0))

    table = b"".join(entry.build(dict(id=uid, va=LINK_TEXT + OFF[name], pa=0, size=size, type=0))
                     for uid, name, size in ((10, "jiffies_64", 8), (11, "linux_banner", 0x40)))
    symbols = [Sym("_text", LINK_TEXT, 0, 0)] + [
        Sym(name, LINK_TEXT + off, SIZE.get(name, 8),
            bind=STB_LOCAL if name in ("inspect_entries", "memblock_memory_init_regions") else 1)
        for name, off in OFF.items()]
    with open(machine.vmlinux, "wb") as fh:
        fh.write(make_vmlinux(VmlinuxSpec(sections=[
            Sec(".data", LINK_TEXT, bytes(link)),
            Sec(".inspect_table", LINK_TEXT + 0x8000, table)], symbols=symbols)))
    with open(machine.ram, "wb") as fh:
        fh.truncate(RAM_SIZE)                  # sparse: only what is written below takes space
        for paddr, data in ((text_pa, image), (VMCOREINFO_PA, info),
                            (RESERVED_PA, region.build(dict(base=RESERVED_PA, size=0x1000,
                                                            flags=0, nid=0))),
                            (DYNAMIC_PA, bytes(range(256)) * 16)):
            fh.seek(paddr)
            fh.write(data)
    return machine


def make_elf_core(machine: Machine, path: str, ranges: list[tuple[int, int]]) -> str:
    """An ELF vmcore holding the given physical ranges of the RAM image, with the note."""
    regions = [Region(None, f"ram{i}", paddr=paddr, size=size, source="ram",
                      payload=Payload(machine.ram, paddr, size))
               for i, (paddr, size) in enumerate(ranges)]
    capture = Capture(machine.ram, "test", regions=regions, elf_arch=Arch(62),
                      vmcoreinfo=VmcoreInfo(machine.vmcoreinfo), vmcoreinfo_source="test")
    with open(path, "wb") as fh:
        write_vmcore(capture.plan(), fh)
    return path


def loads(path: str) -> list[tuple[int, int, int, int]]:
    """(p_paddr, p_vaddr, p_filesz, p_offset) of each PT_LOAD, read by pyelftools."""
    from elftools.elf.elffile import ELFFile
    with open(path, "rb") as fh:
        return [(seg["p_paddr"], seg["p_vaddr"], seg["p_filesz"], seg["p_offset"])
                for seg in ELFFile(fh).iter_segments() if seg["p_type"] == "PT_LOAD"]


def check_bytes(machine: Machine, out: str) -> None:
    """Every PT_LOAD of ``out`` holds the RAM bytes at its p_paddr."""
    with open(out, "rb") as fh:
        for paddr, _, size, offset in loads(out):
            fh.seek(offset)
            assert fh.read(size) == machine.ram_bytes(paddr, size), hex(paddr)
