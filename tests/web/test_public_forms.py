"""Public web forms (`forms:` in the blueprint, at /f/{slug}) over the CRM, on SQLite and
PostgreSQL: anyone creates a lead without signing in, only the declared fields are taken and
the form's `set:` values added, problems shown at their fields, bots and floods turned away,
and framing limited to the declared sites."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from engine.auth.directory import AuthDb
from engine.store.query import ListQuery
from engine.store.records import Store
from engine.web.app import create_app

LEADS_FORM = "/f/contact_us"


def visitor(crm: tuple[Store, AuthDb]) -> tuple[TestClient, str]:
    store, auth = crm
    web = TestClient(create_app(store, auth=auth), base_url="http://127.0.0.1", raise_server_exceptions=False)
    page = web.get(LEADS_FORM)
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    return web, token.group(1)


def leads(store: Store) -> list[dict[str, Any]]:
    """Every lead, newest first, as the store holds them."""
    return store.find("lead", ListQuery(sort=["-id"], limit=1000)).records


def test_a_visitor_sends_a_lead_that_lands_with_the_forms_values(crm: tuple[Store, AuthDb]) -> None:
    store, _ = crm
    web, token = visitor(crm)
    page = web.get(LEADS_FORM)
    assert page.headers["content-security-policy"] == "frame-ancestors 'self'"
    for label in ("Contact name", "Company", "Budget"):
        assert re.search(rf'<label for="f-[a-z_]+">{label}', page.text), label
    before = len(leads(store))
    form = {
        "csrf_token": token,
        "name": "Zhou Min",
        "company": "Riverside Foods",
        "budget": "250000",
        "source": "cold_call",
    }
    r = web.post(LEADS_FORM, data=form)
    assert r.status_code == 200 and 'id="thanks"' in r.text
    found = leads(store)
    assert len(found) == before + 1
    lead = found[0]
    assert (lead["name"], lead["company"], str(lead["budget"])) == ("Zhou Min", "Riverside Foods", "250000.00")
    assert lead["source"] == "website"  # set by the form; the posted source is not a field of the form
    assert lead["owner_id"] is None


def test_problems_are_shown_at_their_fields_and_nothing_is_stored(crm: tuple[Store, AuthDb]) -> None:
    store, _ = crm
    web, token = visitor(crm)
    before = len(leads(store))
    r = web.post(LEADS_FORM, data={"csrf_token": token, "company": "<b>Acme</b>", "budget": "lots"})
    assert r.status_code == 422
    assert re.search(r'id="err-name">[^<]+<', r.text) and re.search(r'id="err-budget">[^<]+<', r.text)
    assert 'value="&lt;b&gt;Acme&lt;/b&gt;"' in r.text
    assert len(leads(store)) == before


def test_bots_floods_and_foreign_pages_are_turned_away(crm: tuple[Store, AuthDb]) -> None:
    store, _ = crm
    web, token = visitor(crm)
    before = len(leads(store))
    bot = web.post(LEADS_FORM, data={"csrf_token": token, "name": "Bot", "company": "x", "website_url": "http://spam"})
    assert bot.status_code == 200 and 'id="thanks"' in bot.text
    assert len(leads(store)) == before  # thanked, nothing stored
    forged = TestClient(web.app, base_url="http://127.0.0.1").post(LEADS_FORM, data={"name": "X", "company": "Y"})
    assert forged.status_code == 403 and len(leads(store)) == before
    for i in range(10):
        ok = web.post(LEADS_FORM, data={"csrf_token": token, "name": f"Lead {i}", "company": "Flood Co"})
        assert ok.status_code == 200, ok.text
    flood = web.post(LEADS_FORM, data={"csrf_token": token, "name": "Lead 11", "company": "Flood Co"})
    assert flood.status_code == 429 and int(flood.headers["retry-after"]) > 0
    assert len(leads(store)) == before + 10
    huge = web.post(LEADS_FORM, data={"csrf_token": token, "name": "x", "description": "y" * 70_000})
    assert huge.status_code == 413
    assert web.get("/f/nothing").status_code == 404
