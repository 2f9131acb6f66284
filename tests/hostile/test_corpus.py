"""Regression corpus: inputs the fuzzers (tools/fuzz.py, tests/test_fuzz.py) broke the
readers with, each run through the CLI with its exact outcome asserted.
``tests/corpus/README.md`` says what each file is and what it used to do."""

from __future__ import annotations

import json
from pathlib import Path

from builders import targets as fuzz
import pytest
from builders.printk import write_core

from minidump.cli import main

CORPUS = Path(__file__).resolve().parent / "corpus"
SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "arm64-meminspect"

#: file, argv after the file, exit status, the one stderr line (exit 1) or stdout (exit 0)
CASES = [
    ("elf-printk-count-bits.vmcore", ["dmesg"], 1,
     "{path}: VMCOREINFO: (prb_desc_ring.count_bits): prb_desc_ring.count_bits is 4294967295 "
     "at 0xffff800081000100, expected 0..31 inside struct printk_ringbuffer"),
    ("elf-printk-size-zero.vmcore", ["dmesg"], 1,
     "{path}: VMCOREINFO: (VMCOREINFO): SIZE(prb_desc)=0 is not a structure size (1..65536)"),
    ("elf-printk-head-id-flags.vmcore", ["dmesg"], 0,
     "[    0.000000] m0\n[    0.001000] m1\n[    0.002000] m2\n"),
    ("elf-printk-tail-far.vmcore", ["dmesg"], 0,
     "[    0.000000] m0\n[    0.001000] m1\n[    0.002000] m2\n"),
    ("elf-shoff-near-2-64.core", ["regions"], 1,
     "{path}: offset 0xffffffffffffffc0 (Elf_Shdr[0]): truncated: need 0x40 bytes, file has "
     "0x0 here"),
    ("elf-note-namesz.core", ["info"], 1,
     "{path}: offset 0x100 (note[0].n_namesz): note of 4294967280+4 bytes runs past the "
     "PT_NOTE segment (0x20 bytes)"),
]


@pytest.mark.parametrize("name,argv,code,expected", CASES, ids=[c[0] for c in CASES])
def test_corpus_cli(name, argv, code, expected, capsys):
    path = CORPUS / name
    assert main([argv[0], str(path), *argv[1:]]) == code
    out, err = capsys.readouterr()
    if code == 1:
        assert err == f"minidump: error: {expected.format(path=path)}\n"
    else:
        assert (err, out) == ("", expected)


def test_rawdump_duplicate_names(capsys, tmp_path):
    path = CORPUS / "rawdump-duplicate-names.img"
    out = tmp_path / "vmcore"
    assert main(["build", "--from-table", str(path), "--arch", "arm64", "--json", "-o",
                 str(out)]) == 3
    doc = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["paddr"], r["status"]) for r in doc["regions"]] == [
        ("KX1", 0x80000000, "written"), ("KX1.BIN#1", 0x80001000, "written")]
    assert doc["warnings"][0] == ("rawdump-duplicate-names.img: section 1: section name "
                                  "md_KX1.BIN repeats section 0; listed as KX1.BIN#1")
    from builders.elf import memory_and_notes
    assert [data for _, _, data in memory_and_notes(out)[0]] == [b"A" * 16, b"B" * 16]


@pytest.mark.parametrize("name,va_bits,line", [
    ("vmcoreinfo-leading-zero.txt", 48, ("NUMBER(VA_BITS)", "048", 48)),
    ("vmcoreinfo-t1sz-100.txt", None, ("NUMBER(TCR_EL1_T1SZ)", "100", 100)),
])
def test_vmcoreinfo_texts(name, va_bits, line, capsys, tmp_path):
    core = write_core(tmp_path / "core", {0xFFFF800081000000: bytes(16)},
                      (CORPUS / name).read_bytes())
    assert main(["vmcoreinfo", str(core), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["layout"]["va_bits"] == va_bits
    key, text, value = line
    entry = next(e for e in doc["entries"] if e["key"] == key)
    assert (entry["text"], entry["value"], entry["problem"]) == (text, value, "")
    assert main(["regions", str(SAMPLES / "md-nokelf"), "--arch", "arm64", "--vmcoreinfo",
                 str(CORPUS / name), "--json"]) == 3
    capsys.readouterr()


#: fuzzer inputs (``fuzz-TARGET-N.bin``) and the one-line errors their target now gives
ARTIFACTS = {
    "fuzz-elf-1.bin": [
        "input.vmcore: VMCOREINFO: (prb_desc_ring.count_bits): prb_desc_ring.count_bits is "
        "4294967043 at "
        "0xffff800081000100, expected 0..31 inside struct printk_ringbuffer"],
    "fuzz-printk-1.bin": [],       # head_id past DESC_ID_MASK: was an endless walk
    "fuzz-printk-2.bin": [],       # tail_id far behind head_id: was a 2^62-step walk
    "fuzz-vmcoreinfo-1.bin": [],   # NUMBER(...)=010000: was ValueError in decode()
    "fuzz-vmcoreinfo-2.bin": [],   # TCR_EL1_T1SZ=96: was 'negative shift count'
    "fuzz-vmcoreinfo-3.bin": [],   # VA_BITS=00 (0 bits): was 'negative shift count' too
    # a section name offset past 2^63: pyelftools' seek() raised OSError EINVAL
    "fuzz-vmlinux-1.bin": ["fuzz.vmlinux: (Elf_Shdr): a section header points past any "
                           "file offset"],
}


def test_every_artifact_is_listed():
    assert sorted(p.name for p in CORPUS.glob("fuzz-*")) == sorted(ARTIFACTS)


@pytest.mark.parametrize("name", sorted(ARTIFACTS))
def test_fuzzer_artifacts_replay(name):
    assert fuzz.run(name.split("-")[1], (CORPUS / name).read_bytes()) == ARTIFACTS[name]
