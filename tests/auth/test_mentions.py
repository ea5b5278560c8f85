"""Finding @mentions in comment text (pure: no database)."""

from __future__ import annotations

from engine.auth.mentions import MentionRef, excerpt, markup, parse_mentions, plain_text


def test_markup_takes_names_with_spaces_and_chinese() -> None:
    text = "请 @[王 芳](user:7) 和 @[Li Lei](user:42) 跟进"
    assert parse_mentions(text) == [
        MentionRef(2, 16, user_id=7, name="王 芳"),
        MentionRef(19, 37, user_id=42, name="Li Lei"),
    ]
    assert [text[r.start : r.end] for r in parse_mentions(text)] == ["@[王 芳](user:7)", "@[Li Lei](user:42)"]


def test_a_typed_address_mentions_its_user_in_lower_case() -> None:
    refs = parse_mentions("@Li.Lei@Example.COM, can you call them? cc @wang_fang+crm@corp.example.cn.")
    assert [(r.email, r.user_id) for r in refs] == [
        ("li.lei@example.com", None),
        ("wang_fang+crm@corp.example.cn", None),
    ]
    assert refs[1].written == "wang_fang+crm@corp.example.cn"  # the final full stop is not part of it


def test_an_ordinary_address_or_a_word_with_at_mentions_nobody() -> None:
    assert parse_mentions("write to li@example.com or sales@corp.cn") == []
    assert parse_mentions("x@li@example.com, a.@li@example.com, meet @ 10, @[](user:1), @[a](user:x)") == []
    assert parse_mentions("no mention: @[a\nb](user:1)") == []


def test_an_address_inside_a_markup_name_is_part_of_the_markup() -> None:
    refs = parse_mentions("@[@li@example.com](user:3)")
    assert refs == [MentionRef(0, 26, user_id=3, name="@li@example.com")]


def test_mentions_come_in_the_order_written_and_repeat_as_written() -> None:
    refs = parse_mentions("@a@b.cn @[A](user:1) @a@b.cn")
    assert [(r.email, r.user_id) for r in refs] == [("a@b.cn", None), (None, 1), ("a@b.cn", None)]


def test_plain_text_and_excerpt_show_mentions_by_name() -> None:
    assert plain_text("hi @[王芳](user:7) <b>x</b>") == "hi @王芳 <b>x</b>"
    assert excerpt("line one\n\n  line @[two](user:2)") == "line one line @two"
    assert plain_text("@[CEO](user:5) and @[Ann](user:6)", {5: "Li Lei"}) == "@Li Lei and @Ann"
    assert excerpt("@[CEO](user:5) ok", {5: "王芳"}) == "@王芳 ok"
    long = "字" * 200
    assert excerpt(long) == "字" * 139 + "…"
    assert len(excerpt(long)) == 140


def test_markup_for_a_name_the_markup_cannot_hold() -> None:
    assert markup(7, "王 芳") == "@[王 芳](user:7)"
    assert markup(8, "Li [Sales]\nEast") == "@[Li Sales East](user:8)"
    assert markup(9, "[]") == "@[9](user:9)"
    assert [r.user_id for r in parse_mentions(markup(8, "Li [Sales]\nEast"))] == [8]
