"""Types and objects for drgn with no vmlinux, built from what the capture itself says.

VMCOREINFO carries the layout of the lockless printk ring (``kernel/printk/printk.c:
log_buf_vmcoreinfo_setup``, Linux 5.10+) as ``SIZE()``/``OFFSET()``/``LENGTH()`` entries for
makedumpfile and crash.  From them this module builds the C types drgn's own printk helpers
(``drgn.helpers.linux.printk.get_printk_records``) walk -- ``struct printk_ringbuffer``,
``prb_desc_ring``, ``prb_desc``, ``prb_data_blk_lpos``, ``printk_info``, ``dev_printk_info``,
``prb_data_ring``, ``atomic_long_t`` -- with only the members VMCOREINFO places, plus the
objects they start from: ``prb`` (``SYMBOL(prb)``) and the constants ``LOG_CONT``,
``desc_committed``, ``desc_finalized``.

``printk_info``'s ``facility``, ``flags`` and ``level`` are not in VMCOREINFO; they follow
``text_len`` (``u16``) as ``u8 facility; u8 flags:5, level:3`` in every kernel since 5.10
(``kernel/printk/printk_ringbuffer.h``), as :mod:`minidump.kernel.printk` reads them too.

Every named region of the capture becomes an untyped object, ``unsigned char[size]`` at
its address, so ``prog["init_uts_ns"]`` reads its bytes.  A vmlinux's DWARF replaces all
of this (these finders are tried after drgn's own).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from minidump.kernel.vmcoreinfo import VmcoreInfo
    from minidump.model import Arch

#: kernel/printk/printk_ringbuffer.h: enum desc_state; kernel/printk/printk_ringbuffer.h
#: (5.10+): enum printk_info_flags { LOG_NEWLINE = 2, LOG_CONT = 8 }
CONSTANTS = {"desc_committed": 1, "desc_finalized": 2, "LOG_CONT": 8, "LOG_NEWLINE": 2}

#: struct tag -> its members: (name, type spelled for _member_type, VMCOREINFO key)
STRUCTS = {
    "atomic_long_t": [("counter", "long", "atomic_long_t.counter")],
    "prb_data_blk_lpos": [("begin", "unsigned long", "prb_data_blk_lpos.begin"),
                          ("next", "unsigned long", "prb_data_blk_lpos.next")],
    "prb_desc": [("state_var", "atomic_long_t", "prb_desc.state_var"),
                 ("text_blk_lpos", "struct prb_data_blk_lpos", "prb_desc.text_blk_lpos")],
    "dev_printk_info": [("subsystem", "char[printk_info_subsystem]", "dev_printk_info.subsystem"),
                        ("device", "char[printk_info_device]", "dev_printk_info.device")],
    "printk_info": [("seq", "u64", "printk_info.seq"), ("ts_nsec", "u64", "printk_info.ts_nsec"),
                    ("text_len", "u16", "printk_info.text_len"),
                    ("caller_id", "u32", "printk_info.caller_id"),
                    ("dev_info", "struct dev_printk_info", "printk_info.dev_info")],
    "prb_desc_ring": [("count_bits", "unsigned int", "prb_desc_ring.count_bits"),
                      ("descs", "struct prb_desc *", "prb_desc_ring.descs"),
                      ("infos", "struct printk_info *", "prb_desc_ring.infos"),
                      ("head_id", "atomic_long_t", "prb_desc_ring.head_id"),
                      ("tail_id", "atomic_long_t", "prb_desc_ring.tail_id")],
    "prb_data_ring": [("size_bits", "unsigned int", "prb_data_ring.size_bits"),
                      ("data", "char *", "prb_data_ring.data"),
                      ("head_lpos", "atomic_long_t", "prb_data_ring.head_lpos"),
                      ("tail_lpos", "atomic_long_t", "prb_data_ring.tail_lpos")],
    "printk_ringbuffer": [("desc_ring", "struct prb_desc_ring", "printk_ringbuffer.desc_ring"),
                          ("text_data_ring", "struct prb_data_ring",
                           "printk_ringbuffer.text_data_ring"),
                          ("fail", "atomic_long_t", "printk_ringbuffer.fail")],
}
#: typedefs (SIZE() is keyed by the typedef's name)
TYPEDEFS = {"atomic_long_t"}


class VmcoreinfoTypes:
    """The types above for one Program, built on first lookup; None where VMCOREINFO lacks
    a size or an offset they need (a kernel before the lockless ring)."""

    def __init__(self, prog, info: "VmcoreInfo", arch: "Arch") -> None:
        self.prog, self.info, self.arch = prog, info, arch
        self._built: dict[str, Any] = {}

    def _member_type(self, spelled: str):
        prog = self.prog
        if spelled.endswith(" *"):
            target = self._member_type(spelled[:-2])
            return None if target is None else prog.pointer_type(target)
        if spelled.startswith("char["):
            length = self.info.length(spelled[5:-1])
            return None if length is None else prog.array_type(prog.type("char"), length)
        if spelled.startswith("struct ") or spelled in TYPEDEFS:
            return self.struct(spelled.removeprefix("struct "))
        if spelled in ("u16", "u32", "u64"):
            return prog.int_type(spelled, int(spelled[1:]) // 8, False)
        return prog.type(spelled)

    def struct(self, tag: str):
        """``struct tag`` (or the typedef ``atomic_long_t``), or None."""
        if tag in self._built:
            return self._built[tag]
        import drgn
        self._built[tag] = None    # no recursion through a half-built type
        size = self.info.size(tag)
        members = []
        for name, spelled, key in STRUCTS.get(tag, ()):
            offset, kind = self.info.offset(key), self._member_type(spelled)
            if offset is None or kind is None or size is None:
                return None
            members.append(drgn.TypeMember(kind, name, offset * 8))
        if tag == "printk_info" and members:
            text_len = self.info.offset("printk_info.text_len")
            u8 = self.prog.int_type("u8", 1, False)
            members.append(drgn.TypeMember(u8, "facility", (text_len + 2) * 8))
            little = self.arch.little_endian
            for name, bits, shift in (("flags", 5, 0), ("level", 3, 5)):
                bit = shift if little else 8 - shift - bits
                members.append(drgn.TypeMember(drgn.Object(self.prog, u8, bit_field_size=bits),
                                               name, (text_len + 3) * 8 + bit))
            members.sort(key=lambda m: m.bit_offset)
        if tag in TYPEDEFS:
            built = self.prog.typedef_type(tag, self.prog.struct_type(None, size, members))
        else:
            built = self.prog.struct_type(tag, size, members)
        self._built[tag] = built
        return built


def add_vmcoreinfo_types(prog, info: "VmcoreInfo", arch: "Arch",
                         objects: list[tuple[str, int, int]]) -> None:
    """Register the type and object finders described in the module docstring on ``prog``;
    ``objects`` are ``(name, vaddr, size)`` of the capture's named regions."""
    import drgn
    types = VmcoreinfoTypes(prog, info, arch)
    by_name = {name: (vaddr, size) for name, vaddr, size in reversed(objects)}

    def find_type(prog, kinds, name: str, filename):
        if drgn.TypeKind.STRUCT in kinds and name in STRUCTS and name not in TYPEDEFS:
            return types.struct(name)
        if drgn.TypeKind.TYPEDEF in kinds and name in TYPEDEFS:
            return types.struct(name)
        return None

    def find_object(prog, name: str, flags, filename):
        if name in CONSTANTS and flags & drgn.FindObjectFlags.CONSTANT:
            return drgn.Object(prog, "int", CONSTANTS[name])
        if not flags & drgn.FindObjectFlags.VARIABLE:
            return None
        if name == "prb" and info.symbol("prb") is not None:
            ring = types.struct("printk_ringbuffer")
            if ring is not None:
                return drgn.Object(prog, prog.pointer_type(ring), address=info.symbol("prb"))
        if name in by_name:
            vaddr, size = by_name[name]
            return drgn.Object(prog, prog.array_type(prog.type("unsigned char"), size),
                               address=vaddr)
        return None

    prog.register_type_finder("minidump-vmcoreinfo", find_type, enable_index=-1)
    prog.register_object_finder("minidump-regions", find_object, enable_index=-1)
