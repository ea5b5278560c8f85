"""The website's public lead form in a real Chromium, at desktop and phone widths, in the
visitor's language: a mistake is shown at its field, then the lead is sent and thanked."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.support import no_sideways_scroll, shot

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("lang", ["en-US", "zh-CN"])
def test_a_visitor_sends_the_contact_form(browser: Any, live_server: Any, lang: str) -> None:
    for width, viewport in {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}.items():
        context = browser.new_context(base_url=live_server.url, viewport=viewport, locale=lang)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e, seen=errors: seen.append(str(e)))
        page.goto("/f/contact_us")
        heading = "Talk to our sales team" if lang == "en-US" else "联系我们的销售团队"
        assert page.get_by_role("heading", name=heading).is_visible()
        company = "Company" if lang == "en-US" else "公司名称"
        page.get_by_label(company).fill(f"Harbour Logistics {width} {lang}")
        page.click("#send-form")
        page.wait_for_load_state()
        assert page.locator("#error-summary").is_visible()
        assert page.get_by_label(company).input_value() == f"Harbour Logistics {width} {lang}"
        page.locator("#f-name").fill("Gao Yang")
        page.click("#send-form")
        page.locator("#thanks").wait_for()
        shot(page, f"public-form-{lang}-{width}")
        if width == "phone":
            no_sideways_scroll(page)
        assert errors == []
        context.close()
