"""Rich renderings of the documents, for people.  The only module that imports rich."""

from __future__ import annotations

from typing import Any, Callable, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from minidump.model import Status
from minidump.report import hexa, size_text

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


def make_console(out: TextIO, width: int | None = None, color: bool | None = None) -> Console:
    """A rich Console on ``out``; pipes and files get 120 columns so addresses never fold.

    Markup and emoji codes are off: every string printed is data (the document was
    made safe by :func:`minidump.report.safe` before it got here).
    """
    if width is None and not (hasattr(out, "isatty") and out.isatty()):
        width = 120
    return Console(file=out, width=width, color_system="auto" if color is not False else None,
                   force_terminal=color, highlight=False, soft_wrap=False, markup=False,
                   emoji=False)


def _number_column(table: Table, name: str, cells: list[str]) -> None:
    """A column of numbers: never wrapped, never shortened (its width is its longest cell)."""
    table.add_column(name, justify="right", no_wrap=True, overflow="ignore",
                     min_width=max([len(name), *map(len, cells)]))


def render_regions(document: dict[str, Any], out: TextIO, *, width: int | None = None,
                   color: bool | None = None) -> None:
    """The region table with a title, totals and warnings."""
    console = make_console(out, width, color)
    title = f"{document['input']} — {document['container']}"
    if document.get("output"):
        title += f" → {document['output']}"
    table = Table(title=title, title_justify="left", show_lines=False, pad_edge=False)
    rows = _shown(document["regions"])
    cells = {"ID": ["-" if r["id"] is None else str(r["id"]) for r in rows],
             "physical": [hexa(r["paddr"]) for r in rows],
             "virtual": [hexa(r["vaddr"]) for r in rows],
             "size": [hexa(r["size"]) for r in rows]}
    _number_column(table, "ID", cells["ID"])
    table.add_column("name", no_wrap=True, overflow="ellipsis", max_width=NAME_MAX)
    objects = any(r.get("object") for r in rows)
    if objects:
        table.add_column("object", no_wrap=True, overflow="ellipsis", max_width=NAME_MAX)
    for name in ("physical", "virtual", "size"):
        _number_column(table, name, cells[name])
    table.add_column("source", no_wrap=True, overflow="ellipsis", max_width=SOURCE_MAX)
    table.add_column("status", no_wrap=True, overflow="ignore",
                     min_width=max([6, *(len(r["status"]) for r in rows)]))
    for i, row in enumerate(rows):
        status = Text(row["status"], style=STATUS_STYLE.get(Status(row["status"]), "")
                      if row["status"] != "pending" else "")
        named = (row["name"], row.get("object") or "") if objects else (row["name"],)
        table.add_row(cells["ID"][i], *named, cells["physical"][i], cells["virtual"][i],
                      cells["size"][i], row["source"], status)
    console.print(table)
    if len(rows) < len(document["regions"]):
        shown = {id(r) for r in rows}
        counts: dict[str, int] = {}
        for r in document["regions"]:
            if id(r) not in shown:
                counts[r["status"]] = counts.get(r["status"], 0) + 1
        console.print(f"… and {sum(counts.values())} more regions ("
                      + ", ".join(f"{n} {status}" for status, n in counts.items())
                      + "); --json lists every region")
    t = document["totals"]
    parts = [f"{n} {k}" for k, n in t["by_status"].items()]
    console.print(f"{t['regions']} regions: {', '.join(parts)}; "
                  f"{size_text(t['written_bytes'])} of region data"
                  + (f"; vmcore {size_text(document['output_size'])}"
                     if document.get("output_size") else ""))
    if document.get("objects"):
        console.print(f"objects: {document['objects']}")
    if document.get("meminspect"):
        console.print(f"meminspect IDs: {document['meminspect']}")
    for row in rows:
        if row["reason"]:
            ident = "-" if row["id"] is None else row["id"]
            style = "" if row["status"] == "written" else STATUS_STYLE.get(Status(row["status"]),
                                                                          "")
            console.print(Text(f"  ID {ident} {row['name']}: {row['status']}, {row['reason']}",
                               style=style))
    if document.get("vmcoreinfo"):
        console.print(f"VMCOREINFO: {document['vmcoreinfo']}")
    for warning in document.get("warnings", []):
        console.print(Text(f"warning: {warning}", style="yellow"))
    for item in document.get("profile", []):
        out.write(f"added by --profile: {item['name']} ({item['size']} bytes at "
                  f"{hexa(item['vaddr'])}): {item['why']}\n")


def render_info(doc: dict[str, Any], out: TextIO, *, width: int | None = None) -> None:
    """The facts as a two-column table, then the readiness table."""
    console = make_console(out, width)
    f = doc["facts"]
    facts = Table(title=f"{doc['input']}" + (f" + {doc['vmlinux']}" if doc["vmlinux"] else ""),
                  title_justify="left", show_header=False, pad_edge=False)
    facts.add_column("fact", style="bold")
    facts.add_column("value", overflow="fold")
    uts = f["utsname"]
    taint = f["taint"]
    for name, value in (
            ("release", f["release"] or uts.get("release") or "-"),
            ("build-id", f["build_id"] or "-"), ("arch", f["arch"]),
            ("page size", str(f["page_size"] or "-")), ("KASLR offset", hexa(f["kaslr_offset"])),
            ("banner", f"{f['banner']}  [{f['banner_source']}]" if f["banner"] else "-"),
            ("utsname", " ".join(uts.get(k, "") for k in ("sysname", "nodename", "version",
                                                          "machine")) if uts else "-"),
            ("jiffies", str(f["jiffies"]) if f["jiffies"] is not None else "- (needs --vmlinux)"),
            ("taint", f"{taint['mask']:#x} {taint['flags'] or '(none)'}" if taint
             else "- (needs --vmlinux)"),
            ("CPUs online", f"{f['cpus_online']}  [{f['cpus_source']}]" if f["cpus_online"]
             else "-"),
            ("crash time", str(f["crashtime"]) if f["crashtime"] else "-"),
            ("kernel log", f["log"])):
        facts.add_row(name, value)
    symbols = f.get("symbols")
    if symbols is not None:
        facts.add_row("symbols", f"{symbols['count']} ({symbols['encoding']})  "
                      f"[{symbols['source']}]" if not symbols["error"]
                      else f"- ({symbols['error']})")
    for cpu in f.get("cpus") or []:
        facts.add_row(f"CPU {cpu['cpu']} PC", f"{hexa(cpu['pc'])} "
                      f"{cpu['pc_symbol'] or '(no symbol)'}  pr_pid {cpu['pid']}  "
                      f"[NT_PRSTATUS{', ' + cpu['pc_source'] if cpu['pc_source'] else ''}]")
    console.print(facts)
    if doc.get("crash") is not None:
        render_crash(doc["crash"], console)
    if doc["layout"]:
        console.print("layout: " + ", ".join(
            f"{k}={v}" if k in ("arch", "va_bits", "source") or not isinstance(v, int)
            else f"{k}={hexa(v)}" for k, v in doc["layout"].items() if v not in (None, "")))
    table = Table(title="readiness", title_justify="left", pad_edge=False)
    for name in ("consumer", "needs", "kind", "status", "detail"):
        table.add_column(name, overflow="fold")
    styles = {True: ("present", "green"), False: ("missing", "red"), None: ("unknown", "yellow")}
    for row in doc["readiness"]:
        label, style = styles[row["present"]]
        table.add_row(row["consumer"], row["item"], row["kind"], Text(label, style=style),
                      row["detail"])
    console.print(table)
    words = {True: "yes", False: "NO", None: "unknown"}
    console.print("ready: " + ", ".join(f"{c} {words[ok]}" for c, ok in doc["ready"].items()))
    for problem in doc["vmcoreinfo_problems"]:
        console.print(Text(f"VMCOREINFO problem: {problem}", style="yellow"))


def render_crash(crash: dict[str, Any], console: Console) -> None:
    """The ``crash`` section of ``info``: event, panic, context, PC, signature, trace, modules."""
    from minidump.kernel.crash import frame_text

    def line(label: str, value: str, style: str = "") -> None:
        console.print(Text(f"{label}: ", style="bold") + Text(value, style=style))

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
        console.print(Text("call trace:", style="bold"))
        for frame in crash["frames"]:
            where = f"  <{frame['context'].upper()}>" if frame.get("context") not in (
                None, "task") else ""
            console.print(f"  {frame_text(frame)}{where}")
    if crash["modules"] is not None:
        line("modules", " ".join(m["name"] + (f"({m['taint']})" if m["taint"] else "")
                                 for m in crash["modules"]) or "(none)")
    if len(events) > 1:
        table = Table(title="events in the log", title_justify="left", pad_edge=False)
        for name in ("", "seq", "kind", "record"):
            table.add_column(name, overflow="fold")
        for i, event in enumerate(events):
            table.add_row("*" if i == primary else "", str(event["seq"]), event["kind"],
                          event["title"])
        console.print(table)
    for note in crash["log"]["notes"]:
        console.print(Text(f"log: {note}", style="yellow"))


def render_vmcoreinfo(doc: dict[str, Any], out: TextIO, *, width: int | None = None) -> None:
    """Decoded keys grouped by kind, then the arch layout and problems."""
    console = make_console(out, width)
    table = Table(title=f"VMCOREINFO — {doc['source']}", title_justify="left", pad_edge=False)
    for name, justify in (("kind", "left"), ("name", "left"), ("text", "left"),
                          ("value", "right")):
        table.add_column(name, justify=justify, overflow="fold")
    for row in doc["entries"]:
        value = row["value"]
        shown = Text(row["problem"], style="red") if row["problem"] else Text(
            f"{value:#x}" if isinstance(value, int) and row["kind"] in ("SYMBOL", "KERNELOFFSET")
            else str(value))
        table.add_row(row["kind"], row["name"] or row["key"], row["text"], shown)
    console.print(table)
    if doc["layout"]:
        facts = ", ".join(f"{k}={v:#x}" if isinstance(v, int) and k != "va_bits" else f"{k}={v}"
                          for k, v in doc["layout"].items() if v not in (None, ""))
        console.print(f"layout: {facts}")
    if doc["runtime_source"]:
        console.print(f"runtime values from: {doc['runtime_source']}")
    for problem in doc["problems"]:
        console.print(Text(f"problem: {problem}", style="yellow"))


TRIAGE_STYLE = {"ok": "green", "partial": "yellow", "error": "red"}


def _when(seen: dict | None) -> str:
    """``2025-10-21 12:00:00`` from a record's ``seen`` (ISO 8601, UTC)."""
    stamp = (seen or {}).get("time")
    return stamp.replace("T", " ").rstrip("Z") if stamp else "-"


def render_triage(doc: dict[str, Any], out: TextIO, *, width: int | None = None) -> None:
    """One row per capture (newest first), the crashes by signature, then what went wrong."""
    console = make_console(out, width)
    summary = doc["summary"]
    table = Table(title="captures, newest first", title_justify="left", pad_edge=False)
    for name, justify in (("input", "left"), ("status", "left"), ("release", "left"),
                          ("uptime s", "right"), ("signature", "left"), ("regions", "right"),
                          ("seen (UTC)", "left")):
        table.add_column(name, justify=justify, overflow="fold",
                         no_wrap=name not in ("input", "release"))
    for rec in doc["records"]:
        crash = rec.get("crash") or {}
        regions = rec.get("regions")
        table.add_row(
            rec["input"], Text(rec["status"], style=TRIAGE_STYLE.get(rec["status"], "")),
            rec.get("release") or "-",
            f"{rec['uptime']:.6f}" if rec.get("uptime") is not None else "-",
            crash.get("signature") or "-",
            f"{regions['written']}/{regions['total']}" if regions else "-",
            _when(rec.get("seen")))
    console.print(table)
    groups = Table(title="crashes by signature, newest first", title_justify="left",
                   pad_edge=False)
    for name, justify in (("signature", "left"), ("count", "right"), ("first seen", "left"),
                          ("last seen", "left"), ("releases", "left"), ("event", "left"),
                          ("example", "left")):
        groups.add_column(name, justify=justify, overflow="fold",
                          no_wrap=name in ("signature", "count", "first seen", "last seen"))
    for g in summary["signatures"]:
        groups.add_row(g["signature"], str(g["count"]), _when({"time": g["first_seen"]}),
                       _when({"time": g["last_seen"]}), ", ".join(g["releases"]) or "-", g["event"] or "-",
                       g["examples"][0] + (f" (+{g['count'] - 1})" if g["count"] > 1 else ""))
    console.print(groups)
    if summary["no_crash"]["count"]:
        console.print(f"no crash event in the log: {summary['no_crash']['count']} captures, "
                      f"e.g. {', '.join(summary['no_crash']['examples'])}")
    for rec in doc["records"]:
        if rec["status"] == "partial":
            console.print(Text(f"partial: {rec['input']}: {'; '.join(rec['problems'])}",
                               style="yellow"))
    for err in summary["errors"]:
        message = err["error"] if err["error"].startswith(err["input"]) else \
            f"{err['input']}: {err['error']}"
        console.print(Text(f"error: {message}", style="red"))
    if summary["skipped"]:
        console.print(f"not captures (skipped): {len(summary['skipped'])} files, e.g. "
                      + ", ".join(summary["skipped"][:3]))
    rate = (f"; {summary['captures'] / summary['elapsed_s']:.1f} captures/s"
            if summary.get("elapsed_s") else "")
    console.print(f"{summary['captures']} captures: {summary['ok']} ok, "
                  f"{summary['partial']} partial, {summary['error']} errors; "
                  f"{len(summary['signatures'])} crash signatures; {summary['engine']}, "
                  f"{summary['elapsed_s']} s{rate}"
                  + ("; INTERRUPTED: captures not read are listed as errors"
                     if summary["interrupted"] else ""))


RENDERERS: dict[str, Callable[[Any, TextIO], None]] = {
    "triage": render_triage,
    "regions": render_regions,
    "info": render_info,
    "vmcoreinfo": render_vmcoreinfo,
}
