"""Start and stop benchmark servers (`loomwork serve`, the uvicorn baseline) and read their memory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.httpclient import Client

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def loomwork_cmd() -> list[str]:
    """`loomwork` as this interpreter runs it (works without the console script on PATH)."""
    return [sys.executable, "-m", "engine.cli"]


def run_cli(args: Sequence[str], *, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*loomwork_cmd(), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"loomwork {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


_MIGRATE_IN_PROCESS = """
import sys
from engine.blueprint.load import load_blueprint
from engine.store.database import Database
from engine.store.migrate import apply_plan, plan_migration
from engine.types.registry import TypeRegistry
types = TypeRegistry.with_builtins()
app = load_blueprint(sys.argv[1], types)
db = Database(sys.argv[2])
apply_plan(db, plan_migration(db, app, types), allow_destructive=False)
"""


def migrate(blueprint: Path, db_url: str) -> None:
    """`loomwork migrate`; until that command exists, the same plan/apply calls `loomwork demo` makes."""
    try:
        run_cli(["migrate", str(blueprint), "--db", db_url])
    except RuntimeError as exc:
        if "invalid choice: 'migrate'" not in str(exc):
            raise
        cmd = [sys.executable, "-c", _MIGRATE_IN_PROCESS, str(blueprint), db_url]
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"migration of {blueprint} failed:\n{proc.stderr[-3000:]}") from exc


class Server:
    """A server subprocess in a session of its own, so stopping it also stops its worker processes."""

    def __init__(self, cmd: Sequence[str], *, port: int, log: Path, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            list(cmd),
            cwd=REPO,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )

    @classmethod
    def loomwork(cls, blueprint: Path, db_url: str, *, log: Path, workers: int = 1) -> Server:
        port = free_port()
        cmd = [*loomwork_cmd(), "serve", str(blueprint), "--db", db_url, "--host", "127.0.0.1", "--port", str(port)]
        if workers != 1:
            cmd += ["--workers", str(workers)]
        return cls(cmd, port=port, log=log)

    @classmethod
    def baseline(cls, blueprint: Path, db_url: str, *, log: Path) -> Server:
        port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "benchmarks.baseline_app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        env = {"BASELINE_BLUEPRINT": str(blueprint), "BASELINE_DB": db_url, "PYTHONPATH": str(REPO)}
        return cls(cmd, port=port, log=log, env=env)

    def wait_ready(self, path: str, *, timeout: float = 90, headers: dict[str, str] | None = None) -> float:
        """Poll `path` until it answers 200; returns the seconds it took."""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                client = Client(self.port, headers=headers)
                status, body, _ = client.request("GET", path)
                client.close()
                if status == 200:
                    return time.perf_counter() - t0
                if status >= 400 and status != 503:
                    raise RuntimeError(f"GET {path} -> {status}: {body[:300]!r}")
            except (ConnectionRefusedError, ConnectionResetError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"server not ready after {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        self._log_file.flush()
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def rss_mb(self) -> dict[str, float]:
        """Resident memory of the server and every descendant process, in MB (VmRSS)."""
        pids = process_tree(self.proc.pid)
        per = {pid: vm_rss_kb(pid) / 1024 for pid in pids}
        return {
            "total_mb": round(sum(per.values()), 1),
            "processes": len(per),
            "max_process_mb": round(max(per.values(), default=0), 1),
        }

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log_file.close()


def vm_rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants, from /proc/*/stat parent ids."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def admin_headers(db_url: str) -> dict[str, str]:
    """An administrator and an API token in a freshly migrated benchmark database: every API
    request needs one (issue 4), so the figures include authentication and the policy."""
    from engine.auth.directory import AuthDb
    from engine.auth.tokens import Tokens
    from engine.auth.users import Users
    from engine.store.database import Database

    db = Database(db_url)
    try:
        auth = AuthDb(db)
        user = Users(auth).create_user("bench@loomwork.test", "Benchmark", "admin")
        _, secret = Tokens(auth).create_token(user.id, "benchmark")
    finally:
        db.dispose()
    return {"Authorization": f"Bearer {secret}"}
