"""Android's debug-kinfo block (meminspect v3 26/26, ``kernel/meminspect/kinfo.c``).

A ``google,debug-kinfo`` reserved-memory region the kernel fills for the boot loader:
``struct kernel_all_info { u32 magic_number; u32 combined_checksum; struct kernel_info
info; }``, packed, little-endian (the arm64 devices it is for).  ``combined_checksum`` is
the XOR of ``info``'s 32-bit words.  v3's ``kernel_info`` is 208 bytes; v1/v2 (and the
Android driver before them) carried ``build_info[256]`` after ``last_uts_release``.
"""

from __future__ import annotations

import construct as cs

DEBUG_KINFO_MAGIC = 0xCCEEDDFF
NEW_UTS_LEN = 64
BUILD_INFO_LEN = 256

_HEAD = (
    # for kallsyms
    "enabled_all" / cs.Int8ul,
    "enabled_base_relative" / cs.Int8ul,
    "enabled_absolute_percpu" / cs.Int8ul,
    "enabled_cfi_clang" / cs.Int8ul,
    "num_syms" / cs.Int32ul,
    "name_len" / cs.Int16ul,
    "bit_per_long" / cs.Int16ul,
    "module_name_len" / cs.Int16ul,
    "symbol_len" / cs.Int16ul,
    "_relative_pa" / cs.Int64ul,
    "_text_pa" / cs.Int64ul,
    "_stext_pa" / cs.Int64ul,
    "_etext_pa" / cs.Int64ul,
    "_sinittext_pa" / cs.Int64ul,
    "_einittext_pa" / cs.Int64ul,
    "_end_pa" / cs.Int64ul,
    "_offsets_pa" / cs.Int64ul,
    "_names_pa" / cs.Int64ul,
    "_token_table_pa" / cs.Int64ul,
    "_token_index_pa" / cs.Int64ul,
    "_markers_pa" / cs.Int64ul,
    "_seqs_of_names_pa" / cs.Int64ul,
    # for frame pointers
    "thread_size" / cs.Int32ul,
    # for virt_to_phys
    "swapper_pg_dir_pa" / cs.Int64ul,
    # for linux_banner
    "last_uts_release" / cs.Bytes(NEW_UTS_LEN),
)
_TAIL = (
    # for module kallsyms
    "enabled_modules_tree_lookup" / cs.Int32ul,
    "mod_mem_offset" / cs.Int32ul,
    "mod_kallsyms_offset" / cs.Int32ul,
)

#: v3: 208 bytes
kernel_info = "kernel_info" / cs.Struct(*_HEAD, *_TAIL)
#: v1/v2: with build_info[256] (464 bytes)
kernel_info_build = "kernel_info" / cs.Struct(*_HEAD, "build_info" / cs.Bytes(BUILD_INFO_LEN),
                                              *_TAIL)

kernel_all_info_head = "kernel_all_info" / cs.Struct(
    "magic_number" / cs.Const(DEBUG_KINFO_MAGIC, cs.Int32ul),
    "combined_checksum" / cs.Int32ul,
)
