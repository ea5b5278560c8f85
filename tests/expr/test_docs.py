"""Every function of the language is documented in docs/expressions.md, with an example."""

from __future__ import annotations

import re
from pathlib import Path

from engine.expr import SPECIAL_FORMS, builtin_functions, check, parse
from engine.expr.check import Checker
from engine.expr.testing import DictScope

DOC = (Path(__file__).parents[2] / "docs" / "expressions.md").read_text()


def documented() -> set[str]:
    return set(re.findall(r"^### `(\w+)`$", DOC, flags=re.MULTILINE))


def test_every_registered_function_is_documented() -> None:
    missing = {*builtin_functions().names(), *SPECIAL_FORMS} - documented()
    assert not missing, f"undocumented functions in docs/expressions.md: {sorted(missing)}"


def test_no_documented_function_is_unknown() -> None:
    assert documented() - {*builtin_functions().names(), *SPECIAL_FORMS} == set()


def test_registered_examples_parse() -> None:
    for fn in builtin_functions():
        parse(fn.example)
        assert f"{fn.name}(" in fn.example


def test_every_documented_function_has_an_example_that_parses() -> None:
    sections = DOC.split("## Functions", 1)[1].split("\n## ", 1)[0].split("\n### ")[1:]
    assert len(sections) == len(documented())
    for section in sections:
        name = section.split("`")[1]
        examples = re.findall(r"^    (\S.*)$", section, flags=re.MULTILINE)
        assert examples, f"{name} has no example"
        for example in examples:
            parse(example)
            assert f"{name}(" in example


def test_checker_knows_the_special_forms() -> None:
    assert Checker(DictScope({}), builtin_functions()).frames == []
    assert check(parse("if(true, 1, 2)"), DictScope({}), builtin_functions()).kind.value == "number"
