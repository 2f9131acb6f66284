"""Workers start warm: after minidump.fleet.warm, reading a capture of each container imports
no further minidump module (so the preload list cannot rot unnoticed)."""

from __future__ import annotations

import json
import subprocess
import sys

from builders import ROOT, SAMPLES


def test_reading_every_container_imports_nothing_more_after_warm(tmp_path):
    import minidump
    vmcore = tmp_path / "sample.vmcore"
    with minidump.open(str(SAMPLES / "md")) as cap:
        cap.write_vmcore(str(vmcore))
    code = f"""
import json, sys
import minidump.api, minidump.fleet.warm
from minidump.fleet.discover import discover
from minidump.fleet.triage import triage_one
specs = discover({[str(SAMPLES / n) for n in ("md", "ram", "rawdump.img")] + [str(vmcore)]!r}).specs
before = set(sys.modules)
records = [triage_one(spec) for spec in specs]
print(json.dumps([sorted(m for m in set(sys.modules) - before if m.startswith("minidump")),
                  [r["status"] for r in records]]))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    new, statuses = json.loads(proc.stdout)
    assert statuses == ["ok"] * 4
    assert new == []
