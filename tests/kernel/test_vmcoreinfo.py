"""VMCOREINFO parsing, validation, composition and per-arch translation."""

from __future__ import annotations

import pytest

from minidump.errors import FormatError
from minidump.kernel.translate import X86_64_PAGE_OFFSET_L4, Translator, kernel_version
from minidump.kernel.vmcoreinfo import VmcoreInfo, classify, compose, decode

EVERY_FORM = b"""OSRELEASE=6.1.0-56-cloud-amd64
BUILD-ID=3b43fad5034874490492495d552c0af6a5fab235
PAGESIZE=4096
SYMBOL(init_uts_ns)=ffffffffb11f9b60
SIZE(page)=64
OFFSET(uts_namespace.name)=0
LENGTH(zone.free_area)=11
NUMBER(phys_base)=-492830720
NUMBER(kimage_voffset)=0xffff9a2b5b600000
CONFIG_ARM_LPAE=y
KERNELOFFSET=2e600000
CRASHTIME=1700000000
\0\0\0"""


def test_every_key_form_decodes():
    info = VmcoreInfo(EVERY_FORM)
    values = {e.key: (e.kind, e.name, e.value) for e in info.items()}
    assert values["SYMBOL(init_uts_ns)"] == ("SYMBOL", "init_uts_ns", 0xFFFFFFFFB11F9B60)
    assert values["NUMBER(phys_base)"][2] == -492830720          # signed decimal
    assert values["NUMBER(kimage_voffset)"][2] == 0xFFFF9A2B5B600000   # arm64 0x-hex
    assert values["CONFIG_ARM_LPAE"] == ("CONFIG", "ARM_LPAE", True)
    assert values["KERNELOFFSET"][2] == 0x2E600000 and info.kerneloffset == 0x2E600000
    assert values["CRASHTIME"][2] == 1700000000 == info.crashtime
    assert values["OFFSET(uts_namespace.name)"] == ("OFFSET", "uts_namespace.name", 0)
    assert info.build_id == "3b43fad5034874490492495d552c0af6a5fab235"
    assert info.problems() == []


def test_compose_round_trips():
    info = VmcoreInfo(EVERY_FORM)
    again = VmcoreInfo(compose([(k, v) for k, v in info.entries.items()]))
    assert again.entries == info.entries


@pytest.mark.parametrize("line, problem", [
    ("PAGESIZE=4000", "power of two"), ("SIZE(page)=-1", "unsigned"),
    ("SYMBOL(x)=zz", "hex"), ("BUILD-ID=ABC", "lowercase hex"), ("CONFIG_X=m", "expected y"),
    ("NUMBER(x)=1.5", "number")])
def test_problems_name_the_line(line, problem):
    info = VmcoreInfo(f"OSRELEASE=6.1\nPAGESIZE=4096\n{line}\n".encode().replace(
        b"PAGESIZE=4096\nPAGESIZE", b"PAGESIZE"))
    found = info.problems()
    assert any(problem in p and line.split("=")[0] in p for p in found), found


def test_long_line_and_missing_basics_are_problems():
    info = VmcoreInfo(b"SYMBOL(" + b"a" * 80 + b")=1\n")
    found = " | ".join(info.problems())
    assert "at most 79" in found and "OSRELEASE is missing" in found


def test_not_key_value_is_a_located_error():
    with pytest.raises(FormatError, match="offset 0xc .*not KEY=VALUE"):
        VmcoreInfo(b"OSRELEASE=1\nGARBAGE\n")


def test_classify_and_decode_unknown_keys():
    assert classify("SRCFILE(pud_t)") == ("OTHER", "SRCFILE(pud_t)")
    assert decode("OTHER", "x") == ("x", "")
    assert kernel_version("6.18.0-rc2-x") == (6, 18, 0) and kernel_version("2.6.24") == (2, 6, 24)


ARM64 = VmcoreInfo(b"OSRELEASE=6.18.0\nPAGESIZE=4096\nSYMBOL(_stext)=ffff9a2bdc610000\n"
                   b"NUMBER(VA_BITS)=48\nNUMBER(kimage_voffset)=0xffff9a2b5b600000\n"
                   b"NUMBER(PHYS_OFFSET)=0x80000000\nNUMBER(TCR_EL1_T1SZ)=0x10\n"
                   b"KERNELOFFSET=1a2b5c600000\n")


def test_arm64_layout_and_translation():
    t = Translator("arm64", ARM64)
    layout = t.layout()
    assert (layout.page_offset, layout.phys_offset, layout.va_bits) == (
        0xFFFF000000000000, 0x80000000, 48)
    assert t.linear_va(0x90000000) == 0xFFFF000010000000
    assert t.pa(0xFFFF000010000000) == 0x90000000
    assert t.image_va(0x81000000) == 0xFFFF9A2BDC600000
    assert t.pa(0xFFFF9A2BDC610000) == 0x81010000
    assert t.pa(0xFFFF800000001000) is None          # vmalloc: never guessed


def test_x86_64_image_and_direct_map():
    kaslr = VmcoreInfo(b"OSRELEASE=6.1.0\nNUMBER(phys_base)=-492830720\nKERNELOFFSET=2e600000\n"
                       b"SYMBOL(_stext)=ffffffffaf600000\n")
    t = Translator("x86_64", kaslr)
    assert t.pa(0xFFFFFFFFAF600000) == 0x12000000      # _stext: link 16 MiB + 0x2e600000 - 0x1d600000
    assert t.image_va(0x12000000) == 0xFFFFFFFFAF600000
    assert t.linear_va(0x1000) is None and t.layout().page_offset is None   # randomized
    given = Translator("x86_64", kaslr, page_offset=0xFFFF8D8000000000)
    assert given.pa(0xFFFF8D8000001000) == 0x1000 and given.layout().source == "page_offset_base"
    nokaslr = VmcoreInfo(b"OSRELEASE=6.1.0\nNUMBER(phys_base)=0\nKERNELOFFSET=0\n")
    assert Translator("x86_64", nokaslr).linear_va(0x1000) == X86_64_PAGE_OFFSET_L4 + 0x1000


def test_riscv64_and_arm():
    riscv = VmcoreInfo(b"OSRELEASE=6.6\nNUMBER(PAGE_OFFSET)=0xff60000000000000\n"
                       b"NUMBER(phys_ram_base)=0x80000000\nNUMBER(va_kernel_pa_offset)=0xffffffff"
                       b"00000000\nSYMBOL(_stext)=ffffffff80002000\nNUMBER(VA_BITS)=57\n")
    t = Translator("riscv64", riscv)
    assert t.linear_va(0x80001000) == 0xFF60000000001000 and t.pa(0xFF60000000001000) == 0x80001000
    assert t.pa(0xFFFFFFFF80002000) == 0x80002000 and t.layout().va_bits == 57
    arm = Translator("arm", VmcoreInfo(b"OSRELEASE=5.15\n"), page_offset=0xC0000000,
                     phys_offset=0x60000000)
    assert arm.pa(0xC0001000) == 0x60001000 and arm.linear_va(0x60001000) == 0xC0001000


def test_arm64_linear_map_with_negative_phys_offset():
    """Real Debian 6.1 arm64 KASLR boot: memstart_addr is negative (PHYS_OFFSET=0xffff...)."""
    from minidump.kernel.translate import Translator
    from minidump.kernel.vmcoreinfo import VmcoreInfo
    info = VmcoreInfo(b"OSRELEASE=6.1.0-56-cloud-arm64\nPAGESIZE=4096\nNUMBER(VA_BITS)=48\n"
                      b"NUMBER(kimage_voffset)=0xffffd2f6d3800000\n"
                      b"NUMBER(PHYS_OFFSET)=0xffffab2440000000\nNUMBER(TCR_EL1_T1SZ)=0x10\n"
                      b"KERNELOFFSET=52f70ba00000\n")
    rules = Translator("arm64", info)
    # vmcoreinfo_data of that boot: PA 0x42384000 at VA 0xffff54dc02384000 (drgn's page walk)
    assert rules.linear_va(0x42384000) == 0xFFFF54DC02384000
    assert rules.pa(0xFFFF54DC02384000) == 0x42384000
    assert rules.image_va(0x42384000) == (0x42384000 + 0xFFFFD2F6D3800000) & ((1 << 64) - 1)


def _arm64(va_bits: int, t1sz: int, phys_offset: int, page: int = 4096) -> Translator:
    return Translator("arm64", VmcoreInfo(
        f"OSRELEASE=7.2.13\nPAGESIZE={page}\nNUMBER(VA_BITS)={va_bits}\n"
        f"NUMBER(kimage_voffset)=0xffff80003fe00000\nNUMBER(PHYS_OFFSET)={phys_offset:#x}\n"
        f"NUMBER(TCR_EL1_T1SZ)={t1sz:#x}\nKERNELOFFSET=0\n".encode()))


@pytest.mark.parametrize("va_bits, t1sz, phys_offset, page, linear", [
    # the real v3 kernels' VMCOREINFO (tools/realkernel/meminspect_kernels.py, QEMU virt):
    # built for 52 bits, run on cortex-a57 (no LPA2: 48 bits, PHYS_OFFSET moved) and on max
    (52, 16, 0xFFF1000040000000, 4096, 0xFFFF000000945000),
    (52, 12, 0x40000000, 4096, 0xFFF0000000945000),
    (48, 16, 0x40000000, 4096, 0xFFFF000000945000),
    (39, 25, 0x40000000, 4096, 0xFFFFFF8000945000),   # Android GKI
    (47, 17, 0x40000000, 16384, 0xFFFF800000945000),   # 16K pages
    (36, 28, 0x40000000, 16384, 0xFFFFFFF000945000),
    (42, 22, 0x40000000, 65536, 0xFFFFFC0000945000),   # 64K pages
])
def test_arm64_linear_map_every_va_size(va_bits, t1sz, phys_offset, page, linear):
    """__phys_to_virt/__lm_to_phys: arithmetic with the build-time PAGE_OFFSET (VA_BITS),
    range by the bits the kernel runs with (TCR_EL1_T1SZ)."""
    rules = _arm64(va_bits, t1sz, phys_offset, page)
    assert rules.linear_va(0x40945000) == linear       # vmcoreinfo_data on those kernels
    assert rules.pa(linear) == 0x40945000
    assert rules.arm64_linear(linear) is True
    assert rules.layout().va_bits == 64 - t1sz
    # past the runtime linear map's end: no rule
    assert rules.linear_va(0x40000000 + (1 << (64 - t1sz - 1))) is None
