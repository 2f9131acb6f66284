"""kallsyms tables built the way scripts/kallsyms.c lays them out, for the decoder's tests.

``build_tables`` takes ``(type letter + name, address)`` pairs in address order and returns
one byte string (the tables back to back in ``.rodata`` order) placed at ``base`` plus the
VMCOREINFO ``SYMBOL(kallsyms_*)`` lines that locate them.  Names are compressed greedily with
a small token table: the unused high byte values stand for common substrings, the rest are
the single characters themselves, as the kernel's table does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

#: multi-character tokens for bytes 0x80.. (scripts/kallsyms.c learns its own; any will do)
TOKENS = ("sysrq_", "handle_", "panic", "crash", "jiffies", "_64", "__", "init", "task", "cpu")

ENCODINGS = ("absolute", "base-relative", "base-relative, absolute percpu", "place-relative")


@dataclass
class Tables:
    data: bytes
    base: int
    keys: dict[str, int]           # SYMBOL name -> address
    osrelease: str

    def vmcoreinfo(self, *, stext: int | None = None, extra: str = "") -> bytes:
        lines = [f"OSRELEASE={self.osrelease}", "PAGESIZE=4096"]
        lines += [f"SYMBOL({k})={v:x}" for k, v in self.keys.items()]
        if stext is not None:
            lines.append(f"SYMBOL(_stext)={stext:x}")
        return ("\n".join(lines) + "\n" + extra).encode()


def token_table() -> tuple[list[bytes], bytes, bytes]:
    """(256 tokens, kallsyms_token_table, kallsyms_token_index little-endian)."""
    tokens = [bytes([i]) if 0x20 <= i < 0x7F else b"?" for i in range(256)]
    for i, text in enumerate(TOKENS):
        tokens[0x80 + i] = text.encode()
    table, index = b"", []
    for token in tokens:
        index.append(len(table))
        table += token + b"\0"
    return tokens, table, struct.pack("<256H", *index)


def compress(text: str, tokens: list[bytes]) -> bytes:
    """Greedy longest-token encoding of ``text`` (type letter included)."""
    raw, out, i = text.encode(), bytearray(), 0
    order = sorted(range(256), key=lambda t: -len(tokens[t]))
    while i < len(raw):
        for t in order:
            if tokens[t] != b"?" and raw.startswith(tokens[t], i):
                out.append(t)
                i += len(tokens[t])
                break
        else:
            raise ValueError(f"no token for {raw[i:i + 1]!r}")
    return bytes(out)


def length_prefix(count: int, long_names: bool) -> bytes:
    if long_names and count >= 0x80:
        return bytes([0x80 | (count & 0x7F), count >> 7])
    if count > 0xFF:
        raise ValueError("a 1-byte length holds at most 255 tokens")
    return bytes([count])


def build_tables(symbols: list[tuple[str, int]], *, base: int, encoding: str = "base-relative",
                 long_names: bool = True, word: int = 8, num_syms: int | None = None,
                 names: bytes | None = None) -> Tables:
    """The kallsyms tables at ``base``.  ``num_syms`` and ``names`` override what is written
    (for hostile tables)."""
    tokens, table, index = token_table()
    stream = names if names is not None else b"".join(
        length_prefix(len(c := compress(text, tokens)), long_names) + c for text, _ in symbols)
    addresses = [a for _, a in symbols]
    out = bytearray()
    keys: dict[str, int] = {}
    fmt = "<Q" if word == 8 else "<I"
    mask = (1 << (8 * word)) - 1

    def align(n: int) -> None:
        while len(out) % n:
            out.append(0)

    if encoding == "absolute":
        keys["kallsyms_addresses"] = base
        out += b"".join(struct.pack(fmt, a) for a in addresses)
    else:
        keys["kallsyms_offsets"] = base
        if encoding == "place-relative":
            values = [a - (base + 4 * i) for i, a in enumerate(addresses)]
        elif encoding == "base-relative":
            relative = min(addresses)
            values = [a - relative for a in addresses]
        else:   # absolute percpu: small addresses as themselves, the rest below the base
            relative = min(a for a in addresses if a >= 1 << 31)
            values = [a if a < 1 << 31 else relative - 1 - a for a in addresses]
        for v in values:
            out += struct.pack("<i" if v < 0 or encoding != "base-relative" else "<I", v)
        if encoding != "place-relative":
            align(word)
            keys["kallsyms_relative_base"] = base + len(out)
            out += struct.pack(fmt, relative & mask)
    align(4)
    keys["kallsyms_num_syms"] = base + len(out)
    out += struct.pack("<I", len(symbols) if num_syms is None else num_syms)
    align(8)
    keys["kallsyms_names"] = base + len(out)
    out += stream
    align(8)
    keys["kallsyms_token_table"] = base + len(out)
    out += table
    align(2)
    keys["kallsyms_token_index"] = base + len(out)
    out += index
    return Tables(bytes(out), base, keys, "6.1.0-test" if long_names else "5.15.0-test")
