"""``minidump drgn``: drgn's shell or a script on any capture, with documented exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from builders import SAMPLES, memory_args, one_error_line, run

pytest.importorskip("drgn", reason="drgn comes with the test extra (kminidump[drgn])")

SCRIPT = """\
import sys
from drgn.helpers.linux.printk import get_printk_records
records = get_printk_records(prog)
print(len(records), prog.symbol("jiffies_64").address, prog["jiffies_64"].to_bytes_().hex())
print(" ".join(sys.argv[1:]))
if len(sys.argv) > 1 and sys.argv[1] == "exit":
    sys.exit(int(sys.argv[2]))
if len(sys.argv) > 1 and sys.argv[1] == "raise":
    raise RuntimeError("the script's own bug")
"""


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "probe.py"
    path.write_text(SCRIPT)
    return path


@pytest.mark.parametrize("capture", [
    [str(SAMPLES / "md")], [str(SAMPLES / "rawdump.img")],
    [str(SAMPLES / "ram" / "smem.bin"), *memory_args(SAMPLES / "ram")]],
    ids=["mddir", "rawdump", "ram"])
def test_a_script_runs_on_any_capture_with_prog_and_argv(capsys, script, capture):
    import minidump
    with minidump.open(capture[0], memory=capture[2::2]) as cap:
        jiffies = next(r for r in cap.regions if r.object == "jiffies_64")
        want = f"{len(cap.dmesg())} {jiffies.vaddr} {cap.read_virt(jiffies.vaddr, 8).hex()}"
    code, out, err = run(capsys, "drgn", *capture, str(script), "-v", "--x")
    assert code == 0, err
    assert out.splitlines() == [want, "-v --x"]


def test_exit_codes_are_the_scripts(capsys, script):
    md = str(SAMPLES / "md")
    assert run(capsys, "drgn", md, str(script), "exit", "7")[0] == 7
    assert run(capsys, "drgn", md, str(script), "exit", "0")[0] == 0
    code, _, err = run(capsys, "drgn", md, str(script), "raise")
    assert code == 1 and "RuntimeError: the script's own bug" in err
    code, _, err = run(capsys, "drgn", md, str(script.with_name("absent.py")))
    assert code == 2 and "absent.py: no such script" in one_error_line(err)


def test_a_capture_that_does_not_open_is_one_line(capsys, tmp_path, script):
    bad = tmp_path / "nothing.bin"
    bad.write_bytes(b"\0" * 64)
    code, _, err = run(capsys, "drgn", str(bad), str(script))
    assert code == 1 and str(bad) in one_error_line(err)


def test_without_drgn_one_line_names_the_extra(capsys, monkeypatch, script):
    monkeypatch.setitem(sys.modules, "drgn", None)     # import drgn -> ImportError
    code, _, err = run(capsys, "drgn", str(SAMPLES / "md"), str(script))
    assert code == 1
    assert "pip install 'kminidump[drgn]'" in one_error_line(err)


def test_the_shell_reads_stdin_with_prog_bound():
    """Not a terminal: drgn's shell reads its commands from stdin, as drgn -c does."""
    proc = subprocess.run([sys.executable, "-m", "minidump", "drgn", str(SAMPLES / "md")],
                          input='print(prog["init_uts_ns"].to_bytes_()[:5])\n'
                                'print(len(get_dmesg().splitlines()))\n',
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "b'Linux'" in proc.stdout
    import minidump
    with minidump.open(SAMPLES / "md") as cap:
        assert f"\n{len(cap.dmesg())}\n" in f"\n{proc.stdout.replace('>>> ', '')}"
