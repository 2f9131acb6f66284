"""Crash triage from the log: every event kind and arch, wrapped and truncated logs, signatures."""

from __future__ import annotations

import json

import pytest

from builders import crash_logs as logs
from minidump.cli import main
from minidump.kernel.crash import frame_text, triage
from builders.printk import LocklessRing, write_core

BASE = 0xFFFF800081000000
ARM64_KEYS = ("OSRELEASE=6.1.0\nPAGESIZE=4096\nSYMBOL(swapper_pg_dir)=ffff800081a2b000\n"
              "NUMBER(VA_BITS)=48\nNUMBER(kimage_voffset)=0xffff7fff00000000\n"
              "NUMBER(PHYS_OFFSET)=0x80000000\nKERNELOFFSET=0\n")


def _triage(text: str, **kw) -> dict:
    return triage(logs.records(text, **kw))


def _names(frames: list[dict]) -> list[str]:
    return [frame_text(f) for f in frames]


def test_x86_null_dereference_oops_then_fatal_exception():
    doc = _triage(logs.X86_NULL)
    assert doc["event"] == "null-pointer-dereference"
    assert [e["kind"] for e in doc["events"]] == ["null-pointer-dereference", "panic"]
    event = doc["events"][0]
    assert event["primary"] and event["oops"] == 1 and event["die"].startswith("Oops: 0000 [#1]")
    assert event["detail"]["address"] == "0000000000000008"
    assert doc["panic"] == {"message": "Fatal exception", "seq": 27, "timestamp_ns": 102331300000,
                            "ended": True, "header_lost": False}
    ctx = doc["context"]
    assert (ctx["cpu"], ctx["pid"], ctx["comm"], ctx["release"]) == (
        1, 4242, "kworker/1:2", "6.1.0-50-cloud-amd64")
    assert ctx["taint"]["flags"] == "OE" and ctx["taint"]["names"] == ["OOT_MODULE",
                                                                     "UNSIGNED_MODULE"]
    assert ctx["taint"]["mask"] == (1 << 12) | (1 << 13)
    assert ctx["hardware"].startswith("QEMU Standard PC")
    assert frame_text(doc["pc"]) == "frob_get_widget+0x1d/0x60 [frobnicator]"
    assert _names(doc["frames"]) == [
        "frob_work_fn+0x2a/0x90 [frobnicator]", "process_one_work+0x1c7/0x380",
        "? rescuer_thread+0x3b0/0x3b0", "worker_thread+0x4d/0x380",
        "? rescuer_thread+0x3b0/0x3b0", "kthread+0xd7/0x100",
        "? kthread_complete_and_exit+0x20/0x20", "ret_from_fork+0x1f/0x30"]
    assert all(f["context"] == "task" for f in doc["frames"])
    assert [(m["name"], m["taint"]) for m in doc["modules"]] == [
        ("frobnicator", "OE"), ("qemu_fw_cfg", None), ("crc32_pclmul", None)]
    assert doc["kernel_offset"] == "0x15600000"
    assert doc["signature"]["basis"] == ("null-pointer-dereference: frob_get_widget < "
                                         "frob_work_fn < process_one_work < worker_thread < "
                                         "kthread")
    assert doc["log"]["notes"] == []


@pytest.mark.parametrize("name, kind, function, first, panic", [
    ("X86_GPF", "general-protection-fault", "__list_del_entry", "widget_release+0x31/0x70",
     "Fatal exception"),
    ("X86_PAGING", "paging-request", "memset_orig", "ring_init+0x55/0x120 [ringdrv]", None),
    ("X86_KERNEL_BUG", "kernel-bug", "kfree", "widget_free+0x19/0x30", "Fatal exception"),
    ("X86_WARNING", "warning", "thing_commit", "thing_ioctl+0x77/0x110 [thing]",
     "panic_on_warn set ..."),
    ("X86_SOFT_LOCKUP", "soft-lockup", "spin_forever", "? watchdog_timer_fn+0x1b4/0x210",
     "softlockup: hung tasks"),
    ("HARD_LOCKUP", "hard-lockup", "native_queued_spin_lock_slowpath", "_raw_spin_lock+0x25/0x30",
     "Hard LOCKUP"),
    ("HUNG_TASK", "hung-task", "bit_wait_io", "__schedule+0x34d/0x9e0",
     "hung_task: blocked tasks"),
    ("RCU_STALL", "rcu-stall", "busy_loop", "looper_thread+0x31/0x50 [looper]", None),
    ("OOM", "oom-kill", "dump_header", "dump_stack_lvl+0x44/0x5c", None),
    ("ARM64_NULL", "null-pointer-dereference", "sysrq_handle_crash",
     "sysrq_handle_crash+0x24/0x30", "Oops: Fatal exception"),
    ("ARM64_BUG", "kernel-bug", "widget_evict", "widget_evict+0x58/0x60 [widgetfs]", None),
    ("ARM32_OOPS", "null-pointer-dereference", "blink_store", "blink_store [blinker]",
     None),
    ("RISCV_OOPS", "paging-request", "gadget_probe", "gadget_probe+0x1e/0x40",
     "Fatal exception"),
    ("X86_SYSRQ", "sysrq-crash", "sysrq_handle_crash", "dump_stack_lvl+0x44/0x5c",
     "sysrq triggered crash"),
    ("ARM32_SYSRQ", "sysrq-crash", "sysrq_reset_seq_param_set", "unwind_backtrace",
     "sysrq triggered crash"),
])
def test_each_event_kind(name, kind, function, first, panic):
    doc = _triage(getattr(logs, name))
    assert doc["event"] == kind
    assert doc["signature"]["function"] == function
    assert frame_text(doc["frames"][0]) == first
    assert (doc["panic"] or {}).get("message") == panic
    assert doc["signature"]["basis"].startswith(f"{kind}: {function}")
    assert len(doc["signature"]["hash"]) == 16


def test_context_and_details_per_kind():
    lockup = _triage(logs.X86_SOFT_LOCKUP)
    assert lockup["events"][0]["detail"] == {"cpu": "1", "seconds": "26", "comm": "spin",
                                             "pid": "444"}
    assert lockup["context"]["taint"]["names"] == ["OOT_MODULE", "SOFTLOCKUP"]
    assert [f["context"] for f in lockup["frames"]] == ["irq", "irq", "task", "task"]
    assert _triage(logs.HUNG_TASK)["events"][0]["detail"] == {
        "comm": "jbd2/sda1-8", "pid": "211", "seconds": "120"}
    oom = _triage(logs.OOM)["events"][0]
    assert oom["detail"]["comm"] == "stress" and oom["detail"]["pid"] == "812"
    assert oom["detail"]["killed"].startswith("Out of memory: Killed process 812 (stress)")
    warning = _triage(logs.X86_WARNING)["events"][0]["detail"]
    assert (warning["file"], warning["line"]) == ("drivers/gpu/thing.c", "812")
    arm = _triage(logs.ARM64_NULL)
    assert frame_text(arm["pc"]) == "sysrq_handle_crash+0x24/0x30"
    assert frame_text(arm["lr"]) == "__handle_sysrq+0x8c/0x1a0"
    assert len(arm["frames"]) == 13 and arm["context"]["hardware"] == "linux,dummy-virt (DT)"
    assert arm["signature"]["basis"] == ("null-pointer-dereference: sysrq_handle_crash < "
                                         "__handle_sysrq < write_sysrq_trigger < "
                                         "proc_reg_write < vfs_write")
    bug = _triage(logs.ARM64_BUG)
    assert bug["events"][0]["die"].startswith("Internal error: Oops - BUG")
    assert bug["context"]["taint"] | {} == bug["context"]["taint"]
    assert bug["context"]["taint"]["source"] == "log (Tainted: line)"
    assert bug["context"]["taint"]["names"] == ["UNSIGNED_MODULE"]
    assert bug["frames"][0]["module"] == "widgetfs"      # build id and (P) mark dropped
    arm32 = _triage(logs.ARM32_OOPS)
    assert frame_text(arm32["pc"]) == "blink_store+0x14/0x2c [blinker]"
    assert frame_text(arm32["lr"]) == "kernfs_fop_write_iter+0x118/0x1b4"
    assert _names(arm32["frames"]) == ["blink_store [blinker]", "kernfs_fop_write_iter+0x118/0x1b4",
                                       "vfs_write+0x2b0/0x3a4", "ksys_write+0x70/0xe8"]
    riscv = _triage(logs.RISCV_OOPS)
    assert frame_text(riscv["lr"]) == "really_probe+0x9e/0x2a0"
    assert len(riscv["frames"]) == 3 and riscv["modules"] == []


def test_several_events_the_first_that_matters_is_marked():
    doc = triage(logs.records(logs.X86_WARNING.replace(
        "[   12.000020] Kernel panic - not syncing: panic_on_warn set ...\n", "")
        + logs.X86_NULL.replace("[  102.", "[   13.")))
    assert [e["kind"] for e in doc["events"]] == ["warning", "null-pointer-dereference", "panic"]
    assert [e["primary"] for e in doc["events"]] == [False, True, False]
    assert doc["event"] == "null-pointer-dereference"
    # with panic_on_warn, the warning is what brought the machine down
    doc = _triage(logs.X86_WARNING + logs.X86_NULL)
    assert doc["events"][0]["primary"] and doc["event"] == "warning"


def test_truncated_trace_is_reported():
    lines = logs.X86_NULL.splitlines()
    cut = "\n".join(lines[:lines.index(next(x for x in lines if "worker_thread" in x)) + 1])
    doc = _triage(cut + "\n")
    assert doc["events"][0]["trace_truncated"] is True
    assert len(doc["frames"]) == 4 and doc["panic"] is None
    assert "the call trace is cut short: the log ends inside it" in doc["log"]["notes"]
    assert "no 'Kernel panic - not syncing' record in the log" in doc["log"]["notes"]


def test_wrapped_log_says_what_was_lost_instead_of_guessing():
    lines = logs.X86_NULL.splitlines()
    start = lines.index(next(x for x in lines if "process_one_work" in x))
    doc = triage(logs.records("\n".join(lines[start:]) + "\n", first_seq=500))
    notes = doc["log"]["notes"]
    assert doc["log"]["lost"] == 500 and doc["log"]["first_seq"] == 500
    assert any(n.startswith("the log wrapped: 500 older records") for n in notes)
    assert any("the log begins inside a report" in n for n in notes)
    assert doc["event"] == "panic" and doc["signature"] is None     # no guessing a function
    # only the end marker survived
    doc = triage(logs.records(lines[-1] + "\n", first_seq=9000))
    assert doc["panic"]["header_lost"] and doc["panic"]["message"] == "Fatal exception"


def test_empty_and_quiet_logs():
    doc = triage([])
    assert doc["event"] is None and doc["signature"] is None
    doc = triage(logs.records("[    0.000000] Linux version 6.1.0\n"))
    assert doc["events"] == [] and doc["panic"] is None
    assert "no crash report (Oops, BUG, WARNING, lockup, ...) in the log" in doc["log"]["notes"]


@pytest.mark.parametrize("name, pid", [("X86_NULL", "4242"), ("ARM64_NULL", "201"),
                                       ("X86_SYSRQ", "PID: 1 ")])
def test_signature_is_stable_across_boots(name, pid):
    text = getattr(logs, name)
    other = logs.shifted(text, kaslr=0x2a00000, seconds=3000, pid_from=pid,
                         pid_to=pid.replace("1", "7").replace("2", "9"))
    assert other != text
    one, two = _triage(text), _triage(other)
    assert one["signature"] == two["signature"]
    # a rebuild moves offsets and sizes and renames a .cold part: same bug, same signature
    rebuilt = text.replace("+0x8c/0x1a0", "+0x94/0x1b0").replace("+0x16/0x20", "+0x1a/0x28")
    rebuilt = rebuilt.replace("__handle_sysrq.cold", "__handle_sysrq")
    assert _triage(rebuilt)["signature"] == one["signature"]


def test_signature_changes_with_the_faulting_function():
    one = _triage(logs.X86_NULL)
    other = _triage(logs.X86_NULL.replace("frob_get_widget", "frob_put_widget"))
    assert other["signature"]["hash"] != one["signature"]["hash"]
    assert other["signature"]["function"] == "frob_put_widget"
    kind = _triage(logs.X86_NULL.replace("BUG: kernel NULL pointer dereference, address:",
                                         "BUG: unable to handle page fault for address:"))
    assert kind["signature"]["hash"] != one["signature"]["hash"]


def test_info_json_has_the_crash_key_from_a_ring(tmp_path, capsys):
    ring = LocklessRing(count_bits=6, size_bits=13, first_id=64 * 5, seq0=0)
    for record in logs.records(logs.ARM64_NULL):
        ring.add(record.raw, record.timestamp_ns)
    chunks, keys = ring.memory(BASE)
    core = write_core(tmp_path / "c.vmcore", chunks, (ARM64_KEYS + keys).encode())
    main(["info", str(core), "--json"])
    doc = json.loads(capsys.readouterr().out)
    crash = doc["crash"]
    assert crash["event"] == "null-pointer-dereference" and crash["log"]["lost"] == 0
    assert crash["signature"] == _triage(logs.ARM64_NULL)["signature"]
    main(["info", str(core)])
    out = capsys.readouterr().out
    assert "crash: null-pointer-dereference — Unable to handle kernel NULL pointer" in out
    assert f"signature: {crash['signature']['hash']}" in out
    assert "  __handle_sysrq+0x8c/0x1a0" in out


def test_info_json_on_a_wrapped_ring(tmp_path, capsys):
    ring = LocklessRing(count_bits=3, size_bits=10, first_id=8 * 3, seq0=0)   # 8 descs: wraps
    for record in logs.records(logs.X86_NULL):
        ring.add(record.raw, record.timestamp_ns)
    chunks, keys = ring.memory(BASE)
    core = write_core(tmp_path / "c.vmcore", chunks, (ARM64_KEYS + keys).encode())
    main(["info", str(core), "--json"])
    crash = json.loads(capsys.readouterr().out)["crash"]
    assert crash["log"]["lost"] > 0 and crash["panic"]["message"] == "Fatal exception"
    assert any("the log wrapped" in n for n in crash["log"]["notes"])
