"""`diff` is pure: two models in, ordered operations out, no database."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from engine.blueprint.diff import (
    AddField,
    AddIndex,
    AlterField,
    ChangeFieldType,
    CreateObject,
    DropField,
    DropIndex,
    DropObject,
    RenameField,
    RenameObject,
    diff,
)
from engine.blueprint.load import app_from_document
from engine.blueprint.model import App
from engine.store.tables import object_indexes
from engine.types.registry import TypeRegistry

TYPES = TypeRegistry.with_builtins()
BASE: dict[str, Any] = {
    "app": {"name": "crm", "version": "1"},
    "objects": {
        "account": {
            "fields": {
                "name": {"type": "text", "max_length": 120},
                "phone": {"type": "text", "index": True},
                "employees": {"type": "text"},
                "rating": {"type": "select", "options": ["hot", "warm", "cold"]},
                "revenue": {"type": "decimal"},
                "primary_contact": {"type": "lookup", "object": "contact", "on_delete": "set_null"},
            }
        },
        "contact": {"fields": {"name": {"type": "text"}, "account": {"type": "lookup", "object": "account"}}},
        "quote": {
            "fields": {
                "title": {"type": "text"},
                "lines": {"type": "child_table", "object": "quote_line"},
            }
        },
        "quote_line": {"fields": {"product": {"type": "text"}}},
    },
}


def app(*edits: Callable[[dict[str, Any]], None]) -> App:
    doc = copy.deepcopy(BASE)
    for edit in edits:
        edit(doc)
    return app_from_document(doc, TYPES)


def account(doc: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = doc["objects"]["account"]["fields"]
    return result


def described(old: App | None, new: App) -> list[str]:
    return [op.describe() for op in diff(old, new)]


def test_empty_database_creates_referenced_objects_first() -> None:
    ops = diff(None, app())
    assert all(isinstance(op, CreateObject) for op in ops)
    # a line object follows its parent; account <-> contact is a cycle, left in declaration order, last
    assert [op.obj.name for op in ops if isinstance(op, CreateObject)] == ["quote", "quote_line", "account", "contact"]


def test_same_blueprint_needs_nothing() -> None:
    assert diff(app(), app(), indexes=object_indexes) == []


def test_a_rename_is_declared_never_guessed() -> None:
    def renamed(doc: dict[str, Any]) -> None:
        account(doc)["mobile"] = {**account(doc).pop("phone"), "renamed_from": "phone"}

    def replaced(doc: dict[str, Any]) -> None:
        account(doc)["mobile"] = account(doc).pop("phone")

    assert described(app(), app(renamed)) == ["rename field account.phone to mobile"]
    assert described(app(), app(replaced)) == [
        "drop field account.phone and its values",
        "add field account.mobile (text)",
    ]
    assert diff(app(renamed), app(renamed)) == []  # the stored blueprint keeps renamed_from: no second rename


def test_object_rename_keeps_lookups_to_it() -> None:
    def renamed(doc: dict[str, Any]) -> None:
        doc["objects"]["company"] = {**doc["objects"].pop("account"), "renamed_from": "account"}
        doc["objects"]["contact"]["fields"]["account"]["object"] = "company"

    ops = diff(app(), app(renamed))
    assert ops == [RenameObject("account", "company")]
    assert not ops[0].destructive


def test_destructive_flags() -> None:
    def change(doc: dict[str, Any]) -> None:
        account(doc)["name"] = {"type": "long_text"}
        account(doc)["employees"] = {"type": "integer"}
        account(doc)["rating"]["options"] = ["hot", "warm"]
        account(doc)["revenue"]["scale"] = 4
        del account(doc)["phone"]

    ops = diff(app(), app(change))
    flags = {op.describe(): op.destructive for op in ops}
    assert flags == {
        "drop field account.phone and its values": True,
        "change type of account.name from text to long_text": False,
        "change type of account.employees from text to integer": True,
        "alter field account.rating: remove options cold": True,
        "alter field account.revenue: scale 2 -> 4": False,
    }


def test_max_length_narrowing_uses_the_length_rule() -> None:
    def shorter(doc: dict[str, Any]) -> None:
        account(doc)["phone"]["max_length"] = 40

    [op] = diff(app(), app(shorter), max_length=lambda f: f.max_length or 255)
    assert isinstance(op, AlterField)
    assert (op.old_length, op.new_length, op.destructive) == (255, 40, True)
    [wider] = diff(app(shorter), app(), max_length=lambda f: f.max_length or 255)
    assert isinstance(wider, AlterField)
    assert not wider.destructive


def test_operations_come_in_application_order() -> None:
    def change(doc: dict[str, Any]) -> None:
        objects = doc["objects"]
        del objects["quote"], objects["quote_line"]
        objects["deal"] = {"fields": {"title": {"type": "text"}, "account": {"type": "lookup", "object": "account"}}}
        account(doc)["mobile"] = {**account(doc).pop("phone"), "renamed_from": "phone"}
        account(doc)["employees"] = {"type": "integer"}
        account(doc)["industry"] = {"type": "text"}
        del account(doc)["revenue"]

    kinds = [type(op) for op in diff(app(), app(change), indexes=object_indexes)]
    assert kinds == [
        DropIndex,  # ix_account_phone (renamed column gets a new index name)
        DropField,
        DropObject,  # quote_line before quote: dependents first
        DropObject,
        RenameField,
        CreateObject,
        AddField,
        ChangeFieldType,
        AddIndex,
    ]
    drops = [op.obj.name for op in diff(app(), app(change)) if isinstance(op, DropObject)]
    assert drops == ["quote_line", "quote"]


def test_lookup_to_another_object_is_replaced_not_converted() -> None:
    def retarget(doc: dict[str, Any]) -> None:
        doc["objects"]["contact"]["fields"]["account"]["object"] = "quote"

    ops = diff(app(), app(retarget), indexes=object_indexes)
    assert [op.describe() for op in ops] == [
        "drop index ix_contact_account_id on contact",
        "drop field contact.account and its values",
        "add field contact.account (lookup)",
        "add index ix_contact_account_id on contact(account_id)",
    ]
