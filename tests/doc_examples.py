"""The shell examples of README.md and docs/*.md, read as tests (see tests/test_doc_examples.py).

How a Markdown file marks its examples:

- a ```` ```sh ```` block holds commands, one per line (`\\` continues a line; here-documents
  `<<'EOF'` run to their delimiter; `#` lines are comments). Each must exit 0, unless the
  command ends with a comment `# exit code N`;
- a ```` ```console ```` block is a terminal transcript: `$ command` lines, each followed by the
  output it prints (stdout and stderr, as a terminal shows them). The output must match: `...`
  inside a line stands for any text, a line of only `...` for any number of lines;
- an example that must not run in a test says why after the language:
  ```` ```sh skip: serves until Ctrl-C ````;
- every other fenced block names its language (`text`, `yaml`, `json`, `python`, ...): a block
  without one is refused, so a shell example cannot hide in an unmarked block.

The blocks of one file run in order in one `bash` (variables such as `$TOKEN` carry over), in a
folder holding a fresh copy of the demo database (`loomwork-demo.db`), a copy of `blueprints/`
and `.venv/bin/loomwork` (the test's interpreter running `engine.cli`). `http://127.0.0.1:8000`
is the demo served for the test on a free port.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
EXIT = re.compile(r"#\s*exit code (\d+)\s*$")
HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")
RUNNABLE = ("sh", "console")
DEMO_ADDRESS = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Example:
    """One command of a block, where it is written, and what it must do."""

    file: str
    line: int
    command: str
    exit_code: int = 0
    #: The output a console block shows for it (None: a sh block, whose output is not shown).
    output: tuple[str, ...] | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Block:
    """A fenced block: its language, why it is skipped (if it is) and its commands."""

    file: str
    line: int
    lang: str
    skip: str | None
    examples: tuple[Example, ...]


class DocExampleError(Exception):
    """A Markdown file breaks the conventions above (names the file and line)."""


def read_blocks(path: Path, shown_as: str) -> list[Block]:
    """Every fenced block of a Markdown file; shell blocks split into their commands."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, indent, fence = i + 1, m.group("indent"), m.group("fence")
        lang, _, rest = m.group("info").strip().partition(" ")
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i].lstrip())
            i += 1
        if i == len(lines):
            raise DocExampleError(f"{shown_as}:{start}: the block is never closed")
        i += 1
        if not lang:
            raise DocExampleError(
                f"{shown_as}:{start}: a fenced block needs a language (sh, console, text, yaml, json, ...)"
            )
        skip = None
        if rest.strip():
            if not rest.strip().startswith("skip:") or not rest.strip()[5:].strip():
                raise DocExampleError(f"{shown_as}:{start}: after the language only 'skip: <reason>' may follow")
            skip = rest.strip()[5:].strip()
        examples: tuple[Example, ...] = ()
        if lang == "sh":
            examples = tuple(_sh_examples(body, shown_as, start + 1))
        elif lang == "console":
            examples = tuple(_console_examples(body, shown_as, start + 1))
        blocks.append(Block(shown_as, start, lang, skip, examples))
    return blocks


def _continues(line: str, heredoc: str | None) -> tuple[bool, str | None]:
    """Whether the command goes on after `line`, and the here-document delimiter still open."""
    if heredoc is not None:
        return (line.strip() != heredoc), (None if line.strip() == heredoc else heredoc)
    m = HEREDOC.search(line)
    if m:
        return True, m.group(2)
    return line.rstrip().endswith("\\"), None


def _exit_code(command: str) -> int:
    m = EXIT.search(command.splitlines()[0])
    return int(m.group(1)) if m else 0


def _sh_examples(body: Sequence[str], file: str, first: int) -> Iterator[Example]:
    i = 0
    while i < len(body):
        line = body[i]
        if not line.strip() or line.lstrip().startswith("#"):
            i += 1
            continue
        start, parts, heredoc = i, [line], None
        more, heredoc = _continues(line, heredoc)
        while more and i + 1 < len(body):
            i += 1
            parts.append(body[i])
            more, heredoc = _continues(body[i], heredoc)
        command = "\n".join(parts)
        yield Example(file, first + start, command, _exit_code(command))
        i += 1


def _console_examples(body: Sequence[str], file: str, first: int) -> Iterator[Example]:
    i = 0
    while i < len(body) and not body[i].startswith("$ "):
        if body[i].strip():
            raise DocExampleError(f"{file}:{first + i}: a console block starts with a `$ ` command")
        i += 1
    while i < len(body):
        start, parts, heredoc = i, [body[i][2:]], None
        more, heredoc = _continues(parts[0], heredoc)
        while more and i + 1 < len(body):
            i += 1
            part = body[i][2:] if body[i].startswith("> ") else body[i]
            parts.append(part)
            more, heredoc = _continues(part, heredoc)
        i += 1
        output: list[str] = []
        while i < len(body) and not body[i].startswith("$ "):
            output.append(body[i])
            i += 1
        while output and not output[-1].strip():
            output.pop()
        command = "\n".join(parts)
        yield Example(file, first + start, command, _exit_code(command), tuple(output))


def output_matches(expected: Sequence[str], actual: Sequence[str]) -> bool:
    """`actual` lines match `expected`: `...` in a line is any text, a `...` line any lines."""
    patterns = [
        None if line.strip() == "..." else re.compile(".*".join(re.escape(p) for p in line.rstrip().split("...")))
        for line in expected
    ]
    got = [line.rstrip() for line in actual]

    def match(p: int, a: int) -> bool:
        if p == len(patterns):
            return a == len(got)
        pattern = patterns[p]
        if pattern is None:
            return any(match(p + 1, k) for k in range(a, len(got) + 1))
        return a < len(got) and pattern.fullmatch(got[a]) is not None and match(p + 1, a + 1)

    return match(0, 0)


@dataclass(frozen=True)
class Outcome:
    """What one command did."""

    example: Example
    exit_code: int
    output: str

    def problem(self) -> str | None:
        """Why the command does not do what the document says; None when it does."""
        ex = self.example
        shown = f"{ex.where}: `{ex.command}`"
        if self.exit_code != ex.exit_code:
            return f"{shown} exited {self.exit_code}, the document expects {ex.exit_code}:\n{self.output}"
        if ex.output is not None and not output_matches(ex.output, self.output.splitlines()):
            expected = "\n".join(ex.output)
            return f"{shown} printed:\n{self.output}\n--- but the document shows:\n{expected}"
        return None


def run_examples(examples: Sequence[Example], workdir: Path, env: dict[str, str], address: str) -> list[Outcome]:
    """Run the commands in order in one bash inside `workdir`; stops after the first that fails."""
    out = workdir / ".doc-examples"
    out.mkdir()
    script = ["set -o pipefail", f"cd {_quote(str(workdir))}"]
    for n, ex in enumerate(examples):
        command = ex.command.replace(DEMO_ADDRESS, address)
        script += [
            "{",
            command,
            f"}} >{_quote(str(out / f'{n}.out'))} 2>&1 </dev/null",
            f"rc=$?; echo $rc >{_quote(str(out / f'{n}.rc'))}; [ $rc -eq {ex.exit_code} ] || exit 0",
        ]
    subprocess.run(["bash", "-c", "\n".join(script)], env=env, cwd=workdir, timeout=120, check=True)
    outcomes = []
    for n, ex in enumerate(examples):
        rc = out / f"{n}.rc"
        if not rc.exists():
            break
        output = (out / f"{n}.out").read_text(encoding="utf-8", errors="replace").replace(address, DEMO_ADDRESS)
        outcomes.append(Outcome(ex, int(rc.read_text()), output))
    return outcomes


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
