"""A meminspect v3 capture simulated from a real kernel's full dump (opt-in real-kernel tests).

What a v3 kernel would register, read from the dump with the vmlinux's symbols
(meminspect.md sections 4.1-4.2): ID 2 the ``vmcoreinfo_data`` page, the static
IDs 4-43 at their runtime addresses, then the dynamic IDs from 44 in boot
order: the ``mem_section`` root, each node's ``pglist_data`` (``node_data[]``),
printk's dynamic buffers when ``prb`` is ``printk_rb_dynamic``, and each
possible CPU's ``runqueues``.  The firmware side is a Qualcomm md directory: a
meminspect ``md_KELF1.BIN`` (ELF header: PT_NOTE with the VMCOREINFO note
header, one PT_LOAD per region >= 3 with its runtime VA, section 6), one
``md_K*.BIN`` blob per region (ALIGN(size, 4) bytes) and a raw Sahara table.

``simulate`` returns ``{id: object}``: what each region holds, as C names it.
"""

from __future__ import annotations

from pathlib import Path

from builders.qcom import sahara_row
from minidump.formats.elf import ET, PF, PT, elf_structs
from minidump.meminspect.naming import ID_OBJECTS
from minidump.meminspect.static import ID_TABLES, MEMINSPECT_ID_DYNAMIC

#: the 8-byte AREA registrations: they publish an address, not an object's bytes
AREA = {29, 30, 31, 32, 33, 34, 36, 37, 38, 39, 40, 41, 42}


def _align4(n: int) -> int:
    return (n + 3) & ~3


def simulate(full: Path, vmlinux: Path, out: Path) -> dict[int, str]:
    import minidump
    from minidump.elf.vmlinux import Vmlinux

    out.mkdir(parents=True, exist_ok=True)
    with minidump.open(full, vmlinux=vmlinux) as cap, Vmlinux.open(str(vmlinux)) as image:
        info, kernel = cap.vmcoreinfo, cap.kernel
        offset = info.kerneloffset or 0
        word = image.bits // 8

        def at(name: str) -> int | None:
            found = image.symbols.get(name)
            return None if found is None else found.value + offset

        def read_word(vaddr: int) -> int:
            return kernel.word(vaddr)

        rows: list[tuple[int, str, int, int]] = []     # (id, object, vaddr, size)
        vmcoreinfo_va = read_word(at("vmcoreinfo_data"))
        rows.append((2, "vmcoreinfo_data", vmcoreinfo_va, len(info.raw)))
        config, config_end = at("kernel_config_data"), at("kernel_config_data_end")
        if config is not None and config_end is not None:     # IKCFG_ST .. IKCFG_ED
            rows.append((3, "kernel_config_data - 8", config - 8, config_end - config + 16))
        for ident, name in enumerate(ID_TABLES["v3"]):
            if not 4 <= ident < MEMINSPECT_ID_DYNAMIC:
                continue
            symbol = ID_OBJECTS.get(name, name)
            found = image.symbols.get(symbol)
            if found is None:
                continue        # e.g. total_nr_irqs before the series, tk_data in 6.1
            size = 8 if ident in AREA else (found.size or word)
            rows.append((ident, symbol, found.value + offset, size))

        dynamic: list[tuple[str, int, int]] = []
        root_holder = at("mem_section")
        roots = info.length("mem_section")
        if root_holder is not None and roots:
            dynamic.append(("mem_section[] root", read_word(root_holder), roots * word))
        nodes = at("node_data")
        if nodes is not None and info.size("pglist_data"):
            count = image.symbols.get("node_data").size // word
            for nid in range(count):
                pointer = read_word(nodes + nid * word)
                if pointer:
                    dynamic.append((f"node_data[{nid}]", pointer, info.size("pglist_data")))
        dynamic += _printk_dynamic(info, kernel, at, read_word)
        dynamic += _runqueues(image, kernel, at, read_word, offset)

        regions = [(ident, obj, va, kernel.pa(va), size) for ident, obj, va, size in rows]
        for ident, (obj, va, size) in enumerate(dynamic, MEMINSPECT_ID_DYNAMIC):
            regions.append((ident, obj, va, kernel.pa(va), size))
        blobs = {ident: cap.read(pa, size) + bytes(_align4(size) - size)
                 for ident, _, _, pa, size in regions}
        arch = cap.elf_arch

    kelf = _kelf(arch, regions, len(blobs[2]))
    table = []
    for ident, obj, va, pa, size in [(1, "", 0, 0x10000000, len(kelf))] + regions:
        name = _firmware_name(ident)
        file = f"md_{name}{ident}.BIN"[:19]
        (out / file).write_bytes(kelf if ident == 1 else blobs[ident])
        table.append(sahara_row(f"md_{name}{ident}".encode(), pa, _align4(size) if ident != 1
                                else len(kelf), file.encode()))
    (out / "sahara_table.bin").write_bytes(b"".join(table))
    names = {ident: obj for ident, obj, *_ in regions}
    names[1] = "meminspect ELF header"
    return names


def _firmware_name(ident: int) -> str:
    """drivers/soc/qcom/minidump.c: "K" + 8 characters of a v3 name; IDs >= 30 "Kunknown"."""
    if ident >= 30:
        return "Kunknown"
    special = {1: "ELF", 2: "vmcoreinfo", 3: "config", 29: "tk_data"}
    return "K" + special.get(ident, ID_TABLES["v3"][ident])[:8]


def _printk_dynamic(info, kernel, at, read_word) -> list[tuple[str, int, int]]:
    """setup_log_buf's buffers when prb was switched to printk_rb_dynamic."""
    dyn = at("printk_rb_dynamic")
    if dyn is None or read_word(at("prb")) != dyn:
        return []
    desc = dyn + info.offset("printk_ringbuffer.desc_ring")
    text = dyn + info.offset("printk_ringbuffer.text_data_ring")
    count = 1 << kernel.word(desc + info.offset("prb_desc_ring.count_bits"), size=4)
    size = 1 << kernel.word(text + info.offset("prb_data_ring.size_bits"), size=4)
    return [
        ("printk_rb_dynamic.text_data_ring.data",
         read_word(text + info.offset("prb_data_ring.data")), size),
        ("printk_rb_dynamic.desc_ring.descs", read_word(desc + info.offset("prb_desc_ring.descs")),
         count * info.size("prb_desc")),
        ("printk_rb_dynamic.desc_ring.infos", read_word(desc + info.offset("prb_desc_ring.infos")),
         count * info.size("printk_info")),
    ]


def _runqueues(image, kernel, at, read_word, offset) -> list[tuple[str, int, int]]:
    """cpu_rq(cpu) for each possible CPU: &runqueues + __per_cpu_offset[cpu]."""
    rq = image.symbols.get("runqueues")
    start = image.symbols.get("__per_cpu_start")
    mask_at, offsets_at = at("__cpu_possible_mask"), at("__per_cpu_offset")
    if rq is None or start is None or mask_at is None or offsets_at is None:
        return []
    word = image.bits // 8
    base = rq.value if start.value == 0 else rq.value + offset   # x86_64: zero-based per-CPU
    mask = int.from_bytes(kernel.read_virt(mask_at, image.symbols.get(
        "__cpu_possible_mask").size), image.byteorder)
    out = []
    for cpu in range(mask.bit_length()):
        if mask >> cpu & 1:
            va = (base + read_word(offsets_at + cpu * word)) & ((1 << image.bits) - 1)
            out.append((f"runqueues[cpu{cpu}]", va, rq.size))
    return out


def _kelf(arch, regions, vmcoreinfo_v: int) -> bytes:
    """meminspect.md 6.2-6.5: Ehdr, phdrs (PT_NOTE, then PT_LOADs of IDs >= 3 in ID order),
    the notes with the VMCOREINFO descriptor left out (it is region 2)."""
    es = elf_structs(arch.little_endian, arch.bits)
    loads = [r for r in regions if r[0] >= 3]
    note = es.Elf_Nhdr.build(dict(n_namesz=11, n_descsz=vmcoreinfo_v, n_type=0)) + \
        b"VMCOREINFO\0\0"
    phoff = es.ehdr_size
    notes_at = phoff + (1 + len(loads)) * es.phdr_size
    header = notes_at + len(note)               # the region ends where the descriptor starts
    offset = header + vmcoreinfo_v
    phdrs = [es.Elf_Phdr.build(dict(p_type=PT.NOTE, p_flags=0, p_offset=notes_at, p_vaddr=0,
                                    p_paddr=0, p_filesz=len(note) + vmcoreinfo_v, p_memsz=0,
                                    p_align=0))]
    for _, _, va, pa, size in loads:
        phdrs.append(es.Elf_Phdr.build(dict(p_type=PT.LOAD, p_flags=PF.R | PF.W,
                                            p_offset=offset, p_vaddr=va, p_paddr=pa,
                                            p_filesz=_align4(size), p_memsz=_align4(size),
                                            p_align=0)))
        offset += _align4(size)
    ehdr = es.Elf_Ehdr.build(dict(
        e_ident=dict(EI_CLASS=2 if arch.bits == 64 else 1,
                     EI_DATA=1 if arch.little_endian else 2, EI_VERSION=1, EI_OSABI=0,
                     EI_ABIVERSION=0),
        e_type=ET.CORE, e_machine=arch.machine, e_version=1, e_entry=0, e_phoff=phoff,
        e_shoff=0, e_flags=0, e_ehsize=es.ehdr_size, e_phentsize=es.phdr_size,
        e_phnum=len(phdrs), e_shentsize=0, e_shnum=0, e_shstrndx=0))
    return ehdr + b"".join(phdrs) + note
