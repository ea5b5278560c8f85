"""One small exception hierarchy. Every error carries a code, a message and a location.

HTTP status codes are chosen only in `engine.web`; here errors say *what* went wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, order=True)
class Problem:
    """One located problem in a blueprint: prints like a compiler message."""

    file: str
    line: int
    col: int
    path: str
    message: str
    code: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}" if self.line else self.file
        path = f" {self.path}:" if self.path else ""
        return f"{where}{path} {self.message} [{self.code}]"


@dataclass(frozen=True)
class FieldProblem:
    """One problem with input data: where (`loc`), what (`msg`) and a stable `code`."""

    loc: tuple[str | int, ...]
    msg: str
    code: str
    #: The message in other languages, by locale (`{"zh": ...}`), when the blueprint gives them
    #: (rule messages); the web layer picks the reader's language.
    translations: Mapping[str, str] | None = field(default=None, compare=False)

    def as_dict(self, locale: str | None = None) -> dict[str, Any]:
        msg = self.msg
        if locale and self.translations and self.translations.get(locale):
            msg = self.translations[locale]
        return {"loc": list(self.loc), "msg": msg, "code": self.code}


class LoomworkError(Exception):
    """Base of every error the engine raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ExprError(LoomworkError):
    """An expression failed to parse, type-check or compile; `col` is 1-based inside its text."""

    code = "expr.invalid"

    def __init__(self, message: str, *, col: int = 0, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.col = col

    def __str__(self) -> str:
        where = f"expression col {self.col}: " if self.col else "expression: "
        return f"{where}{self.message} [{self.code}]"


class BlueprintInvalid(LoomworkError):
    """A blueprint failed to load or check; carries every problem found, sorted."""

    code = "blueprint.invalid"

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(sorted(set(problems)))
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid blueprint")


#: How many problems one refusal carries; past it they are counted (`total`), not listed.
MAX_PROBLEMS = 100


class InputInvalid(LoomworkError):
    """Record data (API or form) failed validation; carries per-field problems, the first
    `MAX_PROBLEMS` of them, and `total`, how many there were."""

    code = "input.invalid"

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        self.total = len(problems)
        self.problems = tuple(problems[:MAX_PROBLEMS])
        super().__init__("; ".join(f"{'.'.join(map(str, p.loc))}: {p.msg}" for p in self.problems))

    @property
    def truncated(self) -> bool:
        """More problems were found than are listed."""
        return self.total > len(self.problems)


class NotFound(LoomworkError):
    code = "not_found"


class Conflict(LoomworkError):
    """A write lost a race or broke a uniqueness rule; `current` is the stored record, if any."""

    code = "conflict"

    def __init__(self, message: str, *, code: str | None = None, current: Any = None) -> None:
        super().__init__(message, code=code)
        self.current = current


class PayloadTooLarge(LoomworkError):
    code = "payload.too_large"


class NotAuthenticated(LoomworkError):
    """No valid credentials came with a request that needs them (missing, unknown, expired token)."""

    code = "auth.required"


class Forbidden(LoomworkError):
    """The acting user may not do this (an action their roles do not grant, a bad CSRF token).

    A record outside the user's scope is `NotFound` instead, so existence does not leak."""

    code = "permission.denied"


class MigrationRefused(LoomworkError):
    """A plan holds destructive or failing operations and was not allowed to run."""

    code = "migration.refused"

    def __init__(self, message: str, *, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.details = tuple(details)


class Unavailable(LoomworkError):
    """The server could not do this now, though the request itself may be fine: a read ran past
    its time limit, the write lock stayed taken. `retry_after`: seconds worth waiting, if known."""

    code = "unavailable"

    def __init__(self, message: str, *, code: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


@dataclass
class ProblemList:
    """Collects problems while checking, so all of them are reported at once."""

    file: str = "<blueprint>"
    items: list[Problem] = field(default_factory=list)

    def add(self, problem: Problem) -> None:
        self.items.append(problem)

    def __bool__(self) -> bool:
        return bool(self.items)
