"""Pages made from the program itself, so they cannot fall behind it.

A page holds a marker line ``<!-- generated: NAME -->``; when Sphinx reads
the page, the marker is replaced by Markdown made from today's code:

- ``cli``: every command from the argparse parser (the man page and the
  completion scripts are made from the same parser): usage, description,
  options by group, and the examples of its ``--help``;
- ``exit-status`` and ``environment``: the tables in :mod:`minidump.cli`
  (the man page's EXIT STATUS and ENVIRONMENT come from them too).
"""

from __future__ import annotations

import argparse
import os
import re

MARKER = re.compile(r"^<!-- generated: ([\w-]+) -->$", re.M)
_SPECIAL = re.compile(r"([\\`*_\[\]<>|{}])")


def md(text: str) -> str:
    """Plain text as Markdown text: characters Markdown would read as markup escaped."""
    return _SPECIAL.sub(r"\\\1", text)


def _fence(text: str, info: str = "text") -> str:
    return f"```{info}\n{text.rstrip()}\n```\n"


def _option(action: argparse.Action) -> str:
    names = ", ".join(action.option_strings) or (action.metavar or action.dest)
    if action.option_strings and action.nargs != 0:
        metavar = action.metavar or (
            "{" + ",".join(map(str, action.choices)) + "}" if action.choices
            else action.dest.upper())
        if isinstance(metavar, tuple):
            metavar = " ".join(metavar)
        names += f" {metavar}"
    help_text = action.help or ""
    if "%(default)" in help_text:
        help_text = help_text % {"default": action.default}
    if action.choices and not action.option_strings and not isinstance(
            action, argparse._SubParsersAction):
        help_text = help_text or ", ".join(map(str, action.choices))
    return f"- `{names}`: {md(help_text)}"


def _command(name: str, parser: argparse.ArgumentParser, level: str) -> str:
    os.environ["COLUMNS"] = "90"       # usage lines as argparse wraps them at 88 columns
    out = [f"{level} minidump {name}".rstrip(), ""]
    out += [_fence(parser.format_usage()), ""]
    if parser.description:
        out += [md(" ".join(parser.description.split())), ""]
    for group in parser._action_groups:
        actions = [a for a in group._group_actions if a.help is not argparse.SUPPRESS
                   and not isinstance(a, argparse._SubParsersAction) and a.dest != "help"]
        if not actions:
            continue
        title = group.title or "options"
        out += [f"{title[:1].upper()}{title[1:]}:", ""]
        out += [_option(a) for a in actions] + [""]
    if parser.epilog:
        out += [_fence(parser.epilog), ""]
    return "\n".join(out)


def cli_reference() -> str:
    from minidump import cli
    from minidump.commands import COMMANDS
    parser = cli.build_parser(every=True)
    parser.prog = "minidump"
    sub = cli.command_parsers(parser)
    out = ["## Commands", "", "| command | what it does |", "|---|---|"]
    out += [f"| [`minidump {name}`](#minidump-{name}) | {md(summary)} |"
            for name, summary in COMMANDS.items()]
    top = _command("", parser, "##").replace("## minidump\n", "## minidump (every command)\n", 1)
    out += ["", top]
    for name in COMMANDS:
        parser_ = sub[name]
        parser_.prog = f"minidump {name}"
        out.append(_command(name, parser_, "##"))
    return "\n".join(out)


def exit_status() -> str:
    from minidump import cli
    rows = ["| status | meaning |", "|---|---|"]
    for code, meaning in cli.EXIT_STATUS:
        value = code if isinstance(code, str) else int(code)
        rows.append(f"| {value} | {md(meaning)} |")
    return "\n".join(rows) + "\n"


def environment() -> str:
    from minidump import cli
    rows = ["| variable | effect |", "|---|---|"]
    rows += [f"| `{name}` | {md(meaning)} |" for name, meaning in cli.ENVIRONMENT]
    return "\n".join(rows) + "\n"


GENERATORS = {"cli": cli_reference, "exit-status": exit_status, "environment": environment}


def _source_read(app, docname: str, source: list[str]) -> None:
    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise ValueError(f"{docname}: unknown generated section {name!r}")
        return GENERATORS[name]()
    source[0] = MARKER.sub(replace, source[0])


def setup(app):
    app.connect("source-read", _source_read)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
