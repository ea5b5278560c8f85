"""Read blueprint files into plain data plus a side table of positions.

PyYAML silently keeps the last of two duplicate keys; here a duplicate is a located problem.
JSON files go through the same reader (JSON is YAML for our purposes) so they get positions too.
Before anything is built, each file's size, nesting depth and alias expansion are bounded, so a
hostile file (a "billion laughs" alias bomb, a 50,000-deep bracket) is a located problem in
milliseconds instead of minutes of CPU and gigabytes of memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from engine.errors import Problem

Path_ = tuple[str | int, ...]
BLUEPRINT_SUFFIXES = (".yaml", ".yml", ".json")
#: Sections declared once; every other top-level mapping (objects, ...) merges by key across files.
SINGLE_SECTIONS = frozenset({"app"})
#: Problems after which checking the merged data would only add noise.
FATAL_SOURCE_CODES = frozenset(
    {"source.missing", "source.empty", "source.unreadable", "source.syntax", "source.not_mapping"}
)
#: Largest blueprint file read (bytes); a whole CRM is about 60 KB over nine files.
MAX_FILE_BYTES = 2 * 1024 * 1024
#: Deepest nesting of mappings and lists in a file (a blueprint needs about eight levels).
MAX_DEPTH = 64
#: Most values (scalars, mappings and lists, with every alias `*name` expanded) in one file;
#: the CRM's largest file holds about 1,500.
MAX_VALUES = 100_000
_STR_TAG = "tag:yaml.org,2002:str"
_BOOL_TAG = "tag:yaml.org,2002:bool"


class Mark(NamedTuple):
    """Where a node starts (a tuple: tens of thousands are made for a large blueprint)."""

    file: str
    line: int
    col: int


@dataclass
class Source:
    """Merged blueprint data and where each node came from."""

    data: dict[str, Any] = field(default_factory=dict)
    values: dict[Path_, Mark] = field(default_factory=dict)
    keys: dict[Path_, Mark] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def mark(self, path: Path_, *, key: bool = False) -> Mark:
        """Best position for `path`: the key (or value) itself, else its nearest ancestor."""
        table = (self.keys, self.values) if key else (self.values, self.keys)
        p = tuple(path)
        while True:
            for t in table:
                if p in t:
                    return t[p]
            if not p:
                return Mark(self.files[0] if self.files else "<blueprint>", 0, 0)
            p = p[:-1]

    def problem(self, path: Path_, message: str, code: str, *, key: bool = False) -> Problem:
        m = self.mark(path, key=key)
        return Problem(m.file, m.line, m.col, dotted(path), message, code)


def dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def blueprint_files(root: Path) -> list[Path]:
    """The files making up a blueprint: the file itself, or a folder's files, sorted."""
    if root.is_file():
        return [root]
    return sorted(
        p
        for p in root.rglob("*")
        if p.suffix in BLUEPRINT_SUFFIXES
        and p.is_file()
        and not any(part.startswith((".", "_")) for part in p.relative_to(root).parts)
        and "demo" not in p.relative_to(root).parts
    )


def read_source(root: Path, problems: list[Problem], display_root: Path | None = None) -> Source:
    """Read and merge every file of a blueprint; problems are appended, never raised."""
    src = Source()
    if not root.exists():
        problems.append(Problem(str(root), 0, 0, "", "no such file or folder", "source.missing"))
        return src
    files = blueprint_files(root)
    if not files:
        problems.append(Problem(str(root), 0, 0, "", "no blueprint files (.yaml, .yml, .json) here", "source.empty"))
    already = len(problems)
    for path in files:
        name = _display(path, display_root)
        src.files.append(name)
        try:
            with path.open("rb") as fh:
                raw = fh.read(MAX_FILE_BYTES + 1)
            if len(raw) > MAX_FILE_BYTES:
                problems.append(_too_large(name, path))
                continue
            text = raw.decode("utf-8")
        except OSError as exc:
            problems.append(Problem(name, 0, 0, "", f"cannot read file: {exc.strerror or exc}", "source.unreadable"))
            continue
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
            problems.append(
                Problem(
                    name,
                    line,
                    col,
                    "",
                    f"the file is not UTF-8 (byte 0x{raw[exc.start]:02x}); save it with UTF-8 encoding",
                    "source.unreadable",
                )
            )
            continue
        _merge_file(src, name, text, problems)
    if files and not src.data and len(problems) == already:
        problems.append(
            Problem(src.files[0], 0, 0, "", "the blueprint is empty; it needs 'app:' and 'objects:'", "source.empty")
        )
    return src


def _too_large(name: str, path: Path) -> Problem:
    try:
        size = f"{path.stat().st_size:,} bytes"
    except OSError:
        size = "too large"
    message = f"the file is {size}; a blueprint file may hold at most 2 MiB: split it into several files"
    return Problem(name, 0, 0, "", message, "source.too_large")


def _display(path: Path, root: Path | None) -> str:
    base = root if root is not None else Path.cwd()
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def _compose(text: str) -> tuple[yaml.SafeLoader, yaml.Node | None]:
    """Compose with libyaml when present (fast); a syntax error is re-read by the pure-Python
    loader, whose messages the diagnostics are written for."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        loader = fast(text)
        try:
            return loader, loader.get_single_node()
        except yaml.YAMLError:
            pass
        finally:
            loader.dispose()
    loader = yaml.SafeLoader(text)
    try:
        return loader, loader.get_single_node()
    finally:
        loader.dispose()


def _merge_file(src: Source, name: str, text: str, problems: list[Problem]) -> None:
    is_json = name.endswith(".json")
    # JSON allows tabs between tokens, YAML does not; a tab is one column wide either way.
    yaml_text = text.replace("\t", " ") if is_json else text
    bounded = _check_bounds(name, yaml_text)
    if bounded is not None:
        problems.append(bounded)
        return
    if is_json:
        if not _check_json(name, text, problems):
            return
        text = yaml_text
    try:
        loader, node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        problems.append(_syntax_problem(name, exc))
        return
    except yaml.YAMLError as exc:
        problems.append(Problem(name, 0, 0, "", f"malformed YAML: {exc}", "source.syntax"))
        return
    if node is None:
        return
    reader = _NodeReader(name, loader, problems)
    local = Source()
    data = reader.read(node, (), local)
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"the value {str(data)[:40]!r}"
        problems.append(
            Problem(
                name,
                node.start_mark.line + 1,
                node.start_mark.column + 1,
                "",
                f"a blueprint file must hold a mapping (app:, objects:), got {kind}",
                "source.not_mapping",
            )
        )
        return
    merged: set[Path_] = set()  # the top-level keys and (section, name) pairs this file adds
    for key, value in data.items():
        if key not in src.data:
            src.data[key] = value
            merged.add((key,))
        elif key not in SINGLE_SECTIONS and isinstance(value, dict) and isinstance(src.data[key], dict):
            for sub, subval in value.items():
                if sub in src.data[key]:
                    problems.append(_redeclared(src, local, (key, sub)))
                    continue
                src.data[key][sub] = subval
                merged.add((key, sub))
        else:
            problems.append(_redeclared(src, local, (key,)))
    _copy_marks(local, src, merged)


def _redeclared(src: Source, local: Source, path: Path_) -> Problem:
    first = src.mark(path, key=True)
    m = local.mark(path, key=True)
    return Problem(
        m.file,
        m.line,
        m.col,
        dotted(path),
        f"'{path[-1]}' is already declared at {first.file}:{first.line}:{first.col}",
        "source.duplicate_key",
    )


def _check_bounds(name: str, text: str) -> Problem | None:
    """The first place where a file nests deeper than `MAX_DEPTH`, holds more than `MAX_VALUES`
    values once its aliases are expanded, or has an alias to a node it is inside.

    Reads the event stream once (linear in the file's size, nothing is built) and counts the
    size each anchor expands to; syntax errors are left to the composer, which explains them."""
    fast = getattr(yaml, "CSafeLoader", None)
    try:
        return _scan_bounds(name, text, fast or yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        # libyaml refuses nesting past its own limit (1,000 levels) before giving any event.
        mark = exc.problem_mark
        if "maximum nesting depth" in str(exc.problem) and mark is not None:
            message = f"nested more than {MAX_DEPTH} levels deep; a blueprint needs far fewer"
            return Problem(name, mark.line + 1, mark.column + 1, "", message, "source.too_deep")
        return None
    except yaml.YAMLError:
        return None


def _scan_bounds(name: str, text: str, loader: Any) -> Problem | None:
    expanded: dict[str, int] = {}  # anchor -> values it stands for, once complete
    stack: list[_Open] = []
    total = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.DocumentStartEvent):
            stack.clear()
            continue
        if not isinstance(event, yaml.NodeEvent | yaml.CollectionEndEvent):
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            done = stack.pop()
            if done.anchor:
                expanded[done.anchor] = done.size
            if stack:
                stack[-1].size += done.size
            continue
        if stack:
            stack[-1].enter(event)
        if isinstance(event, yaml.AliasEvent):
            anchor = str(event.anchor)
            size = expanded.get(anchor)
            if size is None and any(o.anchor == anchor for o in stack):
                message = f"the alias *{anchor} refers to a node it is inside, which would never end"
                return _bound_problem(name, event, stack, message, "source.alias")
            total += size or 0
            if total > MAX_VALUES:
                message = (
                    f"aliases here expand the file past {MAX_VALUES:,} values; "
                    "write the values out or use fewer aliases"
                )
                return _bound_problem(name, event, stack, message, "source.alias")
            if stack:
                stack[-1].size += size or 0
            continue
        total += 1
        if total > MAX_VALUES:
            message = f"the file holds more than {MAX_VALUES:,} values; split the blueprint into several files"
            return _bound_problem(name, event, stack, message, "source.too_large")
        if isinstance(event, yaml.CollectionStartEvent):
            if len(stack) >= MAX_DEPTH:
                message = f"nested more than {MAX_DEPTH} levels deep; a blueprint needs far fewer"
                return _bound_problem(name, event, stack, message, "source.too_deep")
            stack.append(_Open(event.anchor, isinstance(event, yaml.MappingStartEvent)))
        else:
            if event.anchor:
                expanded[event.anchor] = 1
            if stack:
                stack[-1].size += 1
    return None


class _Open:
    """A mapping or list whose end has not been read yet, and where inside it the reader is."""

    __slots__ = ("anchor", "count", "here", "is_map", "key", "size")

    def __init__(self, anchor: str | None, is_map: bool) -> None:
        self.anchor = anchor
        self.is_map = is_map
        self.size = 1
        self.count = 0
        self.key: str | int = ""
        self.here: str | int = 0

    def enter(self, event: yaml.NodeEvent) -> None:
        """Note that `event` starts the next key, value or item of this collection."""
        if not self.is_map:
            self.here = self.count
        elif self.count % 2 == 0:
            self.key = event.value if isinstance(event, yaml.ScalarEvent) else "?"
            self.here = self.key
        else:
            self.here = self.key
        self.count += 1


def _bound_problem(name: str, event: yaml.Event, stack: list[_Open], message: str, code: str) -> Problem:
    mark = event.start_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
    return Problem(name, line, col, dotted(tuple(o.here for o in stack)), message, code)


def _check_json(name: str, text: str, problems: list[Problem]) -> bool:
    """Strict JSON syntax (YAML would accept trailing commas and comments); True when well formed."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        msg = exc.msg
        if msg in ("Expected double-quoted property name", "Expecting property name enclosed in double quotes"):
            msg = "expected a key in double quotes (is there a trailing comma before this?)"
        elif msg == "Expecting value" and not text.strip():
            msg = "the file is empty"
        problems.append(
            Problem(name, exc.lineno, exc.colno, "", f"malformed JSON: {msg[:1].lower()}{msg[1:]}", "source.syntax")
        )
        return False
    return True


def _syntax_problem(name: str, exc: yaml.MarkedYAMLError) -> Problem:
    """A readable message for PyYAML's parser errors, at the place a person should look."""
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    problem = exc.problem or ""
    context = exc.context or ""
    cm = exc.context_mark
    opened = f"{cm.line + 1}:{cm.column + 1}" if cm else "?"
    if "'\\t'" in problem:
        msg = "tab character: indent with spaces, not tabs"
    elif "flow mapping" in context:
        msg = f"expected ',' or '}}' here; is the '{{' opened at {opened} closed?"
    elif "flow sequence" in context:
        msg = f"expected ',' or ']' here; is the '[' opened at {opened} closed?"
    elif "block mapping" in context and "expected <block end>" in problem:
        msg = "bad indentation: this line does not line up with the keys above it"
    elif "mapping values are not allowed" in problem:
        msg = "unexpected ':'; put a space after ':' of the previous key, or quote a value that contains ': '"
    elif "could not find expected ':'" in problem:
        msg = "expected 'key: value' here (missing ':' or bad indentation)"
    elif "found unexpected end of stream" in problem and "quoted scalar" in context:
        msg = f"the quoted text opened at {opened} is never closed"
    else:
        msg = " ".join(x for x in (context, problem) if x) or "cannot parse"
    return Problem(name, line, col, "", f"malformed YAML: {msg}", "source.syntax")


def _copy_marks(local: Source, src: Source, merged: set[Path_]) -> None:
    """Positions of what a file added (one pass over its marks, however many keys it has)."""
    for table_from, table_to in ((local.values, src.values), (local.keys, src.keys)):
        for path, mark in table_from.items():
            if path[:1] in merged or path[:2] in merged:
                table_to[path] = mark


#: Builds a Mark without the keyword-argument handling of its generated __new__ (a hot path).
_new_mark = tuple.__new__


class _NodeReader:
    def __init__(self, name: str, loader: yaml.SafeLoader, problems: list[Problem]) -> None:
        self.name = name
        self.loader = loader
        self.problems = problems

    def _mark(self, node: yaml.Node) -> Mark:
        start = node.start_mark
        return _new_mark(Mark, (self.name, start.line + 1, start.column + 1))

    def read(self, node: yaml.Node, path: Path_, src: Source) -> Any:
        empty = isinstance(node, yaml.ScalarNode) and node.value == "" and not node.style
        # `account:` with nothing after it: point at the key, not at the end of its line.
        src.values[path] = src.keys[path] if empty and path in src.keys else self._mark(node)
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                # Keys stay as written: `no:` or `1:` is a name here, not a boolean or a number.
                if not isinstance(key_node, yaml.ScalarNode) or not key_node.value:
                    m = self._mark(key_node)
                    kind = {yaml.SequenceNode: "a list", yaml.MappingNode: "a mapping"}.get(type(key_node), "empty")
                    self.problems.append(
                        Problem(
                            m.file,
                            m.line,
                            m.col,
                            dotted(path),
                            f"a key must be a plain name, got {kind}; declare each entry on its own line",
                            "source.bad_key",
                        )
                    )
                    continue
                key: str = key_node.value
                if key in out:
                    m = self._mark(key_node)
                    first = src.keys[(*path, key)]
                    self.problems.append(
                        Problem(
                            m.file,
                            m.line,
                            m.col,
                            dotted((*path, key)),
                            f"duplicate key '{key}' (first at line {first.line})",
                            "source.duplicate_key",
                        )
                    )
                    continue
                src.keys[(*path, key)] = self._mark(key_node)
                if "\x00" in key:
                    self._nul(src.keys[(*path, key)], (*path, key))
                out[key] = self.read(value_node, (*path, key), src)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.read(child, (*path, i), src) for i, child in enumerate(node.value)]
        if isinstance(node, yaml.ScalarNode) and "\x00" in node.value:
            self._nul(src.values[path], path)
        return self._scalar(node)

    def _nul(self, m: Mark, path: Path_) -> None:
        # "\0" in YAML or "\u0000" in JSON: PostgreSQL cannot store it, so neither database may hold it.
        message = "text may not contain the NUL character (\\0 or \\u0000)"
        self.problems.append(Problem(m.file, m.line, m.col, dotted(path), message, "source.nul"))

    def _scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return None
        # YAML 1.2 booleans only: `yes`, `no`, `on`, `off` stay text (option ids, answers).
        if node.tag == _BOOL_TAG and node.value.lower() not in ("true", "false"):
            return node.value
        if node.tag == _STR_TAG:
            return node.value
        try:
            return self.loader.construct_object(node, deep=True)
        except (yaml.constructor.ConstructorError, ValueError):
            # e.g. an impossible date (2026-02-30): keep the text; the field type says what is wrong
            return node.value


def iter_paths(data: Any, path: Path_ = ()) -> Iterator[Path_]:
    yield path
    if isinstance(data, dict):
        for k, v in data.items():
            yield from iter_paths(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from iter_paths(v, (*path, i))
