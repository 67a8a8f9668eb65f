"""The machinery queue_compare.py drives systems with (runs in .venv, never in a peer venv).

A private Postgres cluster, the peers' virtualenvs, the UDP collector that receives
job reports, a monitor that polls pg_locks and worker memory, and worker processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # type: ignore[import-untyped,unused-ignore]
import psycopg

from bench.common import BENCH, ROOT

PG_BIN = Path("/usr/lib/postgresql/15/bin")
# Session advisory locks above this stop a worker before the server's shared lock
# table fills up and every new connection fails with "out of shared memory".
LOCK_GUARD = 9_000


def _free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def private_cluster(settings: str = "") -> Iterator[str]:
    """A throwaway PostgreSQL 15 cluster with default settings; yields its admin DSN."""
    base = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    data, port = base / "data", _free_port()
    shutil.chown(base, "postgres")
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(
        [*as_pg, str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
         "-E", "UTF8", "--no-sync"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 {settings}"
    subprocess.run(
        [*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(base / "log"),
         "-o", options, "-w", "start"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            check=False, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


def database_dsn(admin_dsn: str, name: str) -> str:
    return admin_dsn.rsplit("/", 1)[0] + "/" + name


def recreate_database(admin_dsn: str, name: str) -> str:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return database_dsn(admin_dsn, name)


def ensure_venv(name: str) -> Path:
    """bench/.venvs/<name> with bench/requirements-<name>.txt installed; returns its python."""
    requirements = BENCH / f"requirements-{name}.txt"
    venv = BENCH / ".venvs" / name
    stamp = venv / ".requirements.sha256"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    python = venv / "bin" / "python"
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python
    shutil.rmtree(venv, ignore_errors=True)
    uv = ROOT / ".venv" / "bin" / "uv"
    if uv.exists():
        subprocess.run([str(uv), "venv", "-q", "-p", sys.executable, str(venv)], check=True)
        env = {**os.environ, "VIRTUAL_ENV": str(venv)}
        subprocess.run([str(uv), "pip", "install", "-q", "-r", str(requirements)], env=env,
                       check=True)  # fmt: skip
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(requirements)],
                       check=True)  # fmt: skip
    stamp.write_text(digest)
    return python


@dataclass(frozen=True)
class Report:
    seq: int
    started: float
    ended: float


class Collector:
    """Receives one UDP datagram per finished job: "seq started ended"."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024 * 1024)
        self.sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self._lock = threading.Lock()
        self._reports: list[Report] = []
        threading.Thread(target=self._receive, daemon=True, name="collector").start()

    def _receive(self) -> None:
        while True:
            data = self.sock.recv(256)
            seq, started, ended = data.split()
            with self._lock:
                self._reports.append(Report(int(seq), float(started), float(ended)))

    def clear(self) -> None:
        with self._lock:
            self._reports.clear()

    def count(self) -> int:
        with self._lock:
            return len(self._reports)

    def reports(self) -> list[Report]:
        with self._lock:
            return list(self._reports)

    def wait(self, count: int, timeout: float, abort: threading.Event | None = None) -> bool:
        deadline = time.monotonic() + timeout
        while self.count() < count:
            if time.monotonic() > deadline or (abort is not None and abort.is_set()):
                return False
            time.sleep(0.02)
        return True


@dataclass
class Peaks:
    locks: int = 0
    advisory_locks: int = 0
    rss_mb: float = 0.0
    guard_tripped: bool = False
    errors: list[str] = field(default_factory=list)


class Monitor:
    """Polls pg_locks of one database and the RSS of a worker's process tree."""

    def __init__(self, dsn: str | None, interval: float = 0.1) -> None:
        self.dsn, self.interval = dsn, interval
        self.peaks = Peaks()
        self.samples = 0
        self.worker: Worker | None = None
        self.tripped = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="monitor")

    def __enter__(self) -> Monitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        conn = None
        while not self._stop.is_set():
            try:
                if self.dsn and conn is None:
                    conn = psycopg.connect(self.dsn, autocommit=True)
                self._sample(conn)
            except (psycopg.Error, psutil.Error) as exc:
                self.peaks.errors.append(str(exc).strip().splitlines()[0])
                conn = None
            self._stop.wait(self.interval)
        if conn is not None:
            conn.close()

    def _sample(self, conn: psycopg.Connection[tuple[int, int]] | None) -> None:
        if conn is not None:
            total, advisory = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE locktype = 'advisory') FROM pg_locks"
                " WHERE database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND pid <> pg_backend_pid()"
            ).fetchone() or (0, 0)
            self.samples += 1
            self.peaks.locks = max(self.peaks.locks, total)
            self.peaks.advisory_locks = max(self.peaks.advisory_locks, advisory)
            if advisory > LOCK_GUARD and self.worker is not None:
                self.peaks.guard_tripped = True
                self.tripped.set()
                self.worker.stop(sig=signal.SIGKILL)
        if self.worker is not None:
            self.peaks.rss_mb = max(self.peaks.rss_mb, self.worker.rss_mb())


class Worker:
    """A system's worker in its own process group, logging to a file."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.started = time.time()

    def rss_mb(self) -> float:
        try:
            root = psutil.Process(self.process.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total / 2**20

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
            except ProcessLookupError:
                pass
        self._log.close()


def run_driver(
    python: Path, module: str, args: list[str], env: dict[str, str]
) -> dict[str, object]:
    """Run one driver command; return the JSON it printed (or {} when it prints none)."""
    result = subprocess.run(
        [str(python), "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True,
        check=False, timeout=900,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    out = result.stdout.strip()
    return json.loads(out.splitlines()[-1]) if out.startswith("{") else {}


def database_counters(dsn: str) -> tuple[int, int]:
    """Committed transactions in the database and the server's WAL position, in bytes."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit, pg_current_wal_lsn() - '0/0'::pg_lsn FROM pg_stat_database"
            " WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])
