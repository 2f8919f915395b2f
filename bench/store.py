"""Store benchmark (issue 21): what the shared PostgreSQL state costs against the embedded
SQLite, measured in one run on a real PostgreSQL server on loopback (tests/postgres.py).

(a) token check per request: the full check a chat request pays before anything else
    (`TokenAuthenticator.authenticate`: token digest, its key's revocation, the account's
    roles: three queries, no cache), in process, p50 and p99, SQLite vs PostgreSQL.
    Target: PostgreSQL p50 < 2 ms (the whole check, so an upper bound of what it adds).
(b) token issuance/s (`POST /token`, the JWT-bearer grant: RSA verify + one insert) with
    concurrent clients: one live server on SQLite (the baseline) vs two replicas on one
    PostgreSQL behind client-side round robin. Rate limits off; servers run the tiny model
    (loaded, unused), one thread each; the clients share the machine.
(c) thought signatures: seal and open p50 with the sealer's key cache (at most 1 s stale,
    docs/replicas.md), and one read of the usable keys: what each seal or open would add
    without the cache.

    .venv/bin/python bench/store.py [--checks 3000] [--seconds 10] [--concurrency 8]
    .venv/bin/python bench/store.py --quick    # smoke: 100 checks, 0.25 s of issuance

`--quick` proves the script works (tests/e2e/test_bench_smoke.py runs it), not the numbers.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import platformdirs

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.e2e.helpers import sign_assertions  # noqa: E402
from tests.e2e.server import ServerProcess  # noqa: E402
from tests.postgres import PostgresServer  # noqa: E402

from vertexcompat.auth.admin import ServiceAccountAdmin  # noqa: E402
from vertexcompat.auth.authenticator import TokenAuthenticator  # noqa: E402
from vertexcompat.auth.thought_signatures import TEXT_BINDING, ThoughtSealer  # noqa: E402
from vertexcompat.auth.tokens import AccessTokens  # noqa: E402
from vertexcompat.store.database import StateDatabase, open_state_database  # noqa: E402
from vertexcompat.store.roles import SqlRoles  # noqa: E402
from vertexcompat.store.service_accounts import SqlServiceAccounts  # noqa: E402
from vertexcompat.store.thought_keys import SqlThoughtKeys  # noqa: E402
from vertexcompat.store.tokens import SqlTokens  # noqa: E402

TARGET_CHECK_P50_MS = 2.0
TINY_MODEL = "smollm2-135m-instruct"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Assertions signed before the clock starts (each signing loads the PEM: slow) and reused.
ASSERTIONS = 4


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def make_account(db: StateDatabase, token_uri: str) -> dict[str, Any]:
    admin = ServiceAccountAdmin(SqlServiceAccounts(db), SqlRoles(db))
    key: dict[str, Any] = admin.create(project="demo", name="bench", token_uri=token_uri)
    return key


def token_checks(db: StateDatabase, count: int) -> list[float]:
    """Milliseconds per `authenticate`, after a warm-up."""
    accounts, roles = SqlServiceAccounts(db), SqlRoles(db)
    tokens = AccessTokens(SqlTokens(db), lifetime_s=3600)
    key = make_account(db, "http://127.0.0.1:9/token")
    header = "Bearer " + tokens.issue(email=key["client_email"],
                                      key_id=key["private_key_id"]).access_token
    authenticator = TokenAuthenticator(tokens, accounts, roles)
    for _ in range(50):
        authenticator.authenticate(header, "demo")
    times = []
    for _ in range(count):
        start = time.perf_counter()
        authenticator.authenticate(header, "demo")
        times.append((time.perf_counter() - start) * 1000)
    return times


def thought_ops(db: StateDatabase, count: int) -> tuple[float, float, float]:
    """p50 ms of (seal, open, one read of the usable keys), after a warm-up."""
    keys = SqlThoughtKeys(db)
    sealer = ThoughtSealer(keys)
    thoughts = "The user wants the weather; call get_weather first. " * 4
    for _ in range(20):
        sealer.open(sealer.seal(thoughts, binding=TEXT_BINDING), binding=TEXT_BINDING)
    seal, opened, read = [], [], []
    for _ in range(count):
        start = time.perf_counter()
        signature = sealer.seal(thoughts, binding=TEXT_BINDING)
        seal.append(time.perf_counter() - start)
        start = time.perf_counter()
        sealer.open(signature, binding=TEXT_BINDING)
        opened.append(time.perf_counter() - start)
        start = time.perf_counter()
        keys.usable()
        read.append(time.perf_counter() - start)
    seal_ms, open_ms, read_ms = (statistics.median(t) * 1000 for t in (seal, opened, read))
    return seal_ms, open_ms, read_ms


def issuance_rate(servers: list[ServerProcess], signed: list[str], *, seconds: float,
                  concurrency: int) -> float:
    """Tokens issued per second, requests spread round robin over `servers`."""
    issued = [0] * concurrency
    failed: list[str] = []
    stop = threading.Event()

    def client(i: int) -> None:
        with httpx.Client(timeout=30) as http:
            for n in itertools.count(i):
                if stop.is_set():
                    return
                server = servers[n % len(servers)]
                r = http.post(f"{server.base_url}/token", data={
                    "grant_type": JWT_BEARER, "assertion": signed[n % len(signed)]})
                if r.status_code == 200:
                    issued[i] += 1
                else:
                    failed.append(f"{r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(60)
    elapsed = time.perf_counter() - start
    if failed:
        raise SystemExit(f"token requests failed ({len(failed)}), e.g. {failed[0]}")
    return sum(issued) / elapsed


class ServingServer(ServerProcess):
    """Ready once it serves HTTP (`/healthz`), its model maybe still loading: what
    `--quick` waits for, where the numbers do not matter and `/token` needs no model."""

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.alive and time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name}: not serving\n{self.log_tail()}")


def start_servers(names: list[str], url: str, work: Path, threads: int, *,
                  quick: bool) -> list[ServerProcess]:
    """Servers on `url`, not started yet (`Booting` starts them together; no requests go to
    one while another setup is measured)."""
    data_dir = Path(os.environ.get("VERTEXCOMPAT_DATA_DIR")
                    or platformdirs.user_cache_dir("vertexcompat"))
    env = {"VERTEXCOMPAT_DATABASE_URL": url, "VERTEXCOMPAT_TOKEN_RATE_PER_KEY": "0",
           "VERTEXCOMPAT_TOKEN_RATE_PER_ADDRESS": "0", "VERTEXCOMPAT_ACCESS_LOG": "false",
           "VERTEXCOMPAT_SEARCH_INDEX_DIR": str(work / "empty-index")}
    kind = ServingServer if quick else ServerProcess
    return [kind(name, model=TINY_MODEL, data_dir=data_dir, log_dir=work,
                          threads=threads, parallel=1, ctx_per_seq=512, env=env,
                          extra_args=("--log-level", "warning"))
            for name in names]


class Booting:
    """`servers` starting together in the background; `wait()` until all are up."""

    def __init__(self, servers: list[ServerProcess]) -> None:
        self._errors: list[BaseException] = []
        self._threads = [threading.Thread(target=self._start, args=(s,)) for s in servers]
        for t in self._threads:
            t.start()

    def _start(self, server: ServerProcess) -> None:
        try:
            server.start(ready_timeout=300)
        except BaseException as exc:  # noqa: BLE001 - raised by wait()
            self._errors.append(exc)

    def wait(self) -> None:
        self.join()
        if self._errors:
            raise self._errors[0]

    def join(self) -> None:
        """Until every start has ended, well or not (so a stop cannot precede a start)."""
        for t in self._threads:
            t.join()


def stop_all(servers: list[ServerProcess]) -> None:
    """Stopped together (each waits for its process to exit)."""
    threads = [threading.Thread(target=s.stop) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checks", type=int, default=3000, help="token checks per backend")
    p.add_argument("--seconds", type=float, default=10.0, help="issuance time per setup")
    p.add_argument("--concurrency", type=int, default=8, help="issuing clients")
    p.add_argument("--threads", type=int, default=1, help="llama.cpp threads per server")
    p.add_argument("--quick", action="store_true", help="smoke: 100 checks, 0.25 s, 4 clients")
    args = p.parse_args(argv)
    if args.quick:
        args.checks, args.seconds, args.concurrency = 100, 0.25, 4

    work = Path(tempfile.mkdtemp(prefix="vertexcompat-store-bench-"))
    pg = PostgresServer()
    pg.start()
    servers: dict[str, list[ServerProcess]] = {}
    booting: Booting | None = None
    try:
        # The servers for (b) first: they boot while the assertions are signed and, in
        # --quick (whose numbers do not matter), while (a) and (c) run. A full run waits
        # for them to be up (and idle) before measuring anything.
        setups = {"sqlite, 1 replica": (f"sqlite:///{work / 'issue.db'}", ["sqlite-1"]),
                  "postgresql, 2 replicas": (pg.create_database("issue"), ["pg-a", "pg-b"])}
        keys = {}
        for label, (url, names) in setups.items():
            db = open_state_database(url, work)
            try:
                keys[label] = make_account(db, "http://127.0.0.1:9/token")
            finally:
                db.close()
            servers[label] = start_servers(names, url, work, args.threads, quick=args.quick)
        booting = Booting([s for group in servers.values() for s in group])
        signed = {label: sign_assertions(key, ASSERTIONS) for label, key in keys.items()}
        if not args.quick:
            booting.wait()

        sqlite_url = f"sqlite:///{work / 'checks.db'}"
        checks: dict[str, list[float]] = {}
        thoughts: dict[str, tuple[float, float, float]] = {}
        for name, url in (("sqlite", sqlite_url), ("postgresql", pg.create_database("checks"))):
            db = open_state_database(url, work)
            try:
                checks[name] = token_checks(db, args.checks)
                thoughts[name] = thought_ops(db, args.checks)
            finally:
                db.close()
        print("(a) token check per request (ms)")
        print(f"{'backend':<12} {'p50':>8} {'p99':>8}")
        for name, times in checks.items():
            print(f"{name:<12} {statistics.median(times):8.3f} {percentile(times, 0.99):8.3f}")
        s50, p50 = statistics.median(checks["sqlite"]), statistics.median(checks["postgresql"])
        s99, p99 = percentile(checks["sqlite"], 0.99), percentile(checks["postgresql"], 0.99)
        verdict = "PASS" if p50 < TARGET_CHECK_P50_MS else "MISS"
        print(f"postgresql/sqlite: p50 {p50 / s50:.2f}x, p99 {p99 / s99:.2f}x; "
              f"postgresql p50 {p50:.3f} ms vs target < {TARGET_CHECK_P50_MS} ms: {verdict}")

        booting.wait()
        rates: dict[str, float] = {}
        for label in setups:
            rates[label] = issuance_rate(servers[label], signed[label], seconds=args.seconds,
                                         concurrency=args.concurrency)
        stop_all([s for group in servers.values() for s in group])
        print(f"(b) token issuance/s, {args.concurrency} clients, {args.seconds:g} s each")
        for label, rate in rates.items():
            print(f"{label:<24} {rate:8.1f}")
        ratio = rates["postgresql, 2 replicas"] / rates["sqlite, 1 replica"]
        print("(c) thought signatures, p50 ms (cached keys; a key read is what each would "
              "add uncached)")
        print(f"{'backend':<12} {'seal':>8} {'open':>8} {'key read':>9}")
        for name, (seal, opened, read) in thoughts.items():
            print(f"{name:<12} {seal:8.3f} {opened:8.3f} {read:9.3f}")
        print(f"store bench done: token check p50 sqlite {s50:.3f} ms, postgresql {p50:.3f} ms "
              f"({p50 / s50:.2f}x), p99 sqlite {s99:.3f} ms, postgresql {p99:.3f} ms "
              f"({p99 / s99:.2f}x); issuance/s sqlite 1 replica "
              f"{rates['sqlite, 1 replica']:.1f}, postgresql 2 replicas "
              f"{rates['postgresql, 2 replicas']:.1f} ({ratio:.2f}x); thought open p50 "
              f"sqlite {thoughts['sqlite'][1]:.3f} ms, postgresql "
              f"{thoughts['postgresql'][1]:.3f} ms (uncached +{thoughts['postgresql'][2]:.3f})")
    finally:
        if booting is not None:
            booting.join()
        stop_all([s for group in servers.values() for s in group])
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
