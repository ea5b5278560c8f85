"""Every invalid blueprint under tests/blueprints/invalid/ fails with exactly the problems in its .expected file.

A case is a file (`x.yaml`, `x.json`) or a folder `x/`; `x.expected` beside it holds the problem lines
as printed, with paths relative to the repository root. After changing a message on purpose, run
`UPDATE_EXPECTED=1 pytest tests/blueprint/test_invalid_blueprints.py` and review the diff by hand.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.blueprint.load import load_blueprint
from engine.cli import main
from engine.errors import BlueprintInvalid
from engine.types.registry import TypeRegistry

REPO = Path(__file__).resolve().parents[2]
INVALID = REPO / "tests" / "blueprints" / "invalid"
VALID = REPO / "tests" / "blueprints" / "valid"
UPDATE = os.environ.get("UPDATE_EXPECTED") == "1"
#: Problems that concern a whole file (or the whole blueprint) and so have no line.
UNLOCATED_CODES = {"source.empty", "source.missing", "schema.required"}


def case_name(path: Path) -> str:
    return path.name if path.is_dir() else path.stem


def cases(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.suffix != ".expected" and not p.name.startswith("."))


def shown(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def expected_lines(case: Path) -> list[str]:
    return (case.parent / f"{case_name(case)}.expected").read_text(encoding="utf-8").splitlines()


def problem_lines(case: Path) -> list[str]:
    with pytest.raises(BlueprintInvalid) as info:
        load_blueprint(case, TypeRegistry.with_builtins(), display_root=REPO)
    return [str(p) for p in info.value.problems]


INVALID_CASES = cases(INVALID)
VALID_CASES = cases(VALID)


def test_the_suite_is_big_enough_and_each_case_has_its_expectation() -> None:
    assert len(INVALID_CASES) >= 45
    names = [case_name(c) for c in INVALID_CASES]
    assert len(names) == len(set(names)), "two cases share a name"
    expectations = {p.stem for p in INVALID.glob("*.expected")}
    assert expectations == set(names)


@pytest.mark.parametrize("case", INVALID_CASES, ids=case_name)
def test_invalid_blueprint_reports_the_expected_problems(case: Path) -> None:
    lines = problem_lines(case)
    if UPDATE:
        (case.parent / f"{case_name(case)}.expected").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert lines == expected_lines(case)


@pytest.mark.parametrize("case", INVALID_CASES, ids=case_name)
def test_problems_are_located_sorted_and_unique(case: Path) -> None:
    with pytest.raises(BlueprintInvalid) as info:
        load_blueprint(case, TypeRegistry.with_builtins(), display_root=REPO)
    problems = info.value.problems
    assert problems
    assert list(problems) == sorted(set(problems))
    for p in problems:
        assert p.file.startswith(shown(case)), p
        assert p.line > 0 or p.code in UNLOCATED_CODES, f"{p} has no line"
        assert p.message
        assert "Traceback" not in p.message


@pytest.mark.parametrize("case", INVALID_CASES, ids=case_name)
def test_cli_check_prints_every_problem_and_exits_1(
    case: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    assert main(["check", shown(case)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    expected = expected_lines(case)
    assert lines[:-1] == expected
    assert lines[-1] == f"{len(expected)} problem{'s' if len(expected) != 1 else ''} found"


SUBPROCESS_CASES = [
    "syntax_tab_indent",
    "syntax_malformed_json",
    "empty_file",
    "duplicate_object_in_folder",
    "child_table_cycle",
    "many_problems",
    "alias_bomb",
    "nesting_too_deep_json",
]


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_the_real_command_exits_1_without_a_traceback(name: str) -> None:
    case = next(c for c in INVALID_CASES if case_name(c) == name)
    run = subprocess.run(
        [sys.executable, "-m", "engine.cli", "check", shown(case)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert run.stdout == ""
    assert run.stderr.splitlines()[:-1] == expected_lines(case)


def test_many_problems_are_all_reported_at_once() -> None:
    lines = problem_lines(INVALID / "many_problems.yaml")
    codes = [line.rsplit("[", 1)[1].rstrip("]") for line in lines]
    assert len(lines) >= 10
    assert {
        "name.illegal",
        "schema.unknown_key",
        "field.unknown_type",
        "name.reserved",
        "field.bad_default",
        "object.unknown_field",
        "field.unknown_object",
        "field.options_missing",
        "index.unknown_field",
    } <= set(codes)


@pytest.mark.parametrize("case", VALID_CASES, ids=case_name)
def test_valid_blueprint_loads(case: Path) -> None:
    app = load_blueprint(case, TypeRegistry.with_builtins(), display_root=REPO)
    assert app.objects


@pytest.mark.parametrize("case", VALID_CASES, ids=case_name)
def test_cli_check_says_ok_for_a_valid_blueprint(
    case: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    assert main(["check", shown(case)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("ok: ")
    assert err == ""


def test_every_field_type_appears_in_a_valid_blueprint() -> None:
    registry = TypeRegistry.with_builtins()
    app = load_blueprint(VALID / "every_type.yaml", registry, display_root=REPO)
    used = {f.type for o in app.objects for f in o.fields}
    assert used == set(registry)
