"""What crashed: panic triage from the kernel log alone (no vmlinux, no I/O).

The input is the log as :class:`~minidump.kernel.printk.Record` s (or any
objects with ``seq``, ``timestamp_ns``, ``caller`` and ``text``); the output is
a JSON-ready document.  The parser follows the kernel's own printk formats:

- ``kernel/panic.c``: ``Kernel panic - not syncing: %s``, its end marker
  ``---[ end Kernel panic - not syncing: %s ]---``, ``Kernel Offset:``, and the
  taint letters of ``taint_flags[]``; ``__warn``: ``WARNING: CPU: %d PID: %d at
  %s:%d %pS``;
- ``lib/dump_stack.c`` ``dump_stack_print_info``: ``CPU: %d PID: %d Comm: %.20s
  %s %s %.*s`` (``UID:`` since 6.10) and ``Hardware name: %s``;
- x86 ``arch/x86/kernel/dumpstack.c`` (``RIP: %04x:%pS``, ``Call Trace:``,
  ``<TASK>``/``<IRQ>``/``<NMI>`` markers, ``?`` for unreliable frames,
  ``__die_header``: ``%s: %04lx [#%d]``) and ``arch/x86/mm/fault.c`` (``BUG:
  kernel NULL pointer dereference, address: %px``, ``BUG: unable to handle page
  fault for address: %px``), ``traps.c`` (``general protection fault``);
- arm64 ``arch/arm64/mm/fault.c`` (``Unable to handle kernel %s at virtual
  address %016lx``), ``traps.c`` (``Internal error: %s: %016lx [#%d]``),
  ``process.c`` ``__show_regs`` (``pc : %pS``, ``lr : %pS``),
  ``stacktrace.c`` (``Call trace:``); arm (``PC is at``, ``LR is at``,
  ``X from Y+off/size`` unwinder lines) and riscv (``epc :``, `` ra :``,
  ``[<addr>] func+off/size``);
- ``lib/bug.c`` ``kernel BUG at %s:%u!``, ``kernel/watchdog.c`` (soft
  lockup) and ``watchdog_hld.c`` (hard LOCKUP), ``kernel/hung_task.c``,
  ``kernel/rcu/tree_stall.h``, ``mm/oom_kill.c``, ``drivers/tty/sysrq.c``.

The **crash signature** is a hash of a human-readable basis: the event kind,
the faulting function and the next few reliable call-trace functions, with
offsets, sizes, addresses, module build ids and compiler suffixes
(``.cold``, ``.isra.0``, ``.constprop.0``, ``.part.0``) removed, and frames of
the reporting machinery (``dump_stack``, ``panic``, ``die``, ``__warn``, the
scheduler's ``__schedule``, ...) skipped.  KASLR offsets, timestamps, PIDs
and minor rebuilds therefore leave it unchanged; a different faulting
function changes it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Iterable

#: kernel/panic.c taint_flags[] order: bit i has letter TAINT_LETTERS[i]
TAINT_NAMES = {
    "P": "PROPRIETARY_MODULE", "F": "FORCED_MODULE", "S": "CPU_OUT_OF_SPEC",
    "R": "FORCED_RMMOD", "M": "MACHINE_CHECK", "B": "BAD_PAGE", "U": "USER", "D": "DIE",
    "A": "OVERRIDDEN_ACPI_TABLE", "W": "WARN", "C": "CRAP", "I": "FIRMWARE_WORKAROUND",
    "O": "OOT_MODULE", "E": "UNSIGNED_MODULE", "L": "SOFTLOCKUP", "K": "LIVEPATCH",
    "X": "AUX", "T": "RANDSTRUCT", "N": "TEST", "J": "FWCTL",
}
TAINT_LETTERS = "".join(TAINT_NAMES)
#: how many frames after the faulting function go into the signature
SIGNATURE_FRAMES = 4
#: frames kept per trace (a corrupt log could hold any number)
MAX_FRAMES = 256
#: a report's lines lie within this many lines of its header
MAX_REPORT_LINES = 400

#: frames of the reporting machinery, never the bug itself
NOISE = frozenset("""
dump_stack dump_stack_lvl show_stack show_trace_log_lvl dump_backtrace show_regs
__show_regs panic vpanic nmi_panic __warn warn_slowpath_fmt warn_slowpath_null report_bug
handle_bug exc_invalid_op asm_exc_invalid_op die __die die_body oops_end do_trap do_error_trap
do_int3 exc_int3 bug_handler call_break_hook brk_handler do_debug_exception el1_dbg
el1h_64_sync_handler el1h_64_sync arm64_notify_die arm64_skip_faulting_instruction
__do_kernel_fault die_kernel_fault do_page_fault do_translation_fault do_mem_abort el1_abort
page_fault_oops kernelmode_fixup_or_oops no_context __bad_area_nosemaphore bad_area_nosemaphore
do_user_addr_fault exc_page_fault asm_exc_page_fault exc_general_protection
asm_exc_general_protection do_general_protection unwind_backtrace check_panic_on_warn
__schedule schedule schedule_timeout schedule_preempt_disabled io_schedule
io_schedule_timeout context_switch __switch_to __switch_to_asm sched_show_task
show_state_filter nmi_cpu_backtrace nmi_trigger_cpumask_backtrace
arch_trigger_cpumask_backtrace watchdog_timer_fn
""".split())
_SUFFIX = re.compile(r"(\.(cold|isra|constprop|part|lto_priv|llvm|localalias)(\.\d+)*)+$")

_FRAME = re.compile(
    r"^(?P<unreliable>\? )?(?:\[<(?P<addr>[0-9a-f]+)>\] )?(?P<func>[^\s+()\[\]]+)"
    r"\+(?P<off>0x[0-9a-f]+)/(?P<size>0x[0-9a-f]+)"
    r"(?: \[(?P<mod>[^\]\s]+)(?: [0-9a-f]+)?\])?(?: \((?P<mark>[A-Z])\))?\s*$")
#: arm unwinder: "callee from caller+0x10/0x14" (5.x+) and "[<c01>] (callee) from [<c02>] (caller+..)"
_ARM_FROM = re.compile(
    r"^(?:\[<[0-9a-f]+>\] )?\(?(?P<callee>[^\s()]+?)\)?(?: \[(?P<mod>[^\]\s]+)\])? from (?:\[<[0-9a-f]+>\] )?\(?"
    r"(?P<caller>[^\s()]+?)\)?$")
_LOCATION = re.compile(
    r"^(?:\[<[0-9a-f]+>\] ?)*(?P<func>[^\s+()\[\]]+)\+(?P<off>0x[0-9a-f]+)/(?P<size>0x[0-9a-f]+)"
    r"(?: \[(?P<mod>[^\]\s]+)(?: [0-9a-f]+)?\])?")
_CPU = re.compile(
    r"^CPU: (?P<cpu>\d+) (?:UID: (?P<uid>\d+) )?PID: (?P<pid>\d+) Comm: (?P<comm>.*?) "
    r"(?:Not tainted|Tainted: (?P<flags>[A-Z ]*?)) +(?P<release>\S+)(?: (?P<version>#.*))?$")
_TAINT_LINE = re.compile(r"^Tainted: (?P<list>(?:\[[A-Z]\]=\w+(?:, )?)+)$")
_MODULES = re.compile(r"^Modules linked in:(?P<mods>.*)$")
_MODULE = re.compile(r"(?P<name>[\w-]+)(?:\((?P<flags>[A-Z+-]+)\))?")
_TRACE = re.compile(r"^(Call Trace|Call trace|Backtrace):\s*$")
_MARKER = re.compile(r"^<(?P<close>/)?(?P<what>TASK|IRQ|NMI|SOFTIRQ|EOI|#\w+|\w+_STACK)>$")
_DIE = re.compile(
    r"^(?:Oops: |Internal error: )?(?P<what>[A-Za-z][\w ,.'-]*?)(?::? (?P<code>[0-9a-f]+))? "
    r"\[#(?P<n>\d+)\]")
_PANIC = re.compile(r"^Kernel panic - not syncing: ?(?P<message>.*)$")
_PANIC_END = re.compile(r"^---\[ end Kernel panic - not syncing: ?(?P<message>.*?) \]---")
_KERNEL_OFFSET = re.compile(r"^Kernel Offset: (?P<offset>0x[0-9a-f]+|disabled)")
_END_TRACE = re.compile(r"^---\[ end trace")

#: (kind, pattern): the first match starts an event; order matters
EVENTS: tuple[tuple[str, re.Pattern], ...] = tuple((kind, re.compile(p)) for kind, p in (
    ("null-pointer-dereference", r"^BUG: kernel NULL pointer dereference, address: (?P<address>\w+)"),
    ("null-pointer-dereference",
     r"^BUG: unable to handle kernel NULL pointer dereference at (?P<address>\w+)"),
    ("null-pointer-dereference",
     r"^Unable to handle kernel NULL pointer dereference at virtual address (?P<address>\w+)"),
    ("paging-request", r"^BUG: unable to handle page fault for address: (?P<address>\w+)"),
    ("paging-request", r"^BUG: unable to handle kernel paging request at (?P<address>\w+)"),
    ("paging-request",
     r"^Unable to handle kernel (?P<what>.+?) at virtual address (?P<address>\w+)"),
    ("general-protection-fault",
     r"^(?:Oops: )?general protection fault(?P<what>[^:]*(?:: 0x[0-9a-f]+)?): "
     r"(?P<code>[0-9a-f]+) \[#(?P<n>\d+)\]"),
    ("soft-lockup", r"BUG: soft lockup - CPU#(?P<cpu>\d+) stuck for (?P<seconds>\d+)s! "
                    r"\[(?P<comm>.*):(?P<pid>\d+)\]"),
    ("hard-lockup", r"Watchdog detected hard LOCKUP on cpu (?P<cpu>\d+)"),
    ("hung-task", r"^INFO: task (?P<comm>.*):(?P<pid>\d+) blocked for more than "
                  r"(?P<seconds>\d+) seconds"),
    ("rcu-stall", r"^(?:rcu: )?INFO: (?P<flavour>\S+) (?:detected stalls on CPUs/tasks|"
                  r"self-detected stall on CPU|detected expedited stalls)"),
    ("oom-kill", r"^(?P<comm>.+) invoked oom-killer: (?P<what>.*)$"),
    ("oom-kill", r"^(?:Memory cgroup )?[Oo]ut of memory: Kill(?:ed)? process (?P<pid>\d+) "
                 r"\((?P<comm>.*?)\)"),
    ("kernel-bug", r"^kernel BUG at (?P<file>[^:]+):(?P<line>\d+)!"),
    ("warning", r"^WARNING: CPU: (?P<cpu>\d+) PID: (?P<pid>\d+) at (?P<file>[^:\s]+):"
                r"(?P<line>\d+) (?P<location>.+)$"),
    ("warning", r"^WARNING: (?P<file>[^:\s]+):(?P<line>\d+) at (?P<location>\S+?),? "
                r"CPU#(?P<cpu>\d+): (?P<comm>.*)/(?P<pid>\d+)$"),
    ("warning", r"^WARNING: at (?P<file>[^:\s]+):(?P<line>\d+) (?P<location>.+)$"),
    ("sysrq-crash", r"^(?:sysrq|SysRq) ?: Trigger a crash"),
    ("nmi-backtrace", r"^NMI backtrace for cpu (?P<cpu>\d+)"),
    ("bug", r"^BUG: (?P<what>.+)$"),
))
#: any of EVENTS, without their groups: one search rules most log lines out at once
_ANY_EVENT = re.compile("|".join("(?:" + re.sub(r"\(\?P<\w+>", "(?:", p.pattern) + ")"
                                 for _, p in EVENTS))
#: the die() line that follows a fault report joins it instead of starting an event
_JOINS_DIE = {"null-pointer-dereference", "paging-request", "kernel-bug", "bug"}
#: events that report and never bring the machine down by themselves
_MINOR = {"warning", "nmi-backtrace"}


@dataclass
class _Line:
    seq: int | None
    timestamp_ns: int | None
    caller: str | None
    text: str
    index: int


def _lines(records: Iterable) -> list[_Line]:
    out: list[_Line] = []
    for record in records:
        for part in record.text.split("\n"):
            out.append(_Line(record.seq, record.timestamp_ns, record.caller, part, len(out)))
    return out


def location(text: str) -> dict | None:
    """``func+0x10/0x20 [mod]`` (as ``%pS`` prints it) as a frame dict; None if not symbolic."""
    match = _LOCATION.match(text.strip())
    if match is None:
        return None
    return _frame(match, reliable=True)


def _frame(match: re.Match, *, reliable: bool, context: str | None = None) -> dict:
    return {"function": match["func"], "offset": int(match["off"], 16),
            "size": int(match["size"], 16), "module": match["mod"], "reliable": reliable,
            "context": context}


def frame_text(frame: dict) -> str:
    """A frame as the log printed it: ``? func+0x10/0x20 [mod]``."""
    text = frame["function"]
    if frame.get("offset") is not None:
        text += f"+{frame['offset']:#x}/{frame['size']:#x}"
    if frame.get("module"):
        text += f" [{frame['module']}]"
    return ("" if frame.get("reliable", True) else "? ") + text


def decode_taint(letters: str) -> dict:
    """Taint letters (``G``, ``P``, ``W``, ...) as flags, names and the ``tainted_mask`` bits."""
    flags = "".join(c for c in TAINT_LETTERS if c in letters)
    mask = sum(1 << TAINT_LETTERS.index(c) for c in flags)
    return {"flags": flags, "names": [TAINT_NAMES[c] for c in flags], "mask": mask}


def decode_taint_mask(mask: int) -> dict:
    letters = "".join(c for i, c in enumerate(TAINT_LETTERS) if mask >> i & 1)
    return decode_taint(letters) | {"mask": mask}


def base_name(function: str) -> str:
    """A function name without compiler suffixes (``.cold``, ``.isra.0``, ...)."""
    return _SUFFIX.sub("", function)


class _Event:
    def __init__(self, kind: str, line: _Line, fields: dict) -> None:
        self.kind, self.line, self.fields = kind, line, {k: v for k, v in fields.items() if v}
        self.die: str | None = None
        self.oops: int | None = None
        self.context: dict = {}
        self.pc = self.lr = None
        self.frames: list[dict] = []
        self.modules: list[dict] | None = None
        self.trace_state = "none"         # none, open, closed, truncated
        self.truncated = False
        self.lines = 0

    def document(self) -> dict:
        return {"kind": self.kind, "title": self.line.text, "seq": self.line.seq,
                "timestamp_ns": self.line.timestamp_ns, "caller": self.line.caller,
                "detail": self.fields, "die": self.die, "oops": self.oops,
                "context": self.context or None, "pc": self.pc, "lr": self.lr,
                "frames": self.frames, "modules": self.modules,
                "trace_truncated": self.truncated, "primary": False}


class _Parser:
    def __init__(self) -> None:
        self.events: list[_Event] = []
        self.panic: dict | None = None
        self.kernel_offset: str | None = None
        self.notes: list[str] = []
        self.current: _Event | None = None
        self.before_first = {"frames": 0, "trace": False}

    def feed(self, line: _Line) -> None:
        text = line.text.strip()
        if not text:
            return
        match = _PANIC_END.match(text)
        if match:
            if self.panic is None:
                self.panic = {"message": match["message"], "seq": None, "timestamp_ns": None,
                              "ended": True, "header_lost": True}
                self.notes.append("the log holds the end of a panic but not its 'Kernel panic' "
                                  "record")
            else:
                self.panic["ended"] = True
            self._close_trace()
            return
        match = _PANIC.match(text)
        if match and (self.panic is None or self.panic["header_lost"]):
            message = match["message"].rstrip()
            self.panic = {"message": message, "seq": line.seq, "timestamp_ns": line.timestamp_ns,
                          "ended": False, "header_lost": False}
            event = _Event("panic", line, {"message": message})
            self._start(event)
            return
        if match:
            return                              # a later panic() of the same crash prints nothing
        match = _KERNEL_OFFSET.match(text)
        if match:
            self.kernel_offset = match["offset"]
            return
        if self._event_header(line, text):
            return
        event = self.current
        if event is None or (event.line.caller and line.caller and line.caller != event.line.caller):
            if event is None:
                if _TRACE.match(text):
                    self.before_first["trace"] = True
                elif _FRAME.match(text):
                    self.before_first["frames"] += 1
            return
        event.lines += 1
        if event.lines > MAX_REPORT_LINES:
            return
        self._report_line(event, line, text)

    def _event_header(self, line: _Line, text: str) -> bool:
        event = self.current
        if event is not None and event.trace_state == "open" and _FRAME.match(text):
            return False
        for kind, pattern in (EVENTS if _ANY_EVENT.search(text) is not None else ()):
            match = pattern.search(text)
            if match is None:
                continue
            if kind == "oom-kill" and event is not None and event.kind == "oom-kill" and \
                    "pid" in match.groupdict() and event.lines < MAX_REPORT_LINES:
                event.fields.update({k: v for k, v in match.groupdict().items() if v})
                event.fields["killed"] = text
                return True
            fields = match.groupdict()
            if kind == "general-protection-fault":
                fields = {"what": "general protection fault" + (fields["what"] or ""),
                          "code": fields["code"]}
            new = _Event(kind, line, fields)
            if kind == "general-protection-fault":
                new.die, new.oops = text, int(match["n"])
            self._start(new)
            return True
        match = _DIE.match(text)
        if match and not text.startswith(("CPU:", "Modules")):
            if event is not None and event.kind in _JOINS_DIE and event.die is None \
                    and not event.frames:
                event.die, event.oops = text, int(match["n"])
                return True
            what = match["what"].lower()
            kind = "kernel-bug" if "bug" in what else "oops"
            new = _Event(kind, line, {"what": match["what"], "code": match["code"]})
            new.die, new.oops = text, int(match["n"])
            self._start(new)
            return True
        return False

    def _start(self, event: _Event) -> None:
        self._close_trace()
        self.events.append(event)
        self.current = event

    def _close_trace(self) -> None:
        if self.current is not None and self.current.trace_state == "open":
            self.current.trace_state = "closed"

    def _report_line(self, event: _Event, line: _Line, text: str) -> None:
        if event.trace_state == "open":
            if self._trace_line(event, text):
                return
            event.trace_state = "closed"
        match = _CPU.match(text)
        if match:
            if not event.context:
                event.context = {
                    "cpu": int(match["cpu"]), "pid": int(match["pid"]), "comm": match["comm"],
                    "uid": int(match["uid"]) if match["uid"] else None,
                    "release": match["release"], "version": match["version"],
                    "taint": decode_taint(match["flags"] or "") | {
                        "text": "Not tainted" if match["flags"] is None
                        else "Tainted: " + match["flags"].rstrip(), "source": "log (CPU line)"}}
            return
        if text.startswith("Hardware name: "):
            event.context.setdefault("hardware", text[len("Hardware name: "):])
            return
        match = _TAINT_LINE.match(text)
        if match and event.context:
            letters = "".join(re.findall(r"\[([A-Z])\]", match["list"]))
            event.context["taint"] = decode_taint(letters) | {
                "text": text, "source": "log (Tainted: line)"}
            return
        match = _MODULES.match(text)
        if match:
            if event.modules is None:
                event.modules = _modules(match["mods"])
            return
        for prefix, slot in (("RIP: ", "pc"), ("pc : ", "pc"), ("PC is at ", "pc"),
                             ("epc : ", "pc"), ("lr : ", "lr"), ("LR is at ", "lr"),
                             ("ra : ", "lr")):
            if text.startswith(prefix):
                rest = text[len(prefix):]
                if prefix == "RIP: ":
                    rest = rest.split(":", 1)[-1]
                where = location(rest)
                if where is not None and getattr(event, slot) is None:
                    setattr(event, slot, where)
                return
        if _TRACE.match(text):
            if event.trace_state == "none":
                event.trace_state = "open"
            return
        match = _FRAME.match(text)
        if match and match["addr"] and event.trace_state == "none":
            # riscv's die() prints "[<addr>] func+off/size" frames with no header
            event.trace_state = "open"
            self._trace_line(event, text)
            return
        if event.trace_state == "none" and _ARM_FROM.match(text) and "+0x" in text:
            # 32-bit arm's dump_stack() (6.x) starts "unwind_backtrace from show_stack+..."
            # with no "Backtrace:" header
            event.trace_state = "open"
            self._trace_line(event, text)
            return
        if _END_TRACE.match(text):
            self._close_trace()

    def _trace_line(self, event: _Event, text: str) -> bool:
        """One line inside a call trace; False when the trace has ended."""
        match = _MARKER.match(text)
        if match:
            event.fields.setdefault("_depth", 0)
            event.fields["_ctx"] = None if match["close"] else match["what"].lower()
            return True
        context = event.fields.get("_ctx")
        match = _FRAME.match(text)
        if match:
            if len(event.frames) < MAX_FRAMES:
                event.frames.append(_frame(match, reliable=match["unreliable"] is None,
                                           context=context))
            return True
        match = _ARM_FROM.match(text)
        if match:
            caller = _LOCATION.match(match["caller"])
            if not event.frames:
                event.frames.append({"function": match["callee"], "offset": None, "size": None,
                                     "module": match["mod"], "reliable": True, "context": None})
            if caller and len(event.frames) < MAX_FRAMES:
                event.frames.append(_frame(caller, reliable=True))
            return True
        # inside <TASK>/<IRQ> the user registers may follow the last frame
        return context is not None and not _TRACE.match(text)

    def finish(self, last: _Line | None) -> None:
        if self.current is not None and self.current.trace_state == "open":
            if last is not None and self.current.fields.get("_ctx") is not None:
                self.current.truncated = True
            elif last is not None and self.current.frames and last.index >= 0 and \
                    _FRAME.match(last.text.strip()):
                self.current.truncated = True
        for event in self.events:
            if event.trace_state == "open" and not event.frames:
                event.truncated = True
            event.fields.pop("_ctx", None)
            event.fields.pop("_depth", None)


def _modules(text: str) -> list[dict]:
    text = re.sub(r"\[last unloaded: [^\]]*\]", "", text)
    return [{"name": m["name"], "taint": m["flags"]} for m in _MODULE.finditer(text)]


def _primary(events: list[dict], panic: dict | None) -> int | None:
    if not events:
        return None
    if panic and "panic_on_warn" in panic["message"]:
        for i, event in enumerate(events):
            if event["kind"] == "warning":
                return i
    for i, event in enumerate(events):
        if event["kind"] not in _MINOR and event["kind"] != "panic":
            return i
    for i, event in enumerate(events):
        if event["kind"] == "panic":
            return i
    return 0


def signature(kind: str, function: str | None, frames: list[dict]) -> dict | None:
    """The crash signature: ``{"hash", "basis", "kind", "function", "frames"}``."""
    if function is None and not frames:
        return None
    names: list[str] = []
    fault = base_name(function) if function else None
    for frame in frames:
        if not frame["reliable"]:
            continue
        name = base_name(frame["function"])
        if name in NOISE or name == fault or (names and names[-1] == name):
            continue
        names.append(name)
        if len(names) == SIGNATURE_FRAMES:
            break
    basis = f"{kind}: {fault or '?'}" + "".join(f" < {n}" for n in names)
    digest = hashlib.sha256(basis.encode()).hexdigest()[:16]
    return {"hash": digest, "basis": basis, "kind": kind, "function": fault, "frames": names}


def _faulting(event: dict, frames: list[dict]) -> dict | None:
    """The faulting location: the PC the report printed, else the first frame that is no noise."""
    if event.get("pc"):
        return event["pc"]
    if event["kind"] == "warning":
        where = location(event["detail"].get("location", ""))
        if where:
            return where
    for frame in frames:
        if frame["reliable"] and base_name(frame["function"]) not in NOISE:
            return frame
    return None


def triage(records: Iterable, *, first_seq: int | None = None) -> dict:
    """The triage document of a kernel log (records oldest first).

    ``first_seq`` is the sequence number the log should start at (0 for a
    ring that never wrapped); records before the first one kept are reported
    as lost.
    """
    records = list(records)
    lines = _lines(records)
    parser = _Parser()
    for line in lines:
        parser.feed(line)
    parser.finish(lines[-1] if lines else None)
    events = [e.document() for e in parser.events]
    panic = parser.panic
    notes = list(parser.notes)
    seqs = [r.seq for r in records if r.seq is not None]
    lost = (seqs[0] - (first_seq or 0)) if seqs else 0
    if lost > 0:
        notes.append(f"the log wrapped: {lost} older records were overwritten (first kept "
                     f"record is seq {seqs[0]})")
    if parser.before_first["trace"] or parser.before_first["frames"]:
        notes.append("the log begins inside a report (call trace without its header): its "
                     "start was overwritten")
    primary = _primary(events, panic)
    doc: dict = {"panic": panic, "events": events, "primary": primary,
                 "event": None, "fault": None, "context": None, "pc": None, "lr": None,
                 "frames": [],
                 "modules": None, "signature": None, "kernel_offset": parser.kernel_offset,
                 "log": {"records": len(records), "first_seq": seqs[0] if seqs else None,
                         "last_seq": seqs[-1] if seqs else None, "lost": max(lost, 0),
                         "notes": notes}}
    if panic is None:
        notes.append("no 'Kernel panic - not syncing' record in the log"
                     + (" (it may have been overwritten)" if lost > 0 else ""))
    if primary is None:
        if not events:
            notes.append("no crash report (Oops, BUG, WARNING, lockup, ...) in the log")
        return doc
    event = events[primary]
    event["primary"] = True
    panic_event = next((e for e in events if e["kind"] == "panic"), None)
    frames = event["frames"]
    source = event
    if not frames and panic_event is not None and panic_event is not event:
        frames, source = panic_event["frames"], panic_event
    context = event["context"] or (panic_event or {}).get("context")
    modules = event["modules"] if event["modules"] is not None else next(
        (e["modules"] for e in events if e["modules"] is not None), None)
    fault = _faulting(event, frames)
    kind = event["kind"]
    if kind == "panic":
        kind = "panic"
    doc.update(event=kind, context=context, pc=event["pc"], lr=event["lr"], frames=frames,
               modules=modules, fault=fault,
               signature=signature(kind, fault["function"] if fault else None, frames))
    if source["trace_truncated"]:
        notes.append("the call trace is cut short: the log ends inside it")
    if not frames:
        notes.append("no call trace for the event in the log")
    return doc
