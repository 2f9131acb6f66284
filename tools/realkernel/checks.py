"""End-to-end checks of minidump on the real-kernel captures of ``harness.py``, per arch.

For one capture (the full QEMU dump, ``rec`` from ``harness.py --arch A paths``):

1. ``minidump extract --regions v3-default --profile crash``; then every written region's
   addresses are judged against the guest's own page tables (riscv64 Sv39/48/57 from
   ``satp`` as QEMU reported it at dump time; 32-bit arm LPAE from ``swapper_pg_dir``;
   x86_64/arm64 through ``minidump.kernel.pgtable``): the region's virtual address walks to
   its physical address, ``Translator`` gives the same image/linear rule both ways, and the
   bytes are the full dump's bytes there;
2. the VMCOREINFO text, found in the full dump by *searching* physical memory (no
   translation), sits where ``vmcoreinfo_data`` points (linear map);
3. the consumers read the minidump as they read the full dump: ``minidump dmesg``,
   ``vmcore-dmesg`` (kexec-tools), that arch's ``crash --minimal`` ``log`` (under
   qemu-user), drgn (not on riscv64: drgn 0.3.0 cannot translate riscv64 kernel addresses);
4. arm and arm64 only (Qualcomm minidump containers exist there, not on riscv64/x86_64):
   the regions as firmware hands them over -- ``md_K*.BIN`` blobs + a Sahara table with no
   ELF header blob, and the same as one ``Raw_Dmp!`` image -- go through ``minidump build``
   and come out at the same virtual addresses, with the same log;
5. ``minidump info`` names the release; ``minidump vmcoreinfo --vmlinux`` generates the
   keys the kernel's own text has.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import HarnessError, KMSG_LINES, REPO  # noqa: E402

#: arch -> the ELF class of its vmcores
ELF64 = {"x86_64": True, "arm64": True, "riscv64": True, "arm": False}
#: arches whose firmware hands over Qualcomm minidump containers (md_*.BIN, Raw_Dmp!)
QCOM_ARCHES = ("arm", "arm64")


def minidump_cli(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``python -m minidump ARGV`` from the checkout; stdout+stderr captured."""
    proc = subprocess.run([sys.executable, "-m", "minidump", *argv], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and proc.returncode != 0:
        raise HarnessError(f"minidump {argv[0]} exited {proc.returncode}: "
                           f"{(proc.stderr or proc.stdout).strip()[-400:]}")
    return proc


def open_drgn(vmcore: Path | str, vmlinux: Path | str):
    """drgn.Program on vmcore with the debug vmlinux (missing modules are fine)."""
    import drgn
    prog = drgn.Program()
    prog.set_core_dump(str(vmcore))
    try:
        prog.load_debug_info([str(vmlinux)])
    except drgn.MissingDebugInfoError:
        pass  # kernel modules: a minidump has no module list
    return prog


def drgn_facts(prog) -> dict:
    """What checks 1 and 2 compare: release, jiffies_64, linux_banner (errors as text)."""
    import drgn
    readers = {
        "init_uts_ns.name.release":
            lambda: prog["init_uts_ns"].name.release.string_().decode(),
        "jiffies_64": lambda: int(prog["jiffies_64"].value_()),
        "linux_banner": lambda: prog["linux_banner"].string_().decode(errors="replace"),
    }
    out = {}
    for key, read in readers.items():
        try:
            out[key] = read()
        except drgn.FaultError as exc:
            out[key] = f"drgn FaultError: {exc}"
    return out


def pt_loads(path: Path | str) -> list[dict]:
    """PT_LOADs of an ELF core (32 or 64 bit): paddr, vaddr, filesz and the bytes."""
    from elftools.elf.elffile import ELFFile
    out = []
    with open(path, "rb") as f:
        for seg in ELFFile(f).iter_segments():
            if seg["p_type"] == "PT_LOAD":
                out.append({"paddr": seg["p_paddr"], "vaddr": seg["p_vaddr"],
                            "size": seg["p_filesz"], "data": seg.data()})
    return out


class FullDump:
    """Physical reads of a full QEMU dump (its PT_LOADs, mmap'd)."""

    def __init__(self, path: str):
        import mmap
        from elftools.elf.elffile import ELFFile
        self.file = open(path, "rb")
        self.map = mmap.mmap(self.file.fileno(), 0, access=mmap.ACCESS_READ)
        with open(path, "rb") as f:
            self.loads = [(s["p_paddr"], s["p_filesz"], s["p_offset"])
                          for s in ELFFile(f).iter_segments()
                          if s["p_type"] == "PT_LOAD" and s["p_filesz"]]

    def read(self, paddr: int, size: int) -> bytes | None:
        for start, length, offset in self.loads:
            if start <= paddr and paddr + size <= start + length:
                at = offset + paddr - start
                return self.map[at:at + size]
        return None

    def find_bytes(self, needle: bytes, congruent: tuple[int, int] = (0, 1)) -> int | None:
        """Physical address of the first copy of ``needle`` at an address congruent to
        ``congruent[0]`` modulo ``congruent[1]`` (the log buffer holds copies too)."""
        for start, length, offset in self.loads:
            at = self.map.find(needle, offset, offset + length)
            while at >= 0:
                if (start + at - offset - congruent[0]) % congruent[1] == 0:
                    return start + at - offset
                at = self.map.find(needle, at + 1, offset + length)
        return None

    def find_page(self, needle: bytes) -> int | None:
        """Physical address of a page-aligned copy of ``needle``."""
        for start, length, offset in self.loads:
            at = self.map.find(needle, offset, offset + length)
            while at >= 0:
                if (start + at - offset) % 4096 == 0:
                    return start + at - offset
                at = self.map.find(needle, at + 1, offset + length)
        return None

    def close(self) -> None:
        self.map.close()
        self.file.close()


# --------------------------------------------------------------------------
# the guests' own page tables: the judge of every region's addresses


def walk_riscv(dump: FullDump, satp: int, vaddr: int) -> int | None:
    """riscv Sv39/Sv48/Sv57 (privileged spec 4.3-4.6): satp MODE 8/9/10, PPN bits 0..43;
    PTE V bit 0, R/W/X bits 1-3 (any set: leaf), PPN bits 10..53; 9 index bits per level."""
    levels = {8: 3, 9: 4, 10: 5}.get(satp >> 60)
    if levels is None:
        return None
    table = (satp & ((1 << 44) - 1)) << 12
    for level in range(levels - 1, -1, -1):
        shift = 12 + 9 * level
        raw = dump.read(table + 8 * ((vaddr >> shift) & 0x1FF), 8)
        if raw is None:
            return None
        pte = int.from_bytes(raw, "little")
        if not pte & 1:
            return None
        base = ((pte >> 10) & ((1 << 44) - 1)) << 12
        if pte & 0xE:
            return base + (vaddr & ((1 << shift) - 1))
        table = base
    return None


def walk_arm_lpae(dump: FullDump, root: int, vaddr: int) -> int | None:
    """ARMv7 LPAE long descriptors (ARM ARM B3.6): first level 4 entries by VA[31:30], then
    512-entry tables by VA[29:21] and VA[20:12]; bits[1:0] 0b11 table/page, 0b01 block;
    output address bits [39:12]."""
    table, shifts = root, (30, 21, 12)
    for level, shift in enumerate(shifts):
        index = (vaddr >> shift) & (0x3 if level == 0 else 0x1FF)
        raw = dump.read(table + 8 * index, 8)
        if raw is None:
            return None
        desc = int.from_bytes(raw, "little")
        kind = desc & 3
        address = desc & 0xFF_FFFF_F000
        if kind == 0 or kind == 2:
            return None
        if kind == 1 or level == 2:      # block (levels 1, 2) or page (level 3)
            mask = (1 << shift) - 1
            return (address & ~mask) | (vaddr & mask)
        table = address
    return None


def satp_of(rec: dict) -> int | None:
    match = re.search(r"\bsatp\s+([0-9a-f]+)", rec.get("registers") or "")
    return int(match.group(1), 16) if match else None


def walker(rec: dict, dump: FullDump, translator):
    """``vaddr -> paddr`` through the guest's page tables, or None where no judge exists."""
    arch = rec.get("arch", "x86_64")
    if arch == "riscv64":
        satp = satp_of(rec)
        return None if satp is None else (lambda va: walk_riscv(dump, satp, va))
    info = translator.vmcoreinfo
    if arch == "arm":
        # swapper_pg_dir, the kernel's first-level table, placed by where the vmlinux's
        # linux_banner bytes are in the dump (a search: no translation rule involved)
        from minidump.elf.vmlinux import Vmlinux
        with Vmlinux.open(rec["vmlinux"]) as vmlinux:
            banner = vmlinux.symbols.get("linux_banner")
            text = vmlinux.read_link(banner.value, 64, "linux_banner")
        at = dump.find_bytes(text, congruent=(banner.value, 1 << 20))
        if at is None:
            return None
        root = at - banner.value + info.symbol("swapper_pg_dir")
        return lambda va: walk_arm_lpae(dump, root, va)
    from minidump.kernel.pgtable import walk

    class Phys:
        def read(self, paddr, size, what=""):
            from minidump.errors import MinidumpError
            data = dump.read(paddr, size)
            if data is None:
                raise MinidumpError("not captured")
            return data
    name = "init_top_pgt" if arch == "x86_64" else "swapper_pg_dir"
    if info.symbol(name) is None:
        return None
    root = translator.pa(info.symbol(name))
    levels = 5 if info.number("pgtable_l5_enabled") else 4
    if arch == "arm64":
        t1sz = info.number("TCR_EL1_T1SZ") or 16
        levels = 4 if 64 - t1sz > 39 else 3
    return lambda va: walk(Phys(), arch, root, va, levels=levels).paddr


#: arm64's final page tables do not map these image addresses (map_kernel maps _stext.._etext,
#: rodata, init and _data.._end; free_initmem unmaps the init text; _end is one past the
#: image), and the vmalloc area may reuse the head below _stext: their 8-byte regions are
#: placed by the image rule (kimage_voffset), as meminspect's __pa_symbol does
ARM64_UNMAPPED = {"_text", "_sinittext", "_einittext", "_end"}


def judge_regions(rec: dict, report: dict, mini: Path, info_text: bytes) -> list[str]:
    """Check 1: every written region against the page tables, the rules, the full dump."""
    from minidump.kernel.translate import Translator
    from minidump.kernel.vmcoreinfo import VmcoreInfo
    arch = rec.get("arch", "x86_64")
    failures: list[str] = []
    translator = Translator(arch, VmcoreInfo(info_text))
    loads = {seg["paddr"]: seg for seg in pt_loads(mini)}
    dump = FullDump(rec["vmcore"])
    walk = walker(rec, dump, translator)
    phys_offset = None
    if arch == "arm" and walk is None:
        failures.append("arm: no page-table judge")
    checked = walked = 0
    try:
        if arch == "arm":
            # the guest's own PHYS_OFFSET: what PAGE_OFFSET (from _stext) maps to
            page_offset = translator.layout().page_offset
            phys_offset = walk(page_offset) if walk else None
            translator = Translator(arch, VmcoreInfo(info_text), phys_offset=phys_offset)
        if arch == "x86_64" and info_text_symbol(info_text, "page_offset_base", rec):
            # KASLR randomizes the direct map: its base is in page_offset_base, not VMCOREINFO
            base_pa = translator.pa(info_text_symbol(info_text, "page_offset_base", rec))
            raw = dump.read(base_pa, 8) if base_pa is not None else None
            if raw:
                translator = Translator(arch, VmcoreInfo(info_text),
                                        page_offset=int.from_bytes(raw, "little"))
        for reg in report["regions"]:
            if reg["status"] != "written":
                continue
            checked += 1
            seg = loads.get(reg["paddr"])
            va, pa = reg["vaddr"], reg["paddr"]
            if seg is None or seg["vaddr"] != va:
                failures.append(f"{reg['name']}: no PT_LOAD at {pa:#x} with vaddr {va:#x}")
                continue
            if dump.read(pa, seg["size"]) != seg["data"]:
                failures.append(f"{reg['name']}: bytes differ from the full dump at {pa:#x}")
            if walk is not None and not (arch == "arm64" and reg["name"] in ARM64_UNMAPPED):
                walked += 1
                if walk(va) != pa:
                    failures.append(f"{reg['name']}: page tables map {va:#x} to "
                                    f"{walk(va)}, the minidump says {pa:#x}")
            if translator.pa(va) != pa:
                failures.append(f"{reg['name']}: Translator.pa({va:#x}) = {translator.pa(va)}, "
                                f"not {pa:#x}")
            lin = translator.linear_va(pa)
            if lin is not None and walk is not None and walk(lin) != pa:
                failures.append(f"{reg['name']}: linear alias {lin:#x} walks to {walk(lin)}")
            img = translator.image_va(pa)
            if img is not None and walk is not None and walk(img) != pa and not (
                    arch == "arm64" and reg["name"] in ARM64_UNMAPPED):
                failures.append(f"{reg['name']}: image alias {img:#x} walks to {walk(img)}")
        # check 2: VMCOREINFO found by its bytes; vmcoreinfo_data (linear map) points there
        at = dump.find_page(info_text[:64])
        pointer_pa = translator.pa(info_text_symbol(info_text, "vmcoreinfo_data", rec) or 0)
        print(f"  regions: {checked} written, {walked} walked through the guest's page tables"
              + (f"; PHYS_OFFSET {phys_offset:#x} by walking PAGE_OFFSET" if phys_offset
                 is not None else ""))
        if at is None:
            failures.append("VMCOREINFO text not found in the full dump")
        else:
            lin = translator.linear_va(at)
            print(f"  VMCOREINFO text at PA {at:#x}; linear alias {lin and hex(lin)}")
            if walk is not None and lin is not None and walk(lin) != at:
                failures.append(f"VMCOREINFO linear alias {lin:#x} walks to {walk(lin)}")
            if pointer_pa is not None:
                raw = dump.read(pointer_pa, 8 if ELF64[arch] else 4)
                value = int.from_bytes(raw, "little") if raw else None
                if value != lin:
                    failures.append(f"vmcoreinfo_data holds {value and hex(value)}, the linear "
                                    f"rule says {lin and hex(lin)}")
    finally:
        dump.close()
    return failures


def info_text_symbol(info_text: bytes, name: str, rec: dict) -> int | None:
    """Runtime address of ``name`` from the vmlinux's symbol table (+ KERNELOFFSET)."""
    from minidump.elf.vmlinux import Vmlinux
    match = re.search(rb"^KERNELOFFSET=([0-9a-f]+)$", info_text, re.M)
    offset = int(match.group(1), 16) if match else 0
    with Vmlinux.open(rec["vmlinux"]) as vmlinux:
        symbol = vmlinux.symbols.get(name)
        return None if symbol is None else (symbol.value + offset) & ((1 << 64) - 1)


def blob_name(symbol: str, ident: int) -> str:
    """meminspect-style region name: ``K`` + up to 8 characters + the ID (``Ktotalram4``)."""
    # Underscores are kept as the kernel's names keep them; a trailing digit would
    # run into the ID (``Kjiffies6`` + 10 reads back as ID 610), so it is dropped.
    stem = re.sub(r"[^A-Za-z0-9_]", "", symbol.lstrip("_"))[:8].rstrip("0123456789")
    return f"K{stem}{ident}"


def write_md_dir(md: Path, vmcoreinfo: bytes, vmcoreinfo_pa: int,
                 regions: list[dict]) -> list[dict]:
    """md_K*.BIN blobs + raw Sahara table; VMCOREINFO is ID 2, regions 4, 5, ...

    No kernel ELF header blob: every address comes from the Sahara table.
    Returns the table rows (id, name, filename, paddr, size).
    """
    from minidump.formats.qcom_minidump import sahara_debug_region64
    if md.exists():
        shutil.rmtree(md)
    md.mkdir(parents=True)
    rows = [{"id": 2, "name": "Kvmcorein2", "paddr": vmcoreinfo_pa, "data": vmcoreinfo,
             "symbol": "vmcoreinfo_data"}]
    for ident, reg in enumerate(regions, start=4):
        rows.append({"id": ident, "name": blob_name(reg["name"], ident), "paddr": reg["paddr"],
                     "data": reg["data"], "symbol": reg["name"]})
    if rows[-1]["id"] > 43:
        raise HarnessError(f"{len(regions)} regions do not fit meminspect static IDs 4..43")
    table = b""
    for row in rows:
        row["filename"] = f"md_{row['name']}.BIN"
        row["size"] = len(row["data"])
        (md / row["filename"]).write_bytes(row["data"])
        table += sahara_debug_region64.build({
            "type": 0, "addr": row["paddr"], "length": row["size"],
            "region": f"md_{row['name']}".encode().ljust(20, b"\0"),
            "filename": row["filename"].encode().ljust(20, b"\0")})
    (md / "sahara_table.bin").write_bytes(table)
    return rows




def write_rawdump(path: Path, rows: list[dict]) -> None:
    """The same blobs as one ``Raw_Dmp!`` image (tests/builders/qcom.py writes it with the
    project's own schemas): one section per blob, named as the blob, at its address."""
    sys.path.insert(0, str(REPO / "tests"))
    from builders.qcom import rawdump
    path.write_bytes(rawdump([(f"md_{row['name']}", row["data"], row["paddr"])
                              for row in rows]))


def log_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("[")]


def check_capture(rec: dict, workdir: Path, *, crash: bool = True) -> dict:
    """Checks 1-5 on one capture; returns ``{"name", "failures", "facts"}``."""
    arch = rec.get("arch", "x86_64")
    full, vmlinux = Path(rec["vmcore"]), Path(rec["vmlinux"])
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    failures: list[str] = []
    facts: dict = {"arch": arch}
    print(f"== {rec['name']} ({arch}): {full.name} ({rec['vmcore_bytes']} bytes), "
          f"cmdline '{rec['cmdline']}'")

    # ---- 1. extract
    mini = workdir / "mini.vmcore"
    start = time.monotonic()
    report = json.loads(minidump_cli("extract", "--vmlinux", str(vmlinux), str(full),
                                     "--regions", "v3-default", "--profile", "crash", "-o",
                                     str(mini), "--force", "--json").stdout)
    facts["extract_seconds"] = round(time.monotonic() - start, 2)
    facts["mini_bytes"] = mini.stat().st_size
    print(f"  extract: {facts['extract_seconds']}s, {facts['mini_bytes']} bytes, "
          f"{sum(r['status'] == 'written' for r in report['regions'])} regions written")
    note = harness.vmcoreinfo_from_elf(mini)
    info_text = "".join(f"{k}={v}\n" for k, v in note.items()).encode()
    if not note:
        failures.append("the minidump has no VMCOREINFO note")
        return {"name": rec["name"], "failures": failures, "facts": facts}
    failures += judge_regions(rec, report, mini, info_text)

    # ---- 3. consumers: full dump vs minidump
    # ---- 5b. minidump vmcoreinfo --vmlinux: the way to read a dump without a note
    generated = workdir / "generated.vmcoreinfo"
    start = time.monotonic()
    minidump_cli("vmcoreinfo", "--vmlinux", str(vmlinux), str(full), "-o", str(generated),
                 "--force")
    facts["vmcoreinfo_seconds"] = round(time.monotonic() - start, 1)
    gen = dict(line.split("=", 1) for line in generated.read_text().splitlines() if "=" in line)
    differ = sorted(k for k in gen if k in note and gen[k] != note[k])
    print(f"  vmcoreinfo --vmlinux: {len(gen)} keys ({facts['vmcoreinfo_seconds']}s); "
          f"{len(set(gen) & set(note))} shared with the kernel's, differing: {differ[:6]}; "
          f"the kernel's not generated: {sorted(set(note) - set(gen))[:8]}")
    if differ:
        failures.append(f"generated VMCOREINFO differs from the kernel's: {differ[:6]}")
    # the full dump without a note (armhf: no qemu_fw_cfg) is read with the generated one
    vmcoreinfo_file = None if rec.get("vmcoreinfo_present") else generated
    want = minidump_cli("dmesg", *(["--vmcoreinfo", str(vmcoreinfo_file)] if vmcoreinfo_file
                                   else []), str(full)).stdout
    got = minidump_cli("dmesg", str(mini)).stdout
    facts["log_lines"] = len(log_lines(want))
    if got != want or KMSG_LINES[0] not in got:
        failures.append("minidump dmesg: minidump != full dump")
    print(f"  minidump dmesg: {'same' if got == want else 'DIFFERENT'} ({facts['log_lines']} "
          "lines)")
    tool = harness.vmcore_dmesg(str(mini))
    if tool is not None:
        # vmcore-dmesg finds the log by p_vaddr: QEMU's paging=false dumps have none that
        # fit (it prints 'No program header covering vaddr'), so the judge is then the log
        # minidump dmesg reads from the full dump (and crash's, below)
        full_tool = harness.vmcore_dmesg(str(full)) if rec.get("vmcoreinfo_present") else None
        full_tool = full_tool or None
        same = tool == (full_tool if full_tool is not None else log_lines(want))
        print(f"  vmcore-dmesg mini: {'same' if same else 'DIFFERENT'} as "
              f"{'vmcore-dmesg' if full_tool is not None else 'minidump dmesg'} on the full "
              f"dump ({len(tool)} lines)")
        if not same:
            failures.append("vmcore-dmesg on the minidump differs")
    if crash and harness.crash_command(arch):
        start = time.monotonic()
        full_log = harness.crash_log(str(vmlinux), str(full), arch)
        mini_log = harness.crash_log(str(vmlinux), str(mini), arch)
        facts["crash_seconds"] = round(time.monotonic() - start, 1)
        same = bool(full_log) and full_log == mini_log
        print(f"  crash --minimal log: {'same' if same else 'DIFFERENT'} ({len(mini_log)} of "
              f"{len(full_log)} lines, both starts {facts['crash_seconds']}s)")
        if not same:
            failures.append(f"crash log on the minidump differs ({len(mini_log)} lines)")
    if arch != "riscv64":
        try:
            want_d, got_d = drgn_facts(open_drgn(full, vmlinux)), drgn_facts(open_drgn(mini,
                                                                                     vmlinux))
        except Exception as exc:       # drgn needs the note to know it is a kernel core
            want_d = got_d = None
            print(f"  drgn on the full dump: {type(exc).__name__}: {exc}")
            got_d = drgn_facts(open_drgn(mini, vmlinux))
            if got_d["init_uts_ns.name.release"] != rec["kernel_release"]:
                failures.append(f"drgn on the minidump: {got_d}")
            print(f"  drgn on the minidump: {got_d['init_uts_ns.name.release']}, "
                  f"jiffies_64={got_d['jiffies_64']}")
        if want_d is not None:
            for key in want_d:
                if want_d[key] != got_d[key]:
                    failures.append(f"drgn {key}: {got_d[key]!r} != {want_d[key]!r}")
            print(f"  drgn: {'same' if want_d == got_d else 'DIFFERENT'} release/jiffies_64/"
                  "linux_banner")

    # ---- 5. info and vmcoreinfo generation
    doc = json.loads(minidump_cli("info", str(mini), "--json", check=False).stdout or "{}")
    release = json.dumps(doc).count(rec["kernel_release"])
    print(f"  minidump info: release named {release} times")
    if not release:
        failures.append("minidump info does not name the release")
    # ---- 4. firmware containers (arm, arm64)
    if arch in QCOM_ARCHES:
        failures += check_firmware(rec, workdir, report, mini, info_text, want, crash)
    else:
        print(f"  md_*.BIN / Raw_Dmp!: not on {arch} (Qualcomm minidump is arm/arm64 only)")
    return {"name": rec["name"], "failures": failures, "facts": facts}


def check_firmware(rec, workdir, report, mini, info_text, want_log, crash) -> list[str]:
    """Check 4: md_K*.BIN + Sahara table, and Raw_Dmp!, through ``minidump build``."""
    arch = rec.get("arch", "x86_64")
    failures = []
    dump = FullDump(rec["vmcore"])
    vi_pa = dump.find_page(info_text[:64])
    dump.close()
    loads = {seg["paddr"]: seg for seg in pt_loads(mini)}
    regions = [{"name": r["name"], "paddr": r["paddr"], "vaddr": r["vaddr"],
                "data": loads[r["paddr"]]["data"]}
               for r in report["regions"] if r["status"] == "written"]
    rows = write_md_dir(workdir / "md", info_text, vi_pa, regions)
    raw = workdir / "rawdump.bin"
    write_rawdump(raw, rows)
    want_va = {r["paddr"]: r["vaddr"] for r in regions}
    for label, source in (("md_*.BIN", workdir / "md"), ("Raw_Dmp!", raw)):
        built = workdir / f"built-{label[:2]}.vmcore"
        # 32-bit arm's VMCOREINFO names no arch (no KERNELOFFSET, no arch keys) and the
        # blobs carry no ELF header: the arch is said on the command line
        # and its VMCOREINFO has no PHYS_OFFSET: without the one `vmcoreinfo --vmlinux` writes
        # (__pv_phys_pfn_offset) the regions get no virtual address (p_vaddr 0)
        args = ["--arch", "arm", "--vmcoreinfo", str(workdir / "generated.vmcoreinfo")] \
            if arch == "arm" else []
        proc = minidump_cli("build", "--from-table", str(source), *args, "-o", str(built),
                            "--force", check=False)
        if proc.returncode not in (0, 3) or not built.exists():
            failures.append(f"build {label}: exit {proc.returncode}: "
                            f"{proc.stderr.strip()[-200:]}")
            print(f"  build {label}: FAILED ({proc.stderr.strip()[-200:]})")
            continue
        segs = pt_loads(built)
        wrong = [(hex(s["paddr"]), hex(s["vaddr"]), hex(want_va[s["paddr"]]))
                 for s in segs if s["paddr"] in want_va and s["vaddr"] != want_va[s["paddr"]]]
        got = minidump_cli("dmesg", str(built), check=False).stdout
        print(f"  build {label}: {len(segs)} PT_LOADs, {len(wrong)} with another VA than "
              f"extract's; dmesg {'same' if got == want_log else 'DIFFERENT'}")
        if wrong:
            failures.append(f"build {label}: {len(wrong)} VAs differ, e.g. {wrong[:2]}")
        if got != want_log:
            failures.append(f"build {label}: dmesg differs")
        if crash and harness.crash_command(arch) and label == "md_*.BIN":
            lines = harness.crash_log(rec["vmlinux"], str(built), arch)
            same = lines == log_lines(want_log) or lines == harness.crash_log(
                rec["vmlinux"], str(mini), arch)
            print(f"  crash --minimal log on the built vmcore: {len(lines)} lines"
                  f"{'' if same else ' DIFFERENT'}")
            if not same:
                failures.append(f"crash log on the {label} build differs")
    return failures
