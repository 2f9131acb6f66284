"""The one ELF note iterator: a PT_NOTE segment of a core, or the notes of the kernel's header region.

Notes use Linux's 4-byte framing (``Elf_Nhdr``, then name and descriptor each
padded to 4) unless the segment says ``p_align`` 8.  Every note is located:
an error names the note's offset and the header field that runs past the end.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterator

from minidump.errors import FormatError

#: Elf32_Nhdr and Elf64_Nhdr (formats/elf.py ``Elf_Nhdr``): three 32-bit words, n_namesz,
#: n_descsz, n_type; pinned so that reading notes imports no construct
#: (tests/elf/test_core.py checks it against the schema)
NHDR = {True: struct.Struct("<LLL"), False: struct.Struct(">LLL")}


@dataclass(frozen=True, slots=True)
class NoteEntry:
    """One note: its position in the buffer, name without the NUL, type and descriptor.

    ``desc`` is None when the note's descriptor lies past the buffer and the
    caller allowed that (the meminspect header's VMCOREINFO note describes a
    descriptor that is the next region, not part of this one).
    """

    index: int
    offset: int
    name: bytes
    type: int
    desc_offset: int
    descsz: int
    desc: bytes | None


def iter_notes(data: bytes | memoryview, little_endian: bool, *, start: int = 0,
               end: int | None = None, align: int = 4, path: str | None = None, base: int = 0,
               container: str = "PT_NOTE segment",
               open_ended: tuple[bytes, ...] = ()) -> Iterator[NoteEntry]:
    """The notes of ``data[start:end]``; an all-zero header ends them (padding).

    ``base`` is the buffer's offset in its file, for messages; a note whose
    name or descriptor runs past ``end`` is an error naming ``container``,
    except that a note named in ``open_ended`` may have its descriptor past
    ``end`` (then ``desc`` is None).
    """
    end = len(data) if end is None else min(end, len(data))
    nhdr = NHDR[little_endian]
    up = (lambda n: (n + align - 1) & ~(align - 1))
    pos, index = start, 0
    while pos + nhdr.size <= end:
        n_namesz, n_descsz, n_type = nhdr.unpack_from(data, pos)
        if n_namesz == 0 and n_descsz == 0 and n_type == 0:
            return
        name_at = pos + nhdr.size
        desc_at = name_at + up(n_namesz)
        name = bytes(data[name_at:min(name_at + n_namesz, end)]).rstrip(b"\0")
        past_name = desc_at > end
        past_desc = desc_at + n_descsz > end
        if past_name or (past_desc and name not in open_ended):
            raise FormatError(f"note of {n_namesz}+{n_descsz} bytes runs past the "
                              f"{container} ({end - start:#x} bytes)", path=path,
                              offset=base + pos,
                              field=f"note[{index}].{'n_namesz' if past_name else 'n_descsz'}")
        desc = None if past_desc else bytes(data[desc_at:desc_at + n_descsz])
        yield NoteEntry(index, pos, name, n_type, desc_at, n_descsz, desc)
        if past_desc:
            return
        pos, index = desc_at + up(n_descsz), index + 1
