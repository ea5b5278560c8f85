"""Helpers of the browser tests of the generated app: screenshots, the language, phone layout."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ARTEFACTS = Path(os.environ.get("LOOMWORK_ARTEFACTS", Path(__file__).resolve().parents[2] / "test-artefacts"))


def shot(page: Any, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


#: The elements reaching past the right edge of the screen, outermost first (for the message).
WIDEST = """Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right >
  document.documentElement.clientWidth + 1).slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id)"""


def no_sideways_scroll(page: Any) -> None:
    """The page itself never scrolls sideways (a board or a wide table scrolls inside its box)."""
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    wide = page.evaluate(WIDEST) if overflow > 0 else []
    assert overflow <= 0, f"the page is {overflow}px wider than the screen: {wide}"


def use_language(page: Any, lang: str) -> None:
    page.goto("/app")
    page.click(".user-menu summary")
    page.click(f"#lang-{lang}")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == ("zh-CN" if lang == "zh" else "en")
