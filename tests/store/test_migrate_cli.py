"""`loomwork plan` and `loomwork migrate` end to end, through the command's entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main

BLUEPRINT = Path(__file__).parent / "blueprints" / "crm_v1.yaml"


def without_phone(tmp_path: Path) -> Path:
    text = BLUEPRINT.read_text().replace("      phone: {type: text, max_length: 40, index: true}\n", "")
    path = tmp_path / "crm_v2.yaml"
    path.write_text(text)
    return path


def test_plan_then_migrate_then_refuse_a_drop(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(BLUEPRINT), "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "Plan for crm 1" in out
    assert "+ create object account (7 fields)" in out
    assert "CREATE TABLE account (" in out

    assert main(["migrate", str(BLUEPRINT), "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "applied: create object quote_line (2 fields)" in out
    assert out.rstrip().endswith("ok: crm 1 is applied (4 operations)")

    v2 = without_phone(tmp_path)
    assert main(["plan", str(v2), "--db", db_url]) == 0
    assert "! drop field account.phone and its values" in capsys.readouterr().out
    assert main(["migrate", str(v2), "--db", db_url]) == 1
    err = capsys.readouterr().err
    assert "refused: the plan is destructive; run again with --allow-destructive" in err
    assert "  drop field account.phone and its values" in err

    assert main(["migrate", str(v2), "--db", db_url, "--allow-destructive"]) == 0
    assert "applied: drop field account.phone and its values" in capsys.readouterr().out
    assert main(["plan", str(v2), "--db", db_url]) == 0
    assert "Nothing to change." in capsys.readouterr().out
