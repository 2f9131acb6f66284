"""One voice across commands: global options on either side of the command, --json and -q
everywhere, the same mistake in the same words, the invoked name in usage and errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from minidump.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "arm64-meminspect"
MD = str(SAMPLE / "md")


@pytest.mark.parametrize("before", [True, False])
def test_json_before_or_after_the_command(capsys, before):
    argv = ["--json", "info", MD] if before else ["info", MD, "--json"]
    assert main(argv) in (0, 3)
    assert json.loads(capsys.readouterr().out)["facts"]["arch"] == "arm64"


def test_debug_before_the_command_shows_the_traceback():
    from minidump.errors import UsageError
    with pytest.raises(UsageError):
        main(["--debug", "info", "/nonexistent/capture"])
    with pytest.raises(UsageError):
        main(["info", "/nonexistent/capture", "--debug"])


def test_quiet_everywhere(capsys):
    """-q leaves reports out, before or after the command; never the data asked for."""
    for argv in (["-q", "info", MD], ["regions", MD, "-q"]):
        main(argv)
        assert capsys.readouterr().out == "", argv
    for argv in (["-q", "dmesg", MD], ["vmcoreinfo", MD, "-q"]):
        main(argv)
        assert capsys.readouterr().out != "", argv


def test_dmesg_json_records(capsys):
    assert main(["dmesg", MD, "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert records and set(records[0]) >= {"seq", "timestamp", "level", "caller", "text"}
    assert any("Kernel panic - not syncing" in r["text"] for r in records)
    main(["dmesg", MD])
    assert len(capsys.readouterr().out.splitlines()) >= len(records)


@pytest.mark.parametrize("command", [["build", "--from-table"], ["regions"], ["info"], ["dmesg"],
                                     ["vmcoreinfo"]])
def test_missing_input_same_status_and_words(tmp_path, capsys, command):
    extra = ["-o", str(tmp_path / "out")] if command[0] == "build" else []
    assert main([*command, "/nonexistent/capture", *extra]) == 2
    assert capsys.readouterr().err == \
        "minidump: error: /nonexistent/capture: no such file or directory\n"


def test_wrong_format_says_the_fix(capsys):
    assert main(["dmesg", "--format", "elf", str(SAMPLE / "rawdump.img")]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "b'" not in err
    assert "got 0x5261775f 'Raw_'; this is a rawdump input: drop --format elf" in err


def test_prog_follows_the_invoked_name(tmp_path):
    code = "import sys; from minidump.cli import main; sys.argv[0] = sys.argv[1]; " \
           "sys.exit(main(sys.argv[2:]))"
    for name in ("kminidump", "minidump"):
        proc = subprocess.run([sys.executable, "-c", code, f"/usr/bin/{name}", "--help"],
                              capture_output=True, text=True)
        assert proc.stdout.startswith(f"usage: {name} "), proc.stdout[:40]
        proc = subprocess.run([sys.executable, "-c", code, name, "build"],
                              capture_output=True, text=True)
        assert proc.returncode == 2 and proc.stderr.startswith(f"{name}: error: ")


def test_color_never_and_no_color(tmp_path):
    import os
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    for argv, extra in ((["--color", "never"], {}), ([], {"NO_COLOR": "1"})):
        proc = subprocess.run([sys.executable, "-m", "minidump", *argv, "regions", MD],
                              capture_output=True, text=True, env={**env, **extra})
        assert "\x1b[" not in proc.stdout and "written" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "minidump", "regions", MD, "--color", "always"],
                          capture_output=True, text=True, env=env)
    assert "\x1b[" in proc.stdout
