"""The CRM blueprint's formulas and rules, through the REST API, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from engine.auth.access import PolicyAccess, subject_for
from engine.auth.directory import AuthDb
from engine.auth.users import Users
from engine.store.records import Store
from tests.helpers import api_client, make_store

CRM = Path(__file__).resolve().parents[2] / "blueprints" / "crm"


@pytest.fixture
def crm(db_url: str) -> Iterator[tuple[TestClient, Store]]:
    store = make_store(db_url, CRM)
    with api_client(store) as client:
        yield client, store
    store.db.dispose()


def _created(client: TestClient, obj: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(f"/api/v1/{obj}", json=body)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def _count(store: Store, table: str) -> int:
    with store.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(store.tables[table])).scalar_one())


@pytest.fixture
def base(crm: tuple[TestClient, Store]) -> dict[str, Any]:
    client, _ = crm
    account = _created(client, "account", {"name": "湘江传媒", "industry": "media"})
    opp = _created(client, "opportunity", {"name": "工作站升级", "account_id": account["id"], "amount": "500000"})
    pc = _created(client, "product", {"name": "GTX Pro", "list_price": "34710", "floor_price": "29500"})
    svc = _created(client, "product", {"name": "实施部署服务", "list_price": "2800", "floor_price": "2200"})
    cheap = _created(client, "product", {"name": "Cable", "list_price": "10"})  # no floor price
    return {"account": account["id"], "opportunity": opp["id"], "pc": pc["id"], "svc": svc["id"], "cheap": cheap["id"]}


def _quote(base: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": "报价", "opportunity_id": base["opportunity"], "account_id": base["account"], "lines": lines}


def _line(product: int, quantity: str, price: str, discount: str | None = None) -> dict[str, Any]:
    line = {"product_id": product, "quantity": quantity, "unit_price": price}
    if discount is not None:
        line["discount"] = discount
    return line


def test_quote_total_on_create(crm: tuple[TestClient, Store], base: dict[str, Any]) -> None:
    client, _ = crm
    q = _created(
        client, "quote", _quote(base, [_line(base["pc"], "5", "34710", "0.15"), _line(base["svc"], "20", "2800")])
    )
    assert [line["line_total"] for line in q["lines"]] == ["147517.50", "56000.00"]
    assert q["total"] == "203517.50"
    assert q["subtotal"] == "229550.00"
    # 1 - 203517.50 / 229550.00, to 4 places
    assert q["discount"] == str((1 - Decimal("203517.50") / Decimal("229550.00")).quantize(Decimal("0.0001")))
    assert client.get(f"/api/v1/quote/{q['id']}").json()["data"]["total"] == "203517.50"


def test_quote_without_lines_totals_zero(crm: tuple[TestClient, Store], base: dict[str, Any]) -> None:
    client, _ = crm
    q = _created(client, "quote", _quote(base, []))
    assert (q["total"], q["subtotal"], q["discount"]) == ("0.00", "0.00", "0.0000")


def test_quote_total_follows_line_changes(crm: tuple[TestClient, Store], base: dict[str, Any]) -> None:
    client, _ = crm
    q = _created(client, "quote", _quote(base, [_line(base["pc"], "1", "34710"), _line(base["svc"], "2", "2800")]))
    assert q["total"] == "40310.00"
    first, second = q["lines"]
    # change a line's quantity and drop the other (lines are replaced as a set)
    r = client.patch(f"/api/v1/quote/{q['id']}", json={"lines": [{"id": first["id"], "quantity": "2"}]})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["total"] == "69420.00"
    assert [line["line_total"] for line in r.json()["data"]["lines"]] == ["69420.00"]
    # a line discount lowers the line and the quote total
    r = client.patch(f"/api/v1/quote/{q['id']}", json={"lines": [{"id": first["id"], "discount": "0.1"}]})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["total"] == "62478.00" and r.json()["data"]["discount"] == "0.1000"
    assert second["id"] not in [line["id"] for line in r.json()["data"]["lines"]]


def test_quote_total_follows_direct_line_writes(crm: tuple[TestClient, Store], base: dict[str, Any]) -> None:
    client, _ = crm
    q = _created(client, "quote", _quote(base, [_line(base["pc"], "1", "34710")]))
    line = _created(client, "quote_line", {"quote_id": q["id"], **_line(base["svc"], "3", "2800")})
    assert line["line_total"] == "8400.00"
    assert client.get(f"/api/v1/quote/{q['id']}").json()["data"]["total"] == "43110.00"
    r = client.patch(f"/api/v1/quote_line/{line['id']}", json={"quantity": "4"})
    assert r.status_code == 200, r.text
    assert client.get(f"/api/v1/quote/{q['id']}").json()["data"]["total"] == "45910.00"
    assert client.delete(f"/api/v1/quote_line/{line['id']}").status_code == 200
    assert client.get(f"/api/v1/quote/{q['id']}").json()["data"]["total"] == "34710.00"


def _error(r: Any) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["ok"] is False
    err: dict[str, Any] = body["errors"][0]
    return err


def test_price_below_floor_is_refused_and_nothing_is_stored(
    crm: tuple[TestClient, Store], base: dict[str, Any]
) -> None:
    client, store = crm
    # 34710 x (1 - 0.16) = 29156.40 < 29500
    r = client.post("/api/v1/quote", json=_quote(base, [_line(base["pc"], "1", "34710", "0.16")]))
    err = _error(r)
    assert err["code"] == "rule.below_floor_price"
    assert "floor price" in err["msg"]
    assert _count(store, "quote") == 0 and _count(store, "quote_line") == 0
    # one cent under the floor, without a discount; the rule is located at the line's discount
    err = _error(client.post("/api/v1/quote", json=_quote(base, [_line(base["pc"], "1", "29499.99")])))
    assert err["code"] == "rule.below_floor_price"
    assert err["loc"] == ["body", "lines", 0, "discount"]
    assert _count(store, "quote") == 0
    rule = next(r for r in store.app.object("quote_line").rules if r.name == "below_floor_price")
    assert "最低价" in str(rule.message.zh)
    # exactly at the floor is fine; no floor price, no limit
    q = _created(client, "quote", _quote(base, [_line(base["pc"], "1", "29500"), _line(base["cheap"], "1", "0.01")]))
    assert q["total"] == "29500.01"
    # an update below the floor is refused too and leaves the stored line alone
    line = q["lines"][0]
    r = client.patch(f"/api/v1/quote_line/{line['id']}", json={"discount": "0.01"})
    assert _error(r)["code"] == "rule.below_floor_price"
    r = client.patch(f"/api/v1/quote/{q['id']}", json={"lines": [{"id": line["id"], "unit_price": "100"}]})
    assert _error(r)["code"] == "rule.below_floor_price"
    after = client.get(f"/api/v1/quote/{q['id']}").json()["data"]
    assert after["total"] == "29500.01" and after["version"] == q["version"]
    assert [ln["unit_price"] for ln in after["lines"]] == ["29500.00", "0.01"]


def test_rule_messages_come_in_the_user_s_language(crm: tuple[TestClient, Store], base: dict[str, Any]) -> None:
    _, store = crm
    rule = next(r for r in store.app.object("quote_line").rules if r.name == "below_floor_price")
    below = _quote(base, [_line(base["pc"], "1", "29499.99")])
    with api_client(store, email="zh@example.com", locale="zh") as zh:
        err = _error(zh.post("/api/v1/quote", json=below))
        assert (err["code"], err["msg"]) == ("rule.below_floor_price", rule.message.zh)
        # messages without a translation stay English
        err = _error(zh.post("/api/v1/quote", json={**below, "lines": "x"}))
        assert err["code"].startswith("type.") and err["msg"].isascii()


def test_lost_needs_a_reason_shown_only_once_lost(crm: tuple[TestClient, Store], base: dict[str, Any]) -> None:
    client, store = crm
    body = {"name": "丢单", "account_id": base["account"], "stage": "lost"}
    err = _error(client.post("/api/v1/opportunity", json=body))
    assert (err["loc"], err["code"]) == (["body", "lost_reason"], "field.required")
    assert _count(store, "opportunity") == 1  # only the fixture's
    opp = _created(client, "opportunity", {**body, "lost_reason": "price"})
    assert opp["stage"] == "lost"
    err = _error(client.patch(f"/api/v1/opportunity/{base['opportunity']}", json={"stage": "lost"}))
    assert (err["loc"], err["code"]) == (["body", "lost_reason"], "field.required")
    assert client.get(f"/api/v1/opportunity/{base['opportunity']}").json()["data"]["stage"] == "initial_contact"
    # a crafted request cannot give an open deal a lost reason
    for field, value in (("lost_reason", "price"), ("lost_detail", "x")):
        err = _error(client.patch(f"/api/v1/opportunity/{base['opportunity']}", json={field: value}))
        assert (err["loc"], err["code"]) == (["body", field], "field.not_visible")
    r = client.patch(f"/api/v1/opportunity/{base['opportunity']}", json={"stage": "lost", "lost_reason": "competitor"})
    assert r.status_code == 200, r.text
    won = client.patch(f"/api/v1/opportunity/{opp['id']}", json={"stage": "won", "closed_on": "2026-01-02"})
    assert won.status_code == 200, won.text
    assert won.json()["data"]["lost_reason"] == "price"  # kept, no longer shown


def test_a_disqualified_lead_needs_its_reason(crm: tuple[TestClient, Store]) -> None:
    client, _ = crm
    body = {"name": "王先生", "source": "website", "status": "disqualified"}
    err = _error(client.post("/api/v1/lead", json=body))
    assert (err["loc"], err["code"]) == (["body", "disqualified_reason"], "field.required")
    err = _error(client.post("/api/v1/lead", json={**body, "status": "new", "disqualified_reason": "x"}))
    assert (err["loc"], err["code"]) == (["body", "disqualified_reason"], "field.not_visible")
    lead = _created(client, "lead", {**body, "disqualified_reason": "同行询价"})
    assert lead["disqualified_reason"] == "同行询价"
    assert lead["region"] is None  # the admin of this test has no region
    err = _error(client.post("/api/v1/lead", json={**body, "status": "new", "converted_at": "2026-01-02T00:00:00Z"}))
    assert (err["loc"], err["code"]) == (["body", "converted_at"], "field.not_visible")  # its section is hidden


def test_a_lead_takes_the_capturing_users_region(crm: tuple[TestClient, Store]) -> None:
    _, store = crm
    auth = AuthDb(store.db)
    users = Users(auth)
    east = PolicyAccess(store, subject_for(auth, users.create_user("e@example.com", "E", "sales_rep", region="east")))
    mars = PolicyAccess(store, subject_for(auth, users.create_user("m@example.com", "M", "sales_rep", region="mars")))
    body = {"name": "李女士", "source": "event"}
    assert store.create("lead", body, access=east)["region"] == "east"
    assert store.create("lead", {**body, "region": "north"}, access=east)["region"] == "north"
    assert store.create("lead", body, access=mars)["region"] is None  # not an option: left empty


@pytest.mark.parametrize(
    ("budget", "intent", "urgency", "score"),
    [
        ("300000", 4, 5, 12),  # the seeds' example: 4 + 5 + budget band 3
        ("499999.99", 4, 5, 12),
        ("500000", 4, 5, 13),
        ("1000000", 1, 1, 7),
        ("150000", 3, 3, 8),
        ("99999", 2, 2, 5),
        ("0", 1, 1, 3),
        (None, 4, 5, 9),
        (None, None, None, 0),
    ],
)
def test_lead_score(
    crm: tuple[TestClient, Store], budget: str | None, intent: int | None, urgency: int | None, score: int
) -> None:
    client, _ = crm
    lead = _created(
        client,
        "lead",
        {"name": "王伟", "source": "website", "budget": budget, "purchase_intent": intent, "urgency": urgency},
    )
    assert Decimal(lead["score"]) == score


def test_lead_score_follows_updates(crm: tuple[TestClient, Store]) -> None:
    client, _ = crm
    lead = _created(client, "lead", {"name": "王伟", "source": "event", "budget": "80000", "purchase_intent": 4})
    assert Decimal(lead["score"]) == 5
    r = client.patch(f"/api/v1/lead/{lead['id']}", json={"urgency": 5, "budget": "300000"})
    assert r.status_code == 200, r.text
    assert Decimal(r.json()["data"]["score"]) == 12


@pytest.mark.parametrize(
    ("obj", "field"),
    [("lead", "score"), ("quote", "total"), ("quote", "subtotal"), ("quote", "discount")],
)
def test_formula_fields_are_read_only(
    crm: tuple[TestClient, Store], base: dict[str, Any], obj: str, field: str
) -> None:
    client, store = crm
    body = {"name": "王伟", "source": "website"} if obj == "lead" else _quote(base, [])
    before = _count(store, obj)
    err = _error(client.post(f"/api/v1/{obj}", json={**body, field: "12"}))
    assert err["code"] == "field.read_only"
    assert err["loc"][-1] == field
    assert _count(store, obj) == before
    rec = _created(client, obj, body)
    err = _error(client.patch(f"/api/v1/{obj}/{rec['id']}", json={field: "12"}))
    assert err["code"] == "field.read_only"


def test_line_total_is_read_only(crm: tuple[TestClient, Store], base: dict[str, Any]) -> None:
    client, store = crm
    r = client.post("/api/v1/quote", json=_quote(base, [{**_line(base["pc"], "1", "34710"), "line_total": "1"}]))
    err = _error(r)
    assert err["code"] == "field.read_only"
    assert err["loc"][-1] == "line_total"
    assert _count(store, "quote") == 0
