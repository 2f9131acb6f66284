"""Fleet triage: many captures in one run, on one machine or on a Dask cluster.

- :mod:`.discover` finds the captures under the paths given (each once: a
  ``md_*.BIN`` directory is one capture, not its blobs; a directory with a
  ``MEMORY.txt`` is one RAM-image set) and turns each into a plain,
  picklable spec;
- :mod:`.triage` is the pure per-capture function :func:`triage_one` built
  only on the public API (``minidump.open`` → facts, log, crash signature); it
  never raises, so every capture gives exactly one record;
- :mod:`.local` runs it on a pool of worker processes with a per-capture
  timeout and worker-death handling; :mod:`.dask` on Dask workers;
- :mod:`.summary` groups the records by crash signature.
"""

from __future__ import annotations
