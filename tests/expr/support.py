"""Shared test fixtures for the expression language: a deal table with lines, both backends."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from engine.expr import FieldInfo, Kind, builtin_functions, check, parse, register_sqlite_functions, to_python, to_sql
from engine.expr.testing import DictRecord, DictScope, TableScope
from engine.store.database import Database
from engine.types.sqltypes import ExactDecimal, UTCDateTime

N, T, B, D, DT = Kind.NUMBER, Kind.TEXT, Kind.BOOLEAN, Kind.DATE, Kind.DATETIME
FUNCTIONS = builtin_functions()
NOW = datetime(2026, 3, 15, 10, 30, tzinfo=UTC)

#: name -> (FieldInfo, SQL type)
DEAL_FIELDS: dict[str, tuple[FieldInfo, Any]] = {
    "amount": (FieldInfo(N, label="currency", scale=2), ExactDecimal(2)),
    "discount": (FieldInfo(N, label="percent", scale=4), ExactDecimal(4)),
    "qty": (FieldInfo(N, label="integer"), sa.BigInteger()),
    "name": (FieldInfo(T, max_length=100), sa.String(100)),
    "stage": (FieldInfo(T, label="select"), sa.String(40)),
    "won": (FieldInfo(B), sa.Boolean()),
    "close_date": (FieldInfo(D), sa.Date()),
    "touched_at": (FieldInfo(DT), UTCDateTime()),
}
LINE_FIELDS: dict[str, tuple[FieldInfo, Any]] = {
    "qty": (FieldInfo(N, label="integer"), sa.BigInteger()),
    "unit_price": (FieldInfo(N, label="currency", scale=2), ExactDecimal(2)),
    "kind": (FieldInfo(T), sa.String(40)),
    "at": (FieldInfo(DT), UTCDateTime()),
}
ACCOUNT_FIELDS: dict[str, tuple[FieldInfo, Any]] = {
    "industry": (FieldInfo(T), sa.String(40)),
    "size": (FieldInfo(N, label="integer"), sa.BigInteger()),
}

LINE_SCOPE = DictScope({k: v[0] for k, v in LINE_FIELDS.items()})
ACCOUNT_SCOPE = DictScope({k: v[0] for k, v in ACCOUNT_FIELDS.items()})
DEAL_SCOPE = DictScope(
    {k: v[0] for k, v in DEAL_FIELDS.items()},
    related={"account": ACCOUNT_SCOPE},
    collections={"lines": LINE_SCOPE},
)


def tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table, sa.Table]:
    account = sa.Table(
        "account",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        *(sa.Column(k, t) for k, (_, t) in ACCOUNT_FIELDS.items()),
    )
    deal = sa.Table(
        "deal",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("account.id")),
        *(sa.Column(k, t) for k, (_, t) in DEAL_FIELDS.items()),
    )
    line = sa.Table(
        "line",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("deal_id", sa.Integer, sa.ForeignKey("deal.id"), nullable=False),
        *(sa.Column(k, t) for k, (_, t) in LINE_FIELDS.items()),
    )
    return account, deal, line


class Backends:
    """One database with the deal/line/account tables and both ways to evaluate."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.metadata = sa.MetaData()
        self.account, self.deal, self.line = tables(self.metadata)
        self.metadata.create_all(db.engine)
        dialect = db.dialect
        account_scope = TableScope(self.account, dialect)
        line_scope = TableScope(self.line, dialect)
        self.scope = TableScope(
            self.deal,
            dialect,
            related={"account": ("account_id", account_scope)},
            collections={"lines": (line_scope, "deal_id")},
        )

    def load(self, deals: Sequence[Mapping[str, Any]]) -> list[DictRecord]:
        """Insert deals (each may carry `lines` and `account`); returns their Python views."""
        views: list[DictRecord] = []
        with self.db.write() as conn:
            conn.execute(self.line.delete())
            conn.execute(self.deal.delete())
            conn.execute(self.account.delete())
            for i, deal in enumerate(deals, start=1):
                values = {k: deal.get(k) for k in DEAL_FIELDS}
                account = deal.get("account")
                if account is not None:
                    conn.execute(self.account.insert().values(id=i, **{k: account.get(k) for k in ACCOUNT_FIELDS}))
                conn.execute(self.deal.insert().values(id=i, account_id=i if account else None, **values))
                lines = [{k: line.get(k) for k in LINE_FIELDS} for line in deal.get("lines", ())]
                for line in lines:
                    conn.execute(self.line.insert().values(deal_id=i, **line))
                views.append(
                    DictRecord(
                        {**values, "account": DictRecord(dict(account)) if account is not None else None},
                        {"lines": [DictRecord(line) for line in lines]},
                    )
                )
        return views

    def sql_values(self, text: str) -> list[Any]:
        typed = check(parse(text), DEAL_SCOPE, FUNCTIONS, sql=True)
        column = to_sql(typed, self.scope, clock=lambda: NOW)
        with self.db.read() as conn:
            return list(conn.execute(sa.select(column).select_from(self.deal).order_by(self.deal.c.id)).scalars())

    def sql_where(self, text: str) -> list[int]:
        typed = check(parse(text), DEAL_SCOPE, FUNCTIONS, expected=B, sql=True)
        where = to_sql(typed, self.scope, clock=lambda: NOW)
        with self.db.read() as conn:
            query = sa.select(self.deal.c.id).where(where).order_by(self.deal.c.id)
            return list(conn.execute(query).scalars())


def python_values(text: str, records: Sequence[DictRecord]) -> list[Any]:
    fn = to_python(check(parse(text), DEAL_SCOPE, FUNCTIONS), clock=lambda: NOW)
    return [fn(r) for r in records]


@contextmanager
def database(url: str) -> Iterator[Database]:
    db = Database(url)
    if db.is_sqlite:
        event.listen(db.engine, "connect", lambda conn, _record: register_sqlite_functions(conn))
    try:
        yield db
    finally:
        db.dispose()
