from __future__ import annotations

import pytest

from engine.errors import ExprError
from engine.expr import FieldInfo, Kind, Limits, check, parse
from engine.expr.testing import DictScope
from tests.expr.support import DEAL_SCOPE, FUNCTIONS


def error(text: str, *, sql: bool = False, expected: Kind | None = None, limits: Limits | None = None) -> ExprError:
    with pytest.raises(ExprError) as err:
        check(parse(text), DEAL_SCOPE, FUNCTIONS, expected=expected, sql=sql, limits=limits or Limits())
    return err.value


@pytest.mark.parametrize(
    ("text", "col", "code", "message"),
    [
        ("amount > 'abc'", 10, "expr.type", "cannot compare currency with text"),
        ("amout > 1", 1, "expr.unknown_name", "unknown field 'amout'; did you mean 'amount'?"),
        ("qty > 1 and zzz", 13, "expr.unknown_name", "unknown field 'zzz'"),
        (
            "account.industy = 'x'",
            9,
            "expr.unknown_name",
            "unknown field 'industy' on 'account'; did you mean 'industry'?",
        ),
        ("acount.industry = 'x'", 1, "expr.unknown_name", "did you mean 'account'?"),
        ("lines > 1", 1, "expr.type", "'lines' is a collection; use count(lines)"),
        ("sum(lines, l.qtyy) > 1", 14, "expr.unknown_name", "did you mean 'qty'?"),
        ("sum(lines, l) > 1", 12, "expr.type", "stands for one item"),
        ("lenght(name) > 1", 1, "expr.unknown_function", "did you mean 'len'?"),
        ("len(amount) > 1", 5, "expr.type", "len() argument 1 must be a text, got currency"),
        ("len(name, name) > 1", 1, "expr.arity", "len() takes 1 argument, got 2"),
        ("amount = null", 10, "expr.null_compare", "use is_blank(x)"),
        ("won > true", 5, "expr.type", "'>' does not apply to boolean"),
        ("close_date + 1 > today()", 1, "expr.type", "use add_days() or days_between()"),
        ("close_date > touched_at", 14, "expr.type", "cannot compare date with datetime"),
        ("name and won", 1, "expr.type", "'and' needs true/false"),
        ("qty in ['a', 'b']", 1, "expr.type", "cannot look for integer in a list of text"),
        ("qty in [1, 'b']", 12, "expr.type", "list items must have one type"),
        ("qty in 5", 8, "expr.type", "needs a list on its right"),
        ("if(qty, 1, 2) > 0", 4, "expr.type", "needs a condition"),
        ("if(won, 1, 'x') = 1", 12, "expr.type", "branches must have one type"),
        ("date('2026-13-01') > close_date", 6, "expr.type", "is not a date"),
        ("date('20260131') > close_date", 6, "expr.type", "'20260131' is not a date like '2026-01-31'"),
        ("date('2026-W05-6') > close_date", 6, "expr.type", "is not a date like '2026-01-31'"),
        ("datetime('20260131T093000Z') > touched_at", 10, "expr.type", "is not a time like"),
        ("date(name) > close_date", 6, "expr.type", "written literally"),
        ("date_trunc('fortnight', close_date) = close_date", 12, "expr.type", "unit must be one of"),
        ("round(amount, qty) > 1", 15, "expr.type", "written literally"),
        ("coalesce(amount, name) > 1", 18, "expr.type", "arguments must have one type"),
        ("count(lines, l.qty) > 1", 14, "expr.type", "filter of count() must be true/false"),
        ("sum(lines, l.kind) > 1", 12, "expr.type", "sum() adds numbers"),
        ("upper(name as n) = 'x'", 15, "expr.syntax", "'as' names the items"),
        ("amount", 1, "expr.type", "expected boolean, got currency"),
    ],
)
def test_errors_are_located(text: str, col: int, code: str, message: str) -> None:
    err = error(text, expected=Kind.BOOLEAN)
    assert (err.col, err.code) == (col, code), str(err)
    assert message in err.message


def test_error_prints_like_the_issue_asks() -> None:
    assert str(error("amount > 'abc'")) == "expression col 10: cannot compare currency with text [expr.type]"


def test_functions_without_sql_are_refused_where_sql_is_needed() -> None:
    check(parse("changed(stage) and previous(stage) = 'won'"), DEAL_SCOPE, FUNCTIONS)
    err = error("changed(stage)", sql=True)
    assert (err.code, err.col) == ("expr.no_sql", 1)
    assert "no SQL form" in err.message


def test_list_fields_are_python_only() -> None:
    scope = DictScope({"tags": FieldInfo(Kind.LIST, item_kind=Kind.TEXT)})
    typed = check(parse("'vip' in tags"), scope, FUNCTIONS)
    assert typed.kind is Kind.BOOLEAN
    with pytest.raises(ExprError) as err:
        check(parse("'vip' in tags"), scope, FUNCTIONS, sql=True)
    assert err.value.code == "expr.no_sql"


def test_unreadable_fields_cannot_be_referenced() -> None:
    scope = DictScope({"salary": FieldInfo(Kind.NUMBER, readable=False), "name": FieldInfo(Kind.TEXT)})
    with pytest.raises(ExprError) as err:
        check(parse("name = 'x' or salary > 1"), scope, FUNCTIONS)
    assert (err.value.code, err.value.col) == ("expr.forbidden", 15)


def test_types_and_scales() -> None:
    def out(text: str) -> tuple[Kind, int, bool]:
        typed = check(parse(text), DEAL_SCOPE, FUNCTIONS)
        return typed.kind, typed.out.scale, typed.out.nullable

    assert out("amount * discount") == (Kind.NUMBER, 6, True)
    assert out("amount / 3") == (Kind.NUMBER, 10, True)
    assert out("1 / 3") == (Kind.NUMBER, 10, True)
    assert out("round(amount, 1)") == (Kind.NUMBER, 1, True)
    assert out("count(lines)") == (Kind.NUMBER, 0, False)
    assert out("sum(lines as x, x.qty * x.unit_price)") == (Kind.NUMBER, 2, False)
    assert out("name + '!'") == (Kind.TEXT, 0, True)
    assert out("is_blank(name)") == (Kind.BOOLEAN, 0, False)
    assert out("max(lines, l.at)") == (Kind.DATETIME, 0, True)


def test_static_limits() -> None:
    err = error("qty in [1, 2, 3]", limits=Limits(max_list=2))
    assert (err.code, err.col) == ("expr.limit", 8)
    err = error("name + name + name", limits=Limits(max_text=250))
    assert (err.code, err.col) == ("expr.limit", 13)
    err = error("1234567890123456789 > qty")
    assert err.code == "expr.limit"
    err = error("amount * amount * amount > 1", limits=Limits(max_scale=5))
    assert (err.code, err.col) == ("expr.limit", 17)


TICKET_SCOPE = DictScope(
    {
        "status": FieldInfo(Kind.TEXT, label="select", options=("open", "pending", "closed")),
        "tags": FieldInfo(Kind.LIST, label="multi_select", item_kind=Kind.TEXT, options=("vip", "billing")),
        "summary": FieldInfo(Kind.TEXT),
    }
)


@pytest.mark.parametrize(
    ("text", "col", "message"),
    [
        ("status = 'clsoed'", 10, "'clsoed' is not an option of status; did you mean 'closed'?"),
        ("'clsoed' = status", 1, "'clsoed' is not an option of status; did you mean 'closed'?"),
        ("status != 'zzz'", 11, "'zzz' is not an option of status"),
        ("status in ('open', 'pendng')", 20, "'pendng' is not an option of status; did you mean 'pending'?"),
        ("status not in ['x']", 16, "'x' is not an option of status"),
        ("'vipp' in tags", 1, "'vipp' is not an option of tags; did you mean 'vip'?"),
        ("previous(status) = 'opne'", 20, "'opne' is not an option of status; did you mean 'open'?"),
    ],
)
def test_text_compared_with_a_select_must_be_one_of_its_options(text: str, col: int, message: str) -> None:
    with pytest.raises(ExprError) as err:
        check(parse(text), TICKET_SCOPE, FUNCTIONS, expected=Kind.BOOLEAN)
    assert (err.value.col, err.value.code, err.value.message) == (col, "expr.unknown_option", message)


@pytest.mark.parametrize(
    "text",
    ["status = 'closed'", "status in ('open', 'pending')", "'vip' in tags", "status = summary", "summary = 'zzz'"],
)
def test_options_and_other_text_compare_freely(text: str) -> None:
    check(parse(text), TICKET_SCOPE, FUNCTIONS, expected=Kind.BOOLEAN)
