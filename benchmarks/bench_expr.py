"""Expression language benchmark: compile time per expression and Python evaluations per second.

python -m benchmarks.bench_expr        # prints JSON
"""

from __future__ import annotations

import json
import time
from datetime import date
from decimal import Decimal

from engine.expr import FieldInfo, Kind, builtin_functions, check, parse, to_python
from engine.expr.testing import DictRecord, DictScope

EXPRESSIONS = [
    "amount > 100000",
    "discount > 20% and stage != 'won'",
    "days_between(last_activity_at, today()) >= 14",
    "region = 'East' and account.industry = 'manufacturing'",
    "sum(lines, l.qty * l.unit_price) > 50000 or count(lines) = 0",
    "if(is_blank(owner), 'unassigned', lower(owner)) in ['alice', 'bob', 'unassigned']",
    "round(amount * (1 - discount), 2) >= coalesce(floor_price, 0) and close_date < add_days(today(), 90)",
]
RULE = "amount > 100000 and stage in ('proposal', 'negotiation') and discount <= 20% and not is_blank(owner) and close_date >= date('2026-01-01')"  # noqa: E501

N, T = Kind.NUMBER, Kind.TEXT
SCOPE = DictScope(
    {
        "amount": FieldInfo(N, label="currency", scale=2),
        "discount": FieldInfo(N, label="percent", scale=4),
        "floor_price": FieldInfo(N, label="currency", scale=2),
        "stage": FieldInfo(T),
        "region": FieldInfo(T),
        "owner": FieldInfo(T),
        "close_date": FieldInfo(Kind.DATE),
        "last_activity_at": FieldInfo(Kind.DATETIME),
    },
    related={"account": DictScope({"industry": FieldInfo(T)})},
    collections={"lines": DictScope({"qty": FieldInfo(N), "unit_price": FieldInfo(N, scale=2)})},
)


def compile_times(rounds: int = 300) -> dict[str, float]:
    functions = builtin_functions()
    out: dict[str, float] = {}
    for text in EXPRESSIONS:
        start = time.perf_counter()
        for _ in range(rounds):
            to_python(check(parse(text), SCOPE, functions))
        out[text] = (time.perf_counter() - start) / rounds * 1000
    return out


def evaluations_per_second(seconds: float = 1.0) -> float:
    rule = to_python(check(parse(RULE), SCOPE, builtin_functions(), expected=Kind.BOOLEAN))
    records = [
        DictRecord(
            {
                "amount": Decimal(f"{150000 + i}.00"),
                "stage": "negotiation" if i % 3 else "won",
                "discount": Decimal("0.1500"),
                "owner": "alice",
                "close_date": date(2026, 2, 1),
            }
        )
        for i in range(100)
    ]
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for r in records:
            rule(r)
        count += len(records)
    return count / (time.perf_counter() - start)


def main() -> None:
    times = compile_times()
    result = {
        "compile_ms": {k: round(v, 4) for k, v in times.items()},
        "compile_ms_max": round(max(times.values()), 4),
        "rule": RULE,
        "python_evaluations_per_s": round(evaluations_per_second()),
        "targets": {"compile_ms_max": 1.0, "python_evaluations_per_s": 200_000},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
