"""kallsyms: the kernel's own symbol table, decoded from captured memory with no vmlinux.

``scripts/kallsyms.c`` links these tables into ``.rodata`` (``kernel/kallsyms.c`` and
``kernel/kallsyms_internal.h`` read them), and since Linux 6.0 (commits 5fd8fea935a1
"vmcoreinfo: include kallsyms symbols", f09bddbd8661 "vmcoreinfo: add kallsyms_num_syms
symbol") VMCOREINFO carries their addresses as ``SYMBOL(kallsyms_*)``:

* ``kallsyms_num_syms`` (``unsigned int``) symbols, in address order;
* ``kallsyms_names``: per symbol a length in tokens -- one byte, or since 6.1 (73bbb94466fd
  "kallsyms: support "big" kernel symbols") two bytes, little-endian base 128, when the
  first has its high bit set -- then that many token indexes.  The first character of the
  expanded name is the symbol's type letter (``t``, ``D``, ...);
* ``kallsyms_token_index`` (256 ``u16``) offsets into ``kallsyms_token_table``, NUL-ended
  token strings;
* the addresses, in one of four encodings (``Kallsyms.encoding``):

  - ``absolute``: ``unsigned long kallsyms_addresses[]`` (no ``CONFIG_KALLSYMS_BASE_RELATIVE``;
    before 6.11);
  - ``base-relative``: ``int kallsyms_offsets[]`` as ``u32`` above ``unsigned long
    kallsyms_relative_base`` (4.6 -- 6.19);
  - ``base-relative, absolute percpu`` (``CONFIG_KALLSYMS_ABSOLUTE_PERCPU``, x86_64 SMP until
    6.15): a non-negative offset is the address itself, a negative one is
    ``kallsyms_relative_base - 1 - offset``;
  - ``place-relative`` (7.0+, a081b5789255 "kallsyms: Get rid of kallsyms relative base";
    VMCOREINFO no longer has ``SYMBOL(kallsyms_relative_base)``): each ``int`` is relative to
    its own address, ``offset_to_ptr(&kallsyms_offsets[i])``; 32-bit kernels that are not
    relocatable store the address as ``u32``.

  The base-relative forms are told apart as drgn does: the one that gives VMCOREINFO's own
  ``SYMBOL(_stext)`` for kallsyms' ``_stext`` wins; without that key, the one whose
  addresses are in order.

Counts and lengths come from the capture and are not trusted: every table is read through
:class:`~minidump.kernel.memory.KernelMemory` (a missing byte is a one-line FaultError), the
count and the name lengths are bounded, and nonsense raises :class:`KallsymsError` naming
the table, the index and the address.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from minidump.errors import FaultError, FormatError, MinidumpError
from minidump.kernel.translate import MASK64

if TYPE_CHECKING:
    from minidump.kernel.memory import KernelMemory
    from minidump.kernel.vmcoreinfo import VmcoreInfo

#: the VMCOREINFO keys a decoder needs (kernel/vmcore_info.c, CONFIG_KALLSYMS)
REQUIRED = ("kallsyms_names", "kallsyms_num_syms", "kallsyms_token_table",
            "kallsyms_token_index")
#: far above any real kernel (an allyesconfig x86_64 6.x has about 400k symbols)
MAX_SYMS = 1 << 22
#: include/linux/kallsyms.h: KSYM_NAME_LEN is 512 since 6.1 (128 before); a name never
#: needs more tokens than characters, and the type letter is one more
MAX_TOKENS = 512 + 1
#: bytes of kallsyms_names read at a time
CHUNK = 1 << 20

#: what a name found in the kernel's own tables rests on, as reports say it
KALLSYMS_SOURCE = "kallsyms tables in the capture (VMCOREINFO SYMBOL(kallsyms_*))"


class KallsymsError(FormatError):
    """The kallsyms tables of a capture make no sense (counts, lengths, order)."""


@dataclass(frozen=True, slots=True)
class KernelSymbol:
    """One kallsyms entry: ``name`` without its type letter, ``type`` the letter
    (``t`` local text, ``T`` global text, ``d``/``D`` data, ...), runtime ``address``."""

    name: str
    type: str
    address: int


@dataclass(frozen=True, slots=True)
class Located:
    """Where an address falls: ``name+0xoffset/0xsize`` as the kernel prints it
    (``kernel/kallsyms.c: __sprint_symbol``); ``size`` runs to the next symbol's address."""

    name: str
    offset: int
    size: int
    type: str

    def __str__(self) -> str:
        return f"{self.name}+{self.offset:#x}/{self.size:#x}"


class Kallsyms:
    """The decoded table: symbols in kallsyms order (which is address order), with
    lookups by address and by name."""

    def __init__(self, symbols: list[KernelSymbol], encoding: str, long_names: bool) -> None:
        self.symbols = symbols
        self.encoding = encoding
        self.long_names = long_names
        self._addresses = [s.address for s in symbols]
        self._by_name: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self.symbols)

    def address(self, name: str) -> int | None:
        """The address of the first symbol called ``name``, or None."""
        if self._by_name is None:
            by_name: dict[str, int] = {}
            for symbol in self.symbols:
                by_name.setdefault(symbol.name, symbol.address)
            self._by_name = by_name
        return self._by_name.get(name)

    def lookup(self, address: int) -> Located | None:
        """The symbol holding ``address`` as ``kernel/kallsyms.c: get_symbol_pos`` finds it (the
        first of aliased symbols; the size runs to the next higher address), or None below
        the first symbol and at or past the last one (whose end the table does not give)."""
        addrs = self._addresses
        index = bisect.bisect_right(addrs, address) - 1
        if index < 0:
            return None
        start = addrs[index]
        following = bisect.bisect_right(addrs, start)
        if following >= len(addrs):
            return None
        first = bisect.bisect_left(addrs, start)
        symbol = self.symbols[first]
        return Located(symbol.name, address - start, addrs[following] - start, symbol.type)

    def starting_at(self, address: int) -> list[KernelSymbol]:
        """Every symbol whose address is exactly ``address`` (aliases in table order)."""
        lo = bisect.bisect_left(self._addresses, address)
        hi = bisect.bisect_right(self._addresses, address)
        return self.symbols[lo:hi]


def certain_name(table: Kallsyms, address: int | None) -> str | None:
    """The one name of the symbols that start exactly at ``address``; None where none starts
    there or where aliases of different names do (then which object it is is not certain)."""
    if address is None:
        return None
    names = {s.name for s in table.starting_at(address)}
    return names.pop() if len(names) == 1 else None


def has_tables(info: "VmcoreInfo | None") -> bool:
    """Whether VMCOREINFO locates the kallsyms tables."""
    return info is not None and all(info.symbol(n) is not None for n in REQUIRED) and (
        info.symbol("kallsyms_offsets") is not None
        or info.symbol("kallsyms_addresses") is not None)


def _release(info: "VmcoreInfo") -> tuple[int, int]:
    text = info.osrelease or ""
    parts = []
    for piece in text.split(".")[:2]:
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        parts.append(int(digits) if digits else 0)
    while len(parts) < 2:
        parts.append(0)
    return parts[0], parts[1]


class _Located:
    """VMCOREINFO with the kallsyms tables' addresses given from elsewhere (debug-kinfo)."""

    def __init__(self, info: "VmcoreInfo", tables: dict[str, int]) -> None:
        self.info, self.tables = info, tables
        self.osrelease = info.osrelease

    def symbol(self, name: str) -> int | None:
        if name in self.tables:
            return self.tables[name]
        return None if name.startswith("kallsyms_") else self.info.symbol(name)


def load(kernel: "KernelMemory", info: "VmcoreInfo", *, long_names: bool | None = None,
         tables: dict[str, int] | None = None, count: int | None = None) -> Kallsyms:
    """Decode every kallsyms symbol of the kernel ``kernel`` reads, located by ``info``.

    ``long_names`` says whether a name length with its high bit set takes two bytes (6.1+);
    None decides from OSRELEASE (as drgn does: the change left no other trace).
    """
    if kernel.arch is None:
        raise KallsymsError("kallsyms: the capture's architecture is unknown", path=kernel.path)
    if tables is not None:      # located by debug-kinfo: its count, its table addresses
        info = _Located(info, tables)
    elif not has_tables(info):
        missing = [f"SYMBOL({n})" for n in REQUIRED if info.symbol(n) is None]
        raise KallsymsError("kallsyms: VMCOREINFO lacks " + (", ".join(missing) or
                            "SYMBOL(kallsyms_offsets) and SYMBOL(kallsyms_addresses)"),
                            path=kernel.path)
    order = kernel.arch.byteorder
    word = kernel.arch.bits // 8
    if long_names is None:
        long_names = _release(info) >= (6, 1)

    def at(name: str) -> int:
        return info.symbol(name)

    def fail(problem: str, table: str, index: int | None = None,
             vaddr: int | None = None) -> KallsymsError:
        field = table if index is None else f"{table}[{index}]"
        where = f" at {vaddr:#x}" if vaddr is not None else ""
        return KallsymsError(f"kallsyms: {field}{where}: {problem}", path=kernel.path)

    if count is None:
        count = int.from_bytes(kernel.read_virt(at("kallsyms_num_syms"), 4,
                                                "kallsyms_num_syms"), order)
    if not 0 < count <= MAX_SYMS:
        raise fail(f"count {count} is not in 1..{MAX_SYMS}", "kallsyms_num_syms",
                   vaddr=at("kallsyms_num_syms"))

    # token table: 256 u16 offsets, each to a NUL-ended string
    raw_index = kernel.read_virt(at("kallsyms_token_index"), 512, "kallsyms_token_index")
    index = [int.from_bytes(raw_index[i:i + 2], order) for i in range(0, 512, 2)]
    tokens = _tokens(kernel, at("kallsyms_token_table"), index, fail)

    names, types = _names(kernel, at("kallsyms_names"), count, tokens, long_names, fail)
    addresses, encoding = _addresses(kernel, info, count, names, order, word, fail)
    for i in range(1, count):
        if addresses[i] < addresses[i - 1]:
            raise fail(f"address {addresses[i]:#x} is below the previous one "
                       f"{addresses[i - 1]:#x} ({encoding}): the table is not in address order",
                       "kallsyms_offsets" if encoding != "absolute" else "kallsyms_addresses", i)
    symbols = [KernelSymbol(n, t, a) for n, t, a in zip(names, types, addresses)]
    return Kallsyms(symbols, encoding, long_names)


def _tokens(kernel, table: int, index: list[int], fail) -> list[str]:
    last = max(index)
    # every token ends with NUL: read up to the last one's start, then its tail
    raw = bytearray(kernel.read_virt(table, last + 1, "kallsyms_token_table"))
    tail = raw.find(0, last)
    while tail < 0:
        if len(raw) - last > MAX_TOKENS:
            raise fail(f"token at offset {last:#x} has no NUL within {MAX_TOKENS} bytes",
                       "kallsyms_token_table", vaddr=table + last)
        raw += _read_some(kernel, table + len(raw), 64)
        tail = raw.find(0, last)
    text = raw.decode("latin-1")
    return [text[start:text.index("\0", start)] for start in index]


def _read_some(kernel, vaddr: int, size: int) -> bytes:
    """Up to ``size`` bytes at ``vaddr``, fewer where the capture ends (at least one)."""
    while True:
        try:
            return kernel.read_virt(vaddr, size, "kallsyms_token_table")
        except FaultError:
            if size == 1:
                raise
            size //= 2


def _names(kernel, base: int, count: int, tokens: list[str], long_names: bool, fail,
           ) -> tuple[list[str], list[str]]:
    """Walk ``kallsyms_names``: per symbol a length then that many token indexes."""
    buf = b""
    held = 0          # bytes of the stream in buf, from base

    def need(end: int, i: int, start: int) -> None:
        nonlocal buf, held
        if end <= held:
            return
        size = max(end - held, CHUNK)
        try:
            more = kernel.read_virt(base + held, size, "kallsyms_names")
        except FaultError:
            try:
                more = kernel.read_virt(base + held, end - held, "kallsyms_names")
            except FaultError:
                raise fail(f"bytes {start:#x}..{end:#x} of the stream are not all in the "
                           "capture", "kallsyms_names", i, base + start) from None
        buf = buf + more if held else more
        held += len(more)

    names: list[str] = []
    types: list[str] = []
    join = "".join
    pos = 0
    for i in range(count):
        start = pos
        if pos + 2 > held:
            need(pos + 2 if long_names else pos + 1, i, start)
        length = buf[pos]
        pos += 1
        if length & 0x80 and long_names:
            length = (length & 0x7F) | (buf[pos] << 7)
            pos += 1
        if not 0 < length <= MAX_TOKENS:
            raise fail(f"name of {length} tokens (1..{MAX_TOKENS})", "kallsyms_names", i,
                       base + start)
        if pos + length > held:
            need(pos + length, i, start)
        text = join([tokens[b] for b in buf[pos:pos + length]])
        pos += length
        if not text:
            raise fail("empty name", "kallsyms_names", i, base + start)
        types.append(text[0])
        names.append(text[1:])
    return names, types


def _addresses(kernel, info, count: int, names: list[str], order: str, word: int, fail,
               ) -> tuple[list[int], str]:
    absolute = info.symbol("kallsyms_addresses")
    if absolute is not None and info.symbol("kallsyms_offsets") is None:
        raw = kernel.read_virt(absolute, count * word, "kallsyms_addresses")
        fmt = {4: "I", 8: "Q"}[word]
        return list(struct.unpack(("<" if order == "little" else ">") + f"{count}{fmt}", raw)), \
            "absolute"
    table = info.symbol("kallsyms_offsets")
    raw = kernel.read_virt(table, count * 4, "kallsyms_offsets")
    signed = struct.unpack(("<" if order == "little" else ">") + f"{count}i", raw)
    mask = MASK64 if word == 8 else 0xFFFFFFFF

    candidates: list[tuple[str, list[int]]] = []
    base_at = info.symbol("kallsyms_relative_base")
    if base_at is not None:
        base = int.from_bytes(kernel.read_virt(base_at, word, "kallsyms_relative_base"), order)
        candidates.append(("base-relative", [(base + (v & 0xFFFFFFFF)) & mask for v in signed]))
        candidates.append(("base-relative, absolute percpu",
                           [v if v >= 0 else (base - 1 - v) & mask for v in signed]))
    else:
        candidates.append(("place-relative",
                           [(table + 4 * i + v) & mask for i, v in enumerate(signed)]))
        if word == 4:
            candidates.append(("absolute (u32)", [v & 0xFFFFFFFF for v in signed]))

    stext = info.symbol("_stext")
    where = names.index("_stext") if stext is not None and "_stext" in names else None
    if where is not None:
        for encoding, addresses in candidates:
            if addresses[where] == stext:
                return addresses, encoding
        raise fail(f"no encoding gives VMCOREINFO's _stext {stext:#x} for kallsyms' _stext "
                   "(tried " + ", ".join(e for e, _ in candidates) + ")",
                   "kallsyms_offsets", where, table + 4 * where)
    for encoding, addresses in candidates:
        if all(addresses[i - 1] <= addresses[i] for i in range(1, count)):
            return addresses, encoding
    raise fail("no encoding puts the addresses in order (tried "
               + ", ".join(e for e, _ in candidates) + ")", "kallsyms_offsets", vaddr=table)


def readable_table(capture) -> "Kallsyms | None":
    """The capture's own kallsyms table (:meth:`Capture.kallsyms`), or None when VMCOREINFO
    does not locate one or it does not read."""
    try:
        return capture.kallsyms()
    except MinidumpError:
        return None


def address_in(capture, name: str) -> int | None:
    """``name``'s runtime address from the capture's own kallsyms tables, if they read."""
    table = readable_table(capture)
    return table.address(name) if table is not None else None
