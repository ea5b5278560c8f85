"""schemathesis over the CRM's OpenAPI document: the API answers as the document says.

In process (the ASGI app, no server), on SQLite and PostgreSQL, with the demo data loaded, once as
the administrator and once as a sales rep (who is refused much, sees little and has hidden
fields). Every operation gets a few valid and a few invalid requests, drawn once per test session
with a fixed seed (the same requests every run, for every database and user); a request naming a
record is also sent for a record the user can read. Every response is checked: no server error,
its status, content type, headers and body as documented. Every failure is collected; there must
be none.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import engine
from engine.blueprint.load import load_blueprint
from engine.types.registry import TypeRegistry
from engine.web.app import create_app
from engine.web.openapi import openapi_document
from tests.conftest import IN_CI, DemoTemplates, demo_copy
from tests.helpers import CRM, open_demo, token_for

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
#: Requests drawn per operation and mode (valid, invalid): enough to reach every status, under a minute.
EXAMPLES = 5
USERS = {"admin": "admin@demo.loomwork.dev", "sales_rep": "chen.xiaoming@demo.loomwork.dev"}
BASE_URL = f"http://{asgi.HOST}"
#: The engine's own files: a server error is reported at the engine's line it passed last.
ENGINE = str(Path(engine.__file__).parent) + "/"


@dataclass(frozen=True)
class Finding:
    operation: str
    problem: str
    status: int | None
    detail: str
    request: str

    def __str__(self) -> str:
        return f"{self.operation}: {self.problem} ({self.status})\n    {self.detail}\n    {self.request}"


def _short(text: str, size: int = 600) -> str:
    return text if len(text) <= size else text[:size] + "..."


@pytest.fixture(scope="session")
def crm_document() -> dict[str, Any]:
    types = TypeRegistry.with_builtins()
    app = load_blueprint(CRM, types)
    return openapi_document(app, types, version=app.version)


@pytest.fixture(scope="session")
def crm_cases(crm_document: dict[str, Any]) -> list[Any]:
    """Valid and invalid requests for every operation of the CRM, drawn once with a fixed seed."""
    schema = schemathesis.openapi.from_dict(crm_document)
    send_files_as_bytes(crm_document)
    cases: list[Any] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in GenerationMode:

            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                database=None,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate],
            )
            @given(operation.as_strategy(generation_mode=mode))
            def draw(case: Any) -> None:
                cases.append(case)

            draw()
    return cases


def send_files_as_bytes(document: dict[str, Any]) -> None:
    """Let schemathesis send the file types uploads accept (PDF, Word, ...) as raw bytes."""
    media = {
        m
        for path in document["paths"].values()
        for op in path.values()
        if isinstance(op, dict) and "requestBody" in op
        for m in op["requestBody"]["content"]
        if m != "application/json"
    }
    if media:
        schemathesis.serializer.alias(sorted(media), "application/octet-stream")


def readable_ids(client: Any, document: dict[str, Any]) -> dict[str, int]:
    """For every object the user can read a record of, the id of one (its first)."""
    out = {}
    for path in document["paths"]:
        if path.count("/") != 3 or path.endswith("/trash"):
            continue
        r = client.get(f"{BASE_URL}{path}?limit=1&fields=id")
        if r.status_code == 200 and r.json()["data"]:
            out[path.rsplit("/", 1)[1]] = r.json()["data"][0]["id"]
    return out


def with_readable_record(cases: list[Any], ids: dict[str, int]) -> Iterator[Any]:
    """Each case, and for a case naming a record also the same request for a record the user can read."""
    for case in cases:
        yield case
        name = case.path.split("/")[3] if case.path.count("/") > 3 else None
        if "record_id" in case.path_parameters and name in ids:
            other = case.derive()
            other.path_parameters["record_id"] = ids[name]
            yield other


def exercise(app: Any, token: str, cases: list[Any], document: dict[str, Any]) -> list[Finding]:
    """Send every case to `app` as the token's user; the failures, one per operation and kind."""
    found: dict[tuple[str, str], Finding] = {}
    auth = {"Authorization": f"Bearer {token}"}
    with asgi.get_client(app) as client:
        client.headers.update(auth)
        served = client.get(f"{BASE_URL}/openapi.json").json()
        if served != document:
            found["/openapi.json", "document"] = Finding("/openapi.json", "not the generated document", 200, "", "")
        for case in with_readable_record(cases, readable_ids(client, document)):
            label = case.operation.label
            try:
                response = case.call(base_url=BASE_URL, session=client, headers=auth)
            except Exception as exc:  # in process, an exception leaves the app after its 500
                kind = f"{type(exc).__name__} at {_raised_at(exc)}"
                found.setdefault((label, kind), Finding(label, kind, 500, _short(repr(exc)), _curl(case)))
                continue
            try:
                case.validate_response(response, checks=CHECKS)
            except (Failure, FailureGroup) as exc:
                for failure in exc.exceptions if isinstance(exc, FailureGroup) else [exc]:
                    title = getattr(failure, "title", type(failure).__name__)
                    detail = _short(f"{failure.message} | {response.text}")
                    found.setdefault((label, title), Finding(label, title, response.status_code, detail, _curl(case)))
    return list(found.values())


def _raised_at(exc: BaseException) -> str:
    """The innermost line of the engine the exception passed through (file:line)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(ENGINE)]
    return f"engine/{frames[-1].filename[len(ENGINE) :]}:{frames[-1].lineno}" if frames else "?"


def _curl(case: Any) -> str:
    try:
        return _short(case.as_curl_command(headers={"Authorization": "Bearer ..."}), 400)
    except Exception as exc:  # a request that cannot be shown as curl is still reported
        return f"({exc!r})"


@pytest.mark.postgres
def test_the_crm_api_answers_as_its_openapi_document_says(
    tmp_path: Path,
    crm_cases: list[Any],
    crm_document: dict[str, Any],
    pg_available: bool,
    demo_templates: DemoTemplates,
) -> None:
    """Every role on both databases in one test: the cases are drawn once per process (about 30 s),
    so the whole check runs on one test worker instead of drawing them on each."""
    kinds = ["sqlite", "postgres"] if pg_available or IN_CI else ["sqlite"]
    report: list[str] = []
    for kind in kinds:
        folder = tmp_path / kind
        folder.mkdir()
        with demo_copy(kind, folder, demo_templates) as url:
            store, auth = open_demo(url, folder / "files")
            try:
                for role, email in USERS.items():
                    findings = exercise(create_app(store, auth=auth), token_for(auth, email), crm_cases, crm_document)
                    report += [
                        f"[{kind}, {role}] {f}" for f in sorted(findings, key=lambda f: (f.operation, f.problem))
                    ]
            finally:
                store.db.dispose()
    assert not report, f"{len(report)} failures:\n" + "\n".join(report)
