"""`?filter=<expression>` on the CRM's opportunities agrees with a Python reference, on SQLite and PostgreSQL.

About 60 opportunities with accounts and activities are seeded (nulls, decimals, dates, text, selects);
each filter's result through the API must be exactly the ids a plain Python predicate picks. Bad filters
get a located 422 (never a 500), and SQL in string literals or names is inert.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engine.store.records import Store
from tests.helpers import api_client, make_store

CRM = Path(__file__).resolve().parents[2] / "blueprints" / "crm"
STAGES = ["initial_contact", "needs_confirmed", "proposal", "negotiation", "won", "lost"]
INDUSTRIES = ["manufacturing", "technology", "medical", "retail", None]
REGIONS = ["east", "north", "south", None]
SOURCES = ["website", "referral", "event", "cold_call", None]
NAMES = ["Alpha", "beta", "GAMMA", "项目", "Delta Ärger", "O'Brien", "x"]


@dataclass
class Opp:
    """A created opportunity as the reference sees it (Python values, the account, its activities)."""

    id: int
    name: str
    amount: Decimal | None
    budget: Decimal | None
    probability: Decimal | None
    stage: str
    source: str | None
    close_date: date | None
    closed_on: date | None
    competitor: str | None
    lost_reason: str | None
    account: dict[str, Any]
    activities: list[dict[str, Any]] = field(default_factory=list)


def _seed(store: Store) -> list[Opp]:
    rnd = random.Random(20260301)
    accounts = []
    for i in range(8):
        data: dict[str, Any] = {"name": f"Account {i} 公司", "industry": INDUSTRIES[i % 5], "region": REGIONS[i % 4]}
        accounts.append(store.create("account", data))
    opps: list[Opp] = []
    for i in range(60):
        account = accounts[i % len(accounts)]
        stage = STAGES[i % 6]
        amount = None if i % 11 == 3 else Decimal(rnd.randrange(0, 12_000_000)) / 100
        if i == 5:
            amount = Decimal("50000")  # on the boundary of `amount > 50000`
        if i == 7:
            amount = Decimal("1500.5")
        budget = None if i % 4 == 1 else Decimal(rnd.randrange(0, 100_000))
        probability = None if i % 9 == 2 else Decimal(rnd.randrange(0, 101)) / 100
        if i == 8:
            probability = Decimal("0.30")
        close_date = None if i % 13 == 6 else date(2025, 10, 1) + timedelta(days=rnd.randrange(0, 480))
        closed_on = None if close_date is None or i % 3 else close_date + timedelta(days=rnd.randrange(-20, 20))
        competitor = [None, "  ", "华为", "Cisco", None][i % 5]
        name = f"{NAMES[i % len(NAMES)]} {i}"
        data = {
            "name": name,
            "account_id": account["id"],
            "amount": amount,
            "budget": budget,
            "probability": probability,
            "stage": stage,
            "source": SOURCES[i % 5],
            "close_date": close_date,
            "closed_on": closed_on,
            "competitor": competitor,
            "lost_reason": "price" if stage == "lost" else None,
        }
        rec = store.create("opportunity", data)
        opps.append(
            Opp(
                id=rec["id"],
                name=name,
                amount=rec["amount"],
                budget=rec["budget"],
                probability=rec["probability"],
                stage=stage,
                source=rec["source"],
                close_date=close_date,
                closed_on=closed_on,
                competitor=rec["competitor"],
                lost_reason=rec["lost_reason"],
                account=account,
            )
        )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i, opp in enumerate(opps):
        for k in range(i % 4):  # 0 to 3 activities
            act = {
                "name": f"跟进 {k}",
                "type": ["call", "visit", "wechat"][(i + k) % 3],
                "occurred_at": start + timedelta(days=(i * 7 + k * 13) % 120, hours=k),
                "duration_minutes": None if (i + k) % 5 == 0 else (i * 3 + k * 17) % 90,
                "opportunity_id": opp.id,
                "account_id": opp.account["id"],
            }
            store.create("activity", act)
            opp.activities.append(act)
    return opps


@pytest.fixture(scope="module")
def _module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("filters")


@pytest.fixture
def seeded(db_url: str) -> Iterator[tuple[TestClient, Store, list[Opp]]]:
    store = make_store(db_url, CRM)
    opps = _seed(store)
    with api_client(store) as client:
        yield client, store, opps
    store.db.dispose()


# -- the Python reference: SQL's three-valued logic by hand, None meaning null -------------------


def _gt(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a > b


def _blank(x: Any) -> bool:
    return x is None or (isinstance(x, str) and x.strip(" ") == "") or x == []


def _ascii_lower(t: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in t)


def _div(a: Decimal, b: Decimal) -> Decimal | None:
    if b == 0:
        return None
    q = a / b
    return q.quantize(Decimal("1e-10"), rounding="ROUND_HALF_UP")


def _round2(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")


def _durations(o: Opp) -> list[int]:
    return [a["duration_minutes"] for a in o.activities if a["duration_minutes"] is not None]


CASES: list[tuple[str, Callable[[Opp], bool]]] = [
    ("stage = 'negotiation'", lambda o: o.stage == "negotiation"),
    ("stage != 'won'", lambda o: o.stage != "won"),
    ("amount > 50000", lambda o: _gt(o.amount, 50000)),
    ("amount >= 12345.67", lambda o: o.amount is not None and o.amount >= Decimal("12345.67")),
    ("amount = 1500.50", lambda o: o.amount == Decimal("1500.5")),
    (
        "amount * probability > 20000",
        lambda o: o.amount is not None and o.probability is not None and o.amount * o.probability > 20000,
    ),
    ("is_blank(amount)", lambda o: o.amount is None),
    ("not is_blank(competitor)", lambda o: not _blank(o.competitor)),
    ("coalesce(amount, 0) < 1000", lambda o: (o.amount or 0) < 1000),
    ("stage in ('won', 'lost')", lambda o: o.stage in ("won", "lost")),
    ("stage not in ('won', 'lost')", lambda o: o.stage not in ("won", "lost")),
    ("source in ['website', 'referral']", lambda o: o.source in ("website", "referral")),
    ("not (source in ['website'])", lambda o: o.source is not None and o.source != "website"),
    ("account.industry = 'manufacturing'", lambda o: o.account["industry"] == "manufacturing"),
    ("is_blank(account.industry)", lambda o: o.account["industry"] is None),
    (
        "account.region in ('east', 'north') and amount > 10000",
        lambda o: o.account["region"] in ("east", "north") and _gt(o.amount, 10000),
    ),
    ("close_date < date('2026-06-01')", lambda o: _gt(date(2026, 6, 1), o.close_date)),
    (
        "close_date >= date('2026-01-01') and close_date <= date('2026-03-31')",
        lambda o: o.close_date is not None and date(2026, 1, 1) <= o.close_date <= date(2026, 3, 31),
    ),
    ("year(close_date) = 2025", lambda o: o.close_date is not None and o.close_date.year == 2025),
    ("month(close_date) in [1, 2, 3]", lambda o: o.close_date is not None and o.close_date.month in (1, 2, 3)),
    (
        "days_between(close_date, date('2026-12-31')) > 200",
        lambda o: o.close_date is not None and (date(2026, 12, 31) - o.close_date).days > 200,
    ),
    (
        "add_days(close_date, 30) > date('2026-07-01')",
        lambda o: o.close_date is not None and o.close_date + timedelta(days=30) > date(2026, 7, 1),
    ),
    (
        "date_trunc('month', close_date) = date('2026-02-01')",
        lambda o: o.close_date is not None and o.close_date.replace(day=1) == date(2026, 2, 1),
    ),
    ("closed_on > close_date", lambda o: _gt(o.closed_on, o.close_date)),
    ("len(name) > 7", lambda o: len(o.name) > 7),
    ("starts_with(lower(name), 'gamma')", lambda o: _ascii_lower(o.name).startswith("gamma")),
    ("lower(name) = 'delta Ärger 4'", lambda o: _ascii_lower(o.name) == "delta Ärger 4"),
    ("contains(name, 'eta')", lambda o: "eta" in o.name),
    ("starts_with(name, '项目')", lambda o: o.name.startswith("项目")),
    ('contains(name, "\'")', lambda o: "'" in o.name),
    ("name < 'M'", lambda o: o.name < "M"),
    ("account.name + ' / ' + name = 'Account 2 公司 / GAMMA 2'", lambda o: o.name == "GAMMA 2"),
    ("count(activity) > 0", lambda o: len(o.activities) > 0),
    ("count(activity) >= 2", lambda o: len(o.activities) >= 2),
    ("count(activity, a.type = 'call') = 0", lambda o: not any(a["type"] == "call" for a in o.activities)),
    ("max(activity, a.duration_minutes) > 30", lambda o: bool(_durations(o)) and max(_durations(o)) > 30),
    ("sum(activity, a.duration_minutes) >= 60", lambda o: sum(_durations(o)) >= 60),
    (
        "count(activity, a.occurred_at >= datetime('2026-03-01T00:00:00Z')) >= 1",
        lambda o: any(a["occurred_at"] >= datetime(2026, 3, 1, tzinfo=UTC) for a in o.activities),
    ),
    ("stage = 'won' or amount > 80000", lambda o: o.stage == "won" or _gt(o.amount, 80000)),
    (
        "not (stage = 'won') and probability >= 50%",
        lambda o: o.stage != "won" and o.probability is not None and o.probability >= Decimal("0.5"),
    ),
    ("if(stage = 'won', amount, 0) > 30000", lambda o: o.stage == "won" and _gt(o.amount, 30000)),
    (
        "round(amount / 3, 2) > 10000",
        lambda o: o.amount is not None and _round2(_div(o.amount, Decimal(3)) or Decimal(0)) > 10000,
    ),
    (
        "abs(amount - budget) < 5000",
        lambda o: o.amount is not None and o.budget is not None and abs(o.amount - o.budget) < 5000,
    ),
    ("probability = 0.3", lambda o: o.probability == Decimal("0.3")),
    ("-amount < -100000 or budget / 0 > 1", lambda o: _gt(o.amount, 100000)),
    (
        "(stage = 'lost' and lost_reason = 'price') or (is_blank(source) and not is_blank(close_date))",
        lambda o: (o.stage == "lost" and o.lost_reason == "price") or (o.source is None and o.close_date is not None),
    ),
    ("true", lambda o: True),
    ("amount > 1000000000", lambda o: False),
]


def _ids(client: TestClient, expression: str) -> list[int]:
    r = client.get("/api/v1/opportunity", params={"filter": expression, "limit": 1000, "fields": "id"})
    assert r.status_code == 200, (expression, r.text)
    body = r.json()
    assert body.get("next_cursor") in (None, ""), expression
    return sorted(rec["id"] for rec in body["data"])


def test_filters_agree_with_python(seeded: tuple[TestClient, Store, list[Opp]]) -> None:
    client, _, opps = seeded
    assert len(CASES) >= 30
    mismatches = []
    trivial = []
    for expression, predicate in CASES:
        expected = sorted(o.id for o in opps if predicate(o))
        got = _ids(client, expression)
        if got != expected:
            mismatches.append((expression, sorted(set(got) ^ set(expected))))
        if not 0 < len(expected) < len(opps):
            trivial.append(expression)
    assert mismatches == []
    # the data is varied enough that the filters pick some rows but not all (two are meant to)
    assert trivial == ["true", "amount > 1000000000"]


def test_the_seed_has_nulls_and_spread(seeded: tuple[TestClient, Store, list[Opp]]) -> None:
    _, _, opps = seeded
    assert len(opps) == 60
    assert any(o.amount is None for o in opps) and any(o.close_date is None for o in opps)
    assert any(o.account["industry"] is None for o in opps) and any(o.source is None for o in opps)
    assert any(o.competitor == "  " for o in opps) and any(not o.activities for o in opps)


def test_filter_combines_with_sort_and_field_filters(seeded: tuple[TestClient, Store, list[Opp]]) -> None:
    client, _, opps = seeded
    r = client.get(
        "/api/v1/opportunity",
        params={"filter": "amount > 10000", "stage": "won", "sort": "-amount", "limit": 1000},
    )
    assert r.status_code == 200, r.text
    expected = sorted((o for o in opps if o.stage == "won" and _gt(o.amount, 10000)), key=lambda o: -(o.amount or 0))
    assert [rec["id"] for rec in r.json()["data"]] == [o.id for o in expected]


BAD = [
    "amount >",
    "(((stage = 'won')",
    "stage = 'unterminated",
    "amount = 'abc'",
    "stage + 1 > 2",
    "amount",
    "amout > 1",
    "nosuchfn(amount) > 1",
    "changed(stage)",
    "amount = null",
    "1 < amount < 3",
    "account.nosuch = 1",
    "count(nosuch) > 0",
    "close_date > '2026-01-01'",
    "len(amount) > 1",
    "stage in ('won', 1)",
    "amount > 1" + " and amount > 1" * 800,  # 10,000+ characters
    "x" * 10_000,
    "(" * 40 + "true" + ")" * 40,
    "amount > 1234567890123456789012",
    "'" + "a" * 10_000 + "'",
    "amount > 1 ;",
    "stage = 'won' -- comment",
]


@pytest.mark.parametrize("expression", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_filters_get_a_located_422(seeded: tuple[TestClient, Store, list[Opp]], expression: str) -> None:
    client, _, _ = seeded
    r = client.get("/api/v1/opportunity", params={"filter": expression})
    assert r.status_code == 422, (expression[:80], r.status_code, r.text[:500])
    body = r.json()
    assert body["ok"] is False
    err = body["errors"][0]
    assert err["loc"] == ["query", "filter"]
    assert err["msg"].startswith("col "), err["msg"]
    r = client.get("/api/v1/opportunity/aggregate", params={"filter": expression, "group_by": "stage"})
    assert r.status_code == 422, (expression[:80], r.text[:300])


#: Injection attempts and how each is answered: a located 422 with its code, or None: a valid filter
#: that compares with the literal as written and so matches no record.
INJECTIONS: list[tuple[str, str | None]] = [
    ("name = 'x'' OR 1=1 --'", "expr.syntax"),
    ("name; drop table opportunity", "expr.syntax"),
    ('"; DROP TABLE', "expr.syntax"),
    ('"; DROP TABLE opportunity; --"', "expr.type"),
    ("name = 'x\\' OR 1=1 --'", None),
    ("name = '; DROP TABLE opportunity; --'", None),
    ("name = \"' OR '1'='1\"", None),
    ("contains(name, '%') or starts_with(name, '_')", None),
    ("name = 'Alpha 0' or name = '1'' or ''1'' = ''1'", "expr.syntax"),
    ("opportunity = 1", "expr.unknown_name"),
    ("sqlite_master = 1", "expr.unknown_name"),
    ("drop(opportunity)", "expr.unknown_function"),
    ("name = 'a' union select * from lw_user", "expr.syntax"),
]


@pytest.mark.parametrize(("expression", "code"), INJECTIONS, ids=[f"inj{i}" for i in range(len(INJECTIONS))])
def test_injection_is_inert(seeded: tuple[TestClient, Store, list[Opp]], expression: str, code: str | None) -> None:
    client, _, opps = seeded
    r = client.get("/api/v1/opportunity", params={"filter": expression, "limit": 1000})
    if code is None:
        assert (r.status_code, r.json()["data"]) == (200, []), r.text
    else:
        assert r.status_code == 422, r.text
        assert (r.json()["errors"][0]["loc"], r.json()["errors"][0]["code"]) == (["query", "filter"], code)
    # the table is intact
    assert len(_ids(client, "true")) == len(opps)
    assert client.get("/api/v1/account", params={"limit": 1000}).status_code == 200


@pytest.mark.parametrize(
    ("params", "loc", "code", "message"),
    [
        (
            {"filter": "stage = 'wonn'"},
            ["query", "filter"],
            "expr.unknown_option",
            "col 9: 'wonn' is not an option of stage; did you mean 'won'?",
        ),
        (
            {"filter": "stage in ('won', 'lots')"},
            ["query", "filter"],
            "expr.unknown_option",
            "col 18: 'lots' is not an option of stage; did you mean 'lost'?",
        ),
        (
            {"filter": "account.industry != 'manufactoring'"},
            ["query", "filter"],
            "expr.unknown_option",
            "col 21: 'manufactoring' is not an option of account.industry; did you mean 'manufacturing'?",
        ),
        (
            {"stage": "wonn"},
            ["query", "stage"],
            "query.bad_value",
            "stage: 'wonn' is not one of [initial_contact, needs_confirmed, proposal, negotiation, won, lost]; "
            "did you mean 'won'?",
        ),
        ({"stage__in": "won,lots"}, ["query", "stage__in"], "query.bad_value", "stage: 'lots' is not one of"),
    ],
)
def test_a_select_compared_with_text_that_is_not_an_option_is_a_422(
    seeded: tuple[TestClient, Store, list[Opp]], params: dict[str, str], loc: list[str], code: str, message: str
) -> None:
    client, _, _ = seeded
    for path in ("/api/v1/opportunity", "/api/v1/opportunity/aggregate"):
        r = client.get(path, params={**params, "group_by": "stage"} if "aggregate" in path else params)
        assert r.status_code == 422, r.text
        (error,) = r.json()["errors"]
        assert (error["loc"], error["code"]) == (loc, code)
        assert error["msg"].startswith(message), error["msg"]
