"""A stored formula that reads another record is recomputed, in the same transaction, whenever
that record changes: through lookups, over collections of related records and child lines,
through virtual formulas and along chains of stored formulas, on both databases."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import Conflict, InputInvalid, NotFound
from engine.store import cascade
from engine.store.computed import Loader
from engine.store.records import Store
from tests.helpers import api_client, make_store

BLUEPRINT = """
app: {name: sales}
objects:
  region:
    fields:
      name: {type: text}
      code: {type: text}
  account:
    fields:
      name: {type: text}
      sector: {type: text}
      region: {type: lookup, object: region, on_delete: set_null}
      label: {type: formula, expression: "name + ' (' + coalesce(sector, '-') + ')'", stored: false}
      won_value: {type: formula, expression: "sum(opportunity, o.amount, o.stage = 'won')"}
      deals: {type: formula, expression: "count(opportunity)"}
      big_deals: {type: formula, expression: "count(opportunity, o.big)"}
  opportunity:
    fields:
      name: {type: text}
      amount: {type: currency}
      stage: {type: text}
      account: {type: lookup, object: account, on_delete: set_null}
      sector: {type: formula, expression: "account.sector"}
      region_code: {type: formula, expression: "account.region.code"}
      account_label: {type: formula, expression: "account.label"}
      big: {type: formula, expression: "amount >= 1000"}
      share: {type: formula, expression: "if(account.won_value > 0, amount / account.won_value, 0)", scale: 4}
      tag: {type: formula, expression: "coalesce(sector, '?') + '/' + stage"}
    rules:
      - name: sector_for_won
        when: "stage = 'won' and is_blank(sector)"
        message: {en: A won deal needs an account with a sector}
  product:
    fields:
      name: {type: text}
      price: {type: currency}
      units: {type: formula, expression: "sum(quote_line as l, l.quantity)"}
  quote:
    fields:
      name: {type: text}
      rate: {type: decimal}
      lines: {type: child_table, object: quote_line}
      total: {type: formula, expression: "sum(lines, l.line_total)"}
  quote_line:
    fields:
      product: {type: lookup, object: product}
      quantity: {type: integer}
      unit_price: {type: formula, expression: "product.price * quote.rate"}
      line_total: {type: formula, expression: "quantity * unit_price"}
"""


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> Iterator[Store]:
    path = tmp_path / "sales.yaml"
    path.write_text(BLUEPRINT)
    store = make_store(db_url, blueprint=path)
    yield store
    store.db.dispose()


def deal(store: Store, account: int | None, amount: str, stage: str = "won") -> dict[str, Any]:
    return store.create("opportunity", {"name": "d", "amount": amount, "stage": stage, "account_id": account})


def values(store: Store, object_name: str, record_id: int, *names: str) -> tuple[Any, ...]:
    record = store.get(object_name, record_id)
    return tuple(record[n] for n in names)


def test_a_change_reaches_the_formulas_that_read_it_through_lookups(store: Store) -> None:
    north = store.create("region", {"name": "North", "code": "N"})["id"]
    south = store.create("region", {"name": "South", "code": "S"})["id"]
    acme = store.create("account", {"name": "Acme", "sector": "energy", "region_id": north})["id"]
    first, second = deal(store, acme, "10.00")["id"], deal(store, acme, "30.00", "open")["id"]
    assert values(store, "opportunity", first, "sector", "region_code", "account_label", "tag") == (
        "energy",
        "N",
        "Acme (energy)",
        "energy/won",
    )
    store.update("account", acme, {"sector": "retail"}, actor=None)
    # the lookup, the virtual formula it goes through, and the local formula reading the result
    for record_id, stage in ((first, "won"), (second, "open")):
        assert values(store, "opportunity", record_id, "sector", "account_label", "tag") == (
            "retail",
            "Acme (retail)",
            f"retail/{stage}",
        )
    store.update("account", acme, {"region_id": south})  # re-pointed one hop away
    assert values(store, "opportunity", first, "region_code") == ("S",)
    store.update("region", south, {"code": "SX"})  # two hops away
    assert values(store, "opportunity", first, "region_code") == ("SX",)
    assert values(store, "opportunity", second, "region_code") == ("SX",)


def test_derived_changes_keep_the_version_and_write_recompute_history(store: Store) -> None:
    acme = store.create("account", {"name": "Acme", "sector": "energy"})["id"]
    record = deal(store, acme, "10.00")
    store.update("account", acme, {"sector": "retail"}, actor=None)
    after = store.get("opportunity", record["id"])
    # the deal was not edited: a client holding version 1 may still change it (If-Match: "1")
    assert (after["version"], after["updated_at"]) == (1, record["updated_at"])
    assert store.update("opportunity", record["id"], {"name": "renamed"}, version=1)["sector"] == "retail"
    changes = [(h["action"], h["field"], h["old"], h["new"]) for h in store.history("opportunity", record["id"])]
    assert ("recompute", "sector", "energy", "retail") in changes
    assert ("recompute", "tag", "energy/won", "retail/won") in changes


def test_a_repointed_lookup_changes_the_old_and_the_new_target(store: Store) -> None:
    acme = store.create("account", {"name": "Acme", "sector": "energy"})["id"]
    globex = store.create("account", {"name": "Globex", "sector": "retail"})["id"]
    moving = deal(store, acme, "100.00")["id"]
    deal(store, acme, "5.00")
    assert values(store, "account", acme, "won_value", "deals") == (Decimal("105.00"), 2)
    moved = store.update("opportunity", moving, {"account_id": globex})
    assert moved["sector"] == "retail"
    assert values(store, "account", acme, "won_value", "deals") == (Decimal("5.00"), 1)
    assert values(store, "account", globex, "won_value", "deals") == (Decimal("100.00"), 1)


def test_aggregates_over_related_records_follow_every_write(store: Store) -> None:
    acme = store.create("account", {"name": "Acme", "sector": "energy"})["id"]
    big = deal(store, acme, "1000.00")["id"]
    assert values(store, "account", acme, "won_value", "deals", "big_deals") == (Decimal("1000.00"), 1, 1)
    store.update("opportunity", big, {"amount": "999.99"})  # also a chain: big is a stored formula
    assert values(store, "account", acme, "won_value", "big_deals") == (Decimal("999.99"), 0)
    store.update("opportunity", big, {"stage": "lost"})
    assert values(store, "account", acme, "won_value") == (Decimal("0.00"),)
    ids = store.create_many(
        "opportunity",
        [{"name": "b", "amount": "2000", "stage": "won", "account_id": acme} for _ in range(3)],
    )
    assert values(store, "account", acme, "won_value", "deals", "big_deals") == (Decimal("6000.00"), 4, 3)
    store.delete("opportunity", ids[0])
    assert values(store, "account", acme, "won_value", "deals", "big_deals") == (Decimal("4000.00"), 3, 2)
    store.restore("opportunity", ids[0])
    assert values(store, "account", acme, "won_value", "deals", "big_deals") == (Decimal("6000.00"), 4, 3)


def test_a_chain_of_stored_formulas_is_followed(store: Store) -> None:
    acme = store.create("account", {"name": "Acme", "sector": "energy"})["id"]
    first = deal(store, acme, "100.00")["id"]
    second = deal(store, acme, "300.00")["id"]
    assert values(store, "opportunity", first, "share") == (Decimal("0.2500"),)
    # the second deal changes the account's sum, which the first deal's share reads
    store.update("opportunity", second, {"amount": "100.00"})
    assert values(store, "opportunity", first, "share") == (Decimal("0.5000"),)
    assert values(store, "opportunity", second, "share") == (Decimal("0.5000"),)


def test_deleting_a_record_clears_and_restoring_it_brings_back_what_reads_it(store: Store) -> None:
    acme = store.create("account", {"name": "Acme", "sector": "energy"})["id"]
    kept = deal(store, acme, "10.00", "open")["id"]
    store.delete("account", acme)  # on_delete: set_null
    assert values(store, "opportunity", kept, "account_id", "sector", "account_label", "tag") == (
        None,
        None,
        None,
        "?/open",
    )
    store.restore("account", acme)
    assert values(store, "opportunity", kept, "account_id", "sector", "tag") == (acme, "energy", "energy/open")
    assert values(store, "account", acme, "deals", "won_value") == (1, Decimal("0.00"))


def test_rules_of_records_changed_by_cascade_are_not_checked(store: Store) -> None:
    acme = store.create("account", {"name": "Acme", "sector": "energy"})["id"]
    won = deal(store, acme, "10.00")["id"]
    # the deal now breaks its rule, but the user changed the account, not the deal
    store.update("account", acme, {"sector": None})
    assert values(store, "opportunity", won, "sector") == (None,)


def test_lines_follow_their_product_and_their_parent(store: Store) -> None:
    chair = store.create("product", {"name": "chair", "price": "10.00"})["id"]
    desk = store.create("product", {"name": "desk", "price": "100.00"})["id"]
    quote = store.create(
        "quote",
        {
            "name": "q",
            "rate": "1",
            "lines": [{"product_id": chair, "quantity": 2}, {"product_id": desk, "quantity": 1}],
        },
    )
    assert quote["total"] == Decimal("120.00")
    assert values(store, "product", chair, "units") == (2,)
    store.update("product", chair, {"price": "20.00"})  # line price, line total, then the quote's total
    assert values(store, "quote", quote["id"], "total") == (Decimal("140.00"),)
    store.update("quote", quote["id"], {"rate": "0.5"})  # every line reads its quote's rate
    assert values(store, "quote", quote["id"], "total") == (Decimal("70.00"),)
    lines = store.get("quote", quote["id"])["lines"]
    assert [line["unit_price"] for line in lines] == [Decimal("10.00"), Decimal("50.00")]
    store.update("quote", quote["id"], {"lines": [{"id": lines[0]["id"], "quantity": 5}]})  # desk line dropped
    assert values(store, "product", chair, "units") == (5,)
    assert values(store, "product", desk, "units") == (0,)
    store.delete("quote", quote["id"])
    assert values(store, "product", chair, "units") == (0,)
    store.restore("quote", quote["id"])
    assert values(store, "product", chair, "units") == (5,)


def test_recomputing_is_set_based(store: Store) -> None:
    """As many statements for an account with 40 deals as for one with 2."""

    def statements_to_change(deals: int) -> int:
        account = store.create("account", {"name": "A", "sector": "x"})["id"]
        ids = store.create_many("opportunity", [{"name": "d", "amount": "1", "account_id": account}] * deals)
        seen: list[str] = []

        def count(*args: Any) -> None:
            seen.append(str(args[2]))

        sa.event.listen(store.db.engine, "before_cursor_execute", count)
        try:
            store.update("account", account, {"sector": "y"})
        finally:
            sa.event.remove(store.db.engine, "before_cursor_execute", count)
        assert {store.get("opportunity", i)["sector"] for i in ids} == {"y"}
        return len(seen)

    assert statements_to_change(2) == statements_to_change(40)


# -- no stored formula is stale after any sequence of writes ------------------------------------
ID = st.integers(1, 3)
MONEY = st.sampled_from(["0", "5.00", "999.99", "1000", "2500.50"])
WORDS = st.sampled_from(["energy", "retail", None])
WRITES = st.one_of(
    st.tuples(st.just("region"), st.sampled_from(["N", "S"])),
    st.tuples(st.just("account"), WORDS, st.none() | ID),
    st.tuples(st.just("deal"), MONEY, st.sampled_from(["won", "open"]), st.none() | ID),
    st.tuples(st.just("deals"), st.lists(st.tuples(MONEY, st.none() | ID), min_size=1, max_size=3)),
    st.tuples(st.just("sector"), ID, WORDS),
    st.tuples(st.just("region_of"), ID, st.none() | ID),
    st.tuples(st.just("code"), ID, st.sampled_from(["X", "Y"])),
    st.tuples(st.just("move"), ID, st.none() | ID),
    st.tuples(st.just("amount"), ID, MONEY),
    st.tuples(st.just("delete"), st.sampled_from(["account", "opportunity", "region", "quote", "quote_line"]), ID),
    st.tuples(st.just("restore"), st.sampled_from(["account", "opportunity", "region", "quote", "quote_line"]), ID),
    st.tuples(st.just("product"), MONEY),
    st.tuples(st.just("price"), ID, MONEY),
    st.tuples(st.just("quote"), st.sampled_from(["1", "0.5"]), st.lists(st.tuples(ID, st.integers(0, 3)), max_size=3)),
    st.tuples(st.just("rate"), ID, st.sampled_from(["2", "0.25"])),
    st.tuples(st.just("relines"), ID, st.lists(st.tuples(ID, st.integers(0, 3)), max_size=3)),
    st.tuples(st.just("line"), ID, ID, st.integers(0, 3)),
)


def write(store: Store, op: tuple[Any, ...]) -> None:
    kind, *args = op
    if kind == "region":
        store.create("region", {"name": "r", "code": args[0]})
    elif kind == "account":
        store.create("account", {"name": "a", "sector": args[0], "region_id": args[1]})
    elif kind == "deal":
        store.create("opportunity", {"name": "d", "amount": args[0], "stage": args[1], "account_id": args[2]})
    elif kind == "deals":
        rows = [{"name": "d", "amount": m, "stage": "won", "account_id": a} for m, a in args[0]]
        store.create_many("opportunity", rows)
    elif kind in ("sector", "region_of", "code", "move", "amount", "price", "rate"):
        obj, name = {
            "sector": ("account", "sector"),
            "region_of": ("account", "region_id"),
            "code": ("region", "code"),
            "move": ("opportunity", "account_id"),
            "amount": ("opportunity", "amount"),
            "price": ("product", "price"),
            "rate": ("quote", "rate"),
        }[kind]
        store.update(obj, args[0], {name: args[1]})
    elif kind == "delete":
        store.delete(args[0], args[1])
    elif kind == "restore":
        store.restore(args[0], args[1])
    elif kind == "product":
        store.create("product", {"name": "p", "price": args[0]})
    elif kind == "quote":
        lines = [{"product_id": p, "quantity": q} for p, q in args[1]]
        store.create("quote", {"name": "q", "rate": args[0], "lines": lines})
    elif kind == "relines":
        kept = store.get("quote", args[0])["lines"][:1]
        lines = [{"id": line["id"]} for line in kept] + [{"product_id": p, "quantity": q} for p, q in args[1]]
        store.update("quote", args[0], {"lines": lines})
    elif kind == "line":
        store.create("quote_line", {"quote_id": args[0], "product_id": args[1], "quantity": args[2]})


def stale(store: Store) -> list[str]:
    """Stored formulas whose value differs from what recomputing every record gives (rolled back)."""
    found: list[str] = []
    with store.db.engine.connect() as conn:
        transaction = conn.begin()
        try:
            for obj in store.app.objects:
                names = [f.name for f, _ in store.logic[obj.name].stored]
                ids = [int(i) for i in conn.execute(sa.select(store.tables[obj.name].c.id)).scalars()]
                for name in names:
                    change = store.cascade.recompute(conn, obj, [name], ids, actor=None, now=NOW, record_history=False)
                    if change is not None:
                        found.append(f"{obj.name}.{name} of {sorted(change.ids)}")
        finally:
            transaction.rollback()
    return found


NOW = datetime(2026, 1, 1, tzinfo=UTC)


def reset(store: Store) -> None:
    """Every record table and the trash emptied (ids from 1 again), then a few records of each."""
    names = [o.name for o in store.app.objects] + ["lw_history", "lw_trash"]
    with store.db.write() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
        else:
            for name in reversed(names):
                conn.execute(sa.text(f"DELETE FROM {name}"))
            conn.execute(sa.text("DELETE FROM sqlite_sequence"))
    for op in [
        ("region", "N"),
        ("region", "S"),
        ("account", "energy", 1),
        ("account", "retail", 2),
        ("account", None, None),
        ("deals", [("1000", 1), ("5.00", 1), ("2500.50", 2)]),
        ("deal", "999.99", "open", 3),
        ("product", "5.00"),
        ("product", "1000"),
        ("quote", "1", [(1, 2), (2, 1)]),
    ]:
        write(store, op)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writes=st.lists(WRITES, min_size=1, max_size=14))
def test_no_stored_formula_is_stale_after_any_sequence_of_writes(store: Store, writes: list[Any]) -> None:
    reset(store)
    for op in writes:
        try:
            write(store, op)
        except (InputInvalid, NotFound, Conflict):
            continue  # a refused write changes nothing
        assert stale(store) == [], f"after {op}"


def test_an_if_match_read_before_a_derived_change_is_still_accepted(store: Store) -> None:
    client = api_client(store)
    acme = store.create("account", {"name": "Acme", "sector": "energy"})["id"]
    record = client.get(f"/api/v1/opportunity/{deal(store, acme, '10.00')['id']}")
    etag = record.headers["ETag"]
    assert client.patch(f"/api/v1/account/{acme}", json={"sector": "retail"}).status_code == 200
    path = f"/api/v1/opportunity/{record.json()['data']['id']}"
    changed = client.patch(path, json={"name": "renamed"}, headers={"If-Match": etag})
    assert changed.status_code == 200
    assert (changed.json()["data"]["sector"], changed.headers["ETag"]) == ("retail", '"2"')


@pytest.mark.postgres
def test_two_writers_meeting_in_a_chain_one_gives_way_with_409(pg_url: str, tmp_path: Path) -> None:
    """Two deals of one account change at once; each write recomputes the account's sum, then the
    share of every deal of it, so each waits for the other's deal: PostgreSQL aborts one, which
    is a 409 `record.busy` (try again), never a server error, and nothing is left stale."""
    path = tmp_path / "sales.yaml"
    path.write_text(BLUEPRINT)
    store = make_store(pg_url, blueprint=path)
    acme = store.create("account", {"name": "Acme", "sector": "energy"})["id"]
    first, second = deal(store, acme, "10.00")["id"], deal(store, acme, "30.00")["id"]
    both_locked = threading.Barrier(2, timeout=10)
    store.before_save.append(lambda *_: both_locked.wait())  # each holds its own deal's row lock
    outcomes: dict[int, str] = {}

    def change(record_id: int) -> None:
        try:
            store.update("opportunity", record_id, {"amount": "20.00"})
            outcomes[record_id] = "ok"
        except Conflict as exc:
            outcomes[record_id] = exc.code

    threads = [threading.Thread(target=change, args=(i,)) for i in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    store.before_save.clear()
    assert sorted(outcomes.values()) == ["ok", "record.busy"]
    assert stale(store) == []
    store.db.dispose()


def test_large_fan_outs_are_read_and_written_in_chunks(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cascade, "CHUNK", 2)  # as 500 would be for thousands of records
    accounts = [store.create("account", {"name": "a", "sector": "energy"})["id"] for _ in range(3)]
    ids = store.create_many(
        "opportunity", [{"name": "d", "amount": "1000", "stage": "won", "account_id": a} for a in accounts * 3]
    )
    assert [values(store, "account", a, "deals", "big_deals") for a in accounts] == [(3, 3)] * 3
    store.update("account", accounts[1], {"sector": "retail"})
    assert [store.get("opportunity", i)["tag"] for i in ids] == ["energy/won", "retail/won", "energy/won"] * 3
    store.delete("account", accounts[0])
    assert stale(store) == []


def _meet(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, timeout: float) -> None:
    """Make two threads meet (or give up after `timeout`) before `owner.name` runs."""
    barrier = threading.Barrier(2, timeout=timeout)
    original = getattr(owner, name)

    def meeting(*args: Any, **kwargs: Any) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):  # the other one waits for this one's lock
            barrier.wait()
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, meeting)


def _at_once(*writes: Any) -> list[str]:
    outcomes: list[str] = []

    def run(write: Any) -> None:
        try:
            write()
            outcomes.append("ok")
        except Conflict as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=run, args=(w,)) for w in writes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return outcomes


@pytest.mark.postgres
def test_two_deals_created_at_once_for_one_account_both_count(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each new deal holds a key-share lock on its account (the foreign key) when its write
    recomputes the account's sum: that lock must not make the two writes wait for each other."""
    path = tmp_path / "sales.yaml"
    path.write_text(BLUEPRINT)
    store = make_store(pg_url, blueprint=path)
    acme = store.create("account", {"name": "Acme", "sector": "energy"})["id"]
    _meet(monkeypatch, store.cascade, "lock", timeout=2)
    assert _at_once(lambda: deal(store, acme, "10.00"), lambda: deal(store, acme, "30.00")) == ["ok", "ok"]
    assert values(store, "account", acme, "deals", "won_value") == (2, Decimal("40.00"))
    store.db.dispose()


@pytest.mark.postgres
def test_two_lines_added_at_once_both_count_in_the_parent(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parent is locked before its lines are summed, so the second write waits and sees both."""
    path = tmp_path / "sales.yaml"
    path.write_text(BLUEPRINT)
    store = make_store(pg_url, blueprint=path)
    chair = store.create("product", {"name": "chair", "price": "10.00"})["id"]
    quote = store.create("quote", {"name": "q", "rate": "1"})["id"]
    _meet(monkeypatch, Loader, "items", timeout=2)

    def line() -> None:
        store.create("quote_line", {"quote_id": quote, "product_id": chair, "quantity": 1})

    assert _at_once(line, line) == ["ok", "ok"]
    assert values(store, "quote", quote, "total") == (Decimal("20.00"),)
    store.db.dispose()


@pytest.mark.postgres
def test_a_deal_created_while_its_account_changes_reads_the_new_value(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The account's write recomputes its deals without seeing one being created meanwhile; that
    one reads the account only once the change is committed."""
    path = tmp_path / "sales.yaml"
    path.write_text(BLUEPRINT)
    store = make_store(pg_url, blueprint=path)
    acme = store.create("account", {"name": "Acme", "sector": "energy"})["id"]
    recomputing, go_on = threading.Event(), threading.Event()
    lock = store.cascade.lock

    def paused(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "account":
            recomputing.set()
            go_on.wait(timeout=10)
        return lock(*args, **kwargs)

    monkeypatch.setattr(store.cascade, "lock", paused)
    account = threading.Thread(target=store.update, args=("account", acme, {"sector": "retail"}), name="account")
    account.start()
    assert recomputing.wait(timeout=10)
    created: list[dict[str, Any]] = []
    creating = threading.Thread(target=lambda: created.append(deal(store, acme, "10.00")), name="deal")
    creating.start()
    creating.join(timeout=1)  # waits for the account's write to commit
    go_on.set()
    account.join(timeout=10)
    creating.join(timeout=10)
    assert created[0]["sector"] == "retail"
    assert stale(store) == []
    store.db.dispose()
