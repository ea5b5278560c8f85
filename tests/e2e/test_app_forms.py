"""Forms in a real Chromium, at desktop and phone widths: a lead with a validation error fixed in
place, a conditional field appearing as the user chooses, an account picked by type-ahead, a
quote built with three lines whose totals follow the typing, and a save over someone else's
change. Fields are found by their labels, as a person (or a screen reader) finds them."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.support import shot, use_language
from tests.e2e.test_browser_login import sign_in

pytestmark = pytest.mark.e2e

REP = "chen.xiaoming@demo.loomwork.dev"
EMMA = "emma.clarke@demo.loomwork.dev"


def amount(text: str) -> Decimal:
    return Decimal(re.sub(r"[^0-9.\-]", "", text))


def test_a_rep_creates_a_lead_fixing_a_mistake_in_place(screen: tuple[Any, str]) -> None:
    page, width = screen
    page.goto("/login")
    sign_in(page, REP)
    use_language(page, "en")
    page.goto("/app/lead")
    page.click("#create-record")
    page.wait_for_url("**/app/lead/new")
    page.get_by_label("Company").fill(f"Lakeside Foods {width}")
    page.get_by_label("Budget").fill("1,5")
    page.click("#save-record")
    page.wait_for_load_state()
    assert page.locator("#error-summary").is_visible()
    assert page.locator("#err-name").inner_text() == "Contact name is required"
    assert page.get_by_label("Company").input_value() == f"Lakeside Foods {width}"
    shot(page, f"form-errors-{width}")
    page.get_by_label("Contact name").fill("Wang Fang")
    page.get_by_label("Budget").fill("150000")
    page.get_by_label("Source").select_option("website")
    page.click("#save-record")
    page.wait_for_url(re.compile(r".*/app/lead/\d+$"))
    assert page.get_by_role("heading", name="Wang Fang").is_visible()


def test_a_conditional_field_appears_only_when_the_deal_is_lost(screen: tuple[Any, str]) -> None:
    page, width = screen
    page.goto("/login")
    sign_in(page, REP)
    use_language(page, "en")
    page.goto("/app/opportunity/new")
    lost_reason = page.locator('fieldset.field[data-field="lost_reason"]')
    assert lost_reason.is_hidden()
    page.get_by_label("Opportunity name").fill(f"Cold storage {width}")
    # the account by type-ahead: type part of its name, pick the suggestion
    search = page.get_by_label("Account")
    search.fill("明远")
    choice = page.locator(".choices .choice").first
    choice.wait_for()
    chosen = choice.inner_text()
    choice.click()
    assert search.input_value() == chosen
    assert page.locator('input.lookup-id[name="account_id"]').input_value().isdigit()
    page.get_by_label("Amount").fill("88000")
    page.get_by_label("Expected close date").fill("2027-03-31")
    page.get_by_label("Stage").select_option("lost")
    lost_reason.wait_for(state="visible")
    assert page.locator('fieldset.field[data-field="lost_reason"] .req').is_visible()
    shot(page, f"form-conditional-{width}")
    page.get_by_label("Stage").select_option("proposal")
    lost_reason.wait_for(state="hidden")
    page.get_by_label("Stage").select_option("lost")
    lost_reason.wait_for(state="visible")
    page.click("#save-record")
    page.wait_for_load_state()
    assert page.locator("#err-lost_reason").inner_text() == "Lost reason is required"
    page.get_by_label("Lost reason").select_option(index=1)
    page.click("#save-record")
    page.wait_for_url(re.compile(r".*/app/opportunity/\d+$"))
    assert page.get_by_role("heading", name=f"Cold storage {width}").is_visible()


def test_a_quote_with_three_lines_shows_its_totals_as_the_rep_types(screen: tuple[Any, str]) -> None:
    page, width = screen
    page.goto("/login")
    sign_in(page, REP)
    use_language(page, "en")
    page.goto("/app/quote/new")
    page.get_by_label("Subject").fill(f"Three lines {width}")
    for i in range(3):
        page.click(".add-line")
        row = page.locator("tr.line").nth(i)
        row.locator('input[type="search"]').fill("")
        row.locator('input[type="search"]').focus()
        option = row.locator(".choices .choice").nth(i)
        option.wait_for()
        option.click()
        row.locator('input[name$="-name"]').fill(f"Item {i + 1}")
        row.locator('input[name$="-quantity"]').fill(str(i + 1))
        row.locator('input[name$="-unit_price"]').fill("100")
    total = page.locator("#f-total")
    page.wait_for_function("document.getElementById('f-total').textContent.includes('600')")
    assert amount(total.inner_text()) == Decimal("600")
    lines = [amount(t) for t in page.locator("tr.line output").all_inner_texts()]
    assert lines == [Decimal("100"), Decimal("200"), Decimal("300")]
    page.locator("tr.line").nth(2).locator('input[name$="-quantity"]').fill("10")
    page.wait_for_function("document.getElementById('f-total').textContent.includes('1,300')")
    shot(page, f"form-quote-lines-{width}")


def test_saving_over_a_change_made_meanwhile_shows_both_values(
    screen: tuple[Any, str], browser: Any, live_server: Any
) -> None:
    page, width = screen
    page.goto("/login")
    sign_in(page, EMMA)
    use_language(page, "en")
    page.goto("/app/opportunity?view=all")
    page.locator("#records a.record-link").first.click()
    page.wait_for_url(re.compile(r".*/app/opportunity/\d+$"))
    page.click("#edit-record")
    page.wait_for_url("**/edit")
    # meanwhile the admin changes the same deal in a browser of their own
    other = browser.new_context(base_url=live_server.url)
    admin = other.new_page()
    admin.goto("/login")
    sign_in(admin, "admin@demo.loomwork.dev")
    admin.goto(page.url)
    admin.get_by_label("Next step").fill(f"Admin's step {width}")
    admin.click("#save-record")
    admin.wait_for_url(re.compile(r".*/app/opportunity/\d+$"))
    other.close()
    page.get_by_label("Next step").fill(f"My step {width}")
    page.click("#save-record")
    page.wait_for_load_state()
    assert page.locator("#conflict").is_visible()
    assert f"Admin's step {width}" in page.locator("#conflict").inner_text()
    assert page.get_by_label("Next step").input_value() == f"My step {width}"
    shot(page, f"form-conflict-{width}")
    page.click("#save-record")
    page.wait_for_url(re.compile(r".*/app/opportunity/\d+$"))
    assert f"My step {width}" in page.locator("main").inner_text()
