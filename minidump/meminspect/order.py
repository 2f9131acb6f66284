"""meminspect IDs of the PT_LOADs in a meminspect kernel's own ELF header.

A core assembled from the kernel's header (QDL's ``minidump.elf``: region 1, then
VMCOREINFO, then each PT_LOAD's bytes) carries no IDs: only addresses and sizes.
But the header's order is the kernel's (``meminspect_prepare_crashdump``,
meminspect.md section 6.1): at ``late_initcall`` one PT_LOAD for every occupied ID
from 3 to 200 in ascending order, then each later registration appended.  So the
PT_LOADs are the occupied IDs in ascending order, and an ID is known where the
capture itself says which object a PT_LOAD holds:

* anchors -- VMCOREINFO ``SYMBOL(name)`` at the PT_LOAD's address for the object a
  static ID registers (``init_uts_ns``, ``prb``, ``clear_seq``, ``_stext``,
  ``swapper_pg_dir``, the ``kallsyms_*`` tables ...); ``SYMBOL(node_online_map)``
  inside ``node_states``; the bytes of ``linux_banner`` (``Linux version``) and of
  the config (``IKCFG_ST``);
* between two anchors, the PT_LOADs take the IDs between theirs in order when
  there are as many of each; where IDs are missing (``nr_swapfiles`` without
  ``CONFIG_SWAP``), the one choice of IDs whose C types fit the PT_LOADs' sizes
  (``int``, ``unsigned long``), or none;
* static IDs (4-43) are kernel-image addresses; the config (3) and the dynamic
  registrations (44 on) are linear-map ones, and the dynamic ones follow the
  static ones, in registration order: 44, 45, ...

Nothing is assigned where the evidence leaves a choice.
"""

from __future__ import annotations

from itertools import combinations
from typing import Callable

from minidump.errors import MinidumpError
from minidump.meminspect.naming import ID_OBJECTS
from minidump.meminspect.static import ID_TABLES, MEMINSPECT_ID_DYNAMIC

CONFIG_ID, BANNER_ID, NODE_STATES_ID = 3, 11, 16
FIRST_STATIC, LAST_STATIC = 4, MEMINSPECT_ID_DYNAMIC - 1
#: IDs whose object is an ``int``/``unsigned int`` (v3): nr_threads, total_nr_irqs,
#: nr_swapfiles, kallsyms_num_syms
INT_IDS = {12, 13, 18, 35}
#: IDs whose object is one ``unsigned long``/pointer (v3): _totalram_pages, mem_section,
#: tainted_mask, prb, high_memory, and the address-only entries 29-34, 36-42
WORD_IDS = {4, 9, 14, 22, 27, *range(29, 35), *range(36, 43)}
#: jiffies_64 is a u64 everywhere
U64_IDS = {10}
#: arrays of ``unsigned long``: the cpumasks, node_states (nodemask_t[]), __per_cpu_offset
WORD_ARRAY_IDS = {5, 6, 7, 8, 16, 17}
#: the most ID choices tried between two anchors
MAX_CHOICES = 4096


def infer_ids(loads: list[tuple[int | None, int | None, int]], info, *, image: Callable[[int], bool],
              starts: Callable[[int, bytes], bool], word: int, series: str = "v3"
              ) -> dict[int, int]:
    """Index -> meminspect ID for the PT_LOADs ``loads`` (``(vaddr, paddr, memsz)`` in
    header order) where the evidence decides.

    ``image(vaddr)`` tells kernel-image addresses; ``starts(index, magic)`` whether a
    PT_LOAD's bytes start with ``magic``; ``word`` is the target's ``unsigned long`` size.
    """
    table = ID_TABLES[series]
    anchors: dict[int, set[int]] = {}

    def vmci(name: str) -> int | None:
        try:
            return info.symbol(name) if info is not None else None
        except MinidumpError:     # a malformed key is no evidence
            return None

    objects = {ident: ID_OBJECTS.get(table[ident], table[ident])
               for ident in range(FIRST_STATIC, LAST_STATIC + 1) if ident < len(table)}
    by_addr: dict[int, set[int]] = {}
    for ident, name in objects.items():
        addr = vmci(name)
        if addr is not None:
            by_addr.setdefault(addr, set()).add(ident)
    online = vmci("node_online_map")
    for index, (vaddr, _, size) in enumerate(loads):
        found: set[int] = set()
        if vaddr is not None and image(vaddr):
            found |= by_addr.get(vaddr, set())
            if online is not None and vaddr < online < vaddr + size:
                found.add(NODE_STATES_ID)
            if starts(index, b"Linux version "):
                found.add(BANNER_ID)
        elif starts(index, b"IKCFG_ST"):
            found.add(CONFIG_ID)
        if found:
            anchors[index] = found
    static = [i for i, (vaddr, _, _) in enumerate(loads) if vaddr is not None and image(vaddr)]
    chain = _chain(anchors)
    out = dict(chain)
    # sentinels: before the first PT_LOAD, ID 2 (VMCOREINFO, never a PT_LOAD here); after
    # the static block, the first dynamic ID
    first_static = static[0] if static else len(loads)
    last_static = static[-1] if static else -1
    points = [(-1, 2)] + sorted(chain.items()) + [(last_static + 1, MEMINSPECT_ID_DYNAMIC)]
    for (i1, k1), (i2, k2) in zip(points, points[1:]):
        between = list(range(i1 + 1, i2))
        if not between or k2 <= k1:
            continue
        ids = [k for k in range(k1 + 1, k2) if k != CONFIG_ID or i1 < first_static]
        choice = _fit(between, ids, loads, word, image)
        if choice is not None:
            out.update(zip(between, choice))
    # dynamic registrations: after the static block, in order
    ident = MEMINSPECT_ID_DYNAMIC
    for index in range(last_static + 1, len(loads)):
        vaddr = loads[index][0]
        if vaddr is None or image(vaddr):
            break
        out[index] = ident
        ident += 1
    return out


def _chain(anchors: dict[int, set[int]]) -> dict[int, int]:
    """The anchors that agree with ascending order: a PT_LOAD with one candidate ID whose
    neighbours' IDs are below and above it; a conflict drops both sides."""
    single = {i: next(iter(c)) for i, c in anchors.items() if len(c) == 1}
    items = sorted(single.items())
    keep = {}
    for pos, (index, ident) in enumerate(items):
        before = all(k < ident for _, k in items[:pos])
        after = all(k > ident for _, k in items[pos + 1:])
        if before and after:
            keep[index] = ident
    return keep


def _fits(ident: int, size: int, word: int) -> bool:
    if ident in INT_IDS:
        return size == 4
    if ident in WORD_IDS:
        return size == word
    if ident in U64_IDS:
        return size == 8
    if ident in WORD_ARRAY_IDS:
        return size >= word and size % word == 0
    return True


def _fit(between: list[int], ids: list[int], loads, word: int, image) -> list[int] | None:
    """The one ascending choice of ``ids`` for the PT_LOADs ``between`` that fits their sizes
    and kinds (static IDs on image addresses, the config on a linear one), or None."""
    if len(ids) < len(between):
        return None
    found = None
    tried = 0
    for choice in combinations(ids, len(between)):
        tried += 1
        if tried > MAX_CHOICES:
            return None
        ok = True
        for index, ident in zip(between, choice):
            vaddr, _, size = loads[index]
            on_image = vaddr is not None and image(vaddr)
            if (ident == CONFIG_ID) == on_image or not _fits(ident, size, word):
                ok = False
                break
        if ok:
            if found is not None:
                return None
            found = list(choice)
    return found
