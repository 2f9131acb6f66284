"""Each region's object with ``--vmlinux``: the symbol table decides (KASLR-aware: image
addresses, linear-map aliases of image objects, per-CPU objects through __per_cpu_offset[]),
registered ``.inspect_table`` entries the capture lacks are listed, and a vmlinux of another
build is refused.  The vmlinux is the sample kernel's, built from ``expected.json``."""

from __future__ import annotations

import json
import shutil

import pytest

from builders import memory_args, one_error_line
from builders.vmlinux import sample_vmlinux
from minidump.cli import main

from test_naming import V2, v2_ram  # noqa: F401  (fixture)


@pytest.fixture
def vmlinux(tmp_path, expected):
    path = tmp_path / "vmlinux"
    path.write_bytes(sample_vmlinux(expected))
    return path


def regions(capsys, *argv, code=(0, 3)):
    got = main(["regions", *argv, "--json"])
    out, err = capsys.readouterr()
    assert got in code, err
    return json.loads(out)


def test_every_sample_region_named_from_the_symbol_table(capsys, samples, expected, vmlinux):
    doc = regions(capsys, str(samples / "md"), "--vmlinux", str(vmlinux), code=(0,))
    truth = {r["id"]: r["symbol"] for r in expected["regions"]}
    got = {r["id"]: r["object"] for r in doc["regions"]}
    assert got == truth
    # _sinittext shares its address with the first init function: the registered symbol wins
    assert got[29] == "_sinittext"
    # image objects by their runtime address (KERNELOFFSET applied), contig_page_data by its
    # linear-map alias, runqueues as per-CPU objects: all from the symbol table
    assert doc["objects"].startswith("53 of 53 regions named: ")
    assert "from the vmlinux's symbols" in doc["objects"]
    assert doc["uncaptured"] == []
    assert not [w for w in doc["warnings"] if "inspect_table" in w]


def test_per_cpu_objects_of_the_right_cpu(capsys, samples, vmlinux):
    """runqueues + __per_cpu_offset[cpu]: each region names its own CPU."""
    doc = regions(capsys, str(samples / "md"), "--vmlinux", str(vmlinux))
    got = {r["id"]: r["object"] for r in doc["regions"] if r["id"] and r["id"] >= 46}
    assert got == {46 + cpu: f"runqueues[cpu{cpu}]" for cpu in range(8)}


def test_v2_capture_named_from_the_symbol_table(capsys, v2_ram, expected, vmlinux):  # noqa: F811
    """IDs 26-43 shift in v1/v2; the symbol table names every region regardless, even those
    the capture alone cannot (timekeeper_data has no v1/v2 ID and no VMCOREINFO symbol)."""
    doc = regions(capsys, str(v2_ram / "smem.bin"), *memory_args(v2_ram), "--vmlinux", str(vmlinux))
    got = {r["id"]: r["object"] for r in doc["regions"]}
    truth = {r["id"]: r["symbol"] for r in expected["regions"]}
    for v3, (v2, _) in V2.items():
        assert got[v2] == truth[v3], (v3, v2)
    assert got[55] == "timekeeper_data" and got[13] == "total_nr_irqs"
    assert "unknown" not in got.values()


def test_registered_regions_the_capture_lacks(capsys, tmp_path, samples, expected):
    md = tmp_path / "md"
    shutil.copytree(samples / "md", md)
    (md / "md_Kjiffies10.BIN").unlink()
    path = tmp_path / "vmlinux"
    path.write_bytes(sample_vmlinux(expected))
    doc = regions(capsys, str(md), "--vmlinux", str(path))
    assert doc["uncaptured"] == [{"id": 10, "object": "jiffies_64", "size": 8}]
    assert any("ID 10 jiffies_64 (8 bytes)" in w and "not in the capture" in w
               for w in doc["warnings"])


def test_other_build_refused(capsys, tmp_path, samples, expected):
    path = tmp_path / "vmlinux"
    path.write_bytes(sample_vmlinux(expected, build_id="00" * 20))
    for argv in (["regions", str(samples / "md")],
                 ["build", "--from-table", str(samples / "md"), "-o", str(tmp_path / "out")]):
        assert main([*argv, "--vmlinux", str(path)]) == 1
        line = one_error_line(capsys.readouterr().err)
        assert str(path) in line and "BUILD-ID" in line and expected["model"]["build_id"] in line
        assert "00" * 20 in line
    assert not (tmp_path / "out").exists()


def test_build_names_with_the_vmlinux(capsys, tmp_path, samples, vmlinux, expected):
    assert main(["build", "--from-table", str(samples / "md"), "-o", str(tmp_path / "out"),
                 "--vmlinux", str(vmlinux), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {r["id"]: r["object"] for r in doc["regions"]} == \
        {r["id"]: r["symbol"] for r in expected["regions"]}


def test_api_open_with_vmlinux(samples, vmlinux, expected):
    import minidump
    with minidump.open(samples / "md", vmlinux=vmlinux) as capture:
        got = {r.id: r.object for r in capture.regions}
    assert got == {r["id"]: r["symbol"] for r in expected["regions"]}
