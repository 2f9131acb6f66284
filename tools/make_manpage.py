"""Write man/minidump.1 from the command line parser (argparse-manpage).

    python tools/make_manpage.py            # rewrite man/minidump.1
    python tools/make_manpage.py --check    # exit 1 if man/minidump.1 is out of date

The page is laid out at 80 columns whatever the terminal, and dated by the
package version rather than the day it was made, so the same parser gives the
same bytes. Read it with ``man -l man/minidump.1``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "man" / "minidump.1"


#: man indents body text by 7 columns: what it lays out verbatim must fit in 80 - 7 - 1
WIDTH = 72


def render() -> str:
    """The man page text for the current parser."""
    os.environ["COLUMNS"] = str(WIDTH + 2)   # argparse wraps usage lines at COLUMNS - 2
    from argparse_manpage.manpage import Manpage

    from minidump import __version__, cli
    parser = cli.build_parser(every=True)
    parser.prog = "minidump"
    page = Manpage(parser, _data={
        "project_name": "kminidump", "version": __version__, "date": f"version {__version__}",
        "description": "Linux kernel minidumps to small ELF vmcores for crash and drgn",
        "manual_title": "kminidump manual"})
    text = str(page)
    # the subcommands are commands, not positional arguments
    text = text.replace(".SH\nPOSITIONAL ARGUMENTS\n", ".SH COMMANDS\n")
    # usage lines are laid out by argparse: keep them as they are (man would refill them)
    text = re.sub(r"(\.SH COMMAND [^\n]*\n)(usage: .*?\n)\n",
                  lambda m: f"{m.group(1)}.nf\n{m.group(2)}.fi\n\n", text, flags=re.S)
    # the epilog as argparse-manpage writes it is filled (its lines run together):
    # replace it with every command's examples, laid out as --help lays them out at WIDTH
    head, sep, tail = text.partition(".SH COMMENTS\n")
    rest = tail.partition("\n.SH ")
    blocks = [cli.EXAMPLES.replace("examples:", "minidump:", 1)] + [
        _epilog(parser, name).replace("examples:", f"minidump {name}:", 1)
        for name in _commands()]
    formatter = cli.HelpFormatter("minidump")
    body = "\n".join(_roff(formatter._fill_text(block.rstrip("\n"), WIDTH, ""))
                     for block in blocks if block)
    out = head + ".SH EXAMPLES\n.nf\n" + body + "\n.fi\n"
    if rest[1]:
        out += ".SH " + rest[2]
    out += _sections()
    return out if sep else text


def _sections() -> str:
    """EXIT STATUS, ENVIRONMENT and SEE ALSO, from the tables the docs use too."""
    from minidump import cli
    out = [".SH EXIT STATUS"]
    for code, meaning in cli.EXIT_STATUS:
        out += [".TP", f"\\fB{_roff(str(int(code) if not isinstance(code, str) else code))}\\fR",
                _roff(meaning)]
    out.append(".SH ENVIRONMENT")
    for name, meaning in cli.ENVIRONMENT:
        out += [".TP", f"\\fB{name}\\fR", _roff(meaning)]
    out += [".SH SEE ALSO",
            "\\fBcrash\\fR(8), \\fBdrgn\\fR(1), \\fBmakedumpfile\\fR(8), "
            "\\fBvmcore\\-dmesg\\fR(8), \\fBreadelf\\fR(1)",
            ".PP",
            "The documentation (docs/ in the source tree, built with Sphinx): a tutorial on "
            "the bundled sample, how-to guides, the command and Python API reference, the "
            "JSON schemas and troubleshooting."]
    return "\n".join(out) + "\n"


def _commands() -> list[str]:
    from minidump.commands import COMMANDS
    return list(COMMANDS)


def _epilog(parser: argparse.ArgumentParser, name: str) -> str:
    from minidump import cli
    return cli.command_parsers(parser)[name].epilog or ""


def _roff(text: str) -> str:
    """Plain text as roff lines: backslashes, hyphens and leading dots escaped."""
    lines = []
    for line in text.splitlines():
        line = line.replace("\\", "\\e").replace("-", "\\-")
        lines.append("\\&" + line if line[:1] in (".", "'") else line)
    return "\n".join(lines)


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--check", action="store_true", help="only compare; exit 1 if stale")
    check = args.parse_args().check
    text = render()
    if check:
        current = PAGE.read_text() if PAGE.exists() else ""
        if current != text:
            print(f"{PAGE} is out of date: run python tools/make_manpage.py", file=sys.stderr)
            return 1
        return 0
    PAGE.parent.mkdir(exist_ok=True)
    PAGE.write_text(text)
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
