"""/docs (Swagger UI) and /static: a page with no inline script under a strict Content-Security-Policy,
files served from this site only, and the vendored files as listed in static/vendor/README.md."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from engine.web.apidocs import DOCS_POLICY, STATIC
from tests.helpers import api_client, make_store

VENDOR = STATIC / "vendor"


class Tags(HTMLParser):
    """The start tags of a page with their attributes, and the text inside <script> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text += data.strip()


def parsed(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


@pytest.fixture
def client(sqlite_url: str) -> Iterator[TestClient]:
    store = make_store(sqlite_url)
    with api_client(store) as c:
        yield c
    store.db.dispose()


def test_docs_is_swagger_ui_with_no_inline_script_under_a_strict_policy(client: TestClient) -> None:
    r = TestClient(client.app).get("/docs")  # no credentials needed to read the documentation
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-security-policy"] == DOCS_POLICY
    assert "script-src 'self';" in DOCS_POLICY and "unsafe" not in DOCS_POLICY
    page = parsed(r.text)
    assert page.script_text == ""
    assert not any(name.startswith("on") or name == "style" for _, attrs in page.tags for name in attrs)
    scripts = [attrs["src"] for tag, attrs in page.tags if tag == "script"]
    styles = [attrs["href"] for tag, attrs in page.tags if tag == "link" and attrs["rel"] == "stylesheet"]
    assert scripts == ["/static/vendor/swagger-ui/swagger-ui-bundle.js", "/static/docs.js"]
    assert styles == ["/static/vendor/swagger-ui/swagger-ui.css", "/static/docs.css"]
    assert ("div", {"id": "swagger-ui", "data-openapi-url": "/openapi.json"}) in page.tags
    assert not any(tag == "meta" and attrs.get("name") == "csrf-token" for tag, attrs in page.tags)
    for url in [*scripts, *styles]:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert asset.headers["content-type"].split(";")[0] == (
            "text/css" if url.endswith(".css") else "text/javascript"
        )
        assert asset.content == (STATIC / url.removeprefix("/static/")).read_bytes()


def test_signed_in_the_docs_page_carries_the_sessions_csrf_token_and_is_not_cached(client: TestClient) -> None:
    from engine.auth.sessions import open_session
    from engine.auth.users import Users
    from engine.web.sessions import SESSION_COOKIE

    auth = client.app.state.auth  # type: ignore[attr-defined]
    user = Users(auth).get("admin@example.com")
    opened = open_session(auth, user, "127.0.0.1")
    browser = TestClient(client.app, cookies={SESSION_COOKIE: opened.secret})
    r = browser.get("/docs")
    assert r.headers["cache-control"] == "no-store"
    meta = [attrs for tag, attrs in parsed(r.text).tags if tag == "meta" and attrs.get("name") == "csrf-token"]
    assert [m["content"] for m in meta] == [opened.csrf]


def test_static_serves_nothing_outside_static(client: TestClient) -> None:
    assert client.get("/static/../engine/web/app.py").status_code == 404
    assert client.get("/static/%2e%2e/pyproject.toml").status_code == 404
    assert client.get("/static/vendor/none.js").status_code == 404


#: Licences a vendored file may carry: permissive ones that allow redistribution with the app.
PERMISSIVE = {"Apache-2.0", "MIT", "0BSD", "BSD-3-Clause", "ISC"}


def test_every_vendored_file_is_listed_with_its_version_licence_and_hash() -> None:
    rows = re.findall(
        r"^\| `([^`]+)` \| ([\w.-]+) \| (\d+\.\d+\.\d+) \| ([\w.-]+) \| `([0-9a-f]{64})` \|$",
        (VENDOR / "README.md").read_text(encoding="utf-8"),
        flags=re.MULTILINE,
    )
    files = sorted(str(p.relative_to(VENDOR)) for p in VENDOR.rglob("*") if p.is_file() and p.name != "README.md")
    assert sorted(r[0] for r in rows) == files
    for name, _package, _version, licence, digest in rows:
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
        assert licence in PERMISSIVE, (name, licence)
