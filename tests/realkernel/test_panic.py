"""A real kernel that panicked: triage from the log, and ``extract --profile triage`` (opt-in).

Run:  python tools/realkernel/harness.py capture --panic-kaslr      # x86_64, sysrq-c, panic=0
      python tools/realkernel/harness.py capture --panic-nokaslr
      python tools/realkernel/harness.py --arch arm64 capture --panic-kaslr   # arm64, the same
      python tools/realkernel/harness.py --arch arm64 capture --panic-nokaslr
      python tools/realkernel/harness.py --arch arm capture --panic-nokaslr       # no KASLR
      python tools/realkernel/harness.py --arch riscv64 capture --panic-nokaslr   # no KASLR
      MINIDUMP_REALKERNEL=1 python -m pytest -m realkernel tests/realkernel/test_panic.py -q

The judges: the guest's own serial console (what the kernel printed while it
panicked) for ``info``'s event, context and call trace; drgn with the vmlinux
for the crashed thread's stack trace on the triage minidump against the full dump.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from builders.realkernel import captures
from minidump.cli import main
from minidump.kernel.crash import frame_text

ENABLED = os.environ.get("MINIDUMP_REALKERNEL") == "1"
pytestmark = [pytest.mark.realkernel,
              pytest.mark.skipif(not ENABLED, reason="opt-in: MINIDUMP_REALKERNEL=1")]


PANICS = captures(("x86_64", "arm64"), ("panics",))
NAMES = ["cloud-amd64-panic-kaslr", "cloud-amd64-panic-nokaslr", "cloud-arm64-panic-kaslr",
         "cloud-arm64-panic-nokaslr"]
_TS = re.compile(r"^\[\s*\d+\.\d+\] ")


@pytest.fixture(params=NAMES)
def rec(request):
    if request.param not in PANICS:
        arch = "x86_64" if "amd64" in request.param else "arm64"
        variant = request.param.split("-", 2)[2]
        pytest.skip(f"no {request.param}: python tools/realkernel/harness.py --arch {arch} "
                    f"capture --{variant}")
    return PANICS[request.param]


def console_trace(path: str) -> tuple[list[str], str]:
    """The call trace the kernel printed on the serial console after 'Kernel panic', and the
    CPU line."""
    lines = [_TS.sub("", line).strip() for line in Path(path).read_text(errors="replace")
             .splitlines() if _TS.match(line)]
    start = next(i for i, line in enumerate(lines) if line.startswith("Kernel panic"))
    cpu = next(line for line in lines[start:] if line.startswith("CPU: "))
    trace = next(i for i in range(start, len(lines)) if lines[i].lower() == "call trace:")
    frames = []
    for line in lines[trace + 1:]:
        if line in ("<TASK>", "</TASK>") or line.startswith(("RIP: 0033", "Code:", "RSP:", "RAX:",
                                                            "RDX:", "RBP:", "R10:", "R13:")):
            if line == "</TASK>":
                break
            continue
        if "+0x" not in line:
            break
        frames.append(line)
    return frames, cpu


def _info(path: str, capsys) -> dict:
    assert main(["info", path, "--json"]) in (0, 3)
    return json.loads(capsys.readouterr().out)


def test_info_names_the_event_and_trace_as_the_console_printed_them(rec, capsys):
    crash = _info(rec["vmcore"], capsys)["crash"]
    frames, cpu_line = console_trace(rec["console_log"])
    assert crash["event"] == "sysrq-crash"
    assert crash["panic"]["message"] == "sysrq triggered crash" and crash["panic"]["ended"]
    assert [frame_text(f) for f in crash["frames"]] == frames
    ctx = crash["context"]
    assert cpu_line.startswith(f"CPU: {ctx['cpu']} PID: {ctx['pid']} Comm: {ctx['comm']} ")
    assert ctx["release"] == rec["kernel_release"] and ctx["taint"]["flags"] == ""
    assert crash["signature"]["basis"].startswith("sysrq-crash: ")
    assert crash["log"]["lost"] == 0 and crash["log"]["notes"] == []


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_signature_is_the_same_with_and_without_kaslr(arch, capsys):
    names = [f"cloud-{arch}-panic-kaslr", f"cloud-{arch}-panic-nokaslr"]
    if not all(n in PANICS for n in names):
        pytest.skip(f"needs both {names}")
    one, two = (_info(PANICS[n]["vmcore"], capsys)["crash"] for n in names)
    assert one["kernel_offset"] != two["kernel_offset"] or arch == "arm64"
    assert one["signature"] == two["signature"]


def _drgn_trace(vmcore: str, vmlinux: str) -> list[str]:
    """The crashed thread's kernel frames: up to the first frame with no symbol (the
    user-space return address; past it drgn unwinds user memory, which a minidump lacks)."""
    drgn = pytest.importorskip("drgn")
    prog = drgn.Program()
    prog.set_core_dump(vmcore)
    prog.load_debug_info([vmlinux])
    names = []
    for frame in prog.crashed_thread().stack_trace():
        if frame.name is None or frame.name.startswith("0x"):
            break
        names.append(frame.name)
    return names


def test_triage_minidump_gives_drgn_the_same_crashed_thread(rec, tmp_path, capsys):
    out = str(tmp_path / "triage.vmcore")
    assert main(["extract", "--json", "--vmlinux", rec["vmlinux"], rec["vmcore"],
                 "--regions", "v3-default", "--profile", "triage", "-o", out]) == 0
    doc = json.loads(capsys.readouterr().out)
    names = {a["name"] for a in doc["profile"]}
    assert {"task_struct[cpu0]", "task_struct[cpu1]"} <= names
    assert any(n.startswith("stack[cpu0]") for n in names)
    size = os.path.getsize(out)
    assert size < 2 << 20, size
    full = _drgn_trace(rec["vmcore"], rec["vmlinux"])
    assert "panic" in full and "sysrq_handle_crash" in full
    assert _drgn_trace(out, rec["vmlinux"]) == full
    # and info on the minidump tells the same story as on the full dump
    assert _info(out, capsys)["crash"]["signature"] == \
        _info(rec["vmcore"], capsys)["crash"]["signature"]


def test_symbols_profile_keeps_the_kallsyms_tables_whole(rec, tmp_path, capsys):
    import minidump
    from minidump.elf.vmlinux import Vmlinux
    out = str(tmp_path / "symbols.vmcore")
    assert main(["extract", "--json", "--vmlinux", rec["vmlinux"], rec["vmcore"],
                 "--regions", "v3-default", "--profile", "symbols", "-o", out]) == 0
    added = {a["name"]: a for a in json.loads(capsys.readouterr().out)["profile"]}
    region = added["kallsyms"]
    with Vmlinux.open(rec["vmlinux"]) as image, minidump.open(out) as cap:
        first = min(image.symbols.get(n).value for n in ("kallsyms_offsets", "kallsyms_addresses")
                    if n in image.symbols)
        shift = region["vaddr"] - first
        for name in ("kallsyms_names", "kallsyms_token_table", "kallsyms_token_index"):
            link = image.symbols.get(name).value
            assert cap.read_virt(link + shift, 512) == image.read_link(link, 512), name


_CONSOLE_FRAME = re.compile(r"^\[<[0-9a-f]+>\] (?P<func>[^\s+]+)\+0x")        # riscv
_CONSOLE_FROM = re.compile(r"^(?P<callee>\S+) from (?P<caller>[^\s+]+)\+0x")   # 32-bit arm


def console_functions(path: str) -> list[str]:
    """The function names of the panicking CPU's trace on the console, riscv's
    "[<addr>] func+off/size" or 32-bit arm's "callee from caller+off/size" lines."""
    lines = [_TS.sub("", line).strip() for line in Path(path).read_text(errors="replace")
             .splitlines() if _TS.match(line)]
    start = next(i for i, line in enumerate(lines) if line.startswith("Kernel panic"))
    names: list[str] = []
    for line in lines[start + 1:]:
        riscv, arm = _CONSOLE_FRAME.match(line), _CONSOLE_FROM.match(line)
        if riscv:
            names.append(riscv["func"])
        elif arm:
            names += ([arm["callee"]] if not names else []) + [arm["caller"]]
        elif names:
            break
    return names


OTHER_PANICS = captures(("arm", "riscv64"), ("panics",))


@pytest.mark.parametrize("name", sorted(OTHER_PANICS) or ["none"])
def test_arm_and_riscv64_panics_named_as_the_console_printed_them(name, tmp_path, capsys):
    """32-bit arm and riscv64 print their traces in their own formats; info (and the
    minidump extract keeps) names the same event, message and functions."""
    if name not in OTHER_PANICS:
        pytest.skip("no arm/riscv64 panic capture: harness.py --arch arm capture --panic-nokaslr")
    rec = OTHER_PANICS[name]
    want = console_functions(rec["console_log"])
    assert len(want) >= 4
    mini = str(tmp_path / "mini.vmcore")
    assert main(["extract", "--vmlinux", rec["vmlinux"], rec["vmcore"], "--regions",
                 "v3-default", "--profile", "crash", "-o", mini]) == 0
    capsys.readouterr()
    for path in (mini, rec["vmcore"]):
        extra = [] if rec.get("vmcoreinfo_present") else ["--vmlinux", rec["vmlinux"]]
        assert main(["info", path, *extra, "--json"]) in (0, 3)
        crash = json.loads(capsys.readouterr().out)["crash"]
        assert crash["event"] == "sysrq-crash"
        assert crash["panic"]["message"] == "sysrq triggered crash"
        assert [f["function"] for f in crash["frames"]] == want, path
