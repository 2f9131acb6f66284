"""memblock: schema sizes against the C ABI, struct fast path, debugfs text,
layouts from debug info, and INSPECT regions read from a synthetic capture."""

from __future__ import annotations

import random

import pytest

import minidump
from builders.machine import DYNAMIC_PA, INSPECT_SIZE, VMCOREINFO_PA, make_machine
from minidump.elf.vmlinux import Vmlinux
from minidump.formats.common import field_offsets, struct_format
from minidump.formats.memblock import MEMBLOCK, memblock_structs, natural_layout
from minidump.meminspect.memblock import (inspect_regions, layout_from_debuginfo, parse_debugfs,
                                          read_memblock)

# (bits, phys64) -> C sizeof of memblock_region, memblock_type, memblock (natural alignment)
SIZES = {(64, True): (24, 40, 96), (32, False): (16, 20, 48), (32, True): (24, 24, 64)}


@pytest.mark.parametrize("little", [True, False], ids=["le", "be"])
@pytest.mark.parametrize("bits,phys64", list(SIZES), ids=["lp64", "ilp32", "lpae"])
def test_sizes_offsets_and_fast_path(bits, phys64, little):
    structs = memblock_structs(little, bits, phys64)
    assert (structs.memblock_region.sizeof(), structs.memblock_type.sizeof(),
            structs.memblock.sizeof()) == SIZES[(bits, phys64)]
    if (bits, phys64) == (64, True):   # meminspect.md section 5.4
        assert field_offsets(structs.memblock_type) == {"cnt": 0, "max": 8, "total_size": 16,
                                                        "regions": 24, "name": 32}
        assert field_offsets(structs.memblock)["reserved"] == 56
    fast, names = struct_format(structs.memblock_region)
    rng = random.Random(bits)
    for _ in range(100):
        raw = bytes(rng.randrange(256) for _ in range(fast.size))
        parsed = structs.memblock_region.parse(raw)
        assert dict(zip(names, fast.unpack(raw))) == {n: parsed[n] for n in names}


def test_layout_without_numa_keeps_size():
    layout = natural_layout(64, True, numa=False)
    assert layout.region_size == 24 and dict(layout.region) == {"base": 0, "size": 8, "flags": 16}


def test_debugfs_reserved_with_inspect_and_unknown_flags():
    text = ("   0: 0x0000000000000000..0x0000000000000fff    0 NONE\n"
            "   1: 0x0000000080000000..0x00000000800fffff    x NOMAP|INSPECT\n"
            "   2: 0x0000000090000000..0x0000000090000fff    1 RSV_KERN|UNKNOWN\n")
    regions = parse_debugfs(text)
    assert [(r.index, r.base, r.size, r.nid) for r in regions] == [
        (0, 0, 0x1000, 0), (1, 0x80000000, 0x100000, None), (2, 0x90000000, 0x1000, 1)]
    assert regions[1].flags == MEMBLOCK.NOMAP | MEMBLOCK.INSPECT
    assert regions[2].flag_names == ["RSRV_KERN", "UNKNOWN"]   # kept, not dropped
    assert inspect_regions(regions) == [regions[1]]


def test_debugfs_bad_line_is_located():
    from minidump.errors import FormatError
    with pytest.raises(FormatError, match=r"^reserved: offset 0x37 \(memblock/reserved\): not a "
                                          r"memblock debugfs line"):
        parse_debugfs("   0: 0x0000000000000000..0x0000000000000fff    0 NONE\nhello\n",
                      path="reserved")


def test_read_memblock_from_capture(tmp_path):
    machine = make_machine(tmp_path, kaslr=True)
    with Vmlinux.open(machine.vmlinux) as vm, minidump.open(
            f"{machine.ram}@0", vmlinux=machine.vmlinux) as capture:
        regions = read_memblock(vm, capture.kernel)
    assert [(r.type, r.base, r.size) for r in regions] == [
        ("memory", 0, VMCOREINFO_PA), ("memory", DYNAMIC_PA, INSPECT_SIZE),
        ("reserved", 0x7100000, 0x1000)]
    assert regions[1].inspect and regions[1].unknown_flags == 0x100
    assert regions[1].flag_names == ["INSPECT", "UNKNOWN(0x100)"]


def test_layout_from_real_debuginfo():
    """BTF/DWARF of the real Debian vmlinux agrees with the LP64 default (opt-in input)."""
    import json
    import subprocess
    import sys
    from pathlib import Path
    debuginfo = pytest.importorskip("minidump.kernel.debuginfo")
    harness = Path(__file__).parents[2] / "tools" / "realkernel" / "harness.py"
    kernel = json.loads(subprocess.run([sys.executable, str(harness), "paths"], text=True,
                                       capture_output=True, check=True).stdout)["kernel"]
    if not kernel:
        pytest.skip("no real vmlinux (python tools/realkernel/harness.py fetch)")
    with debuginfo.DebugInfo.open(kernel["files"]["vmlinux"]) as info:
        layout = layout_from_debuginfo(info, 64)
    assert layout == natural_layout(64, True)
