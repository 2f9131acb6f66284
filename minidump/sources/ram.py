"""Raw RAM images as the whole capture: ``FILE@PADDR`` (crash's syntax), plus ``--memory``.

Each image is one region of physical memory at the address given; there is no
table, so these captures are for ``extract`` (with a vmlinux) and for reading
memory, not for ``build``.
"""

from __future__ import annotations

import os

from minidump.model import Payload, Row
from minidump.sources import Context, Source


def sniff(path: str) -> bool:
    return False   # chosen by the FILE@PADDR form, never by content


def read(path: str, context: Context) -> Source:
    source = Source("raw RAM image", mapped=True)
    for extent in context.memory.extents:
        name = os.path.basename(extent.path)
        source.rows.append(Row(name, paddr=extent.paddr, size=extent.size,
                               payload=Payload(extent.path, extent.offset, extent.size),
                               source=f"{name}@{extent.paddr:#x}"))
    return source
