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


def ram_specs(ram: Path = SAMPLES / "ram") -> list[str]:
    """``FILE@PADDR`` for every line of ram/MEMORY.txt (the API's ``memory=``)."""
    return [str(ram / line) for line in (ram / "MEMORY.txt").read_text().split()]


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


def info_facts(doc: dict) -> dict:
    """``doc`` (an ``info`` document) without what names the input (its path, its container,
    the command lines that quote it): what a capture and the vmcore built from it share."""
    return {k: v for k, v in doc.items() if k not in ("input", "container", "consumers")}
