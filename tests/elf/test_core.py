"""The core reader's pinned ``struct`` layouts are the construct schemas' own."""

from __future__ import annotations

import subprocess
import sys

import pytest

from minidump.elf.core import EHDR_FIELDS, LAYOUTS, PHDR_FIELDS, SH_INFO, _ehdr_offset
from minidump.elf.notes import NHDR
from minidump.formats.common import field_offsets, struct_format
from minidump.formats.elf import elf_structs


@pytest.mark.parametrize("bits", [64, 32])
@pytest.mark.parametrize("little", [True, False], ids=["le", "be"])
def test_pinned_layouts_equal_the_schemas(bits, little):
    elf = elf_structs(little, bits)
    order = "<" if little else ">"
    ehdr, phdr, shdr = LAYOUTS[bits]
    for schema, fmt, names in ((elf.Elf_Ehdr, ehdr, EHDR_FIELDS),
                               (elf.Elf_Phdr, phdr, PHDR_FIELDS[bits]),
                               (elf.Elf_Shdr, shdr, None)):
        fast, fields = struct_format(schema)
        assert fast.format == order + fmt
        if names is not None:
            assert fields == names
        else:
            assert fields[SH_INFO] == "sh_info"
    assert struct_format(elf.Elf_Nhdr)[0].format == NHDR[little].format
    for field, offset in field_offsets(elf.Elf_Ehdr).items():
        assert _ehdr_offset(bits, field) == offset


def test_reading_a_core_imports_no_construct(tmp_path):
    """``minidump dmesg VMCORE`` and ``info`` stay off construct (start-up cost)."""
    from builders.printk import LocklessRing, write_core
    ring = LocklessRing()
    ring.add(b"hello", 0)
    chunks, keys = ring.memory(0xFFFF800081000000)
    core = write_core(tmp_path / "c.vmcore", chunks,
                      ("OSRELEASE=6.18.0\nPAGESIZE=4096\n" + keys).encode())
    code = ("import sys\nfrom minidump.cli import main\n"
            f"assert main(['dmesg', {str(core)!r}]) == 0\n"
            "sys.stdout.flush()\n"
            "assert 'construct' not in sys.modules, 'construct imported'\n"
            "assert 'rich' not in sys.modules, 'rich imported'\n"
            "assert 'elftools' not in sys.modules, 'pyelftools imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "[    0.000000] hello\n"
