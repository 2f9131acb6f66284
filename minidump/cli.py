"""Command line: parser assembly and the one mapping from errors to exit codes.

Each subcommand lives in :mod:`minidump.commands` and returns a document and
an :class:`ExitCode`; this module prints the document and turns errors into
one line on stderr.
"""

from __future__ import annotations

import argparse
import enum
import os
import sys

from minidump import __version__
from minidump.errors import MinidumpError, UsageError


class ExitCode(enum.IntEnum):
    """The exit statuses users' scripts rely on (docs/reference/exit-status.md)."""

    OK = 0          # done, nothing lost
    ERROR = 1       # error, nothing written
    USAGE = 2       # usage error
    LOST = 3        # written (or listed), but regions were lost or VMCOREINFO is absent
    INTERRUPTED = 130
    PIPE = 141      # the reader of stdout went away ("| head")


#: what each exit status means: the man page's EXIT STATUS and the docs' reference page
#: are made from this table
EXIT_STATUS = (
    (ExitCode.OK, "done, nothing lost"),
    (ExitCode.ERROR, "error, nothing written; one line on stderr: "
                     "minidump: error: FILE: offset 0xOFF (field): problem"),
    (ExitCode.USAGE, "usage error: a bad option, a missing input, an output that exists "
                     "without --force or that is an input"),
    (ExitCode.LOST, "written (or listed), but regions were missing, short, invalid or "
                    "encrypted, a blob was longer than its region, or VMCOREINFO is absent; "
                    "the report names them (info: some consumer lacks a key or a region; "
                    "triage: some captures were partial or errors)"),
    (ExitCode.INTERRUPTED, "interrupted (Ctrl-C); nothing half-written is left"),
    (ExitCode.PIPE, "the reader of the output went away (| head), in every command; a "
                    "closed or full stdout is 1 (docs/reference/exit-status-broken-pipe.md)"),
    ("128+N", "ended by signal N (SIGTERM, SIGHUP, SIGQUIT); nothing half-written is left; "
              "triage prints the records done so far"),
)

#: environment variables the program reads
ENVIRONMENT = (
    ("COLUMNS", "the width of tables and help (default: the terminal's; a pipe has no limit)"),
    ("NO_COLOR", "when set and not empty, no colour (as --color never); --color always "
                 "wins over it"),
)

EXAMPLES = """\
examples:
  minidump build --from-table md/ -o vmcore      # md_*.BIN blobs -> one ELF vmcore
  minidump regions rawdump.img                   # what is in a capture, without writing
  minidump dmesg md/                             # the kernel log of any capture
then:  crash --minimal vmlinux vmcore     drgn -c vmcore -s vmlinux
"""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help wrapped to the terminal, with example command lines kept whole.

    The description and prose in the epilog are wrapped to the width. An
    example line (an indented line under a bare ``heading:``) is never broken:
    when it does not fit, its ``# comment`` moves to a line of its own above it.
    ``then:`` lines list commands separated by three or more spaces; each goes
    on a line of its own when they do not fit together.
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import re
        import textwrap

        width = max(width, 40)
        out: list[str] = []
        lines = text.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            i += 1
            if not line.strip():
                out.append("")
                continue
            heading = not line.startswith(" ")
            if heading and re.match(r"^[\w ]+:\s*$", line):
                out.append(line)            # "examples:": what follows is verbatim
                while i < len(lines) and lines[i].startswith(" "):
                    group = [lines[i]]      # a command and its backslash continuations
                    i += 1
                    while (group[-1].split("  # ")[0].rstrip().endswith("\\")
                           and i < len(lines) and lines[i].startswith(" ")):
                        group.append(lines[i])
                        i += 1
                    out.extend(self._example(group, width))
                continue
            if heading and re.match(r"^\w+:  ", line):
                if len(line) <= width:
                    out.append(line)
                else:               # "then:" with several commands
                    head, _, rest = line.partition(":")
                    out.append(head + ":")
                    out.extend("  " + item for item in re.split(r"\s{3,}", rest.strip()))
                continue
            # prose: this line and its indented continuation lines, one paragraph
            para = [line.strip()]
            while heading and i < len(lines) and lines[i].startswith(" "):
                para.append(lines[i].strip())
                i += 1
            hanging = "  " if re.match(r"^\w[\w ]{0,30}: ", line) else ""  # "exit status: ..."
            out.extend(textwrap.wrap(" ".join(para), width, initial_indent=indent,
                                     subsequent_indent=indent + hanging,
                                     break_on_hyphens=False, break_long_words=False)
                       or [""])
        return "\n".join(out)

    @staticmethod
    def _example(group: list[str], width: int) -> list[str]:
        if all(len(line) <= width or "  # " not in line for line in group):
            return [line.rstrip() for line in group]
        comments, commands = [], []
        for line in group:
            command, _, comment = line.partition("  # ")
            commands.append(command.rstrip())
            if comment.strip():
                comments.append(comment.strip())
        lead = group[0][:len(group[0]) - len(group[0].lstrip())]
        return [f"{lead}# {'; '.join(comments)}", *commands]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(ExitCode.USAGE, f"{PROG}: error: {message}\n")


#: the name the program was invoked by (``minidump`` or ``kminidump``): usage and errors
#: use it
PROG = "minidump"


def _prog(argv0: str | None = None) -> str:
    name = os.path.basename(argv0 if argv0 is not None else sys.argv[0])
    return name if name in ("minidump", "kminidump") else "minidump"


def add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The options every command takes, before or after the subcommand's name.

    On the subcommand's parser they default to SUPPRESS, so a value given before
    the subcommand is not overwritten by the subcommand's default.
    """
    default = (lambda value: value) if top else (lambda value: argparse.SUPPRESS)
    group = parser.add_argument_group("global options (before or after the command)")
    group.add_argument("--debug", action="store_true", default=default(False),
                       help="show tracebacks")
    group.add_argument("--json", action="store_true", default=default(False),
                       help="print the report as JSON")
    group.add_argument("--quiet", "-q", action="store_true", default=default(False),
                       help="leave reports out when all is well (losses and errors still go "
                            "to stderr); the data asked for (dmesg, vmcoreinfo) still prints")
    group.add_argument("--color", choices=("auto", "always", "never"), default=default("auto"),
                       help="colour on a terminal (default: auto; NO_COLOR turns it off)")


def build_parser(command: str | None = None, *, every: bool = False) -> argparse.ArgumentParser:
    """The argument parser; only the module of ``command`` is imported (all with ``every``)."""
    from minidump.commands import COMMANDS, load

    parser = _Parser(prog=PROG,
                     description="Turn Linux kernel minidumps into small ELF vmcores that "
                                 "crash and drgn open.",
                     epilog=EXAMPLES, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    add_global_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, summary in COMMANDS.items():
        if name == command or every:
            p = load(name).add_parser(sub)
            add_global_options(p, top=False)
        else:  # listed in --help without importing it
            sub.add_parser(name, help=summary, add_help=False)
    return parser


def command_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands' parsers of a parser from :func:`build_parser`, by name. Only the
    named command's (all, with ``every=True``) are complete; the others are listing stubs."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _command_in(argv: list[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word that is one)."""
    from minidump.commands import COMMANDS
    return next((a for a in argv if a in COMMANDS), None)


def _error(message: str, kind: str = "error") -> None:
    """The one error line; paths and names in it came from captures, so it is made safe."""
    from minidump.report import safe
    if sys.stderr is None:
        return
    try:
        print(f"{PROG}: {kind}: {safe(message)}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _warn(message: str) -> None:
    _error(message, "warning")


class Terminated(BaseException):
    """A termination signal, raised where the program is so that outputs are cleaned up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: signals that end a run the way Ctrl-C does: temp files removed, nothing published
CLEANUP_SIGNALS = ("SIGTERM", "SIGHUP", "SIGQUIT")


def _on_signals():
    """Install the cleanup handlers (main thread only); returns what to restore."""
    import signal
    import threading
    if threading.current_thread() is not threading.main_thread():
        return []

    def terminate(signum, frame):
        raise Terminated(signum)
    saved = [(signal.SIGINT, signal.getsignal(signal.SIGINT))]   # restored as it was
    for name in CLEANUP_SIGNALS:
        number = getattr(signal, name, None)
        if number is not None:
            saved.append((number, signal.signal(number, terminate)))
    return saved


def main(argv: list[str] | None = None) -> int:
    import signal

    from minidump.files import PUBLISHED
    PUBLISHED.clear()     # this run's outputs only
    _prepare_streams()
    saved = _on_signals()
    code = ExitCode.ERROR
    try:
        code = _main(argv)
        return code
    except Terminated as exc:
        from minidump.files import PUBLISHED
        done = f"after writing {', '.join(PUBLISHED)}" if PUBLISHED else "nothing written"
        print(f"minidump: terminated by {signal.Signals(exc.signum).name}; {done}",
              file=sys.stderr)
        code = 128 + exc.signum
        return code
    finally:
        # a run stopped by a signal ignores the next ones until the process exits (the console
        # script: argv is None); called in-process, the caller's handlers come back
        if not (argv is None and code > 128 and code != ExitCode.PIPE):
            for number, handler in saved:
                signal.signal(number, handler)


#: documents that are reports about a run (``-q`` leaves them out); every other kind is the
#: data the user asked for (dmesg records, VMCOREINFO, a completion script), always printed
REPORTS = frozenset({"regions", "build", "info", "info-verbose", "triage"})


class StdoutError(Exception):
    """stdout cannot take the document: closed, full, or another write error."""


def _ascii_fallback(error: UnicodeEncodeError):
    """Codec error handler for a stdout that cannot encode what we print: box drawing and
    arrows as ASCII look-alikes, anything else as ``\\uNNNN``."""
    import unicodedata
    out = []
    for char in error.object[error.start:error.end]:
        name = unicodedata.name(char, "")
        if char in _ASCII:
            out.append(_ASCII[char])
        elif name.startswith("BOX DRAWINGS"):
            out.append("-" if "HORIZONTAL" in name and "VERTICAL" not in name else
                       "|" if "VERTICAL" in name and "HORIZONTAL" not in name else "+")
        else:
            out.append(char.encode("ascii", "backslashreplace").decode("ascii"))
    return "".join(out), error.end


_ASCII = {"\u2192": "->", "\u2190": "<-", "\u2014": "-", "\u2013": "-", "\u2026": "...",
          "\u00d7": "x", "\u2022": "*", "\u2713": "ok", "\u2717": "x", "\u2264": "<=",
          "\u2265": ">=", "\u00b5": "u"}


def _prepare_streams() -> None:
    """Streams that cannot encode UTF-8 (``PYTHONIOENCODING=ascii``, ``LC_ALL=C``) print ASCII
    look-alikes instead of raising UnicodeEncodeError after the work is done."""
    import codecs
    try:
        codecs.lookup_error("minidump-ascii")
    except LookupError:
        codecs.register_error("minidump-ascii", _ascii_fallback)
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        if stream is not None and encoding and not encoding.startswith("utf") \
                and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="minidump-ascii")
            except (ValueError, OSError):
                pass


def _print_document(document) -> None:
    """Print a document to stdout and flush it; StdoutError (BrokenPipeError for a reader
    gone away) when stdout cannot take it."""
    from minidump.report import show
    out = sys.stderr if document.kind == "losses" else sys.stdout
    name = "stderr" if out is sys.stderr else "stdout"
    if out is None or out.closed:
        raise StdoutError(f"{name} is closed")
    try:
        show(document, out)
        out.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise StdoutError(f"{name}: {exc.strerror or exc}") from exc
    except ValueError as exc:   # "I/O operation on closed file"
        raise StdoutError(f"{name}: {exc}") from exc


def _broken_pipe() -> int:
    """``| head`` went away: stop quietly with the one status for it (141, as SIGPIPE gives
    other tools; docs/reference/exit-status-broken-pipe.md)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())   # the exit-time flush must not fail again
    except (OSError, AttributeError, ValueError):
        pass
    return ExitCode.PIPE


def _main(argv: list[str] | None) -> int:
    global PROG
    PROG = _prog()
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(_command_in(argv))
    args = parser.parse_args(argv)
    import minidump.report as report
    report.COLOR = {"never": False, "always": True}.get(args.color)
    if not args.command:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    try:
        from minidump.commands import load
        from minidump.files import PUBLISHED
        document, code = load(args.command).run(args)
        if document is not None and args.quiet and not args.json and document.kind in REPORTS:
            document = None      # -q: the exit status says it; losses and data still print
        if document is not None:
            try:
                _print_document(document)
            except StdoutError as exc:
                if PUBLISHED:    # build/extract: the vmcore is there; its status stands
                    _warn(f"{exc}; the report was not printed, {', '.join(PUBLISHED)} "
                          "was written")
                    return int(code)
                _error(str(exc))
                return ExitCode.ERROR
        return int(code)
    except UsageError as exc:
        if args.debug:
            raise
        _error(str(exc))
        return ExitCode.USAGE
    except BrokenPipeError:  # "| head": stop quietly, as other tools do
        return _broken_pipe()
    except (MinidumpError, OSError) as exc:
        if args.debug:
            raise
        message = str(exc) if isinstance(exc, MinidumpError) else (
            f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc))
        _error(message)
        return ExitCode.ERROR
    except KeyboardInterrupt as exc:
        from minidump.files import PUBLISHED
        done = f"after writing {', '.join(PUBLISHED)}" if PUBLISHED else "nothing written"
        print(f"minidump: interrupted; {done}", file=sys.stderr)
        return 128 + getattr(exc, "signum", ExitCode.INTERRUPTED - 128)
