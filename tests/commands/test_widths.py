"""Reports at any width: numbers whole at 40, 80 and 200 columns, in a pty and in a pipe.

What gives way first is the text (names, sources: an ellipsis), then the layout
(a stacked view); an address, size, ID or status is never cut.  In a pipe no
line is hard-wrapped or padded, and ``COLUMNS`` is the layout width.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from minidump.cli import main
from minidump.report import safe_document
from minidump.report.console import (render_build, render_info, render_regions,
                                     render_triage, render_vmcoreinfo)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "arm64-meminspect"
WIDTHS = (40, 80, 200)
#: a number as a word of its own (not part of a name such as ``ddr5.bin@0x0``): an
#: address, a hash (build-id, crash signature), a time
NUMBER = re.compile(r"(?<![\w@.\-/])(?:0x[0-9a-f]+|[0-9a-f]{8,}|\d+\.\d+)(?![\w.])")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
BOX = re.compile("[│┃┏┗┡└┌]")


def _json(capsys, *argv: str) -> dict:
    main([*argv, "--json"])
    return json.loads(capsys.readouterr().out)


def _damaged(tmp_path) -> Path:
    """The sample md directory with one blob cut short and one missing."""
    md = tmp_path / "md"
    shutil.copytree(SAMPLE / "md", md)
    (md / "md_Kconfig3.BIN").write_bytes((md / "md_Kconfig3.BIN").read_bytes()[:16])
    (md / "md_Ktotalram4.BIN").unlink()
    return md


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    """Every kind of report, from the sample (and a damaged copy of it)."""
    import _pytest.capture  # noqa: F401  (capsys is function-scoped; capture by hand)
    tmp = tmp_path_factory.mktemp("widths")
    out = {}

    def run(*argv):
        buf = io.StringIO()
        saved, sys.stdout = sys.stdout, buf
        try:
            main([*argv, "--json"])
        finally:
            sys.stdout = saved
        return buf.getvalue()

    out["regions"] = (render_regions, json.loads(run("regions", str(SAMPLE / "md"))))
    damaged = _damaged(tmp)
    out["build"] = (render_build, json.loads(run("build", "--from-table", str(damaged),
                                                 "-o", str(tmp / "d.vmcore"))))
    out["info"] = (render_info, json.loads(run("info", str(SAMPLE / "md"))))
    out["vmcoreinfo"] = (render_vmcoreinfo, json.loads(run("vmcoreinfo", str(SAMPLE / "md"))))
    lines = run("triage", str(SAMPLE / "md"), str(SAMPLE / "rawdump.img"), "--workers", "1")
    objects = [json.loads(line) for line in lines.splitlines()]
    out["triage"] = (render_triage, {"records": objects[:-1], "summary": objects[-1]})
    return {k: (render, safe_document(doc)) for k, (render, doc) in out.items()}


def _render(render, doc, width):
    out = io.StringIO()
    render(doc, out, width=width)
    return out.getvalue()


def _numbers(text: str) -> set[str]:
    return set(NUMBER.findall(text))


def _check_layout(text: str, width: int) -> None:
    for line in text.splitlines():
        assert line == line.rstrip(" "), f"padded line: {line!r}"
        if BOX.search(line):     # table lines fit; free text is left to the terminal
            from rich.cells import cell_len
            assert cell_len(line) <= width, f"{cell_len(line)} > {width}: {line}"


@pytest.mark.parametrize("kind", ["regions", "build", "info", "vmcoreinfo", "triage"])
@pytest.mark.parametrize("width", WIDTHS)
def test_every_number_whole_at_every_width(documents, kind, width):
    render, doc = documents[kind]
    wide = _render(render, doc, None)       # a pipe without COLUMNS: as wide as needed
    narrow = _render(render, doc, width)
    assert _numbers(wide) and _numbers(wide) <= _numbers(narrow), \
        sorted(_numbers(wide) - _numbers(narrow))[:5]
    _check_layout(narrow, width)
    _check_layout(wide, 10**6)


@pytest.mark.parametrize("width", WIDTHS)
def test_region_rows_whole_at_every_width(documents, width):
    render, doc = documents["regions"]
    text = _render(render_regions, doc, width)
    for row in doc["regions"]:
        for value in (row["paddr"], row["vaddr"], row["size"]):
            assert value is None or re.search(rf"(?<![\w]){value:#x}(?!\w)", text), (width, row)
        assert re.search(rf"(?<!\w){row['id']}(?!\w)", text)
    assert text.count("written") >= len(doc["regions"])
    if width == 40:
        assert "┃" not in text          # too narrow for the table: the stacked view
    if width == 200:
        assert "md_Kvmcorein2.BIN" in text and "┃" in text


def test_build_summary_lists_only_what_needs_attention(documents):
    text = _render(render_build, documents["build"][1], 200)
    assert "53 regions: 52 written, 1 short, 1 missing" not in text   # counts by status:
    assert re.search(r"\d+ regions: .*short.*missing|\d+ regions: .*missing.*short", text)
    assert "regions need attention" in text
    assert "Kconfig" in text and "Ktotalram" in text and "md_KELF1.BIN " not in text
    assert "addresses: the kernel's ELF header (md_KELF1.BIN)" in text
    assert "VMCOREINFO: 6.18.0-rc2-minidump-sample" in text


def _pty(argv: list[str], columns: int, env: dict) -> str:
    """Run ``argv`` with stdout and stderr on a pty of ``columns`` columns."""
    import fcntl
    import struct
    import termios
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:          # EIO: the child closed the pty
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=60) in (0, 3)
    return ANSI.sub("", b"".join(chunks).decode()).replace("\r\n", "\n")


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env.update(TERM="xterm-256color", **extra)
    return env


COMMAND = [sys.executable, "-m", "minidump"]


@pytest.mark.parametrize("width", WIDTHS)
def test_regions_in_a_pty(width, documents):
    text = _pty([*COMMAND, "regions", str(SAMPLE / "md")], width, _env())
    _, doc = documents["regions"]
    for row in doc["regions"]:
        for value in (row["paddr"], row["vaddr"], row["size"]):
            assert f"{value:#x}" in text
    for line in text.splitlines():
        if BOX.search(line):
            assert len(line) <= width, line


@pytest.mark.parametrize("width", WIDTHS)
def test_info_and_vmcoreinfo_in_a_pty(width, documents):
    for kind, argv in (("info", ["info"]), ("vmcoreinfo", ["vmcoreinfo", "--table"])):
        text = _pty([*COMMAND, *argv, str(SAMPLE / "md")], width, _env())
        wide = _render(documents[kind][0], documents[kind][1], None)
        assert _numbers(wide) <= _numbers(text), (kind, width)


@pytest.mark.parametrize("columns", [None, 40, 80, 200])
def test_pipe_plain_lines(tmp_path, columns):
    env = _env(NO_COLOR="1") if columns is None else _env(COLUMNS=str(columns), NO_COLOR="1")
    md = _damaged(tmp_path)
    proc = subprocess.run([*COMMAND, "build", "--from-table", str(md), "-o",
                           str(tmp_path / "out")], env=env, capture_output=True, text=True)
    assert proc.returncode == 3
    out = proc.stdout
    assert "\x1b" not in out
    for line in out.splitlines():
        assert line == line.rstrip(), repr(line)
    # one warning, one line: grep finds all of it
    (warning,) = [line for line in out.splitlines() if line.startswith("warning: 2 blobs")]
    assert warning.endswith("md_adsp_log.BIN, md_adsp_state.BIN")
    if columns is not None:
        for line in out.splitlines():
            if BOX.search(line):
                assert len(line) <= columns
    regions = subprocess.run([*COMMAND, "regions", str(SAMPLE / "md")], env=env,
                             capture_output=True, text=True).stdout
    assert "0xffff000072a00000" in regions and "written" in regions
    widest = max(len(line) for line in regions.splitlines() if BOX.search(line) or
                 line.startswith("ID "))
    assert widest <= (columns or 10**6)
    if columns is None:     # as wide as the table needs: nothing shortened
        assert "md_Kvmcorein2.BIN" in regions and "…" not in regions


def test_progress_bar_counts_binary_units_in_a_pty(tmp_path):
    """The bar (a terminal's stderr, over 64 MiB) says MiB and MiB/s or GiB/s, as reports do."""
    from builders.blobs import MIB, make_input
    make_input(str(tmp_path / "md"), count=8, total=80 * MIB)
    text = _pty([*COMMAND, "build", "--from-table", str(tmp_path / "md"), "-o",
                 str(tmp_path / "out")], 100, _env()).replace("\r", "\n")
    frames = [line for line in text.splitlines() if line.startswith("writing")]
    assert frames and all("/80.0 MiB" in f for f in frames), frames
    assert not re.search(r"\d (?:MB|GB|kB)", text)
    assert "80.0 MiB of region data" in text


UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


@pytest.mark.parametrize("width", WIDTHS)
def test_region_sizes_are_in_hex_and_for_people(capsys, width):
    """Each row's size in hex and, beside it, in binary units (1 KiB = 1024 bytes)."""
    regions = _json(capsys, "regions", str(SAMPLE / "md"))["regions"]
    proc = subprocess.run([sys.executable, "-m", "minidump", "regions", str(SAMPLE / "md")],
                          capture_output=True, text=True,
                          env=dict(os.environ, COLUMNS=str(width)))
    text = BOX.sub(" ", proc.stdout)
    pairs = re.findall(r"(0x[0-9a-f]+)\s+(\d+(?:\.\d)?) (B|KiB|MiB|GiB)\b", text)
    assert len(pairs) == len(regions), (width, text[:400])
    for region, (hexsize, value, unit) in zip(regions, pairs):
        assert int(hexsize, 16) == region["size"]
        if unit == "B":
            assert int(value) == region["size"] < 1024
        else:   # one decimal, of the largest unit the size reaches
            assert region["size"] >= UNITS[unit]
            assert abs(float(value) * UNITS[unit] - region["size"]) <= 0.05 * UNITS[unit]
    assert ("0x3e0c", "15.5", "KiB") in pairs and ("0x208", "520", "B") in pairs
