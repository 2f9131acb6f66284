"""drgn through a Capture on real kernels, no vmcore written first (opt-in).

Run:  python tools/realkernel/harness.py --arch ARCH fetch          # x86_64, riscv64, ...
      python tools/realkernel/harness.py --arch ARCH capture --kaslr|--nokaslr
      python tools/realkernel/harness.py --arch ARCH capture --panic-kaslr|--panic-nokaslr
      MINIDUMP_REALKERNEL=1 python -m pytest -m realkernel tests/realkernel/test_drgn_capture.py

The judges: crash's ``log`` of the full dump (that arch's crash, under qemu-user where it is
not the host's), the harness's record of the boot (release), and drgn itself opening the
full dump with ``set_core_dump`` for the panic task's stack trace.  On riscv64 plain drgn
0.3.0 cannot translate a kernel address of the full dump ("could not find memory segment");
through the Capture it must read the release, ``jiffies_64`` and the whole log.
"""

from __future__ import annotations

import os

import pytest

from builders import info_facts
from builders.realkernel import captures, load_harness

ENABLED = os.environ.get("MINIDUMP_REALKERNEL") == "1"
pytestmark = [pytest.mark.realkernel,
              pytest.mark.skipif(not ENABLED, reason="opt-in: MINIDUMP_REALKERNEL=1")]

ARCHES = ("x86_64", "arm64", "arm", "riscv64")
ALL = captures(ARCHES, ("captures", "panics"))
PANICS = {name: rec for name, rec in ALL.items() if rec.get("panic")}
#: one capture per arch for what copies 512 MiB (the RAM-image form); not riscv64, whose
#: VMCOREINFO minidump does not read from a raw RAM image (no kernel-image search there)
ONE_PER_ARCH = {rec.get("arch", "x86_64"): name for name, rec in sorted(ALL.items())
                if not rec.get("panic") and rec.get("arch", "x86_64") != "riscv64"}


def _param(names):
    return pytest.mark.parametrize("name", sorted(names) or ["none"])


def _rec(name: str) -> dict:
    if name not in ALL:
        pytest.skip("no real-kernel capture: python tools/realkernel/harness.py --arch ARCH "
                    "fetch, then capture")
    pytest.importorskip("drgn")
    return ALL[name]


_CRASH: dict[str, list[str]] = {}


def crash_log(rec: dict) -> list[str]:
    """crash --minimal's ``log`` of the full dump (record lines), once per session."""
    if rec["name"] not in _CRASH:
        harness = load_harness()
        arch = rec.get("arch", "x86_64")
        if harness.crash_command(arch) is None:
            pytest.skip(f"no crash for {arch}: harness.py --arch {arch} fetch")
        _CRASH[rec["name"]] = harness.crash_log(rec["vmlinux"], rec["vmcore"], arch)
    return _CRASH[rec["name"]]


def log_lines(prog) -> list[str]:
    """drgn's printk helper's records as crash's ``log`` prints their first lines."""
    from drgn.helpers.linux.printk import get_printk_records
    return [f"[{r.timestamp // 10**9:5d}.{r.timestamp % 10**9 // 1000:06d}] "
            + r.text.decode(errors="replace").split("\n")[0] for r in get_printk_records(prog)]


def facts(prog) -> tuple[str, int, list[str]]:
    return (prog["init_uts_ns"].name.release.string_().decode(),
            prog["jiffies_64"].value_(), log_lines(prog))


@_param(ALL)
def test_full_dump_release_jiffies_and_log_equal_crash(name):
    import minidump
    rec = _rec(name)
    with minidump.open(rec["vmcore"]) as cap:
        prog = cap.drgn(vmlinux=rec["vmlinux"])
        release, jiffies, log = facts(prog)
        uts = prog["init_uts_ns"]
        assert uts.to_bytes_() == cap.read_virt(uts.address_, uts.type_.size)
    assert release == rec["kernel_release"]
    assert jiffies > 0xFFFF0000 - 300 * 1000     # INITIAL_JIFFIES (-300 s) plus the boot
    want = crash_log(rec)
    assert len(want) > 100 and log == want
    assert any("minidump-harness: hello from userspace" in line for line in log)


@_param(ALL)
def test_without_a_vmlinux_the_captures_kallsyms_and_vmcoreinfo_answer(name):
    import minidump
    from drgn.helpers.linux.printk import get_printk_records

    from minidump.elf.vmlinux import Vmlinux
    rec = _rec(name)
    if rec.get("arch") == "arm":
        pytest.skip("32-bit arm's full dump has no VMCOREINFO note: the vmlinux finds it")
    with minidump.open(rec["vmcore"]) as cap, Vmlinux.open(rec["vmlinux"]) as image:
        prog = cap.drgn()
        offset = cap.vmcoreinfo.kerneloffset or 0
        table = cap.kallsyms()
        # text from kallsyms, init_uts_ns from VMCOREINFO; data from kallsyms only with
        # CONFIG_KALLSYMS_ALL (Debian's cloud-arm64 has none: then no jiffies_64, not a guess)
        for symbol in ("panic", "init_uts_ns", "jiffies_64", "linux_banner"):
            if symbol in ("panic", "init_uts_ns") or table.address(symbol) is not None:
                assert prog.symbol(symbol).address == image.symbols.get(symbol).value + offset
            else:
                with pytest.raises(LookupError):
                    prog.symbol(symbol)
        assert prog.symbol(image.symbols.get("panic").value + offset + 4).name == "panic"
        records = [(r.seq, r.timestamp, r.level, r.text) for r in get_printk_records(prog)]
        assert [(r.seq, r.timestamp_ns, r.level, r.raw) for r in cap.dmesg()] == records
    assert log_lines(prog) == crash_log(rec)


@_param(ALL)
def test_minidump_gives_drgn_what_the_full_dump_does(name, tmp_path):
    """extract --regions v3-default --profile crash, then drgn on it through a Capture; and
    ``info`` on the written minidump equals ``facts()`` of the Capture it was written from."""
    import minidump
    rec = _rec(name)
    out = tmp_path / "mini.vmcore"
    with minidump.open(rec["vmcore"]) as full:
        want = facts(full.drgn(vmlinux=rec["vmlinux"]))
    with minidump.extract(rec["vmcore"], vmlinux=rec["vmlinux"], regions="v3-default",
                          profile="crash") as mini:
        source_facts = mini.facts()
        mini.write_vmcore(out)
    with minidump.open(out, vmlinux=rec["vmlinux"]) as cap:
        assert facts(cap.drgn(vmlinux=rec["vmlinux"])) == want
        assert info_facts(cap.facts()) == info_facts(source_facts)
    assert want[2] == crash_log(rec)


@_param(ONE_PER_ARCH.values())
def test_raw_ram_image(name, tmp_path):
    """The full dump's RAM as a raw image FILE@PADDR (VMCOREINFO found through the vmlinux)."""
    import minidump
    from minidump.elf.core import read_core
    rec = _rec(name)
    load = max(read_core(rec["vmcore"]).loads, key=lambda ld: ld.filesz)
    ram = tmp_path / "ram.bin"
    with open(rec["vmcore"], "rb") as src, open(ram, "wb") as dst:
        done = 0
        while done < load.filesz:
            done += os.copy_file_range(src.fileno(), dst.fileno(), load.filesz - done,
                                       load.offset + done)
    with minidump.open(f"{ram}@{load.paddr:#x}", vmlinux=rec["vmlinux"]) as cap:
        release, jiffies, log = facts(cap.drgn(vmlinux=rec["vmlinux"]))
    assert release == rec["kernel_release"] and jiffies > 0
    assert log == crash_log(rec)


def _frames(trace) -> list[str]:
    """Kernel frames up to the first without a symbol (the user-space return address)."""
    names = []
    for frame in trace:
        if frame.name is None or frame.name.startswith("0x"):
            break
        names.append(frame.name)
    return names


def _plain_drgn(rec: dict):
    import drgn
    prog = drgn.Program()
    prog.set_core_dump(rec["vmcore"])
    try:
        prog.load_debug_info([rec["vmlinux"]])
    except drgn.MissingDebugInfoError:
        pass
    return prog


def _console_trace(rec: dict) -> list[tuple[int, str, int]]:
    """``(address, function, offset)`` of the call trace the panicking kernel printed."""
    import re
    lines = open(rec["console_log"], errors="replace").read().splitlines()
    start = max(i for i, line in enumerate(lines) if line.rstrip().endswith("Call Trace:"))
    out = []
    for line in lines[start + 1:]:
        match = re.search(r"\[<([0-9a-f]+)>\] ([\w.]+)\+(0x[0-9a-f]+)/", line)
        if match is None:
            break
        out.append((int(match.group(1), 16), match.group(2), int(match.group(3), 16)))
    return out


@_param(PANICS)
def test_crashed_thread_stack_trace_equals_drgn_on_the_full_dump(name, tmp_path):
    """minidump.stack_trace(prog): drgn's own unwinder where it unwinds; on riscv64 (drgn
    0.3.0 unwinds none) the frame-pointer walk, judged by the kernel's console call trace."""
    import drgn

    import minidump
    rec = _rec(name)
    triage = tmp_path / "triage.vmcore"
    with minidump.extract(rec["vmcore"], vmlinux=rec["vmlinux"], regions="v3-default",
                          profile="triage") as mini:
        mini.write_vmcore(triage)
    ours, pcs = [], []
    for path in (rec["vmcore"], triage):
        with minidump.open(path) as cap:
            prog = cap.drgn(vmlinux=rec["vmlinux"])
            thread = prog.crashed_thread()
            assert thread.name == "init"    # the harness's /init writes c to sysrq-trigger
            trace = minidump.stack_trace(prog, thread)
            ours.append(_frames(trace))
            pcs.append([frame.pc for frame in trace])
            if rec.get("arch") == "riscv64":
                with pytest.raises(NotImplementedError):   # drgn 0.3.0's own
                    thread.stack_trace()
    if rec.get("arch") == "riscv64":
        # the console's trace from panic down: the same return addresses, the same
        # functions (a return address just past a noreturn call -- sysrq_handle_crash's
        # call of panic -- prints as the next function +0x0; the call is in the one before)
        console = _console_trace(rec)
        at = next(i for i, (_, function, _) in enumerate(console) if function == "panic")
        console = console[at:]
        assert len(console) >= 10 and ours[0][0] != "panic"   # frame #0: where the CPU spun
        start = ours[0].index("panic")
        assert pcs[0][start + 1:] == [address for address, _, _ in console[1:]]
        with minidump.open(rec["vmcore"]) as cap:
            prog = cap.drgn(vmlinux=rec["vmlinux"])
            want = ["panic"] + [function if offset else prog.symbol(address - 1).name
                                for address, function, offset in console[1:]]
        assert "sysrq_handle_crash" in want and ours[0][start:] == want
        assert ours[1] == ours[0] and pcs[1] == pcs[0]
        return
    try:
        plain = _frames(_plain_drgn(rec).crashed_thread().stack_trace())
    except (drgn.FaultError, drgn.BadDataError, ValueError) as exc:
        # 32-bit arm: plain drgn refuses a dump without NT_AUXV.  Then only we get the
        # thread at all.
        assert rec.get("arch") == "arm", exc
        assert ours[0] == ours[1]
        return
    assert "panic" in plain and "sysrq_handle_crash" in plain
    assert ours == [plain, plain]


#: Qualcomm's containers hold arm64 (and arm) kernels; x86_64's regions make the same files
#: (the containers name no arch but VMCOREINFO's); 32-bit arm's need a generated VMCOREINFO
FIRMWARE = {name: rec for name, rec in ALL.items()
            if rec.get("arch", "x86_64") in ("arm64", "x86_64")}


@_param(FIRMWARE)
def test_md_dir_and_rawdump_give_drgn_what_the_full_dump_does(name, tmp_path):
    """The minidump's regions handed over as firmware does -- md_K*.BIN blobs with a Sahara
    table (no ELF header blob), and one Raw_Dmp! image (checks.py writes both) -- opened by
    Capture.drgn with no build step: release, jiffies_64 and the log of the full dump."""
    import minidump
    from builders.realkernel import load_tool
    checks = load_tool("checks")
    rec = _rec(name)
    with minidump.open(rec["vmcore"]) as full:
        want = facts(full.drgn(vmlinux=rec["vmlinux"]))
    # the v3 default set alone: static meminspect IDs 4..43 hold it
    with minidump.extract(rec["vmcore"], vmlinux=rec["vmlinux"], regions="v3-default") as mini:
        info_text = mini.vmcoreinfo.raw
        regions = [{"name": r.name, "paddr": r.paddr, "vaddr": r.vaddr,
                    "data": mini.read(r.paddr, r.size)} for r in mini.regions
                   if r.status is minidump.Status.WRITTEN and r.name != "VMCOREINFO"]
    dump = checks.FullDump(rec["vmcore"])
    try:
        vmcoreinfo_pa = dump.find_page(info_text[:64])
    finally:
        dump.close()
    rows = checks.write_md_dir(tmp_path / "md", info_text, vmcoreinfo_pa, regions)
    checks.write_rawdump(tmp_path / "rawdump.bin", rows)
    for source in (tmp_path / "md", tmp_path / "rawdump.bin"):
        with minidump.open(source) as cap:
            assert "md_" in cap.container or "Raw_Dmp!" in cap.container, cap.container
            assert facts(cap.drgn(vmlinux=rec["vmlinux"])) == want, source.name
