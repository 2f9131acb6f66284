"""``build``'s report: a summary and the rows that need attention; every row one flag away;
``-q`` prints nothing when all is well and never hides a loss."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from minidump.cli import main

ROOT = Path(__file__).resolve().parents[2]
MD = ROOT / "samples" / "arm64-meminspect" / "md"


def _damaged(tmp_path) -> Path:
    md = tmp_path / "md"
    shutil.copytree(MD, md)
    (md / "md_Kconfig3.BIN").write_bytes((md / "md_Kconfig3.BIN").read_bytes()[:16])
    (md / "md_Ktotalram4.BIN").unlink()
    return md


def test_default_is_a_summary(tmp_path, capsys):
    assert main(["build", "--from-table", str(MD), "-o", str(tmp_path / "v")]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].endswith(f"md_*.BIN directory → {tmp_path / 'v'}")
    assert "53 regions: 53 written; 203.3 KiB of region data; vmcore 223.2 KiB" in lines
    assert "addresses: the kernel's ELF header (md_KELF1.BIN)" in lines
    assert "VMCOREINFO: 6.18.0-rc2-minidump-sample (3430 bytes from md_Kvmcorein2.BIN)" in lines
    assert "0xffff000072a00000" not in out and "need attention" not in out
    assert len(lines) == 5 and err == ""


def test_losses_are_the_rows_shown(tmp_path, capsys):
    md = _damaged(tmp_path)
    assert main(["build", "--from-table", str(md), "-o", str(tmp_path / "v")]) == 3
    out = capsys.readouterr().out
    assert "2 regions need attention (--table lists every region)" in out
    assert "Kconfig" in out and "Ktotalram" in out
    assert "Kvmcorein" not in out.replace("md_Kvmcorein2.BIN)", "")   # fine rows are left out
    assert "short" in out and "missing" in out


def test_table_and_verbose_list_every_row(tmp_path, capsys):
    for flag in ("--table", "-v", "--verbose"):
        assert main(["build", "--from-table", str(MD), flag, "--force",
                     "-o", str(tmp_path / "v")]) == 0
        out = capsys.readouterr().out
        assert out.count("written") >= 53 and "0xffff000072a00000" in out, flag


def test_quiet_is_silent_when_all_is_well(tmp_path, capsys):
    assert main(["build", "--from-table", str(MD), "-q", "-o", str(tmp_path / "v")]) == 0
    assert capsys.readouterr() == ("", "")


def test_quiet_never_hides_a_loss(tmp_path, capsys):
    md = _damaged(tmp_path)
    assert main(["build", "--from-table", str(md), "-q", "-o", str(tmp_path / "v")]) == 3
    out, err = capsys.readouterr()
    assert out == ""
    lost = err.splitlines()
    assert len(lost) == 2 and all(line.startswith("minidump: lost: ID ") for line in lost)
    assert any("Kconfig" in line and "short" in line for line in lost)
    assert any("Ktotalram" in line and "missing" in line for line in lost)


def test_quiet_names_a_missing_vmcoreinfo(tmp_path, capsys):
    md = tmp_path / "md"
    shutil.copytree(MD, md)
    (md / "md_Kvmcorein2.BIN").unlink()
    assert main(["build", "--from-table", str(md), "-q", "-o", str(tmp_path / "v")]) == 3
    out, err = capsys.readouterr()
    assert out == "" and "no VMCOREINFO" in err


def test_json_is_every_row(tmp_path, capsys):
    assert main(["build", "--from-table", str(MD), "--json", "-o", str(tmp_path / "v")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["regions"]) == 53 and doc["addresses"].startswith("the kernel's ELF header")


def test_a_clean_summary_does_not_load_rich(tmp_path):
    """rich is most of the report's cost; a summary without attention rows does not need it."""
    import subprocess
    import sys
    code = ("import sys; from minidump.cli import main; "
            f"rc = main(['build', '--from-table', {str(MD)!r}, '-o', {str(tmp_path / 'v')!r}]); "
            "print(rc, 'rich' in sys.modules, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stderr.split() == ["0", "False"]
    assert "53 regions: 53 written" in proc.stdout


def test_without_the_header_blob_the_addresses_are_the_side_tables(tmp_path, capsys):
    """md-nokelf: the kernel's header blob is the region that is missing, so it cannot have
    given the addresses; the Sahara table did."""
    assert main(["build", "--from-table", str(MD.parent / "md-nokelf"), "-o",
                 str(tmp_path / "v")]) == 3
    lines = capsys.readouterr().out.splitlines()
    assert ("addresses: the Sahara memory-debug table (sahara_table.bin); the kernel's ELF "
            "header was not captured") in lines
