"""``minidump report DB -o report.html``: one self-contained HTML page of a triage store.

A thin adapter: open the store (:mod:`minidump.fleet.store`), build the page
(:mod:`minidump.report.html`) and publish it atomically.  The page loads
nothing from anywhere: styles, script, data and charts are inline.
"""

from __future__ import annotations

import argparse
import os

from minidump.cli import ExitCode, HelpFormatter
from minidump.commands import COMMANDS
from minidump.commands.common import output_options
from minidump.errors import MinidumpError
from minidump.report import Document

EXAMPLES = """\
examples:
  minidump triage captures/ --db fleet.sqlite    # fill the store (again: only new captures)
  minidump report fleet.sqlite -o report.html    # then open report.html in a browser
  minidump report fleet.sqlite -o report.html --force --json   # replace; a JSON line says what
what the page shows: crash signatures ordered by impact (captures), each with its captures per
  day, releases, arches, top frames and examples; a per-release breakdown; the failed captures
  with their one-line errors; filters by signature, release, arch and date range
"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "report", help=COMMANDS["report"],
        description="Write one self-contained HTML page of a triage store (triage --db): it "
                    "opens from disk in any browser, with no network and no other file.",
        epilog=EXAMPLES, formatter_class=HelpFormatter)
    p.add_argument("db", metavar="DB", help="a triage store written by triage --db")
    output_options(p, required=True, what="the HTML file to write")
    return p


def run(args) -> tuple[Document, ExitCode]:
    from minidump.files import atomic_output, check_output
    from minidump.fleet.store import Store
    from minidump.report.html import render_html, report_model

    if not os.path.isfile(args.db):      # sqlite would create it
        raise MinidumpError("no such triage store (triage --db FILE writes one)", path=args.db)
    check_output(args.output, force=args.force, inputs=[args.db])
    with Store(args.db) as store:
        rows = list(store.rows())
        runs = store.runs()
    model = report_model(rows, runs, args.db)
    page = render_html(model).encode("utf-8")
    with atomic_output(args.output, force=args.force, inputs=[args.db]) as fh:
        fh.write(page)
    summary = model["summary"]
    return Document("report", {"output": args.output, "size": len(page),
                               "captures": summary["captures"], "ok": summary["ok"],
                               "partial": summary["partial"], "error": summary["error"],
                               "signatures": len(model["groups"]),
                               "releases": len(model["releases"])}, args.json), ExitCode.OK


__all__ = ["add_parser", "run"]
