"""The generated app in a real Chromium, at desktop (1280 px) and phone (390 px) widths, in English
and Chinese: the shell, list pages, the board (drag and "Move to…", a refused move), search, CSV
export and the language switch. Screenshots of the key pages go to the artefacts folder
(`LOOMWORK_ARTEFACTS`, default `test-artefacts/`); every page is checked for console errors and,
on a phone, for sideways overflow of the page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import LiveServer
from tests.e2e.support import no_sideways_scroll, shot, use_language
from tests.e2e.test_browser_login import sign_in

pytestmark = pytest.mark.e2e

REP = "chen.xiaoming@demo.loomwork.dev"  # 陈晓明: his locale is zh
EMMA = "emma.clarke@demo.loomwork.dev"


def test_a_rep_finds_their_deals_in_the_list(screen: tuple[Any, str]) -> None:
    page, width = screen
    page.goto("/app/opportunity")
    page.wait_for_url("**/login?next=*")
    sign_in(page, REP)
    page.wait_for_url("**/app/opportunity")
    use_language(page, "en")
    page.goto("/app/opportunity")
    assert page.get_by_role("heading", name="Opportunities").is_visible()
    rows = page.locator("#records tbody tr")
    assert rows.count() > 0
    assert page.get_by_role("link", name="All deals").is_visible()
    shot(page, f"list-en-{width}")
    if width == "phone":
        no_sideways_scroll(page)
        page.click("#menu-toggle")
        assert page.locator("#nav").is_visible()
    if width == "desktop":  # sort by amount: a header click, largest first on the second click
        page.locator("#records thead").get_by_role("link", name=re.compile("^Amount")).click()
        page.wait_for_url("**sort=amount*")
        page.locator("#records thead").get_by_role("link", name=re.compile("^Amount")).click()
    else:  # a phone shows records as cards, without headers: the toolbar's sort
        page.select_option("#list-sort", "-amount")
        page.click("#apply-list")
    page.wait_for_url("**sort=-amount*")
    amounts = page.locator('#records td[data-label="Amount"]').all_inner_texts()
    values = [float(re.sub(r"[^0-9.]", "", a)) for a in amounts if re.search(r"\d", a)]
    assert values == sorted(values, reverse=True) and values
    use_language(page, "zh")
    page.goto("/app/opportunity")
    assert page.get_by_role("heading", name="商机").is_visible()
    assert "¥" in page.locator("#records").inner_text()
    shot(page, f"list-zh-{width}")
    if width == "phone":
        no_sideways_scroll(page)
    use_language(page, "en")


def test_the_filter_builder_writes_the_expression_and_the_list_follows(screen: tuple[Any, str]) -> None:
    page, width = screen
    page.goto("/login")
    sign_in(page, EMMA)
    page.goto("/app/account")
    page.click(".filter-builder summary")
    page.select_option(".b-field", "industry")
    page.fill(".b-value", "manufacturing")
    page.click(".b-add")
    assert page.input_value("#filter-expression") == "industry = 'manufacturing'"
    page.click("#apply-list")
    page.wait_for_url("**filter=*")
    assert page.inner_text("#shown-expression") == "industry = 'manufacturing'"
    industries = page.locator('#records td[data-label="Industry"]').all_inner_texts()
    assert industries and all(i.strip() == "Manufacturing" for i in industries)
    if width == "phone":
        no_sideways_scroll(page)


def _card_in(page: Any, option: str) -> Any:
    return page.locator(f'ol.cards[data-option="{option}"] li.card').first


def test_moving_deals_on_the_board_by_menu_and_by_drag(screen: tuple[Any, str]) -> None:
    page, width = screen
    page.goto("/login")
    sign_in(page, REP)
    use_language(page, "en")
    page.goto("/app/opportunity/board")
    shot(page, f"board-en-{width}")
    if width == "phone":
        no_sideways_scroll(page)
    card = _card_in(page, "initial_contact")
    card_id = card.get_attribute("data-id")
    needs = page.locator('[data-option="needs_confirmed"] .col-count')
    count_before = int(needs.get_attribute("data-count"))
    # "Move to…": keyboard and phone friendly
    card.locator("select[name=to]").select_option("needs_confirmed")
    card.get_by_role("button", name="Move to…").click()
    moved = page.locator(f'ol.cards[data-option="needs_confirmed"] li.card[data-id="{card_id}"]')
    moved.wait_for()
    assert int(needs.get_attribute("data-count")) == count_before + 1
    # a refused move: the blueprint says a lost deal needs its lost reason; the card stays, with the reason
    moved.locator("select[name=to]").select_option("lost")
    moved.get_by_role("button", name="Move to…").click()
    refusal = page.locator(f'li.card[data-id="{card_id}"] .card-refusal')
    refusal.wait_for()
    assert "Lost reason is required" in refusal.inner_text()
    assert page.locator(f'ol.cards[data-option="needs_confirmed"] li.card[data-id="{card_id}"]').count() == 1
    shot(page, f"board-refused-{width}")
    if width == "desktop":  # drag and drop needs a pointer; phones use "Move to…"
        source = page.locator(f'li.card[data-id="{card_id}"] dl')
        target = page.locator('ol.cards[data-option="proposal"]')
        box, goal = source.bounding_box(), target.bounding_box()
        with page.expect_response(lambda r: r.url.endswith("/move") and r.request.method == "POST"):
            page.mouse.move(box["x"] + 10, box["y"] + 5)
            page.mouse.down()
            for step in range(1, 21):  # Sortable follows the pointer, frame by frame
                x = box["x"] + 10 + (goal["x"] + 20 - box["x"] - 10) * step / 20
                page.mouse.move(x, goal["y"] + 20)
                page.wait_for_timeout(20)
            page.mouse.up()
        page.locator(f'ol.cards[data-option="proposal"] li.card[data-id="{card_id}"]').wait_for()


def test_search_export_and_the_record_page(screen: tuple[Any, str], live_server: LiveServer) -> None:
    page, width = screen
    page.goto("/login")
    sign_in(page, EMMA)
    page.goto("/app/account")
    first = page.locator("#records tbody tr a.record-link").first
    name = first.inner_text()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "global-search"
    page.keyboard.type(name[:6])
    result = page.locator("#search-results a", has_text=name).first
    result.wait_for()
    result.click()
    page.wait_for_url(re.compile(r".*/app/account/\d+$"))
    assert page.get_by_role("heading", name=name).is_visible()
    assert page.get_by_role("heading", name="Timeline").is_visible()
    shot(page, f"record-en-{width}")
    if width == "phone":
        no_sideways_scroll(page)
    page.goto("/app/account")
    with page.expect_download() as download:
        page.click("#export-csv")
    path = download.value.path()
    text = Path(path).read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("Account name") and name in text
