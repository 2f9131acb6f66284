"""Shell completion: the script ``minidump completion`` prints, run in a real shell.

bash: the script is sourced and its completion function called the way bash calls
it at a TAB, for subcommands, every option of every command, choices and file
names. zsh and tcsh: the script must at least parse in that shell (skipped when
the shell is not installed).
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from minidump import cli
from minidump.commands import COMMANDS
from minidump.commands.completion import script

bash = shutil.which("bash")


def _complete(tmp_path, *words: str, prog: str = "minidump") -> list[str]:
    """What TAB offers after ``words`` (the last one is being completed)."""
    path = tmp_path / "completion.bash"
    proc = subprocess.run([sys.executable, "-m", "minidump", "completion", "bash"],
                          capture_output=True, text=True, check=True)
    path.write_text(proc.stdout.replace("minidump", prog) if prog != "minidump"
                    else proc.stdout)
    words = (prog, *words)
    program = (f"source {path}\n"
               f"COMP_WORDS=({' '.join(repr(w) for w in words)})\n"
               "COMP_CWORD=$((${#COMP_WORDS[@]}-1)); COMP_LINE=\"${COMP_WORDS[*]}\"\n"
               "COMP_POINT=${#COMP_LINE}; COMPREPLY=()\n"
               f"_shtab_{prog} {prog} \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"\n"
               "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    out = subprocess.run([bash, "-c", program], capture_output=True, text=True,
                         cwd=tmp_path, check=True).stdout
    return sorted(line for line in out.splitlines() if line)


pytestmark = pytest.mark.skipif(bash is None, reason="needs bash")


def test_subcommands_complete(tmp_path):
    assert _complete(tmp_path, "") == sorted(COMMANDS)
    assert _complete(tmp_path, "tr") == ["triage"]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_of_every_command_completes(tmp_path, command):
    parser = cli.command_parsers(cli.build_parser(command))[command]
    options = {s for a in parser._actions for s in a.option_strings if s.startswith("--")}
    assert options >= {"--help", "--json"}
    assert set(_complete(tmp_path, command, "--")) == options


def test_choices_and_file_names_complete(tmp_path):
    (tmp_path / "md").mkdir()
    (tmp_path / "mini.vmcore").write_bytes(b"")
    assert _complete(tmp_path, "build", "--format", "") == sorted(
        ["auto", "mddir", "elf", "rawdump", "smem-blob", "ram", "memory"])
    assert _complete(tmp_path, "completion", "") == ["bash", "tcsh", "zsh"]
    assert "md" in _complete(tmp_path, "build", "--from-table", "m")
    assert _complete(tmp_path, "dmesg", "mi") == ["mini.vmcore"]
    assert _complete(tmp_path, "extract", "--vmlinux", "mi") == ["mini.vmcore"]


def test_the_script_follows_the_invoked_name():
    text = script("bash", "kminidump")
    assert "complete -o bashdefault -F _shtab_kminidump kminidump" in text


@pytest.mark.parametrize("shell", ["zsh", "tcsh"])
def test_other_shells_parse_their_script(tmp_path, shell):
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    path = tmp_path / f"completion.{shell}"
    path.write_text(script(shell, "minidump"))
    for name in COMMANDS:
        assert name in path.read_text()
    flag = ["-n"] if shell == "zsh" else ["-n", "-f"]
    proc = subprocess.run([shell, *flag, str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
