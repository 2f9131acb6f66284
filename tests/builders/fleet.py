"""A fleet of captures made from the sample: every container, several crashes, some corrupt.

Each capture is the sample (``samples/arm64-meminspect``) with its panic text
and release replaced by others of the same length, everywhere they occur in
its files (the printk text ring, VMCOREINFO, ``init_uts_ns``), so every
container stays consistent.  Unchanged files are hard links, so 1,000
captures take little disk.  Each capture gets its own mtime, a minute apart,
so "newest first" has something to sort.

:func:`make_fleet` returns the ground truth per capture: the container, the
status ``minidump triage`` must give and the panic line (None for none), which is each
variant's crash event (its sysrq line is made ordinary, and each crash text has its own
faulting function, so crash triage gives each text its own signature).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from builders import SAMPLES

PANIC = "Kernel panic - not syncing: "
SAMPLE_TEXT = "sysrq triggered crash"
#: crash texts of the sample's length (the ring's record lengths stay as they are)
TEXTS = (SAMPLE_TEXT, "Attempted to kill it!", "hung_task: blocked 1s", "Out of memory: no oom",
         "watchdog: hard LOCKUP")
SAMPLE_RELEASE = "6.18.0-rc2-minidump-sample"
RELEASES = (SAMPLE_RELEASE, "6.18.0-rc3-minidump-sample", "6.18.0-rc4-minidump-sample")
#: "Kernel panic - not syncing" replaced by a line of the same length: a log without a crash
NO_PANIC = ("Kernel panic - not syncing", "Kernel state - all is fine")
#: the sample's sysrq line made an ordinary one, so each variant's first event is its panic
SYSRQ = ("sysrq: Trigger a crash", "sysrq: nothing to see.")
#: the faulting function of each crash text (same length as the sample's): crash triage's
#: signature names it, so each text is its own bug
FUNCTIONS = ("sysrq_handle_crash", "kill_it_attempted1", "hung_task_blocked1",
             "out_of_memory_noom", "watchdog_hardlock1")
KINDS = ("md", "rawdump", "elf", "ram")
CORRUPT = ("rawdump-truncated", "elf-truncated", "md-no-log", "md-no-vmcoreinfo",
           "ram-missing-image")
#: base of the captures' mtimes (2025-10-21 12:00:00 UTC)
EPOCH = 1761048000
DAY = 86400
assert all(len(t) == len(SAMPLE_TEXT) for t in TEXTS)
assert all(len(f) == len(FUNCTIONS[0]) for f in FUNCTIONS) and len(set(map(len, SYSRQ))) == 1
assert all(len(r) == len(SAMPLE_RELEASE) for r in RELEASES) and len(set(map(len, NO_PANIC))) == 1


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _variant(src: Path, dst: Path, swaps: list[tuple[bytes, bytes]], *,
             link: bool = True) -> None:
    """``src`` with ``swaps`` applied; a hard link when nothing changes and ``link`` allows
    (never for a capture that is one file: its mtime is set, and would be the sample's)."""
    data = src.read_bytes()
    changed = data
    for old, new in swaps:
        changed = changed.replace(old, new)
    if link and changed == data:
        _link_or_copy(src, dst)
    else:
        dst.write_bytes(changed)


def _vmcore(cache: Path) -> Path:
    """The sample as an ELF vmcore (written once by our own writer)."""
    import minidump
    path = cache / "sample.vmcore"
    if not path.exists():
        with minidump.open(SAMPLES / "md") as cap:
            cap.write_vmcore(path)
    return path


def make_capture(out: Path, kind: str, swaps: list[tuple[bytes, bytes]], cache: Path) -> Path:
    """One capture of container ``kind`` at ``out`` (+ suffix) with ``swaps`` applied."""
    if kind == "md":
        out.mkdir()
        for blob in sorted((SAMPLES / "md").iterdir()):
            _variant(blob, out / blob.name, swaps)
        return out
    if kind == "ram":
        out.mkdir()
        for image in sorted((SAMPLES / "ram").iterdir()):
            _variant(image, out / image.name, swaps)
        return out
    if kind == "rawdump":
        path = out.with_suffix(".img")
        _variant(SAMPLES / "rawdump.img", path, swaps, link=False)
        return path
    if kind == "elf":
        path = out.with_suffix(".vmcore")
        _variant(_vmcore(cache), path, swaps, link=False)
        return path
    raise ValueError(kind)


def make_corrupt(out: Path, kind: str, cache: Path) -> tuple[Path, str]:
    """A damaged capture and the status triage must give it."""
    if kind == "rawdump-truncated":
        path = out.with_suffix(".img")
        path.write_bytes((SAMPLES / "rawdump.img").read_bytes()[:300])
        return path, "error"
    if kind == "elf-truncated":
        path = out.with_suffix(".vmcore")
        path.write_bytes(_vmcore(cache).read_bytes()[:100])
        return path, "error"
    if kind == "md-no-log":
        make_capture(out, "md", [], cache)
        (out / "md_Kprb_data25.BIN").unlink()
        return out, "partial"
    if kind == "md-no-vmcoreinfo":
        make_capture(out, "md", [], cache)
        (out / "md_Kvmcorein2.BIN").unlink()
        return out, "partial"
    if kind == "ram-missing-image":
        make_capture(out, "ram", [], cache)
        (out / "ddr6.bin").unlink()
        return out, "error"
    raise ValueError(kind)


def make_fleet(root: Path, count: int, *, corrupt_every: int = 20,
               no_panic_every: int = 25, epoch: int = EPOCH) -> dict[str, dict]:
    """``count`` captures under ``root`` (in nested folders, as a fleet's upload area might be).

    Every ``corrupt_every``-th capture is damaged (the kinds of :data:`CORRUPT`
    in turn), every ``no_panic_every``-th has no crash in its log; the others
    cycle through the containers, crash texts and releases.  Capture ``i``'s mtime
    is ``epoch + 60 * i`` (pass ``EPOCH + DAY`` for the next day's uploads).  Returns
    ``{path: {"kind", "status", "panic", "release"}}``.
    """
    cache = root.parent / f"{root.name}.cache"
    cache.mkdir(parents=True, exist_ok=True)
    truth: dict[str, dict] = {}
    for i in range(count):
        folder = root / f"device{i % 10:02d}" / f"day{i // 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / f"capture{i:05d}"
        if corrupt_every and i % corrupt_every == corrupt_every - 1:
            kind = CORRUPT[(i // corrupt_every) % len(CORRUPT)]
            path, status = make_corrupt(out, kind, cache)
            panic = None         # no log: none, unreadable, or no VMCOREINFO to find it
            release = None if status == "error" else SAMPLE_RELEASE
            if kind == "md-no-vmcoreinfo":
                release = None
            truth[str(path)] = {"kind": kind, "status": status, "panic": panic,
                                "release": release}
        else:
            kind = KINDS[i % len(KINDS)]
            text = TEXTS[i % len(TEXTS)]
            release = RELEASES[(i // 7) % len(RELEASES)]
            swaps = [(SAMPLE_TEXT.encode(), text.encode()),
                     (SAMPLE_RELEASE.encode(), release.encode()),
                     (SYSRQ[0].encode(), SYSRQ[1].encode()),
                     (FUNCTIONS[0].encode(), FUNCTIONS[i % len(TEXTS)].encode())]
            panic: str | None = PANIC + text
            if no_panic_every and i % no_panic_every == no_panic_every - 1:
                swaps.append((NO_PANIC[0].encode(), NO_PANIC[1].encode()))
                panic = None
            path = make_capture(out, kind, swaps, cache)
            truth[str(path)] = {"kind": kind, "status": "ok", "panic": panic,
                                "release": release}
        os.utime(path, (epoch + 60 * i, epoch + 60 * i))
    return truth


# -- per-capture functions that misbehave, for the "nothing lost" tests ----------------------
# (module level, so worker processes import them by name, as they import triage_one)

def dies_on_kill(spec: dict) -> dict:
    """triage_one, except that a capture named ``*kill*`` kills its worker (SIGKILL)."""
    import signal
    from minidump.fleet.triage import triage_one
    if "kill" in os.path.basename(spec["input"]):
        os.kill(os.getpid(), signal.SIGKILL)
    return triage_one(spec)


def raises_on_raise(spec: dict) -> dict:
    """triage_one, except that a capture named ``*raise*`` raises out of the function."""
    from minidump.fleet.triage import triage_one
    if "raise" in os.path.basename(spec["input"]):
        raise RuntimeError("injected failure\nsecond line")
    return triage_one(spec)


def hangs_on_hang(spec: dict) -> dict:
    """triage_one, except that a capture named ``*hang*`` never returns."""
    import time
    from minidump.fleet.triage import triage_one
    if "hang" in os.path.basename(spec["input"]):
        while True:
            time.sleep(1)
    return triage_one(spec)


def hangs_telling_pid(spec: dict) -> dict:
    """hangs_on_hang, writing the hanging process's id to ``INPUT.pid`` first."""
    if "hang" in os.path.basename(spec["input"]):
        with open(spec["input"] + ".pid", "w") as fh:
            fh.write(str(os.getpid()))
    return hangs_on_hang(spec)


def slow_core(path):
    """A real input that takes a long time: an ELF core of 40,000 overlapping 1 MiB PT_LOADs
    (sparse, so it costs no disk) whose overlaps the planner must compare page by page."""
    from builders.elf import core, phdr
    from minidump.formats.elf import PT
    count = 40_000
    table = [phdr(p_type=PT.LOAD, p_offset=0x1000000 + i * 0x1000, p_vaddr=0,
                  p_paddr=0x80000000 + i * 0x1000, p_filesz=1 << 20, p_memsz=1 << 20)
             for i in range(count)]
    with open(path, "wb") as fh:
        fh.write(core(table, at=0x1000000))
        fh.truncate(0x1000000 + count * 0x1000 + (1 << 20))
    return path
