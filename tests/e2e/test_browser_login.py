"""Signing in and out in a real Chromium against a real server with the CRM demo data."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import DEMO_PASSWORD, XSS_EMAIL, XSS_NAME

pytestmark = pytest.mark.e2e


def sign_in(page: Any, email: str, password: str = DEMO_PASSWORD) -> Any:
    """Fill and send the login form; returns the POST /login response."""
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    with page.expect_response(lambda r: r.url.endswith("/login") and r.request.method == "POST") as posted:
        page.click("#login-submit")
    page.wait_for_load_state()
    return posted.value


def test_demo_user_signs_in_sees_their_name_and_signs_out(page: Any) -> None:
    page.goto("/")
    assert page.is_visible("#sign-in")
    page.click("#sign-in")
    page.wait_for_url("**/login")
    response = sign_in(page, "emma.clarke@demo.loomwork.dev")
    assert response.status == 303
    assert page.url == response.url.removesuffix("login")
    banner = page.inner_text("#signed-in")
    assert "Emma Clarke" in banner and "Sales rep" in banner
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["lw_session"]["httpOnly"] and cookies["lw_session"]["sameSite"] == "Lax"
    page.click("#logout")
    page.wait_for_url("**/login")
    assert "lw_session" not in {c["name"] for c in page.context.cookies()}
    page.goto("/")
    assert page.is_visible("#sign-in") and not page.is_visible("#signed-in")


def test_chinese_name_and_role_label(page: Any) -> None:
    page.goto("/login")
    sign_in(page, "li.na@demo.loomwork.dev")
    banner = page.inner_text("#signed-in")
    assert "李娜" in banner and "销售经理" in banner


def test_wrong_password_shows_the_error(page: Any) -> None:
    page.goto("/login")
    response = sign_in(page, "zhou.ting@demo.loomwork.dev", "not-the-password")
    assert response.status == 401
    assert "wrong e-mail or password" in page.inner_text("#login-error")
    assert page.input_value("input[name=email]") == "zhou.ting@demo.loomwork.dev"
    assert "lw_session" not in {c["name"] for c in page.context.cookies()}


def test_a_script_in_a_name_is_shown_as_text(page: Any) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto("/login")
    sign_in(page, XSS_EMAIL)
    assert XSS_NAME in page.inner_text("#signed-in")
    assert page.eval_on_selector_all("#signed-in script", "nodes => nodes.length") == 0
    page.wait_for_timeout(200)
    assert dialogs == []


def test_next_brings_the_user_back_after_sign_in(page: Any) -> None:
    page.goto("/login?next=/api/v1")
    sign_in(page, "admin@demo.loomwork.dev")
    page.wait_for_url("**/api/v1")
