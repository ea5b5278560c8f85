"""A comment with an @mention in a real Chromium: the rep picks his manager from the suggestions,
posts, and the manager sees the notification (the bell's count, the inbox, the record)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.support import shot, use_language
from tests.e2e.test_browser_login import sign_in

pytestmark = pytest.mark.e2e


def test_a_mention_notifies_the_manager(screen: tuple[Any, str], browser: Any, live_server: Any) -> None:
    page, width = screen
    page.goto("/login")
    sign_in(page, "chen.xiaoming@demo.loomwork.dev")
    use_language(page, "en")
    page.goto("/app/opportunity?view=all")
    page.locator("#records a.record-link").first.click()
    page.wait_for_url(re.compile(r".*/app/opportunity/\d+$"))
    deal_url = page.url
    page.get_by_label("Comment").fill("Discount approved? ")
    page.get_by_label("Mention someone").fill("li.na")
    choice = page.locator(".mention-choice", has_text="李娜").first
    choice.wait_for()
    choice.click()
    assert re.search(r"@\[李娜\]\(user:\d+\)", page.get_by_label("Comment").input_value())
    page.click("#post-comment")
    page.wait_for_url(re.compile(r".*/app/opportunity/\d+(#.*)?$"))
    assert page.locator(".event-comment .mention", has_text="@李娜").first.is_visible()
    shot(page, f"record-comment-{width}")
    # the manager, in a browser of their own
    other = browser.new_context(base_url=page.url.split("/app/")[0], viewport=page.viewport_size)
    manager = other.new_page()
    manager.goto("/login")
    sign_in(manager, "li.na@demo.loomwork.dev")
    manager.goto("/app/opportunity")
    badge = manager.locator("#unread-count")
    assert int(badge.inner_text()) >= 1
    manager.click("#notifications-link")
    manager.wait_for_url("**/app/notifications")
    item = manager.locator("li.notification.unread").first
    assert "Discount approved?" in item.inner_text()
    item.get_by_role("button").click()
    manager.wait_for_url(deal_url.split("#")[0])
    other.close()
