"""Grouping records by crash signature, and the order records are shown in."""

from __future__ import annotations

#: example inputs kept per group
EXAMPLES = 3


def _when(rec: dict) -> str:
    return (rec.get("seen") or {}).get("time") or ""


def newest_first(records: list[dict]) -> list[dict]:
    """Records by the time each crash was seen, newest first; ties by input."""
    by_input = sorted(records, key=lambda r: r["input"])
    return sorted(by_input, key=_when, reverse=True)


def summarize(records: list[dict], *, skipped: list[str] = (), interrupted: bool = False,
              engine: str = "", elapsed_s: float | None = None) -> dict:
    """The summary object: counts by status, then one group per signature, newest first.

    Each group: ``signature``, ``basis``, ``event``, ``count``, ``first_seen`` /
    ``last_seen``, ``releases`` and ``arches`` affected, ``days`` (captures per UTC
    day seen) and up to three ``examples``.  Read
    captures without a crash event are counted under ``no_crash``; failures
    are listed in ``errors`` with their reason.
    """
    groups: dict[str, dict] = {}
    no_crash: list[dict] = []
    errors = []
    for rec in newest_first(records):
        if rec["status"] == "error":
            errors.append({"input": rec["input"], "error": rec["error"]})
            continue
        crash = rec.get("crash")
        if not crash or not crash.get("signature"):
            no_crash.append(rec)
            continue
        group = groups.setdefault(crash["signature"], {
            "signature": crash["signature"], "basis": crash.get("basis"),
            "event": crash.get("event"), "count": 0, "first_seen": None, "last_seen": None,
            "releases": [], "arches": [], "days": {}, "examples": []})
        group["count"] += 1
        when = _when(rec) or None
        if when:
            group["days"][when[:10]] = group["days"].get(when[:10], 0) + 1
        if when and (group["last_seen"] is None or when > group["last_seen"]):
            group["last_seen"] = when
        if when and (group["first_seen"] is None or when < group["first_seen"]):
            group["first_seen"] = when
        if rec.get("release") and rec["release"] not in group["releases"]:
            group["releases"].append(rec["release"])
        if rec.get("arch") and rec["arch"] not in group["arches"]:
            group["arches"].append(rec["arch"])
        if len(group["examples"]) < EXAMPLES:
            group["examples"].append(rec["input"])
    for group in groups.values():
        group["releases"].sort()
        group["arches"].sort()
        group["days"] = dict(sorted(group["days"].items()))
    ordered = sorted(groups.values(), key=lambda g: (g["last_seen"] or "", g["count"]),
                     reverse=True)
    counts = {status: sum(1 for r in records if r["status"] == status)
              for status in ("ok", "partial", "error")}
    return {"type": "summary", "captures": len(records), **counts,
            "signatures": ordered,
            "no_crash": {"count": len(no_crash),
                         "examples": [r["input"] for r in no_crash[:EXAMPLES]]},
            "errors": errors, "skipped": list(skipped), "interrupted": interrupted,
            "engine": engine, "elapsed_s": None if elapsed_s is None else round(elapsed_s, 3)}
