"""A RAM-image set: a directory whose ``MEMORY.txt`` lists its images as ``FILE@PADDR``.

One image per line, paths relative to the directory, ``#`` starts a comment.
A line that is a bare ``FILE`` names the input to open (an item-602 blob or
the image holding the SMEM table); without one the first image listed is
opened and the SMEM table is found by scanning all of them.  Every command
and ``minidump.open`` take such a directory as they take the images given
with ``--memory``; ``triage`` finds them while searching.
"""

from __future__ import annotations

import os

from minidump.errors import UsageError

MEMORY_FILE = "MEMORY.txt"
#: a side file this large is not a list of images
MEMORY_FILE_MAX = 64 << 10


def is_memory_set(path: str) -> bool:
    """A directory holding ``MEMORY.txt``."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, MEMORY_FILE))


def read_memory_set(directory: str) -> dict:
    """``{"path": the input to open, "memory": ["FILE@PADDR", ...]}`` of ``directory``'s set,
    paths joined to the directory."""
    side = os.path.join(directory, MEMORY_FILE)
    with open(side, "rb") as fh:
        text = fh.read(MEMORY_FILE_MAX + 1)
    if len(text) > MEMORY_FILE_MAX:
        raise UsageError(f"{side}: larger than {MEMORY_FILE_MAX} bytes; not a list of images")
    memory, inputs = [], []
    for line in text.decode("utf-8", "replace").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if "@" in line:
            name, _, addr = line.rpartition("@")
            memory.append(f"{os.path.join(directory, name)}@{addr}")
        else:
            inputs.append(os.path.join(directory, line))
    if not memory:
        raise UsageError(f"{side}: lists no FILE@PADDR image")
    return {"path": inputs[0] if inputs else memory[0].rpartition("@")[0], "memory": memory}
