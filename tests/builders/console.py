"""The kernel's serial console beside what minidump dmesg reads (real-kernel captures).

The meminspect configs print no printk timestamps, so a console line is a record's text.
"""

from __future__ import annotations

import re

#: what the harness's init script prints on its own stdout: not the kernel's
INIT_OUTPUT = ("minidump-harness: uname", "MINIDUMP-HARNESS-READY")
#: ``console_loglevel`` 7: records at KERN_DEBUG (7) are kept but not printed
CONSOLE_LOGLEVEL = 7
_ESCAPE = re.compile(r"\\x([0-9a-f]{2})")


def kernel_lines(console: str) -> list[str]:
    """The kernel's lines of a serial console log."""
    return [line for line in console.replace("\r", "").splitlines()
            if line.strip() and not line.startswith(INIT_OUTPUT)]


def shown_lines(records: list[dict]) -> list[str]:
    """The lines of ``minidump dmesg --json`` records the console would have shown: below
    KERN_DEBUG, with dmesg's ``\\xNN`` escapes (as /dev/kmsg writes them) undone."""
    text = [_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), r["text"])
            for r in records if r["level"] < CONSOLE_LOGLEVEL]
    return [line for t in text for line in t.split("\n")]
