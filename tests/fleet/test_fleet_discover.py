"""Finding captures: each once, a md_*.BIN directory as one capture, RAM-image sets by MEMORY.txt."""

from __future__ import annotations

import os
import shutil

from builders import SAMPLES
from minidump.fleet.discover import discover


def inputs(found):
    return [spec["input"] for spec in found.specs]


def test_samples_each_capture_once_and_the_rest_listed_as_skipped():
    found = discover([str(SAMPLES.parent)])
    base = str(SAMPLES)
    assert inputs(found) == [f"{base}/md", f"{base}/md-nokelf", f"{base}/ram",
                             f"{base}/item602.bin", f"{base}/rawdump.img"]
    assert found.skipped == [str(SAMPLES.parent / "PROVENANCE.md"), f"{base}/expected.json"]


def test_a_md_directory_is_one_capture_not_its_blobs():
    found = discover([str(SAMPLES / "md")])
    assert inputs(found) == [str(SAMPLES / "md")] and found.skipped == []


def test_memory_txt_makes_a_ram_image_set(tmp_path):
    ram = tmp_path / "board" / "ram"
    shutil.copytree(SAMPLES / "ram", ram)
    (ram / "MEMORY.txt").write_text("# the board's DDR\n" + (SAMPLES / "ram" / "MEMORY.txt")
                                    .read_text())
    (spec,) = discover([str(tmp_path)]).specs
    assert spec["input"] == str(ram)
    assert spec["open"]["path"] == str(ram / "ddr0.bin")
    assert spec["open"]["memory"][-1] == f"{ram / 'smem.bin'}@0x86000000"
    # a bare FILE line names the input: here the item-602 blob, with the images as memory
    shutil.copy(SAMPLES / "item602.bin", ram / "item602.bin")
    (ram / "MEMORY.txt").write_text("item602.bin\n" + (SAMPLES / "ram" / "MEMORY.txt")
                                    .read_text())
    (spec,) = discover([str(tmp_path)]).specs
    assert spec["open"]["path"] == str(ram / "item602.bin")


def test_the_same_capture_reached_twice_is_one(tmp_path):
    shutil.copy(SAMPLES / "rawdump.img", tmp_path / "a.img")
    os.symlink(tmp_path / "a.img", tmp_path / "b.img")
    os.symlink(SAMPLES / "md", tmp_path / "md-link")
    os.symlink(tmp_path, tmp_path / "loop")          # a cycle: searched once
    found = discover([str(tmp_path), str(tmp_path / "a.img"), str(SAMPLES / "md")])
    assert inputs(found) == [str(tmp_path / "md-link"), str(tmp_path / "a.img")]


def test_a_path_named_on_the_command_line_is_always_a_capture(tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("not a capture")
    found = discover([str(junk), str(tmp_path / "missing.img")])
    assert inputs(found) == [str(junk), str(tmp_path / "missing.img")]
    assert all(spec["open"]["path"].startswith("/") for spec in found.specs)
