"""Container readers: each has a cheap ``sniff(path)`` and a ``read(...)`` giving a Capture."""
