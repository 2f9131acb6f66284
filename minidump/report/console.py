"""Rich renderings of the documents, for people.  The only module that imports rich."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Callable, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from minidump.model import Status
from minidump.report import (attention as _attention, hexa, notice_lines, size_text,
                             region_title as _title,
                             summary_lines)

STATUS_STYLE = {Status.WRITTEN: "green", Status.MISSING: "red", Status.SHORT: "red",
                Status.DUPLICATE: "yellow", Status.INVALID: "red", Status.ENCRYPTED: "magenta"}


#: the longest a name or source cell gets before it is shortened with an ellipsis
NAME_MAX, SOURCE_MAX = 24, 40
#: the most rows a table shows; past it, rows that need attention come first and a line
#: says how many more there are (``--json`` lists every one)
TABLE_ROWS_MAX = 1000


def _shown(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At most TABLE_ROWS_MAX rows: all when they fit, else losses and reasons first."""
    if len(rows) <= TABLE_ROWS_MAX:
        return rows
    attention = [r for r in rows if r["status"] != "written" or r["reason"]]
    quiet = [r for r in rows if not (r["status"] != "written" or r["reason"])]
    return (attention + quiet)[:TABLE_ROWS_MAX]


class _PlainLines:
    """A text stream that drops the spaces rich pads lines with (before a newline).

    Piped output is for ``grep`` and ``cut``: no line ends in padding.  Colour codes
    between the padding and the newline are kept.
    """

    _PAD = None

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._tail = ""

    def write(self, text: str) -> int:
        if _PlainLines._PAD is None:
            _PlainLines._PAD = re.compile(r" +((?:\x1b\[[0-9;]*m)*)\n")
        text = self._tail + text
        head, sep, self._tail = text.rpartition("\n")
        if sep:
            self.out.write(_PlainLines._PAD.sub(r"\1\n", head + sep))
        return len(text)

    def flush(self) -> None:
        if self._tail:
            self.out.write(self._tail.rstrip(" "))
            self._tail = ""
        self.out.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        """The stream's own: rich draws ASCII boxes where it is not UTF-8."""
        return getattr(self.out, "encoding", None) or "utf-8"

    def fileno(self) -> int:
        return self.out.fileno()


def terminal_width(out: TextIO, width: int | None = None) -> int | None:
    """The columns to lay out for: ``width``, else ``COLUMNS``, else the terminal's.

    ``None`` means unlimited: a pipe or file without ``COLUMNS`` gets tables as
    wide as they need and lines that are never wrapped.
    """
    if width is not None:
        return max(width, 1)
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if hasattr(out, "isatty") and out.isatty():
        try:
            return os.get_terminal_size(out.fileno()).columns or 80
        except (OSError, ValueError):
            return 80
    return None


#: the console width used where nothing limits it (a pipe without COLUMNS)
UNLIMITED = 100_000


def make_console(out: TextIO, width: int | None = None, color: bool | None = None) -> Console:
    """A rich Console on ``out`` that never hard-wraps and never pads a line's end.

    Tables are laid out for :func:`terminal_width` columns (see :func:`fit_table`);
    free text (warnings, facts) is printed as one line per item and left for the
    terminal to wrap, so ``grep`` finds a whole warning.  Markup and emoji codes
    are off: every string printed is data (the document was made safe by
    :func:`minidump.report.safe` before it got here).
    """
    from minidump.report import use_color
    columns = terminal_width(out, width)
    color = use_color(out) if color is None else color
    console = Console(file=_PlainLines(out), width=columns or UNLIMITED,
                      color_system="auto" if color else None, force_terminal=color,
                      no_color=not color,   # rich reads NO_COLOR itself; --color always wins
                      highlight=False, soft_wrap=True, markup=False, emoji=False)
    console.layout_width = columns   # what tables must fit in (None: unlimited)
    console.on_broken_pipe = _broken_pipe   # rich's own exits 1; the CLI has one status for it
    return console


def _broken_pipe() -> None:
    raise BrokenPipeError("stdout: the reader went away")


def _line(console: Console, text: str | Text) -> None:
    """One line of free text, never hard-wrapped."""
    console.print(text, soft_wrap=True)
    console.file.flush()


@dataclass
class Column:
    """A column for :func:`fit_table`.

    ``kind``: ``number`` cells (addresses, sizes, IDs, statuses) are never cut
    or wrapped; ``text`` cells are shortened with an ellipsis (down to
    ``min_width``) when the table does not fit; ``fold`` cells wrap instead.
    """

    name: str
    kind: str = "text"
    justify: str = "left"
    max_width: int | None = None
    min_width: int = 6
    style: str = ""


#: numbers a folded column must keep whole: addresses and hashes (build-id, signature)
_HEX = re.compile(r"\S*0x[0-9a-fA-F]+\S*|\b[0-9a-fA-F]{8,}\b")


def _cell_text(cell: str | Text) -> str:
    return cell.plain if isinstance(cell, Text) else cell


def fit_table(console: Console, title: str, columns: list[Column],
              rows: list[list[str | Text]], *, show_header: bool = True) -> None:
    """Print a table that fits the console, or the same rows stacked when it cannot.

    Numbers are never shortened: first the text columns give way (longest
    first, down to their ``min_width``), then the layout: each row becomes a
    block of ``name value`` lines, every value whole.
    """
    from rich.cells import cell_len

    natural = []
    for i, col in enumerate(columns):
        width = max([cell_len(col.name) if show_header else 0,
                     *(cell_len(_cell_text(r[i])) for r in rows)], default=0)
        if col.max_width is not None and col.kind != "number":
            width = min(width, col.max_width)
        natural.append(max(width, 1))
    floors = []
    for i, col in enumerate(columns):
        floor = min(col.min_width, natural[i])
        if col.kind == "fold":   # wrapped at spaces: the longest number stays whole
            floor = max([floor, *(len(w) for r in rows for w in _HEX.findall(_cell_text(r[i])))])
        floors.append(floor)
    limit = console.layout_width
    widths = list(natural)
    overhead = 3 * len(columns) - 1
    if limit is not None:
        while sum(widths) + overhead > limit:
            shrinkable = [i for i, col in enumerate(columns)
                          if col.kind != "number" and widths[i] > floors[i]]
            if not shrinkable:
                break
            i = max(shrinkable, key=lambda j: widths[j])
            widths[i] -= 1
    if limit is not None and sum(widths) + overhead > limit:
        if show_header:
            _stacked(console, title, columns, rows, limit)
        else:     # label: value, one line each
            if title:
                _line(console, title)
            for row in rows:
                label = Text(f"{_cell_text(row[0])}: ", style="bold")
                _line(console, label + Text("  ").join(
                    c if isinstance(c, Text) else Text(c) for c in row[1:]))
        return
    table = Table(title=title or None, title_justify="left", pad_edge=False,
                  show_header=show_header)
    for col, width in zip(columns, widths):
        table.add_column(col.name, justify=col.justify, width=width, style=col.style,
                         no_wrap=col.kind != "fold",
                         overflow="ellipsis" if col.kind == "text" else "fold")
    for row in rows:
        table.add_row(*row)
    console.print(table, soft_wrap=False)
    console.file.flush()


def _stacked(console: Console, title: str, columns: list[Column],
             rows: list[list[str | Text]], limit: int) -> None:
    """The narrow view: one block per row, ``name value`` items packed into lines."""
    from rich.cells import cell_len

    if title:
        _line(console, title)
    for row in rows:
        lines: list[Text] = []
        current = Text()
        for col, cell in zip(columns, row):
            value = cell if isinstance(cell, Text) else Text(cell)
            if not value.plain:
                continue
            item = Text(f"{col.name} " if col.name else "", style="bold") + value
            if col.kind == "text":
                room = max(limit - 2 - cell_len(col.name) - 1, col.min_width)
                if cell_len(value.plain) > room:
                    value = value.copy()
                    value.truncate(room, overflow="ellipsis")
                    item = Text(f"{col.name} " if col.name else "", style="bold") + value
            if current.plain and cell_len(current.plain) + 2 + cell_len(item.plain) > limit:
                lines.append(current)
                current = Text("  ")
            elif current.plain:
                current.append("  ")
            current.append_text(item)
        if current.plain.strip():
            lines.append(current)
        for line in lines:
            _line(console, line)


def _region_table(console: Console, title: str, rows: list[dict[str, Any]]) -> None:
    objects = any(r.get("object") for r in rows)
    columns = [Column("ID", "number", "right"), Column("name", max_width=NAME_MAX, min_width=5)]
    if objects:
        columns.append(Column("object", max_width=NAME_MAX, min_width=6))
    columns += [Column("physical", "number", "right"), Column("virtual", "number", "right"),
                Column("size", "number", "right"), Column("", "number", "right"),
                Column("source", max_width=SOURCE_MAX, min_width=8),
                Column("status", "number")]
    cells = []
    for r in rows:
        status = Text(r["status"], style=STATUS_STYLE.get(Status(r["status"]), "")
                      if r["status"] != "pending" else "")
        named = [r["name"], r.get("object") or ""] if objects else [r["name"]]
        cells.append(["-" if r["id"] is None else str(r["id"]), *named, hexa(r["paddr"]),
                      hexa(r["vaddr"]), hexa(r["size"]),
                      "-" if r["size"] is None else size_text(r["size"]), r["source"], status])
    fit_table(console, title, columns, cells)


def render_regions(document: dict[str, Any], out: TextIO, *, width: int | None = None,
                   color: bool | None = None, table: bool = True) -> None:
    """The region table (every row, or with ``table=False`` only those that need
    attention) with a title, totals, reasons and warnings."""
    console = make_console(out, width, color)
    rows = _shown(document["regions"])
    if table:
        _region_table(console, _title(document), rows)
    else:
        _line(console, _title(document))
    for text, style in summary_lines(document, rows, table=table):
        _line(console, Text(text, style=style))
    attention = [r for r in rows if _attention(r)]
    if not table and attention:
        _region_table(console, f"{len(attention)} regions need attention "
                               "(--table lists every region)", attention)
    for text, style in notice_lines(document, rows):
        _line(console, Text(text, style=style))


def render_build(document: dict[str, Any], out: TextIO, *, width: int | None = None,
                 color: bool | None = None) -> None:
    """What ``build`` and ``extract`` print by default: the summary and the rows that need
    attention, as makedumpfile reports (``--table`` gives every row).  When no row needs
    attention, :func:`minidump.report.render_summary` prints it without rich."""
    render_regions(document, out, width=width, color=color, table=False)


def render_losses(document: dict[str, Any], out: TextIO, *, width: int | None = None) -> None:
    """One line per lost region (and a missing VMCOREINFO), for stderr under ``-q``."""
    lost = [r for r in document["regions"] if r["status"] in LOST_STATUSES]
    for row in lost[:LOSS_LINES_MAX]:
        ident = "-" if row["id"] is None else row["id"]
        out.write(f"minidump: lost: ID {ident} {row['name']} ({row['source']}): "
                  f"{row['status']}" + (f", {row['reason']}" if row["reason"] else "") + "\n")
    if len(lost) > LOSS_LINES_MAX:
        out.write(f"minidump: lost: … and {len(lost) - LOSS_LINES_MAX} more regions "
                  "(--json lists every region)\n")
    if document.get("output") is not None and not document.get("vmcoreinfo"):
        out.write("minidump: lost: no VMCOREINFO in the capture (give --vmcoreinfo FILE)\n")
    out.flush()


LOST_STATUSES = {s.value for s in Status if s.lost}
#: the most loss lines ``-q`` prints before a count of the rest
LOSS_LINES_MAX = 50


def render_info(doc: dict[str, Any], out: TextIO, *, width: int | None = None,
                verbose: bool = False) -> None:
    """The facts as a two-column table, then one answer per consumer (``verbose``: also
    every item each consumer needs)."""
    console = make_console(out, width)
    f = doc["facts"]
    why = f.get("why") or {}

    def dash(fact: str) -> str:
        return f"- ({why[fact]})" if why.get(fact) else "-"

    masks = f.get("cpu_masks") or {}
    online = masks.get("online") or {}
    listed = f" ({online['cpus']})" if online.get("count") == f["cpus_online"] and \
        online.get("source") == f["cpus_source"] else ""
    cpu_text = (f"{f['cpus_online']}{listed}  [{f['cpus_source']}]"
                if f["cpus_online"] is not None else dash("cpus_online"))
    title = f"{doc['input']}" + (f" + {doc['vmlinux']}" if doc["vmlinux"] else "")
    fact_rows = []
    uts = f["utsname"]
    taint = f["taint"]
    for name, value in (
            ("release", f["release"] or uts.get("release") or dash("release")),
            ("build-id", f["build_id"] or dash("build_id")), ("arch", f["arch"]),
            ("page size", str(f["page_size"] or dash("page_size"))),
            ("KASLR offset", hexa(f["kaslr_offset"]) if f["kaslr_offset"] is not None
             else dash("kaslr_offset")),
            ("banner", f"{f['banner']}  [{f['banner_source']}]" if f["banner"]
             else dash("banner")),
            ("utsname", " ".join(uts.get(k, "") for k in ("sysname", "nodename", "version",
                                                          "machine")) if uts else dash("utsname")),
            ("jiffies", f"{f['jiffies']}  [{f.get('jiffies_source') or 'memory'}]"
             if f["jiffies"] is not None else dash("jiffies")),
            ("taint", f"{taint['mask']:#x} {taint['flags'] or '(none)'}  "
                      f"[{taint.get('source', 'memory')}]" if taint else dash("taint")),
            ("CPUs online", cpu_text),
            *[(f"CPUs {which}", f"{m['count']} ({m['cpus']})  [{m['source']}]")
              for which, m in masks.items() if m["count"] is not None and which != "online"],
            ("crash time", str(f["crashtime"]) if f["crashtime"] else dash("crashtime")),
            ("kernel log", f["log"] if f["log"] == "readable" else f"- ({f['log']})")):
        fact_rows.append([name, value])
    symbols = f.get("symbols")
    if symbols is not None:
        fact_rows.append(["symbols", f"{symbols['count']} ({symbols['encoding']})  "
                          f"[{symbols['source']}]" if not symbols["error"]
                          else f"- ({symbols['error']})"])
    kinfo = f.get("kinfo")
    if kinfo is not None:
        where = f"  _text at PA {hexa(kinfo['text_pa'])}" + (
            f", VA {hexa(kinfo['text_va'])}" if kinfo.get("text_va") is not None else "") + (
            f", KASLR offset {hexa(kinfo['kaslr_offset'])}"
            if kinfo.get("kaslr_offset") is not None else "")
        fact_rows.append(["debug-kinfo", f"{kinfo['release']}, {kinfo['num_syms']} symbols, "
                          f"{kinfo['layout']} layout, checksum ok{where}  "
                          f"[block at PA {hexa(kinfo['pa'])}]"])
    for cpu in f.get("cpus") or []:
        if cpu.get("empty"):
            fact_rows.append([f"CPU {cpu['cpu']} PC", "- (NT_PRSTATUS present but empty: "
                              "no registers were saved)"])
            continue
        fact_rows.append([f"CPU {cpu['cpu']} PC", f"{hexa(cpu['pc'])} "
                          f"{cpu['pc_symbol'] or '(no symbol)'}  pr_pid {cpu['pid']}  "
                          f"[NT_PRSTATUS{', ' + cpu['pc_source'] if cpu['pc_source'] else ''}]"])
    fit_table(console, title, [Column("fact", "number", style="bold"), Column("value", "fold")],
              fact_rows, show_header=False)
    if doc.get("crash") is not None:
        render_crash(doc["crash"], console)
    if doc["layout"]:
        _line(console, "layout: " + ", ".join(
            f"{k}={v}" if k in ("arch", "va_bits", "source") or not isinstance(v, int)
            else f"{k}={hexa(v)}" for k, v in doc["layout"].items() if v not in (None, "")))
    words = {True: "yes", False: "NO", None: "unknown"}
    colours = {True: "green", False: "red", None: "yellow"}
    answers = []
    for answer in doc.get("consumers") or []:
        note = answer["blocker"] or answer["cannot"]
        answers.append([answer["consumer"], Text(words[answer["ready"]],
                                                 style=colours[answer["ready"]]),
                        answer["command"], ("blocked by: " if answer["blocker"] else
                                            "cannot: ") + note])
    if answers:
        fit_table(console, "will it open?", [Column("consumer", "fold", min_width=8),
                                             Column("ready", "number"),
                                             Column("command line", "fold", min_width=12),
                                             Column("first blocker / limits", "fold",
                                                    min_width=12)], answers)
        build = next((a["build_first"] for a in doc["consumers"] if a["build_first"]), None)
        if build:
            _line(console, f"first: {build}")
    if verbose or not answers:
        _render_readiness(doc, console)
    elif any(a["ready"] is not True for a in doc.get("consumers") or []):
        _line(console, "every item each consumer needs: minidump info --verbose")
    for problem in doc["vmcoreinfo_problems"]:
        _line(console, Text(f"VMCOREINFO problem: {problem}", style="yellow"))


def _render_readiness(doc: dict[str, Any], console: Console) -> None:
    """``info --verbose``: every key, note and region each consumer needs, and its state."""
    styles = {True: ("present", "green"), False: ("missing", "red"), None: ("unknown", "yellow")}
    rows = []
    for row in doc["readiness"]:
        label, style = styles[row["present"]]
        rows.append([row["consumer"], row["item"], row["kind"], Text(label, style=style),
                     row["detail"]])
    fit_table(console, "readiness", [Column("consumer", "fold", min_width=8),
                                     Column("needs", "fold", min_width=10),
                                     Column("kind", "number"), Column("status", "number"),
                                     Column("detail", "fold", min_width=10)], rows)
    words = {True: "yes", False: "NO", None: "unknown"}
    _line(console, "ready: " + ", ".join(f"{c} {words[ok]}" for c, ok in doc["ready"].items()))


def render_crash(crash: dict[str, Any], console: Console) -> None:
    """The ``crash`` section of ``info``: event, panic, context, PC, signature, trace, modules."""
    from minidump.kernel.crash import frame_text

    def line(label: str, value: str, style: str = "") -> None:
        _line(console, Text(f"{label}: ", style="bold") + Text(value, style=style))

    events = crash["events"]
    primary = crash["primary"]
    if primary is not None:
        event = events[primary]
        line("crash", f"{event['kind']} — {event['title']}", "red")
    else:
        line("crash", "no crash report in the log")
    if crash["panic"]:
        panic = crash["panic"]
        line("panic", f"Kernel panic - not syncing: {panic['message']}"
             + ("" if panic["ended"] else "  (no end marker)"))
    ctx = crash["context"]
    if ctx:
        taint = ctx.get("taint") or {}
        flags = ", ".join(f"{c}={n}" for c, n in zip(taint.get("flags", ""),
                                                      taint.get("names", [])))
        line("context", f"CPU {ctx['cpu']} PID {ctx['pid']} comm {ctx['comm']}; "
             f"{'tainted ' + flags if flags else 'not tainted'} [{taint.get('source', '')}]; "
             f"{ctx['release']} {ctx.get('version') or ''}".rstrip())
        if ctx.get("hardware"):
            line("hardware", ctx["hardware"])
    if crash.get("taint_mask"):
        mask = crash["taint_mask"]
        line("tainted_mask", f"{mask['mask']:#x} {mask['flags'] or '(none)'} [{mask['source']}]")
    for key, label in (("pc", "PC"), ("lr", "LR")):
        if crash.get(key):
            line(label, frame_text(crash[key]))
    if crash.get("signature"):
        sig = crash["signature"]
        line("signature", f"{sig['hash']}  ({sig['basis']})")
    if crash["frames"]:
        _line(console, Text("call trace:", style="bold"))
        for frame in crash["frames"]:
            where = f"  <{frame['context'].upper()}>" if frame.get("context") not in (
                None, "task") else ""
            _line(console, f"  {frame_text(frame)}{where}")
    if crash["modules"] is not None:
        line("modules", " ".join(m["name"] + (f"({m['taint']})" if m["taint"] else "")
                                 for m in crash["modules"]) or "(none)")
    if len(events) > 1:
        fit_table(console, "events in the log",
                  [Column("", "number"), Column("seq", "number", "right"), Column("kind", "number"),
                   Column("record", "fold", min_width=12)],
                  [["*" if i == primary else "", str(event["seq"]), event["kind"], event["title"]]
                   for i, event in enumerate(events)])
    for note in crash["log"]["notes"]:
        _line(console, Text(f"log: {note}", style="yellow"))


def render_vmcoreinfo(doc: dict[str, Any], out: TextIO, *, width: int | None = None) -> None:
    """Decoded keys grouped by kind, then the arch layout and problems."""
    console = make_console(out, width)
    rows = []
    for row in doc["entries"]:
        rows.append([row["kind"], row["name"] or row["key"], row["text"],
                     Text(row["problem"], style="red") if row["problem"]
                     else _vmcoreinfo_value(row)])
    fit_table(console, f"VMCOREINFO — {doc['source']}",
              [Column("kind", "number"), Column("name", min_width=12), Column("text", "fold"),
               Column("value", "fold", "right")], rows)
    if doc["layout"]:
        facts = ", ".join(f"{k}={v:#x}" if isinstance(v, int) and k != "va_bits" else f"{k}={v}"
                          for k, v in doc["layout"].items() if v not in (None, ""))
        _line(console, f"layout: {facts}")
    if doc["runtime_source"]:
        _line(console, f"runtime values from: {doc['runtime_source']}")
    for problem in doc["problems"]:
        _line(console, Text(f"problem: {problem}", style="yellow"))


def _vmcoreinfo_value(row: dict[str, Any]) -> str:
    """A decoded value as the kernel writes it: hex where its text is hex (SYMBOL(), 0x…)."""
    value = row["value"]
    if isinstance(value, int) and (row["kind"] in ("SYMBOL", "KERNELOFFSET")
                                   or row["text"].lower().startswith("0x")):
        return f"{value:#x}"
    return str(value)


TRIAGE_STYLE = {"ok": "green", "partial": "yellow", "error": "red"}


def _when(seen: dict | None) -> str:
    """``2025-10-21 12:00:00`` from a record's ``seen`` (ISO 8601, UTC)."""
    stamp = (seen or {}).get("time")
    return stamp.replace("T", " ").rstrip("Z") if stamp else "-"


def render_triage(doc: dict[str, Any], out: TextIO, *, width: int | None = None) -> None:
    """One row per capture (newest first), the crashes by signature, then what went wrong."""
    console = make_console(out, width)
    summary = doc["summary"]
    rows = []
    for rec in doc["records"]:
        crash = rec.get("crash") or {}
        regions = rec.get("regions")
        rows.append([
            rec["input"], Text(rec["status"], style=TRIAGE_STYLE.get(rec["status"], "")),
            rec.get("release") or "-",
            f"{rec['uptime']:.6f}" if rec.get("uptime") is not None else "-",
            crash.get("signature") or "-",
            f"{regions['written']}/{regions['total']}" if regions else "-",
            _when(rec.get("seen"))])
    fit_table(console, "captures, newest first",
              [Column("input", "fold", min_width=12), Column("status", "number"),
               Column("release", "fold", min_width=10), Column("uptime s", "number", "right"),
               Column("signature", "number"), Column("regions", "number", "right"),
               Column("seen (UTC)", "number")], rows)
    groups = []
    for g in summary["signatures"]:
        groups.append([g["signature"], str(g["count"]), _when({"time": g["first_seen"]}),
                       _when({"time": g["last_seen"]}), ", ".join(g["releases"]) or "-",
                       g["event"] or "-",
                       g["examples"][0] + (f" (+{g['count'] - 1})" if g["count"] > 1 else "")])
    fit_table(console, "crashes by signature, newest first",
              [Column("signature", "number"), Column("count", "number", "right"),
               Column("first seen", "number"), Column("last seen", "number"),
               Column("releases", "fold", min_width=10), Column("event", "fold", min_width=12),
               Column("example", "fold", min_width=12)], groups)
    if summary["no_crash"]["count"]:
        _line(console, f"no crash event in the log: {summary['no_crash']['count']} captures, "
                      f"e.g. {', '.join(summary['no_crash']['examples'])}")
    for rec in doc["records"]:
        if rec["status"] == "partial":
            _line(console, Text(f"partial: {rec['input']}: {'; '.join(rec['problems'])}",
                               style="yellow"))
    for err in summary["errors"]:
        message = err["error"] if err["error"].startswith(err["input"]) else \
            f"{err['input']}: {err['error']}"
        _line(console, Text(f"error: {message}", style="red"))
    if summary["skipped"]:
        _line(console, f"not captures (skipped): {len(summary['skipped'])} files, e.g. "
                      + ", ".join(summary["skipped"][:3]))
    store = summary.get("store")
    done = store["read"] if store else summary["captures"]
    rate = (f"; {done / summary['elapsed_s']:.1f} captures/s"
            if summary.get("elapsed_s") else "")
    if store:
        _line(console, f"store {store['path']} (run {store['run']} of {store['runs']}): "
                      f"{store['found']} captures found, {store['read']} read, "
                      f"{store['unchanged']} unchanged, {store['moved']} moved; "
                      "the crashes and counts cover the whole store")
    _line(console, f"{summary['captures']} captures: {summary['ok']} ok, "
                  f"{summary['partial']} partial, {summary['error']} errors; "
                  f"{len(summary['signatures'])} crash signatures; {summary['engine']}, "
                  f"{summary['elapsed_s']} s{rate}"
                  + ("; INTERRUPTED: captures not read are listed as errors"
                     if summary["interrupted"] else ""))


def render_report(doc: dict[str, Any], out: TextIO, *, width: int | None = None) -> None:
    """What ``report`` wrote, in one line."""
    from minidump.report import size_text
    console = make_console(out, width)
    _line(console, f"{doc['output']}: {size_text(doc['size'])}; {doc['captures']} captures "
                   f"({doc['ok']} ok, {doc['partial']} partial, {doc['error']} failed), "
                   f"{doc['signatures']} crash signatures, {doc['releases']} releases")


RENDERERS: dict[str, Callable[[Any, TextIO], None]] = {
    "report": render_report,
    "triage": render_triage,
    "regions": render_regions,
    "build": render_build,
    "losses": render_losses,
    "info": render_info,
    "info-verbose": lambda doc, out, **kw: render_info(doc, out, verbose=True, **kw),
    "vmcoreinfo": render_vmcoreinfo,
}
