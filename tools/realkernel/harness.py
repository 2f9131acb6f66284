#!/usr/bin/env python3
"""Real-kernel capture harness for minidump.

Downloads a Debian ``-cloud-amd64`` kernel and its debug symbols, boots it
under QEMU/TCG with a tiny busybox initramfs, and writes ELF vmcores with
QEMU's ``dump-guest-memory`` (one boot with KASLR, one with ``nokaslr``).

Sub-commands::

    harness.py fetch            download + extract kernel, install qemu/busybox
    harness.py capture --nokaslr | --kaslr
    harness.py capture --panic-kaslr | --panic-nokaslr   sysrq-c crash, dumped in panic()
    harness.py all              fetch, then both captures
    harness.py paths            print JSON describing available captures
    harness.py verify NAME      check a capture with drgn, crash, makedumpfile
    harness.py extract          minidump extract each capture; crash log and drgn must match

Everything lands in the cache directory: ``$MINIDUMP_REALKERNEL_CACHE`` or
``~/.cache/minidump-realkernel``.  Only the Python standard library is used;
external programs are apt-get, apt-cache, dpkg-deb and qemu-system-x86_64.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
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
from pathlib import Path

FLAVOUR = "cloud-amd64"
META_DBG_PACKAGE = f"linux-image-{FLAVOUR}-dbg"
HOST_PACKAGES = {
    # executable that must exist -> Debian package providing it
    "qemu-system-x86_64": "qemu-system-x86",
    "busybox": "busybox-static",
}
VERIFY_PACKAGES = {"crash": "crash", "makedumpfile": "makedumpfile"}
BUSYBOX = "/bin/busybox"
READY_MARKER = "MINIDUMP-HARNESS-READY"
KMSG_LINES = (
    "minidump-harness: hello from userspace",
    "minidump-harness: second kmsg line",
    "minidump-harness: third kmsg line",
)
FW_CFG_MODULE = "kernel/drivers/firmware/qemu_fw_cfg.ko"
BOOT_TIMEOUT = 300.0
DUMP_TIMEOUT = 300.0
QEMU_MEMORY = "512M"
QEMU_SMP = "2"
CAPTURE_VARIANTS = {"kaslr": "", "nokaslr": "nokaslr"}
#: panic captures: the guest crashes itself with sysrq-c (panic() in drivers/tty/sysrq.c) and,
#: with panic=0, stays in panic()'s loop while QEMU dumps it
PANIC_VARIANTS = {"panic-kaslr": "", "panic-nokaslr": "nokaslr"}
PANIC_ARGS = "panic=0 panic_on_oops=1"
PANIC_MARKER = "---[ end Kernel panic"
CRASH_COMMAND = "echo c > /proc/sysrq-trigger"

INIT_SCRIPT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# qemu_fw_cfg is a module in Debian kernels; loading it makes the kernel
# publish its VMCOREINFO through the QEMU vmcoreinfo device, so that
# dump-guest-memory can put the VMCOREINFO note into the vmcore.
insmod /lib/modules/qemu_fw_cfg.ko || echo "minidump-harness: insmod qemu_fw_cfg failed"
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


def cache_dir() -> Path:
    """Return the cache directory (created if missing)."""
    env = os.environ.get("MINIDUMP_REALKERNEL_CACHE")
    path = Path(env) if env else Path.home() / ".cache" / "minidump-realkernel"
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
        raise HarnessError(f"{' '.join(cmd[:3])} failed: {tail}")
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
# apt


def apt_lists_present() -> bool:
    """True if apt already knows the cloud kernel meta package."""
    proc = subprocess.run(["apt-cache", "policy", META_DBG_PACKAGE],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    match = re.search(r"Candidate:\s*(\S+)", proc.stdout)
    return bool(match and match.group(1) != "(none)")


def ensure_apt_lists() -> None:
    """Run 'apt-get update' unless the package lists already have the kernel."""
    if not apt_lists_present():
        log("apt-get update")
        run(["apt-get", "update"])
        if not apt_lists_present():
            raise HarnessError(f"apt has no candidate for {META_DBG_PACKAGE}")


def ensure_packages(programs: dict[str, str]) -> list[str]:
    """apt-get install the packages whose program is missing; return them."""
    missing = sorted({pkg for prog, pkg in programs.items() if not shutil.which(prog)})
    if missing:
        ensure_apt_lists()
        log(f"apt-get install {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "install", "-y", "--no-install-recommends", *missing], env=env)
    return missing


def resolve_kernel(abi: str | None) -> tuple[str, str]:
    """Return (kernel release, package version) of the kernel to use.

    Without ``abi`` the release the ``linux-image-cloud-amd64-dbg`` meta
    package points at (Debian's current default) is chosen.
    """
    if abi:
        release = abi if abi.endswith(FLAVOUR) else f"{abi}-{FLAVOUR}"
        pkg = f"linux-image-{release}-dbg"
    else:
        proc = run(["apt-cache", "show", "--no-all-versions", META_DBG_PACKAGE])
        match = re.search(r"^Depends:.*?linux-image-(\S+)-dbg", proc.stdout, re.M)
        if not match:
            raise HarnessError(f"cannot parse Depends of {META_DBG_PACKAGE}")
        release = match.group(1)
        pkg = f"linux-image-{release}-dbg"
    proc = run(["apt-cache", "show", "--no-all-versions", pkg])
    match = re.search(r"^Version:\s*(\S+)", proc.stdout, re.M)
    if not match:
        raise HarnessError(f"package {pkg} not available")
    return release, match.group(1)


def download(pkg: str, version: str, dest: Path) -> dict:
    """apt-get download one package into dest; return size/time record."""
    start = time.monotonic()
    run(["apt-get", "download", f"{pkg}={version}"], cwd=dest)
    seconds = time.monotonic() - start
    debs = list(dest.glob(f"{pkg}_*.deb"))
    if len(debs) != 1:
        raise HarnessError(f"apt-get download {pkg} produced no single .deb")
    return {"package": pkg, "version": version, "deb": str(debs[0]),
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


# --------------------------------------------------------------------------
# fetch


def cmd_fetch(args: argparse.Namespace) -> dict:
    """Download and extract the kernel + debug info; install host tools."""
    cache = cache_dir()
    installed = ensure_packages(HOST_PACKAGES)
    ensure_apt_lists()
    release, version = resolve_kernel(args.abi)
    kdir = cache / release
    fetch_json = cache / "fetch.json"
    if fetch_json.exists() and not args.force:
        info = json.loads(fetch_json.read_text())
        if info.get("kernel_release") == release and all(
                Path(p).exists() for p in info["files"].values()):
            log(f"{release} already fetched (use --force to redo)")
            return info
    kdir.mkdir(parents=True, exist_ok=True)
    image_pkg = f"linux-image-{release}-unsigned"
    dbg_pkg = f"linux-image-{release}-dbg"
    files = {
        "vmlinuz": kdir / f"vmlinuz-{release}",
        "config": kdir / f"config-{release}",
        "fw_cfg_module": kdir / "qemu_fw_cfg.ko",
        "vmlinux": kdir / f"vmlinux-{release}",
        "system_map": kdir / f"System.map-{release}",
    }
    image_wanted = {
        rf"boot/vmlinuz-{re.escape(release)}": files["vmlinuz"],
        rf"boot/config-{re.escape(release)}": files["config"],
        rf"lib/modules/{re.escape(release)}/{re.escape(FW_CFG_MODULE)}": files["fw_cfg_module"],
    }
    # The System.map in the image package is a placeholder; the real one
    # ships in the -dbg package next to the debug vmlinux.
    dbg_wanted = {
        rf"usr/lib/debug/(boot/vmlinux-{re.escape(release)}"
        rf"|lib/modules/{re.escape(release)}/vmlinux)": files["vmlinux"],
        rf"usr/lib/debug/boot/System\.map-{re.escape(release)}": files["system_map"],
    }
    packages = []
    with tempfile.TemporaryDirectory(dir=cache, prefix="debs-") as tmp:
        for pkg, wanted in ((image_pkg, image_wanted), (dbg_pkg, dbg_wanted)):
            log(f"apt-get download {pkg}={version}")
            record = download(pkg, version, Path(tmp))
            start = time.monotonic()
            found = extract_members(Path(record["deb"]), wanted)
            record["extract_seconds"] = round(time.monotonic() - start, 2)
            missing = [pat for pat in wanted if pat not in found]
            if missing:
                raise HarnessError(f"{pkg}: no member matching {missing[0]}")
            record["deb"] = Path(record["deb"]).name
            packages.append(record)
            log(f"  {record['deb_bytes']} bytes in {record['download_seconds']}s, "
                f"extracted in {record['extract_seconds']}s")
    info = {
        "flavour": FLAVOUR,
        "kernel_release": release,
        "package_version": version,
        "packages": packages,
        "download_bytes": sum(p["deb_bytes"] for p in packages),
        "files": {key: str(path) for key, path in files.items()},
        "kernel_dir_bytes": dir_size(kdir),
        "host_packages_installed": installed,
        "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_json(fetch_json, info)
    log(f"wrote {fetch_json}")
    return info


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


def build_initramfs(dest: Path, fw_cfg_module: Path, crash: str = "") -> None:
    """Write a gzip'd newc initramfs with static busybox and our /init.

    The archive is generated in Python so no root, cpio or mknod is needed;
    /dev/console is included so that /init has a console before devtmpfs.
    """
    if not Path(BUSYBOX).exists():
        raise HarnessError(f"{BUSYBOX} missing (apt-get install busybox-static)")
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
        ("lib/modules/qemu_fw_cfg.ko", stat.S_IFREG | 0o644, fw_cfg_module.read_bytes(), (0, 0)),
        ("bin/busybox", stat.S_IFREG | 0o755, Path(BUSYBOX).read_bytes(), (0, 0)),
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


def capture_name(variant: str, memory: str = QEMU_MEMORY) -> str:
    """Capture base name, e.g. 'cloud-amd64-nokaslr', or 'cloud-amd64-nokaslr-4G' when the
    guest's memory is not the default 512M."""
    suffix = "" if memory_bytes(memory) == memory_bytes(QEMU_MEMORY) else f"-{memory}"
    return f"{FLAVOUR}-{variant}{suffix}"


def memory_bytes(size: str) -> int:
    """Bytes of a QEMU ``-m`` size (``512M``, ``4G``, ``16G``; a bare number is MiB)."""
    match = re.fullmatch(r"(\d+)([MG]?)", size.strip().upper())
    if not match:
        raise HarnessError(f"bad memory size {size!r} (use e.g. 512M, 4G, 16G)")
    return int(match.group(1)) << (30 if match.group(2) == "G" else 20)


def qemu_command(kernel: Path, initrd: Path, cmdline: str, qmp: Path,
                 console: Path, memory: str = QEMU_MEMORY) -> list[str]:
    """The qemu-system-x86_64 command line used for a capture."""
    return [
        "qemu-system-x86_64", "-accel", "tcg", "-machine", "pc",
        "-m", memory, "-smp", QEMU_SMP,
        "-nodefaults", "-display", "none", "-monitor", "none", "-no-reboot",
        "-kernel", str(kernel), "-initrd", str(initrd), "-append", cmdline,
        "-device", "vmcoreinfo",
        "-qmp", f"unix:{qmp},server=on,wait=off",
        "-serial", f"file:{console}",
    ]


def vmcoreinfo_from_elf(path: Path) -> dict[str, str]:
    """Return the VMCOREINFO key/values of an ELF64 core file ({} if absent)."""
    with open(path, "rb") as f:
        ehdr = f.read(64)
        if ehdr[:4] != b"\x7fELF" or ehdr[4] != 2:
            return {}
        phoff, = struct.unpack_from("<Q", ehdr, 32)
        phentsize, phnum = struct.unpack_from("<HH", ehdr, 54)
        f.seek(phoff)
        phdrs = f.read(phentsize * phnum)
        for i in range(phnum):
            p_type, _, p_offset, _, _, p_filesz = struct.unpack_from(
                "<IIQQQQ", phdrs, i * phentsize)
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
    cache = cache_dir()
    info = read_json(cache / "fetch.json")
    files = {k: Path(v) for k, v in info["files"].items()}
    variant = args.variant
    memory = getattr(args, "memory", QEMU_MEMORY)
    name = capture_name(variant, memory)
    need = memory_bytes(memory) + (1 << 30)
    if shutil.disk_usage(cache).free < need:
        raise HarnessError(f"{cache}: less than {need >> 30} GiB free for a {memory} dump")
    vmcore = cache / f"{name}.vmcore"
    console = cache / f"{name}.console.log"
    panic = variant in PANIC_VARIANTS
    initrd = cache / (f"initramfs-{info['kernel_release']}" + ("-panic" if panic else "")
                      + ".cpio.gz")
    build_initramfs(initrd, files["fw_cfg_module"], CRASH_COMMAND if panic else "")
    extra = PANIC_VARIANTS[variant] if panic else CAPTURE_VARIANTS[variant]
    cmdline = " ".join(filter(None, ["console=ttyS0", PANIC_ARGS if panic else "panic=-1",
                                     extra]))
    for stale in (vmcore, console):
        stale.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="mdh-") as tmp:
        sock = Path(tmp) / "qmp.sock"
        cmd = qemu_command(files["vmlinuz"], initrd, cmdline, sock, console, memory)
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
    record = {
        "name": name,
        "variant": variant,
        "panic": panic,
        "kernel_release": info["kernel_release"],
        "package_version": info["package_version"],
        "vmlinux": str(files["vmlinux"]),
        "system_map": str(files["system_map"]),
        "vmlinuz": str(files["vmlinuz"]),
        "vmcore": str(vmcore),
        "vmcore_bytes": vmcore.stat().st_size,
        "console_log": str(console),
        "cmdline": cmdline,
        "memory": memory,
        "qemu_command": cmd,
        "boot_seconds": result["boot_seconds"],
        "dump_seconds": result["dump_seconds"],
        "vmcoreinfo_present": bool(vmcoreinfo),
        "kerneloffset": vmcoreinfo.get("KERNELOFFSET"),
        "osrelease": vmcoreinfo.get("OSRELEASE"),
        "build_id": vmcoreinfo.get("BUILD-ID"),
        "phys_base": vmcoreinfo.get("NUMBER(phys_base)"),
        "kmsg_lines": list(KMSG_LINES),
        "captured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
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
    return {"boot_seconds": round(boot_seconds, 2), "dump_seconds": round(dump_seconds, 2)}


# --------------------------------------------------------------------------
# paths / all


def available_captures() -> dict:
    """Describe the fetched kernel and the captures whose vmcore exists."""
    cache = cache_dir()
    result: dict = {"cache": str(cache), "kernel": None, "captures": {}}
    fetch_json = cache / "fetch.json"
    if fetch_json.exists():
        result["kernel"] = json.loads(fetch_json.read_text())
    result["captures"] = _records(cache, CAPTURE_VARIANTS)
    result["panics"] = _records(cache, PANIC_VARIANTS)
    return result


def _records(cache: Path, variants) -> dict:
    """The capture records of ``variants`` (any memory size) whose vmcore and vmlinux are
    still there."""
    found = {}
    for meta in sorted(cache.glob(f"{FLAVOUR}-*.json")):
        record = json.loads(meta.read_text())
        if record.get("variant") in variants and Path(record["vmcore"]).exists() \
                and Path(record["vmlinux"]).exists():
            found[record["name"]] = record
    return found


def cmd_paths(args: argparse.Namespace) -> None:
    """Print the JSON of the available captures on stdout."""
    print(json.dumps(available_captures(), indent=2, sort_keys=True))


def cmd_all(args: argparse.Namespace) -> None:
    """fetch, then capture with and without KASLR."""
    cmd_fetch(args)
    for variant in CAPTURE_VARIANTS:
        args.variant = variant
        cmd_capture(args)
    cmd_paths(args)


# --------------------------------------------------------------------------
# verify


DRGN_SCRIPT = """
release = prog["init_uts_ns"].name.release.string_().decode()
jiffies = int(prog["jiffies_64"].value_())
print("DRGN release=%s jiffies_64=%d" % (release, jiffies))
"""


def _check_drgn(rec: dict) -> tuple[str, str]:
    """drgn -c VMCORE -s VMLINUX reads init_uts_ns release and jiffies_64."""
    drgn = shutil.which("drgn")
    if not drgn:
        return "skipped", "drgn not installed (pip install drgn)"
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(DRGN_SCRIPT)
    try:
        cmd = [drgn, "-q", "-c", rec["vmcore"], "-s", rec["vmlinux"], script.name]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=600)
    finally:
        os.unlink(script.name)
    match = re.search(r"DRGN release=(\S+) jiffies_64=(\d+)", proc.stdout)
    if match and match.group(1) == rec["kernel_release"] and int(match.group(2)) > 0:
        return "pass", match.group(0)
    return "fail", proc.stdout.strip()[-400:]


def _check_crash(rec: dict) -> tuple[str, str]:
    """crash --minimal VMLINUX VMCORE prints the log incl. our kmsg line."""
    crash = shutil.which("crash")
    if not crash:
        return "skipped", "crash not installed (apt-get install crash)"
    cmd = [crash, "--minimal", rec["vmlinux"], rec["vmcore"]]
    proc = subprocess.run(cmd, input="log\nq\n", stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600)
    if KMSG_LINES[0] in proc.stdout:
        return "pass", f"'log' shows '{KMSG_LINES[0]}'"
    return "fail", proc.stdout.strip()[-400:]


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


def cmd_verify(args: argparse.Namespace) -> int:
    """Run drgn / crash / makedumpfile against a capture; print pass/fail.

    Status is pass, fail, skipped (tool missing) or partial (works only on a
    header-normalised copy of the vmcore). Exit status 1 if anything failed.
    """
    captures = available_captures()["captures"]
    name = args.name if args.name in captures else capture_name(args.name)
    if name not in captures:
        raise HarnessError(f"no capture named {args.name!r}; have {sorted(captures)}")
    rec = captures[name]
    if args.install:
        ensure_packages(VERIFY_PACKAGES)
    failed = 0
    for label, check in (("drgn", _check_drgn), ("crash", _check_crash),
                         ("makedumpfile", _check_makedumpfile)):
        start = time.monotonic()
        try:
            status, detail = check(rec)
        except (OSError, subprocess.SubprocessError) as exc:
            status, detail = "fail", str(exc)
        failed += status == "fail"
        print(f"{label:13s} {status:7s} ({time.monotonic() - start:.1f}s) {detail}")
    return 1 if failed else 0


# --------------------------------------------------------------------------
# extract: minidump extract + the same consumers on the full and the mini vmcore

EXTRACT_ARGS = ("--regions", "v3-default", "--profile", "crash")


def crash_log(vmlinux: str, vmcore: str) -> list[str]:
    """The lines `crash --minimal` prints for `log` (no prompt: stdin is not a tty)."""
    proc = subprocess.run(["crash", "--minimal", vmlinux, vmcore], input="log\nq\n",
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=600)
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


def run_extract(rec: dict, out: Path) -> tuple[float, int]:
    """`minidump extract` with the v3 default set; (seconds, exit status)."""
    cmd = [sys.executable, "-m", "minidump", "extract", "-q", "--force", "--vmlinux",
           rec["vmlinux"], rec["vmcore"], *EXTRACT_ARGS, "-o", str(out)]
    start = time.monotonic()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          cwd=Path(__file__).resolve().parents[2])
    if proc.returncode not in (0, 3):
        raise HarnessError(f"minidump extract failed: {proc.stdout.strip()[-300:]}")
    return time.monotonic() - start, proc.returncode


def cmd_extract(args: argparse.Namespace) -> int:
    """Extract a minidump of each capture; crash `log` and drgn must match the full dump."""
    captures = available_captures()["captures"]
    if not captures:
        raise HarnessError("no captures: run `harness.py all` first")
    failed = 0
    for name, rec in sorted(captures.items()):
        out = cache_dir() / f"{name}.mini.vmcore"
        seconds, rc = run_extract(rec, out)
        print(f"{name}: extract {seconds:.2f}s rc={rc} {out.stat().st_size} bytes "
              f"(full {rec['vmcore_bytes']})")
        full_log, mini_log = crash_log(rec["vmlinux"], rec["vmcore"]), crash_log(rec["vmlinux"],
                                                                                 str(out))
        same = full_log == mini_log and KMSG_LINES[0] in "\n".join(mini_log)
        print(f"  crash --minimal log: {'same' if same else 'DIFFERENT'} ({len(mini_log)} lines)")
        full, mini = drgn_values(rec["vmlinux"], rec["vmcore"]), drgn_values(rec["vmlinux"],
                                                                             str(out))
        print(f"  drgn release/jiffies_64: {mini} {'==' if full == mini else '!='} full {full}")
        failed += (not same) + (full != mini)
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
    sub = parser.add_subparsers(dest="command", required=True)

    def add_fetch_opts(p):
        p.add_argument("--abi", help="kernel ABI, e.g. 6.1.0-56 (default: the one "
                       f"{META_DBG_PACKAGE} depends on)")
        p.add_argument("--force", action="store_true", help="download again")

    def add_capture_opts(p):
        p.add_argument("--timeout", type=float, default=BOOT_TIMEOUT,
                       help="seconds to wait for the guest to boot")
        p.add_argument("--memory", default=QEMU_MEMORY, type=_memory_arg,
                       help=f"guest memory, e.g. 4G or 16G (default {QEMU_MEMORY}); the capture "
                       "name gets it as a suffix when not the default (cloud-amd64-nokaslr-4G)")

    p = sub.add_parser("fetch", help="download and extract the kernel")
    add_fetch_opts(p)
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("capture", help="boot under qemu and dump a vmcore")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--kaslr", dest="variant", action="store_const", const="kaslr")
    group.add_argument("--nokaslr", dest="variant", action="store_const", const="nokaslr")
    group.add_argument("--panic-kaslr", dest="variant", action="store_const",
                       const="panic-kaslr", help="crash the guest (sysrq-c) and dump it in panic()")
    group.add_argument("--panic-nokaslr", dest="variant", action="store_const",
                       const="panic-nokaslr")
    p.set_defaults(variant="nokaslr", func=cmd_capture)
    add_capture_opts(p)

    p = sub.add_parser("all", help="fetch, then capture --kaslr and --nokaslr")
    add_fetch_opts(p)
    add_capture_opts(p)
    p.set_defaults(func=cmd_all)

    p = sub.add_parser("paths", help="print JSON of available captures")
    p.set_defaults(func=cmd_paths)

    p = sub.add_parser("extract", help="minidump extract each capture; compare crash/drgn")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("verify", help="check a capture with drgn/crash/makedumpfile")
    p.add_argument("name", help="capture name (cloud-amd64-nokaslr) or variant (nokaslr)")
    p.add_argument("--install", action="store_true",
                   help="apt-get install crash and makedumpfile first if missing")
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
