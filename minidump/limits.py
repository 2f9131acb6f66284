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
#: a ``--regions`` file: the shipped v3 set is ~2 KiB; thousands of regions fit in far less
REGIONS_FILE_MAX = 1 << 20
#: regions one ``--regions`` file may list: a vmcore holds at most 65,535 program headers
#: before PN_XNUM, and real region lists are a few hundred
REGIONS_MAX = 16384
#: symbols of one vmlinux's ``.symtab``: distribution kernels have ~150k, allyesconfig ~1.3M
SYMBOLS_MAX = 2_000_000
#: a ``.strtab``: KSYM_NAME_LEN (512) bounds a kernel symbol's name; real tables average
#: ~40 bytes a name, so 128 bytes per symbol on average is generous
STRTAB_BYTES_PER_SYMBOL = 128
#: program headers of one ELF core, PN_XNUM or not (sh_info is 32 bits).  Each header
#: becomes a region with its status, so time and memory grow with the count (measured: 100k
#: PT_LOADs cost 4.7 s and 90 MB for ``dmesg``); our own vmcores have at most 65,534, a kdump
#: core one PT_LOAD per System RAM range.  A core claiming more is refused from its header.
PHDRS_MAX = 1 << 17
