"""Comments with @mentions through the API, on SQLite and PostgreSQL: who may comment and read,
who is notified, what is refused (and then nothing is stored), bodies kept exactly as sent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from engine.auth.comments import MAX_BODY, MAX_MENTIONS
from tests.auth.comments_support import Org, build_org


@pytest.fixture
def org(db_url: str) -> Iterator[Org]:
    made = build_org(db_url)
    yield made
    made.close()


def _post(org: Org, who: str, record: int, body: Any, obj: str = "opportunity") -> Any:
    return org.api(who).post(f"/api/v1/{obj}/{record}/comments", json=body)


def _codes(r: Any) -> list[tuple[list[Any], str]]:
    return [(e["loc"], e["code"]) for e in r.json()["errors"]]


# -- who may comment and read comments ----------------------------------------------------------------
def test_a_rep_cannot_comment_on_or_read_the_comments_of_a_deal_they_cannot_read(org: Org) -> None:
    assert _post(org, "other_rep", org.other_deal, {"body": "North only"}).status_code == 201
    for who, deal in (("rep", org.other_deal), ("other_rep", org.deal)):
        posted = _post(org, who, deal, {"body": "let me in"})
        listed = org.api(who).get(f"/api/v1/opportunity/{deal}/comments")
        timeline = org.api(who).get(f"/api/v1/opportunity/{deal}/timeline")
        for r in (posted, listed, timeline):
            assert r.status_code == 404, r.text
            assert _codes(r) == [([], "record.not_found")]  # the same answer as for a missing deal
    missing = _post(org, "rep", 987654321, {"body": "x"})
    assert (missing.status_code, _codes(missing)) == (404, [([], "record.not_found")])
    # A role that cannot read deals at all: 403, as for every other route of the object.
    refused = _post(org, "finance", org.deal, {"body": "invoice?"})
    assert (refused.status_code, _codes(refused)) == (403, [([], "permission.denied")])
    assert org.api("finance").get(f"/api/v1/opportunity/{org.deal}/comments").status_code == 403
    assert [c["body"] for c in org.rows("lw_comment")] == ["North only"]


def test_whoever_may_read_the_record_reads_and_writes_its_comments(org: Org) -> None:
    first = _post(org, "rep", org.deal, {"body": "called them"})
    assert first.status_code == 201, first.text
    assert _post(org, "manager", org.deal, {"body": "good, push for Friday"}).status_code == 201
    assert _post(org, "director", org.deal, {"body": "agreed"}).status_code == 201
    listed = org.api("rep").get(f"/api/v1/opportunity/{org.deal}/comments")
    assert listed.status_code == 200
    data = listed.json()["data"]
    assert [(c["author"]["name"], c["body"]) for c in data] == [
        ("Li Lei", "called them"),
        ("张伟", "good, push for Friday"),
        ("王建国", "agreed"),
    ]
    assert data[0] == {
        "id": first.json()["data"]["id"],
        "object": "opportunity",
        "record_id": org.deal,
        "author": {"id": org.ids["rep"], "name": "Li Lei"},
        "body": "called them",
        "mentions": [],
        "created_at": data[0]["created_at"],
        "edited_at": None,
    }
    assert listed.json()["next_cursor"] is None
    page = org.api("rep").get(f"/api/v1/opportunity/{org.deal}/comments", params={"limit": 2})
    assert [c["body"] for c in page.json()["data"]] == ["called them", "good, push for Friday"]
    rest = org.api("rep").get(
        f"/api/v1/opportunity/{org.deal}/comments", params={"limit": 2, "cursor": page.json()["next_cursor"]}
    )
    assert [c["body"] for c in rest.json()["data"]] == ["agreed"]
    assert rest.json()["next_cursor"] is None


def test_a_share_lets_the_other_rep_in_and_taking_it_back_shuts_them_out(org: Org) -> None:
    share = org.api("rep").post(f"/api/v1/opportunity/{org.deal}/shares", json={"user_id": org.ids["other_rep"]})
    assert share.status_code == 201
    assert _post(org, "other_rep", org.deal, {"body": "thanks for sharing"}).status_code == 201
    org.api("rep").delete(f"/api/v1/opportunity/{org.deal}/shares/{share.json()['data']['id']}")
    assert org.api("other_rep").get(f"/api/v1/opportunity/{org.deal}/comments").status_code == 404


# -- mentions -------------------------------------------------------------------------------------------
def test_mentions_by_markup_and_by_address_notify_each_user_once(org: Org) -> None:
    body = (
        f"{org.mention('manager')} and @DIRECTOR@org.test, see <b>this</b>; again {org.mention('manager')}; "
        f"me: {org.mention('rep')}"
    )
    r = _post(org, "rep", org.deal, {"body": body})
    assert r.status_code == 201, r.text
    comment = r.json()["data"]
    assert comment["body"] == body
    assert comment["mentions"] == [
        {"id": org.ids["manager"], "name": "张伟"},
        {"id": org.ids["director"], "name": "王建国"},
        {"id": org.ids["rep"], "name": "Li Lei"},
    ]
    told = [(n["recipient_id"], n["kind"], n["comment_id"], n["actor_id"]) for n in org.rows("lw_notification")]
    assert told == [
        (org.ids["manager"], "mention", comment["id"], org.ids["rep"]),
        (org.ids["director"], "mention", comment["id"], org.ids["rep"]),
    ]  # each once, and never the author


def test_a_mention_with_a_chinese_name_with_a_space_notifies_that_user(org: Org) -> None:
    org.api("director").post(f"/api/v1/opportunity/{org.deal}/shares", json={"user_id": org.ids["other_rep"]})
    r = _post(org, "director", org.deal, {"body": f"请 {org.mention('other_rep')} 帮忙跟进"})
    assert r.status_code == 201, r.text
    assert r.json()["data"]["body"] == f"请 @[王 芳](user:{org.ids['other_rep']}) 帮忙跟进"
    assert r.json()["data"]["mentions"] == [{"id": org.ids["other_rep"], "name": "王 芳"}]
    listed = org.api("other_rep").get("/api/v1/notifications").json()
    assert listed["unread"] == 1
    assert listed["data"][0]["excerpt"] == "请 @王 芳 帮忙跟进"
    assert listed["data"][0]["record_title"] == "Line terminals"


def test_a_mention_of_someone_who_cannot_read_the_record_is_refused_and_nothing_is_stored(org: Org) -> None:
    body = (
        f"{org.mention('manager')} {org.mention('other_rep')} @finance@org.test "
        f"@[Old Hand](user:{org.ids['gone']}) @[Nobody](user:987654) @nobody@org.test"
    )
    r = _post(org, "rep", org.deal, {"body": body})
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {
            "loc": ["body", "body"],
            "msg": "@王 芳 cannot read this opportunity, so would not see the comment: share the record with "
            "them first, or leave the mention out",
            "code": "comment.mention_cannot_read",
        },
        {
            "loc": ["body", "body"],
            "msg": "@finance@org.test cannot read this opportunity, so would not see the comment: share the record "
            "with them first, or leave the mention out",
            "code": "comment.mention_cannot_read",
        },
        {
            "loc": ["body", "body"],
            "msg": f"@Old Hand: there is no active user {org.ids['gone']}",
            "code": "comment.mention_unknown",
        },
        {"loc": ["body", "body"], "msg": "@Nobody: there is no active user 987654", "code": "comment.mention_unknown"},
        {
            "loc": ["body", "body"],
            "msg": "@nobody@org.test: there is no active user with e-mail nobody@org.test",
            "code": "comment.mention_unknown",
        },
    ]
    assert org.rows("lw_comment") == [] and org.rows("lw_notification") == []  # not even the manager's


def test_the_markup_name_does_not_decide_who_is_mentioned(org: Org) -> None:
    r = _post(org, "rep", org.deal, {"body": f"@[王建国](user:{org.ids['manager']}) fyi"})
    assert r.status_code == 201
    assert r.json()["data"]["mentions"] == [{"id": org.ids["manager"], "name": "张伟"}]
    assert [n["recipient_id"] for n in org.rows("lw_notification")] == [org.ids["manager"]]
    # What is shown is the user's name, whatever the markup says.
    assert org.api("manager").get("/api/v1/notifications").json()["data"][0]["excerpt"] == "@张伟 fyi"
    timeline = org.api("rep").get(f"/api/v1/opportunity/{org.deal}/timeline").json()["data"]
    assert timeline[0]["summary"] == "@张伟 fyi"


def test_too_many_mentions_are_refused(org: Org) -> None:
    body = " ".join([org.mention("manager")] * (MAX_MENTIONS + 1))
    r = _post(org, "rep", org.deal, {"body": body})
    assert (r.status_code, _codes(r)) == (422, [(["body", "body"], "comment.mentions")])


# -- bodies -------------------------------------------------------------------------------------------------
XSS = '<script>alert(1)</script><img src=x onerror="alert(2)"> &amp; </textarea>{{ 7*7 }} \u202e'


def test_text_is_stored_and_answered_exactly_as_sent(org: Org) -> None:
    r = _post(org, "rep", org.deal, {"body": f"{XSS} {org.mention('manager')}"})
    assert r.status_code == 201
    assert r.json()["data"]["body"] == f"{XSS} {org.mention('manager')}"
    assert org.rows("lw_comment")[0]["body"] == f"{XSS} {org.mention('manager')}"
    listed = org.api("rep").get(f"/api/v1/opportunity/{org.deal}/comments").json()["data"]
    assert listed[0]["body"] == f"{XSS} {org.mention('manager')}"
    assert org.api("manager").get("/api/v1/notifications").json()["data"][0]["excerpt"] == f"{XSS} @张伟"


@pytest.mark.parametrize(
    ("body", "problems"),
    [
        ({}, [(["body", "body"], "field.required")]),
        ({"body": ""}, [(["body", "body"], "field.required")]),
        ({"body": " \n\t "}, [(["body", "body"], "field.required")]),
        ({"body": None}, [(["body", "body"], "field.required")]),
        ({"body": 42}, [(["body", "body"], "type.string")]),
        ({"body": ["x"]}, [(["body", "body"], "type.string")]),
        ({"body": "x" * (MAX_BODY + 1)}, [(["body", "body"], "comment.too_long")]),
        ({"body": "a\x00b"}, [(["body", "body"], "text.invalid")]),
        ({"body": "ok", "author_id": 1}, [(["body", "author_id"], "field.unknown")]),
        (["x"], [(["body"], "type.object")]),
        ("x", [(["body"], "type.object")]),
    ],
    ids=["missing", "empty", "blank", "null", "number", "list", "too_long", "nul", "unknown_key", "array", "string"],
)
def test_bad_bodies_are_located_422s(org: Org, body: Any, problems: list[Any]) -> None:
    r = _post(org, "rep", org.deal, body)
    assert (r.status_code, _codes(r)) == (422, problems)
    assert org.rows("lw_comment") == []


def test_the_longest_body_is_taken(org: Org) -> None:
    assert _post(org, "rep", org.deal, {"body": "字" * MAX_BODY}).status_code == 201
    malformed = org.api("rep").post(
        f"/api/v1/opportunity/{org.deal}/comments", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert (malformed.status_code, _codes(malformed)) == (422, [(["body"], "json.invalid")])


# -- editing and deleting ---------------------------------------------------------------------------------------
def test_only_the_author_edits_and_an_edit_notifies_only_the_newly_mentioned(org: Org) -> None:
    made = _post(org, "rep", org.deal, {"body": f"{org.mention('manager')} draft"}).json()["data"]
    url = f"/api/v1/opportunity/{org.deal}/comments/{made['id']}"
    refused = org.api("manager").patch(url, json={"body": "hijacked"})
    assert (refused.status_code, _codes(refused)) == (403, [([], "comment.not_author")])
    outsider = org.api("other_rep").patch(url, json={"body": "hijacked"})
    assert (outsider.status_code, _codes(outsider)) == (404, [([], "record.not_found")])
    edited = org.api("rep").patch(url, json={"body": f"{org.mention('manager')} {org.mention('director')} final"})
    assert edited.status_code == 200
    assert edited.json()["data"]["edited_at"] is not None
    assert edited.json()["data"]["body"].endswith(" final")
    recipients = [n["recipient_id"] for n in org.rows("lw_notification")]
    assert recipients == [org.ids["manager"], org.ids["director"]]
    wrong_record = org.api("rep").patch(
        f"/api/v1/account/{org.account}/comments/{made['id']}", json={"body": "elsewhere"}
    )
    assert (wrong_record.status_code, _codes(wrong_record)) == (404, [([], "comment.not_found")])


def test_deleting_a_comment_takes_its_text_and_its_notifications(org: Org) -> None:
    made = _post(org, "rep", org.deal, {"body": f"{org.mention('manager')} secret plan"}).json()["data"]
    url = f"/api/v1/opportunity/{org.deal}/comments/{made['id']}"
    assert org.api("manager").delete(url).status_code == 403
    assert org.api("rep").delete(url).status_code == 200
    assert org.api("rep").delete(url).status_code == 404  # already gone
    assert org.api("rep").get(f"/api/v1/opportunity/{org.deal}/comments").json()["data"] == []
    stored = org.rows("lw_comment")[0]
    assert (stored["body"], stored["mentions"], stored["deleted_at"] is not None) == ("", [], True)
    assert org.rows("lw_notification") == []
    assert org.api("manager").get("/api/v1/notifications").json()["unread"] == 0


def test_comments_on_another_object_and_on_an_unknown_one(org: Org) -> None:
    r = _post(org, "rep", org.account, {"body": "account note"}, obj="account")
    assert r.status_code == 201
    assert r.json()["data"]["object"] == "account"
    unknown = _post(org, "rep", 1, {"body": "x"}, obj="nothing")
    assert (unknown.status_code, _codes(unknown)) == (404, [([], "object.unknown")])


def test_a_browser_session_needs_its_csrf_token_to_comment_and_mark_read(org: Org) -> None:
    from fastapi.testclient import TestClient

    from engine.auth.users import Users
    from engine.web.app import create_app
    from tests.web.test_sessions import LOCAL, PASSWORD, csrf_of, log_in

    Users(org.auth).set_password("rep@org.test", PASSWORD)
    with TestClient(create_app(org.store, auth=org.auth), base_url=LOCAL, raise_server_exceptions=False) as browser:
        assert log_in(browser, "rep@org.test").status_code == 303
        url = f"/api/v1/opportunity/{org.deal}/comments"
        for path, body in ((url, {"body": "forged"}), ("/api/v1/notifications/read", None)):
            forged = browser.post(path, json=body)
            assert (forged.status_code, _codes(forged)) == (403, [([], "csrf.invalid")])
        assert org.rows("lw_comment") == []
        csrf = {"X-CSRF-Token": csrf_of(browser)}
        assert browser.post(url, json={"body": "from the page"}, headers=csrf).status_code == 201
        assert browser.post("/api/v1/notifications/read", headers=csrf).status_code == 200
        assert browser.get("/api/v1/notifications").json()["unread"] == 0


# -- suggestions for the mention picker ----------------------------------------------------------------------
def test_the_suggester_offers_the_active_users_who_may_read_the_record(org: Org) -> None:
    url = f"/api/v1/opportunity/{org.deal}/mentionable"
    offered = org.api("rep").get(url).json()["data"]
    assert {(s["name"], s["email"], s["mention"]) for s in offered} == {
        ("Li Lei", "rep@org.test", f"@[Li Lei](user:{org.ids['rep']})"),
        ("张伟", "manager@org.test", f"@[张伟](user:{org.ids['manager']})"),
        ("王建国", "director@org.test", f"@[王建国](user:{org.ids['director']})"),
    }  # not the other rep nor finance (who cannot read it), nor the deactivated director
    assert [s["name"] for s in org.api("rep").get(url, params={"q": "LI"}).json()["data"]] == ["Li Lei"]
    assert [s["email"] for s in org.api("rep").get(url, params={"q": "王建"}).json()["data"]] == ["director@org.test"]
    assert [s["email"] for s in org.api("rep").get(url, params={"q": "DIRECTOR@"}).json()["data"]] == [
        "director@org.test"
    ]
    assert org.api("rep").get(url, params={"q": "%"}).json()["data"] == []  # no wildcard
    assert len(org.api("rep").get(url, params={"limit": 1}).json()["data"]) == 1
    picked = next(s for s in offered if s["name"] == "张伟")
    assert _post(org, "rep", org.deal, {"body": f"{picked['mention']} ok?"}).status_code == 201
    assert org.api("other_rep").get(url).status_code == 404
    assert org.api("finance").get(url).status_code == 403
    for params in ({"q": "x" * 101}, {"q": "a\x00"}, {"limit": "21"}, {"limit": "0"}):
        r = org.api("rep").get(url, params=params)
        assert (r.status_code, _codes(r)) == (422, [(["query", next(iter(params))], "query.bad_value")])


def test_a_shared_record_makes_its_borrower_mentionable(org: Org) -> None:
    url = f"/api/v1/opportunity/{org.deal}/mentionable"
    assert "王 芳" not in {s["name"] for s in org.api("rep").get(url).json()["data"]}
    org.api("rep").post(f"/api/v1/opportunity/{org.deal}/shares", json={"user_id": org.ids["other_rep"]})
    offered = {s["name"]: s["mention"] for s in org.api("rep").get(url).json()["data"]}
    assert offered["王 芳"] == f"@[王 芳](user:{org.ids['other_rep']})"
