"""What every page of the generated app shares: its templates, the signed-in user's language and
menu, and the frame around each page (the shell: menu, search, user menu, language switch).

The menu is the blueprint's `navigation:` (or every top-level object), less the objects the user
may not read: a menu never offers what the server would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, select_autoescape

from engine.blueprint.model import App, Label, ObjectDef
from engine.web.i18n import Words, choose
from engine.web.identity import Identity

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
#: Response headers of every signed-in page: never cached, never framed.
PRIVATE = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}


def template_environment() -> Environment:
    """Jinja2 over templates/, autoescaping everything (also `.txt` and strings)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["page_template"] = page_template
    return env


def page_template(env: Environment, page: str, object_name: str) -> Any:
    """The template of `page` for an object, most specific first (`app/list-lead.html`, then
    `app/list.html`): an app may override one object's page without touching the others."""
    return env.select_template([f"app/{page}-{object_name}.html", f"app/{page}.html"])


@dataclass(frozen=True)
class MenuGroup:
    label: Label | None
    objects: tuple[ObjectDef, ...]


def menu(app: App, identity: Identity) -> list[MenuGroup]:
    """The blueprint's menu, with only the objects this user may read (empty groups dropped)."""
    groups = app.navigation
    if not groups:
        from engine.blueprint.model import NavGroup

        groups = (NavGroup(label=None, objects=tuple(o.name for o in app.objects if o.parent is None)),)
    out = []
    for g in groups:
        shown = tuple(app.object(n) for n in g.objects if identity.access.may(n, "read"))
        if shown:
            out.append(MenuGroup(g.label, shown))
    return out


def words_for(request: Request, app: App, identity: Identity | None) -> Words:
    user_locale = identity.user.locale if identity is not None else None
    lang = choose(
        user_locale if user_locale in ("en", "zh") else None, request.headers.get("accept-language"), app.default_locale
    )
    return Words(lang, app.timezone)


def frame(request: Request, app: App, identity: Identity, words: Words, **context: Any) -> dict[str, Any]:
    """The context every shell page renders with."""
    return {
        "app": app,
        "t": words,
        "lang": words.lang,
        "user": identity.user,
        "csrf": identity.csrf or "",
        "menu": menu(app, identity),
        "path": request.url.path,
        "unread": getattr(request.state, "unread", 0),
        "role": app.role(identity.user.role).label if identity.user.role and app.has_role(identity.user.role) else None,
        **context,
    }
