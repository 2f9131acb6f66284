"""Bounds every reader applies before it allocates: each defined once, with its reason.

A field read from a capture never sizes an allocation by itself; these are the
ceilings real kernels and firmware stay far below.
"""

from __future__ import annotations

#: VMCOREINFO text: the kernel keeps it in one page (``VMCOREINFO_BYTES`` is PAGE_SIZE,
#: ``kernel/vmcore_info.c``); 64 KiB covers the largest page size
VMCOREINFO_MAX = 1 << 16
#: the kernel's ELF header region: 201 phdrs + notes (meminspect ~16 KiB, downstream ~28 KiB)
KELF_MAX = 1 << 20
#: one PT_NOTE segment, and all PT_NOTEs of one core together: a kernel's notes are a few
#: KiB per CPU
NOTES_MAX = 64 << 20
#: qdl refuses Sahara memory-debug tables over 64 KiB
SAHARA_TABLE_MAX = 1 << 16
#: ``dump_info.txt`` / ``load.cmm`` beside the blobs or inside a Raw_Dmp! image
SIDE_FILE_MAX = 1 << 20
