"""The HTML report of a triage store: one self-contained page (``minidump report DB``).

The page is rendered by a Jinja2 template with autoescaping on, so every
string from a capture (events, paths, errors, releases) reaches the page as
text, never as markup; strings also pass :func:`minidump.report.safe` first,
as in every other renderer.  Charts are inline SVG drawn here; sorting and
filtering are a short inline script over a JSON island of counts.  The page
loads nothing: a Content-Security-Policy forbids any fetch, and there are no
external assets, so it opens from disk, offline.

The numbers are the store's: :func:`report_model` counts the stored records
(the triage summary's grouping), and the script's filtered counts come from
the same records, aggregated into a cube of (signature, release, arch, day,
status) cells.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from importlib import resources
from typing import Any

from minidump.report import safe_document

#: failed captures listed on the page (the count is always the whole store's)
FAILURES_SHOWN = 2000
#: the chart of counts per day: its size, and the most recent days it covers at most
CHART_W, CHART_H = 240, 48
CHART_DAYS = 90
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _frames(crash: dict) -> list[str]:
    """Top frames of a crash signature's basis (``kind: f1 < f2 < ...``); [] for a panic
    line."""
    basis = crash.get("basis") or ""
    if crash.get("source") != "crash triage" or ": " not in basis:
        return []
    return [f for f in basis.split(": ", 1)[1].split(" < ") if f][:6]


def _day(rec: dict) -> str | None:
    when = (rec.get("seen") or {}).get("time") or ""
    return when[:10] if _DAY.match(when[:10]) else None


def _span(days: list[str]) -> list[str]:
    """Every day from the first to the last of ``days`` (ISO dates)."""
    if not days:
        return []
    first, last = date.fromisoformat(min(days)), date.fromisoformat(max(days))
    return [(first + timedelta(n)).isoformat() for n in range((last - first).days + 1)]


def chart_svg(days: dict[str, int], span: list[str], title: str) -> str:
    """Bars of captures per day over ``span`` (the store's days), as an inline SVG."""
    import html
    n = max(1, len(span))
    top = max(days.values(), default=0) or 1
    step = CHART_W / n
    width = max(1.0, step * 0.8)
    bars = []
    for i, day in enumerate(span):
        count = days.get(day, 0)
        if not count:
            continue
        h = max(1.0, (CHART_H - 2) * count / top)
        bars.append(f'<rect class="bar" data-day="{day}" x="{i * step:.2f}" '
                    f'y="{CHART_H - h:.2f}" width="{width:.2f}" height="{h:.2f}">'
                    f'<title>{day}: {count}</title></rect>')
    return (f'<svg class="chart" role="img" aria-label="{html.escape(title)}" '
            f'viewBox="0 0 {CHART_W} {CHART_H}" width="{CHART_W}" height="{CHART_H}">'
            f'<line x1="0" y1="{CHART_H - 0.5}" x2="{CHART_W}" y2="{CHART_H - 0.5}" '
            f'class="axis"/>{"".join(bars)}</svg>')


def report_model(rows: list[tuple[dict, int | None, int | None]], runs: list[dict],
                 store_path: str) -> dict[str, Any]:
    """What the page shows, from the store's records (and the runs that found them)."""
    from minidump.fleet.summary import newest_first, summarize
    records = [safe_document(rec) for rec, _, _ in rows]
    summary = summarize(records)
    span = _span([d for d in (_day(r) for r in records) if d])
    chart_span = span[-CHART_DAYS:]
    by_sig = {}
    for rec in records:
        crash = rec.get("crash") or {}
        if rec["status"] != "error" and crash.get("signature"):
            by_sig.setdefault(crash["signature"], crash)
    groups = sorted(summary["signatures"],
                    key=lambda g: (-g["count"], -len(g["releases"]), g["signature"]))
    sig_index = {g["signature"]: i for i, g in enumerate(groups)}
    for i, group in enumerate(groups):
        group["index"] = i
        group["frames"] = _frames(by_sig[group["signature"]])
        group["kind"] = by_sig[group["signature"]].get("kind")
        group["chart"] = chart_svg(group["days"], chart_span,
                                   f"captures per day, {group['signature']}")
    releases: dict[str, dict] = {}
    cube: dict[tuple, int] = {}
    for rec in records:
        crash = rec.get("crash") or {}
        sig = crash.get("signature") if rec["status"] != "error" else None
        release = rec.get("release") or ""
        key = (sig_index.get(sig, -1) if sig else -1, release, rec.get("arch") or "",
               _day(rec) or "", rec["status"])
        cube[key] = cube.get(key, 0) + 1
        r = releases.setdefault(release, {"release": release or None, "captures": 0, "ok": 0,
                                          "partial": 0, "error": 0, "crashes": 0,
                                          "signatures": {}})
        r["captures"] += 1
        r[rec["status"]] += 1
        if sig:
            r["crashes"] += 1
            r["signatures"][sig] = r["signatures"].get(sig, 0) + 1
    release_rows = []
    for r in sorted(releases.values(), key=lambda r: (-r["captures"], r["release"] or "~")):
        top = sorted(r["signatures"].items(), key=lambda kv: (-kv[1], kv[0]))
        release_rows.append({**r, "distinct": len(top), "top": top[0] if top else None})
    failures = [dict(rec, day=_day(rec) or "") for rec in newest_first(records)
                if rec["status"] == "error"]
    partial = [dict(rec, day=_day(rec) or "") for rec in newest_first(records)
               if rec["status"] == "partial"]
    data = {"signatures": [g["signature"] for g in groups],
            "events": [g["event"] or "" for g in groups],
            "cube": [[*key, n] for key, n in sorted(cube.items(), key=lambda kv: kv[0])]}
    arches = sorted({r.get("arch") for r in records if r.get("arch")})
    return {"store": safe_document(store_path), "summary": summary, "groups": groups,
            "span": span, "chart_span": chart_span, "releases": release_rows, "arches": arches,
            "failures": failures[:FAILURES_SHOWN], "failures_total": len(failures),
            "partial": partial[:FAILURES_SHOWN], "partial_total": len(partial),
            "runs": safe_document(runs), "data": _json_island(data)}


def _json_island(data: Any) -> str:
    """JSON to sit inside ``<script type="application/json">``: no ``<``, ``>`` or ``&``."""
    text = json.dumps(data, separators=(",", ":"), sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(model: dict[str, Any]) -> str:
    """The page (Jinja2, autoescaped), with its stylesheet and script inline."""
    import jinja2
    here = resources.files("minidump.report")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    template = env.from_string((here / "fleet.html.j2").read_text("utf-8"))
    return template.render(**model, css=(here / "fleet.css").read_text("utf-8"),
                           script=(here / "fleet.js").read_text("utf-8"))
