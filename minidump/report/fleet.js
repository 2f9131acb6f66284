// Sorting and filtering of the triage report.  The counts come from the JSON island: one
// cell per (signature index or -1, release, arch, day, status) with its number of captures.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("data").textContent);
  const $ = (id) => document.getElementById(id);
  const SIG = 0, RELEASE = 1, ARCH = 2, DAY = 3, STATUS = 4, N = 5;

  function filters() {
    return {
      sig: $("f-sig").value.trim().toLowerCase(), release: $("f-release").value,
      arch: $("f-arch").value, from: $("f-from").value, to: $("f-to").value,
    };
  }

  function sigMatches(f) {
    return data.signatures.map((sig, i) => !f.sig || sig.toLowerCase().includes(f.sig) ||
      data.events[i].toLowerCase().includes(f.sig));
  }

  function inDates(day, f) {
    if (f.from && (!day || day < f.from)) return false;
    if (f.to && (!day || day > f.to)) return false;
    return true;
  }

  function keep(cell, f, matches, withRelease) {
    if (f.arch !== "*" && cell[ARCH] !== f.arch) return false;
    if (withRelease && f.release !== "*" && cell[RELEASE] !== f.release) return false;
    if (!inDates(cell[DAY], f)) return false;
    if (f.sig && !(cell[SIG] >= 0 && matches[cell[SIG]])) return false;
    return true;
  }

  function sortKey(row, by) {
    if (by === "last") return row.dataset.last;
    if (by === "first") return row.dataset.first;
    if (by === "signature") return row.dataset.signature;
    return Number(row.dataset.shown);
  }

  function apply() {
    const f = filters();
    const matches = sigMatches(f);
    // signature groups: counts recomputed under every filter
    const counts = new Array(data.signatures.length).fill(0);
    for (const cell of data.cube) {
      if (cell[SIG] >= 0 && cell[STATUS] !== "error" && keep(cell, f, matches, true)) {
        counts[cell[SIG]] += cell[N];
      }
    }
    const body = document.querySelector("#groups tbody");
    let groups = 0, crashes = 0;
    if (body) {
      const rows = Array.from(body.rows);
      for (const row of rows) {
        const n = counts[Number(row.dataset.index)];
        row.dataset.shown = String(n);
        row.querySelector(".count").textContent = String(n);
        row.hidden = n === 0;
        if (n) { groups += 1; crashes += n; }
        for (const bar of row.querySelectorAll(".bar")) {
          bar.classList.toggle("out", !inDates(bar.dataset.day, f));
        }
      }
      const by = $("sort").value;
      rows.sort((a, b) => {
        const ka = sortKey(a, by), kb = sortKey(b, by);
        if (ka === kb) return Number(a.dataset.index) - Number(b.dataset.index);
        if (by === "signature") return ka < kb ? -1 : 1;
        return ka < kb ? 1 : -1;              // counts and dates: largest, newest first
      });
      let rank = 0;
      for (const row of rows) {
        body.appendChild(row);
        row.querySelector(".rank").textContent = row.hidden ? "" : String(++rank);
      }
    }
    $("shown-groups").textContent = String(groups);
    $("shown-crashes").textContent = String(crashes);
    // releases: every column recomputed under the arch, date and signature filters
    for (const row of document.querySelectorAll("#releases tbody tr")) {
      const release = row.dataset.release;
      const t = { captures: 0, ok: 0, partial: 0, error: 0, crashes: 0 };
      const sigs = new Map();
      for (const cell of data.cube) {
        if (cell[RELEASE] !== release || !keep(cell, f, matches, false)) continue;
        t.captures += cell[N];
        t[cell[STATUS]] += cell[N];
        if (cell[SIG] >= 0 && cell[STATUS] !== "error") {
          t.crashes += cell[N];
          sigs.set(cell[SIG], (sigs.get(cell[SIG]) || 0) + cell[N]);
        }
      }
      for (const col of ["captures", "ok", "partial", "error", "crashes"]) {
        row.querySelector(`[data-col="${col}"]`).textContent = String(t[col]);
      }
      row.querySelector('[data-col="distinct"]').textContent = String(sigs.size);
      let top = null;
      for (const [sig, n] of sigs) {
        if (top === null || n > top[1] ||
            (n === top[1] && data.signatures[sig] < data.signatures[top[0]])) top = [sig, n];
      }
      const cell = row.querySelector('[data-col="top"]');
      cell.textContent = "";
      if (top) {
        const code = document.createElement("code");
        code.textContent = data.signatures[top[0]];
        cell.append(code, ` (${top[1]})`);
      } else {
        cell.textContent = "-";
      }
      row.hidden = (f.release !== "*" && release !== f.release) || t.captures === 0;
    }
    // failed and partial captures: by release, arch and date
    for (const id of ["failures", "partial"]) {
      for (const row of document.querySelectorAll(`#${id} tbody tr`)) {
        row.hidden = !((f.release === "*" || row.dataset.release === f.release) &&
          (f.arch === "*" || row.dataset.arch === f.arch) && inDates(row.dataset.day, f));
      }
      if (id === "failures" && $("failures-shown")) {
        let total = 0;
        for (const cell of data.cube) {
          if (cell[STATUS] === "error" && keep(cell, Object.assign({}, f, { sig: "" }), matches, true)) {
            total += cell[N];
          }
        }
        $("failures-shown").textContent = String(total);
      }
    }
  }

  for (const id of ["f-sig", "f-release", "f-arch", "f-from", "f-to", "sort"]) {
    $(id).addEventListener("input", apply);
    $(id).addEventListener("change", apply);
  }
  $("f-reset").addEventListener("click", () => {
    $("f-sig").value = ""; $("f-from").value = ""; $("f-to").value = "";
    $("f-release").value = "*"; $("f-arch").value = "*"; $("sort").value = "count";
    apply();
  });
  apply();
})();
