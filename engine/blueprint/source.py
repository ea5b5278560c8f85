"""Read blueprint files into plain data plus a side table of positions.

PyYAML silently keeps the last of two duplicate keys; here a duplicate is a located problem.
JSON files go through the same reader (JSON is YAML for our purposes) so they get positions too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.errors import Problem

Path_ = tuple[str | int, ...]
BLUEPRINT_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Mark:
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
    for path in files:
        name = _display(path, display_root)
        src.files.append(name)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(name, 0, 0, "", f"cannot read file: {exc}", "source.unreadable"))
            continue
        _merge_file(src, name, text, problems)
    return src


def _display(path: Path, root: Path | None) -> str:
    base = root if root is not None else Path.cwd()
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def _merge_file(src: Source, name: str, text: str, problems: list[Problem]) -> None:
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        msg = " ".join(x for x in (exc.context, exc.problem) if x) or "malformed YAML"
        problems.append(Problem(name, line, col, "", f"malformed YAML/JSON: {msg}", "source.syntax"))
        return
    except yaml.YAMLError as exc:
        problems.append(Problem(name, 0, 0, "", f"malformed YAML/JSON: {exc}", "source.syntax"))
        return
    if node is None:
        return
    reader = _NodeReader(name, loader, problems)
    local = Source()
    data = reader.read(node, (), local)
    if not isinstance(data, dict):
        problems.append(
            Problem(
                name,
                node.start_mark.line + 1,
                node.start_mark.column + 1,
                "",
                "a blueprint file must hold a mapping (app:, objects:)",
                "source.not_mapping",
            )
        )
        return
    # Merge top-level sections; `objects` and similar mappings merge by key across files.
    for key, value in data.items():
        if key not in src.data:
            src.data[key] = value
            _copy_marks(local, src, (key,))
        elif isinstance(value, dict) and isinstance(src.data[key], dict):
            for sub, subval in value.items():
                if sub in src.data[key]:
                    first = src.mark((key, sub), key=True)
                    m = local.mark((key, sub), key=True)
                    problems.append(
                        Problem(
                            m.file,
                            m.line,
                            m.col,
                            dotted((key, sub)),
                            f"'{sub}' is already declared at {first.file}:{first.line}",
                            "source.duplicate_key",
                        )
                    )
                    continue
                src.data[key][sub] = subval
                _copy_marks(local, src, (key, sub))
        else:
            m = local.mark((key,), key=True)
            first = src.mark((key,), key=True)
            problems.append(
                Problem(
                    m.file,
                    m.line,
                    m.col,
                    key,
                    f"'{key}' is already declared at {first.file}:{first.line}",
                    "source.duplicate_key",
                )
            )


def _copy_marks(local: Source, src: Source, prefix: Path_) -> None:
    n = len(prefix)
    for table_from, table_to in ((local.values, src.values), (local.keys, src.keys)):
        for path, mark in table_from.items():
            if path[:n] == prefix:
                table_to[path] = mark


class _NodeReader:
    def __init__(self, name: str, loader: yaml.SafeLoader, problems: list[Problem]) -> None:
        self.name = name
        self.loader = loader
        self.problems = problems

    def _mark(self, node: yaml.Node) -> Mark:
        return Mark(self.name, node.start_mark.line + 1, node.start_mark.column + 1)

    def read(self, node: yaml.Node, path: Path_, src: Source) -> Any:
        src.values[path] = self._mark(node)
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self._scalar(key_node)
                if not isinstance(key, str | int | float | bool) or key is None:
                    m = self._mark(key_node)
                    self.problems.append(
                        Problem(m.file, m.line, m.col, dotted(path), "keys must be plain names", "source.bad_key")
                    )
                    continue
                key = str(key) if not isinstance(key, str) else key
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
                out[key] = self.read(value_node, (*path, key), src)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.read(child, (*path, i), src) for i, child in enumerate(node.value)]
        return self._scalar(node)

    def _scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return None
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError:
            return node.value


def iter_paths(data: Any, path: Path_ = ()) -> Iterator[Path_]:
    yield path
    if isinstance(data, dict):
        for k, v in data.items():
            yield from iter_paths(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from iter_paths(v, (*path, i))
