"""Each field type reads exactly one documented form per value (docs/api.md, "Values in JSON"):
the form round-trips through `to_json`, and everything Python's own parsers would also take
(other scripts' digits, separators, spaces, exponents, ISO basic and week dates) is refused."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.blueprint.model import FieldDef, Label
from engine.types.registry import TypeRegistry

TYPES = TypeRegistry.with_builtins()
NUMBER_TYPES = ("decimal", "currency", "percent")


def field(type_name: str, **settings: Any) -> FieldDef:
    return FieldDef(name="x", type=type_name, label=Label(en="x"), settings=MappingProxyType(settings))


def parse(type_name: str, raw: Any, *, text: bool = False) -> Any:
    f = field(type_name)
    ftype = TYPES[type_name]
    return ftype.parse_text(f, raw) if text else ftype.parse(f, raw)


def to_json(type_name: str, value: Any) -> Any:
    return TYPES[type_name].to_json(field(type_name), value)


MONEY = st.decimals(min_value=-(10**15) + 1, max_value=10**15 - 1, places=2, allow_nan=False, allow_infinity=False)
WHOLE = st.integers(min_value=-(2**63), max_value=2**63 - 1)
DAYS = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31))
MOMENTS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
) | st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m))),
)
#: Digits of other scripts that `int()`, `Decimal()` and `str.isdigit()` all take as numbers.
#: (Arabic-Indic, full-width, Devanagari, Persian, N'Ko zero to nine.)
FOREIGN_DIGITS = ["".join(chr(zero + i) for i in range(10)) for zero in (0x0660, 0xFF10, 0x0966, 0x06F0, 0x07C0)]


@settings(deadline=None)  # the CI machine is shared: timing says nothing here
@given(MONEY)
def test_a_plain_decimal_string_round_trips(value: Decimal) -> None:
    for type_name in ("decimal", "currency"):
        text = to_json(type_name, value)
        assert parse(type_name, text) == value
        assert parse(type_name, text, text=True) == value
        assert to_json(type_name, parse(type_name, text)) == text


@settings(deadline=None)
@given(st.decimals(min_value=-(10**12), max_value=10**12, places=2, allow_nan=False, allow_infinity=False))
def test_a_json_number_reads_as_the_decimal_written(value: Decimal) -> None:
    # A JSON number with a fraction arrives as a float; up to 15 significant digits it is exact.
    assert parse("currency", float(str(value))) == value


@settings(deadline=None)
@given(WHOLE)
def test_a_whole_number_round_trips_as_json_and_as_text(value: int) -> None:
    assert parse("integer", value) == value
    assert parse("integer", str(value)) == value
    assert parse("integer", str(value), text=True) == value


@settings(deadline=None)
@given(DAYS)
def test_a_date_round_trips(value: date) -> None:
    text = to_json("date", value)
    assert parse("date", text) == value
    assert parse("date", text, text=True) == value


@settings(deadline=None)
@given(MOMENTS)
def test_a_moment_round_trips_in_utc(value: datetime) -> None:
    shown = value.isoformat()
    parsed = parse("datetime", shown)
    assert parsed == value and parsed.tzinfo is UTC
    assert parse("datetime", to_json("datetime", parsed)) == value
    assert to_json("datetime", parsed).endswith("Z")


def _foreign(number: str, digits: str) -> str:
    return "".join(digits[int(c)] if c.isdigit() else c for c in number)


@settings(deadline=None)
@given(MONEY.filter(lambda d: d != 0), st.sampled_from(FOREIGN_DIGITS))
def test_digits_of_other_scripts_are_refused(value: Decimal, digits: str) -> None:
    text = _foreign(str(value), digits)
    assert Decimal(text) == value  # what Python alone would have accepted
    for type_name in ("integer", *NUMBER_TYPES):
        with pytest.raises(ValueError, match="ASCII digits"):
            parse(type_name, text)
        with pytest.raises(ValueError, match="ASCII digits"):
            parse(type_name, text, text=True)


@settings(deadline=None)
@given(MONEY, st.sampled_from(["{} ", " {}", "+{}", "{}e0", "{}E+00", "\t{}", "{}\n"]))
def test_spaces_signs_and_exponents_around_a_number_are_refused(value: Decimal, shape: str) -> None:
    for type_name in NUMBER_TYPES:
        with pytest.raises(ValueError, match=r"expected a number such as -1234\.56"):
            parse(type_name, shape.format(value))


@pytest.mark.parametrize(
    "text",
    [
        "1,5",
        "1,50",
        "1,000",
        "1,000.50",
        "1.000,50",
        "1 000",
        "1_000",
        "1'000",
        "1.",
        ".5",
        "-",
        "",
        "0x10",
        "1e3",
        "Infinity",
        "NaN",
        "¹",
        "½",
        "1.5.0",
        "--1",
        "5-",
    ],
)
def test_number_text_in_any_other_form_is_refused_naming_the_form(text: str) -> None:
    for type_name in NUMBER_TYPES:
        with pytest.raises(ValueError, match=r"expected a number such as -1234\.56 .*no thousands separators"):
            parse(type_name, text)
    with pytest.raises(ValueError, match="expected a whole number"):
        parse("integer", text)


def test_a_comma_is_never_read_as_a_decimal_point_or_a_thousands_separator() -> None:
    for text in ("1,5", "1,50"):
        with pytest.raises(ValueError, match=f"got '{text}'"):
            parse("currency", text)


def test_a_json_number_with_more_digits_than_a_float_keeps_is_refused() -> None:
    with pytest.raises(ValueError, match=r"more than 15 significant digits.*send it as a string"):
        parse("currency", 1234567890123.4567)
    assert parse("currency", "1234567890123.45") == Decimal("1234567890123.45")
    with pytest.raises(ValueError, match="whole number"):
        parse("integer", 1.5)
    assert parse("integer", 1e3) == 1000
    assert parse("integer", "12.00") == 12


def test_negative_zero_is_zero() -> None:
    assert str(to_json("currency", parse("currency", "-0.00"))) == "0.00"
    assert str(to_json("currency", parse("currency", -0.0))) == "0.00"


@pytest.mark.parametrize(
    "text",
    [
        "20240105",
        "2024-W01-1",
        "2024W011",
        "2024-005",
        "2024-1-5",
        "2024-01-5",
        "24-01-05",
        " 2024-01-05",
        "2024-01-05 ",
        "2024-01-05T00:00:00Z",
        "05/01/2024",
        "2024/01/05",
        "\uff12\uff10\uff12\uff14-\uff10\uff11-\uff10\uff15",
        "\u0662\u0660\u0662\u0664-\u0660\u0661-\u0660\u0665",
        "+2024-01-05",
        "",
    ],
)
def test_a_date_in_any_other_form_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected a date yyyy-mm-dd"):
        parse("date", text)


@pytest.mark.parametrize("text", ["2024-02-30", "2023-02-29", "2024-13-01", "0000-01-01"])
def test_a_day_that_does_not_exist_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=f"expected a date yyyy-mm-dd that exists, got '{text}'"):
        parse("date", text)


@pytest.mark.parametrize(
    "text",
    [
        "20240105T100000Z",
        "2024-01-05T1000Z",
        "2024-W01-1T10:00:00Z",
        "2024-005T10:00:00Z",
        "2024-01-05T10Z",
        "2024-01-05T10:00:00+0800",
        "2024-01-05T10:00:00+08",
        "2024-01-05T10:00:00 +08:00",
        " 2024-01-05T10:00Z",
        "2024-01-05T10:00:00.1234567890Z",
        "2024-01-05T10:00:00,5Z",
        "\uff12\uff10\uff12\uff14-01-05T10:00:00Z",
        "2024-01-05",
        "2024-01-05T10:00:00Z[UTC]",
        "1704448800",
    ],
)
def test_a_moment_in_any_other_form_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected an ISO 8601 date-time such as 2026-01-31T09:30:00"):
        parse("datetime", text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-05T10:00+08:00", datetime(2024, 1, 5, 2, 0, tzinfo=UTC)),
        ("2024-01-05T10:00:30Z", datetime(2024, 1, 5, 10, 0, 30, tzinfo=UTC)),
        ("2024-01-05t10:00:30z", datetime(2024, 1, 5, 10, 0, 30, tzinfo=UTC)),
        ("2024-01-05 10:00:30-05:00", datetime(2024, 1, 5, 15, 0, 30, tzinfo=UTC)),
        ("2024-01-05T10:00:30.5Z", datetime(2024, 1, 5, 10, 0, 30, 500000, tzinfo=UTC)),
        ("2024-01-05T10:00:30.123456789Z", datetime(2024, 1, 5, 10, 0, 30, 123456, tzinfo=UTC)),
    ],
)
def test_the_moment_form_takes_minutes_seconds_fractions_and_any_offset(text: str, expected: datetime) -> None:
    assert parse("datetime", text) == expected


@pytest.mark.parametrize("text", ["2024-01-05T24:00:00Z", "2024-01-05T10:60Z", "2024-01-05T10:00:60Z"])
def test_a_moment_that_does_not_exist_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="exists"):
        parse("datetime", text)


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-01:00"])
def test_a_moment_outside_the_years_utc_can_hold_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="from year 1 to 9999 in UTC"):
        parse("datetime", text)


def test_a_moment_without_a_timezone_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a timezone"):
        parse("datetime", "2024-01-05T10:00:00")


@pytest.mark.parametrize("text", ["true", "false", "TRUE", "False", "1", "0"])
def test_booleans_in_query_text_are_true_false_1_or_0(text: str) -> None:
    assert parse("boolean", text, text=True) is (text.lower() in ("true", "1"))


@pytest.mark.parametrize("text", ["yes", "no", "on", "off", "", " true", "t", "\uff11"])
def test_other_boolean_words_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected true or false"):
        parse("boolean", text, text=True)


@pytest.mark.parametrize("raw", ["1", 1, "true", None])
def test_a_json_boolean_is_true_or_false_only(raw: Any) -> None:
    with pytest.raises(ValueError, match="expected true or false"):
        parse("boolean", raw)


@pytest.mark.parametrize(
    ("type_name", "raw"), [("integer", "\u0661\u0662"), ("integer", "1_000"), ("lookup", "\uff11"), ("user", " 7")]
)
def test_ids_and_whole_numbers_take_ascii_digits_only(type_name: str, raw: str) -> None:
    with pytest.raises(ValueError, match="whole number"):
        parse(type_name, raw)
