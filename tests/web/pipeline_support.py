"""A seeded pipeline (tests/web/pipeline.yaml) and its Python reference, for the list and aggregate tests.

Deals carry nulls, ties, negative amounts, dates on year, quarter and ISO-week edges and moments near
midnight UTC. Every virtual formula is computed here in plain Python, so the API's answers can be
compared with values the engine did not compute.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from engine.expr.numbers import div, fit_places
from engine.store.records import Store
from tests.helpers import api_client, make_store, user_id

PIPELINE = Path(__file__).with_name("pipeline.yaml")
STAGES = ["new", "won", "lost"]
INDUSTRIES = ["manufacturing", "retail", "tech", None]
REGIONS = ["east", "West", "north", None, "Ärger"]
EDGE_DATES = [
    date(2025, 12, 28),  # a Sunday: ISO week 2025-W52
    date(2025, 12, 29),  # Monday of ISO week 2026-W01
    date(2026, 1, 1),
    date(2026, 3, 31),
    date(2026, 4, 1),
    date(2026, 12, 31),
    date(2027, 1, 1),  # a Friday: its ISO week starts 2026-12-28
]
BEIJING = timezone(timedelta(hours=8))


@dataclass
class Pipeline:
    """The seeded world: clients per role, the store, and every record as Python values."""

    store: Store
    admin: TestClient
    rep: TestClient
    dealer: TestClient
    rep_id: int
    accounts: dict[int, dict[str, Any]] = field(default_factory=dict)
    deals: list[dict[str, Any]] = field(default_factory=list)

    def deals_of(self, who: str) -> list[dict[str, Any]]:
        """The deals `who` may read (a rep: their own)."""
        return [d for d in self.deals if who != "rep" or d["owner_id"] == self.rep_id]

    def account_of(self, deal: dict[str, Any], who: str) -> dict[str, Any] | None:
        """The deal's account as `who` reads it through the lookup (a rep: only their own)."""
        account = self.accounts.get(deal["account_id"]) if deal["account_id"] else None
        if account is not None and who == "rep" and account["owner_id"] != self.rep_id:
            return None
        return account


def virtual_values(d: dict[str, Any]) -> dict[str, Any]:
    """The virtual formulas of pipeline.yaml, computed by hand (a number rounded half away from
    zero to the formula's scale, as a stored value would be)."""
    amount, probability = d["amount"], d["probability"]
    won_value = amount if d["stage"] == "won" else Decimal(0)
    return {
        "weighted": None if amount is None or probability is None else fit_places(amount * probability, 6),
        "won_value": None if won_value is None else fit_places(won_value, 2),
        "third": None if amount is None else fit_places(div(amount, 3), 2),
        "follow_up": None if d["close_date"] is None else d["close_date"] + timedelta(days=30),
        "reminder": None if d["signed_at"] is None else d["signed_at"] + timedelta(days=7),
        "label": f"{d['name']} / {d['stage']}",
        "big": None if amount is None else amount > 50000,
        "net": None if amount is None else fit_places(amount - 100, 2),
    }


def seed(store: Store, rep_id: int) -> tuple[dict[int, dict[str, Any]], list[dict[str, Any]]]:
    rnd = random.Random(20260419)
    accounts: dict[int, dict[str, Any]] = {}
    ids: list[int] = []
    for i in range(8):
        data: dict[str, Any] = {
            "name": f"account {i:02d}",
            "industry": INDUSTRIES[i % 4],
            "region": REGIONS[i % 5],
            "revenue": str(Decimal(rnd.randrange(0, 10**9)) / 100),
            "secret": f"s{i}",
            "founded": (date(2001, 1, 1) + timedelta(days=i * 400)).isoformat(),
            "parent_id": ids[i - 4] if i >= 4 else None,
        }
        owner = rep_id if i in (0, 1, 4) else None
        record = store.create("account", data, actor=owner)
        accounts[record["id"]] = record
        ids.append(record["id"])
    deals: list[dict[str, Any]] = []
    for i in range(90):
        amount = None if i % 11 == 3 else Decimal(rnd.randrange(-500_000, 20_000_000)) / 100
        if i % 13 == 0:
            amount = Decimal("1000.00")  # ties
        probability = None if i % 9 == 2 else Decimal(rnd.randrange(0, 10_001)) / 10_000
        close = None if i % 12 == 5 else date(2025, 11, 1) + timedelta(days=rnd.randrange(0, 480))
        if i < len(EDGE_DATES):
            close = EDGE_DATES[i]
        moment = (
            None if i % 10 == 4 else datetime(2025, 12, 1, tzinfo=UTC) + timedelta(minutes=rnd.randrange(0, 700_000))
        )
        if i % 17 == 1:
            moment = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)  # 07:30 on April 1 in Beijing
        if i % 17 == 2:
            moment = datetime(2026, 3, 31, 22, 30, tzinfo=UTC)  # 00:30 on April 1 in Berlin (summer time)
        if i % 17 == 3:
            moment = datetime(2025, 12, 31, 23, 30, tzinfo=UTC)  # 00:30 on January 1 in Berlin (winter time)
        data = {
            "name": f"deal {i:03d}",
            "account_id": None if i % 10 == 9 else ids[i % 8],
            "amount": amount,
            "probability": probability,
            "quantity": None if i % 7 == 1 else rnd.randrange(0, 50),
            "stage": STAGES[i % 3],
            "close_date": close,
            "signed_at": None if moment is None else moment.astimezone(BEIJING).isoformat(),
            "tags": ["a"] if i % 2 else [],
            "hot": None if i % 5 == 0 else i % 2 == 0,
        }
        record = store.create("deal", data, actor=rep_id if i % 3 == 0 else None)
        record.update(virtual_values(record))
        deals.append(record)
    return accounts, deals


def pipeline(db_url: str, blueprint: Path = PIPELINE) -> Iterator[Pipeline]:
    """The seeded world for one test (use as a generator fixture)."""
    store = make_store(db_url, blueprint)
    try:
        with (
            api_client(store) as admin,
            api_client(store, role="rep", email="rep@example.com") as rep,
            api_client(store, role="dealer", email="dealer@example.com") as dealer,
        ):
            rep_id = user_id(store, "rep@example.com")
            assert rep_id is not None
            accounts, deals = seed(store, rep_id)
            yield Pipeline(store, admin, rep, dealer, rep_id, accounts, deals)
    finally:
        store.db.dispose()


def ordered(records: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any], desc: bool) -> list[int]:
    """Ids in the API's order: by `key`, empty values last in both directions, then by id."""
    by_id = sorted(records, key=lambda r: r["id"])
    present = sorted((r for r in by_id if key(r) is not None), key=key, reverse=desc)
    return [r["id"] for r in present] + [r["id"] for r in by_id if key(r) is None]


def walk(client: TestClient, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every record of a list, following next_cursor page by page."""
    out: list[dict[str, Any]] = []
    cursor = None
    for _ in range(200):
        r = client.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, (params, r.text)
        body = r.json()
        out += body["data"]
        cursor = body["next_cursor"]
        if not cursor:
            return out
    raise AssertionError("the cursor never ended")


def bucket(value: date | datetime | None, unit: str, zone: str = "UTC") -> date | None:
    """The first day of the day, ISO week, month, quarter or year holding `value` (a moment on the
    calendar of the IANA time zone `zone`)."""
    if value is None:
        return None
    day = value.astimezone(ZoneInfo(zone)).date() if isinstance(value, datetime) else value
    if unit == "week":
        return day - timedelta(days=day.isoweekday() - 1)
    if unit == "month":
        return day.replace(day=1)
    if unit == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    if unit == "year":
        return date(day.year, 1, 1)
    return day


def exact_average(values: list[Decimal | int], keep: int) -> str | None:
    """The documented average: exact sum / count rounded half away from zero to 10 places, trailing
    zeros trimmed down to `keep` places."""
    if not values:
        return None
    total = sum((Decimal(v) for v in values), Decimal(0))
    average = div(total, len(values), 10)
    assert average is not None
    text = f"{average:f}".rstrip("0") if "." in f"{average:f}" else f"{average:f}"
    whole, _, frac = text.partition(".")
    frac = frac.ljust(keep, "0")
    return f"{whole}.{frac}" if frac else whole
