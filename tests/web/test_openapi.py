"""The OpenAPI document: valid OpenAPI 3.1, every route of the API in it, and what it declares true."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from engine.blueprint.load import load_blueprint
from engine.types.registry import TypeRegistry
from engine.web.api import api_router
from engine.web.api_comments import comments_router
from engine.web.app import create_app
from engine.web.openapi import openapi_document
from tests.helpers import CRM, EVERYTHING, api_client, make_store

METHODS = ("get", "post", "patch", "put", "delete")


def document(blueprint: Path) -> dict[str, Any]:
    types = TypeRegistry.with_builtins()
    app = load_blueprint(blueprint, types)
    return openapi_document(app, types, version=app.version)


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        for part in node["$ref"].removeprefix("#/").split("/"):
            doc = doc[part]
        node = doc
    return node


@pytest.fixture(scope="module")
def crm() -> dict[str, Any]:
    return document(CRM)


@pytest.mark.parametrize("blueprint", [CRM, EVERYTHING], ids=["crm", "everything"])
def test_the_document_is_valid_openapi_3_1(blueprint: Path) -> None:
    doc = document(blueprint)
    assert doc["openapi"] == "3.1.0"
    validate(doc)  # the OpenAPI 3.1 meta-schema, then references, parameters and operation ids


def test_every_route_of_the_api_is_documented_and_nothing_else(sqlite_url: str) -> None:
    store = make_store(sqlite_url)
    web = create_app(store)
    expected = set()
    for route in [*comments_router(store, web.state.auth).routes, *api_router(store, web.state.auth).routes]:
        path = route.path  # type: ignore[attr-defined]
        for method in {m.lower() for m in route.methods}:  # type: ignore[attr-defined]
            for obj in store.app.objects if "{object_name}" in path else [None]:
                if obj is None:
                    expected.add((method, path))
                elif not ("/shares" in path and obj.parent) and not (
                    "/files/" in path and not any(f.type == "attachment" for f in obj.fields)
                ):  # lines are shared through their parent; files need an attachment field
                    expected.add((method, path.replace("{object_name}", obj.name)))
    doc = TestClient(web).get("/openapi.json").json()
    assert {(m, p) for p, m, _ in operations(doc)} == expected
    assert ("put", "/api/v1/company/{record_id}/files/{field}") in expected
    store.db.dispose()


def test_every_operation_needs_a_token_and_says_what_it_answers(crm: dict[str, Any]) -> None:
    schemes = crm["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "lw_...",
        "description": schemes["bearer"]["description"],
    }
    assert crm["security"] == [{"bearer": []}, {"session": []}]
    statuses = {}
    for path, method, op in operations(crm):
        assert "security" not in op  # the global requirement holds everywhere
        statuses[method, path.replace("/api/v1/opportunity", "/api/v1/{o}")] = set(op["responses"])
    # 401 (every route needs a user) and 503 (the database busy, slow or migrated) everywhere
    assert statuses["get", "/api/v1/{o}"] == {"200", "401", "503", "403", "422"}
    assert statuses["post", "/api/v1/{o}"] == {"201", "401", "503", "403", "409", "413", "422"}
    assert statuses["post", "/api/v1/{o}/bulk"] == {"201", "401", "503", "403", "409", "413", "422"}
    assert statuses["get", "/api/v1/{o}/aggregate"] == {"200", "401", "503", "403", "422"}
    assert statuses["get", "/api/v1/{o}/{record_id}"] == {"200", "401", "503", "403", "404", "422"}
    assert statuses["patch", "/api/v1/{o}/{record_id}"] == {"200", "401", "503", "403", "404", "409", "413", "422"}
    assert statuses["delete", "/api/v1/{o}/{record_id}"] == {"200", "401", "503", "403", "404", "409", "422"}
    assert statuses["post", "/api/v1/{o}/{record_id}/restore"] == {"200", "401", "503", "403", "404", "409", "422"}
    assert statuses["get", "/api/v1/{o}/{record_id}/history"] == {"200", "401", "503", "403", "404", "422"}
    assert statuses["get", "/api/v1/{o}/{record_id}/shares"] == {"200", "401", "503", "403", "404", "422"}
    assert statuses["post", "/api/v1/{o}/{record_id}/shares"] == {"201", "401", "503", "403", "404", "413", "422"}
    assert statuses["delete", "/api/v1/{o}/{record_id}/shares/{share_id}"] == {"200", "401", "503", "403", "404", "422"}
    assert statuses["put", "/api/v1/{o}/{record_id}/files/{field}"] == {"200", "401", "503", "403", "404", "413", "422"}
    assert statuses["get", "/api/v1/{o}/{record_id}/files/{field}"] == {"200", "401", "503", "403", "404", "422"}
    assert statuses["get", "/api/v1/trash"] == {"200", "401", "503", "422"}
    assert statuses["get", "/api/v1"] == {"200", "401", "503"}


def test_files_shares_and_trash_are_documented(crm: dict[str, Any]) -> None:
    upload = crm["paths"]["/api/v1/contract/{record_id}/files/{field}"]
    assert [p["schema"]["enum"] for p in upload["parameters"] if p["name"] == "field"] == [["signed_file"]]
    assert list(upload["put"]["requestBody"]["content"]) == ["application/pdf"]
    assert list(upload["get"]["responses"]["200"]["content"]) == ["application/pdf"]
    assert "/api/v1/account/{record_id}/files/{field}" not in crm["paths"]  # no attachment field
    assert "/api/v1/quote_line/{record_id}/shares" not in crm["paths"]  # lines are shared with their quote
    share = crm["paths"]["/api/v1/quote/{record_id}/shares"]["post"]
    assert share["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ShareRequest"
    }
    trash = crm["paths"]["/api/v1/trash"]["get"]
    assert "quote" in trash["parameters"][0]["schema"]["enum"]


def test_lines_have_a_position_and_inline_lines_an_id_to_change(crm: dict[str, Any]) -> None:
    schemas = crm["components"]["schemas"]
    assert schemas["quote_line"]["properties"]["position"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 2**31 - 1,
        "description": schemas["quote_line"]["properties"]["position"]["description"],
    }
    assert "quote_id" in schemas["quote_line_create"]["required"]
    quote_create = schemas["quote_create"]["properties"]["lines"]
    assert quote_create["items"] == {"$ref": "#/components/schemas/quote_line_inline"}
    assert schemas["quote_update"]["properties"]["lines"]["items"] == {
        "$ref": "#/components/schemas/quote_line_inline_update"
    }
    inline = schemas["quote_line_inline"]
    assert "id" not in inline["properties"] and "position" not in inline["properties"]
    assert "quote_id" not in inline["properties"]
    changed = schemas["quote_line_inline_update"]
    assert changed["properties"]["id"]["minimum"] == 1
    assert changed["anyOf"] == [{"required": ["id"]}, {"required": inline["required"]}]


@pytest.fixture
def client(sqlite_url: str, tmp_path: Path) -> Iterator[TestClient]:
    store = make_store(sqlite_url, files_dir=tmp_path / "files")
    with api_client(store) as c:
        yield c
    store.db.dispose()


def test_without_a_token_every_operation_answers_401_as_documented(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    anonymous = TestClient(client.app, raise_server_exceptions=False)
    for path, method, op in operations(doc):
        url = path.replace("{record_id}", "1").replace("{share_id}", "1").replace("{field}", "contract")
        r = anonymous.request(method.upper(), url)
        assert r.status_code == 401, (method, path, r.text)
        response = resolve(doc, op["responses"]["401"])
        schema = resolve(doc, response["content"]["application/json"]["schema"])
        jsonschema.validate(r.json(), schema | {"components": doc["components"]})
        assert r.headers["www-authenticate"] == 'Bearer realm="loomwork"'


def test_a_stale_version_is_a_409_with_the_current_record_as_documented(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    created = client.post("/api/v1/company", json={"name": "Acme"}).json()["data"]
    assert client.patch(f"/api/v1/company/{created['id']}", json={"name": "B"}).status_code == 200
    r = client.patch(f"/api/v1/company/{created['id']}", json={"name": "C"}, headers={"If-Match": '"1"'})
    assert r.status_code == 409
    assert r.json()["current"]["name"] == "B"
    jsonschema.validate(r.json(), doc["components"]["schemas"]["Error"] | {"components": doc["components"]})


def test_a_required_field_with_a_computed_default_is_not_required_on_create(tmp_path: Path) -> None:
    """The store fills it (`default: {expr: ...}`), so a client need not send it."""
    (tmp_path / "d.yaml").write_text(
        "app: {name: d}\nobjects:\n  visit:\n    fields:\n"
        "      name: {type: text, required: true}\n"
        "      on: {type: date, required: true, default: {expr: 'today()'}}\n"
    )
    types = TypeRegistry.with_builtins()
    doc = openapi_document(load_blueprint(tmp_path / "d.yaml", types), types, version="1")
    assert doc["components"]["schemas"]["visit_create"]["required"] == ["name"]
