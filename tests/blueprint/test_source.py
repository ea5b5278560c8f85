"""Reading blueprint files: positions of keys and values, duplicate keys, folder merge."""

from __future__ import annotations

import time
import tracemalloc
from datetime import date
from pathlib import Path

from engine.blueprint.source import MAX_FILE_BYTES, MAX_VALUES, Mark, blueprint_files, dotted, read_source
from engine.errors import Problem


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_keys_and_values_keep_their_line_and_column(tmp_path: Path) -> None:
    path = write(
        tmp_path, "crm.yaml", "app:\n  name: crm\nobjects:\n  account:\n    fields:\n      name: {type: text}\n"
    )
    problems: list[Problem] = []
    src = read_source(path, problems, tmp_path)
    assert problems == []
    assert src.files == ["crm.yaml"]
    assert src.keys[("objects", "account")] == Mark("crm.yaml", 4, 3)
    assert src.values[("app", "name")] == Mark("crm.yaml", 2, 9)
    assert src.values[("objects", "account", "fields", "name", "type")] == Mark("crm.yaml", 6, 20)
    # A path that does not exist is placed at its nearest ancestor.
    assert src.mark(("objects", "account", "fields", "name", "options")) == Mark("crm.yaml", 6, 13)
    problem = src.problem(("objects", "account"), "bad", "x.y", key=True)
    assert str(problem) == "crm.yaml:4:3 objects.account: bad [x.y]"


def test_a_key_without_a_value_is_located_at_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "objects:\n  account:\n")
    src = read_source(path, [], tmp_path)
    assert src.data == {"objects": {"account": None}}
    assert src.mark(("objects", "account")) == Mark("a.yaml", 2, 3)


def test_duplicate_keys_in_one_file_are_problems_and_the_first_wins(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "app:\n  name: crm\n  name: sales\n")
    problems: list[Problem] = []
    src = read_source(path, problems, tmp_path)
    assert src.data["app"]["name"] == "crm"
    assert [str(p) for p in problems] == [
        "a.yaml:3:3 app.name: duplicate key 'name' (first at line 2) [source.duplicate_key]"
    ]


def test_a_folder_merges_objects_across_files_in_name_order(tmp_path: Path) -> None:
    write(tmp_path, "app.yaml", "app:\n  name: crm\n")
    write(tmp_path, "b/contacts.yaml", "objects:\n  contact:\n    fields: {name: {type: text}}\n")
    write(tmp_path, "accounts.json", '{"objects": {"account": {"fields": {"name": {"type": "text"}}}}}')
    write(tmp_path, "_drafts/x.yaml", "not: [valid\n")
    write(tmp_path, ".hidden.yaml", "not: [valid\n")
    write(tmp_path, "demo/records.yaml", "not: [valid\n")
    write(tmp_path, "README.md", "# not a blueprint file\n")
    problems: list[Problem] = []
    src = read_source(tmp_path, problems, tmp_path)
    assert problems == []
    assert src.files == ["accounts.json", "app.yaml", "b/contacts.yaml"]
    assert list(src.data["objects"]) == ["account", "contact"]
    assert src.keys[("objects", "contact")] == Mark("b/contacts.yaml", 2, 3)
    assert src.keys[("objects", "account")] == Mark("accounts.json", 1, 14)
    assert [p.name for p in blueprint_files(tmp_path)] == ["accounts.json", "app.yaml", "contacts.yaml"]


def test_the_same_object_in_two_files_is_a_duplicate(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "objects:\n  account:\n    fields: {name: {type: text}}\n")
    write(tmp_path, "b.yaml", "objects:\n\n  account:\n    fields: {code: {type: text}}\n")
    problems: list[Problem] = []
    src = read_source(tmp_path, problems, tmp_path)
    assert list(src.data["objects"]["account"]["fields"]) == ["name"]
    assert [str(p) for p in problems] == [
        "b.yaml:3:3 objects.account: 'account' is already declared at a.yaml:2:3 [source.duplicate_key]"
    ]


def test_the_app_section_is_declared_once(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "app:\n  name: crm\n")
    write(tmp_path, "b.yaml", "app:\n  version: 2\n")
    problems: list[Problem] = []
    read_source(tmp_path, problems, tmp_path)
    assert [p.code for p in problems] == ["source.duplicate_key"]
    assert problems[0].file == "b.yaml"


def test_yaml_1_1_words_stay_text_and_keys_stay_as_written(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "a: [yes, no, on, off, true, False]\nno: 1\n1: x\nd: 2026-01-31\n")
    src = read_source(path, [], tmp_path)
    assert src.data == {"a": ["yes", "no", "on", "off", True, False], "no": 1, "1": "x", "d": date(2026, 1, 31)}


def test_json_is_read_strictly_and_may_be_indented_with_tabs(tmp_path: Path) -> None:
    good = write(tmp_path, "good.json", '{\n\t"app": {\n\t\t"name": "crm"\n\t}\n}\n')
    src = read_source(good, [], tmp_path)
    assert src.data == {"app": {"name": "crm"}}
    assert src.values[("app", "name")] == Mark("good.json", 3, 11)
    bad = write(tmp_path, "bad.json", '{"app": {"name": "crm",}}\n')
    problems: list[Problem] = []
    read_source(bad, problems, tmp_path)
    assert [(p.line, p.col, p.code) for p in problems] == [(1, 24, "source.syntax")]
    assert "trailing comma" in problems[0].message


def test_syntax_errors_are_located_and_readable(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "app:\n  name: crm\n   version: 1\n")
    problems: list[Problem] = []
    read_source(path, problems, tmp_path)
    assert [(p.line, p.code) for p in problems] == [(3, "source.syntax")]
    assert problems[0].message.startswith("malformed YAML: ")


def test_missing_empty_and_non_mapping_sources(tmp_path: Path) -> None:
    problems: list[Problem] = []
    read_source(tmp_path / "nope.yaml", problems, tmp_path)
    read_source(write(tmp_path, "empty.yaml", "# nothing yet\n"), problems, tmp_path)
    read_source(write(tmp_path, "list.yaml", "- a\n- b\n"), problems, tmp_path)
    (tmp_path / "dir").mkdir()
    read_source(tmp_path / "dir", problems, tmp_path)
    assert [p.code for p in problems] == ["source.missing", "source.empty", "source.not_mapping", "source.empty"]


def test_dotted_paths() -> None:
    assert dotted(("objects", "quote", "indexes", 0, "fields", 1)) == "objects.quote.indexes[0].fields[1]"
    assert dotted(()) == ""


BILLION_LAUGHS = "app: {name: lol}\na: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_an_alias_bomb_is_refused_at_once_in_little_memory(tmp_path: Path) -> None:
    path = write(tmp_path, "lol.yaml", BILLION_LAUGHS)
    assert len(BILLION_LAUGHS) < 500  # nine levels of nine aliases: 9^9 values once expanded
    problems: list[Problem] = []
    tracemalloc.start()
    started = time.perf_counter()
    read_source(path, problems, tmp_path)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [(p.line, p.col, p.path, p.code) for p in problems] == [(7, 8, "f[0]", "source.alias")]
    assert elapsed < 0.5
    assert peak < 5 * 1024 * 1024


def test_a_file_larger_than_2_mib_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = write(tmp_path, "big.yaml", "app: {name: big}\n" + "# padding\n" * (MAX_FILE_BYTES // 10))
    assert path.stat().st_size > MAX_FILE_BYTES
    problems: list[Problem] = []
    read_source(path, problems, tmp_path)
    assert [str(p) for p in problems] == [
        f"big.yaml the file is {path.stat().st_size:,} bytes; a blueprint file may hold at most 2 MiB: "
        "split it into several files [source.too_large]"
    ]


def test_a_file_with_more_values_than_the_limit_is_refused_where_it_crosses(tmp_path: Path) -> None:
    items = "".join(f"  - {i}\n" for i in range(MAX_VALUES))
    path = write(tmp_path, "many.yaml", "app: {name: many}\nx:\n" + items)
    problems: list[Problem] = []
    read_source(path, problems, tmp_path)
    # Seven values come first (the root mapping, keys `app`, `name`, `x`, `app`'s mapping, `many`,
    # the list), so item 99,993 (line 99,996) is value 100,001.
    assert [(p.line, p.path, p.code) for p in problems] == [(99_996, "x[99993]", "source.too_large")]


def test_nesting_deeper_than_libyaml_allows_is_a_located_problem_not_a_recursion_error(tmp_path: Path) -> None:
    for name, text in (
        ("deep.yaml", "app: {name: deep}\nx: " + "[" * 50_000 + "]" * 50_000 + "\n"),
        ("deep.json", '{"app": {"name": "deep"}, "x": ' + "[" * 50_000 + "]" * 50_000 + "}\n"),
    ):
        problems: list[Problem] = []
        read_source(write(tmp_path, name, text), problems, tmp_path)
        assert [(p.file, p.code) for p in problems] == [(name, "source.too_deep")]
        assert problems[0].line > 0
