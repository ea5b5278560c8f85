"""The suite fails a test during which the server logged an error (a 500), wherever it came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ServerErrors

CONFTEST = Path(__file__).with_name("conftest.py")
BOOM = """
from fastapi import FastAPI
from fastapi.testclient import TestClient

from engine.web.envelope import install_error_handlers


def boom() -> int:
    web = FastAPI()
    install_error_handlers(web)

    @web.get("/boom")
    async def fail() -> None:
        raise RuntimeError("boom")

    return TestClient(web, raise_server_exceptions=False).get("/boom").status_code


def test_quietly_answered_500():
    assert boom() == 500


def test_expects_the_500(server_errors):
    assert boom() == 500
    assert [r.getMessage() for r in server_errors.records] == ["unexpected error on GET /boom"]


def test_answers_200():
    assert True
"""


def test_a_test_whose_request_got_a_500_fails(pytester: pytest.Pytester, server_errors: ServerErrors) -> None:
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(test_boom=BOOM)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_quietly_answered_500*",
            "*the server logged 1 error(s) during this test:*",
            "*loomwork.web: unexpected error on GET /boom*",
            "*RuntimeError: boom*",
        ]
    )
    assert len(server_errors.records) == 2  # the inner run's two 500s, seen here too and expected
