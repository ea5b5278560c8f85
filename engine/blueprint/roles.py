"""The `roles:` section: build `RoleDef`s, check their names, and type-check expression scopes.

A scope expression reads the record's fields like any expression on the object, plus the acting
user's attributes as `user.<attribute>` (`region == user.region`). The attributes and their types
are fixed here so a scope can be type-checked at load, long before anyone logs in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from engine.blueprint.model import FIELD_ACCESS, SCOPE_WORDS, App, Label, ObjectDef, PermissionDef, RoleDef
from engine.blueprint.scope import FormulaPending, ObjectScope
from engine.blueprint.shape import did_you_mean
from engine.blueprint.source import Path_, Source
from engine.errors import ExprError, Problem
from engine.expr import FieldInfo, FunctionRegistry, Kind, TypeScope, check, parse

#: What `user.<name>` means in a scope expression (the values come from the policy's `Subject`).
USER_ATTRIBUTES: Mapping[str, FieldInfo] = MappingProxyType(
    {
        "id": FieldInfo(Kind.NUMBER, nullable=False, label="user"),
        "team": FieldInfo(Kind.NUMBER, label="team"),
        "region": FieldInfo(Kind.TEXT, label="text"),
        "email": FieldInfo(Kind.TEXT, nullable=False, label="email"),
        "locale": FieldInfo(Kind.TEXT, nullable=False, label="text"),
    }
)
USER = "user"
_BARE_NAME = re.compile(r"^\s*[a-z][a-z0-9_]*\s*$")


class RoleScope(TypeScope):
    """An object's names plus `user.<attribute>`; `user` shadows a field of that name."""

    def __init__(self, inner: ObjectScope) -> None:
        self.inner = inner

    def field(self, path: tuple[str, ...]) -> FieldInfo | None:
        if path[0] == USER:
            return USER_ATTRIBUTES.get(path[1]) if len(path) == 2 else None
        return self.inner.field(path)

    def names(self, prefix: tuple[str, ...]) -> Sequence[str]:
        if prefix == (USER,):
            return sorted(USER_ATTRIBUTES)
        if not prefix:
            return sorted({*self.inner.names(()), USER})
        return [] if prefix[0] == USER else self.inner.names(prefix)

    def collection(self, name: str) -> TypeScope | None:
        return None if name == USER else self.inner.collection(name)


def check_scope(app: App, obj: ObjectDef, text: str, types: Any, functions: FunctionRegistry) -> Any:
    """The typed form of a scope expression (boolean, with a SQL form); raises `ExprError`."""
    return check(parse(text), RoleScope(ObjectScope(app, obj, types)), functions, expected=Kind.BOOLEAN, sql=True)


def _label(raw: Any, fallback: str) -> Label:
    if isinstance(raw, dict):
        return Label(en=str(raw.get("en") or fallback), zh=raw.get("zh"))
    if isinstance(raw, str) and raw:
        return Label(en=raw)
    return Label(en=fallback.replace("_", " ").capitalize())


#: Every app has this role, declared or not, and it manages everything (declaring it sets its label).
ADMIN_ROLE = "admin"


class RoleBuilder:
    """Builds the roles of shape-checked data against the built objects; reports name problems."""

    def __init__(self, fail: Callable[..., None], objects: Sequence[ObjectDef]) -> None:
        self.fail = fail
        self.objects = {o.name: o for o in objects}

    def build(self, raw_roles: Mapping[str, Any]) -> tuple[RoleDef, ...]:
        roles = []
        for name, raw in raw_roles.items():
            if not isinstance(raw, dict):
                continue
            raw_objects: dict[str, Any] = raw["objects"] if isinstance(raw.get("objects"), dict) else {}
            perms = tuple(
                p
                for oname, praw in raw_objects.items()
                if isinstance(praw, dict) and (p := self._permission(("roles", name, "objects", oname), oname, praw))
            )
            roles.append(
                RoleDef(
                    name=name,
                    label=_label(raw.get("label"), name),
                    admin=raw.get("admin") is True or name == ADMIN_ROLE,
                    objects=perms,
                    description=_label(raw["description"], "") if raw.get("description") else None,
                )
            )
        if ADMIN_ROLE not in raw_roles:
            roles.append(RoleDef(name=ADMIN_ROLE, label=Label(en="Administrator"), admin=True))
        return tuple(roles)

    def _permission(self, path: Path_, oname: str, raw: Mapping[str, Any]) -> PermissionDef | None:
        obj = self.objects.get(oname)
        if obj is None:
            self.fail(
                path,
                f"'{oname}' is not an object of this blueprint{did_you_mean(oname, self.objects)}",
                "role.unknown_object",
                key=True,
            )
            return None
        if obj.parent:
            actions = [a for a in ("create", "read", "update", "delete") if a in raw]
            if actions:
                self.fail(
                    (*path, actions[0]),
                    f"'{oname}' is a child table of '{obj.parent}': its lines follow the role's actions on "
                    f"'{obj.parent}'; give only scope (which lines) and fields here",
                    "role.child_object",
                    key=True,
                )
                return None
        scope = raw.get("scope", "own" if obj.owned and not obj.parent else "all")
        if not isinstance(scope, str):
            scope = "own"
        scope = scope.strip()
        if scope in ("own", "team") and not obj.owned:
            self.fail(
                (*path, "scope"),
                f"scope '{scope}' needs an owner, but '{oname}' records have none (owned: false); "
                "use all or an expression",
                "role.bad_scope",
            )
        elif scope not in SCOPE_WORDS and _BARE_NAME.match(scope) and not obj.has_field(scope):
            self.fail(
                (*path, "scope"),
                f"'{scope}' is not a scope: use {', '.join(SCOPE_WORDS)} or a boolean expression"
                f"{did_you_mean(scope, SCOPE_WORDS)}",
                "role.unknown_scope",
            )
        fields: dict[str, str] = {}
        raw_fields: dict[str, Any] = raw["fields"] if isinstance(raw.get("fields"), dict) else {}
        names = [f.name for f in obj.fields]
        for fname, access in raw_fields.items():
            if not obj.has_field(fname):
                self.fail(
                    (*path, "fields", fname),
                    f"'{fname}' is not a field of '{oname}'{did_you_mean(fname, names)}",
                    "role.unknown_field",
                    key=True,
                )
            elif access in FIELD_ACCESS:
                fields[fname] = str(access)
        return PermissionDef(
            object=oname,
            create=raw.get("create") is True,
            read=raw.get("read") is True,
            update=raw.get("update") is True,
            delete=raw.get("delete") is True,
            scope=scope,
            fields=MappingProxyType(fields),
        )


def has_scope_expressions(app: App) -> bool:
    return any(p.scope_is_expression for r in app.roles for p in r.objects)


def check_role_scopes(app: App, src: Source, types: Any, functions: FunctionRegistry, problems: list[Problem]) -> None:
    """Type-check every expression scope; problems are located at the scope's YAML value."""
    reported = {(p.path, p.code) for p in problems}
    for role in app.roles:
        for perm in role.objects:
            if not perm.scope_is_expression:
                continue
            path: Path_ = ("roles", role.name, "objects", perm.object, "scope")
            try:
                check_scope(app, app.object(perm.object), perm.scope, types, functions)
            except FormulaPending:  # a formula that failed to type; already reported
                continue
            except ExprError as exc:
                prefix = f"expression col {exc.col}: " if exc.col else "expression: "
                problem = src.problem(path, f"{prefix}{exc.message}", exc.code)
                if (problem.path, "role.unknown_scope") not in reported:
                    problems.append(problem)
