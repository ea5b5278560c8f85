"""The one text form of numbers, dates and moments that every input path accepts.

Python's own parsers are generous in ways users cannot see: `Decimal()` and `int()` take
Arabic-Indic and full-width digits, `_` separators and surrounding spaces; since 3.11
`date.fromisoformat()` takes `20240105` and `2024-W01-1`. A value that could be misread
(`1,5`: one and a half, or fifteen?) must be refused, so these parsers accept exactly the
documented forms (docs/api.md, "Values in JSON") and nothing else:

- number: `-1234.56` (optional `-`, ASCII digits, optional `.` and digits; no exponent, no
  thousands separators, no spaces);
- date: `2026-01-31` (ISO 8601 / RFC 3339 full-date);
- moment: `2026-01-31T09:30`, `...:45` or `...:45.123`, then `Z` or `+08:00` (ISO 8601
  extended; RFC 3339's lower-case `t`/`z` and a space for `T` too); fractions past microseconds
  are cut off.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

#: Longest number text read at all (18 significant digits, a sign, a point and leading zeros fit).
MAX_NUMBER_TEXT = 64
#: Significant digits a JSON number (a binary float once parsed) carries exactly.
FLOAT_DIGITS = 15
NUMBER_FORM = "a number such as -1234.56 (ASCII digits, '.' before decimals, no thousands separators)"
DATE_FORM = "a date yyyy-mm-dd"
MOMENT_FORM = "an ISO 8601 date-time such as 2026-01-31T09:30:00+08:00 or 2026-01-31T01:30:00Z"

_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_MOMENT = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))?"
)


def parse_number_text(text: str) -> Decimal:
    """The number `text` writes in the plain decimal form; raises `ValueError` otherwise."""
    if len(text) > MAX_NUMBER_TEXT or not _NUMBER.fullmatch(text):
        raise ValueError(f"expected {NUMBER_FORM}, got {shown_text(text)}")
    value = Decimal(text)
    return abs(value) if value == 0 else value  # `-0` is zero


def parse_json_number(raw: float) -> Decimal:
    """The decimal a JSON number with a fraction or exponent (parsed as a float) was written as.

    Up to 15 significant digits a float keeps exactly what was written; beyond that it may not,
    so such numbers must be sent as text."""
    if raw != raw or raw in (float("inf"), float("-inf")):
        raise ValueError("expected a finite number")
    value = Decimal(repr(raw))
    if len(value.normalize().as_tuple().digits) > FLOAT_DIGITS:
        raise ValueError(
            f"{raw!r} has more than {FLOAT_DIGITS} significant digits, which a JSON number may not keep exactly; "
            'send it as a string such as "12345678901234.56"'
        )
    return abs(value) if value == 0 else value


def parse_date_text(text: str) -> date:
    """The date written `yyyy-mm-dd`; raises `ValueError` otherwise (also for 2026-02-30)."""
    m = _DATE.fullmatch(text)
    if m is None:
        raise ValueError(f"expected {DATE_FORM}, got {shown_text(text)}")
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise ValueError(f"expected {DATE_FORM} that exists, got {shown_text(text)}") from None


def parse_moment_text(text: str) -> datetime:
    """The moment written in ISO 8601 extended form; naive when it carries no offset (the
    caller decides whether that is allowed). Raises `ValueError` for anything else."""
    m = _MOMENT.fullmatch(text)
    if m is None:
        raise ValueError(f"expected {MOMENT_FORM}, got {shown_text(text)}")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = m.groups()
    tz: timezone | None = None
    if zulu:
        tz = UTC
    elif sign:
        if int(off_h) > 23 or int(off_m) > 59:
            raise ValueError(f"expected an offset from -23:59 to +23:59, got {shown_text(text)}")
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        tz = timezone(-offset if sign == "-" else offset)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tzinfo=tz)
    except ValueError:
        raise ValueError(f"expected a date-time that exists (hours 00-23), got {shown_text(text)}") from None
    if tz is not None:
        try:  # 0001-01-01T00:00+14:00 is a moment before year 1 in UTC, which nothing can hold
            moment.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"expected a moment from year 1 to 9999 in UTC, got {shown_text(text)}") from None
    return moment


def shown_text(text: str) -> str:
    """Input text quoted for a message, cut to 40 characters."""
    return f"'{text[:40]}'" + ("..." if len(text) > 40 else "")
