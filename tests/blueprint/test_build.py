"""The frozen model built from a checked blueprint."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from engine.blueprint.load import app_from_document, load_blueprint
from engine.blueprint.model import App, IndexDef, Label, LayoutDef, LayoutSection, Option
from engine.errors import BlueprintInvalid
from engine.types.registry import TypeRegistry

QUOTES = """
app:
  name: sales
  label: {en: Sales, zh: 销售}
  version: 2.1
objects:
  quote:
    fields:
      name: {type: text, required: true}
      customer_name: {type: text, label: Customer}
      stage:
        type: select
        default: draft
        options:
          - draft
          - {id: sent, label: {en: Sent, zh: 已发送}, color: "#3366ff"}
      amount: {type: currency, currency: CNY, default: "12.50"}
      valid_until: {type: date, default: 2026-03-31}
      sent_at: {type: datetime, default: "2026-01-31T09:00:00+08:00"}
      account: {type: lookup, object: account, on_delete: set_null}
      lines: {type: child_table, object: quote_line}
    indexes:
      - {fields: [stage, valid_until]}
      - {fields: [customer_name], unique: true, name: quote_customer}
    layouts:
      form:
        sections:
          - {label: Main, columns: 2, fields: [name, stage]}
          - fields: [lines]
  quote_line:
    label: Quote line
    fields:
      product: {type: text}
      quantity: {type: integer, min: 1, default: 1}
  account:
    owned: false
    title: code
    fields:
      code: {type: autonumber, format: "A-{0000}"}
"""


@pytest.fixture
def app(tmp_path: Path) -> App:
    path = tmp_path / "sales.yaml"
    path.write_text(QUOTES, encoding="utf-8")
    return load_blueprint(path, TypeRegistry.with_builtins(), display_root=tmp_path)


def test_app_metadata(app: App) -> None:
    assert app.name == "sales"
    assert app.label == Label("Sales", "销售")
    assert app.version == "2.1"
    assert app.default_locale == "en"
    assert [o.name for o in app.objects] == ["quote", "quote_line", "account"]


def test_labels_default_from_names(app: App) -> None:
    quote = app.object("quote")
    assert quote.label == Label("Quote")
    assert quote.plural == Label("Quote")
    assert quote.field("customer_name").label == Label("Customer")
    assert quote.field("valid_until").label == Label("Valid until")
    assert app.object("quote_line").label == Label("Quote line")


def test_options_keep_order_labels_and_colours(app: App) -> None:
    stage = app.object("quote").field("stage")
    assert stage.options == (
        Option("draft", Label("Draft")),
        Option("sent", Label("Sent", "已发送"), "#3366ff"),
    )
    assert stage.default == "draft"


def test_defaults_are_parsed_to_their_type(app: App) -> None:
    quote = app.object("quote")
    assert quote.field("amount").default == Decimal("12.50")
    assert quote.field("valid_until").default == date(2026, 3, 31)
    assert quote.field("sent_at").default == datetime(2026, 1, 31, 1, 0, tzinfo=UTC)
    assert app.object("quote_line").field("quantity").default == 1
    assert app.object("quote_line").field("quantity").min == Decimal(1)


def test_child_tables_link_parent_and_child(app: App) -> None:
    quote, line = app.object("quote"), app.object("quote_line")
    assert line.parent == "quote"
    assert line.parent_column == "quote_id"
    assert quote.parent is None
    assert [f.name for f in quote.child_fields] == ["lines"]
    assert quote.field("lines").column is None
    assert "lines" not in [f.name for f in quote.stored_fields]


def test_owned_defaults_to_true_except_for_child_objects(app: App) -> None:
    assert app.object("quote").owned is True
    assert app.object("quote_line").owned is False
    assert app.object("account").owned is False


def test_lookups_are_stored_as_name_id(app: App) -> None:
    account = app.object("quote").field("account")
    assert account.target == "account"
    assert account.on_delete == "set_null"
    assert account.column == "account_id"


def test_type_settings_are_kept(app: App) -> None:
    assert dict(app.object("quote").field("amount").settings) == {"currency": "CNY"}
    assert dict(app.object("account").field("code").settings) == {"format": "A-{0000}"}


def test_indexes_and_layouts(app: App) -> None:
    quote = app.object("quote")
    assert quote.indexes == (
        IndexDef(fields=("stage", "valid_until")),
        IndexDef(fields=("customer_name",), unique=True, name="quote_customer"),
    )
    assert quote.layouts == (
        LayoutDef(
            "form",
            (LayoutSection(Label("Main"), ("name", "stage"), 2), LayoutSection(None, ("lines",), 1)),
        ),
    )


def test_title_field_is_declared_or_name_or_first_text(app: App) -> None:
    assert app.object("quote").title_field == "name"
    assert app.object("account").title_field == "code"
    assert app.object("quote_line").title_field == "product"


def test_the_document_is_kept_and_rebuilds_the_same_app(app: App) -> None:
    assert app.document["app"]["name"] == "sales"
    again = app_from_document(app.document, TypeRegistry.with_builtins())
    assert again == app


def test_a_stored_document_is_checked_too() -> None:
    with pytest.raises(BlueprintInvalid) as info:
        app_from_document(
            {"app": {"name": "x"}, "objects": {"a": {"fields": {"id": {"type": "text"}}}}}, TypeRegistry.with_builtins()
        )
    assert [p.code for p in info.value.problems] == ["name.reserved"]
    assert info.value.problems[0].file == "<stored>"


SYSTEM_INDEXES = """
app: {name: s, label: S, version: 1}
objects:
  deal:
    fields:
      stage: {type: select, options: [open, won]}
    indexes:
      - {fields: [owner_id, stage]}
      - {fields: [updated_at]}
  note:
    owned: false
    fields:
      body: {type: text}
    indexes:
      - {fields: [owner_id]}
"""


def test_indexes_may_list_system_columns_and_owner_only_on_owned_objects(tmp_path: Path) -> None:
    from engine.store.tables import object_indexes

    path = tmp_path / "s.yaml"
    path.write_text(SYSTEM_INDEXES, encoding="utf-8")
    with pytest.raises(BlueprintInvalid) as caught:
        load_blueprint(path, TypeRegistry.with_builtins())
    assert [p.code for p in caught.value.problems] == ["index.unknown_field"]
    assert caught.value.problems[0].path == "objects.note.indexes[0].fields[0]"
    path.write_text(SYSTEM_INDEXES.replace("[owner_id]}", "[body]}"), encoding="utf-8")
    deal = load_blueprint(path, TypeRegistry.with_builtins()).object("deal")
    columns = {cols for _, cols, _ in object_indexes(deal)}
    assert {("owner_id", "stage"), ("updated_at",), ("owner_id",)} <= columns
