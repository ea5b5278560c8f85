"""Every `loomwork` command is documented in docs/cli.md, with each of its options."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from engine.cli import build_parser

DOC = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text(encoding="utf-8")


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


@pytest.mark.parametrize("name", sorted(commands()))
def test_command_has_a_section(name: str) -> None:
    assert re.search(rf"^## loomwork {re.escape(name)}\b", DOC, re.M), f"docs/cli.md has no '## loomwork {name}'"


@pytest.mark.parametrize(
    ("name", "option"),
    sorted(
        (n, o)
        for n, p in commands().items()
        for a in p._actions
        for o in a.option_strings
        if o.startswith("--") and o != "--help"
    ),
)
def test_option_is_documented(name: str, option: str) -> None:
    section = DOC.split(f"## loomwork {name}", 1)[1].split("\n## ", 1)[0]
    assert option in section, f"`loomwork {name} {option}` is not documented in docs/cli.md"
