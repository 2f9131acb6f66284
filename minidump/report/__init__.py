"""Reports: commands build documents, this package prints them.

A document is plain data (dicts, lists, ints, strings): :func:`render_json`
prints it for scripts, :mod:`minidump.report.console` renders it with rich for
people.  Nothing outside this package imports rich; every address and size a
person reads is formatted by :func:`hexa`.

One rule for untrusted text: names, paths, VMCOREINFO values and log text come
from captures and file systems, so every string of a document passes
:func:`safe` before any renderer sees it.  Control characters (C0, DEL, C1,
line and paragraph separators) become ``\\xNN`` (``\\uNNNN`` above 0xff), and a
byte that was not valid UTF-8 in a file name (Python keeps it as a lone
surrogate) becomes ``\\xNN`` of that byte, so JSON output is always valid UTF-8
and nothing reaches a terminal as a control sequence or as rich markup.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterable, TextIO

from minidump.model import Region, Status


_UNSAFE = None

#: ``--color``: True (always), False (never), None (on a terminal, unless NO_COLOR is set)
COLOR: bool | None = None


def use_color(out) -> bool:
    """Whether to colour what goes to ``out`` (``--color``, ``NO_COLOR``, a terminal)."""
    import os
    if COLOR is not None:
        return COLOR
    return bool(hasattr(out, "isatty") and out.isatty() and not os.environ.get("NO_COLOR"))


def safe(text: str) -> str:
    """``text`` with control characters and undecodable bytes escaped (see the module doc)."""
    global _UNSAFE
    if _UNSAFE is None:
        import re
        _UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_escape_char, text)


def _escape_char(match) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:        # os.fsdecode's surrogateescape: the original byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_document(value: Any) -> Any:
    """A document with every string (keys too) passed through :func:`safe`.

    Printable strings (``str.isprintable``: no control, separator or surrogate
    characters, all of which :func:`safe` escapes) are kept as they are without a call
    per string: a fleet's 10,000 records hold half a million strings.
    """
    kind = type(value)
    if kind is str:
        return value if value.isprintable() else safe(value)
    if kind is dict or isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if type(key) is not str or not key.isprintable():
                key = safe_document(key)
            kind = type(item)
            if kind is str:
                out[key] = item if item.isprintable() else safe(item)
            elif kind is int or kind is float or kind is bool or item is None:
                out[key] = item
            else:
                out[key] = safe_document(item)
        return out
    if kind is list or kind is tuple or isinstance(value, (list, tuple)):
        return [safe_document(item) for item in value]
    if isinstance(value, str):
        return safe(value)
    return value


def safe_bytes(data: bytes) -> bytes:
    """Text bytes for a terminal: control bytes other than tab and newline as ``\\xNN``."""
    import re
    return re.sub(rb"[\x00-\x08\x0b-\x1f\x7f-\x9f]", lambda m: b"\\x%02x" % m.group()[0], data)


def hexa(value: int | None) -> str:
    """``0x``-hex, or ``-`` where there is no value."""
    return "-" if value is None else f"{value:#x}"


def size_text(n: int) -> str:
    """Bytes for people: ``512 B``, ``1.5 KiB``, ``2.0 GiB`` (binary units)."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(n)


def region_rows(regions: Iterable[Region]) -> list[dict[str, Any]]:
    """One dict per region: the rows both renderers show."""
    return [{"id": region.id, "name": region.name, "object": region.object,
             "paddr": region.paddr, "vaddr": region.vaddr, "size": region.size,
             "source": region.source,
             "status": region.status.value if region.status else "pending",
             "reason": region.reason} for region in regions]


def totals(regions: Iterable[Region]) -> dict[str, Any]:
    regions = list(regions)
    counts: dict[str, int] = {}
    for region in regions:
        key = region.status.value if region.status else "pending"
        counts[key] = counts.get(key, 0) + 1
    written = [r for r in regions if r.status is Status.WRITTEN]
    return {"regions": len(regions), "by_status": counts,
            "written_bytes": sum(r.size for r in written),
            "lost": sum(1 for r in regions if r.status is not None and r.status.lost)}


def regions_document(capture, plan, output: str | None) -> dict[str, Any]:
    """What ``regions``, ``build`` and ``extract`` report: every region and what became of it."""
    regions = plan.regions if plan is not None else capture.regions
    doc: dict[str, Any] = {"input": capture.input, "container": capture.container,
                           "output": output, "arch": plan.arch.name if plan else capture.arch,
                           "regions": region_rows(regions), "totals": totals(regions)}
    if output:
        doc["output_size"] = plan.size
    if capture.vmcoreinfo is not None:
        doc["vmcoreinfo"] = (f"{capture.vmcoreinfo.osrelease or '?'} "
                             f"({len(capture.vmcoreinfo.raw)} bytes from "
                             f"{capture.vmcoreinfo_source})")
    addresses = address_source(capture)
    if addresses:
        doc["addresses"] = addresses
    doc["warnings"] = list(plan.warnings if plan is not None else capture.warnings)
    if capture.profile:
        doc["profile"] = capture.profile
    return doc


def address_source(capture) -> str:
    """Where the regions' addresses came from, in the words of docs/howto/inputs.md."""
    from minidump.model import Kind
    if getattr(capture, "table_where", ""):
        return f"the SMEM minidump table ({capture.table_where})"
    kelf = next((r for r in capture.regions if r.kind is Kind.ELF), None)
    if kelf is not None and kelf.status.value != "missing":
        return f"the kernel's ELF header ({kelf.source})"
    if kelf is not None:        # the header blob was not captured: the side table placed it
        table = kelf.source.split("[")[0].split(":")[0]
        what = ("the Sahara memory-debug table" if kelf.source.endswith("]")
                else "the firmware's address list")
        return f"{what} ({table}); the kernel's ELF header was not captured"
    if getattr(capture, "container", "").startswith(("ELF", "kdump", "QEMU")):
        return "the core's PT_LOADs"
    return ""


def attention(row: dict[str, Any]) -> bool:
    """A region row a person must look at: not written, or written with a reason."""
    return row["status"] != "written" or bool(row["reason"])


def region_title(document: dict[str, Any]) -> str:
    title = f"{document['input']} — {document['container']}"
    if document.get("output"):
        title += f" → {document['output']}"
    return title


#: styles of region statuses (rich style names; the plain printer maps them to SGR codes)
STATUS_STYLE = {"written": "green", "missing": "red", "short": "red", "duplicate": "yellow",
                "invalid": "red", "encrypted": "magenta"}


def summary_lines(document: dict[str, Any], rows: list[dict[str, Any]], *,
                  table: bool = True) -> list[tuple[str, str]]:
    """The summary of a regions document as (text, style) lines: counts, bytes, output
    size, where the addresses came from, VMCOREINFO; beside a full table also how the
    objects were named."""
    lines = []
    if len(rows) < len(document["regions"]):
        shown = {id(r) for r in rows}
        counts: dict[str, int] = {}
        for r in document["regions"]:
            if id(r) not in shown:
                counts[r["status"]] = counts.get(r["status"], 0) + 1
        lines.append((f"… and {sum(counts.values())} more regions ("
                      + ", ".join(f"{n} {status}" for status, n in counts.items())
                      + "); --json lists every region", ""))
    t = document["totals"]
    parts = [f"{n} {k}" for k, n in t["by_status"].items()]
    lines.append((f"{t['regions']} regions: {', '.join(parts)}; "
                  f"{size_text(t['written_bytes'])} of region data"
                  + (f"; vmcore {size_text(document['output_size'])}"
                     if document.get("output_size") else ""), ""))
    if document.get("addresses"):
        lines.append((f"addresses: {document['addresses']}", ""))
    if table and document.get("objects"):
        lines.append((f"objects: {document['objects']}", ""))
    if table and document.get("meminspect"):
        lines.append((f"meminspect IDs: {document['meminspect']}", ""))
    if document.get("vmcoreinfo"):
        lines.append((f"VMCOREINFO: {document['vmcoreinfo']}", ""))
    return lines


def notice_lines(document: dict[str, Any], rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Reasons, warnings and --profile additions as (text, style) lines."""
    lines = []
    for row in rows:
        if row["reason"]:
            ident = "-" if row["id"] is None else row["id"]
            style = "" if row["status"] == "written" else STATUS_STYLE.get(row["status"], "")
            lines.append((f"  ID {ident} {row['name']}: {row['status']}, {row['reason']}", style))
    for warning in document.get("warnings", []):
        lines.append((f"warning: {warning}", "yellow"))
    for item in document.get("profile", []):
        lines.append((f"added by --profile: {item['name']} ({item['size']} bytes at "
                      f"{hexa(item['vaddr'])}): {item['why']}", ""))
    return lines


_SGR = {"red": "31", "green": "32", "yellow": "33", "magenta": "35"}


def render_summary(document: dict[str, Any], out: TextIO) -> None:
    """``build``'s report when no region needs attention: a few lines, no rich (it is
    most of the report's cost).  Colour only on a terminal, never with ``NO_COLOR``."""
    color = use_color(out)
    rows = document["regions"]
    out.write(region_title(document) + "\n")
    for text, style in summary_lines(document, rows, table=False) + notice_lines(document, rows):
        if color and style in _SGR:
            text = f"\x1b[{_SGR[style]}m{text}\x1b[0m"
        out.write(text + "\n")
    out.flush()


@dataclass(frozen=True, slots=True)
class Document:
    """What a command hands the printer: ``kind`` picks the renderer, ``data`` is the content.

    ``kind`` is ``regions``, ``build`` (the regions document as a summary and the
    rows that need attention), ``losses`` (one line per lost region, to stderr),
    ``info``, ``vmcoreinfo`` (a table of keys), ``records`` (dmesg records), or
    ``raw`` (bytes written as they are).
    """

    kind: str
    data: Any
    as_json: bool = False


def render_json(document: Any, out: TextIO) -> None:
    import json
    json.dump(document, out, indent=2, sort_keys=False)
    out.write("\n")


def render_json_lines(objects: Iterable[Any], out: TextIO) -> None:
    """JSON Lines: one compact object per line (what ``triage --json`` writes)."""
    import json
    for obj in objects:
        out.write(json.dumps(obj, sort_keys=False, separators=(",", ":")))
        out.write("\n")


def _triage_lines(data: dict[str, Any], out: TextIO) -> None:
    render_json_lines([*data["records"], data["summary"]], out)


#: documents whose JSON form is not one object
JSON_RENDERERS: dict[str, Callable[[Any, TextIO], None]] = {"triage": _triage_lines}


def show(document: Document, out: TextIO | None = None) -> None:
    """Print a command's document: JSON for scripts, a rich rendering for people."""
    if document.kind == "losses":
        out = out or sys.stderr
    out = out or sys.stdout
    if document.kind == "raw":
        data = document.data
        if out.isatty():   # verbatim into files and pipes; never control bytes on a terminal
            data = safe_bytes(data)
        out.flush()
        out.buffer.write(data)
        out.flush()
        return
    data = safe_document(document.data)
    if document.as_json:
        JSON_RENDERERS.get(document.kind, render_json)(data, out)
        return
    if document.kind == "build" and not any(attention(r) for r in data["regions"]):
        render_summary(data, out)
        return
    from minidump.report import console
    console.RENDERERS[document.kind](data, out)


class Progress:
    """A progress bar on a terminal's stderr for work over 64 MiB; nothing otherwise."""

    def __init__(self, total: int, enabled: bool = True, label: str = "writing") -> None:
        self.total = total
        self.label = label
        self.enabled = enabled and total >= 64 << 20 and sys.stderr.isatty()
        self._progress = None

    def __enter__(self) -> Callable[[int], None] | None:
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import (BarColumn, DownloadColumn, Progress as Bar,
                                   TimeRemainingColumn, TransferSpeedColumn)
        from rich.text import Text

        class BinarySpeed(TransferSpeedColumn):   # rich's own counts MB/s; reports count MiB
            def render(self, task) -> Text:
                speed = task.finished_speed or task.speed
                return Text("?" if speed is None else f"{size_text(int(speed))}/s",
                            style="progress.data.speed")

        self._progress = Bar(self.label, BarColumn(), DownloadColumn(binary_units=True),
                             BinarySpeed(), TimeRemainingColumn(),
                             console=Console(stderr=True), transient=True)
        self._progress.start()
        task = self._progress.add_task("write", total=self.total)
        return lambda n: self._progress.advance(task, n)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()


class Counter:
    """A progress bar counting items on a terminal's stderr; nothing in a pipe or with --json.

    Used as a context manager, it gives a function to call with each number of
    items done (None when there is no bar).
    """

    def __init__(self, total: int, what: str, enabled: bool = True) -> None:
        self.total, self.what = total, what
        self.enabled = enabled and total > 1 and sys.stderr.isatty()
        self._progress = None

    def __enter__(self) -> Callable[[int], None] | None:
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bar,
                                   TimeElapsedColumn, TimeRemainingColumn)
        self._progress = Bar(self.what, BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                             TimeRemainingColumn(), console=Console(stderr=True), transient=True)
        self._progress.start()
        task = self._progress.add_task(self.what, total=self.total)
        return lambda n: self._progress.advance(task, n)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
