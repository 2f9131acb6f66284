"""Every console example in README.md and docs/ runs, against the wheel installed in a clean
venv (not this checkout's editable install), and prints what the page shows.

A console example is a fenced block with the info string ``console``: lines
starting with ``$ `` are commands (a trailing ``\\`` continues one), the
lines under a command are its output (stdout and stderr, as a terminal shows
them; tables at ``COLUMNS=100``).  In the shown output ``…`` stands for any
text within a line, and a line that is only ``…`` for any number of lines.
The examples of one page run in order in one directory: a copy of the
checkout's top (``samples/``, ``minidump/``, ...), so a page can use what an
earlier example of it made, and ``cd`` carries over to the next command.

An HTML comment on the line before a block says how to run it:

- ``<!-- example: realkernel -->``: needs the real-kernel harness's files
  (``tools/realkernel``); run only by the opt-in real-kernel tests
  (``MINIDUMP_REALKERNEL=1``), in a directory where the harness's captures and
  vmlinux files are linked under their names;
- ``<!-- example: needs TOOL -->``: skipped when TOOL is not installed;
- ``<!-- example: columns=N -->``: run at ``COLUMNS=N``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").rglob("*.md")
                                     if "_build" not in p.parts)]
FENCE = re.compile(r"(?:^<!-- example: (?P<how>[^>]*?) -->\n)?^```console\n(?P<body>.*?)^```$",
                   re.M | re.S)


@dataclass
class Example:
    page: Path
    line: int
    how: str
    commands: list[tuple[str, str]] = field(default_factory=list)   # (command, shown output)

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def parse(page: Path) -> list[Example]:
    text = page.read_text()
    out = []
    for match in FENCE.finditer(text):
        example = Example(page, text.count("\n", 0, match.start("body")), match["how"] or "")
        command, shown = None, []
        lines = match["body"].splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            i += 1
            if line.startswith("$ "):
                if command is not None:
                    example.commands.append((command, "\n".join(shown)))
                command, shown = line[2:], []
                while command.endswith("\\") and i < len(lines):
                    command = command + "\n" + lines[i]
                    i += 1
            elif command is not None:
                shown.append(line)
        if command is not None:
            example.commands.append((command, "\n".join(shown)))
        out.append(example)
    return out


EXAMPLES = [e for page in PAGES for e in parse(page)]


def matches(shown: str, actual: str) -> bool:
    """``actual`` is what ``shown`` shows, with ``…`` for elided text."""
    pattern = []
    for line in shown.split("\n") if shown else []:
        if line.strip() == "…":
            pattern.append(r"(?:[^\n]*\n)*?")
        else:
            pattern.append(".*?".join(map(re.escape, line.rstrip().split("…"))) + r"\n")
    text = "".join(line.rstrip() + "\n" for line in actual.splitlines())
    return re.fullmatch("".join(pattern), text, re.S) is not None


def run_page(examples: list[Example], workdir: Path, env: dict[str, str]) -> None:
    cwd = workdir
    for example in examples:
        columns = re.search(r"columns=(\d+)", example.how)
        run_env = dict(env, COLUMNS=columns.group(1) if columns else "100", TERM="dumb")
        for command, shown in example.commands:
            if command.startswith("cd ") and "\n" not in command and ";" not in command:
                cwd = (cwd / command[3:].strip()).resolve()
                continue
            proc = subprocess.run(["bash", "-c", "{ " + command + "\n} 2>&1"], cwd=cwd, env=run_env,
                                  capture_output=True, text=True, timeout=300,
                                  stdin=subprocess.DEVNULL)
            assert matches(shown, proc.stdout), (
                f"{example.id}: $ {command}\n--- shown ---\n{shown}\n--- printed ---\n"
                f"{proc.stdout}")


def _wanted(example: Example) -> str | None:
    """Why an example cannot run here, or None."""
    need = re.search(r"needs (\S+)", example.how)
    if need and shutil.which(need.group(1)) is None:
        return f"needs {need.group(1)}"
    return None


@pytest.mark.parametrize("page", sorted({e.page for e in EXAMPLES if "realkernel" not in e.how}),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_console_examples(installed, tmp_path, page):
    examples = [e for e in EXAMPLES if e.page == page and "realkernel" not in e.how]
    skipped = [(e.id, _wanted(e)) for e in examples if _wanted(e)]
    workdir = tmp_path / "checkout"
    shutil.copytree(installed.checkout, workdir, symlinks=True)
    run_page([e for e in examples if not _wanted(e)], workdir, installed.env())
    if skipped:
        pytest.skip(f"ran the others; skipped {skipped}")


def test_every_example_is_found():
    """The parser sees the blocks the pages have (a typo in a fence would hide one)."""
    for page in PAGES:
        text = page.read_text()
        assert len([e for e in EXAMPLES if e.page == page]) == text.count("```console\n"), page
    assert sum(len(e.commands) for e in EXAMPLES) >= 20


def test_the_matcher():
    assert matches("a\n…\nd", "a\nb\nc\nd\n") and matches("a…c", "abbbc\n")
    assert not matches("a\nd", "a\nb\nd\n") and not matches("a…c", "abd\n")
    assert matches("", "") and not matches("", "x\n")
    assert matches("a\n", "a\n\n") and not matches("a", "a\n\n")   # a blank last line counts


@pytest.mark.realkernel
def test_realkernel_examples(tmp_path):
    """The examples that need the harness's captures (x86_64), where its files are linked by
    name and its kernel's vmlinux as ``vmlinux``; an example whose input is not in the
    harness's cache (another arch's capture) is left out."""
    import sys

    from builders.realkernel import _paths
    record = _paths()
    names: dict[str, str] = {}

    def collect(value):
        if isinstance(value, str) and os.path.isfile(value):
            names.setdefault(os.path.basename(value), value)
        elif isinstance(value, dict):
            for v in value.values():
                collect(v)
        elif isinstance(value, list):
            for v in value:
                collect(v)
    collect(record)
    vmlinux = sorted(n for n in names if n.startswith("vmlinux-"))
    if vmlinux:
        names["vmlinux"] = names[vmlinux[0]]
    for name, path in names.items():
        (tmp_path / name).symlink_to(path)
    (tmp_path / "samples").symlink_to(ROOT / "samples")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    ran = []
    for example in (e for e in EXAMPLES if "realkernel" in e.how):
        text = " ".join(c for c, _ in example.commands)
        made = set(re.findall(r"-o\s+(\S+)", text))
        inputs = {w for w in re.findall(r"[\w.+-]+\.vmcore|\bvmlinux\b", text)} - made
        if all((tmp_path / name).exists() for name in inputs):
            run_page([example], tmp_path, env)
            ran.append(example.id)
    print("ran:", ", ".join(ran))
    if not ran:
        pytest.skip("no example's files are in the harness's cache")
