#!/usr/bin/env python3
"""Real-kernel capture harness for minidump, one for every architecture.

Downloads a Debian kernel and its debug symbols for one architecture, boots it
under QEMU/TCG with a tiny busybox initramfs, and writes ELF vmcores with
QEMU's ``dump-guest-memory``; then judges minidump's output on them with the
real consumers (drgn, that architecture's ``crash``, ``vmcore-dmesg``).

Sub-commands (``--arch`` x86_64 (default), arm64, arm or riscv64)::

    harness.py [--arch A] fetch            download + extract kernel, busybox, tools
    harness.py [--arch A] capture [--nokaslr | --kaslr | --panic-nokaslr | --panic-kaslr]
                                           [--memory 4G]
    harness.py [--arch A] all              fetch, then every plain capture the arch has
    harness.py [--arch A] paths            print JSON describing available captures
    harness.py [--arch A] verify NAME      the full dump with drgn, crash, vmcore-dmesg, makedumpfile
    harness.py [--arch A] extract          minidump extract each capture; crash log and drgn must match
    harness.py [--arch A] check [NAME...]  extract, md_*.BIN build, dmesg, info, vmcoreinfo (checks.py)

Per architecture a small table (``ARCHES``) says which Debian kernel package
and suite, which QEMU machine, console and CPU, and how that arch's ``crash``
is run (natively, or under qemu-user from a sysroot of Debian packages).
Packages of Debian 13 "trixie" (riscv64, and trixie's QEMU) come through a
private apt configuration under the cache; the host's packages are never upgraded.

Everything lands in the cache directory: ``$MINIDUMP_REALKERNEL_CACHE`` or
``~/.cache/minidump-realkernel`` (x86_64 at its top, other arches below ``<arch>/``).
Only the Python standard library is used here.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import lzma
import os
import re
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
READY_MARKER = "MINIDUMP-HARNESS-READY"
KMSG_LINES = (
    "minidump-harness: hello from userspace",
    "minidump-harness: second kmsg line",
    "minidump-harness: third kmsg line",
)
FW_CFG_MODULE = "kernel/drivers/firmware/qemu_fw_cfg.ko"
BOOT_TIMEOUT = 600.0
DUMP_TIMEOUT = 300.0
QEMU_MEMORY = "512M"
QEMU_SMP = "2"
#: panic captures: the guest crashes itself with sysrq-c (panic() in drivers/tty/sysrq.c) and,
#: with panic=0, stays in panic()'s loop while QEMU dumps it
PANIC_ARGS = "panic=0 panic_on_oops=1"
PANIC_MARKER = "---[ end Kernel panic"
CRASH_COMMAND = "echo c > /proc/sysrq-trigger"
TRIXIE = "trixie"


@dataclass(frozen=True)
class Arch:
    """What differs between architectures; everything else is the same steps."""

    name: str                 # minidump's name: x86_64, arm64, arm, riscv64
    deb_arch: str             # Debian's: amd64, arm64, armhf, riscv64
    flavour: str              # kernel flavour: linux-image-<release> ends with it
    suite: str                # "host" (the host's bookworm apt) or "trixie" (private apt)
    image_suffix: str         # "-unsigned" where Debian signs the kernel, else ""
    qemu: str                 # qemu-system-* binary
    qemu_package: str         # its Debian package
    qemu_suite: str           # "host", or "trixie": run from a sysroot of trixie's .debs
    machine: tuple[str, ...]  # -machine / -M, -cpu ...
    console: str              # kernel console= device
    kaslr: bool               # the kernel can randomize its base (else: no KASLR variant)
    fw_cfg: bool              # the kernel has qemu_fw_cfg (a module): VMCOREINFO note in dumps
    qemu_user: str | None     # qemu-user binary for that arch's crash (None: the host's crash)
    subdir: str               # cache subdirectory ("" for x86_64: the historical layout)
    bare_nokaslr: bool = False  # the nokaslr capture is named <flavour> (arm64's history)

    @property
    def meta_dbg(self) -> str:
        return f"linux-image-{self.flavour}-dbg:{self.deb_arch}"


ARCHES = {
    "x86_64": Arch("x86_64", "amd64", "cloud-amd64", "host", "-unsigned",
                   "qemu-system-x86_64", "qemu-system-x86", "host", ("-machine", "pc"),
                   # the default CPU (qemu64) on purpose: -cpu max can enable LA57
                   "ttyS0", True, True, None, ""),
    "arm64": Arch("arm64", "arm64", "cloud-arm64", "host", "-unsigned",
                  "qemu-system-aarch64", "qemu-system-arm", "host",
                  ("-M", "virt", "-cpu", "cortex-a57"), "ttyAMA0", True, True, "qemu-aarch64",
                  "arm64", bare_nokaslr=True),
    # LPAE (3-level tables, 64-bit PAs); Debian's armhf kernels have no qemu_fw_cfg driver
    # (CONFIG_FW_CFG_SYSFS unset): the dumps carry no VMCOREINFO note. 32-bit arm has no KASLR.
    "arm": Arch("arm", "armhf", "armmp-lpae", "host", "", "qemu-system-arm", "qemu-system-arm",
                "host", ("-M", "virt", "-cpu", "cortex-a15"), "ttyAMA0", False, False,
                "qemu-arm", "arm"),
    # official from Debian 13 only; bookworm's QEMU 7.2 refuses -device vmcoreinfo on riscv
    # virt ("requires fw_cfg with DMA"), so trixie's QEMU runs from a sysroot. No
    # CONFIG_RELOCATABLE/RANDOMIZE_BASE in Debian's build: no KASLR.
    "riscv64": Arch("riscv64", "riscv64", "riscv64", TRIXIE, "", "qemu-system-riscv64",
                    "qemu-system-riscv", TRIXIE, ("-M", "virt"), "ttyS0", False, True,
                    "qemu-riscv64", "riscv64"),
}

INIT_SCRIPT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# qemu_fw_cfg is a module in Debian kernels; loading it makes the kernel
# publish its VMCOREINFO through the QEMU vmcoreinfo device, so that
# dump-guest-memory can put the VMCOREINFO note into the vmcore.
if [ -f /lib/modules/qemu_fw_cfg.ko ]; then
  insmod /lib/modules/qemu_fw_cfg.ko || echo "minidump-harness: insmod qemu_fw_cfg failed"
fi
{kmsg}
sleep 1000000 &
echo "minidump-harness: uname -r = $(uname -r)"
echo "minidump-harness: cmdline = $(cat /proc/cmdline)"
echo {marker}
{crash}
while true; do sleep 3600; done
"""


class HarnessError(Exception):
    """A failure reported to the user as a single line."""


# --------------------------------------------------------------------------
# small helpers


def cache_root() -> Path:
    env = os.environ.get("MINIDUMP_REALKERNEL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "minidump-realkernel"


def cache_dir(arch: str = "x86_64") -> Path:
    """The arch's cache directory (created if missing): the root for x86_64, else root/arch."""
    path = cache_root() / ARCHES[arch].subdir
    path.mkdir(parents=True, exist_ok=True)
    return path


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a command, raising HarnessError with its last stderr line on failure."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    kwargs.setdefault("text", True)
    try:
        proc = subprocess.run(cmd, **kwargs)
    except FileNotFoundError:
        raise HarnessError(f"command not found: {cmd[0]}") from None
    if proc.returncode != 0:
        err = (proc.stderr or "").strip().splitlines()
        tail = err[-1] if err else f"exit status {proc.returncode}"
        raise HarnessError(f"{' '.join(str(c) for c in cmd[:3])} failed: {tail}")
    return proc


def read_json(path: Path) -> dict:
    """Load a JSON file, or raise HarnessError if it is absent."""
    if not path.exists():
        raise HarnessError(f"{path} not found (run 'harness.py fetch' / 'capture' first)")
    return json.loads(path.read_text())


def write_json(path: Path, data: dict) -> None:
    """Write pretty JSON atomically."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def dir_size(path: Path) -> int:
    """Total size in bytes of the regular files below path."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def log(msg: str) -> None:
    """Progress output on stderr (stdout is reserved for 'paths')."""
    print(f"[harness] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# apt: the host's (bookworm, foreign architectures added) or a private trixie configuration


def apt_options(suite: str) -> list[str]:
    """apt options for ``suite``: none for the host's apt; a private sources list, package
    lists and cache under <cache>/apt-trixie otherwise (the host's own state untouched)."""
    if suite == "host":
        return []
    work = cache_root() / f"apt-{suite}"
    arches = sorted({"amd64", *(a.deb_arch for a in ARCHES.values())})
    return ["-o", f"Dir::Etc::sourcelist={work}/sources.list",
            "-o", "Dir::Etc::sourceparts=/dev/null",
            "-o", f"Dir::State::Lists={work}/lists", "-o", f"Dir::Cache={work}/cache",
            "-o", f"Dir::Cache::pkgcache={work}/cache/pkgcache.bin",
            "-o", f"Dir::Cache::srcpkgcache={work}/cache/srcpkgcache.bin",
            "-o", "Dir::State::status=/dev/null", "-o", "APT::Sandbox::User=root",
            "-o", "Debug::NoLocking=1",
            *[x for a in arches for x in ("-o", f"APT::Architectures::={a}")]]


def apt_candidate(suite: str, pkg: str) -> str | None:
    proc = subprocess.run(["apt-cache", *apt_options(suite), "policy", pkg],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    match = re.search(r"Candidate:\s*(\S+)", proc.stdout)
    return match.group(1) if match and match.group(1) != "(none)" else None


def ensure_apt(suite: str, deb_arch: str, probe: str) -> None:
    """Make apt know ``probe`` (a package): host: ``dpkg --add-architecture`` + update;
    trixie: write the private sources list and update it (at most once a day)."""
    if suite == "host":
        if apt_candidate(suite, probe):
            return
        if deb_arch != "amd64" and deb_arch not in run(
                ["dpkg", "--print-foreign-architectures"]).stdout.split():
            log(f"dpkg --add-architecture {deb_arch}")
            run(["dpkg", "--add-architecture", deb_arch])
        log("apt-get update")
        subprocess.run(["apt-get", "update", "-q"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)   # a mirror hiccup on one index is not fatal
    else:
        work = cache_root() / f"apt-{suite}"
        (work / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (work / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        arches = ",".join(sorted({"amd64", *(a.deb_arch for a in ARCHES.values())}))
        (work / "sources.list").write_text(
            f"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg arch={arches}] "
            f"http://deb.debian.org/debian {suite} main\n")
        fresh = [p for p in (work / "lists").glob("*_Packages*")
                 if time.time() - p.stat().st_mtime < 86400]
        if fresh and apt_candidate(suite, probe):
            return
        log(f"apt-get update ({suite}, private configuration in {work})")
        run(["apt-get", *apt_options(suite), "update", "-q"])
    if not apt_candidate(suite, probe):
        raise HarnessError(f"apt ({suite}) has no candidate for {probe}")


def ensure_host_packages(programs: dict[str, str]) -> list[str]:
    """apt-get install (host, bookworm) the packages whose program is missing."""
    missing = sorted({pkg for prog, pkg in programs.items() if not shutil.which(prog)})
    if missing:
        log(f"apt-get install {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        try:
            run(["apt-get", "install", "-y", "--no-install-recommends", *missing], env=env)
        except HarnessError:
            subprocess.run(["apt-get", "update", "-q"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            run(["apt-get", "install", "-y", "--no-install-recommends", *missing], env=env)
    return missing


def resolve_kernel(spec: Arch, abi: str | None) -> tuple[str, str]:
    """(kernel release, package version): the one ``linux-image-<flavour>-dbg`` depends on."""
    if abi:
        release = abi if abi.endswith(spec.flavour) else f"{abi}-{spec.flavour}"
    else:
        proc = run(["apt-cache", *apt_options(spec.suite), "show", "--no-all-versions",
                    spec.meta_dbg])
        match = re.search(r"^Depends:.*?linux-image-(\S+)-dbg", proc.stdout, re.M)
        if not match:
            raise HarnessError(f"cannot parse Depends of {spec.meta_dbg}")
        release = match.group(1)
    version = apt_candidate(spec.suite, f"linux-image-{release}-dbg:{spec.deb_arch}")
    if not version:
        raise HarnessError(f"linux-image-{release}-dbg:{spec.deb_arch} not available")
    return release, version


def download(suite: str, pkg: str, deb_arch: str, version: str, dest: Path) -> dict:
    """apt-get download ``pkg:arch=version`` into dest; size/time record."""
    start = time.monotonic()
    run(["apt-get", *apt_options(suite), "download", f"{pkg}:{deb_arch}={version}"], cwd=dest)
    seconds = time.monotonic() - start
    debs = list(dest.glob(f"{pkg}_*_{deb_arch}.deb")) or list(dest.glob(f"{pkg}_*_all.deb"))
    if len(debs) != 1:
        raise HarnessError(f"apt-get download {pkg}:{deb_arch} produced no single .deb")
    return {"package": f"{pkg}:{deb_arch}", "version": version, "deb": str(debs[0]),
            "deb_bytes": debs[0].stat().st_size, "download_seconds": round(seconds, 2)}


def extract_members(deb: Path, wanted: dict[str, Path]) -> dict[str, Path]:
    """Stream the data tarball of deb (via dpkg-deb) and write selected files.

    ``wanted`` maps regular-expressions (matched against member names without
    the leading './') to destination paths. Symlinks are ignored; the real
    file is what we want. Returns the patterns that matched.
    """
    found: dict[str, Path] = {}
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        for member in tar:
            if not member.isfile():
                continue
            name = member.name[2:] if member.name.startswith("./") else member.name
            for pattern, dest in wanted.items():
                if pattern not in found and re.fullmatch(pattern, name):
                    src = tar.extractfile(member)
                    with open(dest, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                    found[pattern] = dest
                    break
    proc.stdout.close()
    if proc.wait() != 0:
        raise HarnessError(f"dpkg-deb --fsys-tarfile {deb.name} failed: "
                           f"{proc.stderr.read().decode().strip()}")
    return found


def sysroot(suite: str, packages: list[str], dest: Path) -> Path:
    """A directory with ``packages`` and their Depends closure (from ``suite``) unpacked.

    The closure is apt's own answer for an empty system (``Dir::State::status=/dev/null``,
    ``install -s --no-install-recommends``); the .debs are downloaded, unpacked with
    ``dpkg-deb -x`` and deleted. Merged-/usr links make PT_INTERP resolve. Idempotent: a
    stamp file lists what was unpacked.
    """
    opts = apt_options(suite) if suite != "host" else ["-o", "Dir::State::status=/dev/null",
                                                       "-o", "Debug::NoLocking=1"]
    proc = run(["apt-get", *opts, "-s", "--no-install-recommends", "install", *packages])
    wanted = sorted(f"{m.group(1)}={m.group(2)}" for m in re.finditer(
        r"^Inst (\S+) \((\S+)", proc.stdout, re.M))
    stamp = dest / ".packages"
    if stamp.exists() and stamp.read_text().split() == wanted:
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix="debs-") as tmp:
        log(f"sysroot {dest.name}: apt-get download {len(wanted)} packages ({suite})")
        run(["apt-get", *apt_options(suite), "download", *wanted], cwd=tmp)
        for deb in sorted(Path(tmp).glob("*.deb")):
            run(["dpkg-deb", "-x", str(deb), str(dest)])
    for sub in ("lib", "lib64"):
        if (dest / "usr" / sub).exists() and not (dest / sub).exists():
            (dest / sub).symlink_to(f"usr/{sub}")
    stamp.write_text("\n".join(wanted) + "\n")
    return dest


# --------------------------------------------------------------------------
# fetch


def raw_image(vmlinuz: bytes) -> tuple[bytes, str]:
    """The bootable kernel inside a Debian ``vmlinuz``; (bytes, how it was packed).

    A plain arm64 or riscv Image (magic ``ARM\\x64`` / ``RSC\\x05`` at 0x38), a 32-bit
    arm zImage (magic 0x016f2818 at 0x24: QEMU boots it as it is), x86 bzImage
    (``HdrS``), a gzip'd Image, or an EFI zboot image (``MZ`` + ``zimg`` at 4;
    payload offset/size at 8/12, compression name at 24; gzip, xz/lzma decompressed here).
    """
    if vmlinuz[0x38:0x3C] in (b"ARM\x64", b"RSC\x05"):
        return vmlinuz, "raw Image"
    if vmlinuz[0x24:0x28] == struct.pack("<I", 0x016F2818):
        return vmlinuz, "zImage"
    if vmlinuz[0x202:0x206] == b"HdrS":
        return vmlinuz, "bzImage"
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
    raise HarnessError("vmlinuz is neither an Image, zImage, bzImage, gzip nor EFI zboot")


CONFIG_KEYS = ("CONFIG_RANDOMIZE_BASE", "CONFIG_RELOCATABLE", "CONFIG_FW_CFG_SYSFS",
               "CONFIG_ARM64_VA_BITS", "CONFIG_ARM_LPAE", "CONFIG_VMSPLIT_3G",
               "CONFIG_PAGE_OFFSET", "CONFIG_HIGHMEM", "CONFIG_EFI_ZBOOT",
               "CONFIG_RANDOMIZE_MEMORY", "CONFIG_PGTABLE_LEVELS")


def cmd_fetch(args: argparse.Namespace) -> dict:
    """Download and extract the kernel, debug info, fw_cfg module, busybox; install tools."""
    spec = ARCHES[args.arch]
    cache = cache_dir(spec.name)
    host_tools = {"dpkg-deb": "dpkg"}
    if spec.qemu_suite == "host":
        host_tools[spec.qemu] = spec.qemu_package
    if spec.qemu_user:
        host_tools[spec.qemu_user] = "qemu-user"
    if spec.name == "x86_64":
        host_tools["busybox"] = "busybox-static"
    installed = ensure_host_packages(host_tools)
    ensure_apt(spec.suite, spec.deb_arch, spec.meta_dbg)
    release, version = resolve_kernel(spec, args.abi)
    fetch_json = cache / "fetch.json"
    if fetch_json.exists() and not args.force:
        info = json.loads(fetch_json.read_text())
        if all(Path(p).exists() for p in info["files"].values()) and (
                info.get("kernel_release") == release or not args.abi):
            log(f"{info['kernel_release']} already fetched (use --force to redo; "
                f"apt's current one is {release})")
            ensure_tools(spec)
            return info
    kdir = cache / release
    kdir.mkdir(parents=True, exist_ok=True)
    files = {
        "vmlinuz": kdir / f"vmlinuz-{release}",
        "config": kdir / f"config-{release}",
        "vmlinux": kdir / f"vmlinux-{release}",
        "system_map": kdir / f"System.map-{release}",
    }
    if spec.fw_cfg:
        files["fw_cfg_module"] = kdir / "qemu_fw_cfg.ko"
    rel = re.escape(release)
    # riscv64 ships the raw Image as boot/vmlinux-*; trixie's modules are below usr/lib
    image_members = {rf"boot/vmlinu[xz]-{rel}": files["vmlinuz"],
                     rf"boot/config-{rel}": files["config"]}
    if spec.fw_cfg:
        image_members[rf"(usr/)?lib/modules/{rel}/{re.escape(FW_CFG_MODULE)}(\.xz)?"] = \
            files["fw_cfg_module"]
    # The System.map in the image package is a placeholder; the real one ships in the
    # -dbg package next to the debug vmlinux.
    wanted = [
        (f"linux-image-{release}{spec.image_suffix}", version, image_members),
        (f"linux-image-{release}-dbg", version, {
            rf"usr/lib/debug/(boot/vmlinux-{rel}|(usr/)?lib/modules/{rel}/vmlinux)":
                files["vmlinux"],
            rf"usr/lib/debug/boot/System\.map-{rel}": files["system_map"],
        }),
    ]
    bb_version = None
    if spec.name != "x86_64":   # x86_64 uses the host's /bin/busybox (busybox-static)
        files["busybox"] = cache / f"busybox-{spec.name if spec.name != 'arm64' else 'arm64'}"
        bb_version = apt_candidate(spec.suite, f"busybox-static:{spec.deb_arch}")
        if not bb_version:
            raise HarnessError(f"busybox-static:{spec.deb_arch} not available")
        wanted.append(("busybox-static", bb_version, {r"(usr/)?bin/busybox": files["busybox"]}))
    packages = []
    with tempfile.TemporaryDirectory(dir=cache, prefix="debs-") as tmp:
        for pkg, ver, members in wanted:
            log(f"apt-get download {pkg}:{spec.deb_arch}={ver}")
            record = download(spec.suite, pkg, spec.deb_arch, ver, Path(tmp))
            start = time.monotonic()
            found = extract_members(Path(record["deb"]), members)
            record["extract_seconds"] = round(time.monotonic() - start, 2)
            missing = [pat for pat in members if pat not in found]
            if missing:
                raise HarnessError(f"{pkg}: no member matching {missing[0]}")
            Path(record["deb"]).unlink()
            record["deb"] = Path(record["deb"]).name
            packages.append(record)
            log(f"  {record['deb_bytes']} bytes in {record['download_seconds']}s, "
                f"extracted in {record['extract_seconds']}s")
    if "busybox" in files:
        files["busybox"].chmod(0o755)
    module = files.get("fw_cfg_module")
    if module and module.read_bytes()[:6] == b"\xfd7zXZ\x00":   # trixie ships .ko.xz
        module.write_bytes(lzma.decompress(module.read_bytes()))
    image, packing = raw_image(files["vmlinuz"].read_bytes())
    if packing not in ("raw Image", "zImage", "bzImage"):
        files["image"] = kdir / f"Image-{release}"
        files["image"].write_bytes(image)
    log(f"vmlinuz is {packing}")
    config = files["config"].read_text(errors="replace")
    info = {
        "arch": spec.name,
        "flavour": spec.flavour,
        "suite": spec.suite,
        "kernel_release": release,
        "package_version": version,
        "busybox_version": bb_version,
        "packages": packages,
        "download_bytes": sum(p["deb_bytes"] for p in packages),
        "vmlinuz_packing": packing,
        "config": {key: (re.search(rf"^{key}=(\S+)", config, re.M) or [None, None])[1]
                   for key in CONFIG_KEYS},
        "files": {key: str(path) for key, path in files.items()},
        "kernel_dir_bytes": dir_size(kdir),
        "host_packages_installed": installed,
        "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    info["tools"] = ensure_tools(spec)
    write_json(fetch_json, info)
    log(f"wrote {fetch_json}")
    return info


def ensure_tools(spec: Arch) -> dict:
    """Trixie's QEMU (where the host's cannot do it) and that arch's crash in sysroots."""
    tools = {}
    if spec.qemu_suite != "host":
        ensure_apt(spec.qemu_suite, "amd64", f"{spec.qemu_package}:amd64")
        root = sysroot(spec.qemu_suite, [f"{spec.qemu_package}:amd64"],
                       cache_root() / f"sysroot-{spec.qemu_suite}-qemu-{spec.name}")
        tools["qemu_sysroot"] = str(root)
    if spec.qemu_user:
        suite = spec.suite
        ensure_apt(suite, spec.deb_arch, f"crash:{spec.deb_arch}")
        root = sysroot(suite, [f"crash:{spec.deb_arch}"],
                       cache_root() / f"sysroot-{'bookworm' if suite == 'host' else suite}-"
                                      f"crash-{spec.deb_arch}")
        tools["crash_sysroot"] = str(root)
    return tools


# --------------------------------------------------------------------------
# initramfs


def _cpio_entry(name: str, mode: int, data: bytes = b"", ino: int = 0,
                rdev: tuple[int, int] = (0, 0)) -> bytes:
    """One 'newc' cpio record (header, name, data, padding)."""
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1],
              len(name) + 1, 0]
    header = b"070701" + b"".join(b"%08X" % f for f in fields)
    out = header + name.encode() + b"\0"
    out += b"\0" * (-len(out) % 4)
    out += data + b"\0" * (-len(data) % 4)
    return out


def build_initramfs(dest: Path, fw_cfg_module: Path | None, busybox: Path,
                    crash: str = "") -> None:
    """Write a gzip'd newc initramfs with that arch's static busybox and our /init.

    The archive is generated in Python so no root, cpio or mknod is needed;
    /dev/console is included so that /init has a console before devtmpfs.
    """
    if not busybox.exists():
        raise HarnessError(f"{busybox} missing (harness.py fetch; x86_64: busybox-static)")
    kmsg = "\n".join(f'echo "{line}" > /dev/kmsg' for line in KMSG_LINES)
    init = INIT_SCRIPT.format(kmsg=kmsg, marker=READY_MARKER, crash=crash).encode()
    entries = [
        ("bin", stat.S_IFDIR | 0o755, b"", (0, 0)),
        ("dev", stat.S_IFDIR | 0o755, b"", (0, 0)),
        ("dev/console", stat.S_IFCHR | 0o600, b"", (5, 1)),
        ("proc", stat.S_IFDIR | 0o755, b"", (0, 0)),
        ("sys", stat.S_IFDIR | 0o755, b"", (0, 0)),
        ("tmp", stat.S_IFDIR | 0o1777, b"", (0, 0)),
        ("lib", stat.S_IFDIR | 0o755, b"", (0, 0)),
        ("lib/modules", stat.S_IFDIR | 0o755, b"", (0, 0)),
    ]
    if fw_cfg_module:
        entries.append(("lib/modules/qemu_fw_cfg.ko", stat.S_IFREG | 0o644,
                        fw_cfg_module.read_bytes(), (0, 0)))
    entries += [
        ("bin/busybox", stat.S_IFREG | 0o755, busybox.read_bytes(), (0, 0)),
        ("init", stat.S_IFREG | 0o755, init, (0, 0)),
    ]
    buf = io.BytesIO()
    for ino, (name, mode, data, rdev) in enumerate(entries, start=1):
        buf.write(_cpio_entry(name, mode, data, ino, rdev))
    buf.write(_cpio_entry("TRAILER!!!", 0))
    dest.write_bytes(gzip.compress(buf.getvalue(), 6))


# --------------------------------------------------------------------------
# QMP


class QMP:
    """Minimal QMP client over a unix socket (line-delimited JSON)."""

    def __init__(self, path: Path, timeout: float = 30.0):
        """Connect, read the greeting and negotiate capabilities."""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.file = self.sock.makefile("rb")
        self.events: list[dict] = []
        greeting = self._read()
        if "QMP" not in greeting:
            raise HarnessError(f"unexpected QMP greeting: {greeting}")
        self.execute("qmp_capabilities")

    def _read(self) -> dict:
        """Read one JSON message."""
        line = self.file.readline()
        if not line:
            raise HarnessError("QMP connection closed")
        return json.loads(line)

    def execute(self, command: str, **arguments) -> object:
        """Send a command and return its 'return' value; events are queued."""
        msg = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read()
            if "event" in reply:
                self.events.append(reply)
            elif "error" in reply:
                raise HarnessError(f"QMP {command}: {reply['error'].get('desc')}")
            elif "return" in reply:
                return reply["return"]

    def close(self) -> None:
        """Close the connection."""
        self.file.close()
        self.sock.close()


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    """Poll predicate() until truthy; raise HarnessError after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise HarnessError(f"timed out after {timeout:.0f}s waiting for {what}")


# --------------------------------------------------------------------------
# capture

#: variant -> extra kernel arguments (and whether it crashes itself)
VARIANTS = {"nokaslr": "nokaslr", "kaslr": "", "panic-nokaslr": "nokaslr", "panic-kaslr": "",
            # a larger log: setup_log_buf moves the ring to buffers it allocates (prb points
            # at printk_rb_dynamic), which meminspect v3 registers as dynamic regions
            "logbuf": "nokaslr log_buf_len=1M",
            # the same under KASLR: on x86_64 the buffers lie in the randomized direct map
            "logbuf-kaslr": "log_buf_len=1M"}
#: variants any arch can capture on request ('all' takes only the plain ones)
EXTRA_VARIANTS = ("logbuf", "logbuf-kaslr")


def variants(spec: Arch, panic: bool) -> list[str]:
    """The plain (or panic) variants an arch has: no KASLR variant where the kernel has none."""
    out = ["nokaslr"] + (["kaslr"] if spec.kaslr else [])
    return [f"panic-{v}" for v in out] if panic else out


def capture_name(variant: str, memory: str = QEMU_MEMORY, arch: str = "x86_64") -> str:
    """Capture base name: '<flavour>-<variant>' ('cloud-amd64-nokaslr', 'armmp-lpae-nokaslr'),
    arm64's nokaslr is plain 'cloud-arm64'; '-<memory>' is added when not the default 512M."""
    spec = ARCHES[arch]
    suffix = "" if memory_bytes(memory) == memory_bytes(QEMU_MEMORY) else f"-{memory}"
    if spec.bare_nokaslr and variant == "nokaslr":
        return f"{spec.flavour}{suffix}"
    return f"{spec.flavour}-{variant}{suffix}"


def memory_bytes(size: str) -> int:
    """Bytes of a QEMU ``-m`` size (``512M``, ``4G``, ``16G``; a bare number is MiB)."""
    match = re.fullmatch(r"(\d+)([MG]?)", size.strip().upper())
    if not match:
        raise HarnessError(f"bad memory size {size!r} (use e.g. 512M, 4G, 16G)")
    return int(match.group(1)) << (30 if match.group(2) == "G" else 20)


def qemu_binary(spec: Arch) -> list[str]:
    """How to start that arch's qemu-system: the host's, or trixie's from its sysroot (run
    by the sysroot's own dynamic loader, firmware from the sysroot)."""
    if spec.qemu_suite == "host":
        return [spec.qemu]
    root = cache_root() / f"sysroot-{spec.qemu_suite}-qemu-{spec.name}"
    binary = root / "usr" / "bin" / spec.qemu
    if not binary.exists():
        raise HarnessError(f"{binary} missing: run harness.py --arch {spec.name} fetch")
    libs = ":".join(str(root / d) for d in ("usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu"))
    cmd = [str(root / "lib64" / "ld-linux-x86-64.so.2"), "--library-path", libs, str(binary),
           "-L", str(root / "usr" / "share" / "qemu")]
    if spec.name == "riscv64":
        firmware = root / "usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"
        cmd += ["-bios", str(firmware)]
    return cmd


def qemu_command(kernel: Path, initrd: Path, cmdline: str, qmp: Path,
                 console: Path, memory: str = QEMU_MEMORY, arch: str = "x86_64") -> list[str]:
    """The qemu-system command line used for a capture."""
    spec = ARCHES[arch]
    return [
        *qemu_binary(spec), *spec.machine, "-accel", "tcg",
        "-m", memory, "-smp", QEMU_SMP,
        "-nodefaults", "-display", "none", "-monitor", "none", "-no-reboot",
        "-kernel", str(kernel), "-initrd", str(initrd), "-append", cmdline,
        "-device", "vmcoreinfo",
        "-qmp", f"unix:{qmp},server=on,wait=off",
        "-serial", f"file:{console}",
    ]


def vmcoreinfo_from_elf(path: Path) -> dict[str, str]:
    """Return the VMCOREINFO key/values of an ELF32/ELF64 core file ({} if absent)."""
    with open(path, "rb") as f:
        ehdr = f.read(64)
        if ehdr[:4] != b"\x7fELF" or ehdr[4] not in (1, 2):
            return {}
        if ehdr[4] == 2:
            phoff, = struct.unpack_from("<Q", ehdr, 32)
            phentsize, phnum = struct.unpack_from("<HH", ehdr, 54)
        else:
            phoff, = struct.unpack_from("<I", ehdr, 28)
            phentsize, phnum = struct.unpack_from("<HH", ehdr, 42)
        f.seek(phoff)
        phdrs = f.read(phentsize * phnum)
        for i in range(phnum):
            if ehdr[4] == 2:
                p_type, _, p_offset, _, _, p_filesz = struct.unpack_from(
                    "<IIQQQQ", phdrs, i * phentsize)
            else:
                p_type, p_offset, _, _, p_filesz = struct.unpack_from(
                    "<IIIII", phdrs, i * phentsize)
            if p_type != 4:  # PT_NOTE
                continue
            f.seek(p_offset)
            notes = f.read(p_filesz)
            pos = 0
            while pos + 12 <= len(notes):
                namesz, descsz, _ = struct.unpack_from("<III", notes, pos)
                pos += 12
                name = notes[pos:pos + namesz].rstrip(b"\0")
                pos += (namesz + 3) & ~3
                desc = notes[pos:pos + descsz]
                pos += (descsz + 3) & ~3
                if name == b"VMCOREINFO":
                    text = desc.rstrip(b"\0").decode(errors="replace")
                    return dict(line.split("=", 1) for line in text.splitlines()
                                if "=" in line)
    return {}


def cmd_capture(args: argparse.Namespace) -> dict:
    """Boot the fetched kernel under QEMU and dump its memory to a vmcore."""
    spec = ARCHES[args.arch]
    cache = cache_dir(spec.name)
    info = read_json(cache / "fetch.json")
    files = {k: Path(v) for k, v in info["files"].items()}
    variant = args.variant
    if variant not in variants(spec, variant.startswith("panic")) + list(EXTRA_VARIANTS):
        raise HarnessError(f"{spec.name} has no {variant} capture (no KASLR on this arch)")
    memory = getattr(args, "memory", QEMU_MEMORY)
    name = capture_name(variant, memory, spec.name)
    need = memory_bytes(memory) + (1 << 30)
    if shutil.disk_usage(cache).free < need:
        raise HarnessError(f"{cache}: less than {need >> 30} GiB free for a {memory} dump")
    vmcore = cache / f"{name}.vmcore"
    console = cache / f"{name}.console.log"
    panic = variant.startswith("panic")
    initrd = cache / (f"initramfs-{info['kernel_release']}" + ("-panic" if panic else "")
                      + ".cpio.gz")
    busybox = files.get("busybox", Path("/bin/busybox"))
    build_initramfs(initrd, files.get("fw_cfg_module"), busybox,
                    CRASH_COMMAND if panic else "")
    cmdline = " ".join(filter(None, [f"console={spec.console}",
                                     PANIC_ARGS if panic else "panic=-1", VARIANTS[variant]]))
    for stale in (vmcore, console):
        stale.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="mdh-") as tmp:
        sock = Path(tmp) / "qmp.sock"
        cmd = qemu_command(files.get("image", files["vmlinuz"]), initrd, cmdline, sock, console,
                           memory, spec.name)
        log(f"booting {name}: {' '.join(cmd)}")
        start = time.monotonic()
        qemu = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            result = _drive_guest(qemu, sock, console, vmcore, start, args.timeout,
                                  PANIC_MARKER if panic else READY_MARKER,
                                  dump_timeout=DUMP_TIMEOUT + 60 * (memory_bytes(memory) >> 30))
        finally:
            if qemu.poll() is None:
                qemu.terminate()
                try:
                    qemu.wait(10)
                except subprocess.TimeoutExpired:
                    qemu.kill()
                    qemu.wait()
    vmcore.chmod(0o644)  # QEMU creates it owner-read-only
    vmcoreinfo = vmcoreinfo_from_elf(vmcore)
    qemu_version = run([*cmd[:cmd.index(spec.machine[0])], "--version"]).stdout.splitlines()[0]
    record = {
        "name": name,
        "arch": spec.name,
        "variant": variant,
        "panic": panic,
        "kernel_release": info["kernel_release"],
        "package_version": info["package_version"],
        "vmlinux": str(files["vmlinux"]),
        "system_map": str(files["system_map"]),
        "vmlinuz": str(files["vmlinuz"]),
        "image": str(files.get("image", files["vmlinuz"])),
        "vmcore": str(vmcore),
        "vmcore_bytes": vmcore.stat().st_size,
        "console_log": str(console),
        "cmdline": cmdline,
        "memory": memory,
        "qemu_command": cmd,
        "qemu_version": qemu_version,
        "registers": result["registers"],
        "boot_seconds": result["boot_seconds"],
        "dump_seconds": result["dump_seconds"],
        "vmcoreinfo_present": bool(vmcoreinfo),
        "kerneloffset": vmcoreinfo.get("KERNELOFFSET"),
        "osrelease": vmcoreinfo.get("OSRELEASE"),
        "build_id": vmcoreinfo.get("BUILD-ID"),
        "phys_base": vmcoreinfo.get("NUMBER(phys_base)"),
        "kimage_voffset": vmcoreinfo.get("NUMBER(kimage_voffset)"),
        "phys_offset": vmcoreinfo.get("NUMBER(PHYS_OFFSET)"),
        "va_bits": vmcoreinfo.get("NUMBER(VA_BITS)"),
        "tcr_el1_t1sz": vmcoreinfo.get("NUMBER(TCR_EL1_T1SZ)"),
        "kmsg_lines": list(KMSG_LINES),
        "captured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if not vmcoreinfo:
        log("note: the vmcore has no VMCOREINFO note (no qemu_fw_cfg in this kernel): "
            "minidump must find the text in memory (vmcoreinfo_data)")
    write_json(cache / f"{name}.json", record)
    log(f"{name}: boot {record['boot_seconds']}s, dump {record['dump_seconds']}s, "
        f"{record['vmcore_bytes']} bytes, KERNELOFFSET={record['kerneloffset']}")
    return record


def _drive_guest(qemu: subprocess.Popen, sock: Path, console: Path, vmcore: Path,
                 start: float, timeout: float, marker: str = READY_MARKER,
                 dump_timeout: float = DUMP_TIMEOUT) -> dict:
    """Wait for ``marker`` on the console, dump guest memory over QMP, then quit."""
    def ready():
        if qemu.poll() is not None:
            out = qemu.stdout.read().decode(errors="replace").strip()
            raise HarnessError(f"qemu exited with {qemu.returncode}: {out[-300:]}")
        return console.exists() and marker.encode() in console.read_bytes()

    wait_for(ready, timeout, f"'{marker}' on the serial console", interval=0.2)
    boot_seconds = time.monotonic() - start
    time.sleep(1.0)  # let the guest settle into its sleep loop
    qmp = QMP(wait_for(lambda: sock.exists() and sock, 30, "QMP socket"))
    try:   # the CPU state as QEMU sees it (riscv: satp, the page-table root), for the record
        qmp.execute("stop")
        registers = qmp.execute("human-monitor-command", **{"command-line": "info registers"})
    except HarnessError as exc:
        registers = f"unavailable: {exc}"
    start = time.monotonic()
    qmp.execute("dump-guest-memory", paging=False, protocol=f"file:{vmcore}",
                detach=True)

    def dump_done():
        status = qmp.execute("query-dump")
        if status.get("status") == "failed":
            raise HarnessError("dump-guest-memory failed")
        return status.get("status") == "completed"

    wait_for(dump_done, dump_timeout, "dump-guest-memory", interval=0.1)
    dump_seconds = time.monotonic() - start
    try:
        qmp.execute("quit")
    except HarnessError:
        pass  # qemu may close the socket before answering
    qmp.close()
    try:
        qemu.wait(30)
    except subprocess.TimeoutExpired:
        pass
    return {"boot_seconds": round(boot_seconds, 2), "dump_seconds": round(dump_seconds, 2),
            "registers": registers}


# --------------------------------------------------------------------------
# paths / all


def available_captures(arch: str = "x86_64") -> dict:
    """Describe the fetched kernel and the captures whose vmcore exists."""
    cache = cache_dir(arch)
    result: dict = {"arch": arch, "cache": str(cache), "kernel": None, "captures": {}}
    fetch_json = cache / "fetch.json"
    if fetch_json.exists():
        result["kernel"] = json.loads(fetch_json.read_text())
    result["captures"] = _records(cache, arch, panic=False)
    result["panics"] = _records(cache, arch, panic=True)
    return result


def _records(cache: Path, arch: str, panic: bool) -> dict:
    """The capture records (any memory size) whose vmcore and vmlinux are still there."""
    found = {}
    for meta in sorted(cache.glob(f"{ARCHES[arch].flavour}*.json")):
        record = json.loads(meta.read_text())
        if not isinstance(record, dict) or "variant" not in record:
            continue
        if record["variant"].startswith("panic") == panic and Path(record["vmcore"]).exists() \
                and Path(record["vmlinux"]).exists():
            record.setdefault("arch", arch)
            found[record["name"]] = record
    return found


def cmd_paths(args: argparse.Namespace) -> None:
    """Print the JSON of the available captures on stdout."""
    print(json.dumps(available_captures(args.arch), indent=2, sort_keys=True))


def cmd_all(args: argparse.Namespace) -> None:
    """fetch, then capture every plain variant of the arch (with and without KASLR)."""
    cmd_fetch(args)
    for variant in variants(ARCHES[args.arch], panic=False):
        args.variant = variant
        cmd_capture(args)
    cmd_paths(args)


# --------------------------------------------------------------------------
# consumers: that arch's crash, drgn, vmcore-dmesg, makedumpfile


def crash_command(arch: str = "x86_64") -> list[str] | None:
    """How to start ``crash`` for ``arch``: the host's (x86_64), else Debian's crash for
    that arch under qemu-user with its sysroot (``fetch`` makes it); None if unavailable."""
    spec = ARCHES[arch]
    if not spec.qemu_user:
        path = shutil.which("crash")
        return [path] if path else None
    suite = "bookworm" if spec.suite == "host" else spec.suite
    root = cache_root() / f"sysroot-{suite}-crash-{spec.deb_arch}"
    if not (root / "usr" / "bin" / "crash").exists() or not shutil.which(spec.qemu_user):
        return None
    return [spec.qemu_user, "-L", str(root), str(root / "usr" / "bin" / "crash")]


def crash_session(vmlinux: str, vmcore: str, commands: list[str], arch: str = "x86_64",
                  timeout: float = 1800) -> str:
    """Output of ``crash --minimal VMLINUX VMCORE`` fed ``commands`` (then ``q``)."""
    cmd = crash_command(arch)
    if cmd is None:
        raise HarnessError(f"no crash for {arch}: run harness.py --arch {arch} fetch")
    proc = subprocess.run([*cmd, "--minimal", vmlinux, vmcore],
                          input="\n".join([*commands, "q"]) + "\n", stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout,
                          errors="replace")
    return proc.stdout


#: meminspect v3's crash recipe for a minidump: normal mode without modules, the panic
#: message search, or the slab caches; pages not in the dump read as zeros
CRASH_NORMAL = ("-s", "--no_modules", "--no_panic", "--no_kmem_cache", "--zero_excluded")


def crash_normal_session(vmlinux: str, vmcore: str, commands: list[str],
                         arch: str = "x86_64", timeout: float = 1800,
                         options: tuple[str, ...] = CRASH_NORMAL,
                         crash: list[str] | None = None) -> str:
    """Output of crash in normal mode (v3's recipe) fed ``commands`` (then ``q``), with the
    dump's path taken out of ``sys``'s DUMPFILE line so two dumps compare.  ``crash``: the
    command that starts another crash (e.g. ../shared/tools/crash-newer's wrapper)."""
    cmd = crash or crash_command(arch)
    if cmd is None:
        raise HarnessError(f"no crash for {arch}: run harness.py --arch {arch} fetch")
    proc = subprocess.run([*cmd, *options, vmlinux, vmcore],
                          input="\n".join([*commands, "q"]) + "\n", stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout,
                          errors="replace")
    return proc.stdout.replace(vmcore, "VMCORE")


def crash_log(vmlinux: str, vmcore: str, arch: str = "x86_64") -> list[str]:
    """The lines `crash --minimal` prints for `log` (no prompt: stdin is not a tty)."""
    return [line for line in crash_session(vmlinux, vmcore, ["log"], arch).splitlines()
            if line.startswith("[")]


def vmcore_dmesg(vmcore: str) -> list[str] | None:
    """The log lines Debian's ``vmcore-dmesg`` (kexec-tools) prints; None if not installed."""
    tool = shutil.which("vmcore-dmesg") or ("/usr/sbin/vmcore-dmesg"
                                            if Path("/usr/sbin/vmcore-dmesg").exists() else None)
    if not tool:
        return None
    proc = subprocess.run([tool, vmcore], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=600, errors="replace")
    return [line for line in proc.stdout.splitlines() if line.startswith("[")]


def drgn_values(vmlinux: str, vmcore: str) -> tuple[str, int]:
    """init_uts_ns.name.release and jiffies_64, read by drgn's Python API."""
    import drgn
    prog = drgn.Program()
    prog.set_core_dump(vmcore)
    try:
        prog.load_debug_info([vmlinux])
    except drgn.MissingDebugInfoError:
        pass  # modules: the minidump has no module list; vmlinux itself loaded
    return (prog["init_uts_ns"].name.release.string_().decode(),
            int(prog["jiffies_64"].value_()))


def _check_drgn(rec: dict) -> tuple[str, str]:
    """drgn reads init_uts_ns release and jiffies_64 from the full dump."""
    try:
        import drgn  # noqa: F401
    except ImportError:
        return "skipped", "drgn not installed (pip install drgn)"
    try:
        release, jiffies = drgn_values(rec["vmlinux"], rec["vmcore"])
    except Exception as exc:   # drgn cannot translate every arch's kernel addresses
        return "fail", f"{type(exc).__name__}: {exc}"
    if release == rec["kernel_release"] and jiffies > 0:
        return "pass", f"release={release} jiffies_64={jiffies}"
    return "fail", f"release={release} jiffies_64={jiffies}"


def _check_crash(rec: dict) -> tuple[str, str]:
    """crash --minimal VMLINUX VMCORE prints the log incl. our kmsg line."""
    arch = rec.get("arch", "x86_64")
    if crash_command(arch) is None:
        return "skipped", f"no crash for {arch}"
    lines = crash_log(rec["vmlinux"], rec["vmcore"], arch)
    if KMSG_LINES[0] in "\n".join(lines):
        return "pass", f"'log' ({len(lines)} lines) shows '{KMSG_LINES[0]}'"
    return "fail", f"{len(lines)} log lines, no '{KMSG_LINES[0]}'"


def _check_vmcore_dmesg(rec: dict) -> tuple[str, str]:
    """vmcore-dmesg VMCORE (needs the VMCOREINFO note)."""
    lines = vmcore_dmesg(rec["vmcore"])
    if lines is None:
        return "skipped", "vmcore-dmesg not installed (apt-get install kexec-tools)"
    if KMSG_LINES[0] in "\n".join(lines):
        return "pass", f"{len(lines)} lines incl. '{KMSG_LINES[0]}'"
    if not rec.get("vmcoreinfo_present"):
        return "partial", "no VMCOREINFO note in the full dump: vmcore-dmesg cannot read it"
    return "fail", f"{len(lines)} lines"


def normalized_elf_copy(src: Path, dst: Path) -> None:
    """Copy an ELF64 core, moving its program headers right after the ELF header.

    QEMU 7.2 writes the section header table at offset 64 and the program
    headers after it (and sets e_ehsize to 8).  makedumpfile (up to at least
    1.7.x) ignores e_phoff and reads program headers at sizeof(Elf64_Ehdr), so
    it fails with "Can't get the number of PT_LOAD".  This rewrites only the
    header area of a copy: phdrs at 64, shdrs after them, e_ehsize = 64.
    """
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as f:
        ehdr = bytearray(f.read(64))
        phoff, shoff = struct.unpack_from("<QQ", ehdr, 32)
        phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", ehdr, 54)
        f.seek(phoff)
        phdrs = f.read(phentsize * phnum)
        shdrs = b""
        if shoff and shnum:
            f.seek(shoff)
            shdrs = f.read(shentsize * shnum)
        first_data = min(struct.unpack_from("<Q", phdrs, i * phentsize + 8)[0]
                         for i in range(phnum))
        if 64 + len(phdrs) + len(shdrs) > first_data:
            raise HarnessError("no room to move the program headers")
        struct.pack_into("<QQ", ehdr, 32, 64, 64 + len(phdrs) if shdrs else 0)
        struct.pack_into("<H", ehdr, 52, 64)
        f.seek(0)
        f.write(bytes(ehdr) + phdrs + shdrs)


def _run_dump_dmesg(mdf: str, vmcore: str, extra: list[str], out: Path) -> tuple[bool, str]:
    """Run 'makedumpfile [extra] --dump-dmesg vmcore out'; (ok, last message)."""
    out.unlink(missing_ok=True)
    cmd = [mdf, *extra, "--dump-dmesg", vmcore, str(out)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=600)
    ok = out.exists() and KMSG_LINES[0] in out.read_text(errors="replace")
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    return ok, (lines[0] if lines else f"rc={proc.returncode}")


def _check_makedumpfile(rec: dict) -> tuple[str, str]:
    """makedumpfile --dump-dmesg VMCORE OUT (also with -x, and header-normalised)."""
    mdf = shutil.which("makedumpfile")
    if not mdf:
        return "skipped", "makedumpfile not installed (apt-get install makedumpfile)"
    if rec.get("arch", "x86_64") != "x86_64":
        return "skipped", "Debian's makedumpfile is built for the host's arch (x86_64) only"
    notes = []
    with tempfile.TemporaryDirectory(prefix="mdh-dmesg-", dir=cache_dir()) as tmp:
        out = Path(tmp) / "dmesg.txt"
        vmcore = rec["vmcore"]
        for attempt in ("raw", "normalized"):
            if attempt == "normalized":
                vmcore = str(Path(tmp) / "normalized.vmcore")
                normalized_elf_copy(Path(rec["vmcore"]), Path(vmcore))
            for extra in ([], ["-x", rec["vmlinux"]]):
                label = f"{attempt} vmcore" + (" with -x vmlinux" if extra else "")
                ok, msg = _run_dump_dmesg(mdf, vmcore, extra, out)
                if ok:
                    prior = f" (failed: {'; '.join(notes)})" if notes else ""
                    status = "pass" if attempt == "raw" else "partial"
                    return status, f"works on {label}{prior}"
                notes.append(f"{label}: {msg}")
    return "fail", "; ".join(notes)


def find_capture(arch: str, name: str) -> dict:
    """A capture record by name or variant (plain or panic)."""
    found = available_captures(arch)
    captures = {**found["captures"], **found["panics"]}
    if name not in captures and name in VARIANTS:
        name = capture_name(name, arch=arch)
    if name not in captures:
        raise HarnessError(f"no {arch} capture named {name!r}; have {sorted(captures)}")
    return captures[name]


def cmd_verify(args: argparse.Namespace) -> int:
    """Run drgn / crash / vmcore-dmesg / makedumpfile against a capture; print pass/fail.

    Status is pass, fail, skipped (tool missing) or partial (works only on a
    header-normalised copy of the vmcore). Exit status 1 if anything failed.
    """
    rec = find_capture(args.arch, args.name)
    if args.install:
        ensure_host_packages({"crash": "crash", "makedumpfile": "makedumpfile",
                              "vmcore-dmesg": "kexec-tools"})
    failed = 0
    for label, check in (("drgn", _check_drgn), ("crash", _check_crash),
                         ("vmcore-dmesg", _check_vmcore_dmesg),
                         ("makedumpfile", _check_makedumpfile)):
        start = time.monotonic()
        try:
            status, detail = check(rec)
        except (OSError, subprocess.SubprocessError, HarnessError) as exc:
            status, detail = "fail", str(exc)
        failed += status == "fail"
        print(f"{label:13s} {status:7s} ({time.monotonic() - start:.1f}s) {detail}")
    return 1 if failed else 0


# --------------------------------------------------------------------------
# extract: minidump extract + the same consumers on the full and the mini vmcore

EXTRACT_ARGS = ("--regions", "v3-default", "--profile", "crash")


def run_extract(rec: dict, out: Path) -> tuple[float, int]:
    """`minidump extract` with the v3 default set; (seconds, exit status)."""
    cmd = [sys.executable, "-m", "minidump", "extract", "-q", "--force", "--vmlinux",
           rec["vmlinux"], rec["vmcore"], *EXTRACT_ARGS, "-o", str(out)]
    start = time.monotonic()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          cwd=REPO)
    if proc.returncode not in (0, 3):
        raise HarnessError(f"minidump extract failed: {proc.stdout.strip()[-300:]}")
    return time.monotonic() - start, proc.returncode


def cmd_extract(args: argparse.Namespace) -> int:
    """Extract a minidump of each capture; crash `log`, vmcore-dmesg and drgn must match."""
    arch = args.arch
    captures = available_captures(arch)["captures"]
    if not captures:
        raise HarnessError(f"no captures: run `harness.py --arch {arch} all` first")
    failed = 0
    for name, rec in sorted(captures.items()):
        out = cache_dir(arch) / f"{name}.mini.vmcore"
        seconds, rc = run_extract(rec, out)
        print(f"{name}: extract {seconds:.2f}s rc={rc} {out.stat().st_size} bytes "
              f"(full {rec['vmcore_bytes']})")
        if crash_command(arch):
            full_log = crash_log(rec["vmlinux"], rec["vmcore"], arch)
            mini_log = crash_log(rec["vmlinux"], str(out), arch)
            same = full_log == mini_log and KMSG_LINES[0] in "\n".join(mini_log)
            print(f"  crash --minimal log: {'same' if same else 'DIFFERENT'} "
                  f"({len(mini_log)} lines)")
            failed += not same
        mini_dmesg = vmcore_dmesg(str(out))
        if mini_dmesg is not None:
            ok = KMSG_LINES[0] in "\n".join(mini_dmesg)
            if rec.get("vmcoreinfo_present"):
                ok = ok and mini_dmesg == vmcore_dmesg(rec["vmcore"])
            print(f"  vmcore-dmesg mini: {'ok' if ok else 'DIFFERENT'} ({len(mini_dmesg)} lines)")
            failed += not ok
        if arch == "riscv64":
            print("  drgn: skipped (drgn 0.3.0 cannot translate riscv64 kernel addresses)")
            continue
        full, mini = drgn_values(rec["vmlinux"], rec["vmcore"]), drgn_values(rec["vmlinux"],
                                                                             str(out))
        print(f"  drgn release/jiffies_64: {mini} {'==' if full == mini else '!='} full {full}")
        failed += full != mini
    return 1 if failed else 0


def cmd_check(args: argparse.Namespace) -> int:
    """checks.py: extract, md_*.BIN/Raw_Dmp! build, dmesg, info, vmcoreinfo on each capture."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import checks
    found = available_captures(args.arch)
    captures = {**found["captures"], **found["panics"]}
    names = [capture_name(n, arch=args.arch) if n in VARIANTS else n for n in args.names] \
        or sorted(found["captures"])
    missing = [n for n in names if n not in captures]
    if missing or not names:
        raise HarnessError(f"no capture {missing or ''} (have {sorted(captures)}): "
                           f"run `harness.py --arch {args.arch} capture`")
    failed = []
    for name in names:
        result = checks.check_capture(captures[name], cache_dir(args.arch) / f"check-{name}")
        print(f"{name}: {'FAIL: ' + '; '.join(result['failures']) if result['failures'] else 'pass'}")
        failed += result["failures"]
    return 1 if failed else 0


# --------------------------------------------------------------------------
# main


def _memory_arg(value: str) -> str:
    try:
        memory_bytes(value)
    except HarnessError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value.upper()


def build_parser() -> argparse.ArgumentParser:
    """The argparse command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", choices=sorted(ARCHES), default="x86_64",
                        help="guest architecture (default x86_64)")
    sub = parser.add_subparsers(dest="command", required=True)

    def add_fetch_opts(p):
        p.add_argument("--abi", help="kernel ABI, e.g. 6.1.0-56 (default: the one "
                       "linux-image-<flavour>-dbg depends on)")
        p.add_argument("--force", action="store_true", help="download again")

    def add_capture_opts(p):
        p.add_argument("--timeout", type=float, default=BOOT_TIMEOUT,
                       help="seconds to wait for the guest to boot")
        p.add_argument("--memory", default=QEMU_MEMORY, type=_memory_arg,
                       help=f"guest memory, e.g. 4G or 16G (default {QEMU_MEMORY}); the capture "
                       "name gets it as a suffix when not the default (cloud-amd64-nokaslr-4G)")

    p = sub.add_parser("fetch", help="download and extract the kernel (and that arch's tools)")
    add_fetch_opts(p)
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("capture", help="boot under qemu and dump a vmcore")
    group = p.add_mutually_exclusive_group()
    for variant in VARIANTS:
        group.add_argument(f"--{variant}", dest="variant", action="store_const", const=variant,
                           help="crash the guest (sysrq-c) and dump it in panic()"
                           if variant == "panic-nokaslr" else None)
    p.set_defaults(variant="nokaslr", func=cmd_capture)
    add_capture_opts(p)

    p = sub.add_parser("all", help="fetch, then capture every plain variant (KASLR where it "
                       "exists, nokaslr)")
    add_fetch_opts(p)
    add_capture_opts(p)
    p.set_defaults(func=cmd_all)

    p = sub.add_parser("paths", help="print JSON of available captures")
    p.set_defaults(func=cmd_paths)

    p = sub.add_parser("extract", help="minidump extract each capture; compare crash, "
                       "vmcore-dmesg, drgn")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("check", help="extract, md_*.BIN build, dmesg, info, vmcoreinfo per "
                       "capture (checks.py)")
    p.add_argument("names", nargs="*", help="captures or variants; default all plain ones")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("verify", help="check a full dump with drgn/crash/vmcore-dmesg/"
                       "makedumpfile")
    p.add_argument("name", help="capture name (cloud-amd64-nokaslr) or variant (nokaslr)")
    p.add_argument("--install", action="store_true",
                   help="apt-get install crash, makedumpfile, kexec-tools first if missing")
    p.set_defaults(func=cmd_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: one-line error message and exit status 1 on failure."""
    args = build_parser().parse_args(argv)
    try:
        rc = args.func(args)
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
