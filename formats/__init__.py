"""Declarative construct schemas for every on-disk and in-memory layout minidump reads or writes.

Bytes in, containers out: no file I/O and no printing here.  Shipped as
``minidump.formats``.  Schema names are the C identifiers as spelled in the
kernel or firmware sources; fields carry the C member names.
"""
