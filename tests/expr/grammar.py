"""Hypothesis strategies for random well-typed expressions over a given set of leaves.

`Grammar` builds numbers, texts, dates and booleans of bounded depth from leaves (field paths,
literals, aggregates) so that the Python-vs-SQL agreement tests can run over a plain table
(`tests/expr/test_property.py`) and over a blueprint with virtual and stored formulas
(`tests/store/test_formula_agreement.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import strategies as st

TEXT = st.text(alphabet="abAB z_äÄéß€😀", max_size=6)
COMPARE = st.sampled_from(["=", "!=", "<", "<=", ">", ">="])


def quote(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def number_literal() -> st.SearchStrategy[str]:
    return st.decimals(min_value=-1000, max_value=1000, places=3, allow_nan=False, allow_infinity=False).map(
        lambda d: f"({d})" if d < 0 else str(d)
    ) | st.sampled_from(["0", "1", "3", "7", "0.5", "20%"])


@dataclass(frozen=True)
class Grammar:
    """Leaves of each kind; `aggregates` are extra number expressions (over collections) and
    `conditions` extra boolean ones, used from depth 1 and as leaves respectively."""

    numbers: st.SearchStrategy[str]
    texts: st.SearchStrategy[str]
    dates: st.SearchStrategy[str]
    datetimes: st.SearchStrategy[str]
    conditions: st.SearchStrategy[str]
    aggregates: st.SearchStrategy[str] | None = None

    def number(self, depth: int) -> st.SearchStrategy[str]:
        if depth == 0:
            return self.numbers
        sub = self.number(depth - 1)
        options: list[st.SearchStrategy[str]] = [
            self.numbers,
            st.tuples(sub, st.sampled_from(["+", "-", "*", "/"]), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            sub.map(lambda a: f"-{a}"),
            st.tuples(sub, st.integers(0, 4)).map(lambda t: f"round({t[0]}, {t[1]})"),
            sub.map(lambda a: f"abs({a})"),
            st.tuples(st.sampled_from(["min", "max", "coalesce"]), sub, sub).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
            st.tuples(self.boolean(depth - 1), sub, sub).map(lambda t: f"if({t[0]}, {t[1]}, {t[2]})"),
            self.text(depth - 1).map(lambda a: f"len({a})"),
            self.date(depth - 1).map(lambda a: f"year({a})"),
            st.tuples(self.date(depth - 1), self.date(depth - 1)).map(lambda t: f"days_between({t[0]}, {t[1]})"),
        ]
        if self.aggregates is not None:
            options.append(self.aggregates)
        return st.one_of(*options)

    def text(self, depth: int) -> st.SearchStrategy[str]:
        if depth == 0:
            return self.texts
        sub = self.text(depth - 1)
        return st.one_of(
            self.texts,
            st.tuples(sub, sub).map(lambda t: f"({t[0]} + {t[1]})"),
            st.tuples(st.sampled_from(["lower", "upper"]), sub).map(lambda t: f"{t[0]}({t[1]})"),
            st.tuples(st.sampled_from(["min", "max", "coalesce"]), sub, sub).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
            st.tuples(self.boolean(depth - 1), sub, sub).map(lambda t: f"if({t[0]}, {t[1]}, {t[2]})"),
        )

    def date(self, depth: int) -> st.SearchStrategy[str]:
        if depth == 0:
            return self.dates
        sub = self.date(depth - 1)
        return st.one_of(
            self.dates,
            st.tuples(sub, self.number(0)).map(lambda t: f"add_days({t[0]}, {t[1]})"),
            st.tuples(st.sampled_from(["year", "quarter", "month", "week", "day"]), sub).map(
                lambda t: f"date_trunc('{t[0]}', {t[1]})"
            ),
            st.tuples(st.sampled_from(["min", "max", "coalesce"]), sub, sub).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        )

    def datetime(self, depth: int) -> st.SearchStrategy[str]:
        if depth == 0:
            return self.datetimes
        sub = self.datetime(depth - 1)
        return st.one_of(
            self.datetimes,
            st.tuples(sub, self.number(0)).map(lambda t: f"add_days({t[0]}, {t[1]})"),
            st.tuples(st.sampled_from(["min", "max", "coalesce"]), sub, sub).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
            st.tuples(self.boolean(depth - 1), sub, sub).map(lambda t: f"if({t[0]}, {t[1]}, {t[2]})"),
        )

    def boolean(self, depth: int) -> st.SearchStrategy[str]:
        shallow = min(depth, 1)
        leaves = st.one_of(
            self.conditions,
            st.tuples(self.number(shallow), COMPARE, self.number(shallow)).map(" ".join),
            st.tuples(self.text(shallow), COMPARE, self.text(shallow)).map(" ".join),
            st.tuples(self.date(shallow), COMPARE, self.date(shallow)).map(" ".join),
            st.tuples(self.datetimes, COMPARE, self.datetimes).map(" ".join),
            st.tuples(self.texts, st.sampled_from(["contains", "starts_with"]), self.texts).map(
                lambda t: f"{t[1]}({t[0]}, {t[2]})"
            ),
            st.tuples(
                self.numbers,
                st.sampled_from(["in", "not in"]),
                st.lists(number_literal() | st.just("null"), max_size=3),
            ).map(lambda t: f"{t[0]} {t[1]} [{', '.join(t[2])}]"),
            st.tuples(self.texts, st.sampled_from(["in", "not in"]), st.lists(TEXT.map(quote), max_size=3)).map(
                lambda t: f"{t[0]} {t[1]} [{', '.join(t[2])}]"
            ),
        )
        if depth == 0:
            return leaves
        sub = self.boolean(depth - 1)
        return st.one_of(
            leaves,
            st.tuples(sub, st.sampled_from(["and", "or", "&&", "||"]), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            sub.map(lambda a: f"not {a}"),
            st.tuples(sub, sub, sub).map(lambda t: f"if({t[0]}, {t[1]}, {t[2]})"),
        )

    def any(self, depth: int) -> st.SearchStrategy[str]:
        return st.one_of(self.number(depth), self.text(depth), self.date(depth), self.boolean(depth))


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


# -- values of the deal/line/account records both agreement tests store --------------------------
MONEY = st.decimals(min_value=-(10**12), max_value=10**12, places=2, allow_nan=False, allow_infinity=False)

DAYS = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))
MOMENTS = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC)
)
LINES = st.fixed_dictionaries(
    {
        "qty": maybe(st.integers(-1000, 1000)),
        "unit_price": maybe(MONEY),
        "kind": maybe(st.sampled_from(["a", "b"])),
        "at": maybe(MOMENTS),
    }
)
