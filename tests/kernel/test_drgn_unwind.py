"""The riscv64 frame-pointer walk (minidump.stack_trace), on synthetic stacks.

A stack is built as the kernel lays it out with CONFIG_FRAME_POINTER: each frame's s0
points just past its record, the caller's fp at fp-16 and the return address at fp-8.
The walk is judged by the chain the test built; through drgn, by a riscv64 Program whose
memory and symbols the test gives (drgn 0.3.0 itself unwinds no riscv64).
"""

from __future__ import annotations

import pytest

from minidump.elf.notes import NoteEntry
from minidump.kernel.drgn_unwind import (CACHE_KEY, MAX_FRAMES, frame_pcs, riscv64_registers,
                                         trace_from_registers)
from minidump.model import ARCHES

STACK = 0xFF20000000010000          # a vmalloc'd 16 KiB stack
TEXT = 0xFFFFFFFF80000000
#: (name, address, size) of the synthetic kernel text
FUNCTIONS = [("leaf", TEXT + 0x100, 0x40), ("middle", TEXT + 0x200, 0x80),
             ("outer", TEXT + 0x300, 0x60), ("entry", TEXT + 0x400, 0x20)]


def build_stack(records: list[tuple[int, int, int]]) -> dict[int, int]:
    """Words of a stack: ``(fp, saved fp, saved ra)`` records."""
    words = {}
    for fp, saved_fp, saved_ra in records:
        words[fp - 16], words[fp - 8] = saved_fp, saved_ra
    return words


def chain(depth: int, base: int = STACK + 0x3000, step: int = 0x40):
    """``depth`` frames, innermost at ``base``: fps, return addresses and the stack words;
    the outermost record holds fp 0 (the end of the chain)."""
    fps = [base + i * step for i in range(depth)]
    ras = [TEXT + 0x1000 + 4 * i for i in range(depth)]
    records = [(fp, fps[i + 1] if i + 1 < depth else 0, ras[i]) for i, fp in enumerate(fps)]
    return fps, ras, build_stack(records)


def reader(words: dict[int, int]):
    def read_word(address: int) -> int:
        if address not in words:
            raise LookupError(f"{address:#x} not captured")
        return words[address]
    return read_word


def test_walk_follows_the_chain_to_a_zero_fp():
    fps, ras, words = chain(5)
    pcs = frame_pcs(reader(words), TEXT + 0x10, 0x1234, fps[0] - 0x20, fps[0])
    assert pcs == [TEXT + 0x10] + ras


def test_walk_stops_at_an_unreadable_record():
    fps, ras, words = chain(5)
    del words[fps[3] - 8]
    assert frame_pcs(reader(words), TEXT, 0, fps[0] - 16, fps[0]) == [TEXT] + ras[:3]


def test_walk_stops_at_a_non_increasing_or_misaligned_fp():
    fps, ras, words = chain(5)
    words[fps[2] - 16] = fps[1]                 # a loop back down the stack
    assert frame_pcs(reader(words), TEXT, 0, fps[0] - 16, fps[0]) == [TEXT] + ras[:3]
    fps, ras, words = chain(5)
    words[fps[2] - 16] = fps[3] + 4             # not a frame pointer
    assert frame_pcs(reader(words), TEXT, 0, fps[0] - 16, fps[0]) == [TEXT] + ras[:3]
    # the user's fp after handle_exception: below the kernel stack, the walk ends there
    fps, ras, words = chain(3)
    words[fps[2] - 16] = 0x3FFFFFF000
    assert frame_pcs(reader(words), TEXT, 0, fps[0] - 16, fps[0]) == [TEXT] + ras


def test_walk_stops_at_a_zero_pc_and_a_zero_fp():
    fps, ras, words = chain(4)
    words[fps[1] - 8] = 0
    assert frame_pcs(reader(words), TEXT, 0, fps[0] - 16, fps[0]) == [TEXT] + ras[:1]
    assert frame_pcs(reader(words), TEXT, 0, 0, 0) == [TEXT]


def test_walk_is_bounded():
    fps, ras, words = chain(MAX_FRAMES + 50, step=0x20)
    pcs = frame_pcs(reader(words), TEXT, 0, fps[0] - 16, fps[0])
    assert len(pcs) == MAX_FRAMES and pcs[1:] == ras[:MAX_FRAMES - 1]
    assert frame_pcs(reader(words), TEXT, 0, fps[0] - 16, fps[0], limit=3) == [TEXT] + ras[:2]


def test_a_leaf_that_saved_no_ra_continues_from_the_ra_register():
    """A leaf saves only the caller's fp, at fp-8: the return address is still in ra."""
    fps, ras, words = chain(3)
    leaf_fp = fps[0] - 0x10
    words[leaf_fp - 8] = fps[0]                 # the caller's fp, where ra would be
    words[leaf_fp - 16] = 0xDEAD                # whatever the caller's frame holds there
    pcs = frame_pcs(reader(words), TEXT + 0x104, TEXT + 0x210, leaf_fp - 16, leaf_fp)
    assert pcs == [TEXT + 0x104, TEXT + 0x210] + ras


# -- through drgn -------------------------------------------------------------------------

drgn = pytest.importorskip("drgn", reason="drgn comes with the test extra (kminidump[drgn])")

PHYS = 0x80000000                   # RAM: page tables, then the stack's pages
PAGE = 4096


def sv39_tables(mapping: dict[int, int]) -> tuple[int, bytearray]:
    """Sv39 tables in RAM at ``PHYS`` mapping virtual pages to physical ones: (root, RAM)."""
    ram = bytearray(PAGE)              # the root
    tables = {(): PHYS}

    def entry(table: int, index: int, value: int) -> None:
        at = table - PHYS + 8 * index
        ram[at:at + 8] = value.to_bytes(8, "little")

    for vaddr, paddr in mapping.items():
        path = ()
        for level in range(3):
            index = (vaddr >> (12 + 9 * (2 - level))) & 0x1FF
            if level == 2:
                entry(tables[path], index, (paddr >> 12) << 10 | 0x7)   # V R W: a leaf
                break
            child = path + (index,)
            if child not in tables:
                tables[child] = PHYS + len(ram)
                ram += bytes(PAGE)
                entry(tables[path], index, (tables[child] >> 12) << 10 | 0x1)  # V: a table
            path = child
    return PHYS, ram


@pytest.fixture()
def riscv64_prog():
    """A riscv64 Program: a 16 KiB stack only reachable through Sv39 page tables in its
    physical memory, the functions of FUNCTIONS as symbols, and the stack's frames."""
    fps = [STACK + 0x3000, STACK + 0x3040, STACK + 0x3100]
    # frame #0 in leaf; its caller middle, called from outer, called from entry; outer
    # called middle as its last (noreturn) instruction: the return address is outer's end
    ras = [FUNCTIONS[1][1] + 0x10, FUNCTIONS[2][1] + FUNCTIONS[2][2], FUNCTIONS[3][1] + 8]
    words = build_stack([(fps[0], fps[1], ras[0]), (fps[1], fps[2], ras[1]),
                         (fps[2], 0, ras[2])])
    stack_pa = PHYS + 0x100000
    root, ram = sv39_tables({STACK + i * PAGE: stack_pa + i * PAGE for i in range(4)})
    stack = bytearray(4 * PAGE)
    for address, value in words.items():
        stack[address - STACK:address - STACK + 8] = value.to_bytes(8, "little")
    memory = {PHYS: bytes(ram), stack_pa: bytes(stack)}

    prog = drgn.Program(drgn.Platform(drgn.Architecture.RISCV64,
                                      drgn.PlatformFlags.IS_64_BIT
                                      | drgn.PlatformFlags.IS_LITTLE_ENDIAN))
    for base, data in memory.items():
        prog.add_memory_segment(base, len(data),
                                lambda address, count, offset, physical, data=data:
                                data[offset:offset + count], True)
    prog.register_symbol_finder("test", drgn.SymbolIndex(
        [drgn.Symbol(name, address, size, drgn.SymbolBinding.GLOBAL, drgn.SymbolKind.FUNC)
         for name, address, size in FUNCTIONS]), enable_index=0)
    prog.cache[CACHE_KEY] = {"root": root, "levels": 3}
    return prog, fps, ras


def test_trace_through_drgn_reads_a_vmalloc_stack_through_the_page_tables(riscv64_prog):
    prog, fps, ras = riscv64_prog
    with pytest.raises(drgn.FaultError):       # drgn walks no riscv64 tables itself
        prog.read(fps[0] - 8, 8)
    pc = FUNCTIONS[0][1] + 0x24
    trace = trace_from_registers(prog, pc, 0, fps[0] - 0x20, fps[0])
    assert [frame.pc for frame in trace] == [pc] + ras
    # a return address is named by its call: outer's noreturn call ends the function
    assert [frame.name for frame in trace] == ["leaf", "middle", "outer", "entry"]
    assert str(trace).splitlines() == ["#0  leaf+0x24/0x40", "#1  middle+0x10/0x80",
                                       "#2  outer+0x60/0x60", "#3  entry+0x8/0x20"]


def test_without_page_tables_the_walk_ends_at_the_first_unreadable_record(riscv64_prog):
    prog, fps, _ = riscv64_prog
    prog.cache[CACHE_KEY] = {"root": None, "levels": None}
    pc = FUNCTIONS[0][1]
    assert [f.pc for f in trace_from_registers(prog, pc, 0, fps[0] - 16, fps[0])] == [pc]


def test_stack_trace_starts_from_the_crashed_cpus_prstatus(riscv64_prog):
    """minidump.stack_trace(prog): the registers of the NT_PRSTATUS of the CPU in
    panic_cpu (here uncaptured: the only note with registers), as Capture.drgn leaves them."""
    import minidump
    prog, fps, ras = riscv64_prog
    pc = FUNCTIONS[0][1] + 4
    regs = [0] * 32
    regs[0], regs[1], regs[2], regs[8] = pc, 0, fps[0] - 0x20, fps[0]
    desc = bytes(112) + b"".join(r.to_bytes(8, "little") for r in regs) + bytes(8)
    notes = [NoteEntry(i, 0, b"CORE", 1, 0, len(desc), d)
             for i, d in enumerate((bytes(len(desc)), desc))]      # CPU 0 saved nothing
    registers = riscv64_registers(notes, ARCHES["riscv64"])
    assert registers == [None, (pc, 0, fps[0] - 0x20, fps[0])]
    prog.cache[CACHE_KEY]["cpus"] = registers
    trace = minidump.stack_trace(prog)
    assert [frame.pc for frame in trace] == [pc] + ras
    assert trace[0].name == "leaf" and trace[-1].name == "entry"
