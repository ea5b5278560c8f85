"""/docs in a real Chromium: Swagger UI lists the CRM's operations, loads nothing from elsewhere,
breaks no rule of its Content-Security-Policy, and "Try it out" works for a signed-in user."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import LiveServer
from tests.e2e.test_browser_login import sign_in

pytestmark = pytest.mark.e2e
#: Swagger UI renders the CRM's 171 operations in the browser: give its steps more time than a page load.
SWAGGER_TIMEOUT = 30_000


def watch(page: Any) -> tuple[list[str], list[str]]:
    """The URLs the page requests and the errors it reports (console errors, CSP violations, exceptions)."""
    page.set_default_timeout(SWAGGER_TIMEOUT)
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return requests, errors


def show_tag(page: Any, tag: str, first: str) -> list[str]:
    """Filter Swagger UI to one tag's operations (it renders only what fits on screen); their paths."""
    page.fill(".operation-filter-input", tag)
    page.wait_for_function(
        "id => [...document.querySelectorAll('.opblock-tag')].every(t => t.id === id)", arg=f"operations-tag-{tag}"
    )
    page.wait_for_selector(f"#operations-{tag}-{first}")
    paths: list[str] = page.locator(".opblock-summary-path").all_inner_texts()
    return paths


def test_docs_lists_the_crm_operations_from_this_server_only(page: Any, live_server: LiveServer) -> None:
    requests, errors = watch(page)
    response = page.goto("/docs")
    assert response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert page.is_visible("button.authorize")
    assert show_tag(page, "opportunity", "list_opportunity") == [
        "/api/v1/opportunity",
        "/api/v1/opportunity",
        "/api/v1/opportunity/bulk",
        "/api/v1/opportunity/aggregate",
        *["/api/v1/opportunity/{record_id}"] * 3,
        "/api/v1/opportunity/{record_id}/restore",
        "/api/v1/opportunity/{record_id}/history",
        *["/api/v1/opportunity/{record_id}/comments"] * 2,
        *["/api/v1/opportunity/{record_id}/comments/{comment_id}"] * 2,
        "/api/v1/opportunity/{record_id}/mentionable",
        "/api/v1/opportunity/{record_id}/timeline",
        *["/api/v1/opportunity/{record_id}/shares"] * 2,
        "/api/v1/opportunity/{record_id}/shares/{share_id}",
        *["/api/v1/opportunity/{record_id}/files/{field}"] * 2,
    ]
    assert "/api/v1/trash" in show_tag(page, "app", "list_objects")
    assert "/api/v1/notifications" in show_tag(page, "app", "list_objects")
    elsewhere = [u for u in requests if not u.startswith((live_server.url, "data:"))]
    assert elsewhere == []
    assert errors == []


def test_try_it_out_lists_records_as_the_signed_in_user(page: Any) -> None:
    page.goto("/login?next=/docs")
    sign_in(page, "chen.xiaoming@demo.loomwork.dev")
    page.wait_for_url("**/docs")
    _, errors = watch(page)
    show_tag(page, "opportunity", "list_opportunity")
    operation = page.locator("#operations-opportunity-list_opportunity")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    with page.expect_response(lambda r: "/api/v1/opportunity?" in r.url) as listed:
        operation.locator("button.execute").click()
    assert listed.value.status == 200
    assert listed.value.json()["ok"] is True
    assert operation.locator(".live-responses-table tbody .response-col_status").first.inner_text().strip() == "200"
    assert errors == []


def test_try_it_out_creates_a_record_with_the_sessions_csrf_token(page: Any) -> None:
    page.goto("/login?next=/docs")
    sign_in(page, "chen.xiaoming@demo.loomwork.dev")
    page.wait_for_url("**/docs")
    _, errors = watch(page)
    show_tag(page, "account", "list_account")
    operation = page.locator("#operations-account-create_account")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("textarea.body-param__text").fill('{"name": "Docs try-out account", "industry": "retail"}')
    with page.expect_response(lambda r: r.url.endswith("/api/v1/account") and r.request.method == "POST") as created:
        operation.locator("button.execute").click()
    assert created.value.request.headers["x-csrf-token"]
    assert created.value.status == 201
    assert created.value.json()["data"]["name"] == "Docs try-out account"
    assert errors == []
