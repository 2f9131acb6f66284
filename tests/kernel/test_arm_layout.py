"""32-bit arm's VMCOREINFO names no arch and exports no PHYS_OFFSET (Debian 6.1 armmp-lpae:
``SYMBOL(_stext)=c0400000``, ``CONFIG_ARM_LPAE=y``): both come from the capture itself."""

from __future__ import annotations

from minidump.assemble import _arm_phys_offset
from minidump.kernel.vmcoreinfo import VmcoreInfo
from minidump.model import Row

#: the real kernel's symbols (6.1.0-50-armmp-lpae, nokaslr)
ARM = (b"OSRELEASE=6.1.0-50-armmp-lpae\nPAGESIZE=4096\nSYMBOL(init_uts_ns)=c1787194\n"
       b"SYMBOL(_stext)=c0400000\nSYMBOL(prb)=c162faf0\nSYMBOL(printk_rb_static)=c162fb78\n")
PHYS_OFFSET = 0x40000000     # QEMU virt: RAM from 1 GiB; PAGE_OFFSET = _stext & ~0x1ffffff


def test_arch_from_the_symbols():
    assert VmcoreInfo(ARM).guess_arch() == "arm"
    assert VmcoreInfo(ARM.replace(b"PAGESIZE", b"CONFIG_ARM_LPAE=y\nPAGESIZE")).guess_arch() \
        == "arm"
    assert VmcoreInfo(b"OSRELEASE=6.1\nSYMBOL(init_uts_ns)=ffffffff82a12340\n").guess_arch() \
        is None


def _row(ident: int, vaddr: int, delta: int = 0) -> Row:
    return Row(f"K{ident}", ident, paddr=vaddr - 0xC0000000 + PHYS_OFFSET + delta, size=8)


def test_phys_offset_from_regions_that_vmcoreinfo_places():
    # meminspect IDs 19 (init_uts_ns), 20 (printk_rb_static) and 22 (prb) in every series
    rows = [_row(19, 0xC1787194), _row(20, 0xC162FB78), _row(22, 0xC162FAF0), Row("Kx", 50)]
    warnings: list[str] = []
    assert _arm_phys_offset(rows, VmcoreInfo(ARM), "meminspect", False, warnings) == PHYS_OFFSET
    assert warnings == []


def test_regions_that_disagree_give_nothing():
    rows = [_row(19, 0xC1787194), _row(22, 0xC162FAF0, delta=0x1000)]
    warnings: list[str] = []
    assert _arm_phys_offset(rows, VmcoreInfo(ARM), "meminspect", False, warnings) is None
    assert "regions disagree on arm's PHYS_OFFSET (init_uts_ns: 0x40000000; prb: 0x40001000)" \
        in warnings[0]


def test_a_core_gives_it_by_its_pt_loads():
    rows = [Row("PT_LOAD[1]", paddr=0x41787000, size=0x1000)]
    rows[0].vaddr = 0xC1787000
    assert _arm_phys_offset(rows, VmcoreInfo(ARM), "unknown", True, []) == PHYS_OFFSET
    # not a meminspect container and not a core: no evidence is used
    assert _arm_phys_offset(rows, VmcoreInfo(ARM), "unknown", False, []) is None
