"""Coverage-guided fuzzing of every reader, with atheris (libFuzzer).

    pip install atheris
    python tools/fuzz.py --list
    python tools/fuzz.py rawdump --seconds 120            # one target for two minutes
    python tools/fuzz.py all --seconds 60                 # every target in turn
    python tools/fuzz.py rawdump --truncate               # every byte-boundary truncation of the seeds
    python tools/fuzz.py rawdump --replay tests/hostile/corpus/rawdump-*.bin
    python tools/fuzz.py all --minutes 10 --corpus ~/.cache/minidump-fuzz   # accumulate runs

With ``--corpus DIR`` each target keeps its corpus in ``DIR/TARGET/`` across runs, so
coverage and executions accumulate; ``DIR/stats.json`` adds up the executions of every
run per target (libFuzzer's ``number_of_executed_units``), and each run prints the totals.

A target turns one byte string into an input (a file, a directory, a VMCOREINFO
text, a memory image), runs the reader and whatever consumes its result, and
accepts exactly two outcomes: a result, or a :class:`minidump.errors.MinidumpError`
whose message is one line.  Anything else -- another exception, a hang (libFuzzer
``-timeout``), memory past ``-rss_limit_mb`` -- is a finding; libFuzzer saves the
input as ``crash-*``/``timeout-*``/``oom-*`` in ``--artifacts`` (default
``fuzz-artifacts/``).  Seeds come from ``samples/`` and the test builders.

The targets live with the tests (``tests/builders/targets.py``); the hypothesis
tests in ``tests/hostile/test_fuzz.py`` call the same ones, so a finding
reproduces in the normal suite with ``run(target, data)``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from builders.targets import TARGETS, run, truncations, work  # noqa: E402


def _fuzz(name: str, seconds: int, artifacts: Path, extra: list[str],
          corpus_root: Path | None = None) -> None:
    import atheris
    target = TARGETS[name]
    corpus = (corpus_root / name) if corpus_root else work() / f"corpus-{name}"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(target.seeds()):
        (corpus / f"seed{i}").write_bytes(seed)
    max_len = max(len(s) for s in target.seeds()) * 2
    artifacts.mkdir(parents=True, exist_ok=True)
    args = [sys.argv[0], str(corpus), f"-max_total_time={seconds}", "-timeout=10",
            "-rss_limit_mb=1536", f"-max_len={max_len}", f"-artifact_prefix={artifacts}/{name}-",
            "-print_final_stats=1", *extra]
    for seed in target.seeds():   # imports every module the target reaches ...
        target.run(seed)
    atheris.instrument_all()       # ... so that their bytecode gets coverage feedback
    atheris.Setup(args, lambda data: target.run(data))
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", nargs="?", help="target name, or 'all'")
    parser.add_argument("--list", action="store_true", help="list the targets")
    parser.add_argument("--seconds", type=int, default=60, help="fuzzing time per target")
    parser.add_argument("--minutes", type=int, help="fuzzing time per target, in minutes")
    parser.add_argument("--corpus", type=Path,
                        help="keep each target's corpus and an executions ledger here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--truncate", action="store_true",
                        help="run every byte-boundary truncation of the seeds instead")
    parser.add_argument("--step", type=int, default=1, help="with --truncate: bytes between cuts")
    parser.add_argument("--replay", nargs="+", metavar="FILE", help="run these inputs once")
    parser.add_argument("--artifacts", type=Path, default=Path("fuzz-artifacts"))
    args, extra = parser.parse_known_args(argv)
    if args.list or not args.target:
        for t in TARGETS.values():
            print(f"{t.name:14} {t.what}")
        return 0
    names = list(TARGETS) if args.target == "all" else [args.target]
    for name in names:
        if name not in TARGETS:
            parser.error(f"unknown target {name!r}; see --list")
    if args.replay:
        for file in args.replay:
            outcomes = run(names[0], Path(file).read_bytes())
            print(f"{file}: ok" + "".join(f"\n  {line}" for line in outcomes))
        return 0
    if args.truncate:
        for name in names:
            start = time.monotonic()
            n = truncations(name, args.step)
            print(f"{name}: {n} truncations in {time.monotonic() - start:.1f} s, no finding")
        return 0
    seconds = args.minutes * 60 if args.minutes else args.seconds
    try:
        import atheris  # noqa: F401  (the fuzzing engine; an extra, not a dependency)
    except ImportError:
        print("fuzz.py: error: atheris is not installed (pip install atheris); without it "
              "use --truncate or --replay, or the hypothesis tests in tests/hostile",
              file=sys.stderr)
        return 2
    if args.child:   # libFuzzer owns this process until the time is up
        _fuzz(names[0], seconds, args.artifacts, extra, args.corpus)
        return 0
    totals, failed = {}, []
    for name in names:   # one child per target; its final stats go into the ledger
        executed, status = _run_child(name, seconds, args, extra)
        if status != 0:   # a finding (libFuzzer exits non-zero and saves the input) or a failure
            failed.append(f"{name} (exit {status})")
        if args.corpus is not None:
            totals[name] = _account(args.corpus, name, executed, seconds)
    for name, record in totals.items():
        print(f"{name:14} {record['executed']:>12,} executions in {record['runs']} runs "
              f"({record['seconds'] / 60:.0f} min)")
    if failed:
        print(f"fuzz.py: findings or failures in {', '.join(failed)}; inputs are saved under "
              f"{args.artifacts}/", file=sys.stderr)
        return 1
    return 0


def _run_child(name: str, seconds: int, args, extra: list[str]) -> tuple[int, int]:
    """Fuzz one target in a child process; its executed units (0 if it said none) and its
    exit status (libFuzzer's: non-zero after a crash, a timeout or an out-of-memory)."""
    argv = [sys.executable, __file__, name, "--child", "--seconds", str(seconds),
            "--artifacts", str(args.artifacts), *extra]
    if args.corpus is not None:
        argv += ["--corpus", str(args.corpus)]
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, errors="replace")
    executed = 0
    for line in proc.stderr:
        sys.stderr.write(line)
        match = re.match(r"stat::number_of_executed_units:\s*(\d+)", line)
        if match:
            executed = int(match.group(1))
    return executed, proc.wait()


def _account(root: Path, name: str, executed: int, seconds: int) -> dict:
    """Add one run to ``root/stats.json``; the target's running totals."""
    root.mkdir(parents=True, exist_ok=True)
    ledger = root / "stats.json"
    stats = json.loads(ledger.read_text()) if ledger.exists() else {}
    record = stats.setdefault(name, {"executed": 0, "runs": 0, "seconds": 0})
    record["executed"] += executed
    record["runs"] += 1
    record["seconds"] += seconds
    ledger.write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n")
    return record


if __name__ == "__main__":
    sys.exit(main())
