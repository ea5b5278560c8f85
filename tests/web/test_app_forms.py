"""Create and edit forms over the CRM demo, on SQLite and PostgreSQL: labels, located problems,
conditional fields, crafted posts refused by the same checks as the API, lines, live formulas,
type-ahead within the scope, and saving over someone else's change."""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import urlencode

from fastapi.testclient import TestClient

from engine.auth.directory import AuthDb
from engine.store.records import Store
from tests.helpers import demo_client, user_id

REP = "chen.xiaoming@demo.loomwork.dev"
OTHER_REP = "sun.hao@demo.loomwork.dev"
ADMIN = "admin@demo.loomwork.dev"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def field_errors(page: str) -> dict[str, str]:
    return {k: html.unescape(v) for k, v in re.findall(r'class="field-error" id="err-([^"]+)">([^<]*)<', page)}


def post(client: TestClient, url: str, fields: list[tuple[str, str]]) -> Any:
    return client.post(url, content=urlencode(fields), headers=FORM, follow_redirects=False)


def test_every_input_of_every_form_has_a_label_carrying_the_fields_label(demo: tuple[Store, AuthDb]) -> None:
    store, _ = demo
    admin = demo_client(demo, ADMIN)
    for obj in store.app.objects:
        if obj.parent is not None:
            continue
        page = admin.get(f"/app/{obj.name}/new").text
        ids = re.findall(r'<(?:input|select|textarea)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', page)
        labels = dict(re.findall(r'<label[^>]*for="([^"]+)"[^>]*>([^<]*)', page))
        for input_id in ids:
            if input_id in ("global-search",) or input_id.startswith(("lang-", "f-lines-__INDEX__")):
                continue
            assert input_id in labels or f'<label class="check" for="{input_id}"' in page, (obj.name, input_id)


def test_a_refused_form_shows_each_problem_at_its_field_keeps_the_input_and_then_saves(
    crm: tuple[Store, AuthDb],
) -> None:
    rep = demo_client(crm, REP)
    r = post(rep, "/app/lead/new", [("name", ""), ("company", "Acme <b>Ltd</b>"), ("budget", "1,5")])
    assert r.status_code == 422
    errors = field_errors(r.text)
    assert errors["name"] == "Contact name is required"
    assert errors["source"] == "Source is required"
    assert "budget" in errors  # "1,5" is no amount (issue 8's one form per type)
    assert 'href="#f-name"' in r.text and 'id="error-summary"' in r.text
    assert 'value="Acme &lt;b&gt;Ltd&lt;/b&gt;"' in r.text  # what was typed stays, escaped
    r = post(rep, "/app/lead/new", [("name", "Li Lei"), ("company", "Acme"), ("source", "website"), ("budget", "1500")])
    assert r.status_code == 303
    lead = rep.get(r.headers["location"].replace("/app/", "/api/v1/")).json()["data"]
    assert (lead["name"], lead["budget"], lead["owner_id"]) == ("Li Lei", "1500.00", user_id(crm[0], REP))


def test_a_conditional_field_is_offered_only_when_its_condition_holds_and_refused_when_crafted(
    crm: tuple[Store, AuthDb],
) -> None:
    rep = demo_client(crm, REP)
    page = rep.get("/app/opportunity/new").text
    assert re.search(r'<fieldset class="field" data-field="lost_reason" hidden disabled>', page)
    state = post(rep, "/app/opportunity/form-state", [("_mode", "create"), ("stage", "lost")]).text
    visible = re.search(r'data-visible="([^"]*)"', state)
    required = re.search(r'data-required="([^"]*)"', state)
    assert (
        visible
        and required
        and "lost_reason" in visible.group(1).split()
        and "lost_reason" in required.group(1).split()
    )
    account = rep.get("/api/v1/account", params={"limit": "1", "fields": "id"}).json()["data"][0]["id"]
    base = [("name", "Deal"), ("account_id", str(account)), ("amount", "1000"), ("close_date", "2027-01-31")]
    crafted = post(rep, "/app/opportunity/new", [*base, ("stage", "proposal"), ("lost_reason", "price")])
    assert (
        crafted.status_code == 422
        and field_errors(crafted.text)["lost_reason"] == "Lost reason cannot be filled in now"
    )
    missing = post(rep, "/app/opportunity/new", [*base, ("stage", "lost")])
    assert missing.status_code == 422 and field_errors(missing.text)["lost_reason"] == "Lost reason is required"
    ok = post(rep, "/app/opportunity/new", [*base, ("stage", "lost"), ("lost_reason", "price")])
    assert ok.status_code == 303


def test_fields_the_role_may_not_change_are_shown_read_only_and_refused_when_crafted(crm: tuple[Store, AuthDb]) -> None:
    rep = demo_client(crm, REP)
    deal = rep.get("/api/v1/opportunity", params={"limit": "1"}).json()["data"][0]
    page = rep.get(f"/app/opportunity/{deal['id']}/edit").text
    assert re.search(r'<output id="f-probability"', page) and 'name="probability"' not in page
    r = post(rep, f"/app/opportunity/{deal['id']}/edit", [("_version", str(deal["version"])), ("probability", "90")])
    assert r.status_code == 422 and "probability" in field_errors(r.text)
    lead = rep.get("/api/v1/lead", params={"limit": "1"}).json()["data"][0]
    r = post(rep, f"/app/lead/{lead['id']}/edit", [("_version", str(lead["version"])), ("score", "99")])
    assert r.status_code == 422 and "score" in field_errors(r.text)  # a formula
    after = rep.get(f"/api/v1/opportunity/{deal['id']}").json()["data"]
    assert after["probability"] == deal["probability"] and after["version"] == deal["version"]


def _quote_form(products: list[dict[str, Any]], quantities: list[int]) -> list[tuple[str, str]]:
    fields = [("_mode", "create"), ("lines-present", "1")]
    for i, (p, q) in enumerate(zip(products, quantities, strict=True)):
        fields += [
            ("lines-order", str(i)),
            (f"lines-{i}-product_id", str(p["id"])),
            (f"lines-{i}-name", p["name"]),
            (f"lines-{i}-quantity", str(q)),
            (f"lines-{i}-unit_price", p["list_price"]),
            (f"lines-{i}-discount", "10"),
        ]
    return fields


def test_a_quote_with_three_lines_shows_its_totals_live_and_stores_the_same(crm: tuple[Store, AuthDb]) -> None:
    rep = demo_client(crm, REP)
    products = rep.get("/api/v1/product", params={"limit": "3", "fields": "id,name,list_price"}).json()["data"]
    lines = _quote_form(products, [1, 2, 3])
    live = post(rep, "/app/quote/form-state", lines).text
    found = re.search(r'data-formulas="([^"]*)"', live)
    assert found is not None
    shown = json.loads(html.unescape(found.group(1)))
    from decimal import Decimal

    expected = [Decimal(p["list_price"]) * q * Decimal("0.9") for p, q in zip(products, [1, 2, 3], strict=True)]
    for i, value in enumerate(expected):
        assert Decimal(shown[f"f-lines-{i}-line_total"].replace(",", "")) == value
    assert Decimal(shown["f-total"].replace(",", "")) == sum(expected)
    opp = rep.get("/api/v1/opportunity", params={"limit": "1", "fields": "id,account_id"}).json()["data"][0]
    header = [("name", "Q"), ("opportunity_id", str(opp["id"])), ("account_id", str(opp["account_id"]))]
    # the third line first: the order on the page is the order stored
    order = [("lines-order", "2"), ("lines-order", "0"), ("lines-order", "1")]
    saved = post(rep, "/app/quote/new", header + [f for f in lines if f[0] != "lines-order"] + order)
    assert saved.status_code == 303, field_errors(saved.text)
    quote = rep.get(saved.headers["location"].replace("/app/", "/api/v1/")).json()["data"]
    assert Decimal(quote["total"]) == sum(expected)
    assert [ln["product_id"] for ln in quote["lines"]] == [products[2]["id"], products[0]["id"], products[1]["id"]]


def test_type_ahead_offers_only_records_the_user_may_read(demo: tuple[Store, AuthDb]) -> None:
    rep, other = demo_client(demo, REP), demo_client(demo, OTHER_REP)
    theirs = other.get("/api/v1/account", params={"limit": "1000", "fields": "id,name"}).json()["data"]
    mine = {a["id"] for a in rep.get("/api/v1/account", params={"limit": "1000", "fields": "id"}).json()["data"]}
    hidden = next(a for a in theirs if a["id"] not in mine)
    page = rep.get("/app/opportunity/choices/account", params={"q": hidden["name"][:4]}).text
    assert f'data-id="{hidden["id"]}"' not in page
    own = rep.get("/api/v1/account", params={"limit": "1", "fields": "id,name"}).json()["data"][0]
    page = rep.get("/app/opportunity/choices/account", params={"q": own["name"][:4]}).text
    assert f'data-id="{own["id"]}"' in page
    assert rep.get("/app/opportunity/choices/stage").status_code == 404


def test_saving_over_someone_elses_change_shows_both_and_keeps_mine_to_apply_again(crm: tuple[Store, AuthDb]) -> None:
    rep = demo_client(crm, REP)
    admin = demo_client(crm, ADMIN)
    deal = rep.get("/api/v1/opportunity", params={"limit": "1"}).json()["data"][0]
    stale = str(deal["version"])
    theirs = admin.patch(f"/api/v1/opportunity/{deal['id']}", json={"next_step": "Call the CFO"})
    assert theirs.status_code == 200
    r = post(rep, f"/app/opportunity/{deal['id']}/edit", [("_version", stale), ("next_step", "Send the proposal")])
    assert r.status_code == 409
    assert "Call the CFO" in r.text and 'value="Send the proposal"' in r.text
    fresh = re.search(r'name="_version" value="(\d+)"', r.text)
    assert fresh is not None and fresh.group(1) == str(theirs.json()["data"]["version"])
    assert rep.get(f"/api/v1/opportunity/{deal['id']}").json()["data"]["next_step"] == "Call the CFO"
    again = post(
        rep, f"/app/opportunity/{deal['id']}/edit", [("_version", fresh.group(1)), ("next_step", "Send the proposal")]
    )
    assert again.status_code == 303
    assert rep.get(f"/api/v1/opportunity/{deal['id']}").json()["data"]["next_step"] == "Send the proposal"
