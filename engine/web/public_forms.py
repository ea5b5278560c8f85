"""Public web forms: `/f/{slug}`, declared under `forms:` in the blueprint (lead capture from a
company website), submitted by anyone without signing in.

- Only the declared fields are taken from a submission; the form's `set:` values are added (e.g.
  `source: website`); the record is created by the system through the store, with the same
  coercion, rules and conditions as every write, and its problems are shown at their fields.
- Abuse: a double-submit token (cookie + hidden field, as the sign-in form), a honeypot field
  that people never see (a bot that fills it is thanked and nothing is stored), at most `per_hour`
  submissions per visitor address (counted in the database, for every worker), and a 64 KB body.
- Embedding: `frame_ancestors` lists the sites that may show the form in a frame (CSP
  `frame-ancestors`); by default none may.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from engine.auth.directory import AuthDb
from engine.auth.ratelimit import reserve_submission
from engine.blueprint.model import PublicFormDef
from engine.errors import InputInvalid, PayloadTooLarge
from engine.forms.conditions import form_state
from engine.forms.spec import FormSpec, SectionSpec, form_spec
from engine.store.records import Store
from engine.web import offload
from engine.web.app_forms import FormPage
from engine.web.bodies import read_limited
from engine.web.form_values import field_value
from engine.web.i18n import Words, choose
from engine.web.identity import client_ip
from engine.web.sessions import CSRF_FIELD, LOGIN_CSRF_COOKIE, same_token, set_cookie
from engine.web.shell import template_environment

MAX_SUBMISSION = 64 * 1024
#: The honeypot: an input people never see (hidden by CSS and from assistive technology).
HONEYPOT = "website_url"


def frame_policy(form: PublicFormDef) -> dict[str, str]:
    sources = " ".join(form.frame_ancestors) if form.frame_ancestors else "'none'"
    headers = {"Content-Security-Policy": f"frame-ancestors {sources}", "Cache-Control": "no-store"}
    if not form.frame_ancestors:
        headers["X-Frame-Options"] = "DENY"
    return headers


def public_spec(store: Store, form: PublicFormDef) -> FormSpec:
    """The form's fields only, in the declared order, as one section."""
    spec = form_spec(store.app, store.types, form.object, None, mode="create", conditions=store.conditions)
    by_name = {f.name: f for f in spec.fields}
    fields = tuple(by_name[n] for n in form.fields if n in by_name)
    return FormSpec(
        spec.object,
        spec.label,
        spec.mode,
        None,
        (SectionSpec(0, None, 1, fields),),
        spec.conditions,
        spec.types,
        spec.definition,
    )


def public_form_router(store: Store, auth: AuthDb) -> APIRouter:
    router = APIRouter(prefix="/f", include_in_schema=False)
    env = template_environment()
    forms = {f.slug: f for f in store.app.forms}

    def words(request: Request) -> Words:
        return Words(choose(None, request.headers.get("accept-language"), store.app.default_locale), store.app.timezone)

    def render(request: Request, form: PublicFormDef, status: int = 200, **context: Any) -> Response:
        token = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
        if not 32 <= len(token) <= 128:
            token = secrets.token_urlsafe(32)
        t = words(request)
        if "spec" in context:
            typed = {k: v[-1] for k, v in context["page"].texts.items() if v}
            context["state"] = form_state(context["spec"], typed, {})
        html = env.get_template("public_form.html").render(
            app=store.app, t=t, lang=t.lang, form=form, csrf=token, honeypot=HONEYPOT, lookups={}, **context
        )
        response = HTMLResponse(html, status_code=status, headers=frame_policy(form))
        set_cookie(response, request, LOGIN_CSRF_COOKIE, token, max_age=None)
        return response

    def missing(request: Request) -> Response:
        t = words(request)
        html = env.get_template("public_missing.html").render(app=store.app, t=t, lang=t.lang)
        return HTMLResponse(html, status_code=404)

    @router.get("/{slug}")
    async def show(slug: str, request: Request) -> Response:
        form = forms.get(slug)
        if form is None:
            return missing(request)
        spec = public_spec(store, form)
        return render(request, form, spec=spec, page=FormPage(spec, words(request), {}, {}))

    @router.post("/{slug}")
    async def submit(slug: str, request: Request) -> Response:
        form = forms.get(slug)
        if form is None:
            return missing(request)
        t = words(request)
        spec = public_spec(store, form)
        try:
            raw = await read_limited(request, MAX_SUBMISSION)
        except PayloadTooLarge:
            return render(
                request, form, status=413, spec=spec, page=FormPage(spec, t, {}, {}), error=t("The form is too large.")
            )
        posted = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        page = FormPage(spec, t, {}, posted)
        if not same_token(request.cookies.get(LOGIN_CSRF_COOKIE), posted.get(CSRF_FIELD, [""])[-1]):
            message = t("Your form expired or was not sent from this page. Please try again.")
            return render(request, form, status=403, spec=spec, page=page, error=message)
        if posted.get(HONEYPOT, [""])[-1].strip():
            return render(request, form, thanked=True)  # a bot: thanked, nothing stored
        wait = await offload.write_inline(auth.db, _count, auth, form, client_ip(request))
        if wait is not None:
            message = t("Too many submissions from your address. Please try again later.")
            response = render(request, form, status=429, spec=spec, page=page, error=message)
            response.headers["Retry-After"] = str(wait)
            return response
        data = {**form.set}
        for f in spec.fields:
            if f.key in posted:
                data[f.key] = field_value(f, posted[f.key], t.timezone)
        try:
            await offload.write_inline(store.db, lambda: store.create(form.object, data))
        except InputInvalid as exc:
            page.refuse(exc)
            return render(request, form, status=422, spec=spec, page=page)
        return render(request, form, thanked=True)

    return router


def _count(auth: AuthDb, form: PublicFormDef, ip: str | None) -> int | None:
    with auth.db.write() as conn:
        return reserve_submission(auth, conn, form.slug, ip, form.per_hour)
