#!/usr/bin/env python3
"""Real meminspect kernels: build the v3 series, boot it, dump it, and hand its regions over
the way the device's firmware and QDL do.

The meminspect v3 series ("[PATCH v3 00/26] Introduce meminspect", July 2026) is not
merged; ``shared/kernel/meminspect-v3/`` holds it laid onto Debian's ``linux-source-7.2``
with the fixes a real x86_64 build needs, and tinyconfig-based configs.  This tool:

``fetch``
    downloads ``linux-source-7.2`` through a private apt configuration for sid (the host's
    packages are never upgraded), extracts it and applies the series' patches in order;
``build VARIANT``
    builds one kernel (``x86_64``; ``arm64-va52`` = the shared config; ``arm64-va39`` = the
    Android GKI layout; ``arm64-16k`` = 16K pages, 47-bit VA).  About 11 minutes a kernel on
    2 cores; builds are cached by the hash of the patches and the resulting .config;
``capture VARIANT [--cpu CPU]``
    boots it under QEMU TCG with a busybox initramfs, panics it with sysrq-c and takes a full
    dump with ``dump-guest-memory``; the runtime table ``inspect_entries[]`` is located by
    asking QEMU to translate its address by the guest's own page tables (``gva2gpa``), so the
    harness reads the kernel's table without any of minidump's code; then writes, beside the
    dump:

    * ``<name>.table.json`` -- the kernel's own runtime table (id, enum name, va, pa, size);
    * ``<name>-minidump.elf`` -- what QDL assembles from the device: the kernel's meminspect
      ELF header (ID 1), the VMCOREINFO region (ID 2), then every PT_LOAD of that header
      read at its ``p_paddr`` for ``p_filesz`` bytes, at its ``p_offset``;
    * ``<name>-md/md_K<name><id>.BIN`` -- the Qualcomm backend's regions, one file each,
      named as its v3 name table names them (``K`` + 8 characters, ``Kunknown`` past 29);
    * on arm64, the ``google,debug-kinfo`` block's reserved memory is in the device tree
      (``-dtb`` with a ``reserved-memory`` node added), so the kinfo driver fills it;
``paths``
    prints JSON describing the builds and captures;
``samples``
    bundles each capture's ``minidump.elf``, runtime table, console log and build facts
    under ``tests/data/meminspect-v3/<name>/`` for the CI tests (``md_files`` rebuilds the
    backend's md_*.BIN files from them).

Everything lands under ``$MINIDUMP_REALKERNEL_CACHE`` (default
``~/.cache/minidump-realkernel``) ``/meminspect``.  Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import HarnessError, log, run  # noqa: E402

REPO = harness.REPO
PATCH_DIR = Path(os.environ.get("MINIDUMP_MEMINSPECT_PATCHES",
                                REPO.parent / "shared" / "kernel" / "meminspect-v3"))
SOURCE_PACKAGE = "linux-source-7.2"
SUITE = "sid"
#: the v3 Qualcomm backend's name table (index = meminspect id; patch 23/26)
QCOM_V3_NAMES = ("", "ELF", "vmcoreinfo", "config", "totalram", "cpu_possible", "cpu_present",
                 "cpu_online", "cpu_active", "mem_section", "jiffies", "linux_banner",
                 "nr_threads", "nr_irqs", "tainted_mask", "taint_flags", "node_states",
                 "__per_cpu_offset", "nr_swapfiles", "init_uts_ns", "printk_rb_static",
                 "printk_rb_dynamic", "prb", "prb_descs", "prb_infos", "prb_data", "clear_seq",
                 "high_memory", "init_mm", "tk_data")
#: where the kinfo block's reserved memory goes on arm64 virt (512 MiB of RAM at 1 GiB)
KINFO_BASE = 0x5FF00000
KINFO_SIZE = 0x1000
MEMORY = "512M"


@dataclass(frozen=True)
class Variant:
    """One kernel build of the series."""

    name: str
    arch: str                 # minidump's arch name
    karch: str                # the kernel's ARCH=
    cross: str                # CROSS_COMPILE=
    config: str               # the file in PATCH_DIR
    options: tuple[str, ...]  # scripts/config arguments on top
    image: str                # boot image, relative to the build dir
    qemu: tuple[str, ...]     # qemu-system binary and machine options
    cpus: tuple[str, ...]     # the -cpu values captured ('' = the machine's default)
    console: str


VARIANTS = {
    "x86_64": Variant("x86_64", "x86_64", "x86", "", "config-x86_64-tiny-meminspect", (),
                      "arch/x86/boot/bzImage", ("qemu-system-x86_64", "-machine", "pc"),
                      ("",), "ttyS0"),
    # the shared config: 52-bit VA, 4K pages.  On a CPU without LPA2 (cortex-a57) the kernel
    # runs with 48 bits and moves PHYS_OFFSET to compensate; -cpu max has LPA2: 52 at runtime
    "arm64-va52": Variant("arm64-va52", "arm64", "arm64", "aarch64-linux-gnu-",
                          "config-arm64-tiny-meminspect", (), "arch/arm64/boot/Image",
                          ("qemu-system-aarch64", "-M", "virt"), ("cortex-a57", "max"),
                          "ttyAMA0"),
    # Android GKI's layout: 39-bit VA, 4K pages, 3 levels
    "arm64-va39": Variant("arm64-va39", "arm64", "arm64", "aarch64-linux-gnu-",
                          "config-arm64-tiny-meminspect",
                          ("-d", "ARM64_VA_BITS_52", "-e", "ARM64_VA_BITS_39",
                           "-d", "ARM64_PA_BITS_52", "-e", "ARM64_PA_BITS_48"),
                          "arch/arm64/boot/Image", ("qemu-system-aarch64", "-M", "virt"),
                          ("cortex-a57",), "ttyAMA0"),
    # with KASLR (the shared configs have none): image, direct map and vmalloc randomized
    "x86_64-kaslr": Variant("x86_64-kaslr", "x86_64", "x86", "", "config-x86_64-tiny-meminspect",
                            ("-e", "RELOCATABLE", "-e", "RANDOMIZE_BASE",
                             "-e", "RANDOMIZE_MEMORY"),
                            "arch/x86/boot/bzImage", ("qemu-system-x86_64", "-machine", "pc"),
                            ("",), "ttyS0"),
    # Debian's arm64 layout (48-bit VA, 4K pages) with KASLR: the seed is QEMU's
    # /chosen/kaslr-seed, kept in the dumped device tree
    "arm64-va48-kaslr": Variant("arm64-va48-kaslr", "arm64", "arm64", "aarch64-linux-gnu-",
                                "config-arm64-tiny-meminspect",
                                ("-d", "ARM64_VA_BITS_52", "-e", "ARM64_VA_BITS_48",
                                 "-d", "ARM64_PA_BITS_52", "-e", "ARM64_PA_BITS_48",
                                 "-e", "RELOCATABLE", "-e", "RANDOMIZE_BASE"),
                                "arch/arm64/boot/Image", ("qemu-system-aarch64", "-M", "virt"),
                                ("cortex-a57",), "ttyAMA0"),
    # 16K pages, 47-bit VA
    "arm64-16k": Variant("arm64-16k", "arm64", "arm64", "aarch64-linux-gnu-",
                         "config-arm64-tiny-meminspect",
                         ("-d", "ARM64_4K_PAGES", "-e", "ARM64_16K_PAGES",
                          "-d", "ARM64_VA_BITS_52", "-e", "ARM64_VA_BITS_47",
                          "-d", "ARM64_PA_BITS_52", "-e", "ARM64_PA_BITS_48"),
                         "arch/arm64/boot/Image", ("qemu-system-aarch64", "-M", "virt"),
                         ("max",), "ttyAMA0"),
}

INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "minidump-harness: hello from userspace" > /dev/kmsg
echo "minidump-harness: uname -r = $(uname -r)"
echo MINIDUMP-HARNESS-READY
echo c > /proc/sysrq-trigger
while true; do sleep 3600; done
"""
PANIC_MARKER = "---[ end Kernel panic"


def root() -> Path:
    """The cache directory of meminspect kernels (created)."""
    path = harness.cache_root() / "meminspect"
    path.mkdir(parents=True, exist_ok=True)
    return path


def source_dir() -> Path:
    return root() / "src" / "linux"


def patches() -> list[Path]:
    found = sorted(PATCH_DIR.glob("0*.patch"))
    if not found:
        raise HarnessError(f"no patches in {PATCH_DIR} (set MINIDUMP_MEMINSPECT_PATCHES)")
    return found


def patch_digest() -> str:
    digest = hashlib.sha256()
    for path in patches():
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------
# fetch


def cmd_fetch(_args=None) -> dict:
    """Download linux-source-7.2 (sid, private apt) and lay the series onto it."""
    harness.ensure_host_packages({"dpkg-deb": "dpkg", "bc": "bc", "flex": "flex",
                                  "bison": "bison", "aarch64-linux-gnu-gcc":
                                  "gcc-aarch64-linux-gnu", "pahole": "dwarves",
                                  "qemu-system-x86_64": "qemu-system-x86",
                                  "qemu-system-aarch64": "qemu-system-arm",
                                  "dtc": "device-tree-compiler", "busybox": "busybox-static"})
    for header, package in (("/usr/include/libelf.h", "libelf-dev"),
                            ("/usr/include/openssl/ssl.h", "libssl-dev")):
        if not Path(header).exists():
            run(["apt-get", "install", "-y", "--no-install-recommends", package],
                env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    stamp = root() / "src" / "fetch.json"
    if stamp.exists() and json.loads(stamp.read_text()).get("patches") == patch_digest() \
            and source_dir().is_dir():
        log(f"source already prepared in {source_dir()}")
        return json.loads(stamp.read_text())
    _private_apt()
    version = harness.apt_candidate(SUITE, SOURCE_PACKAGE)
    if not version:
        raise HarnessError(f"apt ({SUITE}) has no {SOURCE_PACKAGE}")
    src = root() / "src"
    src.mkdir(exist_ok=True)
    for deb in src.glob(f"{SOURCE_PACKAGE}_*.deb"):
        deb.unlink()
    log(f"apt-get download {SOURCE_PACKAGE}={version}")
    run(["apt-get", *harness.apt_options(SUITE), "download", f"{SOURCE_PACKAGE}={version}"],
        cwd=src)
    deb = next(src.glob(f"{SOURCE_PACKAGE}_*.deb"))
    tarball = src / f"{SOURCE_PACKAGE}.tar.xz"
    with open(tarball, "wb") as out:
        dpkg = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-xO", f"./usr/src/{SOURCE_PACKAGE}.tar.xz"], stdin=dpkg.stdout,
                       stdout=out, check=True)
        dpkg.wait()
    shutil.rmtree(source_dir(), ignore_errors=True)
    source_dir().mkdir(parents=True)
    run(["tar", "-xJf", str(tarball), "-C", str(source_dir()), "--strip-components=1"])
    applied = []
    for patch in patches():
        run(["git", "apply", "--check", str(patch)], cwd=source_dir())
        run(["git", "apply", str(patch)], cwd=source_dir())
        applied.append(patch.name)
        log(f"applied {patch.name}")
    record = {"package": SOURCE_PACKAGE, "version": version, "deb_bytes": deb.stat().st_size,
              "patches": patch_digest(), "applied": applied,
              "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    deb.unlink()
    tarball.unlink()
    harness.write_json(stamp, record)
    return record


def _private_apt() -> None:
    """A private apt configuration for sid (lists and cache under the harness cache)."""
    work = harness.cache_root() / f"apt-{SUITE}"
    (work / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (work / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    (work / "sources.list").write_text(
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg arch=amd64] "
        f"http://deb.debian.org/debian {SUITE} main\n")
    if not harness.apt_candidate(SUITE, SOURCE_PACKAGE):
        log(f"apt-get update ({SUITE}, private configuration in {work})")
        run(["apt-get", *harness.apt_options(SUITE), "update", "-q"])


# --------------------------------------------------------------------------
# build


def build_dir(variant: str) -> Path:
    return root() / f"build-{variant}"


def cmd_build(args: argparse.Namespace) -> dict:
    """Build one variant (cached by the patches' and the final .config's hashes)."""
    spec = VARIANTS[args.variant]
    cmd_fetch()
    out = build_dir(spec.name)
    out.mkdir(parents=True, exist_ok=True)
    stamp = out / "build.json"
    shutil.copy(PATCH_DIR / spec.config, out / ".config")
    make = ["make", "-C", str(source_dir()), f"O={out}", f"ARCH={spec.karch}"]
    if spec.cross:
        make.append(f"CROSS_COMPILE={spec.cross}")
    if spec.options:
        run([str(source_dir() / "scripts" / "config"), "--file", str(out / ".config"),
             *spec.options])
    run([*make, "olddefconfig"])
    config_hash = hashlib.sha256((out / ".config").read_bytes()).hexdigest()[:16]
    if stamp.exists():
        old = json.loads(stamp.read_text())
        if old.get("config") == config_hash and old.get("patches") == patch_digest() \
                and (out / spec.image).exists() and (out / "vmlinux").exists():
            log(f"{spec.name} already built ({old['build_seconds']} s)")
            return old
    target = Path(spec.image).name
    log(f"building {spec.name} (about 11 minutes on 2 cores)")
    start = time.monotonic()
    with open(out / "build.log", "w") as logfile:
        proc = subprocess.run([*make, f"-j{os.cpu_count() + 1}", target, "vmlinux"],
                              stdout=logfile, stderr=subprocess.STDOUT)
    if proc.returncode:
        raise HarnessError(f"{spec.name}: build failed, see {out / 'build.log'}")
    config = (out / ".config").read_text()
    record = {"variant": spec.name, "arch": spec.arch, "patches": patch_digest(),
              "config": config_hash, "build_seconds": round(time.monotonic() - start),
              "image": str(out / spec.image), "vmlinux": str(out / "vmlinux"),
              "release": (out / "include/config/kernel.release").read_text().strip(),
              "config_keys": {k: (re.search(rf"^{k}=(\S+)", config, re.M) or [0, None])[1]
                              for k in ("CONFIG_ARM64_VA_BITS", "CONFIG_PAGE_SHIFT",
                                        "CONFIG_PGTABLE_LEVELS", "CONFIG_ARM64_PA_BITS",
                                        "CONFIG_MEMINSPECT_KINFO", "CONFIG_NR_CPUS")},
              "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    harness.write_json(stamp, record)
    log(f"{spec.name} built in {record['build_seconds']} s")
    return record


# --------------------------------------------------------------------------
# vmlinux symbols and the kernel's enum (read from the built tree, not by minidump)


def elf_symbols(path: Path, wanted: set[str]) -> dict[str, tuple[int, int]]:
    """name -> (value, size) of ``wanted`` symbols in a 64-bit little-endian ELF's .symtab."""
    data = path.read_bytes()
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, _ = struct.unpack_from("<HHH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
                for i in range(shnum)]
    out: dict[str, tuple[int, int]] = {}
    for sec in sections:
        if sec[1] != 2:     # SHT_SYMTAB
            continue
        strtab = sections[sec[6]]
        for off in range(sec[4], sec[4] + sec[5], 24):
            name_off, _, _, _, value, size = struct.unpack_from("<IBBHQQ", data, off)
            start = strtab[4] + name_off
            name = data[start:data.index(b"\0", start)].decode()
            if name in wanted and name not in out:
                out[name] = (value, size)
    return out


def enum_names() -> dict[int, str]:
    """id -> name, from ``enum meminspect_uid`` in the patched tree's meminspect.h."""
    text = (source_dir() / "include" / "linux" / "meminspect.h").read_text()
    body = text[text.index("enum meminspect_uid"):]
    body = body[:body.index("};")]
    names: dict[int, str] = {}
    value = -1
    for item in re.findall(r"MEMINSPECT_ID_(\w+)\s*(?:=\s*(\d+))?,", body):
        value = int(item[1]) if item[1] else value + 1
        names[value] = item[0]
    return names


# --------------------------------------------------------------------------
# the full dump, read as plain ELF (physical addresses)


class Dump:
    """QEMU's ELF64 dump: physical reads through its PT_LOADs."""

    def __init__(self, path: Path):
        self.path = path
        self.file = open(path, "rb")
        head = self.file.read(64)
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        self.file.seek(phoff)
        table = self.file.read(phentsize * phnum)
        self.loads = []
        for i in range(phnum):
            p_type, _, off, _, paddr, filesz, _, _ = struct.unpack_from("<IIQQQQQQ", table,
                                                                        i * phentsize)
            if p_type == 1:
                self.loads.append((paddr, filesz, off))

    def read(self, paddr: int, size: int) -> bytes:
        for start, length, off in self.loads:
            if start <= paddr and paddr + size <= start + length:
                self.file.seek(off + paddr - start)
                return self.file.read(size)
        raise HarnessError(f"physical {paddr:#x}+{size:#x} not in {self.path.name}")


# --------------------------------------------------------------------------
# capture


def arm64_dtb(qemu: list[str], work: Path) -> Path:
    """QEMU virt's device tree with a google,debug-kinfo reserved-memory node added."""
    raw = work / "virt.dtb"
    run([*qemu, "-machine", f"dumpdtb={raw}"])
    source = run(["dtc", "-I", "dtb", "-O", "dts", "-q", str(raw)]).stdout
    node = (f"\treserved-memory {{\n\t\t#address-cells = <0x02>;\n\t\t#size-cells = <0x02>;\n"
            f"\t\tranges;\n\t\tdebug-kinfo@{KINFO_BASE:x} {{\n"
            f"\t\t\tcompatible = \"google,debug-kinfo\";\n"
            f"\t\t\treg = <0x00 {KINFO_BASE:#x} 0x00 {KINFO_SIZE:#x}>;\n"
            f"\t\t\tno-map;\n\t\t}};\n\t}};\n")
    source = source.rstrip()
    if not source.endswith("};"):
        raise HarnessError("unexpected dtc output")
    source = source[:-2] + node + "};\n"
    (work / "virt-kinfo.dts").write_text(source)
    out = work / "virt-kinfo.dtb"
    run(["dtc", "-I", "dts", "-O", "dtb", "-q", "-o", str(out), str(work / "virt-kinfo.dts")])
    return out


def capture_name(variant: str, cpu: str) -> str:
    return f"{variant}-{cpu}" if cpu else variant


def cmd_capture(args: argparse.Namespace) -> list[dict]:
    """Boot, panic and dump one variant on each of its CPUs (or the one given)."""
    spec = VARIANTS[args.variant]
    built = cmd_build(args)
    cpus = [args.cpu] if args.cpu is not None else list(spec.cpus)
    return [_capture(spec, built, cpu, args.timeout) for cpu in cpus]


def _busybox(spec: Variant) -> Path:
    if spec.arch == "x86_64":
        return Path("/bin/busybox")
    path = root() / f"busybox-{spec.arch}"
    if not path.exists():
        deb_arch = {"arm64": "arm64"}[spec.arch]
        harness.ensure_apt("host", deb_arch, f"busybox-static:{deb_arch}")
        version = harness.apt_candidate("host", f"busybox-static:{deb_arch}")
        with tempfile.TemporaryDirectory(dir=root()) as tmp:
            record = harness.download("host", "busybox-static", deb_arch, version, Path(tmp))
            harness.extract_members(Path(record["deb"]), {r"(usr/)?bin/busybox": path})
        path.chmod(0o755)
    return path


def _capture(spec: Variant, built: dict, cpu: str, timeout: float) -> dict:
    name = capture_name(spec.name, cpu)
    out = root()
    vmcore = out / f"{name}.vmcore"
    console = out / f"{name}.console.log"
    for stale in (vmcore, console):
        stale.unlink(missing_ok=True)
    initrd = out / f"initramfs-{spec.arch}.cpio.gz"
    _initramfs(initrd, _busybox(spec))
    qemu = list(spec.qemu) + (["-cpu", cpu] if cpu else [])
    cmdline = f"console={spec.console} panic=0 panic_on_oops=1"
    symbols = elf_symbols(Path(built["vmlinux"]), {"inspect_entries"})
    if "inspect_entries" not in symbols:
        raise HarnessError(f"{built['vmlinux']}: no inspect_entries symbol")
    table_va, table_size = symbols["inspect_entries"]
    pointers = elf_symbols(Path(built["vmlinux"]), set(TRUTH_POINTERS))
    with tempfile.TemporaryDirectory(prefix="mdm-") as tmp:
        extra = []
        if spec.arch == "arm64":
            extra = ["-dtb", str(arm64_dtb(qemu + ["-m", MEMORY, "-smp", "2"], Path(tmp)))]
        sock = Path(tmp) / "qmp.sock"
        cmd = [*qemu, "-accel", "tcg", "-m", MEMORY, "-smp", "2", "-nodefaults",
               "-display", "none", "-monitor", "none", "-no-reboot",
               "-kernel", built["image"], "-initrd", str(initrd), "-append", cmdline, *extra,
               "-qmp", f"unix:{sock},server=on,wait=off", "-serial", f"file:{console}"]
        log(f"booting {name}: {' '.join(cmd)}")
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        try:
            result = _drive(proc, sock, console, vmcore, start, timeout, table_va,
                            {name: va for name, (va, _) in pointers.items()})
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    vmcore.chmod(0o644)
    table_pa = result.pop("table_pa")
    record = {"name": name, "variant": spec.name, "arch": spec.arch, "cpu": cpu or "default",
              "release": built["release"], "vmlinux": built["vmlinux"], "image": built["image"],
              "vmcore": str(vmcore), "vmcore_bytes": vmcore.stat().st_size,
              "console_log": str(console), "cmdline": cmdline, "qemu_command": cmd,
              "config_keys": built["config_keys"], **result,
              "inspect_entries": {"va": (table_va + result["kaslr_offset"]) & (2**64 - 1),
                                  "pa": table_pa, "size": table_size},
              "captured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    record.update(assemble(record))
    harness.write_json(out / f"{name}.json", record)
    log(f"{name}: boot {record['boot_seconds']} s; {len(record['table'])} runtime entries; "
        f"minidump.elf {record['minidump_elf_bytes']} bytes")
    return record


def _initramfs(dest: Path, busybox: Path) -> None:
    import gzip
    import io
    import stat
    entries = [("bin", stat.S_IFDIR | 0o755, b"", (0, 0)),
               ("dev", stat.S_IFDIR | 0o755, b"", (0, 0)),
               ("dev/console", stat.S_IFCHR | 0o600, b"", (5, 1)),
               ("proc", stat.S_IFDIR | 0o755, b"", (0, 0)),
               ("sys", stat.S_IFDIR | 0o755, b"", (0, 0)),
               ("bin/busybox", stat.S_IFREG | 0o755, busybox.read_bytes(), (0, 0)),
               ("init", stat.S_IFREG | 0o755, INIT.encode(), (0, 0))]
    buf = io.BytesIO()
    for ino, (name, mode, data, rdev) in enumerate(entries, start=1):
        buf.write(harness._cpio_entry(name, mode, data, ino, rdev))
    buf.write(harness._cpio_entry("TRAILER!!!", 0))
    dest.write_bytes(gzip.compress(buf.getvalue(), 6, mtime=0))


def _gva2gpa(qmp, vaddr: int) -> int | None:
    answer = qmp.execute("human-monitor-command", **{"command-line": f"gva2gpa {vaddr:#x}"})
    match = re.search(r"gpa:\s*(0x[0-9a-f]+)", answer)
    return int(match.group(1), 16) if match else None


def _drive(proc, sock: Path, console: Path, vmcore: Path, start: float, timeout: float,
           table_va: int, pointers: dict[str, int]) -> dict:
    def panicked():
        if proc.poll() is not None:
            raise HarnessError(f"qemu exited with {proc.returncode}: "
                               f"{proc.stdout.read().decode(errors='replace')[-300:]}")
        return console.exists() and PANIC_MARKER.encode() in console.read_bytes()

    harness.wait_for(panicked, timeout, "the panic on the serial console", interval=0.3)
    boot = time.monotonic() - start
    # panic() prints the KASLR offset (dump_kernel_offset): symbols move by it
    match = re.search(rb"Kernel Offset: (0x[0-9a-f]+|disabled)", console.read_bytes())
    offset = int(match.group(1), 16) if match and match.group(1) != b"disabled" else 0
    table_va = (table_va + offset) & (2**64 - 1)
    pointers = {name: (va + offset) & (2**64 - 1) for name, va in pointers.items()}
    time.sleep(1.0)
    qmp = harness.QMP(harness.wait_for(lambda: sock.exists() and sock, 30, "QMP socket"))
    qmp.execute("stop")
    registers = qmp.execute("human-monitor-command", **{"command-line": "info registers"})
    table_pa = _gva2gpa(qmp, table_va)
    if table_pa is None:
        raise HarnessError(f"gva2gpa {table_va:#x}: QEMU could not translate it")
    # where the pointers that lead to the dynamic registrations are, by the guest's tables
    gpa = {name: _gva2gpa(qmp, va) for name, va in pointers.items()}
    qmp.execute("dump-guest-memory", paging=False, protocol=f"file:{vmcore}", detach=True)

    def done():
        status = qmp.execute("query-dump")
        if status.get("status") == "failed":
            raise HarnessError("dump-guest-memory failed")
        return status.get("status") == "completed"

    harness.wait_for(done, 300, "dump-guest-memory", interval=0.1)
    try:
        qmp.execute("quit")
    except HarnessError:
        pass
    qmp.close()
    return {"boot_seconds": round(boot, 1), "registers": registers, "table_pa": table_pa,
            "kaslr_offset": offset,
            "pointers": {name: {"va": pointers[name], "pa": gpa[name]} for name in pointers}}


# --------------------------------------------------------------------------
# the kernel's runtime table, and what firmware / QDL make of it


def read_table(dump: Dump, table_pa: int, names: dict[int, str]) -> list[dict]:
    """The used slots of ``inspect_entries[201]`` (40-byte entries on 64-bit)."""
    raw = dump.read(table_pa, 201 * 40)
    rows = []
    for index in range(201):
        ident, va, pa, size, kind = struct.unpack_from("<I4xQQQI4x", raw, index * 40)
        if not ident:
            continue
        if ident != index:
            raise HarnessError(f"inspect_entries[{index}] holds id {ident}")
        rows.append({"id": ident, "name": names.get(ident, "DYNAMIC" if ident >= 44 else "?"),
                     "va": va, "pa": pa, "size": size, "type": kind})
    return rows


#: symbols whose values lead to the dynamic registrations (kernel/sched/core.c sched_init,
#: mm/sparse.c memblocks_present, mm/numa.c alloc_node_data, kernel/configs.c)
TRUTH_POINTERS = ("__per_cpu_offset", "runqueues", "mem_section", "node_data",
                  "kernel_config_data", "vmcoreinfo_data")
ENTRY_MACRO = re.compile(r"MEMINSPECT_(SIMPLE|NAMED|AREA)_ENTRY\(\s*(\w+)\s*(?:,\s*(\w+))?")


def static_objects() -> dict[str, str]:
    """The v3 enum label -> the object the kernel registers under it, read from the
    ``MEMINSPECT_*_ENTRY()`` lines of the patched tree (SIMPLE: the symbol itself; NAMED:
    its second argument; AREA: its first)."""
    patch = next(p for p in patches() if p.name.startswith("0001"))
    files = re.findall(r"^diff --git a/(\S+)", patch.read_text(), re.M)
    out = {}
    for name in files:
        path = source_dir() / name
        if not path.suffix == ".c" or not path.exists():
            continue
        for kind, first, second in ENTRY_MACRO.findall(path.read_text(errors="replace")):
            out[first] = second if kind == "NAMED" else first
    return out


def truth_objects(record: dict, dump: "Dump", table: list[dict], names: dict[int, str]
                  ) -> dict[int, str]:
    """meminspect id -> what the kernel registered there, by the kernel's own source and the
    guest's own pointers (read with QEMU's translation; none of minidump's code)."""
    statics = static_objects()
    out = {1: "meminspect ELF header", 2: "vmcoreinfo_data", 3: "kernel_config_data - 8"}
    for row in table:
        if 4 <= row["id"] < 44:
            out[row["id"]] = statics.get(names[row["id"]], names[row["id"]])
    ptr = record.get("pointers", {})

    def word_at(name: str, index: int = 0) -> int | None:
        where = ptr.get(name, {}).get("pa")
        return None if where is None else struct.unpack("<Q", dump.read(where + 8 * index, 8))[0]

    wanted: dict[int, str] = {}
    root = word_at("mem_section")
    if root:
        wanted[root] = "mem_section[] root"
    for nid in range(4):
        node = word_at("node_data", nid) if "node_data" in ptr else None
        if node:
            wanted[node] = f"node_data[{nid}]"
    runqueues = ptr.get("runqueues", {}).get("va")
    for cpu in range(8):
        offset = word_at("__per_cpu_offset", cpu) if "__per_cpu_offset" in ptr else None
        if offset and runqueues is not None:
            wanted[(offset + runqueues) & (2**64 - 1)] = f"runqueues[cpu{cpu}]"
    for row in table:
        if row["id"] >= 44 and row["va"] in wanted:
            out[row["id"]] = wanted[row["va"]]
    return out


def assemble(record: dict) -> dict:
    """Write the runtime table, QDL's minidump.elf and the backend's md_*.BIN files."""
    out = root()
    name = record["name"]
    dump = Dump(Path(record["vmcore"]))
    names = enum_names()
    table = read_table(dump, record["inspect_entries"]["pa"], names)
    by_id = {row["id"]: row for row in table}
    if 2 not in by_id:
        raise HarnessError(f"{name}: no VMCOREINFO (ID 2) registered")
    vmci_row = by_id[2]
    vmcoreinfo = dump.read(vmci_row["pa"], vmci_row["size"])
    md, files = _md_dir(out / f"{name}-md", dump, table)
    extra = {}
    if 1 not in by_id:
        # v3 on 16K (or 64K) pages: init_elfheader asks dma_alloc_from_contiguous for
        # buf_sz >> PAGE_SHIFT pages, 0 when the header is smaller than a page, and fails
        # ("meminspect: failed to prepare crashdump ELF header: -12"): no header, so QDL
        # has no minidump.elf to assemble; the addresses are only in the Sahara table
        _sahara_table(md / "sahara_table.bin", table, files)
        extra = {"minidump_elf": None, "minidump_elf_bytes": 0, "phdrs": []}
    else:
        extra = _minidump_elf(out / f"{name}-minidump.elf", dump, by_id[1], vmcoreinfo)
    objects = truth_objects(record, dump, table, names)
    for row in table:
        row["object"] = objects.get(row["id"])
    (out / f"{name}.table.json").write_text(json.dumps(table, indent=1) + "\n")
    kinfo = None
    if record["arch"] == "arm64":
        block = dump.read(KINFO_BASE, 216)
        magic, checksum = struct.unpack_from("<II", block)
        kinfo = {"pa": KINFO_BASE, "magic": magic, "checksum": checksum,
                 "filled": magic == 0xCCEEDDFF}
    return {"table": table, **extra, "md_dir": str(md), "md_files": files,
            "vmcoreinfo_text": vmcoreinfo.decode(errors="replace"), "kinfo": kinfo}


def blob_name(ident: int) -> str:
    """The file the backend's region ``ident`` becomes: ``md_K`` + the first 8 characters of
    its v3 name table entry (``unknown`` past it) + the ID (meminspect.md section 8.4)."""
    label = QCOM_V3_NAMES[ident] if ident < len(QCOM_V3_NAMES) else "unknown"
    return f"md_K{label[:8]}{ident}.BIN"


def _md_dir(md: Path, dump: "Dump", table: list[dict]) -> tuple[Path, list[str]]:
    """The backend's md_*.BIN files: every region it adds, in traversal order."""
    shutil.rmtree(md, ignore_errors=True)
    md.mkdir()
    files = []
    for row in table:       # traversal order: ascending id (the backend's probe)
        if not row["size"] or not (row["va"] or row["pa"]):
            continue
        blob = blob_name(row["id"])
        (md / blob).write_bytes(dump.read(row["pa"], (row["size"] + 3) & ~3))
        files.append(blob)
    return md, files


def _sahara_table(path: Path, table: list[dict], files: list[str]) -> None:
    """The Sahara 64-bit memory-debug table (qdl's sahara_debug_region64: type, addr, length,
    region[20], filename[20]) the firmware sends for those files."""
    by_name = {blob_name(r["id"]): r for r in table}
    out = b""
    for name in files:
        row = by_name[name]
        out += struct.pack("<QQQ20s20s", 0, row["pa"], (row["size"] + 3) & ~3,
                           name[:-4].encode()[:20], name.encode()[:20])
    path.write_bytes(out)


def _minidump_elf(path: Path, dump: "Dump", elf_row: dict, vmcoreinfo: bytes) -> dict:
    """What QDL assembles: the kernel's ELF header, VMCOREINFO, then each PT_LOAD's bytes."""
    header = dump.read(elf_row["pa"], elf_row["size"])
    phoff, = struct.unpack_from("<Q", header, 32)
    phnum, = struct.unpack_from("<H", header, 56)
    phdrs = [struct.unpack_from("<IIQQQQQQ", header, phoff + 56 * i) for i in range(phnum)]
    aligned = vmcoreinfo + b"\0" * (-len(vmcoreinfo) % 4)
    image = bytearray(header + aligned)
    for p_type, _, offset, _, paddr, filesz, _, _ in phdrs:
        if p_type != 1 or not filesz:
            continue
        data = dump.read(paddr, filesz)
        if len(image) < offset:
            image += b"\0" * (offset - len(image))
        image[offset:offset + filesz] = data
    path.write_bytes(bytes(image))
    return {"minidump_elf": str(path), "minidump_elf_bytes": len(image),
            "phdrs": [{"type": p[0], "offset": p[2], "vaddr": p[3], "paddr": p[4],
                       "filesz": p[5], "memsz": p[6]} for p in phdrs]}


# --------------------------------------------------------------------------


def captures() -> dict[str, dict]:
    """name -> record of every capture in the cache."""
    out = {}
    for path in sorted(root().glob("*.json")):
        record = json.loads(path.read_text())
        if "vmcore" in record and Path(record["vmcore"]).exists():
            out[record["name"]] = record
    return out


#: the bundled samples: small enough to ship (the 52-bit LPA2 boot's mem_section root alone
#: is 1 MiB)
SAMPLE_LIMIT = 1 << 20
SAMPLES = REPO / "tests" / "data" / "meminspect-v3"


def md_files(elf: bytes, table: list[dict]) -> dict[str, bytes]:
    """The backend's md_*.BIN files rebuilt from QDL's minidump.elf and the runtime table:
    ID 1 is the file's first bytes, ID 2 follows it, every other region is its PT_LOAD's
    bytes (found by physical address)."""
    phoff, = struct.unpack_from("<Q", elf, 32)
    phnum, = struct.unpack_from("<H", elf, 56)
    loads = {}
    for i in range(phnum):
        p_type, _, offset, _, paddr, filesz, _, _ = struct.unpack_from("<IIQQQQQQ", elf,
                                                                       phoff + 56 * i)
        if p_type == 1:
            loads.setdefault(paddr, (offset, filesz))
    by_id = {row["id"]: row for row in table}
    out = {}
    for row in table:
        if not row["size"] or not (row["va"] or row["pa"]):
            continue
        size = (row["size"] + 3) & ~3
        if row["id"] == 1:
            data = elf[:row["size"]]
        elif row["id"] == 2:
            start = by_id[1]["size"]
            data = elf[start:start + size]
        else:
            offset, filesz = loads[row["pa"]]
            data = elf[offset:offset + filesz]
        out[blob_name(row["id"])] = data
    return out


#: captures whose full dump is also bundled, trimmed to the pages minidump reads
TRIMMED = ("x86_64", "arm64-va52-cortex-a57")


def trimmed_dump(record: dict, dest: Path) -> int:
    """The full dump cut down to the 4 KiB pages ``extract`` (no vmlinux), ``regions``,
    ``dmesg`` and ``info`` read from it, plus the page VMCOREINFO starts on: real bytes at
    real physical addresses, an ELF core as QEMU writes it (p_vaddr 0), without the rest of
    RAM.  Returns its size."""
    sys.path.insert(0, str(REPO))
    import minidump
    from minidump.kernel.memory import PhysicalMemory
    reads: list[tuple[int, int]] = []
    original = PhysicalMemory.read

    def read(self, paddr, size, what=""):
        reads.append((paddr, size))
        return original(self, paddr, size, what)

    PhysicalMemory.read = read
    try:
        with minidump.extract(record["vmcore"]) as cap:
            cap.regions
        with minidump.open(record["vmcore"]) as cap:
            cap.dmesg()
            cap.facts()
    finally:
        PhysicalMemory.read = original
    # extract copies each region's bytes without reading them, and the VMCOREINFO search
    # scans the file: every registered region, whole
    reads += [(row["pa"], (row["size"] + 3) & ~3) for row in record["table"] if row["size"]]
    pages = sorted({page for paddr, size in reads
                    for page in range(paddr & ~0xFFF, paddr + size, 0x1000)})
    runs: list[list[int]] = []
    for page in pages:
        if runs and runs[-1][0] + runs[-1][1] == page:
            runs[-1][1] += 0x1000
        else:
            runs.append([page, 0x1000])
    dump = Dump(Path(record["vmcore"]))
    machine = {"x86_64": 62, "arm64": 183}[record["arch"]]
    header = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + bytes(9), 4, machine,
                         1, 0, 64, 0, 0, 64, 56, len(runs), 0, 0, 0)
    offset = 64 + 56 * len(runs)
    phdrs, data = b"", b""
    for paddr, size in runs:
        phdrs += struct.pack("<IIQQQQQQ", 1, 0, offset + len(data), 0, paddr, size, size, 0)
        data += dump.read(paddr, size)
    dest.write_bytes(header + phdrs + data)
    return dest.stat().st_size


def cmd_samples(_args=None) -> list[str]:
    """Copy each capture's minidump.elf, runtime table, console and build facts into
    ``tests/data/meminspect-v3/<name>/`` (the CI tests read them; no kernel needed)."""
    written = []
    for name, record in sorted(captures().items()):
        elf = Path(record["minidump_elf"]) if record.get("minidump_elf") else None
        if elf is not None and elf.stat().st_size > SAMPLE_LIMIT:
            log(f"{name}: minidump.elf is {elf.stat().st_size} bytes; not bundled")
            continue
        dest = SAMPLES / name
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        if elf is not None:
            shutil.copy(elf, dest / "minidump.elf")
        else:     # no kernel ELF header (v3 on 16K pages): the md files and Sahara table
            shutil.copytree(record["md_dir"], dest / "md")
        table = [{k: row[k] for k in ("id", "name", "va", "pa", "size", "object")}
                 for row in record["table"]]
        (dest / "table.json").write_text(json.dumps(table, indent=1) + "\n")
        console = Path(record["console_log"]).read_text(errors="replace").replace("\r", "")
        (dest / "console.log").write_text(console)
        facts = {k: record[k] for k in ("variant", "arch", "cpu", "release", "cmdline",
                                        "config_keys", "captured_at")}
        facts["patches"] = patch_digest()
        facts["kinfo"] = record.get("kinfo")
        (dest / "kernel.json").write_text(json.dumps(facts, indent=1) + "\n")
        if name in TRIMMED:
            size = trimmed_dump(record, dest / "full-trimmed.vmcore")
            log(f"{name}: full dump trimmed to the pages read: {size} bytes")
        written.append(name)
        log(f"{name}: {dest}")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="example: meminspect_kernels.py capture arm64-va39")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="download linux-source-7.2 and apply the series")
    for command in ("build", "capture"):
        p = sub.add_parser(command)
        p.add_argument("variant", choices=sorted(VARIANTS))
        if command == "capture":
            p.add_argument("--cpu", help="QEMU -cpu (default: each the variant lists)")
            p.add_argument("--timeout", type=float, default=600)
    sub.add_parser("paths", help="JSON of the captures")
    sub.add_parser("samples", help="bundle each capture's minidump.elf, table and console "
                                   "under tests/data/meminspect-v3/")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            cmd_fetch(args)
        elif args.command == "build":
            cmd_build(args)
        elif args.command == "capture":
            cmd_capture(args)
        elif args.command == "samples":
            cmd_samples(args)
        else:
            json.dump(captures(), sys.stdout, indent=1)
            print()
    except HarnessError as exc:
        print(f"meminspect_kernels: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
