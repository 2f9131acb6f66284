"""Publishing the output safely: no check-then-replace race, only regular files replaced,
owner-only permissions, and a bad ``-o`` that creates nothing anywhere."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from builders import SAMPLES, one_error_line, run
from minidump.errors import UsageError
from minidump.files import _publish, atomic_output

ROOT = Path(__file__).resolve().parents[2]
MD = str(SAMPLES / "md")


def test_output_is_owner_only_whatever_the_umask(tmp_path, capsys):
    old = os.umask(0o022)
    try:
        assert run(capsys, "build", "--from-table", MD, "-o", str(tmp_path / "v"), "-q")[0] == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "v").stat().st_mode) == 0o600


def test_a_file_appearing_meanwhile_is_never_replaced(tmp_path):
    """The publish step itself refuses what appeared after the check (the race)."""
    out = tmp_path / "out"
    with pytest.raises(UsageError, match="exists; use --force"):
        with atomic_output(str(out)) as fh:
            fh.write(b"ours")
            out.write_bytes(b"theirs")        # another run published first
    assert out.read_bytes() == b"theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]   # our temp file is gone
    tmp = tmp_path / "t"
    tmp.write_bytes(b"x")
    with pytest.raises(UsageError):
        _publish(str(tmp), str(out), force=False)


def test_concurrent_builds_to_one_new_output(tmp_path):
    out = tmp_path / "out" / "vmcore"
    out.parent.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    argv = [sys.executable, "-m", "minidump", "build", "--from-table", MD, "-o", str(out), "-q"]
    procs = [subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env) for _ in range(4)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2, 2, 2], results
    for code, err in results:
        if code == 2:
            assert one_error_line(err) == (f"minidump: error: output {out} exists; use --force "
                                           "to replace it")
    reference = tmp_path / "reference"
    subprocess.run([*argv[:-3], "-o", str(reference), "-q"], check=True, env=env)
    assert out.read_bytes() == reference.read_bytes()
    assert sorted(p.name for p in out.parent.iterdir()) == ["vmcore"]


@pytest.mark.parametrize("kind", ["fifo", "device", "symlink"])
def test_force_replaces_only_regular_files(tmp_path, capsys, kind):
    target = tmp_path / "target"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "device":
        target = Path("/dev/null")
    else:
        (tmp_path / "real").write_bytes(b"keep")
        target.symlink_to(tmp_path / "real")
    code, out, err = run(capsys, "build", "--from-table", MD, "-o", str(target), "--force")
    assert code == 2
    assert one_error_line(err) == (f"minidump: error: output {target} is not a regular file; "
                                   "--force replaces only regular files")
    if kind == "fifo":
        assert stat.S_ISFIFO(os.lstat(target).st_mode)
    if kind == "symlink":
        assert (tmp_path / "real").read_bytes() == b"keep" and target.is_symlink()


def test_hard_link_into_the_input_directory_is_refused(tmp_path, capsys):
    md = tmp_path / "md"
    md.mkdir()
    for item in (SAMPLES / "md").iterdir():
        (md / item.name).write_bytes(item.read_bytes())
    link = tmp_path / "out.vmcore"
    os.link(md / "md_Kjiffies10.BIN", link)
    before = (md / "md_Kjiffies10.BIN").read_bytes()
    code, _, err = run(capsys, "build", "--from-table", str(md), "-o", str(link), "--force")
    assert code == 2
    assert one_error_line(err) == (f"minidump: error: output {link} is a hard link to "
                                   f"md_Kjiffies10.BIN in the input directory {md}; choose "
                                   "another -o")
    assert (md / "md_Kjiffies10.BIN").read_bytes() == before


def test_bad_output_paths_create_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "build", "--from-table", MD, "-o", "")
    assert code == 2 and one_error_line(err) == ("minidump: error: output path is empty; give "
                                                 "-o FILE")
    missing = tmp_path / "no" / "such" / "out"
    code, _, err = run(capsys, "build", "--from-table", MD, "-o", str(missing))
    assert code == 2 and one_error_line(err) == (f"minidump: error: output {missing}: directory "
                                                 f"{missing.parent} does not exist")
    assert ".tmp" not in err
    code, _, err = run(capsys, "dmesg", MD, "-o", str(missing))
    assert code == 2 and "does not exist" in err
    assert list(tmp_path.iterdir()) == []


def test_binary_vmcoreinfo_note_writes_nothing_whatever_q_says(tmp_path, capsys):
    """An error must leave no output, and -q must not change the exit status."""
    from builders.elf import core, nhdr, phdr
    from minidump.formats.elf import PT
    desc = b"OSRELEASE=\xff\xfe\x00binary"
    notes = nhdr(11, len(desc)) + b"VMCOREINFO\0\0" + desc + bytes(-len(desc) % 4)
    path = tmp_path / "bin.core"
    path.write_bytes(core([phdr(p_type=PT.NOTE, p_offset=0x1000, p_filesz=len(notes),
                                p_memsz=len(notes)),
                           phdr(p_type=PT.LOAD, p_offset=0x2000, p_filesz=16, p_memsz=16)],
                          notes.ljust(0x1000, b"\0") + b"x" * 16))
    for quiet in ([], ["-q"]):
        out = tmp_path / "out.vmcore"
        code, _, err = run(capsys, "build", "--from-table", str(path), "-o", str(out), *quiet)
        assert code == 1
        assert one_error_line(err) == (f"minidump: error: {path}: VMCOREINFO: offset 0xa "
                                       "(VMCOREINFO): VMCOREINFO is not ASCII text")
        assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bin.core"]


def test_quiet_never_changes_the_exit_status(tmp_path, capsys):
    md = tmp_path / "md"
    md.mkdir()
    for item in (SAMPLES / "md").iterdir():
        if item.name != "md_Kjiffies10.BIN":
            (md / item.name).symlink_to(item)
    loud = run(capsys, "build", "--from-table", str(md), "-o", str(tmp_path / "a"))[0]
    quiet = run(capsys, "build", "--from-table", str(md), "-o", str(tmp_path / "b"), "-q")[0]
    assert loud == quiet == 3


def test_sigterm_at_random_points_leaves_a_whole_vmcore_or_nothing(tmp_path):
    """Signals at (seeded) random points of a build: every outcome is all or nothing."""
    import random
    import signal
    import time
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    reference = tmp_path / "reference"
    subprocess.run([sys.executable, "-m", "minidump", "build", "--from-table", MD, "-o",
                    str(reference), "-q"], check=True, env=env)
    rng = random.Random(12)
    outcomes = set()
    for attempt in range(8):
        out_dir = tmp_path / f"run{attempt}"
        out_dir.mkdir()
        proc = subprocess.Popen([sys.executable, "-m", "minidump", "build", "--from-table", MD,
                                 "-o", str(out_dir / "vmcore"), "-q"], env=env,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        names = sorted(p.name for p in out_dir.iterdir())
        if names:    # published: whole, and a late signal says so
            assert names == ["vmcore"]
            assert (out_dir / "vmcore").read_bytes() == reference.read_bytes()
            # done (0), killed after main() returned (-SIGTERM), or told which output it wrote
            assert proc.returncode in (0, -signal.SIGTERM) or \
                err.strip().endswith(f"after writing {out_dir}/vmcore"), (proc.returncode, err)
        else:
            assert proc.returncode in (143, -signal.SIGTERM), err
        outcomes.add(proc.returncode)
    assert outcomes   # (which outcomes occur depends on the machine's speed)


def _no_temp_name(err: str, out: Path) -> None:
    line = one_error_line(err)
    assert str(out) in line, line
    assert ".minidump-" not in line and ".tmp" not in line, line
    assert [p.name for p in out.parent.iterdir()] == [], "nothing is left behind"


@pytest.mark.parametrize("command", [["build", "--from-table", MD],
                                     ["dmesg", MD], ["vmcoreinfo", MD]])
def test_a_full_file_system_names_the_users_path(tmp_path, capsys, command):
    """A real full file system: a 4 KiB tmpfs (root only; else skipped)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(mnt)],
                          capture_output=True)
    if proc.returncode:
        pytest.skip("mounting a tmpfs needs root")
    try:
        (mnt / "sub").mkdir()
        if command[0] != "build":   # fill it, so that even a small text cannot be written
            with open(mnt / "filler", "wb") as fh:
                with pytest.raises(OSError):
                    fh.write(b"x" * 65536)
                    fh.flush()
        out = mnt / "sub" / "out"
        code, _, err = run(capsys, *command, "-o", str(out))
        assert code == 1, err
        assert "No space left on device" in err
        _no_temp_name(err, out)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("call", ["link", "replace"])
def test_a_failed_publish_names_the_users_path(tmp_path, capsys, monkeypatch, force, call):
    """The kernel names the temp file in a failed link or rename; the user never sees it."""
    import errno
    out = tmp_path / "out" / "vmcore"
    out.parent.mkdir()
    real = getattr(os, call)

    def refuse(src, dst, *args, **kwargs):
        if os.path.basename(src).startswith(".minidump-"):
            raise OSError(errno.EACCES, os.strerror(errno.EACCES), src, None, dst)
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, call, refuse)
    if call == "replace" and not force:     # the rename is the fallback when links fail
        monkeypatch.setattr(os, "link", lambda src, dst: (_ for _ in ()).throw(
            OSError(errno.EPERM, "Operation not permitted", src, None, dst)))
    code, _, err = run(capsys, "build", "--from-table", MD, "-o", str(out),
                       *(["--force"] if force else []))
    if call == "link" and force:            # --force does not link
        assert code == 0 and out.exists()
        return
    assert code == 1, err
    assert "Permission denied" in err
    _no_temp_name(err, out)
