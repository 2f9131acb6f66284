"""Synthetic inputs for the tests, built in code with our own schemas (no toolchain).

- :mod:`builders.elf`: ELF cores field by field; :mod:`builders.qcom`: SMEM item 602,
  Sahara rows, Raw_Dmp! images; :mod:`builders.blobs`: large md_*.BIN directories;
- :mod:`builders.printk`: printk rings and small vmcores through our writer;
- :mod:`builders.vmlinux`: a vmlinux with sections, symbols and relocations;
  :mod:`builders.machine`: a whole x86_64 machine (vmlinux + RAM image) for extract;
- :mod:`builders.targets`: the fuzz targets (``tools/fuzz.py`` drives them with atheris);
- :mod:`builders.realkernel`: the opt-in real-kernel captures of ``tools/realkernel``.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples" / "arm64-meminspect"


def memory_args(ram: Path) -> list[str]:
    """``--memory FILE@PADDR`` for every line of ram/MEMORY.txt."""
    args = []
    for line in (ram / "MEMORY.txt").read_text().split():
        args += ["--memory", str(ram / line)]
    return args


def run(capsys, *argv):
    """``minidump ARGV`` in-process: (exit code, stdout, stderr)."""
    from minidump.cli import main
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("minidump: error: "), err
    assert "Traceback" not in err
    return lines[0]


#: ``info`` facts only a meminspect capture's IDs locate (a vmcore built from it keeps the
#: bytes but not which PT_LOAD registered what): drop them to compare capture and vmcore
MEMINSPECT_LOCATED = ("banner", "banner_source", "jiffies", "jiffies_source", "taint",
                      "cpus_online", "cpus_source", "cpu_masks", "why")


def without_meminspect_located(doc: dict) -> dict:
    """``doc`` (an ``info`` document) without what only meminspect IDs locate."""
    doc = dict(doc, facts=dict(doc["facts"]), crash=dict(doc["crash"]), ready=dict(doc["ready"]))
    for key in ("input", "container", "consumers"):
        doc.pop(key, None)
    for key in MEMINSPECT_LOCATED:
        doc["facts"].pop(key)
    doc["crash"].pop("taint_mask")
    doc["readiness"] = [r for r in doc["readiness"] if r["consumer"] != "crash"]
    doc["ready"].pop("crash")
    return doc
