"""README.md and docs/*.md: every shell example runs against a fresh demo, as a newcomer would run it.

The conventions are in tests/doc_examples.py. One demo database is made per test session by
`.venv/bin/loomwork demo --no-serve` (what `make run` does before serving); each Markdown file
gets its own copy, served on a free port when the file talks to http://127.0.0.1:8000.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.doc_examples import (
    DEMO_ADDRESS,
    RUNNABLE,
    DocExampleError,
    Example,
    Outcome,
    output_matches,
    read_blocks,
    run_examples,
)

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = ["README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md"))]
DEMO_DB = "loomwork-demo.db"


@dataclass(frozen=True)
class Demo:
    """The session's demo: the folder it was made in and what `loomwork demo` printed."""

    folder: Path
    output: str


def _workspace(folder: Path) -> None:
    """`.venv/bin/loomwork` (this interpreter running engine.cli), copies of `blueprints/` and `benchmarks/`."""
    bin_dir = folder / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    shim = bin_dir / "loomwork"
    shim.write_text(f"#!{sys.executable}\nimport sys\nfrom engine.cli import main\nsys.exit(main())\n")
    shim.chmod(0o755)
    python = bin_dir / "python"  # a symlink would leave the virtualenv (Python finds pyvenv.cfg beside it)
    python.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    python.chmod(0o755)
    shutil.copytree(REPO / "blueprints", folder / "blueprints")
    shutil.copytree(REPO / "benchmarks", folder / "benchmarks", ignore=shutil.ignore_patterns("__pycache__", "results"))


def _env(folder: Path) -> dict[str, str]:
    """No `loomwork` on PATH (a newcomer has none), no DATABASE_URL, this checkout importable."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(folder),
        "PYTHONPATH": str(REPO),
        "PYTHONIOENCODING": "utf-8",
        "LANG": "C.UTF-8",
    }


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    folder = tmp_path_factory.mktemp("demo")
    _workspace(folder)
    run = subprocess.run(
        [".venv/bin/loomwork", "demo", "--no-serve"],
        cwd=folder,
        env=_env(folder),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return Demo(folder, run.stdout)


@pytest.fixture
def workdir(demo: Demo, tmp_path: Path) -> Path:
    """A fresh copy of the demo database beside `.venv/bin/loomwork` and `blueprints/`."""
    _workspace(tmp_path)
    shutil.copyfile(demo.folder / DEMO_DB, tmp_path / DEMO_DB)
    return tmp_path


def _bound_socket() -> socket.socket:
    """A loopback socket bound to a free port, handed to uvicorn (no parallel worker can take it)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serving(folder: Path) -> Iterator[str]:
    """The demo database of `folder` served like `make run` does, on a free port; yields its address."""
    import uvicorn

    from engine.web.app import create_app
    from engine.web.runtime import open_store

    store = open_store(REPO / "blueprints" / "crm", f"sqlite:///{folder / DEMO_DB}", files_dir=folder / "files")
    sock = _bound_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(store), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="doc-examples-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the demo server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        store.db.dispose()


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_shell_examples_run_as_written(document: str, workdir: Path) -> None:
    blocks = read_blocks(REPO / document, document)
    examples = [ex for b in blocks if b.lang in RUNNABLE and b.skip is None for ex in b.examples]
    if not examples:
        assert all(b.lang not in RUNNABLE or b.skip for b in blocks)
        return
    needs_server = any(DEMO_ADDRESS in ex.command for ex in examples)
    with serving(workdir) if needs_server else _nothing() as address:
        outcomes = run_examples(examples, workdir, _env(workdir), address)
    problems = [p for o in outcomes if (p := o.problem()) is not None]
    assert not problems, problems[0]
    assert len(outcomes) == len(examples)


@contextmanager
def _nothing() -> Iterator[str]:
    yield DEMO_ADDRESS


def test_the_readme_tour_is_tested_and_asks_the_rep_about_his_deals() -> None:
    blocks = read_blocks(REPO / "README.md", "README.md")
    commands = [ex.command for b in blocks if b.lang in RUNNABLE and b.skip is None for ex in b.examples]
    assert any("token create --user chen.xiaoming@demo.loomwork.dev" in c for c in commands)
    assert any("stage=negotiation" in c for c in commands)
    assert not [c for c in commands if c.startswith("loomwork ") or " loomwork " in c.replace("/loomwork ", "")]


def test_the_readme_gives_exactly_the_two_setup_commands() -> None:
    setup = read_blocks(REPO / "README.md", "README.md")[0]
    assert setup.lang == "sh" and setup.skip
    assert [ex.command.split("#")[0].strip() for ex in setup.examples] == ["make run", "make test"]


def test_skipped_examples_say_why() -> None:
    for document in DOCUMENTS:
        for block in read_blocks(REPO / document, document):
            assert block.skip is None or len(block.skip) > 10, f"{block.file}:{block.line}: say why it is skipped"


def test_the_token_command_the_demo_prints_works_as_printed(demo: Demo, workdir: Path) -> None:
    printed = demo.output.rstrip().splitlines()[-1].strip()
    assert printed == (
        ".venv/bin/loomwork token create --user chen.xiaoming@demo.loomwork.dev "
        "--db sqlite:///loomwork-demo.db | tail -1"
    )
    run = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {printed}"],
        cwd=workdir,
        env=_env(workdir),
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("lw_") and len(run.stdout.splitlines()) == 1
    assert sorted(p.name for p in workdir.glob("*.db")) == [DEMO_DB]


# -- the harness itself -----------------------------------------------------------------------------


def test_output_matching_takes_ellipses_for_text_and_for_lines() -> None:
    assert output_matches(["ok: crm ...: 14 objects"], ["ok: crm 0.1.0: 14 objects"])
    assert output_matches(["first", "...", "last"], ["first", "a", "b", "last"])
    assert output_matches(["first", "...", "last"], ["first", "last"])
    assert not output_matches(["first", "last"], ["first", "middle", "last"])
    assert not output_matches(["[...]"], ["(x)"])
    assert not output_matches(["exact"], ["exact and more"])


def test_blocks_are_split_into_commands_with_outputs_and_exit_codes(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "Intro\n\n```console\n$ echo a \\\n> b\na b\n$ false  # exit code 1\n```\n\n"
        "  ```sh\n  # a comment\n  cat > f <<'EOF'\n  x\n  EOF\n  ls\n  ```\n\n"
        "```sh skip: runs until Ctrl-C, forever\nmake run\n```\n\n```yaml\na: 1\n```\n"
    )
    console, sh, skipped, yaml = read_blocks(doc, "doc.md")
    assert console.examples == (
        Example("doc.md", 4, "echo a \\\nb", 0, ("a b",)),
        Example("doc.md", 7, "false  # exit code 1", 1, ()),
    )
    assert [(e.line, e.command) for e in sh.examples] == [(12, "cat > f <<'EOF'\nx\nEOF"), (15, "ls")]
    assert skipped.skip == "runs until Ctrl-C, forever" and yaml.examples == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("```\nloomwork check x\n```\n", "doc.md:1: a fenced block needs a language"),
        ("```sh maybe\nls\n```\n", "doc.md:1: after the language only 'skip: <reason>' may follow"),
        ("```console\nls\n```\n", "doc.md:2: a console block starts with a `$ ` command"),
        ("```sh\nls\n", "doc.md:1: the block is never closed"),
    ],
)
def test_unmarked_or_malformed_blocks_are_refused(tmp_path: Path, text: str, message: str) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(text)
    with pytest.raises(DocExampleError, match=re.escape(message)):
        read_blocks(doc, "doc.md")


def test_a_wrong_exit_code_or_output_is_reported_where_it_is_written(tmp_path: Path) -> None:
    examples = [
        Example("doc.md", 3, "X=42"),
        Example("doc.md", 4, "echo $X", output=("42",)),
        Example("doc.md", 5, "echo $X", output=("43",)),
        Example("doc.md", 6, "echo never"),
    ]
    outcomes = run_examples(examples, tmp_path, dict(os.environ), DEMO_ADDRESS)
    assert [o.problem() for o in outcomes[:2]] == [None, None]
    assert outcomes[2].problem() == "doc.md:5: `echo $X` printed:\n42\n\n--- but the document shows:\n43"
    (tmp_path / "again").mkdir()
    failing = run_examples([Example("doc.md", 9, "false")], tmp_path / "again", dict(os.environ), DEMO_ADDRESS)
    assert failing == [Outcome(Example("doc.md", 9, "false"), 1, "")]
    assert failing[0].problem() == "doc.md:9: `false` exited 1, the document expects 0:\n"
