"""crash in normal mode on ``extract --profile crash`` output of the real panics (opt-in).

Run:  python tools/realkernel/harness.py capture --panic-kaslr       # x86_64, sysrq-c
      python tools/realkernel/harness.py capture --panic-nokaslr
      MINIDUMP_REALKERNEL=1 python -m pytest -m realkernel \
          tests/realkernel/test_crash_normal_mode.py -q

The judges are the host's crash (Debian 12: 8.0.2) and the newest packaged one (sid's
9.0.x, from ../shared/tools/crash-newer/setup.sh; skipped without it), with meminspect v3's
recipe
(``-s --no_modules --no_panic --no_kmem_cache --zero_excluded``): it must reach its
prompt on the minidump and print, for every command below, what it prints on the
full dump.  The size is judged against ``makedumpfile -d 31`` of the same dump.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from builders.realkernel import captures, load_harness
from minidump.cli import main

ENABLED = os.environ.get("MINIDUMP_REALKERNEL") == "1"
pytestmark = [pytest.mark.realkernel,
              pytest.mark.skipif(not ENABLED, reason="opt-in: MINIDUMP_REALKERNEL=1"),
              pytest.mark.skipif(shutil.which("crash") is None, reason="needs crash")]

PANICS = captures(("x86_64",), ("panics",))
NAMES = ["cloud-amd64-panic-kaslr", "cloud-amd64-panic-nokaslr"]
#: what the issue asks crash to print as on the full dump; ``bt -a`` is every CPU's
#: active task, the panic task among them
COMMANDS = ["sys", "ps", "bt -a", "p jiffies", "p nr_irqs", "p node_states", "log"]


#: the newest packaged crash (9.0.x from sid), made by ../shared/tools/crash-newer/setup.sh
NEWER = Path(os.environ.get("CRASH_NEWER", Path.home() / ".cache" / "crash-newer" /
                            "crash-x86_64"))
CRASHES = ["host", "newer"]


@pytest.fixture(params=CRASHES)
def crash(request) -> list[str] | None:
    if request.param == "newer":
        if not NEWER.exists():
            pytest.skip(f"no newer crash at {NEWER}: run ../shared/tools/crash-newer/setup.sh "
                        "(or set CRASH_NEWER)")
        return [str(NEWER)]
    return None


@pytest.fixture(params=NAMES, scope="module")
def rec(request):
    if request.param not in PANICS:
        variant = request.param.split("-", 2)[2]
        pytest.skip(f"no {request.param}: python tools/realkernel/harness.py capture "
                    f"--{variant}")
    return PANICS[request.param]


@pytest.fixture(scope="module")
def minidump(rec, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("crash-normal") / "mini.vmcore"
    assert main(["extract", "-q", "--vmlinux", rec["vmlinux"], rec["vmcore"],
                 "--regions", "v3-default", "--profile", "crash", "-o", str(out)]) == 0
    return out


def _sections(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_crash_normal_mode_prints_what_the_full_dump_prints(rec, minidump, crash):
    harness = load_harness()
    full = harness.crash_normal_session(rec["vmlinux"], rec["vmcore"], COMMANDS, crash=crash)
    mini = harness.crash_normal_session(rec["vmlinux"], str(minidump), COMMANDS, crash=crash)
    # the full dump reached its prompt and printed the panic and its task's trace
    assert "PANIC: \"Kernel panic - not syncing: sysrq triggered crash\"" in full
    assert "sysrq_handle_crash at" in full and "minidump-harness: hello" in full
    assert _sections(mini) == _sections(full)


def test_crash_profile_is_ten_times_smaller_than_makedumpfile_d31(rec, minidump, tmp_path):
    mdf = shutil.which("makedumpfile")
    if mdf is None:
        pytest.skip("needs makedumpfile (apt-get install makedumpfile)")
    harness = load_harness()
    normalized = tmp_path / "normalized.vmcore"
    harness.normalized_elf_copy(Path(rec["vmcore"]), normalized)
    out = tmp_path / "d31.kdump"
    subprocess.run([mdf, "-d", "31", "-x", rec["vmlinux"], str(normalized), str(out)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=1800)
    normalized.unlink()
    assert minidump.stat().st_size * 10 <= out.stat().st_size, \
        (minidump.stat().st_size, out.stat().st_size)


def test_info_crash_verdict_is_what_real_crash_does(rec, minidump, tmp_path, capsys):
    """``info``'s crash (normal mode) verdict against crash itself: the crash profile's
    output opens at v3's command line; the triage profile's stops where info says, at
    gdb's disassembly of ``common_interrupt`` (no kernel text in that profile)."""
    harness = load_harness()
    triage = tmp_path / "triage.vmcore"
    assert main(["extract", "-q", "--vmlinux", rec["vmlinux"], rec["vmcore"],
                 "--regions", "v3-default", "--profile", "triage", "-o", str(triage)]) == 0
    verdicts = {}
    for case, path in (("crash", minidump), ("triage", triage)):
        main(["info", str(path), "--vmlinux", rec["vmlinux"], "--json"])
        answer = next(c for c in json.loads(capsys.readouterr().out)["consumers"]
                      if c["consumer"] == "crash")
        assert answer["command"].startswith(" ".join(("crash", *harness.CRASH_NORMAL)))
        printed = harness.crash_normal_session(rec["vmlinux"], str(path), ["p jiffies"])
        prompt = "jiffies = $1 = " in printed
        assert answer["ready"] is prompt, (case, answer, printed[-400:])
        verdicts[case] = (answer["ready"], answer["blocker"], printed)
    assert verdicts["crash"][:2] == (True, None)
    blocker, printed = verdicts["triage"][1], verdicts["triage"][2]
    assert blocker.startswith("common_interrupt (text) missing")
    # the address info names is the one crash failed to read
    address = blocker.split(" at 0x")[1].rstrip(")")
    assert f"read error: kernel virtual address: {address}" in printed
