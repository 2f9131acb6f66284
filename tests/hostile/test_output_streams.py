"""stdout that cannot take the output: closed, full, gone (a broken pipe), or unable to
encode UTF-8.  Each gives one line on stderr and no traceback; a broken pipe gives the same
status (141) in every command; build's status is that of the vmcore it wrote; ``-q`` never
hides the data the user asked for."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from builders import SAMPLES

MD = str(SAMPLES / "md")
PRINTING = [["regions", MD], ["regions", MD, "--json"], ["info", MD], ["info", MD, "--json"],
            ["dmesg", MD], ["dmesg", MD, "--json"], ["vmcoreinfo", MD],
            ["vmcoreinfo", MD, "--json"]]
IDS = [" ".join(a[:1] + a[2:]) for a in PRINTING]


def _minidump(args, *, env=None, shell_redirect: str = "", stdout=subprocess.PIPE):
    argv = [sys.executable, "-m", "minidump", *args]
    environ = {**os.environ, **(env or {})}
    if shell_redirect:   # e.g. ">&-": the shell closes stdout before the program starts
        import shlex
        return subprocess.run(["sh", "-c", " ".join(map(shlex.quote, argv)) + " " + shell_redirect],
                              capture_output=True, env=environ, timeout=120)
    return subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, env=environ, timeout=120)


def _one_line(stderr: bytes) -> str:
    text = stderr.decode()
    assert "Traceback" not in text, text
    assert text.count("\n") == 1, text
    return text


@pytest.mark.parametrize("args", PRINTING, ids=IDS)
def test_closed_stdout(args):
    proc = _minidump(args, shell_redirect=">&-")
    assert proc.returncode == 1
    assert _one_line(proc.stderr) == "minidump: error: stdout is closed\n"


@pytest.mark.parametrize("args", PRINTING, ids=IDS)
def test_full_stdout(args):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    with open("/dev/full", "wb") as full:
        proc = _minidump(args, stdout=full)
    assert proc.returncode == 1
    assert _one_line(proc.stderr) == "minidump: error: stdout: No space left on device\n"


@pytest.mark.parametrize("args", PRINTING, ids=IDS)
def test_broken_pipe_is_141_everywhere(args):
    """The reader is gone before the first write (closed right after the start; Python
    takes far longer than that to import): every command stops with 141 and says nothing."""
    proc = subprocess.Popen([sys.executable, "-m", "minidump", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141, err
    assert err == b""


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
@pytest.mark.parametrize("args", PRINTING + [["build", "--from-table", MD, "--table"]],
                         ids=IDS + ["build"])
def test_stdout_that_cannot_encode_utf8(args, encoding, tmp_path):
    if args[0] == "build":
        args = [*args, "-o", str(tmp_path / "vmcore")]
    proc = _minidump(args, env={"PYTHONIOENCODING": encoding})
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    assert proc.returncode in (0, 3), proc.stderr.decode()
    out = proc.stdout.decode(encoding)
    assert out.strip()
    if args[0] == "regions" and "--json" not in args:
        assert "+--" in out or "|" in out    # the table, in ASCII boxes


def test_build_with_closed_stdout_exits_as_the_vmcore_says(tmp_path):
    out = tmp_path / "vmcore"
    proc = _minidump(["build", "--from-table", MD, "-o", str(out)], shell_redirect=">&-")
    assert out.stat().st_size > 0
    assert proc.returncode == 0
    assert _one_line(proc.stderr).startswith("minidump: warning: stdout is closed; the report "
                                             "was not printed")


@pytest.mark.parametrize("args", [["dmesg", MD], ["vmcoreinfo", MD], ["dmesg", "--json", MD]])
def test_quiet_never_hides_requested_data(args):
    loud = _minidump(args)
    quiet = _minidump([*args, "-q"])
    assert quiet.returncode == loud.returncode == 0
    assert quiet.stdout == loud.stdout and quiet.stdout
