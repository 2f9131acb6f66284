"""The registers of a CORE/NT_PRSTATUS note: PID, program counter and stack pointer per CPU.

``struct elf_prstatus`` (include/linux/elfcore.h, ``struct elf_prstatus_common`` since 6.3):
``pr_info`` (3 ints), ``pr_cursig`` (short, padded), ``pr_sigpend``/``pr_sighold``
(unsigned long), ``pr_pid``/``pr_ppid``/``pr_pgrp``/``pr_sid`` (int), four ``struct
__kernel_old_timeval`` (two longs each), then ``elf_gregset_t pr_reg``.  On 64-bit that puts
``pr_pid`` at 32 and ``pr_reg`` at 112; on 32-bit at 24 and 72.  ``pr_reg`` is the arch's
user register set:

* x86_64 ``struct user_regs_struct`` (arch/x86/include/asm/user_64.h): r15 .. orig_ax, then
  ``ip`` (index 16), cs, flags, ``sp`` (19) -- sizeof(elf_prstatus) 336;
* arm64 ``struct user_pt_regs``: ``regs[31]``, ``sp`` (31), ``pc`` (32), pstate -- 392;
* riscv64 ``struct user_regs_struct``: ``pc`` (0), ra, ``sp`` (2) ...;
* arm ``elf_gregset_t`` (``ARM_r0`` ..): ``ARM_sp`` (13), ``ARM_pc`` (15) -- 148.
"""

from __future__ import annotations

from dataclasses import dataclass

from minidump.model import Arch

#: e_machine -> (pr_pid offset, pr_reg offset, pc index, sp index)
LAYOUT = {
    (62, 64): (32, 112, 16, 19),     # EM_X86_64
    (183, 64): (32, 112, 32, 31),    # EM_AARCH64
    (243, 64): (32, 112, 0, 2),      # EM_RISCV
    (40, 32): (24, 72, 15, 13),      # EM_ARM
}
NT_PRSTATUS = 1


@dataclass(frozen=True, slots=True)
class CpuState:
    """One NT_PRSTATUS: ``index`` is the note's position (the CPU order the dumper used)."""

    index: int
    pid: int
    pc: int
    sp: int
    #: every byte of the descriptor is zero: a note with no saved state (meminspect's ELF
    #: header holds one such NT_PRSTATUS, panic or not)
    empty: bool = False


def cpu_states(notes, arch: Arch | None) -> list[CpuState]:
    """The PC and SP of every CORE/NT_PRSTATUS note whose descriptor is long enough; an
    unknown arch gives none."""
    layout = LAYOUT.get((arch.machine, arch.bits)) if arch is not None else None
    if layout is None:
        return []
    pid_at, reg_at, pc_index, sp_index = layout
    word = arch.bits // 8
    order = arch.byteorder
    out = []
    prstatus = [n for n in notes if n.name == b"CORE" and n.type == NT_PRSTATUS]
    for index, note in enumerate(prstatus):
        end = reg_at + word * (max(pc_index, sp_index) + 1)
        if len(note.desc) < end:
            continue

        def reg(i: int, desc=note.desc) -> int:
            return int.from_bytes(desc[reg_at + i * word:reg_at + (i + 1) * word], order)

        out.append(CpuState(index, int.from_bytes(note.desc[pid_at:pid_at + 4], order),
                            reg(pc_index), reg(sp_index), not any(note.desc)))
    return out
