"""Helpers shared by the schemas: located parsing and a struct fast path.

``parse_at`` is the one choke point where construct errors become
:class:`minidump.errors.FormatError` carrying the absolute offset and the
field's name, so messages read ``file: offset 0x1a8 (minidump_region[3].valid): ...``.
"""

from __future__ import annotations

import re
import struct
from functools import lru_cache
from typing import Any

import construct as cs

from minidump.errors import FormatError, TruncatedError


def schema_name(schema: cs.Construct) -> str:
    """The C name given to a schema with ``"name" / Struct(...)``, else ``"struct"``."""
    return getattr(schema, "name", None) or "struct"


def _static_size(con: cs.Construct) -> int | None:
    try:
        return con.sizeof()
    except (cs.SizeofError, KeyError, AttributeError, TypeError):
        return None


def _unwrap(con: cs.Construct) -> cs.Construct:
    while isinstance(con, (cs.Renamed, cs.Transformed, cs.Checksum)) or type(con).__name__ in (
            "Const", "Default", "Rebuild", "Computed"):
        sub = getattr(con, "subcon", None)
        if sub is None:
            break
        con = sub
    return con


@lru_cache(maxsize=None)
def field_offsets(schema: cs.Construct) -> dict[str, int]:
    """Map each top-level field name of a fixed-layout Struct to its byte offset.

    Fields after the first variable-size member are left out.
    """
    offsets: dict[str, int] = {}
    struct_con = _unwrap(schema)
    if not isinstance(struct_con, cs.Struct):
        return offsets
    pos = 0
    for sub in struct_con.subcons:
        if sub.name:
            offsets[sub.name] = pos
        size = _static_size(sub)
        if size is None:
            break
        pos += size
    return offsets


def _locate(schema: cs.Construct, parts: list[str]) -> tuple[int, str]:
    """Offset and dotted name of the field named by construct's error path."""
    offset, names, con = 0, [], schema
    for part in parts:
        if isinstance(con, cs.Renamed) and part == con.name and not names:
            con = con.subcon
            continue
        inner = _unwrap(con)
        if part.startswith("[") and part.endswith("]") and isinstance(inner, cs.Array):
            try:
                index = int(part[1:-1])
            except ValueError:
                break
            elem = inner.subcon
            size = _static_size(elem)
            if size is None:
                break
            offset += index * size
            if names:
                names[-1] += part
            else:
                names.append(part)
            con = elem
            continue
        if not isinstance(inner, cs.Struct):
            break
        offs = field_offsets(inner)
        if part not in offs:
            break
        offset += offs[part]
        names.append(part)
        con = next(s for s in inner.subcons if s.name == part)
    return offset, ".".join(names)


_BYTES_LITERAL = re.compile(r"b'(?:[^'\\]|\\.)*'|b\"(?:[^\"\\]|\\.)*\"")


def _bytes_shown(match: "re.Match[str]") -> str:
    """A magic in an error: hex and the printable characters (STYLE.md 5), not a bytes repr."""
    import ast
    try:
        data = ast.literal_eval(match.group())
    except (ValueError, SyntaxError):
        return match.group()
    text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in data)
    return f"0x{data.hex()} '{text}'"


def parse_at(schema: cs.Construct, buf: bytes | bytearray | memoryview, offset: int = 0, *,
             path: str | None = None, what: str | None = None, base: int = 0,
             **context: Any) -> Any:
    """Parse ``schema`` at ``buf[offset:]``; failures become one-line FormatErrors.

    ``what`` names the structure (``minidump_region[3]``); ``base`` is added to
    every reported offset (the position of ``buf`` inside the file).
    """
    what = what or schema_name(schema)
    size = _static_size(schema)
    view = memoryview(buf)
    if offset < 0 or offset > len(view) or (size is not None and offset + size > len(view)):
        have = max(0, len(view) - offset)
        need = f"{size:#x}" if size is not None else "more"
        raise TruncatedError(f"truncated: need {need} bytes, only {have:#x} left",
                             path=path, offset=base + offset, field=what)
    try:
        return schema.parse(view[offset:offset + size] if size is not None else view[offset:],
                            **context)
    except cs.ConstructError as exc:
        parts = [p.strip() for p in (getattr(exc, "path", None) or "").split("->")][1:]
        rel, field = _locate(schema, parts)
        name = f"{what}.{field}" if field else what
        message = str(exc).splitlines()[-1].strip() if str(exc) else type(exc).__name__
        message = message.removeprefix("parsing ").replace(" but parsed ", ", got ")
        if isinstance(exc, cs.ConstError):
            message = _BYTES_LITERAL.sub(_bytes_shown, message)
        if isinstance(exc, cs.StreamError):
            raise TruncatedError("truncated: structure runs past the end of the data",
                                 path=path, offset=base + offset + rel, field=name) from exc
        raise FormatError(message or "invalid value", path=path, offset=base + offset + rel,
                          field=name) from exc


_FAST_CODES = {
    cs.Int8ul: "B", cs.Int8ub: "B", cs.Int16ul: "H", cs.Int16ub: "H",
    cs.Int32ul: "I", cs.Int32ub: "I", cs.Int64ul: "Q", cs.Int64ub: "Q",
    cs.Int8sl: "b", cs.Int8sb: "b", cs.Int16sl: "h", cs.Int16sb: "h",
    cs.Int32sl: "i", cs.Int32sb: "i", cs.Int64sl: "q", cs.Int64sb: "q",
}


@lru_cache(maxsize=None)
def struct_format(schema: cs.Construct) -> tuple[struct.Struct, tuple[str, ...]]:
    """Derive a :mod:`struct` format and field names from a flat Struct.

    Supports integer fields, ``Padding`` and ``Bytes``/``PaddedString`` (the
    latter returned as raw bytes).  Used as a fast path for big tables; tests
    check it agrees with the construct schema.
    """
    inner = _unwrap(schema)
    if not isinstance(inner, cs.Struct):
        raise TypeError("struct_format needs a Struct")
    endian = None
    fmt, names = [], []
    for sub in inner.subcons:
        con = _unwrap(sub)
        if isinstance(con, cs.FormatField):
            code = con.fmtstr[-1]
            order = con.fmtstr[0]
            if con.sizeof() > 1:  # a byte has no byte order
                if endian is None:
                    endian = order
                elif order != endian:
                    raise TypeError("mixed byte orders")
            fmt.append(code)
            names.append(sub.name)
        else:
            size = _static_size(con)
            if size is None:
                raise TypeError(f"field {sub.name!r} has no fixed size")
            if sub.name:
                fmt.append(f"{size}s")
                names.append(sub.name)
            else:
                fmt.append(f"{size}x")
    compiled = struct.Struct((endian or "<") + "".join(fmt))
    if compiled.size != inner.sizeof():
        raise TypeError("struct format size disagrees with the schema")
    return compiled, tuple(names)


def iter_table(schema: cs.Construct, buf: bytes | memoryview, count: int, offset: int = 0, *,
               path: str | None = None, what: str | None = None, base: int = 0):
    """Yield ``(index, dict)`` for ``count`` consecutive entries, fast path first.

    The caller checks ``count`` against the buffer before calling; a short
    buffer raises a located TruncatedError, never ``struct.error``.
    """
    what = what or schema_name(schema)
    fast, names = struct_format(schema)
    end = offset + fast.size * count
    if end > len(buf):
        full = max(0, (len(buf) - offset) // fast.size)
        raise TruncatedError(f"table of {count} entries needs {fast.size * count:#x} bytes, "
                             f"only {full} whole entries present",
                             path=path, offset=base + offset + full * fast.size,
                             field=f"{what}[{full}]")
    view = memoryview(buf)[offset:end]
    for index, values in enumerate(fast.iter_unpack(view)):
        yield index, dict(zip(names, values))
