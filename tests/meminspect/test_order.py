"""meminspect IDs of a kernel's own core (QDL's minidump.elf) from its PT_LOAD order."""

from __future__ import annotations

from minidump.kernel.vmcoreinfo import VmcoreInfo
from minidump.meminspect.order import infer_ids

IMAGE = 0xFFFFFFFF81000000
LINEAR = 0xFFFF888000000000


def _info(**symbols: int) -> VmcoreInfo:
    text = "OSRELEASE=7.2.13\nPAGESIZE=4096\n" + "".join(
        f"SYMBOL({name})={addr:x}\n" for name, addr in symbols.items())
    return VmcoreInfo(text.encode())


def _ids(loads, info, content=None):
    content = content or {}
    return infer_ids(loads, info, image=lambda va: va >= IMAGE,
                     starts=lambda i, magic: content.get(i, b"").startswith(magic), word=8)


def test_exact_runs_between_anchors_and_dynamic_tail():
    # IDs 3 (config, linear), 10, 11 (banner), 12, 19 (init_uts_ns); then two dynamic
    loads = [(LINEAR + 0x100, 0x100, 0x2ce4), (IMAGE + 0x10, 0, 8), (IMAGE + 0x20, 0, 0x9c),
             (IMAGE + 0x30, 0, 4), (IMAGE + 0x40, 0, 0x2c0), (LINEAR + 0x5000, 0, 0x4000),
             (LINEAR + 0x9000, 0, 0xbc0)]
    info = _info(jiffies_64=IMAGE + 0x10, init_uts_ns=IMAGE + 0x40)
    got = _ids(loads, info, {0: b"IKCFG_ST", 2: b"Linux version 7"})
    # the banner's content anchors 11; between it and init_uts_ns (19) one 4-byte PT_LOAD
    # could be nr_threads, total_nr_irqs, taint_flags or nr_swapfiles: left without an ID
    assert got == {0: 3, 1: 10, 2: 11, 4: 19, 5: 44, 6: 45}


def test_a_missing_id_is_placed_by_the_c_types():
    # node_states (16, anchored by node_online_map inside it), one PT_LOAD, init_uts_ns (19):
    # __per_cpu_offset (17, words) or nr_swapfiles (18, an int)?
    loads = [(IMAGE + 0x100, 0, 0x30), (IMAGE + 0x200, 0, 16), (IMAGE + 0x300, 0, 0x2c0)]
    info = _info(node_online_map=IMAGE + 0x108, init_uts_ns=IMAGE + 0x300)
    assert _ids(loads, info)[1] == 17
    loads[1] = (IMAGE + 0x200, 0, 4)
    assert _ids(loads, info)[1] == 18


def test_no_choice_is_made_where_the_evidence_leaves_one():
    # two PT_LOADs of one word between jiffies_64 (10) and tainted_mask... no anchor after:
    # between 10 and 19 with sizes that fit several IDs
    loads = [(IMAGE + 0x10, 0, 8), (IMAGE + 0x20, 0, 8), (IMAGE + 0x30, 0, 0x2c0)]
    info = _info(jiffies_64=IMAGE + 0x10, init_uts_ns=IMAGE + 0x30)
    got = _ids(loads, info)
    assert got[0] == 10 and got[2] == 19 and 1 not in got


def test_conflicting_anchors_are_dropped():
    # two PT_LOADs at _stext's address (x86_64: _text and _stext share it): one is 33, and
    # the order says which
    loads = [(IMAGE, 0, 8), (IMAGE, 0, 8), (IMAGE + 0x400, 0, 8)]
    info = _info(_stext=IMAGE, _etext=IMAGE + 0x400)
    got = _ids(loads, info)
    assert got.get(2) == 34 and got.get(0) in (None, 32) and got.get(1) in (None, 33)
