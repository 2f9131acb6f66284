#!/usr/bin/env python3
"""Real arm64 kernel checks for minidump's address handling.

Boots Debian's ``-cloud-arm64`` kernel under ``qemu-system-aarch64 -M virt``
(TCG), dumps guest memory over QMP, and checks that

1. ``minidump extract --regions v3-default`` of the full dump gives a
   minidump from which drgn and ``minidump dmesg`` read what they read from
   the full dump;
2. the same regions handed over the way Qualcomm firmware would (``md_K*.BIN``
   blobs plus a raw Sahara memory-debug table, with *no* kernel ELF header
   blob) go through ``minidump build --from-table`` and come out at the same
   virtual addresses (arm64 ``kimage_voffset`` / ``PHYS_OFFSET`` / ``VA_BITS``
   derivation from VMCOREINFO), readable by drgn and ``minidump dmesg``;
3. KERNELOFFSET with and without ``nokaslr``.

Sub-commands::

    arm64.py fetch                 download + extract the arm64 kernel, debug vmlinux, busybox
    arm64.py capture [--kaslr]     boot and dump -> <cache>/cloud-arm64[-kaslr].vmcore
    arm64.py capture --panic-nokaslr | --panic-kaslr   sysrq-c crash, dumped in panic()
    arm64.py check [NAME]          checks 1-3 on a capture (default cloud-arm64)
    arm64.py paths                 JSON of the fetched kernel and captures

The cache is ``$MINIDUMP_REALKERNEL_CACHE/arm64`` or
``~/.cache/minidump-realkernel/arm64``.  Standard library only (drgn,
pyelftools and the ``minidump`` package are imported by ``check``, which runs
in the project's test environment).
"""

from __future__ import annotations

import argparse
import gzip
import json
import lzma
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402  (tools/realkernel/harness.py, reused unchanged)
from harness import (HarnessError, log, read_json, run, vmcoreinfo_from_elf,  # noqa: E402
                     write_json)

FLAVOUR = "cloud-arm64"
ARCH = "arm64"
META_DBG_PACKAGE = f"linux-image-{FLAVOUR}-dbg:{ARCH}"
HOST_PACKAGES = {"qemu-system-aarch64": "qemu-system-arm"}
FW_CFG_MODULE = harness.FW_CFG_MODULE
QEMU_MEMORY = "512M"
QEMU_SMP = "2"
QEMU_CPU = "cortex-a57"
BOOT_TIMEOUT = 600.0
VARIANTS = {"nokaslr": "nokaslr", "kaslr": ""}
#: sysrq-c crashes, dumped while the kernel sits in panic() (harness.PANIC_ARGS: panic=0)
PANIC_VARIANTS = {"panic-nokaslr": "nokaslr", "panic-kaslr": ""}
REPO = Path(__file__).resolve().parents[2]


def cache_dir() -> Path:
    """``$MINIDUMP_REALKERNEL_CACHE/arm64`` or ``~/.cache/minidump-realkernel/arm64``."""
    env = os.environ.get("MINIDUMP_REALKERNEL_CACHE")
    base = Path(env) if env else Path.home() / ".cache" / "minidump-realkernel"
    path = base / "arm64"
    path.mkdir(parents=True, exist_ok=True)
    return path


def capture_name(variant: str) -> str:
    """``cloud-arm64`` for the nokaslr boot (the default), ``cloud-arm64-kaslr`` otherwise."""
    return FLAVOUR if variant == "nokaslr" else f"{FLAVOUR}-{variant}"


# --------------------------------------------------------------------------
# fetch


def _apt_candidate(pkg: str) -> str | None:
    proc = subprocess.run(["apt-cache", "policy", pkg], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True)
    match = re.search(r"Candidate:\s*(\S+)", proc.stdout)
    return match.group(1) if match and match.group(1) != "(none)" else None


def ensure_arm64_apt() -> None:
    """``dpkg --add-architecture arm64`` and ``apt-get update`` when apt lacks the kernel."""
    if _apt_candidate(META_DBG_PACKAGE):
        return
    foreign = run(["dpkg", "--print-foreign-architectures"]).stdout.split()
    if ARCH not in foreign:
        log(f"dpkg --add-architecture {ARCH}")
        run(["dpkg", "--add-architecture", ARCH])
    log("apt-get update")
    run(["apt-get", "update"])
    if not _apt_candidate(META_DBG_PACKAGE):
        raise HarnessError(f"apt has no candidate for {META_DBG_PACKAGE}")


def ensure_host_packages() -> list[str]:
    """apt-get install qemu-system-arm when qemu-system-aarch64 is missing."""
    missing = sorted({pkg for prog, pkg in HOST_PACKAGES.items() if not shutil.which(prog)})
    if missing:
        log(f"apt-get install {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        try:
            run(["apt-get", "install", "-y", "--no-install-recommends", *missing], env=env)
        except HarnessError:
            run(["apt-get", "update"])
            run(["apt-get", "install", "-y", "--no-install-recommends", *missing], env=env)
    return missing


def resolve_kernel(abi: str | None) -> tuple[str, str]:
    """(release, version) of the kernel ``linux-image-cloud-arm64-dbg`` points at."""
    if abi:
        release = abi if abi.endswith(FLAVOUR) else f"{abi}-{FLAVOUR}"
    else:
        proc = run(["apt-cache", "show", "--no-all-versions", META_DBG_PACKAGE])
        match = re.search(r"^Depends:.*?linux-image-(\S+)-dbg", proc.stdout, re.M)
        if not match:
            raise HarnessError(f"cannot parse Depends of {META_DBG_PACKAGE}")
        release = match.group(1)
    version = _apt_candidate(f"linux-image-{release}-dbg:{ARCH}")
    if not version:
        raise HarnessError(f"linux-image-{release}-dbg:{ARCH} not available")
    return release, version


def download(pkg: str, version: str, dest: Path) -> dict:
    """apt-get download ``pkg:arm64=version``; size/time record."""
    start = time.monotonic()
    run(["apt-get", "download", f"{pkg}:{ARCH}={version}"], cwd=dest)
    seconds = time.monotonic() - start
    debs = list(dest.glob(f"{pkg}_*_{ARCH}.deb"))
    if len(debs) != 1:
        raise HarnessError(f"apt-get download {pkg}:{ARCH} produced no single .deb")
    return {"package": f"{pkg}:{ARCH}", "version": version, "deb": str(debs[0]),
            "deb_bytes": debs[0].stat().st_size, "download_seconds": round(seconds, 2)}


def raw_image(vmlinuz: bytes) -> tuple[bytes, str]:
    """The raw arm64 ``Image`` inside a Debian ``vmlinuz``; (bytes, how it was packed).

    Handles a plain Image (``ARMd`` magic at 0x38), a gzip'd Image, and an EFI
    zboot image (``MZ`` + ``zimg`` at 4; payload offset/size at 8/12, the
    compression name at 24; gzip and xz/lzma are decompressed here).
    """
    if vmlinuz[0x38:0x3C] == b"ARM\x64":
        return vmlinuz, "raw Image"
    if vmlinuz[:2] == b"\x1f\x8b":
        return gzip.decompress(vmlinuz), "gzip"
    if vmlinuz[:2] == b"MZ" and vmlinuz[4:8] == b"zimg":
        offset, size = struct.unpack_from("<II", vmlinuz, 8)
        comp = vmlinuz[24:32].split(b"\0", 1)[0].decode()
        payload = vmlinuz[offset:offset + size]
        if comp == "gzip":
            data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload)
        elif comp in ("xzkern", "lzma", "xz"):
            data = lzma.decompress(payload)
        else:
            raise HarnessError(f"EFI zboot image compressed with {comp!r}: not supported "
                               "by the standard library")
        return data, f"EFI zboot ({comp})"
    raise HarnessError("vmlinuz is neither an arm64 Image, gzip nor EFI zboot")


def cmd_fetch(args: argparse.Namespace) -> dict:
    """Download and extract the arm64 kernel, debug info, fw_cfg module and busybox."""
    cache = cache_dir()
    installed = ensure_host_packages()
    ensure_arm64_apt()
    release, version = resolve_kernel(args.abi)
    fetch_json = cache / "fetch.json"
    if fetch_json.exists() and not args.force:
        info = json.loads(fetch_json.read_text())
        if info.get("kernel_release") == release and all(
                Path(p).exists() for p in info["files"].values()):
            log(f"{release} already fetched (use --force to redo)")
            return info
    kdir = cache / release
    kdir.mkdir(parents=True, exist_ok=True)
    files = {
        "vmlinuz": kdir / f"vmlinuz-{release}",
        "image": kdir / f"Image-{release}",
        "config": kdir / f"config-{release}",
        "fw_cfg_module": kdir / "qemu_fw_cfg.ko",
        "vmlinux": kdir / f"vmlinux-{release}",
        "system_map": kdir / f"System.map-{release}",
        "busybox": cache / "busybox-arm64",
    }
    rel = re.escape(release)
    wanted = [
        (f"linux-image-{release}-unsigned", version, {
            rf"boot/vmlinuz-{rel}": files["vmlinuz"],
            rf"boot/config-{rel}": files["config"],
            rf"lib/modules/{rel}/{re.escape(FW_CFG_MODULE)}": files["fw_cfg_module"],
        }),
        (f"linux-image-{release}-dbg", version, {
            rf"usr/lib/debug/(boot/vmlinux-{rel}|lib/modules/{rel}/vmlinux)": files["vmlinux"],
            rf"usr/lib/debug/boot/System\.map-{rel}": files["system_map"],
        }),
    ]
    bb_version = _apt_candidate(f"busybox-static:{ARCH}")
    if not bb_version:
        raise HarnessError(f"busybox-static:{ARCH} not available")
    wanted.append(("busybox-static", bb_version, {r"bin/busybox": files["busybox"]}))
    packages = []
    with tempfile.TemporaryDirectory(dir=cache, prefix="debs-") as tmp:
        for pkg, ver, members in wanted:
            log(f"apt-get download {pkg}:{ARCH}={ver}")
            record = download(pkg, ver, Path(tmp))
            start = time.monotonic()
            found = harness.extract_members(Path(record["deb"]), members)
            record["extract_seconds"] = round(time.monotonic() - start, 2)
            missing = [pat for pat in members if pat not in found]
            if missing:
                raise HarnessError(f"{pkg}: no member matching {missing[0]}")
            record["deb"] = Path(record["deb"]).name
            packages.append(record)
            log(f"  {record['deb_bytes']} bytes in {record['download_seconds']}s, "
                f"extracted in {record['extract_seconds']}s")
    files["busybox"].chmod(0o755)
    image, packing = raw_image(files["vmlinuz"].read_bytes())
    if packing == "raw Image":
        files["image"].unlink(missing_ok=True)
        files["image"] = files["vmlinuz"]  # Debian 6.1 ships the raw Image: no copy
    else:
        files["image"].write_bytes(image)
    log(f"vmlinuz is {packing}; raw Image {len(image)} bytes")
    config = files["config"].read_text(errors="replace")
    info = {
        "flavour": FLAVOUR,
        "kernel_release": release,
        "package_version": version,
        "busybox_version": bb_version,
        "packages": packages,
        "download_bytes": sum(p["deb_bytes"] for p in packages),
        "vmlinuz_packing": packing,
        "image_bytes": len(image),
        "config": {key: (re.search(rf"^{key}=(\S+)", config, re.M) or [None, None])[1]
                   for key in ("CONFIG_ARM64_VA_BITS", "CONFIG_ARM64_PA_BITS",
                               "CONFIG_RANDOMIZE_BASE", "CONFIG_FW_CFG_SYSFS",
                               "CONFIG_SERIAL_AMBA_PL011", "CONFIG_ARM64_4K_PAGES",
                               "CONFIG_EFI_ZBOOT")},
        "files": {key: str(path) for key, path in files.items()},
        "kernel_dir_bytes": harness.dir_size(kdir),
        "host_packages_installed": installed,
        "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_json(fetch_json, info)
    log(f"wrote {fetch_json}")
    return info



# --------------------------------------------------------------------------
# capture


def qemu_command(image: Path, initrd: Path, cmdline: str, qmp: Path, console: Path) -> list[str]:
    """The qemu-system-aarch64 command line (console on the PL011, written to a file)."""
    return [
        "qemu-system-aarch64", "-M", "virt", "-cpu", QEMU_CPU, "-accel", "tcg",
        "-m", QEMU_MEMORY, "-smp", QEMU_SMP,
        "-display", "none", "-monitor", "none", "-no-reboot",
        "-kernel", str(image), "-initrd", str(initrd), "-append", cmdline,
        "-device", "vmcoreinfo",
        "-qmp", f"unix:{qmp},server=on,wait=off",
        "-serial", f"file:{console}",
    ]


def build_initramfs(dest: Path, fw_cfg_module: Path, busybox: Path, crash: str = "") -> None:
    """harness.build_initramfs with the arm64 static busybox instead of the host's."""
    saved = harness.BUSYBOX
    harness.BUSYBOX = str(busybox)
    try:
        harness.build_initramfs(dest, fw_cfg_module, crash)
    finally:
        harness.BUSYBOX = saved


def cmd_capture(args: argparse.Namespace) -> dict:
    """Boot the arm64 kernel under qemu-system-aarch64 and dump its memory."""
    cache = cache_dir()
    ensure_host_packages()
    info = read_json(cache / "fetch.json")
    files = {k: Path(v) for k, v in info["files"].items()}
    variant = args.variant
    name = capture_name(variant)
    vmcore = cache / f"{name}.vmcore"
    console = cache / f"{name}.console.log"
    panic = variant in PANIC_VARIANTS
    initrd = cache / (f"initramfs-{info['kernel_release']}" + ("-panic" if panic else "")
                      + ".cpio.gz")
    build_initramfs(initrd, files["fw_cfg_module"], files["busybox"],
                    harness.CRASH_COMMAND if panic else "")
    extra = PANIC_VARIANTS[variant] if panic else VARIANTS[variant]
    cmdline = " ".join(filter(None, ["console=ttyAMA0",
                                     harness.PANIC_ARGS if panic else "panic=-1", extra]))
    for stale in (vmcore, console):
        stale.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="mda64-") as tmp:
        sock = Path(tmp) / "qmp.sock"
        cmd = qemu_command(files["image"], initrd, cmdline, sock, console)
        log(f"booting {name}: {' '.join(cmd)}")
        start = time.monotonic()
        qemu = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            result = harness._drive_guest(qemu, sock, console, vmcore, start, args.timeout,
                                          harness.PANIC_MARKER if panic else
                                          harness.READY_MARKER)
        finally:
            if qemu.poll() is None:
                qemu.terminate()
                try:
                    qemu.wait(10)
                except subprocess.TimeoutExpired:
                    qemu.kill()
                    qemu.wait()
    vmcore.chmod(0o644)
    vmcoreinfo = vmcoreinfo_from_elf(vmcore)
    qemu_version = run(["qemu-system-aarch64", "--version"]).stdout.splitlines()[0]
    record = {
        "name": name,
        "variant": variant,
        "panic": panic,
        "kernel_release": info["kernel_release"],
        "package_version": info["package_version"],
        "vmlinux": str(files["vmlinux"]),
        "system_map": str(files["system_map"]),
        "image": str(files["image"]),
        "vmcore": str(vmcore),
        "vmcore_bytes": vmcore.stat().st_size,
        "console_log": str(console),
        "cmdline": cmdline,
        "qemu_command": cmd,
        "qemu_version": qemu_version,
        "boot_seconds": result["boot_seconds"],
        "dump_seconds": result["dump_seconds"],
        "vmcoreinfo_present": bool(vmcoreinfo),
        "kerneloffset": vmcoreinfo.get("KERNELOFFSET"),
        "osrelease": vmcoreinfo.get("OSRELEASE"),
        "kimage_voffset": vmcoreinfo.get("NUMBER(kimage_voffset)"),
        "phys_offset": vmcoreinfo.get("NUMBER(PHYS_OFFSET)"),
        "va_bits": vmcoreinfo.get("NUMBER(VA_BITS)"),
        "tcr_el1_t1sz": vmcoreinfo.get("NUMBER(TCR_EL1_T1SZ)"),
        "kmsg_lines": list(harness.KMSG_LINES),
        "captured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if not vmcoreinfo:
        log("WARNING: the vmcore has no VMCOREINFO note; check will fall back to "
            "`minidump vmcoreinfo --vmlinux VMLINUX CAPTURE`")
    write_json(cache / f"{name}.json", record)
    log(f"{name}: boot {record['boot_seconds']}s, dump {record['dump_seconds']}s, "
        f"{record['vmcore_bytes']} bytes, VMCOREINFO {'present' if vmcoreinfo else 'ABSENT'}, "
        f"KERNELOFFSET={record['kerneloffset']}")
    return record


def available_captures() -> dict:
    """The fetched kernel and the captures whose vmcore exists."""
    cache = cache_dir()
    result: dict = {"cache": str(cache), "kernel": None, "captures": {}}
    if (cache / "fetch.json").exists():
        result["kernel"] = json.loads((cache / "fetch.json").read_text())
    result["captures"] = _records(cache, VARIANTS)
    result["panics"] = _records(cache, PANIC_VARIANTS)
    return result


def _records(cache: Path, variants) -> dict:
    """The capture records of ``variants`` whose vmcore and vmlinux are still there."""
    found = {}
    for variant in variants:
        meta = cache / f"{capture_name(variant)}.json"
        if meta.exists():
            record = json.loads(meta.read_text())
            if Path(record["vmcore"]).exists() and Path(record["vmlinux"]).exists():
                found[record["name"]] = record
    return found



# --------------------------------------------------------------------------
# check (needs drgn, pyelftools and the minidump package: the test environment)


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


def pt_loads(path: Path) -> list[dict]:
    """PT_LOADs of an ELF core: paddr, vaddr, filesz and the bytes (pyelftools)."""
    from elftools.elf.elffile import ELFFile
    out = []
    with open(path, "rb") as f:
        for seg in ELFFile(f).iter_segments():
            if seg["p_type"] == "PT_LOAD":
                out.append({"paddr": seg["p_paddr"], "vaddr": seg["p_vaddr"],
                            "size": seg["p_filesz"], "data": seg.data()})
    return out


def dmesg(vmcore: Path, vmcoreinfo: Path | None = None) -> str:
    """``minidump dmesg VMCORE`` output."""
    extra = ["--vmcoreinfo", str(vmcoreinfo)] if vmcoreinfo else []
    return minidump_cli("dmesg", *extra, str(vmcore)).stdout


def makedumpfile_dmesg(vmcore: Path, out: Path) -> tuple[str | None, str]:
    """makedumpfile --dump-dmesg (a host-arch build: expected to fail on arm64)."""
    mdf = shutil.which("makedumpfile")
    if not mdf:
        return None, "makedumpfile not installed"
    out.unlink(missing_ok=True)
    proc = subprocess.run([mdf, "--dump-dmesg", str(vmcore), str(out)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600)
    if proc.returncode == 0 and out.exists():
        return out.read_text(errors="replace"), "ok"
    lines = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]
    return None, f"rc={proc.returncode}: {' | '.join(lines[:3])}"


def _compare(label: str, want, got) -> bool:
    same = want == got
    if isinstance(got, str) and got.count("\n") > 1:
        shown = f"{len(got.splitlines())} lines"
    elif isinstance(got, str) and len(got) > 72:
        shown = f"{got[:72]!r}..."
    else:
        shown = repr(got)
    tail = "" if same else f" != full {want!r}"[:300]
    print(f"  {'OK  ' if same else 'FAIL'} {label}: {shown}{tail}")
    return same


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


def check_capture(rec: dict, workdir: Path) -> dict:
    """Checks 1 and 2 on one capture; returns a result record (failures listed)."""
    import drgn  # noqa: F401  (fail early with ImportError)
    del drgn
    full, vmlinux = Path(rec["vmcore"]), Path(rec["vmlinux"])
    workdir.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    vmcoreinfo_file = None
    note = vmcoreinfo_from_elf(full)
    print(f"== {rec['name']}: {full.name} ({rec['vmcore_bytes']} bytes), "
          f"cmdline '{rec['cmdline']}'")
    if not note:
        print("  VMCOREINFO note ABSENT from the full dump: generating it with "
              "`minidump vmcoreinfo --vmlinux`")
        vmcoreinfo_file = workdir / "generated.vmcoreinfo"
        minidump_cli("vmcoreinfo", "--vmlinux", str(vmlinux), str(full), "-o",
                     str(vmcoreinfo_file), "--force")
        note = dict(line.split("=", 1) for line in vmcoreinfo_file.read_text().splitlines()
                    if "=" in line)
    keys = ("OSRELEASE", "KERNELOFFSET", "NUMBER(kimage_voffset)", "NUMBER(PHYS_OFFSET)",
            "NUMBER(VA_BITS)", "NUMBER(TCR_EL1_T1SZ)", "PAGESIZE")
    print("  VMCOREINFO: " + ", ".join(f"{k}={note.get(k)}" for k in keys))

    start = time.monotonic()
    prog = open_drgn(full, vmlinux)
    want = drgn_facts(prog)
    print(f"  full dump (drgn, {time.monotonic() - start:.1f}s): "
          f"release={want['init_uts_ns.name.release']} "
          f"jiffies_64={want['jiffies_64']}")
    want_dmesg = dmesg(full, vmcoreinfo_file)
    # vmcoreinfo_data: a linear-map page; its PA from drgn's page-table walk
    from drgn.helpers.linux.mm import follow_phys
    vi_va = int(prog["vmcoreinfo_data"].value_())
    vi_size = int(prog["vmcoreinfo_size"].value_())
    vi_pa = int(follow_phys(prog["init_mm"].address_of_(), vi_va))
    vi_bytes = prog.read(vi_va, vi_size)
    if prog.read(vi_pa, vi_size, True) != vi_bytes:
        failures.append("vmcoreinfo_data: virtual and physical reads differ")
    text = vi_bytes
    note_text = "".join(f"{k}={v}\n" for k, v in note.items()).encode()
    if vmcoreinfo_file is None and text.rstrip(b"\0") != note_text:
        print("  note: VMCOREINFO in memory differs from the note's text; using memory")
    print(f"  vmcoreinfo_data: VA {vi_va:#x} -> PA {vi_pa:#x} (page tables), {vi_size} bytes")
    del prog

    # ---- check 1: minidump extract
    print("-- check 1: minidump extract --regions v3-default")
    mini = workdir / "mini.vmcore"
    start = time.monotonic()
    report = json.loads(minidump_cli("extract", "--vmlinux", str(vmlinux), str(full),
                                     "--regions", "v3-default", "-o", str(mini), "--force",
                                     "--json").stdout)
    print(f"  extract: {time.monotonic() - start:.2f}s, {mini.stat().st_size} bytes, "
          f"{len(report['regions'])} regions")
    got = drgn_facts(open_drgn(mini, vmlinux))
    for key in want:
        failures += [] if _compare(f"drgn mini {key}", want[key], got[key]) else [f"mini {key}"]
    got_dmesg = dmesg(mini, vmcoreinfo_file)
    if not _compare("minidump dmesg mini == full", want_dmesg, got_dmesg):
        failures.append("mini dmesg")
    if harness.KMSG_LINES[0] not in got_dmesg:
        failures.append("mini dmesg lacks the userspace kmsg line")
    for label, core in (("full", full), ("mini", mini)):
        text_mdf, status = makedumpfile_dmesg(core, workdir / f"makedumpfile-{label}.txt")
        print(f"  makedumpfile --dump-dmesg {label}: {status}")
        if text_mdf is not None and label == "mini":
            same = [ln for ln in text_mdf.splitlines() if ln.startswith("[")] == \
                [ln for ln in got_dmesg.splitlines() if ln.startswith("[")]
            print(f"    makedumpfile log {'==' if same else '!='} minidump dmesg")

    # ---- check 2: firmware-style md_*.BIN + Sahara table, no KELF header
    print("-- check 2: md_K*.BIN + sahara_table.bin (no ELF header blob) -> minidump build")
    loads = {seg["paddr"]: seg for seg in pt_loads(mini)}
    regions = []
    for reg in report["regions"]:
        if reg["status"] != "written":
            continue
        seg = loads[reg["paddr"]]
        if seg["size"] != reg["size"] or seg["vaddr"] != reg["vaddr"]:
            failures.append(f"extract report and PT_LOAD disagree for {reg['name']}")
        regions.append({"name": reg["name"], "paddr": seg["paddr"], "vaddr": seg["vaddr"],
                        "data": seg["data"]})
    md = workdir / "md"
    rows = write_md_dir(md, text, vi_pa, regions)
    print(f"  wrote {len(rows)} blobs + sahara_table.bin to {md}")
    built = workdir / "built.vmcore"
    proc = minidump_cli("build", "--from-table", str(md), "-o", str(built), "--force",
                        "--json", check=False)
    print(f"  minidump build exit status {proc.returncode}")
    try:
        built_report = json.loads(proc.stdout)
        parsed = {r.get("source"): r.get("id") for r in built_report.get("regions", [])}
        wrong = [(row["filename"], row["id"], parsed.get(row["filename"])) for row in rows
                 if row["filename"] in parsed and parsed[row["filename"]] != row["id"]]
        for filename, ident, got_id in wrong:
            print(f"  note: build read {filename} as ID {got_id}, not {ident}")
    except (ValueError, AttributeError):
        pass
    if proc.returncode != 0:
        failures.append(f"build exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
        return {"name": rec["name"], "failures": failures, "mismatches": []}
    expected = {row["paddr"]: (row["name"], vi_va if row["id"] == 2 else None) for row in rows}
    for reg in regions:
        expected[reg["paddr"]] = (expected[reg["paddr"]][0], reg["vaddr"])
    mismatches = []
    built_loads = pt_loads(built)
    seen = set()
    for seg in built_loads:
        name, want_va = expected.get(seg["paddr"], ("?", None))
        seen.add(seg["paddr"])
        if want_va != seg["vaddr"]:
            mismatches.append((name, seg["paddr"], want_va, seg["vaddr"]))
    for pa, (name, _) in expected.items():
        if pa not in seen:
            mismatches.append((name, pa, expected[pa][1], None))
    print(f"  PT_LOAD p_vaddr: {len(built_loads) - len(mismatches)}/{len(expected)} equal "
          "the runtime VA (mini.vmcore / drgn)")
    if mismatches:
        print(f"  {'region':14s} {'paddr':>12s} {'runtime VA':>20s} {'built p_vaddr':>20s} "
              f"{'diff':>20s}")
        for name, pa, want_va, got_va in mismatches:
            diff = "-" if not want_va or not got_va else f"{(got_va - want_va) & (2**64 - 1):#x}"
            shown = f"{got_va:#x}" if got_va else ("0 (no VA)" if got_va == 0 else "absent")
            print(f"  {name:14s} {pa:#12x} {want_va or 0:#20x} {shown:>20s} {diff:>20s}")
        failures.append(f"{len(mismatches)} p_vaddr mismatches")
        print("  VMCOREINFO involved: " + ", ".join(f"{k}={note.get(k)}" for k in keys[1:6]))
    got = drgn_facts(open_drgn(built, vmlinux))
    for key in want:
        failures += [] if _compare(f"drgn built {key}", want[key], got[key]) else [f"built {key}"]
    if not _compare("minidump dmesg built == full", want_dmesg, dmesg(built)):
        failures.append("built dmesg")
    return {"name": rec["name"], "failures": failures,
            "mismatches": [list(m) for m in mismatches],
            "vmcoreinfo": {k: note.get(k) for k in keys}}


def cmd_check(args: argparse.Namespace) -> int:
    """Checks 1-3 on the captures (all by default); exit 1 if anything failed."""
    captures = available_captures()["captures"]
    names = [capture_name(n) if n in VARIANTS else n for n in args.names] or sorted(captures)
    missing = [n for n in names if n not in captures]
    if missing or not names:
        raise HarnessError(f"no capture {missing or ''} (have {sorted(captures)}): "
                           "run `arm64.py capture [--kaslr]`")
    results = []
    for name in names:
        results.append(check_capture(captures[name], cache_dir() / f"check-{name}"))
    print("-- check 3: KERNELOFFSET")
    for name in names:
        rec = captures[name]
        print(f"  {name:20s} cmdline '{rec['cmdline']}': KERNELOFFSET={rec['kerneloffset']} "
              f"kimage_voffset={rec.get('kimage_voffset')} PHYS_OFFSET={rec.get('phys_offset')}")
    failed = [r for r in results if r["failures"]]
    for r in results:
        print(f"{r['name']}: {'FAIL: ' + '; '.join(r['failures']) if r['failures'] else 'pass'}")
    return 1 if failed else 0


def cmd_paths(args: argparse.Namespace) -> None:
    """Print the JSON of the fetched kernel and the available captures."""
    print(json.dumps(available_captures(), indent=2, sort_keys=True))


def build_parser() -> argparse.ArgumentParser:
    """The argparse command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("fetch", help="download and extract the arm64 kernel + busybox")
    p.add_argument("--abi", help="kernel ABI, e.g. 6.1.0-56 (default: the one "
                   f"{META_DBG_PACKAGE} depends on)")
    p.add_argument("--force", action="store_true", help="download again")
    p.set_defaults(func=cmd_fetch)
    p = sub.add_parser("capture", help="boot under qemu-system-aarch64 and dump a vmcore")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--kaslr", dest="variant", action="store_const", const="kaslr")
    group.add_argument("--nokaslr", dest="variant", action="store_const", const="nokaslr")
    group.add_argument("--panic-nokaslr", dest="variant", action="store_const",
                       const="panic-nokaslr", help="crash the guest (sysrq-c), dump it in panic()")
    group.add_argument("--panic-kaslr", dest="variant", action="store_const",
                       const="panic-kaslr")
    p.add_argument("--timeout", type=float, default=BOOT_TIMEOUT,
                   help="seconds to wait for the guest to boot")
    p.set_defaults(variant="nokaslr", func=cmd_capture)
    p = sub.add_parser("check", help="checks 1-3 (extract, md_*.BIN build, KERNELOFFSET)")
    p.add_argument("names", nargs="*", help="captures (cloud-arm64, cloud-arm64-kaslr, or "
                   "nokaslr/kaslr); default all")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("paths", help="print JSON of the fetched kernel and captures")
    p.set_defaults(func=cmd_paths)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: one-line error and exit status 1 on failure."""
    args = build_parser().parse_args(argv)
    try:
        rc = args.func(args)
    except HarnessError as exc:
        print(f"arm64: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("arm64: interrupted", file=sys.stderr)
        return 130
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
