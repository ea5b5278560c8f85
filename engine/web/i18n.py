"""The generated app's two languages: which one a request gets, its UI strings, and how values read.

- The language: the signed-in user's own choice (stored on the user), else the browser's
  `Accept-Language` (the first of zh / en by preference), else the app's `default_locale`.
- UI strings are written in English in the templates (`t` called with the text) and translated from
  `engine/web/locales/zh.json`; a string missing there shows in English (a test keeps the
  catalogue complete).
- Dates, times, numbers, money and relative times are formatted by Babel for the language, in the
  app's time zone: zh `2026年12月1日`, `¥1,234,567.00`; en `Dec 1, 2026`, `CN¥1,234,567.00`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_time, format_timedelta
from babel.numbers import format_currency, format_decimal, format_percent

LANGUAGES = ("en", "zh")
#: The Babel locale of each language (Simplified Chinese as used in mainland China).
BABEL = {"en": "en_US", "zh": "zh_Hans_CN"}
CATALOGUES = Path(__file__).with_name("locales")


def language(value: str | None) -> str | None:
    """`zh`, `en` or None for a locale tag such as `zh-CN`, `zh_Hans`, `en-GB`."""
    if not value:
        return None
    head = value.strip().lower().replace("_", "-").split("-")[0]
    return head if head in LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    """The language the browser prefers most among ours (`q` weights honoured; `*` means any)."""
    best: tuple[float, int, str] | None = None
    for i, part in enumerate((header or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                weight = float(params[2:])
            except ValueError:
                continue
        found = language(tag)
        if found is None or weight <= 0:
            continue
        if best is None or (weight, -i) > (best[0], -best[1]):
            best = (weight, i, found)
    return best[2] if best else None


def choose(user_locale: str | None, accept_language: str | None, default: str) -> str:
    return language(user_locale) or from_accept_language(accept_language) or language(default) or "en"


@cache
def catalogue(lang: str) -> dict[str, str]:
    """English UI string -> its translation (nothing for English)."""
    if lang == "en":
        return {}
    loaded: dict[str, str] = json.loads((CATALOGUES / f"{lang}.json").read_text(encoding="utf-8"))
    return loaded


@dataclass(frozen=True)
class Words:
    """What the templates call `t`: UI strings and values in one language and time zone."""

    lang: str
    timezone: str = "UTC"

    @property
    def babel(self) -> str:
        return BABEL[self.lang]

    def __call__(self, text: str, **values: Any) -> str:
        """The UI string `text` in this language, with `{name}` placeholders filled."""
        translated = catalogue(self.lang).get(text, text)
        return translated.format(**values) if values else translated

    def label(self, label: Any) -> str:
        """A blueprint label (`Label`) in this language."""
        return str(label.get(self.lang)) if label is not None else ""

    # -- values ---------------------------------------------------------------------------------
    def date(self, value: dt.date) -> str:
        return format_date(value, "medium", locale=self.babel)

    def datetime(self, value: dt.datetime) -> str:
        local = self._local(value)
        return f"{format_date(local, 'medium', locale=self.babel)} {format_time(local, 'short', locale=self.babel)}"

    def number(self, value: int | Decimal | float) -> str:
        return format_decimal(value, locale=self.babel, decimal_quantization=False)

    def money(self, value: Decimal | int, currency: str) -> str:
        return format_currency(value, currency, locale=self.babel)

    def percent(self, value: Decimal | float) -> str:
        return format_percent(value, locale=self.babel, decimal_quantization=False)

    def ago(self, value: dt.datetime, now: dt.datetime) -> str:
        """`3 minutes ago` / `3分钟前`."""
        return format_timedelta(value - now, add_direction=True, locale=self.babel)

    def _local(self, value: dt.datetime) -> dt.datetime:
        from zoneinfo import ZoneInfo

        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(ZoneInfo(self.timezone))
