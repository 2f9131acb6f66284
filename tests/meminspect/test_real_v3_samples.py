"""Real meminspect v3 kernels, as firmware hands them over (CI; no kernel needed).

``tests/data/meminspect-v3/<capture>/`` holds what ``tools/realkernel/meminspect_kernels.py
samples`` bundled from a real boot of the v3 series on Linux 7.2.13 under QEMU, panicked
with sysrq-c: QDL's ``minidump.elf``, the kernel's own runtime table (``table.json``: id,
va, pa, size, and what the kernel registered there, from its source and its own
pointers) and the serial console.  The backend's ``md_*.BIN`` files are rebuilt from them
as the harness does.  With nothing but the input, minidump must give the kernel's IDs,
objects and log.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from builders.console import kernel_lines, shown_lines

from minidump.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "data" / "meminspect-v3"
NAMES = sorted(p.name for p in SAMPLES.iterdir() if (p / "table.json").exists()) \
    if SAMPLES.is_dir() else []


@pytest.fixture(params=NAMES)
def sample(request) -> Path:
    return SAMPLES / request.param


def _json(capsys, *argv: str):
    rc = main([*argv, "--json"])
    out = capsys.readouterr()
    assert rc in (0, 3), out.err
    return json.loads(out.out)


def _table(sample: Path) -> list[dict]:
    return json.loads((sample / "table.json").read_text())


def _elf(sample: Path) -> Path:
    """QDL's minidump.elf; none where the kernel registered no ELF header (v3 on 16K pages:
    the header's page count rounds down to 0 and its allocation fails)."""
    if not (sample / "minidump.elf").exists():
        pytest.skip(f"{sample.name}: the kernel registered no ELF header")
    return sample / "minidump.elf"


def _md(sample: Path, tmp_path: Path) -> Path:
    if (sample / "md").is_dir():
        return sample / "md"     # bundled as the firmware handed it over (with its table)
    from builders.realkernel import load_tool
    tool = load_tool("meminspect_kernels")
    md = tmp_path / "md"
    md.mkdir()
    for name, data in tool.md_files((sample / "minidump.elf").read_bytes(),
                                    _table(sample)).items():
        (md / name).write_bytes(data)
    return md


def _console(sample: Path) -> list[str]:
    return kernel_lines((sample / "console.log").read_text())


def _log(capsys, path: str) -> list[str]:
    return shown_lines(_json(capsys, "dmesg", path))


def test_samples_are_bundled():
    assert {"x86_64", "arm64-va52-cortex-a57", "arm64-va39-cortex-a57", "arm64-16k-max"} <= \
        set(NAMES)


def test_minidump_elf_ids_and_objects(sample, capsys):
    """QDL's minidump.elf has no IDs: they come from the header's order and the capture's
    evidence, and must be the kernel's."""
    doc = _json(capsys, "regions", str(_elf(sample)))
    table = {row["id"]: row for row in _table(sample)}
    got = {r["id"]: r for r in doc["regions"]}
    assert set(got) == set(table) - {1, 2}      # the header and note are the file's own
    for ident, r in got.items():
        row = table[ident]
        assert (r["paddr"], r["vaddr"], r["object"]) == (row["pa"], row["va"], row["object"])
    assert "unknown" not in {r["object"] for r in doc["regions"]}


def test_md_files_ids_and_objects(sample, capsys, tmp_path):
    doc = _json(capsys, "regions", str(_md(sample, tmp_path)))
    table = {row["id"]: row for row in _table(sample)}
    got = {r["id"]: r for r in doc["regions"]}
    assert set(got) == set(table)
    for ident, r in got.items():
        assert r["object"] == table[ident]["object"], ident
        if ident > 2:       # md files carry no address for the header and VMCOREINFO
            assert (r["paddr"], r["vaddr"]) == (table[ident]["pa"], table[ident]["va"])


@pytest.mark.parametrize("form", ["minidump.elf", "md"])
def test_log_is_what_the_console_printed(sample, form, capsys, tmp_path):
    path = _elf(sample) if form == "minidump.elf" else _md(sample, tmp_path)
    assert _log(capsys, str(path)) == _console(sample)


@pytest.mark.parametrize("form", ["minidump.elf", "md"])
def test_info_release_and_empty_prstatus(sample, form, capsys, tmp_path):
    path = _elf(sample) if form == "minidump.elf" else _md(sample, tmp_path)
    facts = _json(capsys, "info", str(path))["facts"]
    kernel = json.loads((sample / "kernel.json").read_text())
    assert facts["release"] == kernel["release"]
    if not (sample / "minidump.elf").exists():
        assert facts["cpus"] == []      # no kernel ELF header: no notes at all
        return
    # meminspect's NT_PRSTATUS is all zeros, panic or not: no PC of 0 as a fact
    assert facts["cpus"] and all(c["empty"] and c["pc"] is None for c in facts["cpus"])
    main(["info", str(path)])
    assert "NT_PRSTATUS present but empty" in capsys.readouterr().out


def test_build_from_md_keeps_every_region(sample, capsys, tmp_path):
    out = tmp_path / "out.vmcore"
    doc = _json(capsys, "build", "--from-table", str(_md(sample, tmp_path)), "-o", str(out))
    assert doc["totals"]["lost"] == 0
    assert doc["totals"]["regions"] == len(_table(sample))
    assert _log(capsys, str(out)) == _console(sample)


def _full(sample: Path) -> Path:
    if not (sample / "full-trimmed.vmcore").exists():
        pytest.skip(f"{sample.name}: no trimmed full dump bundled")
    return sample / "full-trimmed.vmcore"


def test_full_dump_extract_without_vmlinux(sample, capsys, tmp_path):
    """A v3 kernel's full dump (QEMU's, cut to the pages minidump reads; no VMCOREINFO note):
    extract with nothing but the input writes exactly the kernel's runtime table."""
    full = _full(sample)
    out = tmp_path / "mini.vmcore"
    doc = _json(capsys, "extract", str(full), "-o", str(out))
    table = {row["id"]: row for row in _table(sample)}
    got = {r["id"]: r for r in doc["regions"] if r["status"] in ("written", "duplicate")}
    assert set(got) == set(table)
    for ident, row in table.items():
        r = got[ident]
        assert (r["paddr"], r["vaddr"], r["size"], r["object"]) == (
            row["pa"], row["va"], row["size"], row["object"]), ident
    assert "found in memory" in doc["vmcoreinfo"]
    assert _log(capsys, str(out)) == _console(sample)
    assert _log(capsys, str(full)) == _console(sample)
