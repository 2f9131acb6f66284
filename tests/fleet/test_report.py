"""``minidump report``: the HTML page of a triage store, in real headless Chromium.

The store is filled by real ``triage --db`` runs over the fleet builder's
captures (three days of uploads) plus one capture whose file name is markup.
Chromium (Debian's ``chromium``, driven by Playwright) opens the page from
disk: no console message, no request but the page itself, charts drawn, and
every number on the page, unfiltered and filtered, equal to what SQLite says
of the store.  A screenshot goes to the test artifacts
(``$MINIDUMP_ARTIFACTS``, default ``build/test-artifacts``).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from builders import ROOT, SAMPLES, one_error_line, run
from builders.fleet import DAY, EPOCH, make_fleet

#: a capture whose name would run script if the page did not escape it
HOSTILE = "<img src=x onerror=alert(1)>\"'&.img"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: the flags every headless run uses (quiet, offline, no first-run work)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store of three days of uploads, filled by three triage runs, and its report."""
    base = tmp_path_factory.mktemp("report")
    uploads, db = base / "uploads", base / "fleet.sqlite"
    uploads.mkdir()
    for day in range(3):
        make_fleet(base / f"made{day}" / f"day{day}", 30 + 10 * day, corrupt_every=10,
                   epoch=EPOCH + day * DAY)
        shutil.move(str(base / f"made{day}" / f"day{day}"), str(uploads / f"day{day}"))
        if day == 2:
            shutil.copy(SAMPLES / "rawdump.img", uploads / HOSTILE)
            os.utime(uploads / HOSTILE, (EPOCH + 2 * DAY + 3600,) * 2)
        from minidump.cli import main
        assert main(["triage", str(uploads), "--db", str(db), "-q", "--workers", "2"]) == 3
    out = base / "report.html"
    assert main(["report", str(db), "-o", str(out)]) == 0
    return db, out


def sql(db: Path, query: str, *args) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(query, args).fetchall()
    finally:
        con.close()


def test_the_page_is_self_contained_and_escapes_capture_text(store):
    db, out = store
    page = out.read_text("utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "default-src 'none'" in page                 # the CSP: nothing may be fetched
    assert not re.search(r"<link|@import|url\(|\bsrc=\"|https?://", page.replace(
        "http-equiv", ""))
    assert HOSTILE not in page and "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;&#34;&#39;&amp;.img" in page
    island = page.split('<script type="application/json" id="data">')[1].split("</script>")[0]
    assert "<" not in island and "&" not in island


def test_same_store_same_bytes_and_outputs_are_safe(store, tmp_path, capsys):
    db, out = store
    again = tmp_path / "again.html"
    code, stdout, err = run(capsys, "report", str(db), "-o", str(again))
    assert code == 0 and err == "" and stdout.startswith(f"{again}: ")
    assert again.read_bytes() == out.read_bytes()
    code, _, err = run(capsys, "report", str(db), "-o", str(again))
    assert code == 2 and "exists; use --force" in one_error_line(err)
    code, _, err = run(capsys, "report", str(tmp_path / "none.sqlite"), "-o",
                       str(tmp_path / "x.html"))
    assert code == 1 and one_error_line(err) == (
        f"minidump: error: {tmp_path / 'none.sqlite'}: no such triage store "
        "(triage --db FILE writes one)")
    assert not (tmp_path / "none.sqlite").exists() and not (tmp_path / "x.html").exists()
    code, stdout, _ = run(capsys, "report", str(db), "-o", str(again), "--force", "--json")
    import json
    doc = json.loads(stdout)
    assert doc["size"] == again.stat().st_size
    assert doc["captures"] == sql(db, "SELECT count(*) FROM captures")[0][0]


# -- in Chromium ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="the browser test drives Chromium with Playwright "
                                          "(pip install playwright)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000})
        yield context
        context.close()


@pytest.fixture()
def page(browser, store):
    db, out = store
    page = browser.new_page()
    events = {"console": [], "errors": [], "requests": [], "dialogs": []}
    page.on("console", lambda m: events["console"].append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: events["errors"].append(str(e)))
    page.on("request", lambda r: events["requests"].append(r.url))
    page.on("dialog", lambda d: (events["dialogs"].append(d.message), d.dismiss()))
    page.goto(out.as_uri())
    page.wait_for_load_state("load")
    yield page, events, db
    page.close()


def shown_groups(page) -> dict[str, int]:
    """The signature rows on screen and the count each shows."""
    return page.evaluate("""() => Object.fromEntries(
        Array.from(document.querySelectorAll('#groups tbody tr'))
             .filter(r => !r.hidden && r.offsetParent !== null)
             .map(r => [r.dataset.signature, Number(r.querySelector('.count').textContent)]))""")


def crashes_by_signature(db, where: str = "1", *args) -> dict[str, int]:
    return dict(sql(db, "SELECT signature, count(*) FROM captures WHERE status != 'error' "
                        f"AND signature IS NOT NULL AND {where} GROUP BY signature", *args))


def test_loads_offline_without_errors_and_draws_the_charts(page):
    page, events, db = page
    assert events["console"] == [] and events["errors"] == [] and events["dialogs"] == []
    assert len(events["requests"]) == 1 and events["requests"][0].startswith("file://")
    # one bar per day a signature was seen, each drawn with a height, in the bar colour
    bars = page.evaluate("""() => Array.from(document.querySelectorAll('#groups tbody tr'))
        .map(r => [r.dataset.signature, Array.from(r.querySelectorAll('rect.bar')).map(b => {
            const box = b.getBoundingClientRect();
            return [b.dataset.day, box.width, box.height, getComputedStyle(b).fill]; })])""")
    days = {}
    for sig, day, n in sql(db, "SELECT signature, day, count(*) FROM captures WHERE status != "
                               "'error' AND signature IS NOT NULL GROUP BY signature, day"):
        days.setdefault(sig, {})[day] = n
    assert {sig: sorted(b[0] for b in rects) for sig, rects in bars} == {
        sig: sorted(d) for sig, d in days.items()}
    for _, rects in bars:
        for _, width, height, fill in rects:
            assert width > 0 and height > 0 and fill not in ("none", "rgba(0, 0, 0, 0)")
    artifacts = Path(os.environ.get("MINIDUMP_ARTIFACTS", ROOT / "build" / "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "triage-report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    # the markup in a capture's name is text on the page, and ran nothing
    assert page.locator("img").count() == 0
    assert page.get_by_text(HOSTILE).count() >= 1


def test_the_numbers_are_the_stores(page):
    page, _, db = page
    assert shown_groups(page) == crashes_by_signature(db)
    (total,), = sql(db, "SELECT count(*) FROM captures")
    by_status = dict(sql(db, "SELECT status, count(*) FROM captures GROUP BY status"))
    text = {k: int(page.text_content(f"#total-{k}")) for k in
            ("captures", "ok", "partial", "error", "signatures")}
    assert text == {"captures": total, "ok": by_status["ok"], "partial": by_status["partial"],
                    "error": by_status["error"], "signatures": len(crashes_by_signature(db))}
    # ordered by impact: counts never grow down the table
    counts = list(shown_groups(page).values())
    assert counts == sorted(counts, reverse=True)
    releases = page.evaluate("""() => Array.from(document.querySelectorAll('#releases tbody tr'))
        .map(r => [r.dataset.release, Number(r.querySelector('[data-col=captures]').textContent),
                   Number(r.querySelector('[data-col=error]').textContent),
                   Number(r.querySelector('[data-col=crashes]').textContent)])""")
    want = sql(db, "SELECT coalesce(release, ''), count(*), sum(status = 'error'), "
                   "sum(status != 'error' AND signature IS NOT NULL) FROM captures "
                   "GROUP BY coalesce(release, '')")
    assert sorted(map(tuple, releases)) == sorted(want)
    failures = page.locator("#failures tbody tr").count()
    assert failures == int(page.text_content("#failures-shown")) == by_status["error"]
    errors = {e for (e,) in sql(db, "SELECT json_extract(record, '$.error') FROM captures "
                                    "WHERE status = 'error'")}
    on_page = set(page.locator("#failures td.error").all_text_contents())
    assert on_page == errors


def test_filtering_and_sorting(page):
    page, _, db = page
    # by release
    (release,), = sql(db, "SELECT release FROM captures WHERE release IS NOT NULL "
                          "GROUP BY release ORDER BY count(*) DESC LIMIT 1")
    page.select_option("#f-release", release)
    assert shown_groups(page) == crashes_by_signature(db, "release = ?", release)
    visible = page.evaluate("""() => Array.from(document.querySelectorAll('#releases tbody tr'))
        .filter(r => !r.hidden).map(r => r.dataset.release)""")
    assert visible == [release]
    # and by date range: the middle day only
    middle = sql(db, "SELECT DISTINCT day FROM captures ORDER BY day")[1][0]
    page.fill("#f-from", middle)
    page.fill("#f-to", middle)
    assert shown_groups(page) == crashes_by_signature(db, "release = ? AND day = ?", release,
                                                       middle)
    out = page.evaluate("() => Array.from(document.querySelectorAll('rect.bar'))"
                        ".filter(b => !b.classList.contains('out')).map(b => b.dataset.day)")
    assert set(out) == {middle}
    failed = page.evaluate("() => Array.from(document.querySelectorAll('#failures tbody tr'))"
                           ".filter(r => !r.hidden).length")
    assert failed == sql(db, "SELECT count(*) FROM captures WHERE status = 'error' AND "
                             "coalesce(release, '') = ? AND day = ?", release, middle)[0][0]
    # by signature text (a piece of the event)
    page.click("#f-reset")
    page.fill("#f-sig", "hung_task")
    (sig,), = sql(db, "SELECT DISTINCT signature FROM captures WHERE "
                      "json_extract(record, '$.crash.event') LIKE '%hung_task%'")
    assert shown_groups(page) == crashes_by_signature(db, "signature = ?", sig)
    # by arch: every capture of this fleet is arm64
    page.click("#f-reset")
    page.select_option("#f-arch", "arm64")
    assert shown_groups(page) == crashes_by_signature(db, "arch = 'arm64'")
    # sorting
    page.click("#f-reset")
    page.select_option("#sort", "signature")
    order = list(shown_groups(page))
    assert order == sorted(order)
    page.select_option("#sort", "last")
    last = page.evaluate("() => Array.from(document.querySelectorAll('#groups tbody tr'))"
                         ".map(r => r.dataset.last)")
    assert last == sorted(last, reverse=True)
    ranks = page.locator("#groups td.rank").all_text_contents()
    assert ranks == [str(i + 1) for i in range(len(ranks))]
