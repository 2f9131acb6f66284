"""Types, symbols and identity of a vmlinux: BTF first, DWARF as the fallback.

- **BTF** (``.BTF``; ``include/uapi/linux/btf.h``: ``struct btf_header``,
  ``struct btf_type`` + per-kind trailers ``btf_array``, ``btf_member``,
  ``btf_enum``, ``btf_enum64``, ``btf_param``, ``btf_var_secinfo``) is a
  few MB and parses in well under a second.
- **DWARF** (``.debug_info``, read with pyelftools) is the fallback for
  kernels built without ``CONFIG_DEBUG_INFO_BTF``; compile units are
  indexed lazily, only until the requested name turns up.
- **Symbols** and file bytes: :class:`minidump.elf.vmlinux.Vmlinux` (one
  ``struct.iter_unpack`` pass over ``.symtab``).
- **Identity**: the GNU build-id note (``NT_GNU_BUILD_ID`` in ``.notes``) and
  the ``linux_banner`` string read from the file (``init/version.c``).

Every lookup returns None when the name is absent; callers decide whether
that is an error.  Names are C names without the ``struct``/``enum`` keyword;
member paths are dotted (``"text_blk_lpos.begin"``) and see through anonymous
structs and unions.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cached_property
from minidump.errors import FormatError, MinidumpError
from minidump.files import Closable
from minidump.elf.vmlinux import Vmlinux

#: include/uapi/linux/btf.h: BTF_MAGIC, read as a u16 in the file's byte order
BTF_MAGIC = 0xEB9F
#: include/uapi/linux/btf.h: BTF_KIND_*
BTF_KINDS = {1: "int", 2: "ptr", 3: "array", 4: "struct", 5: "union", 6: "enum", 7: "fwd",
             8: "typedef", 9: "volatile", 10: "const", 11: "restrict", 12: "func",
             13: "func_proto", 14: "var", 15: "datasec", 16: "float", 17: "decl_tag",
             18: "type_tag", 19: "enum64"}
#: bytes each kind's trailer takes: fixed, or per vlen entry
_BTF_FIXED = {1: 4, 3: 12, 14: 4, 17: 4}
_BTF_PER_VLEN = {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}
#: qualifiers and typedefs: resolve through them to the underlying type
_TRANSPARENT = ("typedef", "volatile", "const", "restrict", "type_tag")


@dataclass(frozen=True, slots=True)
class Member:
    name: str            # "" for an anonymous struct/union member
    bit_offset: int
    type: object         # backend reference


@dataclass(frozen=True, slots=True)
class TypeNode:
    """One type, whichever backend it came from."""

    kind: str            # "struct", "union", "enum", "typedef", "array", "int", "ptr", ...
    name: str
    size: int | None
    ref: object = None   # referenced type: typedef/qualifier/pointer target, array element
    members: tuple[Member, ...] = ()
    enumerators: tuple[tuple[str, int], ...] = ()
    nelems: int | None = None


class _Btf:
    """The ``.BTF`` type section: type ids are list indexes (0 is void)."""

    def __init__(self, data: bytes, little: bool, pointer_size: int) -> None:
        self.order = "<" if little else ">"
        self.pointer_size = pointer_size
        magic, version, _flags, hdr_len = struct.unpack_from(self.order + "HBBI", data, 0)
        if magic != BTF_MAGIC or version != 1:
            raise FormatError(f"expected BTF magic {BTF_MAGIC:#x} version 1, got {magic:#x} "
                              f"version {version}", offset=0, field="btf_header.magic")
        type_off, type_len, str_off, str_len = struct.unpack_from(self.order + "IIII", data, 8)
        self.types = memoryview(data)[hdr_len + type_off:hdr_len + type_off + type_len]
        self.strings = bytes(data[hdr_len + str_off:hdr_len + str_off + str_len])
        self.offsets = [0]                      # type id -> offset in self.types (0: void)
        self.by_name: dict[str, list[int]] = {}
        self._index()

    def _index(self) -> None:
        head = struct.Struct(self.order + "III")
        pos, types, named = 0, self.types, ("struct", "union", "enum", "enum64", "typedef")
        while pos < len(types):
            name_off, info, _ = head.unpack_from(types, pos)
            kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
            if kind not in BTF_KINDS:
                raise FormatError(f"unknown BTF kind {kind}", offset=pos,
                                  field=f"btf_type[{len(self.offsets)}].info")
            self.offsets.append(pos)
            if name_off and BTF_KINDS[kind] in named:
                self.by_name.setdefault(self._str(name_off), []).append(len(self.offsets) - 1)
            pos += 12 + _BTF_FIXED.get(kind, 0) + _BTF_PER_VLEN.get(kind, 0) * vlen

    def _str(self, off: int) -> str:
        end = self.strings.index(b"\0", off)
        return self.strings[off:end].decode("ascii", "replace")

    def find(self, name: str, kinds: tuple[str, ...]) -> int | None:
        for type_id in self.by_name.get(name, ()):
            if self.node(type_id).kind in kinds:
                return type_id
        return None

    @cached_property
    def enumerators(self) -> dict[str, int]:
        """Every enumerator of every enum (anonymous ones too), first definition wins."""
        out: dict[str, int] = {}
        for type_id in range(1, len(self.offsets)):
            info = int.from_bytes(self.types[self.offsets[type_id] + 4:self.offsets[type_id] + 8],
                                  "little" if self.order == "<" else "big")
            if (info >> 24) & 0x1F in (6, 19):
                for item, value in self.node(type_id).enumerators:
                    out.setdefault(item, value)
        return out

    def enumerator(self, name: str) -> int | None:
        return self.enumerators.get(name)

    def node(self, type_id: int) -> TypeNode:
        if type_id == 0:
            return TypeNode("void", "void", 0)
        o = self.order
        pos = self.offsets[type_id]
        name_off, info, size_or_type = struct.unpack_from(o + "III", self.types, pos)
        kind, vlen, kflag = BTF_KINDS[(info >> 24) & 0x1F], info & 0xFFFF, info >> 31
        name, body = self._str(name_off), pos + 12
        if kind in ("struct", "union"):
            members = []
            for i in range(vlen):
                m_name, m_type, m_off = struct.unpack_from(o + "III", self.types, body + 12 * i)
                members.append(Member(self._str(m_name), m_off & 0xFFFFFF if kflag else m_off,
                                      m_type))
            return TypeNode(kind, name, size_or_type, members=tuple(members))
        if kind == "enum":
            signed = o + ("Ii" if kflag else "II")
            return TypeNode(kind, name, size_or_type, enumerators=tuple(
                (self._str(n), v) for n, v in (struct.unpack_from(signed, self.types, body + 8 * i)
                                               for i in range(vlen))))
        if kind == "enum64":
            items = []
            for i in range(vlen):
                n, lo, hi = struct.unpack_from(o + "III", self.types, body + 12 * i)
                value = hi << 32 | lo
                items.append((self._str(n), value - (1 << 64) if kflag and hi >> 31 else value))
            return TypeNode(kind, name, size_or_type, enumerators=tuple(items))
        if kind == "array":
            elem, _index, nelems = struct.unpack_from(o + "III", self.types, body)
            return TypeNode(kind, name, None, ref=elem, nelems=nelems)
        if kind in ("int", "float"):
            return TypeNode(kind, name, size_or_type)
        if kind == "ptr":
            return TypeNode(kind, name, self.pointer_size, ref=size_or_type)
        return TypeNode(kind, name, None, ref=size_or_type)


class _Dwarf:
    """``.debug_info`` through pyelftools, indexed one compile unit at a time."""

    _TAGS = {"DW_TAG_structure_type": "struct", "DW_TAG_union_type": "union",
             "DW_TAG_enumeration_type": "enum", "DW_TAG_typedef": "typedef",
             "DW_TAG_array_type": "array", "DW_TAG_base_type": "int",
             "DW_TAG_pointer_type": "ptr", "DW_TAG_const_type": "const",
             "DW_TAG_volatile_type": "volatile", "DW_TAG_restrict_type": "restrict",
             "DW_TAG_subrange_type": "subrange", "DW_TAG_member": "member",
             "DW_TAG_enumerator": "enumerator"}

    def __init__(self, elf, pointer_size: int) -> None:
        self.dwarf = elf.get_dwarf_info(relocate_dwarf_sections=elf["e_type"] == "ET_REL")
        self.pointer_size = pointer_size
        self._units = self.dwarf.iter_CUs()
        self.by_name: dict[str, list] = {}
        self.enumerators: dict[str, int] = {}
        self._done = False

    def _index_next_unit(self) -> bool:
        unit = next(self._units, None)
        if unit is None:
            self._done = True
            return False
        for die in unit.get_top_DIE().iter_children():
            kind = self._TAGS.get(die.tag)
            if kind in ("struct", "union", "enum", "typedef") and "DW_AT_name" in die.attributes \
                    and "DW_AT_declaration" not in die.attributes:
                name = die.attributes["DW_AT_name"].value.decode("utf-8", "replace")
                self.by_name.setdefault(name, []).append(die)
            if kind == "enum":
                for item in die.iter_children():
                    if item.tag == "DW_TAG_enumerator":
                        self.enumerators.setdefault(
                            item.attributes["DW_AT_name"].value.decode(),
                            item.attributes["DW_AT_const_value"].value)
        return True

    def find(self, name: str, kinds: tuple[str, ...]):
        while True:
            for die in self.by_name.get(name, ()):
                if self._TAGS[die.tag] in kinds:
                    return die
            if self._done or not self._index_next_unit():
                return None

    def enumerator(self, name: str) -> int | None:
        while name not in self.enumerators and not self._done:
            self._index_next_unit()
        return self.enumerators.get(name)

    def node(self, die) -> TypeNode:
        if die is None:
            return TypeNode("void", "void", 0)
        kind = self._TAGS.get(die.tag, die.tag)
        attrs = die.attributes
        name = attrs["DW_AT_name"].value.decode("utf-8", "replace") if "DW_AT_name" in attrs \
            else ""
        size = attrs["DW_AT_byte_size"].value if "DW_AT_byte_size" in attrs else None
        ref = die.get_DIE_from_attribute("DW_AT_type") if "DW_AT_type" in attrs else None
        if kind in ("struct", "union"):
            members = tuple(Member(
                m.attributes["DW_AT_name"].value.decode() if "DW_AT_name" in m.attributes else "",
                self._bit_offset(m), m.get_DIE_from_attribute("DW_AT_type"))
                for m in die.iter_children() if m.tag == "DW_TAG_member")
            return TypeNode(kind, name, size, members=members)
        if kind == "enum":
            return TypeNode(kind, name, size, enumerators=tuple(
                (e.attributes["DW_AT_name"].value.decode(), e.attributes["DW_AT_const_value"].value)
                for e in die.iter_children() if e.tag == "DW_TAG_enumerator"))
        if kind == "array":
            nelems = 1
            for sub in die.iter_children():
                if sub.tag == "DW_TAG_subrange_type":
                    if "DW_AT_count" in sub.attributes:
                        nelems *= sub.attributes["DW_AT_count"].value
                    elif "DW_AT_upper_bound" in sub.attributes:
                        nelems *= sub.attributes["DW_AT_upper_bound"].value + 1
                    else:
                        nelems = 0
            return TypeNode(kind, name, None, ref=ref, nelems=nelems)
        if kind == "ptr":
            return TypeNode(kind, name, size or self.pointer_size, ref=ref)
        return TypeNode(kind, name, size, ref=ref)

    @staticmethod
    def _bit_offset(member) -> int:
        attrs = member.attributes
        if "DW_AT_data_member_location" in attrs:
            return attrs["DW_AT_data_member_location"].value * 8
        return attrs["DW_AT_data_bit_offset"].value if "DW_AT_data_bit_offset" in attrs else 0


class DebugInfo(Closable):
    """A vmlinux's types (BTF or DWARF), symbols, build-id and banner.

    Use :meth:`open`; symbols and file bytes come from :class:`minidump.elf.vmlinux.Vmlinux`.
    """

    def __init__(self, vmlinux: Vmlinux) -> None:
        self.vmlinux = vmlinux
        self.path = vmlinux.path
        self.bits = vmlinux.bits
        self.little = vmlinux.little_endian
        btf = vmlinux.section(".BTF")
        self._types: _Btf | _Dwarf | None = None
        if btf is not None:
            try:
                self._types = _Btf(vmlinux.section_data(btf), self.little, self.bits // 8)
            except FormatError as exc:
                raise exc.located(path=self.path, base=btf.offset, prefix=".BTF") from None
        elif vmlinux.section(".debug_info") is not None:
            from elftools.elf.elffile import ELFFile
            self._types = _Dwarf(ELFFile(vmlinux.fh), self.bits // 8)

    @classmethod
    def open(cls, path: str) -> "DebugInfo":
        vmlinux = Vmlinux.open(path)
        try:
            return cls(vmlinux)
        except BaseException:
            vmlinux.close()
            raise

    def close(self) -> None:
        self.vmlinux.close()

    @property
    def has_btf(self) -> bool:
        return isinstance(self._types, _Btf)

    @property
    def type_source(self) -> str:
        """``"BTF"``, ``"DWARF"`` or ``""`` when the vmlinux has neither."""
        return {_Btf: "BTF", _Dwarf: "DWARF"}.get(type(self._types), "")

    @property
    def arch(self) -> str:
        """``arm64``, ``x86_64``, ... (:attr:`minidump.model.Arch.name`)."""
        return self.vmlinux.arch.name

    # -- types ----------------------------------------------------------------
    def _resolve(self, node: TypeNode) -> TypeNode:
        while node.kind in _TRANSPARENT:
            node = self._types.node(node.ref)
        return node

    def _named(self, name: str, kinds: tuple[str, ...]) -> TypeNode | None:
        if self._types is None:
            return None
        ref = self._types.find(name, kinds)
        return None if ref is None else self._types.node(ref)

    def _sizeof(self, node: TypeNode) -> int | None:
        node = self._resolve(node)
        if node.kind == "array":
            elem = self._sizeof(self._types.node(node.ref))
            return None if elem is None or node.nelems is None else elem * node.nelems
        return node.size

    def struct_size(self, name: str) -> int | None:
        """``sizeof(struct name)``, or of a union or typedef (``atomic_long_t``)."""
        node = self._named(name, ("struct", "union", "typedef"))
        return None if node is None else self._sizeof(node)

    def _member(self, struct_name: str, path: str) -> tuple[int, TypeNode] | None:
        node = self._named(struct_name, ("struct", "union", "typedef"))
        bits = 0
        for part in path.split("."):
            if node is None:
                return None
            found = self._find_member(self._resolve(node), part)
            if found is None:
                return None
            offset, node = found
            bits += offset
        return bits, node

    def _find_member(self, node: TypeNode, name: str) -> tuple[int, TypeNode] | None:
        for member in node.members:
            if member.name == name:
                return member.bit_offset, self._types.node(member.type)
        for member in node.members:
            if not member.name:  # anonymous struct/union: look inside
                inner = self._find_member(self._resolve(self._types.node(member.type)), name)
                if inner is not None:
                    return member.bit_offset + inner[0], inner[1]
        return None

    def member_offset(self, struct_name: str, path: str) -> int | None:
        """``offsetof(struct struct_name, path)`` in bytes; path may be dotted."""
        found = self._member(struct_name, path)
        return None if found is None else found[0] // 8

    def member_size(self, struct_name: str, path: str) -> int | None:
        """``sizeof(((struct struct_name *)0)->path)``."""
        found = self._member(struct_name, path)
        return None if found is None else self._sizeof(found[1])

    def member_length(self, struct_name: str, path: str) -> int | None:
        """Element count of an array member (``ARRAY_SIZE``), None if not an array."""
        found = self._member(struct_name, path)
        if found is None:
            return None
        node = self._resolve(found[1])
        return node.nelems if node.kind == "array" else None

    def enum(self, name: str) -> dict[str, int]:
        """Enumerators of ``enum name`` (empty when absent)."""
        node = self._named(name, ("enum", "enum64"))
        return dict(node.enumerators) if node else {}

    def enumerator(self, name: str) -> int | None:
        """The value of one enumerator in whichever enum holds it (``PG_lru``)."""
        return None if self._types is None else self._types.enumerator(name)

    # -- symbols and file contents -------------------------------------------
    def symbol(self, name: str) -> int | None:
        """Link-time address of a symbol (add KERNELOFFSET for the runtime one)."""
        found = self.vmlinux.symbols.get(name)
        return None if found is None else found.value

    def symbol_size(self, name: str) -> int | None:
        found = self.vmlinux.symbols.get(name)
        return None if found is None else found.size

    def read_symbol(self, name: str, size: int | None = None) -> bytes:
        """A symbol's initial bytes from the file (``.data``/``.rodata``)."""
        found = self.vmlinux.symbol(name)
        return self.vmlinux.read_link(found.value, size or found.size, name)

    @property
    def build_id(self) -> str | None:
        """The GNU build-id as lowercase hex (what VMCOREINFO's BUILD-ID holds)."""
        return self.vmlinux.build_id

    @cached_property
    def banner(self) -> str | None:
        """``linux_banner`` (``init/version.c``) without its newline."""
        try:
            raw = self.read_symbol("linux_banner")
        except MinidumpError:
            return None
        return raw.split(b"\0", 1)[0].decode("ascii", "replace").rstrip("\n")

    @cached_property
    def osrelease(self) -> str | None:
        """UTS_RELEASE: the third word of ``linux_banner`` ("Linux version X ...")."""
        words = (self.banner or "").split()
        return words[2] if len(words) > 2 and words[:2] == ["Linux", "version"] else None
