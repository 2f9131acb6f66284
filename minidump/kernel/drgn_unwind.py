"""The panic task's stack trace on riscv64, where drgn 0.3.0 unwinds nothing.

drgn 0.3.0 has no riscv64 unwinder: ``Thread.stack_trace()`` raises "core dump stack
unwinding is not supported for RISC-V 64 architecture", and even
``Program.stack_trace_from_pcs()`` raises "stack traces are not supported".  Kernels built
with ``CONFIG_FRAME_POINTER`` (Debian's riscv64 is) keep a chain of frame records that the
kernel's own ``walk_stackframe()`` (arch/riscv/kernel/stacktrace.c) follows, and so does
:func:`frame_pcs`:

* ``s0``/fp points just past the frame's record ``{fp, ra}``: the caller's fp is at
  ``fp - 16``, the return address at ``fp - 8``;
* in the interrupted function, a leaf that saved no ``ra`` keeps only the caller's fp, at
  ``fp - 8``; then that word is a stack address just above fp, and the return address is
  still in the ``ra`` register;
* the walk stops at a zero fp or pc, at an fp that is misaligned or not above the frame
  below it (the user's fp after ``handle_exception``, another stack), at a record the
  capture does not hold, or after :data:`MAX_FRAMES` frames.

The registers are the crashed CPU's NT_PRSTATUS ``pc``, ``ra``, ``sp`` and ``s0``.  Names
come from the Program's symbols (the vmlinux's, or the capture's kallsyms without one) and,
with debug info, the source lines from ``Program.source_location``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from minidump.kernel.prstatus import LAYOUT, NT_PRSTATUS

if TYPE_CHECKING:
    from minidump.capture import Capture

#: more frames than any kernel stack holds (16 KiB, 32 bytes a frame at least: 512)
MAX_FRAMES = 512
#: riscv64 THREAD_SIZE (arch/riscv/include/asm/thread_info.h: 16 KiB without KASAN)
THREAD_SIZE = 16 << 10
#: where Capture.drgn() leaves, in ``prog.cache``, the capture's riscv64 CPU registers and
#: its page tables' root and levels (drgn 0.3.0 walks no riscv64 tables; stacks are vmalloc'd)
CACHE_KEY = "minidump.riscv64.unwind"
EM_RISCV = 243
#: ``struct user_regs_struct`` indices (arch/riscv/include/uapi/asm/ptrace.h)
PC, RA, SP, S0 = 0, 1, 2, 8


def frame_pcs(read_word: Callable[[int], int], pc: int, ra: int, sp: int, fp: int,
              limit: int = MAX_FRAMES) -> list[int]:
    """The program counters of a riscv64 frame-pointer chain, innermost first.

    ``read_word(address)`` returns the 64-bit word there or raises (any exception: the
    record is not readable, and the walk ends there).
    """
    pcs = [pc]
    first = True
    while len(pcs) < limit and fp and not fp & 7 and fp >= sp + 16:
        try:
            saved_fp, saved_ra = read_word(fp - 16), read_word(fp - 8)
        except Exception:
            break
        if first and not saved_ra & 7 and fp + 16 <= saved_ra <= fp + THREAD_SIZE:
            caller_fp, caller_pc = saved_ra, ra     # a leaf: no ra saved, only the fp
        else:
            caller_fp, caller_pc = saved_fp, saved_ra
        first = False
        if not caller_pc:
            break
        pcs.append(caller_pc)
        sp, fp = fp, caller_fp
    return pcs


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame: ``pc`` (the return address above frame #0), the function's ``name`` or
    None, its ``symbol`` (a :class:`drgn.Symbol`) and ``source`` (``file:line`` with debug
    info, else None)."""

    pc: int
    name: str | None
    symbol: Any
    source: str | None


class StackTrace(tuple):
    """Frames innermost first; ``str()`` and ``repr()`` print them as drgn's shell prints
    its own traces."""

    def __str__(self) -> str:
        lines = []
        for number, frame in enumerate(self):
            if frame.symbol is not None:
                where = (f"{frame.name}+{frame.pc - frame.symbol.address:#x}"
                         f"/{frame.symbol.size:#x}")
            else:
                where = f"{frame.pc:#x}"
            lines.append(f"#{number:<2} {where}"
                         + (f" ({frame.source})" if frame.source else ""))
        return "\n".join(lines)

    __repr__ = __str__   # drgn's shell shows repr() of what is not drgn's

def trace_from_registers(prog, pc: int, ra: int, sp: int, fp: int,
                         limit: int = MAX_FRAMES) -> StackTrace:
    """The frame-pointer walk from these registers, named through ``prog``; words drgn
    cannot read (a vmalloc'd stack) through the page tables in ``prog.cache`` if any."""
    import drgn
    tables = prog.cache.get(CACHE_KEY, {})

    def read_word(address: int) -> int:
        try:
            return int.from_bytes(prog.read(address, 8), "little")
        except drgn.FaultError:
            if tables.get("root") is None:
                raise
        paddr = _translate(prog, tables["root"], tables["levels"], address)
        return int.from_bytes(prog.read(paddr, 8, True), "little")

    frames = []
    for number, address in enumerate(frame_pcs(read_word, pc, ra, sp, fp, limit)):
        lookup = address if number == 0 else address - 1   # a return address: the call
        try:
            symbol = prog.symbol(lookup)
        except LookupError:
            symbol = None
        try:
            location = prog.source_location(lookup)[-1]
            source = f"{location.filename}:{location.line}"
        except (LookupError, ValueError):
            source = None
        frames.append(Frame(address, None if symbol is None else symbol.name, symbol, source))
    return StackTrace(frames)


def _translate(prog, root: int, levels: int, vaddr: int) -> int:
    """``vaddr``'s physical address by the riscv64 tables at ``root``, read through drgn."""
    import drgn

    from minidump.errors import FaultError
    from minidump.kernel.pgtable import walk

    class Physical:
        def read(self, paddr: int, size: int, what: str = "") -> bytes:
            try:
                return prog.read(paddr, size, True)
            except drgn.FaultError as exc:
                raise FaultError(str(exc), address=paddr) from exc

    paddr = walk(Physical(), "riscv64", root, vaddr, levels=levels).paddr
    if paddr is None:
        raise drgn.FaultError("not mapped in the captured page tables", vaddr)
    return paddr


def remember_registers(prog, cap: "Capture") -> None:
    """Leave the riscv64 capture's CPU registers and page-table root in ``prog.cache``."""
    from minidump.kernel.pgtable import riscv64_levels
    info = cap.vmcoreinfo
    root = info.symbol("swapper_pg_dir") if info is not None else None
    levels = riscv64_levels(info.number("VA_BITS")) if info is not None else None
    prog.cache[CACHE_KEY] = {
        "cpus": riscv64_registers(cap.notes, cap.elf_arch),
        "root": None if root is None or levels is None else cap.kernel.pa(root),
        "levels": levels,
    }


def riscv64_registers(notes, arch) -> list[tuple[int, int, int, int] | None]:
    """``(pc, ra, sp, s0)`` of every CORE/NT_PRSTATUS note in order (None: a note too
    short or all zeros), for a riscv64 capture."""
    _, reg_at, _, _ = LAYOUT[(EM_RISCV, 64)]
    out: list[tuple[int, int, int, int] | None] = []
    for note in notes:
        if note.name != b"CORE" or note.type != NT_PRSTATUS:
            continue
        desc = note.desc
        if len(desc) < reg_at + 8 * (S0 + 1) or not any(desc):
            out.append(None)
            continue
        out.append(tuple(int.from_bytes(desc[reg_at + 8 * i:reg_at + 8 * i + 8],
                                        arch.byteorder) for i in (PC, RA, SP, S0)))
    return out


def stack_trace(source: "Capture | Any", thread: Any = None):
    """The stack trace of ``thread`` (default: the crashed thread) of a Program made by
    :meth:`Capture.drgn`, or of a Capture (its Program without a vmlinux).

    drgn's own ``thread.stack_trace()`` where drgn unwinds; on riscv64 the crashed thread's
    frame-pointer walk (:func:`frame_pcs`), a :class:`StackTrace` of :class:`Frame`.  Other
    riscv64 threads raise ``ValueError``: their registers are in no NT_PRSTATUS note.
    """
    import drgn
    prog = source if isinstance(source, drgn.Program) else source.drgn()
    if prog.platform.arch != drgn.Architecture.RISCV64:
        return (prog.crashed_thread() if thread is None else thread).stack_trace()
    if thread is not None and thread.tid != prog.crashed_thread().tid:
        raise ValueError(f"thread {thread.tid} did not crash: riscv64 unwinding starts "
                         "from the crashed CPU's NT_PRSTATUS registers only")
    registers = _crashed_cpu(prog, prog.cache.get(CACHE_KEY, {}).get("cpus", []))
    if registers is None:
        raise ValueError("no NT_PRSTATUS registers for the crashed CPU")
    pc, ra, sp, fp = registers
    return trace_from_registers(prog, pc, ra, sp, fp)


def _crashed_cpu(prog, cpus: list) -> tuple[int, int, int, int] | None:
    """The note of the CPU in ``panic_cpu`` (the notes are in CPU order), or the only
    note with registers when ``panic_cpu`` is not readable or says none."""
    import drgn
    try:
        cpu = int.from_bytes(prog.read(prog.symbol("panic_cpu").address, 4), "little",
                             signed=True)
    except (LookupError, drgn.FaultError):
        cpu = -1
    if 0 <= cpu < len(cpus) and cpus[cpu] is not None:
        return cpus[cpu]
    saved = [c for c in cpus if c is not None]
    return saved[0] if len(saved) == 1 else None
