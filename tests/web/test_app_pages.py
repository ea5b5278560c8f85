"""The generated app's pages over the CRM demo, on SQLite and PostgreSQL: what each user sees (and
never sees), board moves through the write path, CSV export, search, escaping, the language, and
a constant number of SQL statements per page."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from engine.auth.directory import AuthDb
from engine.auth.users import Users
from engine.store.records import Store
from engine.web.app import create_app
from tests.helpers import demo_client, user_id

REP = "chen.xiaoming@demo.loomwork.dev"
OTHER_REP = "sun.hao@demo.loomwork.dev"
FINANCE = "zheng.li@demo.loomwork.dev"
ADMIN = "admin@demo.loomwork.dev"


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def record_links(html: str, obj: str) -> set[int]:
    return {int(i) for i in re.findall(rf'href="/app/{obj}/(\d+)" class="record-link"', html)}


def api_ids(client: TestClient, obj: str, **params: str) -> set[int]:
    r = client.get(f"/api/v1/{obj}", params={"limit": "1000", "fields": "id", **params})
    assert r.status_code == 200, r.text
    return {d["id"] for d in r.json()["data"]}


def test_signed_out_visitors_are_sent_to_sign_in_and_back(demo: tuple[Store, AuthDb]) -> None:
    store, auth = demo
    anonymous = TestClient(create_app(store, auth=auth))
    r = anonymous.get("/app/opportunity?view=won", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login?next=%2Fapp%2Fopportunity%3Fview%3Dwon")


def test_the_menu_offers_only_what_the_user_may_read(demo: tuple[Store, AuthDb]) -> None:
    finance = demo_client(demo, FINANCE)
    html = finance.get("/app/quote").text
    menu = set(re.findall(r'<li><a href="/app/(\w+)"', html))
    assert "quote" in menu and "opportunity" not in menu and "lead" not in menu
    r = finance.get("/app/opportunity")
    assert r.status_code == 404 and "opportunity" not in set(re.findall(r'<li><a href="/app/(\w+)"', r.text))


def test_a_rep_lists_exactly_the_records_the_api_gives_them(demo: tuple[Store, AuthDb]) -> None:
    rep = demo_client(demo, REP)
    html = rep.get("/app/opportunity", params={"view": "all", "size": "100"}).text
    assert record_links(html, "opportunity") == api_ids(rep, "opportunity")
    total = re.search(r'id="list-total">([^<]*)<', html)
    assert total is not None and total.group(1).strip() == f"{len(api_ids(rep, 'opportunity'))} records"
    other = api_ids(demo_client(demo, OTHER_REP), "opportunity")
    assert other and not (record_links(html, "opportunity") & other)
    # someone else's deal: the same 404 as a deal that does not exist
    assert rep.get(f"/app/opportunity/{min(other)}").status_code == 404


def test_a_long_list_says_more_than_it_counts(demo: tuple[Store, AuthDb], monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.web.listing

    monkeypatch.setattr(engine.web.listing, "TOTAL_LIMIT", 3)
    html = demo_client(demo, ADMIN).get("/app/opportunity", params={"view": "all"}).text
    total = re.search(r'id="list-total">([^<]*)<', html)
    assert total is not None and total.group(1).strip() == "More than 3 records"


def test_the_view_filter_the_users_filter_and_conditions_combine(demo: tuple[Store, AuthDb]) -> None:
    admin = demo_client(demo, ADMIN)
    html = admin.get("/app/opportunity", params={"filter": "amount > 500000", "size": "100"}).text
    expected = api_ids(admin, "opportunity", filter="(stage not in ('won', 'lost')) and (amount > 500000)")
    assert expected and record_links(html, "opportunity") == expected
    assert "(stage not in (&#39;won&#39;, &#39;lost&#39;)) and (amount &gt; 500000)" in html  # the expression shown
    account = 1
    html = admin.get("/app/opportunity", params={"view": "all", "account_id": str(account), "size": "100"}).text
    assert record_links(html, "opportunity") == api_ids(admin, "opportunity", account_id=str(account))


def test_a_bad_filter_is_a_message_on_the_page_not_an_error_page(demo: tuple[Store, AuthDb]) -> None:
    r = demo_client(demo, ADMIN).get("/app/opportunity", params={"filter": "amount >"})
    assert r.status_code == 422
    assert 'id="list-error"' in r.text and "filter-expression" in r.text


def test_hidden_fields_are_never_columns_cards_or_exported(demo: tuple[Store, AuthDb]) -> None:
    rep = demo_client(demo, REP)
    html = rep.get("/app/product", params={"columns": "name,floor_price,cost_price,list_price"}).text
    assert "floor_price" not in html and "cost_price" not in html and "list_price" in html
    exported = rep.get("/app/product/export.csv", params={"columns": "name,floor_price,list_price"})
    header = next(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert header == ["Product name", "List price"] or len(header) == 2


def test_sorting_by_a_header_and_paging_with_cursors_cover_every_record_once(demo: tuple[Store, AuthDb]) -> None:
    admin = demo_client(demo, ADMIN)
    seen: list[int] = []
    url = "/app/account?sort=-name"
    while url:
        html = admin.get(url.replace("&amp;", "&")).text
        seen += [int(i) for i in re.findall(r'href="/app/account/(\d+)" class="record-link"', html)]
        found = re.search(r'href="([^"]+)" class="button secondary" id="next-page"', html)
        url = found.group(1) if found else ""
    assert len(seen) == len(set(seen)) == len(api_ids(admin, "account"))
    r = admin.get("/api/v1/account", params={"sort": "-name", "limit": "1000", "fields": "id"})
    assert seen == [d["id"] for d in r.json()["data"]]


def test_the_board_has_a_column_per_stage_with_counts_and_sums(demo: tuple[Store, AuthDb]) -> None:
    store, _ = demo
    rep = demo_client(demo, REP)
    html = rep.get("/app/opportunity/board").text
    columns = re.findall(r'<section class="board-column" aria-labelledby="col-(\w+)"', html)
    assert columns == [o.id for o in store.app.object("opportunity").field("stage").options]
    groups = rep.get("/api/v1/opportunity/aggregate", params={"group_by": "stage", "metrics": "count"}).json()["data"]
    counts = dict(re.findall(r'aria-labelledby="col-(\w+)".*?data-count="(\d+)"', html, flags=re.S))
    assert {k: int(v) for k, v in counts.items() if int(v)} == {g["stage"]: g["count"] for g in groups}


def _a_card(rep: TestClient, stage: str | None = None) -> dict[str, Any]:
    params = {"limit": "1", "fields": "id,version,stage"}
    if stage:
        params["stage"] = stage
    found: dict[str, Any] = rep.get("/api/v1/opportunity", params=params).json()["data"][0]
    return found


def test_moving_a_card_is_an_update_through_every_check(crm: tuple[Store, AuthDb]) -> None:
    rep = demo_client(crm, REP)
    card = _a_card(rep, "initial_contact")
    move = {"by": "stage", "to": "needs_confirmed", "version": str(card["version"])}
    r = rep.post(f"/app/opportunity/{card['id']}/move", data=move, headers={"HX-Request": "true"})
    assert r.status_code == 200 and 'id="board"' in r.text
    after = rep.get(f"/api/v1/opportunity/{card['id']}").json()["data"]
    assert (after["stage"], after["version"]) == ("needs_confirmed", card["version"] + 1)
    # refused by the blueprint (a lost deal needs its lost reason): the card stays, with the reason on it
    refused = {"by": "stage", "to": "lost", "version": str(after["version"])}
    r = rep.post(f"/app/opportunity/{card['id']}/move", data=refused, headers={"HX-Request": "true"})
    assert r.status_code == 200
    card_html = re.search(rf'<li class="card refused" data-id="{card["id"]}".*?</li>', r.text, flags=re.S)
    assert card_html is not None and "Lost reason is required" in card_html.group(0)
    assert re.search(rf'data-option="needs_confirmed">.*?data-id="{card["id"]}"', r.text, flags=re.S)
    assert rep.get(f"/api/v1/opportunity/{card['id']}").json()["data"]["stage"] == "needs_confirmed"
    # a stale version (someone moved it meanwhile) is refused too, never applied over their change
    r = rep.post(f"/app/opportunity/{card['id']}/move", data=move | {"to": "won"}, headers={"HX-Request": "true"})
    assert "Someone changed this record meanwhile" in r.text
    assert rep.get(f"/api/v1/opportunity/{card['id']}").json()["data"]["stage"] == "needs_confirmed"


def test_nobody_moves_a_card_they_may_not_update(demo: tuple[Store, AuthDb]) -> None:
    rep = demo_client(demo, REP)
    other = demo_client(demo, OTHER_REP)
    card = _a_card(other)
    move = {"by": "stage", "to": "won", "version": str(card["version"])}
    r = rep.post(f"/app/opportunity/{card['id']}/move", data=move)
    assert r.status_code == 422 and f"opportunity {card['id']} not found" in text_of(r.text)
    assert other.get(f"/api/v1/opportunity/{card['id']}").json()["data"]["stage"] == card["stage"]
    finance = demo_client(demo, FINANCE)
    assert finance.get("/app/opportunity/board").status_code == 404


def test_the_csv_export_is_the_list_as_shown_and_inert_in_spreadsheets(crm: tuple[Store, AuthDb]) -> None:
    rep = demo_client(crm, REP)
    rep.post("/api/v1/account", json={"name": '=HYPERLINK("http://evil")', "industry": "manufacturing"})
    r = rep.get("/app/account/export.csv", params={"sort": "name", "columns": "name,industry"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    names = [row[0] for row in rows[1:]]
    api = rep.get("/api/v1/account", params={"sort": "name", "limit": "1000", "fields": "name"}).json()["data"]
    assert [n.removeprefix("'") for n in names] == [a["name"] for a in api]
    assert '\'=HYPERLINK("http://evil")' in names


def test_search_finds_only_what_the_user_may_read(demo: tuple[Store, AuthDb]) -> None:
    rep, other = demo_client(demo, REP), demo_client(demo, OTHER_REP)
    theirs = other.get("/api/v1/opportunity", params={"limit": "1", "fields": "id,name"}).json()["data"][0]
    mine = rep.get("/api/v1/opportunity", params={"limit": "1", "fields": "id,name"}).json()["data"][0]
    html = rep.get("/app/search", params={"q": theirs["name"]}).text
    assert f"/app/opportunity/{theirs['id']}" not in html
    html = rep.get("/app/search", params={"q": mine["name"]}, headers={"HX-Request": "true"}).text
    assert f'href="/app/opportunity/{mine["id"]}"' in html and "<html" not in html


XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_text_from_users_is_inert_on_every_page(crm: tuple[Store, AuthDb]) -> None:
    rep = demo_client(crm, REP)
    account = rep.post("/api/v1/account", json={"name": XSS, "industry": "manufacturing"}).json()["data"]
    deal = {
        "name": XSS,
        "account_id": account["id"],
        "amount": "1000.00",
        "stage": "initial_contact",
        "next_step": XSS,  # text
        "description": XSS,  # long text
        "competitor": XSS,
    }
    opp = rep.post("/api/v1/opportunity", json=deal).json()["data"]
    rep.patch(f"/api/v1/opportunity/{opp['id']}", json={"next_step": XSS + "!"})
    manager = user_id(crm[0], "li.na@demo.loomwork.dev")
    posted = rep.post(f"/api/v1/opportunity/{opp['id']}/comments", json={"body": f"@[{XSS}](user:{manager}) {XSS}"})
    assert posted.status_code == 201, posted.text
    pages = [
        "/app/account",
        f"/app/account/{account['id']}",
        "/app/opportunity?view=all",
        "/app/opportunity/board",
        f"/app/opportunity/{opp['id']}",
        "/app/search?q=script",
    ]
    inbox = demo_client(crm, "li.na@demo.loomwork.dev").get("/app/notifications").text
    assert "<script>alert" not in inbox and "<img src=x" not in inbox and "&lt;script&gt;" in inbox
    for page in pages:
        html = rep.get(page).text
        assert "<script>alert" not in html and "<img src=x" not in html, page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html, page


@contextmanager
def counting(store: Store) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(store.db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(store.db.engine, "before_cursor_execute", count)


def test_pages_cost_the_same_number_of_statements_for_5_or_25_rows(demo: tuple[Store, AuthDb]) -> None:
    store, _ = demo
    admin = demo_client(demo, ADMIN)
    admin.get("/app/activity")  # warm: the token is checked and cached
    columns = "name,account,opportunity,contact,owner_id"
    counts = {}
    for rows, last_id in ((5, 5), (25, 10**6)):
        with counting(store) as statements:
            r = admin.get("/app/activity", params={"columns": columns, "filter": f"id <= {last_id}", "view": "recent"})
            assert r.status_code == 200
        assert len(record_links(r.text, "activity")) == rows
        counts[rows] = len(statements)
    assert counts[25] <= counts[5], counts  # more rows, no more statements
    by_activity = sorted(api_ids(admin, "account"), key=lambda i: len(api_ids(admin, "activity", account_id=str(i))))
    record_counts = []
    for account in (by_activity[0], by_activity[-1]):
        with counting(store) as statements:
            assert admin.get(f"/app/account/{account}").status_code == 200
        record_counts.append(len(statements))
    assert record_counts[0] == record_counts[1]


def test_the_language_switch_is_stored_on_the_user_and_needs_the_csrf_token(crm: tuple[Store, AuthDb]) -> None:
    store, auth = crm
    Users(auth).set_locale(user_id(store, "emma.clarke@demo.loomwork.dev"), "")  # not chosen: the browser's
    web = TestClient(
        create_app(store, auth=auth), base_url="http://127.0.0.1", headers={"Accept-Language": "en-US,en;q=0.9"}
    )
    page = web.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    form = {"email": "emma.clarke@demo.loomwork.dev", "password": "demo-password", "csrf_token": token.group(1)}
    assert web.post("/login", data=form, follow_redirects=False).status_code == 303
    html = web.get("/app/opportunity").text
    assert '<html lang="en">' in html and "Open deals" in html
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert csrf is not None
    assert web.post("/app/locale", data={"lang": "zh", "next": "/app/opportunity"}).status_code == 403
    r = web.post("/app/locale", data={"lang": "zh", "next": "/app/opportunity", "csrf_token": csrf.group(1)})
    assert r.status_code == 200 and '<html lang="zh-CN">' in r.text and "进行中的商机" in r.text
    uid = user_id(store, "emma.clarke@demo.loomwork.dev")
    with store.db.read() as conn:
        assert conn.execute(sa.text("select locale from lw_user where id = :i"), {"i": uid}).scalar() == "zh"
