"""Request fuzzing against a live server (issue 12): N mutated chat, image, token and
bearer-token requests — the strategies of tests/e2e/fuzz_requests.py, drawn with a fixed
seed — sent one after another. Prints the status counts, 5xx responses and dropped
connections, the slowest rejection, latency p50/p99, and the server's RSS before and after
(after a warm-up that loads every model the cases can reach), with PASS/FAIL against the
targets: 0 x 5xx, 0 dropped connections, slowest rejection <= 1 s, RSS within 10 %.

By default it starts its own server (tiny model, auth ON, a service-account key made with
the CLI and kept in the data dir) on loopback. `--url` fuzzes a running server instead
(`--pid` for its RSS, `--key FILE` to sign claims and get a bearer token, `--log FILE` for
tracebacks). `--findings FILE` writes every distinct failure with a reproducer and the
server's traceback. `--quick` is the test suite's smoke run (100 cases, drawn before the
warm-up, which then loads only the models they can reach).

    .venv/bin/python bench/fuzz.py [--cases 10000] [--quick] [--seed N] [--findings FILE]
                                   [--model NAME] [--data-dir DIR] [--ctx-per-seq N]
                                   [--url URL [--pid PID] [--key FILE] [--log FILE]]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))

from serving import REPO, Server, free_port  # noqa: E402
from tests.e2e import fuzz_requests as fr  # noqa: E402

TARGET_SLOWEST_REJECTION_S = 1.0
TARGET_RSS_CHANGE = 0.10
# Shares of the cases per surface (auth's whole space is ~200 cases; the rest go to chat).
MIX = {"chat": 0.60, "image": 0.15, "token": 0.20, "auth": 0.05}
QUICK_CASES = 100
# /token's rate limits would answer most token cases 429 before the verifier sees them.
NO_TOKEN_RATE_LIMITS = {"VERTEXCOMPAT_TOKEN_RATE_PER_KEY": "0",
                        "VERTEXCOMPAT_TOKEN_RATE_PER_ADDRESS": "0"}


def rss_bytes(pid: int) -> int:
    """VmRSS of `pid` plus its child processes (the SVG render worker)."""
    def one(p: int) -> int:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    total = one(pid)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                total += one(int(entry.name))
    return total


def pid_listening_on(port: int) -> int | None:
    """The process with a listening TCP socket on `port` (Linux /proc; our own processes)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                inodes.add(f"socket:[{fields[9]}]")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(entry.name)
        except OSError:
            continue
    return None


def settled_rss(pid: int, *, within: float = 0.005, timeout: float = 20.0) -> int:
    """RSS once it stops moving: the perception pool trims its memory a moment after its
    last job, so a reading right after a burst would count memory about to be returned."""
    last = rss_bytes(pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = rss_bytes(pid)
        if last and abs(now - last) / last <= within:
            return now
        last = now
    return last


def make_key(data_dir: Path, port: int) -> Path:
    """The bench's service account, made once per data dir with the CLI and reused."""
    key = data_dir / "fuzz-bench-key.json"
    cli = [str(REPO / ".venv/bin/vertexcompat"), "auth"]
    if not key.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [*cli, "create-service-account", "--project", "demo", "--name", "fuzz-bench",
             "--out", str(key), "--port", str(port), "--data-dir", str(data_dir)],
            check=True, capture_output=True, timeout=120,
        )
    # The plain /v1/... paths act on the default project: the cases reach past auth there.
    email = json.loads(key.read_text())["client_email"]
    subprocess.run(
        [*cli, "roles", "grant", "--project", "default", "--member", email,
         "--data-dir", str(data_dir)],
        check=True, capture_output=True, timeout=120,
    )
    return key


def get_token(base: str, signer: fr.Signer | None) -> str:
    if signer is None:
        return "bench"  # a --no-auth server takes any bearer token
    r = httpx.post(f"{base}/token", content=fr.valid_grant(signer),
                   headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=30)
    r.raise_for_status()
    token: str = r.json()["access_token"]
    return token


def warm_up(client: httpx.Client, base: str, window: int, *, images: bool = True,
            audio: bool = True) -> None:
    """One valid request per expensive path, so the RSS 'before' already holds everything
    the cases can load: grammars, OCR/face/NSFW, Whisper. Like the cases, the text ones
    ask for `window - 1` tokens and end at admission; the media ones decode one token
    (`window - 1` would be refused before perception). Nothing is drawn: no case draws
    either (the SVG worker never starts). `images`/`audio` False: no case carries a valid
    image/audio part (perception/Whisper never loads), so neither is loaded here."""
    url = f"{base}{fr.CHAT_PATHS[0]}"
    common = {"model": "google/gemini-2.0-flash-001", "max_tokens": window - 1}
    image = f"data:image/png;base64,{fr._b64(fr.TINY_PNG)}"
    sound = fr._b64(fr.TINY_WAV)
    bodies: list[dict[str, Any]] = [
        {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4},
        {"messages": [{"role": "user", "content": "Hi"}], "stream": True},
        {"messages": [{"role": "user", "content": "Hi"}],
         "response_format": {"type": "json_schema",
                             "json_schema": {"name": "a", "schema": fr.ANSWER_SCHEMA}}},
        {"messages": [{"role": "user", "content": "Weather?"}], "tools": [fr.WEATHER_TOOL],
         "tool_choice": "required"},
        {"messages": [{"role": "user", "content": "Hi"}], "modalities": ["image", "text"]},
    ]
    if images:
        bodies.append({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": image}}]}], "max_tokens": 1})
    if audio:
        bodies.append({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "Transcribe."},
            {"type": "input_audio", "input_audio": {"data": sound, "format": "wav"}}]}],
            "max_tokens": 1})
    for body in bodies:
        start = time.perf_counter()
        r = client.post(url, json={**common, **body}, timeout=600)
        print(f"warm-up: {r.status_code} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        if r.status_code >= 500:
            print(f"warm-up request answered {r.status_code}: {r.text[:200]}", file=sys.stderr)


def plan(cases: int) -> dict[str, int]:
    counts = {surface: int(cases * share) for surface, share in MIX.items()}
    counts["chat"] += cases - sum(counts.values())
    return counts


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def strategies_for(token: str, signer: fr.Signer | None, window: int,
                   prompt_guard_words: int) -> dict[str, Any]:
    return {
        "chat": fr.chat_cases(window),
        "image": fr.image_cases(prompt_guard_words),
        "token": fr.token_cases(signer),
        "auth": fr.auth_cases(token, window),
    }


OnCase = Callable[[str, fr.FuzzCase], None]  # (surface, case)


def draw(counts: dict[str, int], strategies: dict[str, Any], seed_value: int | None,
         on_case: OnCase) -> None:
    """Draws `counts[surface]` cases of each surface and hands each to `on_case` as it is
    drawn. Chat last: it takes up what the smaller spaces (auth) could not fill."""
    shortfall = 0
    for surface in sorted(counts, key=lambda s: s == "chat"):
        n = counts[surface] + (shortfall if surface == "chat" else 0)
        if n:
            shortfall += n - fr.run_examples(
                strategies[surface], n, lambda case, surface=surface: on_case(surface, case),
                seed_value=seed_value)


def fuzz(base: str, each_case: Callable[[OnCase], None], *, token: str, timeout: float,
         alive: Callable[[], bool]) -> list[fr.Outcome]:
    """Sends every case `each_case` hands out (`draw`, or cases drawn already) while the
    server is alive, and what each got back."""
    outcomes: list[fr.Outcome] = []
    bearer = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    with httpx.Client(headers=bearer) as with_bearer, httpx.Client() as bare:
        def send(surface: str, case: fr.FuzzCase) -> None:
            if not alive():
                return
            client = with_bearer if surface in ("chat", "image") else bare
            outcomes.append(fr.send_case(client, base, case, timeout=timeout))
            if len(outcomes) % 1000 == 0:
                print(f"  {len(outcomes)} cases, {time.perf_counter() - started:.0f} s",
                      file=sys.stderr)

        each_case(send)
    return outcomes


def write_findings(path: Path, outcomes: list[fr.Outcome], log: str, base: str) -> int:
    groups: dict[str, list[fr.Outcome]] = {}
    for o in outcomes:
        if o.problem is not None:
            trace = fr.server_traceback(log, o.request_id)
            groups.setdefault(fr.failure_site(trace, o.problem), []).append(o)
    lines = [f"# Fuzz findings ({len(groups)} distinct)\n"]
    for site, group in groups.items():
        smallest = min(group, key=lambda o: len(o.case.body))
        trace = fr.server_traceback(log, smallest.request_id)
        surfaces = Counter(o.case.surface for o in group)
        lines += [f"## {site}\n", f"{len(group)} cases ({dict(surfaces)}); smallest:\n",
                  f"    {smallest.problem}\n", "```python", smallest.case.reproducer(base),
                  "```"]
        if trace:
            lines += ["```", trace[-4000:], "```"]
        lines.append("")
    path.write_text("\n".join(lines))
    return len(groups)


def report(outcomes: list[fr.Outcome], rss: tuple[int, int] | None, wall: float,
           alive: bool) -> bool:
    statuses = Counter(
        str(o.status) if o.status is not None else (o.kind if o.problem else "unsent")
        for o in outcomes)
    by_surface = Counter(o.case.surface for o in outcomes)
    five = [o for o in outcomes if o.kind == "5xx"]
    dropped = [o for o in outcomes if o.kind in ("dropped", "timeout")]
    shape = [o for o in outcomes if o.kind in ("shape", "stream")]
    refused = [o for o in outcomes if o.kind == "refused"]
    rejections = [o for o in outcomes if o.rejected]
    slowest = max(rejections, key=lambda o: o.seconds, default=None)
    seconds = [o.seconds for o in outcomes]
    print(f"{len(outcomes)} cases in {wall:.0f} s ({dict(by_surface)})")
    print("| status | cases |\n|---|---|")
    for status, count in sorted(statuses.items()):
        print(f"| {status} | {count} |")
    print("\n| measure | value | target | |\n|---|---|---|---|")
    checks: list[bool] = []

    def row(name: str, value: str, target: str, ok: bool | None) -> None:
        if ok is not None:
            checks.append(ok)
        print(f"| {name} | {value} | {target} | {'' if ok is None else verdict(ok)} |")

    row("5xx responses (incl. mid-stream error frames)", str(len(five)), "0", not five)
    row("dropped connections / timeouts", str(len(dropped)), "0", not dropped)
    row("4xx bodies of the wrong shape, broken streams", str(len(shape)), "0", not shape)
    row("unmutated (valid) requests refused", str(len(refused)), "0", not refused)
    if slowest is not None:
        row("slowest rejection",
            f"{slowest.seconds * 1000:.0f} ms ({slowest.status}, {slowest.case.surface}: "
            f"{slowest.case.mutation[:80]})",
            f"<= {TARGET_SLOWEST_REJECTION_S * 1000:.0f} ms",
            slowest.seconds <= TARGET_SLOWEST_REJECTION_S)
    else:
        row("slowest rejection", "-", f"<= {TARGET_SLOWEST_REJECTION_S * 1000:.0f} ms", None)
    row("latency p50 / p99 / max (all cases)",
        f"{percentile(seconds, 0.5) * 1000:.1f} / {percentile(seconds, 0.99) * 1000:.1f} / "
        f"{max(seconds, default=0) * 1000:.0f} ms", "", None)
    if rss is not None:
        before, after = rss
        change = (after - before) / before if before else float("nan")
        row("server RSS before -> after", f"{before / 2**20:.0f} -> {after / 2**20:.0f} MiB "
            f"({change:+.1%})", f"within {TARGET_RSS_CHANGE:.0%}",
            abs(change) <= TARGET_RSS_CHANGE)
    else:
        row("server RSS before -> after", "unknown (--url without --pid)", "", None)
    row("server alive afterwards", "yes" if alive else "NO", "yes", alive)
    plain = [o for o in rejections if not o.case.perceives]
    slowest_plain = max(plain, key=lambda o: o.seconds, default=None)
    if slowest_plain is not None:
        row("slowest rejection of a request without media",
            f"{slowest_plain.seconds * 1000:.0f} ms ({slowest_plain.status}, "
            f"{slowest_plain.case.surface}: {slowest_plain.case.mutation[:60]})", "", None)
    print("\nslowest rejections:")
    for o in sorted(rejections, key=lambda o: -o.seconds)[:3]:
        media = " (valid media: perception ran first)" if o.case.perceives else ""
        print(f"  {o.seconds * 1000:.0f} ms {o.status} {o.case.surface}{media}: "
              f"{o.case.mutation[:100]!r} -> {o.answer[:100]!r}")
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1):
        print(f"NOT A QUIET MACHINE (load average {load:.1f} on {os.cpu_count()} cores): "
              "latencies are inflated")
    ok = all(checks)
    print(f"\n{'PASS' if ok else 'FAIL'}")
    return ok


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_CASES} cases (smoke)")
    parser.add_argument("--seed", type=int, default=None,
                        help="hypothesis seed (default: its derandomized, fixed one)")
    parser.add_argument("--timeout", type=float, default=60.0, help="per case, seconds")
    parser.add_argument("--findings", type=Path, help="write distinct failures here")
    parser.add_argument("--dump", type=Path, help="write every outcome here (JSON lines)")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--ctx-per-seq", type=int, default=2048,
                        help="the server's context per sequence (also with --url)")
    parser.add_argument(
        "--data-dir", type=Path,
        default=Path(os.environ.get("VERTEXCOMPAT_TEST_DATA_DIR")
                     or Path.home() / ".cache" / "vertexcompat-tests"))
    parser.add_argument("--url", help="fuzz this running server instead of starting one")
    parser.add_argument("--pid", type=int,
                        help="with --url: the server's pid, for RSS (default: the process "
                             "listening on the URL's port, when it is ours to see)")
    parser.add_argument("--key", type=Path, help="with --url: a service-account key file")
    parser.add_argument("--log", type=Path, help="with --url: the server's log, for tracebacks")
    args = parser.parse_args()
    counts = plan(QUICK_CASES if args.quick else args.cases)
    # An image prompt that may be valid is padded past the context (see fuzz_requests).
    guard_words = int(args.ctx_per_seq * 1.25)

    def run(base: str, pid: int | None, signer: fr.Signer | None, log: Path | None,
            alive: Callable[[], bool]) -> bool:
        token = get_token(base, signer)
        if signer is None:
            counts["chat"] += counts.pop("token") + counts.pop("auth")
            print("no key: /token and bearer-token cases skipped", file=sys.stderr)
        strategies = strategies_for(token, signer, args.ctx_per_seq, guard_words)
        reach = {"images": True, "audio": True}
        drawn: list[tuple[str, fr.FuzzCase]] | None = None
        if args.quick:
            # --quick draws its cases first and warms up only what they can load (no
            # Whisper when no case carries valid audio); a full run's 10,000 reach all.
            drawn = []
            draw(counts, strategies, args.seed, lambda surface, case: drawn.append(
                (surface, case)))
            reach = {"images": any(fr.TINY_PNG_B64 in case.body for _, case in drawn),
                     "audio": any(fr.TINY_WAV_B64 in case.body for _, case in drawn)}

        def each_case(on_case: OnCase) -> None:
            if drawn is None:  # a full run: each case sent as drawn (bodies up to 256 KiB)
                draw(counts, strategies, args.seed, on_case)
                return
            for surface, case in drawn:
                on_case(surface, case)

        with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as client:
            warm_up(client, base, args.ctx_per_seq, **reach)
        if not all(reach.values()):
            print("warm-up without " + " and ".join(k for k, v in reach.items() if not v)
                  + ": no case carries them", file=sys.stderr)
        before = settled_rss(pid) if pid else None
        start = time.perf_counter()
        outcomes = fuzz(base, each_case, token=token, timeout=args.timeout, alive=alive)
        wall = time.perf_counter() - start
        after = settled_rss(pid) if pid else None
        log_text = log.read_text(errors="replace") if log and log.exists() else ""
        if args.dump:
            args.dump.write_text("".join(json.dumps(o.to_json()) + "\n" for o in outcomes))
        if args.findings:
            n = write_findings(args.findings, outcomes, log_text, base)
            print(f"{n} distinct findings written to {args.findings}", file=sys.stderr)
        print(f"model {args.model if not args.url else '(running server)'}, "
              f"seed {args.seed if args.seed is not None else 'derandomized'}")
        rss = (before, after) if before and after else None
        return report(outcomes, rss, wall, alive())

    if args.url:
        signer = (fr.Signer.from_key_file(json.loads(args.key.read_text()))
                  if args.key else None)
        pid = args.pid or pid_listening_on(httpx.URL(args.url).port or 80)
        ok = run(args.url.rstrip("/"), pid, signer, args.log,
                 lambda: pid is None or Path(f"/proc/{pid}").exists())
    else:
        port = free_port()
        signer = fr.Signer.from_key_file(json.loads(make_key(args.data_dir, port).read_text()))
        log = Path(tempfile.gettempdir()) / f"vertexcompat-fuzz-{port}.log"
        print(f"server log: {log}", file=sys.stderr)
        argv = [str(REPO / ".venv/bin/vertexcompat"), "serve", "--port", str(port),
                "--model", args.model, "--threads", str(args.threads),
                "--parallel", str(args.parallel), "--ctx-per-seq", str(args.ctx_per_seq),
                "--data-dir", str(args.data_dir)]
        env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), **NO_TOKEN_RATE_LIMITS}
        with Server("vertexcompat", argv, "/readyz", port, log, env=env) as server:
            assert server.proc is not None
            proc = server.proc
            ok = run(server.base, proc.pid, signer, log, lambda: proc.poll() is None)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
