"""The library API's front door: wrong arguments give a TypeError/ValueError that says which
argument is wrong, bad inputs a MinidumpError carrying ``.path``; nothing else escapes."""

from __future__ import annotations

import os

import pytest

import minidump
from builders import SAMPLES

MD = SAMPLES / "md"


@pytest.fixture(scope="module")
def cap():
    with minidump.open(MD) as capture:
        yield capture


@pytest.mark.parametrize("read", ["read", "read_virt"])
@pytest.mark.parametrize("args,error,words", [
    ((0x10, -1), ValueError, "size -1 is negative"),
    ((-1, 4), ValueError, "outside the 64-bit address space"),
    ((1 << 64, 4), ValueError, "outside the 64-bit address space"),
    (((1 << 64) - 2, 4), ValueError, "runs past the 64-bit address space"),
    (("0x10", 4), TypeError, "must be an int, not str"),
    ((0x10, 4.0), TypeError, "size must be an int, not float"),
    ((True, 4), TypeError, "must be an int, not bool"),
])
def test_read_arguments_are_checked(cap, read, args, error, words):
    with pytest.raises(error, match=words):
        getattr(cap, read)(*args)


def test_open_takes_bytes_and_pathlike_paths():
    with minidump.open(os.fsencode(str(MD))) as a, minidump.open(MD) as b:
        assert a.regions == b.regions


def test_open_rejects_what_is_no_path():
    with pytest.raises(TypeError, match="path must be a path"):
        minidump.open(42)
    with pytest.raises(TypeError, match="memory must be a list"):
        minidump.open(MD, memory="ram.bin@0")


@pytest.mark.parametrize("make,words", [
    (lambda d: d / "missing", "no such file or directory"),
    (lambda d: _loop(d), "symbolic link loop"),
])
def test_unreadable_input_carries_its_path(tmp_path, make, words):
    path = make(tmp_path)
    with pytest.raises(minidump.MinidumpError, match=words) as err:
        minidump.open(path)
    assert err.value.path == str(path)


def _loop(d):
    os.symlink(d / "loop", d / "loop")
    return d / "loop"


def test_unreadable_device_names_the_file():
    if not os.path.exists("/proc/self/mem"):
        pytest.skip("no /proc/self/mem")
    with pytest.raises(minidump.MinidumpError) as err:
        minidump.open("/proc/self/mem")
    assert err.value.path == "/proc/self/mem"


def test_write_vmcore_errors_are_minidump_errors(cap, tmp_path):
    with pytest.raises(minidump.MinidumpError) as err:
        cap.write_vmcore("/proc/nonexistent-dir-entry")
    assert isinstance(err.value, OSError) and err.value.path == "/proc/nonexistent-dir-entry"
    assert str(err.value).startswith("/proc/nonexistent-dir-entry: ")


def test_regions_cannot_be_changed(cap):
    regions = cap.regions
    assert isinstance(regions, tuple)
    with pytest.raises(AttributeError):
        regions.append(regions[0])
    assert cap.regions == regions


def test_kallsyms_is_none_where_the_tables_are_not_captured(cap):
    """The sample's VMCOREINFO locates the tables, but the minidump does not hold them."""
    assert "SYMBOL(kallsyms_names)" in cap.vmcoreinfo
    assert cap.kallsyms() is None
    with pytest.raises(minidump.FaultError):
        cap.load_kallsyms()
