"""Random formulas give the same values in Python and in SQL, on SQLite and PostgreSQL: virtual
formulas (read back and used inside filters, other formulas and aggregates), stored formulas
computed by the SQL that recomputes them (`engine.store.cascade`), formulas over child lines and
over collections of related records, and formulas read through lookups."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.blueprint.load import app_from_document
from engine.blueprint.scope import ObjectScope
from engine.errors import BlueprintInvalid
from engine.expr import check, parse, to_python
from engine.store.computed import Loader, RowView, sql_filter
from engine.store.database import Database
from engine.store.records import Store
from engine.types.registry import TypeRegistry
from tests.expr.grammar import DAYS, LINES, MOMENTS, MONEY, TEXT, Grammar, maybe, number_literal, quote

TYPES = TypeRegistry.with_builtins()
MOMENT = "datetime('2026-03-15T10:30:00Z')"

LINE = Grammar(
    numbers=st.sampled_from(["qty", "unit_price", "deal.qty", "deal.amount"]) | number_literal(),
    texts=st.sampled_from(["kind", "deal.name"]) | TEXT.map(quote),
    dates=st.sampled_from(["date(at)", "deal.close_date", "date('2024-02-29')"]),
    datetimes=st.sampled_from(["at", "deal.touched_at", MOMENT]),
    conditions=st.sampled_from(["is_blank(kind)", "deal.won", "true", "false"]),
)
_DEAL_NUMBERS = ["amount", "discount", "qty", "account.size", "count(lines)"]
_DEAL_AGGREGATES = [
    "sum(lines, l.qty * l.unit_price)",
    "sum(lines, l.lv)",
    "avg(lines, l.lv)",
    "max(lines, l.ls)",
    "min(lines, l.lv - l.qty)",
    "count(lines, l.lv > 0)",
    "sum(lines, l.ls / 3)",
]


def deal_grammar(
    *, numbers: list[str], texts: list[str], dates: list[str], times: list[str], conds: list[str]
) -> Grammar:
    return Grammar(
        numbers=st.sampled_from([*_DEAL_NUMBERS, *numbers]) | number_literal(),
        texts=st.sampled_from(["name", "stage", "account.industry", *texts]) | TEXT.map(quote),
        dates=st.sampled_from(["close_date", "date('2024-02-29')", "date(touched_at)", *dates]),
        datetimes=st.sampled_from(["touched_at", MOMENT, "max(lines, l.at)", *times]),
        conditions=st.sampled_from(["won", "true", "false", "is_blank(name)", "is_blank(amount)", *conds]),
        aggregates=st.sampled_from(_DEAL_AGGREGATES),
    )


#: Virtual formulas of a deal read its fields, its account's and its lines' (formulas too).
DEAL = deal_grammar(numbers=[], texts=[], dates=[], times=[], conds=[])
#: Its stored formulas read its virtual ones as well.
DEAL_STORED = deal_grammar(numbers=["vn"], texts=["vt"], dates=["vd"], times=["vdt"], conds=["vb"])
#: Filters read all of them, and the account's formulas through the lookup.
FILTER = deal_grammar(
    numbers=["vn", "sn", "account.av", "account.astored"],
    texts=["vt", "st"],
    dates=["vd", "sd"],
    times=["vdt", "sdt"],
    conds=["vb", "sb"],
)
#: An account's formulas aggregate over its deals (a collection of related records) and their formulas.
ACCOUNT = Grammar(
    numbers=st.sampled_from(["size", "count(deal)"]) | number_literal(),
    texts=st.sampled_from(["industry", "max(deal, d.vt)", "min(deal, d.st)"]) | TEXT.map(quote),
    dates=st.sampled_from(["date('2024-02-29')", "max(deal, d.vd)", "min(deal, d.sd)"]),
    datetimes=st.sampled_from([MOMENT, "max(deal, d.touched_at)", "max(deal, d.vdt)", "min(deal, d.sdt)"]),
    conditions=st.sampled_from(["true", "is_blank(industry)"]),
    aggregates=st.sampled_from(
        [
            "sum(deal, d.vn)",
            "sum(deal, d.sn)",
            "avg(deal, d.amount)",
            "max(deal, d.vn * 2)",
            "count(deal, d.vb)",
            "count(deal, d.sb)",
            "sum(deal, d.amount, d.sn > 0)",
            "min(deal, d.sn - d.vn)",
        ]
    ),
)
DEALS = st.fixed_dictionaries(
    {
        "amount": maybe(MONEY),
        "discount": maybe(st.decimals(min_value=-1, max_value=1, places=4, allow_nan=False, allow_infinity=False)),
        "qty": maybe(st.integers(-(10**9), 10**9)),
        "name": maybe(TEXT),
        "stage": maybe(st.sampled_from(["", "won", "lost", "Won"])),
        "won": maybe(st.booleans()),
        "close_date": maybe(DAYS),
        "touched_at": maybe(MOMENTS),
        "account": maybe(st.fixed_dictionaries({"industry": maybe(TEXT), "size": maybe(st.integers(-50, 50))})),
        "lines": st.lists(LINES, max_size=3),
    }
)
FORMULAS = st.fixed_dictionaries(
    {
        "lv": LINE.number(2),
        "ls": LINE.number(1),
        "vn": DEAL.number(2),
        "vt": DEAL.text(1),
        "vd": DEAL.date(1),
        "vb": DEAL.boolean(1),
        "vdt": DEAL.datetime(1),
        "sn": DEAL_STORED.number(2),
        "st": DEAL_STORED.text(1),
        "sd": DEAL_STORED.date(1),
        "sb": DEAL_STORED.boolean(1),
        "sdt": DEAL_STORED.datetime(1),
        "av": ACCOUNT.number(2),
        "astored": ACCOUNT.number(1),
        "scales": st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(0, 4)),
    }
)
#: Stored formulas of the template: the table columns every drawn blueprint shares.
TEMPLATE = {
    "lv": "qty",
    "ls": "qty",
    "vn": "qty",
    "vt": "name",
    "vd": "close_date",
    "vb": "won",
    "vdt": "touched_at",
    "sn": "qty",
    "st": "name",
    "sd": "close_date",
    "sb": "won",
    "sdt": "touched_at",
    "av": "size",
    "astored": "size",
    "scales": (2, 2, 2),
}
STORED_KINDS = {("line", "ls"): "number", ("deal", "sn"): "number", ("deal", "st"): "text"}
STORED_KINDS |= {("deal", "sd"): "date", ("deal", "sb"): "boolean", ("deal", "sdt"): "datetime"}
STORED_KINDS |= {("account", "astored"): "number"}


def document(f: Mapping[str, Any]) -> dict[str, Any]:
    line_scale, deal_scale, account_scale = f["scales"]

    def formula(name: str, stored: bool, scale: int = 2) -> dict[str, Any]:
        return {"type": "formula", "expression": f[name], "stored": stored, "scale": scale}

    return copy.deepcopy(
        {
            "app": {"name": "agree"},
            "objects": {
                "account": {
                    "fields": {
                        "industry": {"type": "text"},
                        "size": {"type": "integer"},
                        "av": formula("av", False, account_scale),
                        "astored": formula("astored", True),
                    }
                },
                "deal": {
                    "fields": {
                        "amount": {"type": "currency"},
                        "discount": {"type": "percent"},
                        "qty": {"type": "integer"},
                        "name": {"type": "text"},
                        "stage": {"type": "text"},
                        "won": {"type": "boolean"},
                        "close_date": {"type": "date"},
                        "touched_at": {"type": "datetime"},
                        "account": {"type": "lookup", "object": "account", "on_delete": "set_null"},
                        "lines": {"type": "child_table", "object": "line"},
                        "vn": formula("vn", False, deal_scale),
                        **{name: formula(name, False) for name in ("vt", "vd", "vb", "vdt")},
                        **{name: formula(name, True) for name in ("sn", "st", "sd", "sb", "sdt")},
                    }
                },
                "line": {
                    "fields": {
                        "qty": {"type": "integer"},
                        "unit_price": {"type": "currency"},
                        "kind": {"type": "text"},
                        "at": {"type": "datetime"},
                        "lv": formula("lv", False, line_scale),
                        "ls": formula("ls", True),
                    }
                },
            },
        }
    )


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    Store(app_from_document(document(TEMPLATE), TYPES), TYPES, database).metadata.create_all(database.engine)
    yield database
    database.dispose()


def load(store: Store, deals: list[dict[str, Any]]) -> None:
    """The records as rows (stored formulas empty), then every stored formula computed in SQL."""
    account, deal, line = (store.tables[n] for n in ("account", "deal", "line"))
    now = datetime.now(UTC)
    system = {"created_at": now, "updated_at": now, "version": 1}
    with store.db.write() as conn:
        for table in (line, deal, account):
            conn.execute(table.delete())
        for i, values in enumerate(deals, start=1):
            if values["account"] is not None:
                conn.execute(sa.insert(account).values(id=i, **values["account"], **system))
            plain = {k: v for k, v in values.items() if k not in ("account", "lines")}
            account_id = i if values["account"] is not None else None
            conn.execute(sa.insert(deal).values(id=i, account_id=account_id, **plain, **system))
            for position, item in enumerate(values["lines"]):
                conn.execute(sa.insert(line).values(deal_id=i, position=position, **item, **system))
        for name in ("line", "deal", "account"):
            obj = store.app.object(name)
            ids = [int(i) for i in conn.execute(sa.select(store.tables[name].c.id)).scalars()]
            stored = [f.name for f, _ in store.logic[name].stored]
            store.cascade.recompute(conn, obj, stored, ids, actor=None, now=now, record_history=False)


def same(python: Any, sql: Any) -> bool:
    return (python is None) == (sql is None) and python == sql


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    formulas=FORMULAS, deals=st.lists(DEALS, min_size=1, max_size=4), filters=st.lists(FILTER.boolean(2), max_size=3)
)
def test_python_and_sql_agree_on_random_formulas(
    db: Database, formulas: dict[str, Any], deals: list[dict[str, Any]], filters: list[str]
) -> None:
    try:
        app = app_from_document(document(formulas), TYPES)
    except BlueprintInvalid:
        assume(False)
        raise
    # the template's columns must hold the stored results (`null` alone would be a text formula)
    assume(all(app.object(o).field(f).settings["result"] == k for (o, f), k in STORED_KINDS.items()))
    store = Store(app, TYPES, db)
    load(store, deals)
    ftype = TYPES["formula"]
    with db.read() as conn:
        loader = Loader(store, conn)
        for obj in app.objects:
            table = store.tables[obj.name]
            virtual = store.virtual_columns(obj, table)
            stmt = sa.select(table, *virtual.values()).order_by(table.c.id)
            for row in conn.execute(stmt).mappings():
                view = RowView(loader, obj, dict(row))
                for f, compiled in store.logic[obj.name].stored:
                    python = ftype.fit(f, compiled.run(view))
                    assert same(python, row[f.name]), f"{obj.name}.{f.name} = {f.settings['expression']}"
                for name in virtual:
                    python = view.value((name,))
                    assert same(python, row[name]), f"{obj.name}.{name} = {obj.field(name).settings['expression']}"
        deal = app.object("deal")
        table = store.tables["deal"]
        views = [RowView(loader, deal, dict(r)) for r in conn.execute(sa.select(table).order_by(table.c.id)).mappings()]
        for text in filters:
            typed = check(parse(text), ObjectScope(app, deal, TYPES), store.functions)
            python = [int(v.values["id"]) for v in views if to_python(typed)(v) is True]
            selected = sa.select(table.c.id).where(sql_filter(store, deal, text)).order_by(table.c.id)
            assert [int(i) for i in conn.execute(selected).scalars()] == python, text


def test_the_template_blueprint_computes_its_formulas(db: Database) -> None:
    """The fixed blueprint whose tables every drawn one shares."""
    store = Store(app_from_document(document(TEMPLATE), TYPES), TYPES, db)
    line = {"qty": 2, "unit_price": None, "kind": None, "at": None}
    deal = {"amount": None, "discount": None, "qty": 3, "name": "x", "stage": None, "won": True, "close_date": None}
    deal |= {"touched_at": datetime(2026, 1, 1, tzinfo=UTC), "account": {"industry": "a", "size": 2}, "lines": [line]}
    load(store, [deal])
    assert (store.get("deal", 1)["sn"], store.get("deal", 1)["vn"]) == (3, 3)
    assert (store.get("account", 1)["astored"], store.get("line", 1)["ls"]) == (2, 2)
