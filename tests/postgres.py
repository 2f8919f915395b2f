"""A real, throwaway PostgreSQL server on loopback for the store tests and the replica e2e:
the `initdb` and `postgres` binaries the `pgserver` wheel ships (PostgreSQL 16), run in a
fresh temporary directory and removed at the end.

PostgreSQL refuses to run as root; as root (CI) the server runs as `nobody`, in a
directory under /tmp that user can reach. Durability settings are relaxed (`fsync=off`):
these tests kill replicas, never the database server.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

READY_TIMEOUT_S = 30.0


def binaries() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the test extra's `pgserver` package is missing: "
                           "pip install -e '.[test]'")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One postmaster on 127.0.0.1:<free port>, superuser `postgres`, trust auth."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="vertexcompat-pg-"))
        self.port = _free_port()
        self._names = itertools.count(1)
        self._proc: subprocess.Popen[bytes] | None = None
        self._user: dict[str, int] = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self._user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
        self.log_path = self.root / "postgres.log"

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        bin_dir = binaries()
        data = self.root / "data"
        shutil.copytree(self._template(), data, symlinks=True)
        if self._user:
            for path in (data, *data.rglob("*")):
                os.chown(path, self._user["user"], self._user["group"], follow_symlinks=False)
        log = self.log_path.open("wb")
        self._proc = subprocess.Popen(
            [str(bin_dir / "postgres"), "-D", str(data), "-h", "127.0.0.1",
             "-p", str(self.port), "-k", str(self.root), "-c", "fsync=off",
             "-c", "shared_buffers=32MB", "-c", "max_connections=200"],
            # In pytest's process group: a Ctrl-C reaches it too ("fast" shutdown).
            stdout=log, stderr=subprocess.STDOUT, cwd=self.root, **self._user,
        )
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"postgres exited early:\n{self.log()}")
            try:
                psycopg.connect(self.admin_url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"postgres not ready in {READY_TIMEOUT_S}s:\n{self.log()}")
                time.sleep(0.05)

    def _template(self) -> Path:
        """An initdb'd cluster kept under the temp dir and copied for each server: initdb
        takes seconds, a copy a fraction of one. Made once per pgserver release; two
        sessions making it at once both succeed (the first rename wins)."""
        version = importlib.metadata.version("pgserver")
        name = f"vertexcompat-pg-template-{version}-{os.geteuid()}"
        template = Path(tempfile.gettempdir()) / name
        if (template / "PG_VERSION").is_file():
            return template
        scratch = Path(tempfile.mkdtemp(prefix=f"{template.name}.", dir=template.parent))
        try:
            if self._user:
                os.chown(scratch, self._user["user"], self._user["group"])
            subprocess.run(
                [str(binaries() / "initdb"), "-D", str(scratch / "data"), "-U", "postgres",
                 "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"],
                check=True, capture_output=True, cwd=scratch, timeout=120, **self._user,
            )
            try:
                os.rename(scratch / "data", template)
            except OSError:
                if not (template / "PG_VERSION").is_file():
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return template

    def create_database(self, prefix: str = "t") -> str:
        """A new, empty database; its URL."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def create_schema(self, prefix: str = "s") -> str:
        """A new, empty schema of the `postgres` database; a URL whose connections use
        only it. Cheaper than a database (a unit test each)."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return f"{self.admin_url}?options=-csearch_path%3D{name}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # "fast" shutdown: disconnects clients
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


class _Shared:
    """The one server of this pytest process. Every module that imports `postgres_server`
    gets a session fixture of its own (pytest keys fixtures by where they are found), so
    without this a session running tests/unit/store and tests/e2e/test_replicas.py would
    start one server per importing module."""

    server: PostgresServer | None = None
    users = 0


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = _Shared.server
    if server is None:
        server = PostgresServer()
        try:
            server.start()
        except BaseException:
            server.stop()
            raise
        _Shared.server = server
    _Shared.users += 1
    try:
        yield server
    finally:
        _Shared.users -= 1
        if _Shared.users == 0:
            _Shared.server = None
            server.stop()
