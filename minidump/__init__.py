"""minidump: turn Linux kernel minidumps into small ELF vmcores for crash and drgn."""

__version__ = "0.1.0"

from minidump.errors import (FormatError, LayoutError, MinidumpError, SymbolError,  # noqa: E402
                             TruncatedError, UnsupportedError)

__all__ = ["FormatError", "LayoutError", "MinidumpError", "SymbolError", "TruncatedError",
           "UnsupportedError", "__version__"]
