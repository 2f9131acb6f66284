"""``dmesg``, ``info`` and ``vmcoreinfo`` straight on md dirs, Raw_Dmp! images, RAM images and
RAM-image sets (a directory with ``MEMORY.txt``).

Each must print what it prints on the vmcore ``build`` writes from the same
capture; the kernel log must equal the generator's record of the sample.
"""

from __future__ import annotations

import json

import pytest

from builders import SAMPLES, info_facts, memory_args, one_error_line
from minidump.cli import main

CONTAINERS = {
    "mddir": [str(SAMPLES / "md")],
    "rawdump": [str(SAMPLES / "rawdump.img")],
    "ram": [str(SAMPLES / "ram" / "smem.bin"), *memory_args(SAMPLES / "ram")],
    "item602": [str(SAMPLES / "item602.bin"), *memory_args(SAMPLES / "ram")],
    "mddir-sahara": [str(SAMPLES / "md-nokelf"), "--arch", "arm64"],
    # a RAM-image set: the directory's MEMORY.txt lists the images, as triage reads it
    "memory-set": [str(SAMPLES / "ram")],
}


@pytest.fixture(params=sorted(CONTAINERS))
def capture(request, tmp_path_factory):
    """(arguments naming the capture, the vmcore build writes from them)."""
    args = CONTAINERS[request.param]
    out = tmp_path_factory.mktemp("built") / "out.vmcore"
    # md-nokelf: the header blob itself was not captured, so build reports a loss (exit 3)
    assert main(["build", "--from-table", *args, "-o", str(out), "-q"]) == (
        3 if request.param == "mddir-sahara" else 0)
    return args, str(out)


def _run(capsysbinary, *argv) -> tuple[int, bytes]:
    code = main(list(argv))
    captured = capsysbinary.readouterr()
    assert captured.err == b""
    return code, captured.out


def test_dmesg_on_any_capture(capture, capsysbinary, expected):
    args, vmcore = capture
    code, direct = _run(capsysbinary, "dmesg", *args)
    assert code == 0
    assert direct.decode().splitlines() == expected["dmesg"]
    assert _run(capsysbinary, "dmesg", vmcore) == (0, direct)
    assert _run(capsysbinary, "dmesg", *args, "--caller") == _run(capsysbinary, "dmesg", vmcore,
                                                                   "--caller")


def test_vmcoreinfo_on_any_capture(capture, capsysbinary, expected):
    args, vmcore = capture
    code, text = _run(capsysbinary, "vmcoreinfo", *args)
    assert code == 0 and text == expected["vmcoreinfo"].encode()
    assert _run(capsysbinary, "vmcoreinfo", vmcore) == (0, text)
    table = json.loads(_run(capsysbinary, "vmcoreinfo", *args, "--json")[1])
    again = json.loads(_run(capsysbinary, "vmcoreinfo", vmcore, "--json")[1])
    for doc in (table, again):
        doc.pop("source")
    assert table == again and table["arch"] == "arm64"


def test_info_on_any_capture(capture, capsysbinary):
    args, vmcore = capture
    code, out = _run(capsysbinary, "info", *args, "--json")
    direct = json.loads(out)
    want_code, want_out = _run(capsysbinary, "info", vmcore, "--json")
    want = json.loads(want_out)
    assert code == want_code
    # the capture's meminspect IDs locate linux_banner, jiffies_64, tainted_mask and the CPU
    # masks; the vmcore built from it remembers which PT_LOAD is which (its MINIDUMP note)
    f = direct["facts"]
    assert f["cpu_masks"]["online"] == {"count": 1, "cpus": "3", "why": None,
                                        "source": "__cpu_online_mask, meminspect ID 7"}
    assert f["cpu_masks"]["possible"]["count"] == 8 and f["cpus_online"] == 1
    assert f["banner_source"] == "memory (linux_banner, meminspect ID 11)"
    assert f["taint"]["flags"] == "O" and f["jiffies_source"] == "jiffies_64, meminspect ID 10"
    assert info_facts(direct) == info_facts(want)
    assert direct["facts"]["release"] == "6.18.0-rc2-minidump-sample"
    assert direct["facts"]["log"] == "readable"


def test_dmesg_without_vmcoreinfo_on_a_blob_directory(tmp_path, capsys):
    """A md dir whose VMCOREINFO blob was not captured: the one-line fix, exit 1."""
    md = tmp_path / "md"
    md.mkdir()
    for item in (SAMPLES / "md").iterdir():
        if item.name != "md_Kvmcorein2.BIN":
            (md / item.name).symlink_to(item)
    assert main(["dmesg", str(md)]) == 1
    assert one_error_line(capsys.readouterr().err) == (
        f"minidump: error: {md}: no VMCOREINFO note; give --vmcoreinfo FILE (minidump "
        "vmcoreinfo --vmlinux VMLINUX can generate one)")
    assert main(["dmesg", str(md), "--vmcoreinfo", str(SAMPLES / "md" / "md_Kvmcorein2.BIN")]) == 0
    assert capsys.readouterr().out.startswith("[    0.000000] Zone ranges:\n")
