"""@mentions in comment text: finding them (pure), and the plain text of a comment for excerpts.

Two forms, both kept in the stored text exactly as written:

- `@[Display Name](user:42)`: what the UI's suggester inserts. The name is shown, the id decides;
  any name fits (spaces, CJK: `@[王 芳](user:7)`), except `[`, `]` and line breaks.
- `@li.lei@example.com`: typed by hand; the address names the user (case does not matter). It
  must not follow a letter, digit or `.`/`+`/`-`, so an ordinary address in the text
  (`write to li@example.com`) mentions nobody.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

#: The suggester's markup: `@[name](user:id)`.
MARKUP = re.compile(r"@\[([^\[\]\r\n]{1,255})\]\(user:([0-9]{1,18})\)")
#: A hand-typed `@address`, not part of a word or of another address.
ADDRESS = re.compile(
    r"(?<![\w.+@-])@([A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,63})"
)
#: How much of a comment an excerpt (notification, timeline) shows, in characters.
EXCERPT = 140


@dataclass(frozen=True)
class MentionRef:
    """One mention in a text: by user id (markup, with the name shown) or by e-mail address."""

    start: int
    end: int
    user_id: int | None = None
    email: str | None = None
    name: str | None = None

    @property
    def written(self) -> str:
        """How the text names the user, for messages: the markup's name, else the address."""
        return self.name if self.name is not None else str(self.email)


def parse_mentions(text: str) -> list[MentionRef]:
    """Every mention in `text`, in order; an address inside a markup's name is part of the markup."""
    found = [
        MentionRef(m.start(), m.end(), user_id=int(m.group(2)), name=m.group(1).strip() or m.group(1))
        for m in MARKUP.finditer(text)
    ]
    taken = [(r.start, r.end) for r in found]
    for m in ADDRESS.finditer(text):
        if not any(s <= m.start() < e for s, e in taken):
            found.append(MentionRef(m.start(), m.end(), email=m.group(1).lower()))
    return sorted(found, key=lambda r: r.start)


def markup(user_id: int, name: str) -> str:
    """The markup that mentions a user (what a suggester inserts); characters the markup cannot
    hold in a name (`[`, `]`, line breaks) become spaces."""
    shown = " ".join(re.sub(r"[\[\]\r\n]", " ", name).split())[:255] or str(user_id)
    return f"@[{shown}](user:{user_id})"


def plain_text(text: str, names: Mapping[int, str] | None = None) -> str:
    """The text as a reader sees it: markup shown as `@name`, the user's current name where
    `names` (id -> name) has it (the name written in the markup is only a hint)."""

    def shown(m: re.Match[str]) -> str:
        current = None if names is None else names.get(int(m.group(2)))
        return f"@{m.group(1) if current is None else current}"

    return MARKUP.sub(shown, text)


def excerpt(text: str, names: Mapping[int, str] | None = None, size: int = EXCERPT) -> str:
    """The start of the plain text on one line, at most `size` characters (… when cut)."""
    flat = " ".join(plain_text(text, names).split())
    return flat if len(flat) <= size else flat[: size - 1].rstrip() + "…"
