"""Reports: rich tables for people, JSON for scripts.  Nothing else imports rich."""

from __future__ import annotations

import json
from typing import Any, TextIO

from minidump.model import Region, Status

STATUS_STYLE = {Status.WRITTEN: "green", Status.MISSING: "red", Status.SHORT: "red",
                Status.DUPLICATE: "yellow", Status.INVALID: "red", Status.ENCRYPTED: "magenta"}


def make_console(out: TextIO, width: int | None = None, color: bool | None = None):
    """A rich Console on ``out``; pipes and files get 120 columns so addresses never fold."""
    from rich.console import Console
    if width is None and not (hasattr(out, "isatty") and out.isatty()):
        width = 120
    return Console(file=out, width=width, color_system="auto" if color is not False else None,
                   force_terminal=color, highlight=False, soft_wrap=False)


def hex_or_dash(value: int | None) -> str:
    return "-" if value is None else f"{value:#x}"


def region_rows(regions: list[Region] | tuple[Region, ...]) -> list[dict[str, Any]]:
    """One dict per region: the rows both renderers show."""
    rows = []
    for region in regions:
        rows.append({
            "id": region.id,
            "name": region.name,
            "paddr": region.paddr,
            "vaddr": region.vaddr,
            "size": region.size,
            "source": region.source,
            "status": region.status.value if region.status else "pending",
            "reason": region.reason,
        })
    return rows


def totals(regions) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for region in regions:
        key = region.status.value if region.status else "pending"
        counts[key] = counts.get(key, 0) + 1
    written = [r for r in regions if r.status is Status.WRITTEN]
    return {"regions": len(regions), "by_status": counts,
            "written_bytes": sum(r.size for r in written),
            "lost": sum(1 for r in regions if r.status is not None and r.status.lost)}


def render_json(document: dict[str, Any], out: TextIO) -> None:
    json.dump(document, out, indent=2, sort_keys=False)
    out.write("\n")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def render_regions(document: dict[str, Any], out: TextIO, *, width: int | None = None,
                   color: bool | None = None) -> None:
    """The region table with a title, totals and warnings."""
    from rich.table import Table
    from rich.text import Text

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
                      hex_or_dash(row["paddr"]), hex_or_dash(row["vaddr"]), f"{row['size']:#x}",
                      row["source"], status)
    console.print(table)
    t = document["totals"]
    parts = [f"{n} {k}" for k, n in t["by_status"].items()]
    console.print(f"{t['regions']} regions: {', '.join(parts)}; "
                  f"{_size(t['written_bytes'])} of region data"
                  + (f"; vmcore {_size(document['output_size'])}" if document.get("output_size")
                     else ""))
    for row in document["regions"]:
        if row["reason"]:
            ident = "-" if row["id"] is None else row["id"]
            style = "" if row["status"] == "written" else STATUS_STYLE.get(Status(row["status"]), "")
            console.print(Text(f"  ID {ident} {row['name']}: {row['status']}, {row['reason']}",
                               style=style))
    if document.get("vmcoreinfo"):
        console.print(f"VMCOREINFO: {document['vmcoreinfo']}")
    for warning in document.get("warnings", []):
        console.print(Text(f"warning: {warning}", style="yellow"))
