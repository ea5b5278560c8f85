"""Comments, @mentions, notifications and the timeline in the generated app, on SQLite and
PostgreSQL: a mention notifies the person mentioned (bell, inbox, mark read), never someone who
cannot read the record, comment text is inert, and the timeline merges changes and comments."""

from __future__ import annotations

import re

from engine.auth.directory import AuthDb
from engine.store.records import Store
from tests.helpers import demo_client, user_id

REP = "chen.xiaoming@demo.loomwork.dev"
MANAGER = "li.na@demo.loomwork.dev"  # manages Chen's team
OUTSIDER = "sun.hao@demo.loomwork.dev"  # a rep of another team


def test_a_mention_reaches_the_person_mentioned_and_no_one_else(crm: tuple[Store, AuthDb]) -> None:
    store, _ = crm
    rep, manager, outsider = demo_client(crm, REP), demo_client(crm, MANAGER), demo_client(crm, OUTSIDER)
    deal = rep.get("/api/v1/opportunity", params={"limit": "1", "fields": "id,name"}).json()["data"][0]
    suggestions = rep.get(f"/app/opportunity/{deal['id']}/mentionable", params={"q": "li"}).text
    mention = re.search(r'data-mention="(@\[李娜\]\(user:\d+\))"', suggestions)
    assert mention is not None and "孙浩" not in suggestions  # only people who may read the deal
    body = f"{mention.group(1)} please check the <script>alert(1)</script> discount"
    r = rep.post(f"/app/opportunity/{deal['id']}/comments", data={"body": body}, follow_redirects=False)
    assert r.status_code == 303
    page = rep.get(f"/app/opportunity/{deal['id']}").text
    assert '<span class="mention" data-user="' in page and "@李娜</span>" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    home = manager.get("/app/opportunity").text
    assert re.search(r'id="unread-count">1<', home)
    inbox = manager.get("/app/notifications").text
    assert f'href="/app/opportunity/{deal["id"]}"' in inbox and deal["name"] in inbox
    assert "<script>alert(1)" not in inbox
    assert 'id="unread-count"' not in outsider.get("/app/opportunity").text
    note = re.search(r'action="/app/notifications/(\d+)/read"', inbox)
    assert note is not None
    # marking someone else's notification is refused; one's own works and clears the bell
    assert outsider.post(f"/app/notifications/{note.group(1)}/read", data={}).status_code == 404
    r = manager.post(f"/app/notifications/{note.group(1)}/read", data={"next": f"/app/opportunity/{deal['id']}"})
    assert r.status_code == 200 and 'id="unread-count"' not in r.text
    assert user_id(store, MANAGER)  # the manager exists (the mention named them by id)


def test_mentioning_someone_who_cannot_read_the_record_is_refused_on_the_page(crm: tuple[Store, AuthDb]) -> None:
    store, _ = crm
    rep = demo_client(crm, REP)
    deal = rep.get("/api/v1/opportunity", params={"limit": "1", "fields": "id"}).json()["data"][0]
    outsider = user_id(store, OUTSIDER)
    body = f"@[孙浩](user:{outsider}) FYI"
    r = rep.post(f"/app/opportunity/{deal['id']}/comments", data={"body": body})
    assert r.status_code == 422
    error = re.search(r'id="comment-error">([^<]*)<', r.text)
    assert error is not None and "孙浩" in error.group(1)
    assert "FYI</textarea>" in r.text  # the draft is kept
    assert rep.get(f"/api/v1/opportunity/{deal['id']}/comments").json()["data"] == []
    assert 'id="unread-count"' not in demo_client(crm, OUTSIDER).get("/app/opportunity").text


def test_the_timeline_merges_changes_and_comments_newest_first(crm: tuple[Store, AuthDb]) -> None:
    rep = demo_client(crm, REP)
    deal = rep.get("/api/v1/opportunity", params={"limit": "1"}).json()["data"][0]
    rep.patch(f"/api/v1/opportunity/{deal['id']}", json={"next_step": "Demo on site"})
    rep.post(f"/app/opportunity/{deal['id']}/comments", data={"body": "Booked the demo room"})
    page = rep.get(f"/app/opportunity/{deal['id']}").text
    timeline = page[page.index('id="timeline-title"') :]
    comment, change = timeline.index("Booked the demo room"), timeline.index("Demo on site")
    assert comment < change  # the comment came last, so it is first
    assert "<em>Next step</em>" in timeline
