"""Every UI string of the generated app has its Chinese translation, and the catalogue holds no
string the app no longer uses (so translators see exactly what users see)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from engine.web.display import SYSTEM_LABELS
from engine.web.i18n import CATALOGUES, Words, choose, from_accept_language
from engine.web.problems import WORDED

REPO = Path(__file__).resolve().parents[2]
#: `t("...")` in templates and in the web room's Python (`t(`, `words(`, `self.words(`).
CALL = re.compile(r"""(?<![\w.])(?:t|words|self\.words)\(\s*(["'])((?:(?!\1).)+?)\1""")


def used_strings() -> set[str]:
    found: set[str] = set(SYSTEM_LABELS.values()) | set(WORDED.values())
    files = [*(REPO / "templates" / "app").glob("*.html"), *(REPO / "templates").glob("public_*.html")]
    files += list((REPO / "engine" / "web").glob("*.py"))
    for path in files:
        found.update(m.group(2) for m in CALL.finditer(path.read_text(encoding="utf-8")))
    return found


def test_every_ui_string_has_a_chinese_translation_and_none_is_stale() -> None:
    catalogue = json.loads((CATALOGUES / "zh.json").read_text(encoding="utf-8"))
    used = used_strings()
    assert sorted(used - set(catalogue)) == []
    assert sorted(set(catalogue) - used) == []
    for english, chinese in catalogue.items():
        assert sorted(re.findall(r"\{(\w+)\}", english)) == sorted(re.findall(r"\{(\w+)\}", chinese)), english


def test_the_language_is_the_users_then_the_browsers_then_the_apps() -> None:
    assert choose("zh", "en-US,en;q=0.9", "en") == "zh"
    assert choose("", "en-US,en;q=0.9", "zh") == "en"
    assert choose("", "fr-FR, zh-CN;q=0.8, en;q=0.5", "en") == "zh"
    assert choose("", "fr-FR, de", "zh") == "zh"
    assert choose(None, None, "en") == "en"
    assert from_accept_language("en;q=0.2, zh-Hans;q=0.9") == "zh"
    assert from_accept_language("zh;q=0, en") == "en"
    assert from_accept_language("zh;q=abc, en") == "en"


def test_values_read_as_each_language_writes_them() -> None:
    from datetime import UTC, date, datetime
    from decimal import Decimal

    zh, en = Words("zh", "Asia/Shanghai"), Words("en", "Asia/Shanghai")
    assert (zh.date(date(2026, 12, 1)), en.date(date(2026, 12, 1))) == ("2026年12月1日", "Dec 1, 2026")
    assert (zh.money(Decimal("1234567"), "CNY"), en.money(Decimal("1234567"), "CNY")) == (
        "¥1,234,567.00",
        "CN¥1,234,567.00",
    )
    # 23:30 UTC is the next morning in Shanghai
    assert zh.datetime(datetime(2026, 12, 1, 23, 30, tzinfo=UTC)) == "2026年12月2日 07:30"
    assert en.percent(Decimal("0.255")) == "25.5%"
    assert zh("{n} records", n="3") == "3 条记录" and en("{n} records", n="3") == "3 records"
