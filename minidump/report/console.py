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


def make_console(out: TextIO, width: int | None = None, color: bool | None = None) -> Console:
    """A rich Console on ``out``; pipes and files get 120 columns so addresses never fold."""
    if width is None and not (hasattr(out, "isatty") and out.isatty()):
        width = 120
    return Console(file=out, width=width, color_system="auto" if color is not False else None,
                   force_terminal=color, highlight=False, soft_wrap=False)


def render_regions(document: dict[str, Any], out: TextIO, *, width: int | None = None,
                   color: bool | None = None) -> None:
    """The region table with a title, totals and warnings."""
    console = make_console(out, width, color)
    title = f"{document['input']} — {document['container']}"
    if document.get("output"):
        title += f" → {document['output']}"
    table = Table(title=title, title_justify="left", show_lines=False, pad_edge=False)
    for name, justify in (("ID", "right"), ("name", "left"), ("physical", "right"),
                          ("virtual", "right"), ("size", "right"), ("source", "left"),
                          ("status", "left")):
        table.add_column(name, justify=justify, no_wrap=name not in ("source",),
                         overflow="fold")
    for row in document["regions"]:
        status = Text(row["status"], style=STATUS_STYLE.get(Status(row["status"]), "")
                      if row["status"] != "pending" else "")
        table.add_row("-" if row["id"] is None else str(row["id"]), row["name"],
                      hexa(row["paddr"]), hexa(row["vaddr"]), hexa(row["size"]),
                      row["source"], status)
    console.print(table)
    t = document["totals"]
    parts = [f"{n} {k}" for k, n in t["by_status"].items()]
    console.print(f"{t['regions']} regions: {', '.join(parts)}; "
                  f"{size_text(t['written_bytes'])} of region data"
                  + (f"; vmcore {size_text(document['output_size'])}"
                     if document.get("output_size") else ""))
    for row in document["regions"]:
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


RENDERERS: dict[str, Callable[[Any, TextIO], None]] = {
    "regions": render_regions,
    "info": render_info,
    "vmcoreinfo": render_vmcoreinfo,
}
