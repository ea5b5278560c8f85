"""Seeded CRM data at any scale: accounts, contacts and opportunities for the bulk API.

Values are driven by the fields of the shipped CRM blueprint (`blueprints/crm`) when it is given,
so every generated record is valid for it (select options, lengths, ranges, lookups); without a
blueprint a built-in description of the SPEC-crm.md fields is used. Known domain fields (name,
amount, stage, close_date, email, phone, ...) get realistic values; any other field gets a value
derived from its type. Each object draws from its own `random.Random(f"{seed}:{object}")`, so the
same seed and counts always give the same records.

    from benchmarks.generate import CrmScale, records
    for batch in batched(records("opportunity", 1000, refs={"account": range(1, 101)}), 500): ...

CLI: `python benchmarks/generate.py --scale 10000 --out /tmp/crm [--blueprint blueprints/crm]`
writes accounts.json, contacts.json and opportunities.json (JSON arrays; lookups refer to ids
1..N, i.e. the ids a fresh database assigns in load order).
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

SEED = 42
BASE_DATE = date(2024, 1, 1)
DATE_SPAN_DAYS = 731
#: Field types the generator leaves to the engine (computed, system-assigned or binary).
SKIPPED_TYPES = frozenset({"autonumber", "child_table", "attachment", "user"})

REGIONS = ["north", "east", "south", "west", "central"]
INDUSTRIES = ["manufacturing", "retail", "finance", "healthcare", "education", "technology", "energy", "logistics"]
COMPANY_WORDS = [
    "Acme",
    "Apex",
    "Blue",
    "Bright",
    "Cedar",
    "Delta",
    "Eagle",
    "Golden",
    "Harbor",
    "Jade",
    "Lotus",
    "Nova",
    "Orion",
    "Pacific",
    "Red",
    "Silver",
    "Summit",
    "Sun",
    "Vertex",
    "Zen",
]
COMPANY_KINDS = ["Industries", "Trading", "Technology", "Logistics", "Foods", "Medical", "Energy", "Systems"]
GIVEN = ["Wei", "Fang", "Lei", "Min", "Jing", "Tao", "Yan", "Hui", "Anna", "James", "Maria", "David", "Li", "Chen"]
FAMILY = ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Smith", "Garcia", "Miller", "Lopez"]
PRODUCTS = ["ERP rollout", "CRM licences", "Cloud migration", "Support renewal", "Hardware refresh", "Training"]
#: SPEC-crm.md default stage probabilities, as the fractions a percent field stores.
STAGE_PROBABILITY = {
    "initial_contact": "0.1",
    "needs_confirmed": "0.3",
    "proposal": "0.5",
    "negotiation": "0.7",
    "won": "1",
    "lost": "0",
}


@dataclass(frozen=True)
class FieldSpec:
    """What the generator needs to know about one field."""

    name: str
    type: str
    required: bool = False
    options: tuple[str, ...] = ()
    target: str | None = None
    min: Decimal | None = None
    max: Decimal | None = None
    max_length: int | None = None
    scale: int = 2
    pattern: str | None = None

    @property
    def key(self) -> str:
        """The record key of the field in the REST API (lookups are `<name>_id`)."""
        return f"{self.name}_id" if self.type == "lookup" else self.name


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    fields: tuple[FieldSpec, ...] = field(default_factory=tuple)


def _f(name: str, type_: str, **kw: Any) -> FieldSpec:
    if "options" in kw:
        kw["options"] = tuple(kw["options"])
    return FieldSpec(name, type_, **kw)


#: SPEC-crm.md's account, contact and opportunity, used when no blueprint is given.
BUILTIN_OBJECTS: dict[str, ObjectSpec] = {
    "account": ObjectSpec(
        "account",
        (
            _f("name", "text", required=True),
            _f("industry", "select", options=INDUSTRIES),
            _f("size", "select", options=["small", "medium", "large", "enterprise"]),
            _f("region", "select", options=REGIONS),
            _f("tags", "multi_select", options=["high_value", "dormant", "strategic"]),
        ),
    ),
    "contact": ObjectSpec(
        "contact",
        (
            _f("name", "text", required=True),
            _f("title", "text"),
            _f("role", "select", options=["decision_maker", "influencer", "user"]),
            _f("phone", "phone"),
            _f("email", "email"),
            _f("account", "lookup", target="account", required=True),
        ),
    ),
    "opportunity": ObjectSpec(
        "opportunity",
        (
            _f("name", "text", required=True),
            _f("account", "lookup", target="account", required=True),
            _f("amount", "currency", scale=2),
            _f("close_date", "date"),
            _f("stage", "select", options=list(STAGE_PROBABILITY)),
            _f("probability", "percent", scale=4, min=Decimal(0), max=Decimal(1)),
            _f("source", "select", options=["website", "referral", "event", "partner", "cold_call"]),
            _f("competitor", "text"),
            _f("next_step", "text"),
        ),
    ),
}


def specs_from_blueprint(path: str | Path) -> dict[str, ObjectSpec]:
    """Object specs read from a Loomwork blueprint (file or folder), via the engine's loader."""
    from engine.blueprint.load import load_blueprint
    from engine.types.registry import TypeRegistry

    types = TypeRegistry.with_builtins()
    app = load_blueprint(path, types)
    out: dict[str, ObjectSpec] = {}
    for obj in app.objects:
        specs = []
        for f in obj.fields:
            scale = f.settings.get("scale", getattr(types[f.type], "default_scale", 2))
            specs.append(
                FieldSpec(
                    name=f.name,
                    type=f.type,
                    required=f.required,
                    options=tuple(o.id for o in f.options),
                    target=f.target,
                    min=f.min,
                    max=f.max,
                    max_length=f.max_length,
                    scale=int(scale),
                    pattern=f.pattern,
                )
            )
        out[obj.name] = ObjectSpec(obj.name, tuple(specs))
    return out


# -- values ----------------------------------------------------------------------------------------


def _fit(text: str, spec: FieldSpec) -> str:
    return text[: spec.max_length] if spec.max_length else text


def _number(rng: random.Random, spec: FieldSpec, lo: float, hi: float) -> str:
    low = float(spec.min) if spec.min is not None else lo
    high = float(spec.max) if spec.max is not None else hi
    value = rng.uniform(low, high)
    q = Decimal(1).scaleb(-spec.scale)
    d = Decimal(repr(value)).quantize(q)
    d = min(max(d, Decimal(repr(low)).quantize(q)), Decimal(repr(high)).quantize(q, rounding="ROUND_FLOOR"))
    return str(d)


def _typed_value(rng: random.Random, spec: FieldSpec, i: int, refs: Mapping[str, Sequence[int]]) -> Any:
    """A valid value for any field, from its type alone (None: leave the field out)."""
    t = spec.type
    if t in ("text", "long_text"):
        return _fit(f"{spec.name.replace('_', ' ').capitalize()} {i + 1}", spec)
    if t == "integer":
        lo = int(spec.min) if spec.min is not None else 0
        hi = int(spec.max) if spec.max is not None else 1000
        return rng.randint(lo, hi)
    if t in ("decimal", "currency"):
        return _number(rng, spec, 0, 100_000)
    if t == "percent":  # a fraction: 0.2 means 20%
        return _number(rng, spec, 0, 1)
    if t == "boolean":
        return rng.random() < 0.5
    if t == "date":
        return (BASE_DATE + timedelta(days=rng.randrange(DATE_SPAN_DAYS))).isoformat()
    if t == "datetime":
        moment = datetime(2024, 1, 1) + timedelta(seconds=rng.randrange(DATE_SPAN_DAYS * 86400))
        return moment.isoformat() + "Z"
    if t == "select":
        return rng.choice(spec.options) if spec.options else None
    if t == "multi_select":
        return sorted(rng.sample(spec.options, rng.randint(0, min(2, len(spec.options))))) if spec.options else None
    if t == "email":
        return _fit(f"user{i + 1}@example.com", spec)
    if t == "phone":
        return f"+86 138 {rng.randrange(10_000):04d} {rng.randrange(10_000):04d}"
    if t == "url":
        return f"https://example.com/{spec.name}/{i + 1}"
    if t == "lookup":
        ids = refs.get(spec.target or "")
        return ids[rng.randrange(len(ids))] if ids else None
    return None


def _person(rng: random.Random) -> str:
    return f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}"


def _domain_value(obj: str, spec: FieldSpec, rng: random.Random, i: int) -> Any:
    """Realistic values for the well-known CRM fields; None falls back to the typed value."""
    name = spec.name
    if name == "name" and spec.type == "text":
        if obj == "account":
            return _fit(f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_KINDS)} {i + 1:07d}", spec)
        if obj == "contact":
            return _fit(f"{_person(rng)} {i + 1:07d}", spec)
        if obj == "opportunity":
            return _fit(f"{rng.choice(PRODUCTS)} {i + 1:07d}", spec)
    if obj == "opportunity" and name == "amount" and spec.type in ("decimal", "currency"):
        return _number(rng, spec, 1000, 100_000)
    if name == "title" and spec.type == "text" and obj == "contact":
        return _fit(rng.choice(["CEO", "CFO", "CTO", "Purchasing manager", "Engineer", "Director"]), spec)
    if name == "credit_code" and spec.type == "text":
        return f"91{i:016d}"
    if name in ("region", "industry") and spec.type == "text":
        return _fit(rng.choice(REGIONS if name == "region" else INDUSTRIES), spec)
    return None


def records(
    obj: str,
    n: int,
    *,
    seed: int = SEED,
    refs: Mapping[str, Sequence[int]] | None = None,
    specs: Mapping[str, ObjectSpec] | None = None,
    start: int = 0,
) -> Iterator[dict[str, Any]]:
    """`n` records of object `obj`, deterministic for (seed, obj, start, n).

    `refs` maps a target object to the ids lookups may point at (e.g. {"account": [1, 2, ...]}).
    Optional lookups without ids are left out; a required one raises ValueError.
    `start` numbers the records from start+1, so a continuation yields fresh names.
    """
    refs = refs or {}
    spec = (specs or BUILTIN_OBJECTS)[obj]
    for f in spec.fields:
        if f.type == "lookup" and f.required and not refs.get(f.target or ""):
            raise ValueError(f"{obj}.{f.name} is a required lookup; give ids of '{f.target}' in refs")
    rng = random.Random(f"{seed}:{obj}:{start}")
    fields = [f for f in spec.fields if f.type not in SKIPPED_TYPES]
    stage = next((f for f in fields if f.name == "stage" and f.type == "select"), None)
    for i in range(start, start + n):
        rec: dict[str, Any] = {}
        for f in fields:
            if f is stage or f.name == "probability":
                continue
            value = _domain_value(obj, f, rng, i)
            if value is None:
                value = _typed_value(rng, f, i, refs)
            if f.pattern and isinstance(value, str) and not re.fullmatch(f.pattern, value):
                value = None  # a patterned field the generator knows no value for stays empty
            if value is not None:
                rec[f.key] = value
        if stage is not None and stage.options:
            rec["stage"] = rng.choice(stage.options)
            prob = next((f for f in fields if f.name == "probability"), None)
            if prob is not None and rec["stage"] in STAGE_PROBABILITY:
                rec["probability"] = str(
                    Decimal(STAGE_PROBABILITY[rec["stage"]]).quantize(Decimal(1).scaleb(-prob.scale))
                )
        yield rec


@dataclass(frozen=True)
class CrmScale:
    """How many records of each object a scale (number of opportunities) means."""

    opportunities: int

    @property
    def accounts(self) -> int:
        return max(1, self.opportunities // 10)

    @property
    def contacts(self) -> int:
        return max(1, self.opportunities // 5)

    def counts(self) -> dict[str, int]:
        return {"account": self.accounts, "contact": self.contacts, "opportunity": self.opportunities}


def batched(items: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """Lists of at most `size` items (the bulk endpoint takes up to 10,000 records)."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def write_json_array(path: Path, items: Iterable[dict[str, Any]]) -> int:
    """Stream `items` to `path` as one JSON array; returns how many were written."""
    import orjson

    count = 0
    with path.open("wb") as out:
        out.write(b"[")
        for item in items:
            out.write(b",\n" if count else b"\n")
            out.write(orjson.dumps(item))
            count += 1
        out.write(b"\n]\n")
    return count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=10_000, help="number of opportunities (default 10,000)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--blueprint", type=Path, help="CRM blueprint to take fields from (default: built-in)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    specs = specs_from_blueprint(args.blueprint) if args.blueprint else BUILTIN_OBJECTS
    scale = CrmScale(args.scale)
    args.out.mkdir(parents=True, exist_ok=True)
    refs: dict[str, Sequence[int]] = {"account": range(1, scale.accounts + 1)}
    for obj, n in scale.counts().items():
        count = write_json_array(args.out / f"{obj}s.json", records(obj, n, seed=args.seed, refs=refs, specs=specs))
        print(f"{obj}: {count} records -> {args.out / f'{obj}s.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
