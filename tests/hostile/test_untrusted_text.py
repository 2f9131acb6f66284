"""One rule for untrusted text: names, paths and VMCOREINFO values are data in every
renderer -- never rich markup, never terminal control -- and JSON is valid UTF-8."""

from __future__ import annotations

import io
import json
import os
import re
import shutil

from hypothesis import given, settings
from hypothesis import strategies as st

from builders import SAMPLES
from builders.printk import LocklessRing, write_core
from minidump.cli import main
from minidump.report import safe, safe_document
from minidump.report.console import render_info, render_regions, render_vmcoreinfo

HOSTILE = ["md_\x1b]0;pwned\x07.BIN", "md_[blink]x[red].BIN", "md_new\nline.BIN",
           "md_[\\].BIN"]
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _hostile_dir(tmp_path) -> str:
    directory = tmp_path / "dir[" / "]\x1b[31m"      # the path holds "[/]": rich's closing tag
    shutil.copytree(SAMPLES / "md", directory)
    for name in HOSTILE:
        (directory / name).write_bytes(b"x" * 16)
    (directory / os.fsdecode(b"md_bad\xff\xfe.BIN")).write_bytes(b"x" * 16)
    return str(directory)


def test_hostile_names_in_build_report_and_json(tmp_path, capsysbinary):
    directory = _hostile_dir(tmp_path)
    out = tmp_path / "out.vmcore"
    assert main(["build", "--from-table", directory, "-o", str(out)]) == 0
    text = capsysbinary.readouterr().out
    assert not CONTROL.search(text.decode("utf-8").replace("\n", ""))
    plain = text.decode()
    assert "md_\\x1b]0;pwned\\x07.BIN" in plain and "md_[blink]x[red].BIN" in plain
    assert "md_new\\x0aline.BIN" in plain and "md_bad\\xff\\xfe.BIN" in plain
    assert "dir[/]\\x1b[31m" in plain and "md_[\\].BIN" in plain
    assert main(["regions", directory, "--json"]) == 0
    doc = json.loads(capsysbinary.readouterr().out.decode("utf-8"))   # valid UTF-8 JSON
    assert doc["input"].endswith("dir[/]\\x1b[31m")
    assert "7 blobs are not Linux regions" in doc["warnings"][0]     # the newline one too


def test_vmcoreinfo_text_is_data_in_info(tmp_path, capsysbinary):
    ring = LocklessRing()
    ring.add(b"Linux version 6.18.0 \x1b]2;owned\x07 [blink]", 0)
    chunks, keys = ring.memory(0xFFFF800081000000)
    info = ("OSRELEASE=6.18[blink]\x1b[5m\nPAGESIZE=4096\nNUMBER(VA_BITS)=48\n" + keys).encode()
    core = write_core(tmp_path / "c.vmcore", chunks, info)
    for argv in (["info", str(core)], ["vmcoreinfo", str(core), "--table"],
                 ["regions", str(core)]):
        main(argv)
        out = capsysbinary.readouterr().out.decode("utf-8")
        assert "\x1b" not in out and "\x07" not in out
        assert "[blink]" in out or argv[0] == "regions"
    assert main(["vmcoreinfo", str(core)]) == 0           # piped: the text verbatim, for tools
    assert capsysbinary.readouterr().out == info


def test_errors_are_one_safe_line(tmp_path, capsys):
    bad = tmp_path / "x\x1b[2Jy"
    bad.write_bytes(b"not a capture")
    assert main(["dmesg", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and "x\\x1b[2Jy" in err and err.count("\n") == 1


def test_long_and_high_byte_names_never_crop_numbers(tmp_path, capsys):
    directory = tmp_path / ("d" * 200)
    shutil.copytree(SAMPLES / "md", directory)
    (directory / ("md_K" + "\u00ff" * 60 + "1.BIN")).write_bytes(b"x" * 16)
    (directory / ("md_K" + "x" * 230 + "2.BIN")).write_bytes(b"x" * 16)
    assert main(["regions", str(directory)]) == 3      # the two extra blobs have no address
    out = capsys.readouterr().out
    expected = json.loads((SAMPLES / "expected.json").read_text())
    for region in expected["regions"]:
        assert region["pa"] in out and region["va"] in out, region["id"]


TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=()), max_size=80) | \
    st.binary(max_size=40).map(os.fsdecode)
ADDR = st.integers(0, (1 << 64) - 1)


@st.composite
def regions_documents(draw):
    rows = [{"id": draw(st.none() | st.integers(0, 1 << 32)), "name": draw(TEXT),
             "object": None, "paddr": draw(st.none() | ADDR), "vaddr": draw(st.none() | ADDR),
             "size": draw(ADDR), "source": draw(TEXT),
             "status": draw(st.sampled_from(["written", "missing", "short", "duplicate",
                                             "invalid", "encrypted"])),
             "reason": draw(TEXT)} for _ in range(draw(st.integers(0, 6)))]
    return {"input": draw(TEXT), "container": draw(TEXT), "output": draw(st.none() | TEXT),
            "arch": "arm64", "regions": rows,
            "totals": {"regions": len(rows), "by_status": {"written": len(rows)},
                       "written_bytes": 0, "lost": 0},
            "vmcoreinfo": draw(TEXT), "warnings": draw(st.lists(TEXT, max_size=3))}


@given(regions_documents(), st.sampled_from([40, 80, 200]))
@settings(max_examples=150, deadline=None, derandomize=True)
def test_region_renderer_takes_any_text(doc, width):
    out = io.StringIO()
    render_regions(safe_document(doc), out, width=width)
    text = out.getvalue()
    assert not CONTROL.search(text.replace("\n", ""))
    text.encode("utf-8")
    for row in doc["regions"]:      # whole at every width (the stacked view below ~70)
        for value in (row["paddr"], row["vaddr"], row["size"]):
            if value is not None:
                assert f"{value:#x}" in text
        if row["id"] is not None:
            assert str(row["id"]) in text
        assert row["status"] in text


@given(st.dictionaries(TEXT, TEXT, max_size=5), TEXT, TEXT)
@settings(max_examples=100, deadline=None, derandomize=True)
def test_info_and_vmcoreinfo_renderers_take_any_text(utsname, banner, key):
    facts = {"release": banner, "build_id": key, "arch": "arm64", "page_size": 4096,
             "kaslr_offset": 0, "crashtime": None, "banner": banner, "banner_source": key,
             "utsname": utsname, "jiffies": None, "taint": None, "cpus_online": None,
             "cpus_source": "", "log": key}
    doc = {"input": key, "container": banner, "vmlinux": None, "facts": facts,
           "layout": {"arch": key}, "vmcoreinfo_problems": [banner], "readiness": [
               {"consumer": key, "item": banner, "kind": "key", "present": None,
                "detail": banner}], "ready": {key: True}}
    for render, document in ((render_info, doc), (render_vmcoreinfo, {
            "source": key, "runtime_source": banner, "arch": "arm64", "osrelease": banner,
            "entries": [{"key": key, "kind": "OTHER", "name": banner, "text": banner,
                         "value": banner, "problem": ""}], "layout": None,
            "problems": [key]})):
        out = io.StringIO()
        render(safe_document(document), out, width=80)
        assert not CONTROL.search(out.getvalue().replace("\n", ""))


@given(st.text(max_size=200) | st.binary(max_size=100).map(os.fsdecode))
@settings(max_examples=300, deadline=None, derandomize=True)
def test_safe_leaves_no_control_and_encodes(text):
    cleaned = safe(text)
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]", cleaned)
    cleaned.encode("utf-8")
