"""Formulas that read other formulas over lines are computed after the lines, on both databases."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from engine.errors import InputInvalid
from tests.helpers import make_store

BLUEPRINT = """
app: {name: shop}
objects:
  quote:
    fields:
      name: {type: text}
      lines: {type: child_table, object: quote_line}
      total: {type: formula, expression: "sum(lines, l.line_total)"}
      subtotal: {type: formula, expression: "sum(lines, l.quantity * l.unit_price)"}
      effective_discount: {type: formula, expression: "if(subtotal > 0, 1 - total / subtotal, 0)", scale: 4}
      big: {type: formula, expression: "total > 1000", stored: false}
    rules:
      - {name: capped, when: "effective_discount > 0.6", message: {en: At most 60% off, zh: 最多六折}}
  quote_line:
    fields:
      quantity: {type: decimal}
      unit_price: {type: currency}
      discount: {type: percent}
      line_total: {type: formula, expression: "quantity * unit_price * (1 - coalesce(discount, 0))"}
"""


def test_formula_over_aggregate_formulas(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(BLUEPRINT)
    store = make_store(db_url, blueprint=path)
    quote = store.create(
        "quote",
        {
            "name": "q",
            "lines": [
                {"quantity": "2", "unit_price": "100.00", "discount": "0.1"},
                {"quantity": "1", "unit_price": "50"},
            ],
        },
    )
    assert (quote["total"], quote["subtotal"], quote["effective_discount"]) == (
        Decimal("230.00"),
        Decimal("250.00"),
        Decimal("0.0800"),
    )
    assert quote["big"] is False
    first = quote["lines"][0]["id"]
    quote = store.update("quote", quote["id"], {"lines": [{"id": first, "discount": "0.5", "quantity": "20"}]})
    assert (quote["total"], quote["subtotal"], quote["effective_discount"]) == (
        Decimal("1000.00"),
        Decimal("2000.00"),
        Decimal("0.5000"),
    )
    line = store.create("quote_line", {"quote_id": quote["id"], "quantity": "1", "unit_price": "1.00"})
    assert store.get("quote", quote["id"])["big"] is True
    store.delete("quote_line", line["id"])
    assert store.get("quote", quote["id"])["total"] == Decimal("1000.00")
    # the rule reads a formula over lines, so it is checked after they are written
    with pytest.raises(InputInvalid) as refused:
        store.update("quote", quote["id"], {"lines": [{"id": first, "discount": "0.9"}]})
    assert refused.value.problems[0].code == "rule.capped"
    assert store.get("quote", quote["id"])["effective_discount"] == Decimal("0.5000")
    store.db.dispose()


def test_a_number_formula_beyond_eighteen_digits_is_null(db_url: str, tmp_path: Path) -> None:
    """No column holds it: null in Python, in SQL and stored, instead of a database error."""
    path = tmp_path / "big.yaml"
    path.write_text(
        "app: {name: big}\n"
        "objects:\n"
        "  deal:\n"
        "    fields:\n"
        "      amount: {type: currency}\n"
        "      squared: {type: formula, expression: 'amount * amount'}\n"
        "      shown: {type: formula, expression: 'amount * amount', stored: false}\n"
    )
    store = make_store(db_url, blueprint=path)
    big = store.create("deal", {"amount": "10000000000.00"})  # 1e20: 22 digits at scale 2
    small = store.create("deal", {"amount": "99999.99"})
    assert (big["squared"], big["shown"]) == (None, None)
    assert (small["squared"], small["shown"]) == (Decimal("9999998000.00"), Decimal("9999998000.00"))
    store.db.dispose()
