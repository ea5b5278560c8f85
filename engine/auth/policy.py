"""The one permission policy: (user, object, action) -> allowed, a row filter and a field mask.

`decide()` is pure: it reads the blueprint's roles and the `Subject` and touches no database.
The store applies the decision on every path (list, get, update, delete, lookups, counts):

    decision = decide(store.app, subject, "opportunity", "read")
    if not decision.allowed: ...                     # 404 for get, empty for list
    where = decision.row_filter(store.tables["opportunity"], lambda o, t: TableScope(store, o, t))
    list_records(store, "opportunity", q, scope=where)

Roles add up: an action is allowed when any of the subject's roles allows it; the rows are those
any allowing role reaches, plus records shared with the user or their teams (`lw_share`); a
field is hidden only when every allowing role hides it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    false,
    or_,
    select,
)
from sqlalchemy.sql import FromClause
from sqlalchemy.sql.elements import BindParameter

from engine.blueprint.formula_reads import formula_inputs
from engine.blueprint.model import ACTIONS, App, ObjectDef, PermissionDef
from engine.blueprint.roles import USER, USER_ATTRIBUTES, check_scope
from engine.expr import Kind, SqlCollection, SqlScope, builtin_functions, to_sql
from engine.store.tables import share_table as store_share_table
from engine.types.registry import TypeRegistry

SHARE_TABLE = "lw_share"
#: At most this many alternatives are read and merged for one list (`Decision.row_alternatives`);
#: a team scope is split per owner only up to `MAX_SPLIT_TEAM` owners (measured: ten ordered reads
#: cost more than one read of `owner_id IN (...)` plus its sort; see docs/benchmarks.md).
MAX_ALTERNATIVES = 8
MAX_SPLIT_TEAM = 4
USER_TABLE = "lw_user"
#: Builds the expression-language view (`SqlScope`) of an object's table; the store passes
#: `lambda obj, table: TableScope(store, obj, table)`.
ScopeFactory = Callable[[ObjectDef, FromClause], SqlScope]


@dataclass(frozen=True)
class Subject:
    """Who is acting, as the policy needs it (built by `engine.auth.users` from `lw_user`/`lw_team`)."""

    id: int
    roles: frozenset[str]
    #: The user's own team plus, for a manager, every team below it.
    team_ids: frozenset[int] = frozenset()
    #: `user.<name>` values for scope expressions: team, region, email, locale (id comes from `id`).
    attributes: Mapping[str, Any] = field(default_factory=dict)
    #: The ids of the users in `team_ids`, when known: a team scope is then `owner_id IN (...)`,
    #: which an index on (owner_id, ...) serves; when None, a subquery on `lw_user` finds them.
    member_ids: frozenset[int] | None = None

    def attribute(self, name: str) -> Any:
        return self.id if name == "id" else self.attributes.get(name)


def share_table(metadata: MetaData) -> Table:
    """`lw_share` in `metadata` (defined with the other system tables in engine.store.tables)."""
    return store_share_table(metadata)


@dataclass(frozen=True)
class _Grant:
    """One role's permission that allows the action."""

    role: str
    admin: bool
    permission: PermissionDef | None  # None for an administrator


@dataclass(frozen=True)
class Decision:
    """What `decide` found. `row_filter` builds SQL only; it never runs a query."""

    app: App = field(compare=False, repr=False)
    subject: Subject
    object: str
    action: str
    allowed: bool
    hidden: frozenset[str] = frozenset()
    read_only: frozenset[str] = frozenset()
    grants: tuple[_Grant, ...] = ()
    #: For a child object: the parent's decision that this one follows.
    parent: Decision | None = None
    reasons: tuple[str, ...] = ()
    #: Field types for compiling expression scopes (the store's registry); builtins when None.
    types: Any = field(default=None, compare=False, repr=False)

    @property
    def scopes(self) -> tuple[str, ...]:
        """The record scopes of the allowing roles (`all` for an administrator); a child's are its parent's."""
        if self.parent is not None:
            return self.parent.scopes
        return tuple("all" if g.admin or g.permission is None else g.permission.scope for g in self.grants)

    @property
    def line_scopes(self) -> tuple[str, ...]:
        """For a child object: the roles' conditions on the lines themselves (empty: every line
        of the parent records reached)."""
        if self.parent is None or any(g.permission is None or g.permission.scope == "all" for g in self.grants):
            return ()
        return tuple(g.permission.scope for g in self.grants if g.permission is not None)

    @property
    def unrestricted(self) -> bool:
        """Every row is reachable (an administrator, or a role with scope all)."""
        if self.parent is not None:
            return self.parent.unrestricted and not self.line_scopes
        return any(g.admin or (g.permission is not None and g.permission.scope == "all") for g in self.grants)

    def row_filter(
        self,
        table: FromClause,
        scopes: ScopeFactory | None = None,
        *,
        shares: bool = True,
        metadata: MetaData | None = None,
    ) -> ColumnElement[bool] | None:
        """A WHERE condition on `table` selecting the rows this decision reaches; None: all rows.

        `metadata` is the store's (the policy finds `lw_user`, `lw_share` and a child's parent table
        there); it defaults to the table's own, so pass it for an alias. `scopes` is needed for
        expression scopes only. `shares=False` leaves out the shared-records clause — for a caller
        that knows the user has no shares on this object (an OR with a subquery keeps databases
        from reading an index in order), or for the rights a share never gives (changing the owner).
        """
        if not self.allowed:
            return false()
        metadata = metadata if metadata is not None else getattr(table, "metadata", None)
        if metadata is None:
            raise ValueError("pass the store's metadata to row_filter for an alias")
        obj = self.app.object(self.object)
        if self.parent is not None:
            parent_table = metadata.tables[self.parent.object]
            inner = self.parent.row_filter(parent_table, scopes, shares=shares, metadata=metadata)
            parts: list[ColumnElement[bool]] = []
            if inner is not None:
                parts.append(table.c[str(obj.parent_column)].in_(select(parent_table.c.id).where(inner)))
            lines = [
                self._scope_condition(g.role, g.permission, obj, table, scopes, metadata)
                for g in self.grants
                if self.line_scopes and g.permission is not None
            ]
            if lines:
                parts.append(lines[0] if len(lines) == 1 else or_(*lines))
            return None if not parts else parts[0] if len(parts) == 1 else and_(*parts)
        if self.action == "create" or self.unrestricted:
            return None
        conditions = [
            self._scope_condition(g.role, g.permission, obj, table, scopes, metadata)
            for g in self.grants
            if g.permission is not None
        ]
        shared = self._shared(table, metadata) if shares else None
        if shared is not None:
            conditions.append(shared)
        return conditions[0] if len(conditions) == 1 else or_(*conditions)

    def row_alternatives(
        self, table: Table, scopes: ScopeFactory | None = None, *, shares: bool = True
    ) -> list[ColumnElement[bool]] | None:
        """`row_filter` as a list of conditions whose OR it is, each one an index can serve alone
        (one per team member, the shared records apart), so a list can read each in order and
        merge; None when it is not worth splitting (one condition, all rows, a child object)."""
        if not self.allowed or self.parent is not None or self.action == "create" or self.unrestricted:
            return None
        obj = self.app.object(self.object)
        out: list[ColumnElement[bool]] = []
        for g in self.grants:
            if g.permission is None:
                continue
            members = self.subject.member_ids
            if (
                g.permission.scope == "team"
                and members is not None
                and len(members | {self.subject.id}) <= MAX_SPLIT_TEAM
            ):
                out += [
                    table.c.owner_id == bindparam("policy_owner", m, type_=BigInteger, unique=True)
                    for m in sorted(members | {self.subject.id})
                ]
            else:
                out.append(self._scope_condition(g.role, g.permission, obj, table, scopes, table.metadata))
        shared = self._shared(table, table.metadata) if shares else None
        if shared is not None:
            out.append(shared)
        return out if 1 < len(out) <= MAX_ALTERNATIVES else None

    def _scope_condition(
        self,
        role: str,
        permission: PermissionDef,
        obj: ObjectDef,
        table: FromClause,
        scopes: ScopeFactory | None,
        metadata: MetaData,
    ) -> ColumnElement[bool]:
        scope = permission.scope
        me = bindparam("policy_user_id", self.subject.id, type_=BigInteger, unique=True)
        if scope == "own":
            return table.c.owner_id == me
        if scope == "team" and self.subject.member_ids is not None:
            owners: BindParameter[int] = bindparam(
                "policy_owner_ids", sorted(self.subject.member_ids | {self.subject.id}), expanding=True, unique=True
            )
            return table.c.owner_id.in_(owners)
        if scope == "team":
            users = metadata.tables[USER_TABLE]
            teams: BindParameter[int] = bindparam(
                "policy_team_ids", sorted(self.subject.team_ids), expanding=True, unique=True
            )
            members = select(users.c.id).where(users.c.team_id.in_(teams))
            return or_(table.c.owner_id == me, table.c.owner_id.in_(members))
        if scopes is None:
            raise ValueError(f"the scope of role '{role}' on '{obj.name}' is an expression; pass `scopes`")
        typed = check_scope(self.app, obj, scope, self.types or TypeRegistry.with_builtins(), builtin_functions())
        condition: ColumnElement[bool] = to_sql(typed, _WithUser(scopes(obj, table), self.subject))
        return condition

    def _shared(self, table: FromClause, metadata: MetaData) -> ColumnElement[bool] | None:
        """Records shared with the user or one of their teams (an edit share for update)."""
        if self.action not in ("read", "update"):
            return None
        shares = metadata.tables.get(SHARE_TABLE)
        if shares is None:
            raise LookupError(f"{SHARE_TABLE} is not in the metadata; add it with engine.auth.policy.share_table()")
        who = shares.c.user_id == bindparam("policy_user_id", self.subject.id, type_=BigInteger, unique=True)
        if self.subject.team_ids:
            teams: BindParameter[int] = bindparam(
                "policy_team_ids", sorted(self.subject.team_ids), expanding=True, unique=True
            )
            who = or_(who, shares.c.team_id.in_(teams))
        where = and_(shares.c.object == self.object, who)
        if self.action == "update":
            where = and_(where, shares.c.can_edit.is_(True))
        return table.c.id.in_(select(shares.c.record_id).where(where))

    def explain(self) -> list[str]:
        """Why, in lines a person reads (for `loomwork explain`)."""
        verdict = "allowed" if self.allowed else "denied"
        lines = [f"{self.action} {self.object}: {verdict}", *(f"  {r}" for r in self.reasons)]
        if self.allowed and self.hidden:
            lines.append(f"  hidden fields: {', '.join(sorted(self.hidden))}")
        if self.allowed and self.read_only:
            lines.append(f"  read-only fields: {', '.join(sorted(self.read_only))}")
        return lines


class _WithUser:
    """A `SqlScope` where `user.<attribute>` is a bound parameter holding the subject's value."""

    def __init__(self, inner: SqlScope, subject: Subject) -> None:
        self.inner = inner
        self.subject = subject

    @property
    def dialect(self) -> str:
        return self.inner.dialect

    @property
    def table(self) -> FromClause:
        return self.inner.table

    def column(self, path: tuple[str, ...]) -> ColumnElement[Any]:
        if path[0] == USER and len(path) == 2:
            info = USER_ATTRIBUTES[path[1]]
            kind = BigInteger() if info.kind is Kind.NUMBER else String()
            return bindparam(f"user_{path[1]}", self.subject.attribute(path[1]), type_=kind, unique=True)
        return self.inner.column(path)

    def collection(self, name: str) -> SqlCollection:
        return self.inner.collection(name)


def decide(app: App, subject: Subject, object_name: str, action: str, *, types: Any = None) -> Decision:
    """May `subject` do `action` (create, read, update, delete) on `object_name`, on which rows,
    with which fields hidden or read-only. Raises KeyError for an unknown object or action.

    A formula that reads a field hidden from the subject (directly, through a lookup, a
    collection or another formula) is hidden too: it would show what the role hides.

    `types` is the field-type registry expression scopes are compiled with (builtins when None)."""
    decision = _decide(app, subject, object_name, action, types)
    if not decision.allowed or not decision.grants or any(g.admin for g in decision.grants):
        return decision
    derived = _hiding_formulas(app, subject, app.object(object_name), decision.hidden, types)
    if not derived:
        return decision
    reasons = [f"formula '{f}' reads a field hidden from the role, so it is hidden too" for f in sorted(derived)]
    return replace(
        decision,
        hidden=decision.hidden | derived,
        read_only=decision.read_only - derived,
        reasons=(*decision.reasons, *reasons),
    )


def _hiding_formulas(app: App, subject: Subject, obj: ObjectDef, hidden: frozenset[str], types: Any) -> frozenset[str]:
    """The formulas of `obj` not yet hidden that read a field the subject's roles hide."""
    out: set[str] = set()
    explicit: dict[str, frozenset[str]] = {obj.name: hidden}
    for f in obj.formula_fields:
        if f.name in hidden:
            continue
        for o, name in formula_inputs(app, obj.name, f.name):
            if o not in explicit:
                explicit[o] = _decide(app, subject, o, "read", types).hidden
            if name in explicit[o]:
                out.add(f.name)
                break
    return frozenset(out)


def _decide(app: App, subject: Subject, object_name: str, action: str, types: Any) -> Decision:
    """`decide` with the fields the roles hide by name (no formulas hidden for what they read)."""
    obj = app.object(object_name)
    if action not in ACTIONS:
        raise KeyError(action)
    if obj.parent:
        return _decide_lines(app, subject, obj, action, types)
    roles = [app.role(r) for r in sorted(subject.roles) if app.has_role(r)]
    unknown = sorted(r for r in subject.roles if not app.has_role(r))
    reasons = [f"role '{r}' is not in the blueprint" for r in unknown]
    grants: list[_Grant] = []
    for role in roles:
        if role.admin:
            grants.append(_Grant(role.name, True, None))
            reasons.append(f"role '{role.name}' is an administrator")
            continue
        perm = role.permission(object_name)
        if perm is None:
            reasons.append(f"role '{role.name}' does not list '{object_name}'")
        elif not perm.allows(action):
            reasons.append(f"role '{role.name}' may not {action} '{object_name}'")
        else:
            grants.append(_Grant(role.name, False, perm))
            reasons.append(f"role '{role.name}' may {action} '{object_name}' (scope: {perm.scope})")
    if not roles and not unknown:
        reasons.append("the user has no role")
    if not grants:
        return Decision(app, subject, object_name, action, False, reasons=tuple(reasons), types=types)
    if any(g.admin for g in grants):
        return Decision(
            app, subject, object_name, action, True, grants=tuple(grants), reasons=tuple(reasons), types=types
        )
    perms = [g.permission for g in grants if g.permission is not None]
    hidden = frozenset.intersection(*(p.hidden for p in perms))
    closed = frozenset.intersection(*(p.hidden | p.read_only for p in perms))
    return Decision(
        app,
        subject,
        object_name,
        action,
        True,
        hidden=hidden,
        read_only=closed - hidden,
        grants=tuple(grants),
        reasons=tuple(reasons),
        types=types,
    )


def _decide_lines(app: App, subject: Subject, obj: ObjectDef, action: str, types: Any) -> Decision:
    """A line is part of its parent: reading it is reading the parent, changing it changes the parent.

    A role that hides the parent's child-table field reaches none of its lines (nor may change
    them when the field is read-only); a role may list the child object with a `scope` (which
    lines, e.g. `internal = false`) and `fields` restrictions of the lines' own fields."""
    parent_name = str(obj.parent)
    parent_action = "read" if action == "read" else "update"
    parent = _decide(app, subject, parent_name, parent_action, types)
    holder = next(f.name for f in app.object(parent_name).child_fields if f.target == obj.name)
    reasons = [f"'{obj.name}' is a child table of '{parent_name}': {parent_action} {parent_name} decides"]
    grants: list[_Grant] = []
    for g in parent.grants:
        closed = frozenset() if g.permission is None else g.permission.hidden
        if action != "read" and g.permission is not None:
            closed |= g.permission.read_only
        if holder in closed:
            how = "hides" if action == "read" else "may not change"
            reasons.append(f"role '{g.role}' {how} the field '{holder}' of '{parent_name}', which holds these lines")
            continue
        line = None if g.admin else app.role(g.role).permission(obj.name)
        if line is not None and line.scope != "all":
            reasons.append(f"role '{g.role}' reaches the lines where {line.scope}")
        grants.append(_Grant(g.role, g.admin, line))
    if not grants:
        return Decision(app, subject, obj.name, action, False, reasons=(*reasons, *parent.reasons), types=types)
    if len(grants) < len(parent.grants):  # the parent rows of the roles that reach the lines only
        parent = _decide(
            app, replace(subject, roles=frozenset(g.role for g in grants)), parent_name, parent_action, types
        )
    perms = [g.permission for g in grants]
    open_all = any(p is None for p in perms)
    hidden = frozenset() if open_all else frozenset.intersection(*(p.hidden for p in perms if p is not None))
    closed = (
        frozenset() if open_all else frozenset.intersection(*(p.hidden | p.read_only for p in perms if p is not None))
    )
    return Decision(
        app,
        subject,
        obj.name,
        action,
        True,
        hidden=hidden,
        read_only=closed - hidden,
        grants=tuple(grants),
        parent=parent,
        reasons=(*reasons, *parent.reasons),
        types=types,
    )
