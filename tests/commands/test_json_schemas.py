"""Every command's ``--json`` follows its published schema (minidump/data/schemas/).

Each command runs on every container of the sample, on a vmcore written from
it, on an ``extract`` of a synthetic x86_64 machine (with and without KASLR)
and on a vmlinux alone; ``triage`` on the samples (a damaged capture among
them) and on a generated fleet.  The schemas are checked as Draft 2020-12
schemas first, and a document with a field removed or mistyped must fail, so
the schemas are not vacuous.
"""

from __future__ import annotations

import copy
import json
from importlib import resources

import pytest

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema comes with the test extra")

from builders import SAMPLES, memory_args  # noqa: E402
from builders.machine import RAM_SIZE, make_elf_core, make_machine  # noqa: E402
from minidump.cli import main  # noqa: E402

NAMES = ("regions", "dmesg", "info", "triage", "vmcoreinfo", "report")

CAPTURES = {
    "mddir": [str(SAMPLES / "md")],
    "mddir-sahara": [str(SAMPLES / "md-nokelf")],
    "rawdump": [str(SAMPLES / "rawdump.img")],
    "ram": [str(SAMPLES / "ram" / "smem.bin"), *memory_args(SAMPLES / "ram")],
    "memory-set": [str(SAMPLES / "ram")],
    "item602": [str(SAMPLES / "item602.bin"), *memory_args(SAMPLES / "ram")],
}


def schema(name: str) -> dict:
    """The schema as the installed package ships it."""
    path = resources.files("minidump") / "data" / "schemas" / f"{name}.schema.json"
    return json.loads(path.read_text())


def validate(name: str, document) -> None:
    jsonschema.Draft202012Validator(schema(name)).validate(document)


def _json(capsys, *argv) -> tuple[int, str]:
    code = main([*argv, "--json"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out or captured.err


@pytest.mark.parametrize("name", NAMES)
def test_each_schema_is_a_versioned_draft_2020_12_schema(name):
    doc = schema(name)
    jsonschema.Draft202012Validator.check_schema(doc)
    assert doc["$id"] == f"urn:kminidump:schema:{name}:{doc['x-version']}"
    assert doc["x-version"].count(".") == 1


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("schemas") / "sample.vmcore"
    assert main(["build", "--from-table", str(SAMPLES / "md"), "-o", str(out), "-q"]) == 0
    return str(out)


@pytest.mark.parametrize("container", sorted(CAPTURES))
def test_every_command_on_every_container(capsys, tmp_path, container):
    args = CAPTURES[container]
    for command, name in (("regions", "regions"), ("info", "info"), ("dmesg", "dmesg"),
                          ("vmcoreinfo", "vmcoreinfo")):
        code, out = _json(capsys, command, *args)
        assert code in (0, 3), (command, out)
        validate(name, json.loads(out))
    code, out = _json(capsys, "build", "--from-table", *args, "-o", str(tmp_path / "v"))
    assert code in (0, 3)
    validate("regions", json.loads(out))


def test_every_command_on_a_vmcore(capsys, built):
    for command, name in (("regions", "regions"), ("info", "info"), ("dmesg", "dmesg"),
                          ("vmcoreinfo", "vmcoreinfo")):
        code, out = _json(capsys, command, built)
        assert code in (0, 3), (command, out)
        validate(name, json.loads(out))


@pytest.mark.parametrize("kaslr", [False, True], ids=["nokaslr", "kaslr"])
def test_extract_and_the_vmlinux_alone(capsys, tmp_path, kaslr):
    machine = make_machine(tmp_path, kaslr=kaslr)
    full = make_elf_core(machine, str(tmp_path / "full.vmcore"), [(0, RAM_SIZE)])
    regions = tmp_path / "my.regions"
    regions.write_text("jiffies_64\nlinux_banner 0x10\n")
    for i, profile in enumerate(([], ["--profile", "crash"], ["--regions", str(regions)])):
        code, out = _json(capsys, "extract", "--vmlinux", machine.vmlinux, full, *profile,
                          "-o", str(tmp_path / f"mini{i}.vmcore"))
        assert code in (0, 3), out
        validate("regions", json.loads(out))
    code, out = _json(capsys, "regions", "--vmlinux", machine.vmlinux)
    assert code in (0, 3), out
    validate("regions", json.loads(out))
    code, out = _json(capsys, "info", full, "--vmlinux", machine.vmlinux)
    validate("info", json.loads(out))
    code, out = _json(capsys, "vmcoreinfo", "--vmlinux", machine.vmlinux)
    assert code == 0
    validate("vmcoreinfo", json.loads(out))


def _triage_lines(capsys, *paths) -> list[dict]:
    code = main(["triage", *map(str, paths), "--json", "--workers", "1"])
    assert code in (0, 3)
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_triage_records_and_summary(capsys, tmp_path):
    from builders.fleet import make_fleet
    make_fleet(tmp_path / "uploads", count=12)
    for lines in (_triage_lines(capsys, SAMPLES.parent), _triage_lines(capsys, tmp_path)):
        assert lines[-1]["type"] == "summary"
        assert {line["status"] for line in lines[:-1]} >= {"ok"}
        for line in lines:
            validate("triage", line)


def test_triage_with_a_store_and_its_report(capsys, tmp_path):
    """With --db: the store's records, the summary's days, arches and store; report --json."""
    from builders.fleet import make_fleet
    make_fleet(tmp_path / "uploads", count=12)
    db = tmp_path / "fleet.sqlite"
    for _ in range(2):            # a first run, and a re-run that reads nothing
        lines = _triage_lines(capsys, tmp_path / "uploads", "--db", db)
        assert lines[-1]["store"]["found"] == 12 and lines[-1]["signatures"][0]["days"]
        for line in lines:
            validate("triage", line)
    code, out = _json(capsys, "report", str(db), "-o", str(tmp_path / "report.html"))
    assert code == 0
    validate("report", json.loads(out))


def test_the_schemas_reject_what_they_must(capsys):
    """A document missing a required field, or with a wrong type, does not validate."""
    code, out = _json(capsys, "regions", str(SAMPLES / "md"))
    doc = json.loads(out)
    broken = copy.deepcopy(doc)
    del broken["regions"][0]["paddr"]
    with pytest.raises(jsonschema.ValidationError):
        validate("regions", broken)
    broken = copy.deepcopy(doc)
    broken["regions"][0]["status"] = "lost"
    with pytest.raises(jsonschema.ValidationError):
        validate("regions", broken)
    code, out = _json(capsys, "dmesg", str(SAMPLES / "md"))
    records = json.loads(out)
    records[0]["seq"] = "11"
    with pytest.raises(jsonschema.ValidationError):
        validate("dmesg", records)
    lines = _triage_lines(capsys, SAMPLES / "md")
    lines[0]["status"] = "fine"
    with pytest.raises(jsonschema.ValidationError):
        validate("triage", lines[0])
