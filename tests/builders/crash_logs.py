"""Kernel logs of crashes, written line by line from the kernel's printk formats.

Each log is what ``dmesg`` shows for one event kind on one arch (the formats of
arch/x86/kernel/dumpstack.c, arch/x86/mm/fault.c, arch/arm64/mm/fault.c,
arch/arm64/kernel/traps.c and process.c, arch/arm/kernel/traps.c,
arch/riscv/kernel/traps.c, kernel/panic.c, lib/bug.c, kernel/watchdog.c,
kernel/hung_task.c, kernel/rcu/tree_stall.h, mm/oom_kill.c, drivers/tty/sysrq.c);
the function names, addresses and modules are made up.  ``records(text)`` turns
one into printk records the way the ring holds them (one record per line).
"""

from __future__ import annotations

import re

from minidump.kernel.printk import make_record

X86_NULL = """\
[  102.331200] BUG: kernel NULL pointer dereference, address: 0000000000000008
[  102.331210] #PF: supervisor read access in kernel mode
[  102.331215] #PF: error_code(0x0000) - not-present page
[  102.331220] PGD 0 P4D 0
[  102.331225] Oops: 0000 [#1] PREEMPT SMP NOPTI
[  102.331230] CPU: 1 PID: 4242 Comm: kworker/1:2 Tainted: G           OE      6.1.0-50-cloud-amd64 #1  Debian 6.1.176-1
[  102.331235] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[  102.331240] Workqueue: events frob_work_fn [frobnicator]
[  102.331245] RIP: 0010:frob_get_widget+0x1d/0x60 [frobnicator]
[  102.331250] Code: 00 00 0f 1f 44 00 00 55 48 89 e5 <48> 8b 47 08 5d c3 cc cc
[  102.331255] RSP: 0018:ffffb3c8c0213e58 EFLAGS: 00010246
[  102.331260] RAX: 0000000000000000 RBX: ffff8f0e4a3b1000 RCX: 0000000000000000
[  102.331270] Call Trace:
[  102.331271]  <TASK>
[  102.331272]  frob_work_fn+0x2a/0x90 [frobnicator]
[  102.331273]  process_one_work+0x1c7/0x380
[  102.331274]  ? rescuer_thread+0x3b0/0x3b0
[  102.331275]  worker_thread+0x4d/0x380
[  102.331276]  ? rescuer_thread+0x3b0/0x3b0
[  102.331277]  kthread+0xd7/0x100
[  102.331278]  ? kthread_complete_and_exit+0x20/0x20
[  102.331279]  ret_from_fork+0x1f/0x30
[  102.331280]  </TASK>
[  102.331281] Modules linked in: frobnicator(OE) qemu_fw_cfg crc32_pclmul [last unloaded: bar]
[  102.331282] CR2: 0000000000000008
[  102.331283] ---[ end trace 0000000000000000 ]---
[  102.331290] RIP: 0010:frob_get_widget+0x1d/0x60 [frobnicator]
[  102.331300] Kernel panic - not syncing: Fatal exception
[  102.331400] Kernel Offset: 0x15600000 from 0xffffffff81000000 (relocation range: 0xffffffff80000000-0xffffffffbfffffff)
[  102.331500] ---[ end Kernel panic - not syncing: Fatal exception ]---
"""

X86_GPF = """\
[   55.100000] general protection fault, probably for non-canonical address 0xdead000000000122: 0000 [#1] PREEMPT SMP NOPTI
[   55.100001] CPU: 0 PID: 311 Comm: sh Not tainted 6.1.0-50-cloud-amd64 #1  Debian 6.1.176-1
[   55.100002] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[   55.100003] RIP: 0010:__list_del_entry+0x9/0x40
[   55.100004] Call Trace:
[   55.100005]  <TASK>
[   55.100006]  widget_release+0x31/0x70
[   55.100007]  __fput+0x92/0x250
[   55.100008]  task_work_run+0x59/0x90
[   55.100009]  </TASK>
[   55.100010] Modules linked in: qemu_fw_cfg
[   55.100011] ---[ end trace 0000000000000000 ]---
[   55.100020] Kernel panic - not syncing: Fatal exception
[   55.100030] ---[ end Kernel panic - not syncing: Fatal exception ]---
"""

X86_PAGING = """\
[    9.000000] BUG: unable to handle page fault for address: ffffc90000a00000
[    9.000001] #PF: supervisor write access in kernel mode
[    9.000002] Oops: 0002 [#1] SMP NOPTI
[    9.000003] CPU: 1 PID: 77 Comm: modprobe Tainted: G        W          6.1.0 #1
[    9.000004] RIP: 0010:memset_orig+0x33/0xb0
[    9.000005] Call Trace:
[    9.000006]  <TASK>
[    9.000007]  ring_init+0x55/0x120 [ringdrv]
[    9.000008]  do_one_initcall+0x44/0x220
[    9.000009]  do_init_module+0x4c/0x1f0
[    9.000010]  </TASK>
[    9.000011] Modules linked in: ringdrv(+)
[    9.000012] ---[ end trace 0000000000000000 ]---
"""

X86_KERNEL_BUG = """\
[  300.000000] kernel BUG at mm/slub.c:4321!
[  300.000001] invalid opcode: 0000 [#1] PREEMPT SMP NOPTI
[  300.000002] CPU: 0 PID: 901 Comm: stress Not tainted 6.1.0 #1
[  300.000003] RIP: 0010:kfree+0x2b8/0x2c0
[  300.000004] Call Trace:
[  300.000005]  <TASK>
[  300.000006]  widget_free+0x19/0x30
[  300.000007]  widget_put.part.0+0x22/0x40
[  300.000008]  do_syscall_64+0x5d/0x90
[  300.000009]  entry_SYSCALL_64_after_hwframe+0x6e/0xd8
[  300.000010]  </TASK>
[  300.000011] Modules linked in:
[  300.000012] ---[ end trace 0000000000000000 ]---
[  300.000020] Kernel panic - not syncing: Fatal exception
"""

X86_WARNING = """\
[   12.000000] ------------[ cut here ]------------
[   12.000001] WARNING: CPU: 1 PID: 55 at drivers/gpu/thing.c:812 thing_commit+0x1f4/0x230 [thing]
[   12.000002] Modules linked in: thing
[   12.000003] CPU: 1 PID: 55 Comm: Xorg Not tainted 6.1.0 #1
[   12.000004] RIP: 0010:thing_commit+0x1f4/0x230 [thing]
[   12.000005] Call Trace:
[   12.000006]  <TASK>
[   12.000007]  thing_ioctl+0x77/0x110 [thing]
[   12.000008]  __x64_sys_ioctl+0x8d/0xd0
[   12.000009]  do_syscall_64+0x5d/0x90
[   12.000010]  </TASK>
[   12.000011] ---[ end trace 0000000000000000 ]---
[   12.000020] Kernel panic - not syncing: panic_on_warn set ...
"""

X86_SOFT_LOCKUP = """\
[  180.000000] watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [spin:444]
[  180.000001] Modules linked in: spinmod(O)
[  180.000002] CPU: 1 PID: 444 Comm: spin Tainted: G           O L     6.1.0 #1
[  180.000003] RIP: 0010:spin_forever+0x10/0x20 [spinmod]
[  180.000004] Call Trace:
[  180.000005]  <IRQ>
[  180.000006]  ? watchdog_timer_fn+0x1b4/0x210
[  180.000007]  __hrtimer_run_queues+0x112/0x2b0
[  180.000008]  </IRQ>
[  180.000009]  <TASK>
[  180.000010]  spin_write+0x1c/0x30 [spinmod]
[  180.000011]  vfs_write+0xc7/0x3f0
[  180.000012]  </TASK>
[  180.000020] Kernel panic - not syncing: softlockup: hung tasks
"""

HARD_LOCKUP = """\
[  400.000000] NMI watchdog: Watchdog detected hard LOCKUP on cpu 0
[  400.000001] CPU: 0 PID: 0 Comm: swapper/0 Not tainted 6.1.0 #1
[  400.000002] RIP: 0010:native_queued_spin_lock_slowpath+0x5c/0x1d0
[  400.000003] Call Trace:
[  400.000004]  <NMI>
[  400.000005]  </NMI>
[  400.000006]  <IRQ>
[  400.000007]  _raw_spin_lock+0x25/0x30
[  400.000008]  widget_irq+0x21/0x80
[  400.000009]  __handle_irq_event_percpu+0x46/0x190
[  400.000010]  </IRQ>
[  400.000020] Kernel panic - not syncing: Hard LOCKUP
"""

HUNG_TASK = """\
[  250.000000] INFO: task jbd2/sda1-8:211 blocked for more than 120 seconds.
[  250.000001]       Not tainted 6.1.0 #1
[  250.000002] "echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.
[  250.000003] task:jbd2/sda1-8     state:D stack:0     pid:211   ppid:2      flags:0x00004000
[  250.000004] Call Trace:
[  250.000005]  <TASK>
[  250.000006]  __schedule+0x34d/0x9e0
[  250.000007]  schedule+0x5a/0xd0
[  250.000008]  io_schedule+0x42/0x70
[  250.000009]  bit_wait_io+0x11/0x60
[  250.000010]  __wait_on_bit+0x46/0x110
[  250.000011]  jbd2_journal_commit_transaction+0x1123/0x1a90 [jbd2]
[  250.000012]  kjournald2+0xab/0x270 [jbd2]
[  250.000013]  </TASK>
[  250.000020] Kernel panic - not syncing: hung_task: blocked tasks
"""

RCU_STALL = """\
[  500.000000] rcu: INFO: rcu_preempt self-detected stall on CPU
[  500.000001] rcu: 	1-....: (5249 ticks this GP) idle=8cc/1/0x4000000000000000 softirq=9/9 fqs=2610
[  500.000002] 	(t=5250 jiffies g=1161 q=66 ncpus=2)
[  500.000003] CPU: 1 PID: 600 Comm: looper Not tainted 6.1.0 #1
[  500.000004] RIP: 0010:busy_loop+0x8/0x20 [looper]
[  500.000005] Call Trace:
[  500.000006]  <TASK>
[  500.000007]  looper_thread+0x31/0x50 [looper]
[  500.000008]  kthread+0xd7/0x100
[  500.000009]  </TASK>
"""

OOM = """\
[  700.000000] stress invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0
[  700.000001] CPU: 0 PID: 812 Comm: stress Not tainted 6.1.0 #1
[  700.000002] Call Trace:
[  700.000003]  <TASK>
[  700.000004]  dump_stack_lvl+0x44/0x5c
[  700.000005]  dump_header+0x4a/0x211
[  700.000006]  oom_kill_process.cold+0xb/0x10
[  700.000007]  out_of_memory+0x1fd/0x4c0
[  700.000008]  __alloc_pages_slowpath.constprop.0+0xc83/0xd70
[  700.000009]  </TASK>
[  700.000010] Mem-Info:
[  700.000011] Out of memory: Killed process 812 (stress) total-vm:1049000kB, anon-rss:480000kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:1000kB oom_score_adj:0
"""

ARM64_NULL = """\
[   20.100000] Unable to handle kernel NULL pointer dereference at virtual address 0000000000000000
[   20.100001] Mem abort info:
[   20.100002]   ESR = 0x0000000096000045
[   20.100003]   EC = 0x25: DABT (current EL), IL = 32 bits
[   20.100004] Data abort info:
[   20.100005] user pgtable: 4k pages, 48-bit VAs, pgdp=0000000042f8e000
[   20.100006] [0000000000000000] pgd=0000000000000000, p4d=0000000000000000
[   20.100007] Internal error: Oops: 0000000096000045 [#1] SMP
[   20.100008] Modules linked in: qemu_fw_cfg
[   20.100009] CPU: 1 PID: 201 Comm: sh Not tainted 6.1.0-57-cloud-arm64 #1  Debian 6.1.170-1
[   20.100010] Hardware name: linux,dummy-virt (DT)
[   20.100011] pstate: 60400005 (nZCv daif +PAN -UAO -TCO -DIT -SSBS BTYPE=--)
[   20.100012] pc : sysrq_handle_crash+0x24/0x30
[   20.100013] lr : __handle_sysrq+0x8c/0x1a0
[   20.100014] sp : ffff80000a6b3c80
[   20.100015] x29: ffff80000a6b3c80 x28: ffff0000c2a6b400 x27: 0000000000000000
[   20.100016] Call trace:
[   20.100017]  sysrq_handle_crash+0x24/0x30
[   20.100018]  __handle_sysrq+0x8c/0x1a0
[   20.100019]  write_sysrq_trigger+0x94/0x130
[   20.100020]  proc_reg_write+0xac/0x100
[   20.100021]  vfs_write+0xd8/0x2a0
[   20.100022]  ksys_write+0x70/0x100
[   20.100023]  __arm64_sys_write+0x24/0x30
[   20.100024]  invoke_syscall+0x50/0x120
[   20.100025]  el0_svc_common.constprop.0+0x4c/0xf4
[   20.100026]  do_el0_svc+0x34/0xd0
[   20.100027]  el0_svc+0x34/0x110
[   20.100028]  el0t_64_sync_handler+0xf4/0x120
[   20.100029]  el0t_64_sync+0x18c/0x190
[   20.100030] Code: d2800021 b9000041 d503201f 52800020 (39000020)
[   20.100031] ---[ end trace 0000000000000000 ]---
[   20.100040] Kernel panic - not syncing: Oops: Fatal exception
[   20.100041] SMP: stopping secondary CPUs
[   20.100042] Kernel Offset: 0x80000 from 0xffff800008000000
[   20.100050] ---[ end Kernel panic - not syncing: Oops: Fatal exception ]---
"""

ARM64_BUG = """\
[   30.000000] ------------[ cut here ]------------
[   30.000001] kernel BUG at fs/widget.c:77!
[   30.000002] Internal error: Oops - BUG: 00000000f2000800 [#1] PREEMPT SMP
[   30.000003] Modules linked in: widgetfs(E)
[   30.000004] CPU: 0 PID: 12 Comm: kworker/0:1 Tainted: G            E      6.12.0 #1
[   30.000005] Tainted: [E]=UNSIGNED_MODULE
[   30.000006] pc : widget_evict+0x58/0x60 [widgetfs]
[   30.000007] lr : evict+0xc0/0x1d0
[   30.000008] Call trace:
[   30.000009]  widget_evict+0x58/0x60 [widgetfs 0123456789abcdef0123456789abcdef01234567] (P)
[   30.000010]  evict+0xc0/0x1d0 (L)
[   30.000011]  iput+0x170/0x220
[   30.000012] ---[ end trace 0000000000000000 ]---
"""

ARM32_OOPS = """\
[   40.000000] 8<--- cut here ---
[   40.000001] Unable to handle kernel NULL pointer dereference at virtual address 00000000 when write
[   40.000002] [00000000] *pgd=00000000
[   40.000003] Internal error: Oops: 817 [#1] SMP ARM
[   40.000004] Modules linked in: blinker
[   40.000005] CPU: 0 PID: 61 Comm: sh Not tainted 6.1.0 #1
[   40.000006] Hardware name: Generic DT based system
[   40.000007] PC is at blink_store+0x14/0x2c [blinker]
[   40.000008] LR is at kernfs_fop_write_iter+0x118/0x1b4
[   40.000009] pc : [<bf000014>]    lr : [<c03a1d20>]    psr: 60000013
[   40.000010] Backtrace:
[   40.000011]  blink_store [blinker] from kernfs_fop_write_iter+0x118/0x1b4
[   40.000012]  kernfs_fop_write_iter from vfs_write+0x2b0/0x3a4
[   40.000013]  vfs_write from ksys_write+0x70/0xe8
[   40.000014] Code: e3a03000 e5833000 (e5823000) e12fff1e
[   40.000015] ---[ end trace 0000000000000000 ]---
"""

RISCV_OOPS = """\
[   60.000000] Unable to handle kernel paging request at virtual address ffffffff00000008
[   60.000001] Oops [#1]
[   60.000002] Modules linked in:
[   60.000003] CPU: 0 PID: 1 Comm: init Not tainted 6.6.0 #1
[   60.000004] Hardware name: riscv-virtio,qemu (DT)
[   60.000005] epc : gadget_probe+0x1e/0x40
[   60.000006]  ra : really_probe+0x9e/0x2a0
[   60.000007] epc : ffffffff8040a1be ra : ffffffff80512abc sp : ff2000000000bd00
[   60.000008] [<ffffffff8040a1be>] gadget_probe+0x1e/0x40
[   60.000009] [<ffffffff80512abc>] really_probe+0x9e/0x2a0
[   60.000010] [<ffffffff80512cde>] __driver_probe_device+0x78/0xe0
[   60.000011] Code: 1141 e406 0800 4501 (6508) 60a2
[   60.000012] ---[ end trace 0000000000000000 ]---
[   60.000013] Kernel panic - not syncing: Fatal exception
"""

#: the real Debian 6.1 log of the harness's panic capture (sysrq-c, panic=0)
X86_SYSRQ = """\
[    1.559626] sysrq: Trigger a crash
[    1.560039] Kernel panic - not syncing: sysrq triggered crash
[    1.560213] CPU: 0 PID: 1 Comm: init Not tainted 6.1.0-50-cloud-amd64 #1  Debian 6.1.176-1
[    1.560402] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[    1.560579] Call Trace:
[    1.561049]  <TASK>
[    1.561308]  dump_stack_lvl+0x44/0x5c
[    1.561539]  panic+0x118/0x2f4
[    1.561576]  sysrq_handle_crash+0x16/0x20
[    1.561626]  __handle_sysrq.cold+0x44/0x11c
[    1.561665]  write_sysrq_trigger+0x24/0x40
[    1.561700]  proc_reg_write+0x56/0xa0
[    1.561736]  vfs_write+0xc7/0x3f0
[    1.561773]  ? exit_to_user_mode_prepare+0x44/0x240
[    1.561819]  ksys_write+0x6b/0xf0
[    1.561848]  do_syscall_64+0x5d/0x90
[    1.562218]  entry_SYSCALL_64_after_hwframe+0x6e/0xd8
[    1.562361] RIP: 0033:0x47b7a0
[    1.562740] RSP: 002b:00007fff6dedd1d8 EFLAGS: 00000202 ORIG_RAX: 0000000000000001
[    1.563173]  </TASK>
[    1.563891] Kernel Offset: 0x15600000 from 0xffffffff81000000 (relocation range: 0xffffffff80000000-0xffffffffbfffffff)
[    1.563891] ---[ end Kernel panic - not syncing: sysrq triggered crash ]---
"""

#: 32-bit arm (6.x unwinder: "callee from caller+off/size", no "Backtrace:" header), sysrq-c:
#: as the Debian armmp-lpae kernel printed it under QEMU (tools/realkernel, --panic-nokaslr)
ARM32_SYSRQ = """\
[    2.100584] sysrq: Trigger a crash
[    2.100975] Kernel panic - not syncing: sysrq triggered crash
[    2.101461] CPU: 0 PID: 1 Comm: init Not tainted 6.1.0-50-armmp-lpae #1  Debian 6.1.176-1
[    2.101832] Hardware name: Generic DT based system
[    2.102566]  unwind_backtrace from show_stack+0x18/0x1c
[    2.103523]  show_stack from dump_stack_lvl+0x40/0x4c
[    2.103599]  dump_stack_lvl from panic+0x110/0x370
[    2.103728]  panic from sysrq_reset_seq_param_set+0x0/0x90
"""


_LINE = re.compile(r"^\[\s*(\d+)\.(\d{6})\] (.*)$")


def records(text: str, *, first_seq: int = 0, caller: int = 1):
    """One printk record per ``[ts] text`` line, seq counting from ``first_seq``."""
    out = []
    for line in text.splitlines():
        match = _LINE.match(line)
        assert match, line
        ts = int(match[1]) * 10**9 + int(match[2]) * 1000
        out.append(make_record(ts, match[3].encode(), caller, seq=first_seq + len(out), level=0))
    return out


def shifted(text: str, *, kaslr: int, seconds: int, pid_from: str, pid_to: str) -> str:
    """The same log after another boot: other addresses, times and PIDs, same functions."""
    def ts(m: re.Match) -> str:
        return f"[{int(m[1]) + seconds:5d}.{m[2]}]"
    text = re.sub(r"\[\s*(\d+)\.(\d{6})\]", ts, text)
    text = re.sub(r"\b(ffff[0-9a-f]{12})\b", lambda m: f"{int(m[1], 16) + kaslr:016x}", text)
    return text.replace(pid_from, pid_to)
