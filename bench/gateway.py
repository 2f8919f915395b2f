"""Gateway benchmark: what vertexcompat adds in front of an upstream model server, against
LiteLLM's proxy in front of the same upstream.

The upstream is a minimal OpenAI-compatible responder (bench/_echo_upstream.py: the same
short answer at once, whole or as five chunks), so the numbers are the gateway's, not a
model's. Our server (auth off, the tiny local model loaded but unused) declares it as
endpoint `bench`; LiteLLM's proxy (`litellm[proxy]`, pinned in
bench/_litellm_requirements.txt) has it as its one model, `openai/echo`. Every server is one
process with one event loop. Measured in one run, the same requests sent directly, through
us and through LiteLLM, phase by phase:

(a) non-streamed latency, one client, sequential: p50 and p99, and the added p50
    (target: ours <= 2 ms);
(b) streamed time to first content chunk: p50 and p99, and the added p50;
(c) requests/s with 32 concurrent clients (non-streamed); target: ours >= 3x LiteLLM's.
    Also each server's own CPU time per request in that phase (its process group, from
    /proc): the client and the echo upstream share the machine, so requests/s alone
    understates the gap between two gateways on a small one.

LiteLLM runs from a venv of its own, ${VERTEXCOMPAT_DATA_DIR:-~/.cache/vertexcompat}/bench/
.venv-litellm, which the first full run creates from bench/_litellm_requirements.txt (about
40 s from PyPI; again whenever that file changes): its pins cannot share the project's venv.
A full run that cannot install or start it fails; `--no-litellm` leaves it out on purpose.

    .venv/bin/python bench/gateway.py [--requests 400] [--concurrency 32] [--no-litellm]
    .venv/bin/python bench/gateway.py --quick    # smoke: 40 requests, 8 clients, no LiteLLM

`--quick` proves the script works (tests/e2e/test_bench_smoke.py runs it), not the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import platformdirs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import BENCH_DIR, Server, free_port, print_rows  # noqa: E402

TARGET_ADDED_P50_MS = 2.0
TARGET_VS_LITELLM = 3.0
BODY = {"model": "echo", "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 16}
LITELLM_REQUIREMENTS = BENCH_DIR / "_litellm_requirements.txt"


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def latencies(url: str, n: int, *, stream: bool, headers: dict[str, str]) -> list[float]:
    """Seconds per request (non-stream) or to the first content chunk (stream), one at a
    time over one kept-alive connection."""
    out = []
    async with httpx.AsyncClient(timeout=30, headers=headers) as client:
        for _ in range(n + 5):  # the first 5 warm up
            t0 = time.perf_counter()
            if stream:
                async with client.stream("POST", url, json={**BODY, "stream": True}) as r:
                    assert r.status_code == 200, await r.aread()
                    first = None
                    async for line in r.aiter_lines():  # read to the end, timing the first
                        if first is None and ('"content": "H' in line or '"content":"H' in line):
                            first = time.perf_counter() - t0
                    assert first is not None, "no content chunk"
                    out.append(first)
            else:
                r = await client.post(url, json=BODY)
                assert r.status_code == 200, r.text
                assert r.json()["choices"][0]["message"]["content"]
                out.append(time.perf_counter() - t0)
    return out[5:]


async def throughput(url: str, n: int, concurrency: int, headers: dict[str, str]) -> float:
    """Non-streamed requests/s with `concurrency` clients sending `n` requests in all."""
    async with httpx.AsyncClient(
        timeout=60, headers=headers, limits=httpx.Limits(max_connections=concurrency)
    ) as client:
        await client.post(url, json=BODY)
        left = n

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                r = await client.post(url, json=BODY)
                assert r.status_code == 200, r.text

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return n / (time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------
# LiteLLM's proxy, from a venv of its own


class LiteLLMUnavailable(Exception):
    pass


def litellm_venv(log_dir: Path) -> Path:
    """The venv LiteLLM's proxy runs from, (re)created from the pinned requirement file when
    missing or when that file changed since (a sha256 stamp in the venv)."""
    data_dir = (os.environ.get("VERTEXCOMPAT_DATA_DIR")
                or platformdirs.user_cache_dir("vertexcompat"))
    venv = Path(data_dir) / "bench" / ".venv-litellm"
    stamp = venv / "requirements.sha256"
    want = hashlib.sha256(LITELLM_REQUIREMENTS.read_bytes()).hexdigest()
    if (venv / "bin" / "litellm").exists() and stamp.exists() and stamp.read_text().strip() == want:
        return venv
    print(f"installing LiteLLM's proxy into {venv} from {LITELLM_REQUIREMENTS.name} "
          "(once; about 40 s)", file=sys.stderr)
    if venv.exists():
        shutil.rmtree(venv)
    log = log_dir / "litellm-install.log"
    with log.open("wb") as fh:
        for argv in ([sys.executable, "-m", "venv", str(venv)],
                     [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                      "--disable-pip-version-check", "-r", str(LITELLM_REQUIREMENTS)]):
            rc = subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL).returncode
            if rc != 0:
                tail = "\n".join(line for line in log.read_text(errors="replace").splitlines()
                                 if not line.startswith("WARNING: Location"))[-3000:]
                raise LiteLLMUnavailable(f"`{' '.join(argv[:4])} ...` exited {rc}; log: {log}\n"
                                         f"{tail}")
    stamp.write_text(want + "\n")
    return venv


def litellm_version(venv: Path) -> str:
    r = subprocess.run([str(venv / "bin" / "python"), "-c",
                        "import importlib.metadata as m; print(m.version('litellm'))"],
                       capture_output=True, text=True)
    return r.stdout.strip() or "?"


def litellm_proxy(venv: Path, upstream: str, log_dir: Path) -> Server:
    """LiteLLM's proxy on loopback with the echo upstream as its one model: one uvicorn
    worker, no master key (like our --no-auth), no database, no callbacks, no telemetry, the
    bundled model cost map (no fetch at start), warnings-only logs (no access log, as ours)."""
    port = free_port()
    config = log_dir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: echo\n"
        "    litellm_params:\n"
        "      model: openai/echo\n"
        f"      api_base: {upstream}\n"
        "      api_key: x\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "  callbacks: []\n"
        "  success_callback: []\n"
        "  failure_callback: []\n"
        "general_settings:\n"
        "  disable_spend_logs: true\n"
        "  background_health_checks: false\n"
    )
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "LITELLM_MASTER_KEY") and not k.startswith("REDIS_")}
    env.update(
        LITELLM_TELEMETRY="False", LITELLM_TELEMETRY_DISABLED="true",
        LITELLM_LOCAL_MODEL_COST_MAP="True", HF_HUB_OFFLINE="1",
        LITELLM_MODE="PRODUCTION",  # no .env loaded from the working directory
        LITELLM_LOG="WARNING",
        # It refuses to start without a master key unless told this is local development.
        LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY="true",
    )
    return Server("litellm proxy", [str(venv / "bin" / "litellm"), "--config", str(config),
                                    "--host", "127.0.0.1", "--port", str(port),
                                    "--num_workers", "1"],
                  "/health/liveliness", port, log_dir / "litellm.log", env=env, timeout=180)


# ---------------------------------------------------------------------------------------------
# report


def group(pid: int) -> list[Path]:
    """/proc entries of the processes in `pid`'s process group (Server starts each server in
    a session of its own, so that is the server and any children)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                if int(stat[stat.rindex(")") + 2:].split()[2]) == pid:  # pgrp
                    out.append(d)
            except (OSError, ValueError):
                pass
    return out


def procs_threads(pid: int) -> tuple[int, int]:
    """Processes in the server's group and their OS threads."""
    procs = threads = 0
    for d in group(pid):
        try:
            status = (d / "status").read_text()
        except OSError:
            continue
        procs += 1
        threads += int(next(line.split()[1] for line in status.splitlines()
                            if line.startswith("Threads:")))
    return procs, threads


def cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by the server's group."""
    ticks = 0
    for d in group(pid):
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def loop_and_parser(site: Path | None = None) -> tuple[str, str]:
    """uvicorn's defaults where it runs: uvloop and httptools when installed."""
    def has(mod: str) -> bool:
        if site is None:
            return importlib.util.find_spec(mod) is not None
        return any(site.glob(f"lib/python*/site-packages/{mod}"))
    return ("uvloop" if has("uvloop") else "asyncio"), ("httptools" if has("httptools") else "h11")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=400, help="per latency phase and per "
                   "throughput run")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--quick", action="store_true", help="smoke: 40 requests, 8 clients, "
                   "no LiteLLM")
    p.add_argument("--no-litellm", action="store_true", help="leave LiteLLM's proxy out")
    args = p.parse_args(argv)
    if args.quick:
        args.requests, args.concurrency = 40, 8
    with_litellm = not (args.quick or args.no_litellm)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    log_dir = Path(tempfile.mkdtemp(prefix="vertexcompat-gateway-bench-"))
    print(f"logs in {log_dir}", file=sys.stderr)
    venv = None
    if with_litellm:
        try:
            venv = litellm_venv(log_dir)
        except (LiteLLMUnavailable, OSError) as e:
            print(f"gateway bench: cannot install LiteLLM's proxy: {e}", file=sys.stderr)
            return 1
    up_port = free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    config = log_dir / "endpoints.toml"
    config.write_text(f'[[endpoints]]\nid = "bench"\nreplicas = ["{upstream}"]\nmodel = "echo"\n')
    port = free_port()
    urls = {
        "direct": f"{upstream}/chat/completions",
        "ours": (f"http://127.0.0.1:{port}/v1/projects/bench/locations/us-central1/endpoints/"
                 "bench/chat/completions"),
    }
    auth = {"Authorization": "Bearer x"}
    heads = {"direct": {}, "ours": auth}
    servers: dict[str, Server] = {}
    shape: dict[str, tuple[int, int]] = {}
    n = args.requests
    with contextlib.ExitStack() as stack:
        servers["direct"] = stack.enter_context(Server(
            "echo upstream", [sys.executable, str(BENCH_DIR / "_echo_upstream.py"),
                              "--port", str(up_port)],
            "/v1/models", up_port, log_dir / "upstream.log"))
        servers["ours"] = stack.enter_context(Server(
            "vertexcompat", [sys.executable, "-m", "vertexcompat", "serve", "--no-auth",
                             "--host", "127.0.0.1", "--port", str(port), "--model",
                             "smollm2-135m-instruct", "--threads", "1", "--parallel", "1",
                             "--log-level", "warning", "--config", str(config)],
            "/readyz", port, log_dir / "ours.log"))
        if venv is not None:
            proxy = litellm_proxy(venv, upstream, log_dir)
            try:
                servers["litellm"] = stack.enter_context(proxy)
            except RuntimeError as e:
                proxy.__exit__(None, None, None)  # one that timed out is still running
                print(f"gateway bench: LiteLLM's proxy did not start: {e}", file=sys.stderr)
                return 1
            urls["litellm"] = f"{servers['litellm'].base}/v1/chat/completions"
            heads["litellm"] = auth  # ignored: it has no master key
        # Phase by phase, each target in turn, so all see the same machine state.
        lat, ttft, rps = {}, {}, {}
        for name in urls:
            lat[name] = asyncio.run(latencies(urls[name], n, stream=False, headers=heads[name]))
        for name in urls:
            ttft[name] = asyncio.run(latencies(urls[name], n, stream=True, headers=heads[name]))
        cpu = {}  # the server's own CPU ms per request in (c): for direct, the echo upstream's
        for name in urls:
            pid = servers[name].proc.pid  # type: ignore[union-attr]
            c0 = cpu_seconds(pid)
            rps[name] = asyncio.run(throughput(urls[name], n, args.concurrency, heads[name]))
            cpu[name] = 1000 * (cpu_seconds(pid) - c0) / (n + 1)  # + its warm-up request
        for name, server in servers.items():
            assert server.proc is not None
            shape[name] = procs_threads(server.proc.pid)

    ms = lambda xs, q: 1000 * pct(xs, q)  # noqa: E731
    added = {k: ms(v, 0.5) - ms(lat["direct"], 0.5) for k, v in lat.items()}
    has_l = "litellm" in urls

    def row(metric: str, xs: dict[str, list[float]], q: float, target: str, result: str
            ) -> tuple[str, ...]:
        d = ms(xs["direct"], q)
        cells = [metric, f"{d:.2f}", f"{ms(xs['ours'], q):.2f}", f"+{ms(xs['ours'], q) - d:.2f}"]
        cells += ([f"{ms(xs['litellm'], q):.2f}", f"+{ms(xs['litellm'], q) - d:.2f}"]
                  if has_l else ["-", "-"])
        return (*cells, target, result)

    ratio = rps["ours"] / rps["litellm"] if has_l else None
    rows = [
        row("(a) non-stream p50 ms", lat, 0.5, f"ours <= +{TARGET_ADDED_P50_MS:.0f} ms",
            "PASS" if added["ours"] <= TARGET_ADDED_P50_MS else "MISS"),
        row("(a) non-stream p99 ms", lat, 0.99, "report", "-"),
        row("(b) stream TTFT p50 ms", ttft, 0.5, "report", "-"),
        row("(b) stream TTFT p99 ms", ttft, 0.99, "report", "-"),
        (f"(c) requests/s, {args.concurrency} clients", f"{rps['direct']:.0f}",
         f"{rps['ours']:.0f}", f"{rps['ours'] / rps['direct']:.2f}x direct",
         f"{rps['litellm']:.0f}" if has_l else "-",
         f"{rps['litellm'] / rps['direct']:.2f}x direct" if has_l else "-",
         f"ours >= {TARGET_VS_LITELLM:.0f}x litellm",
         "-" if ratio is None else
         f"{ratio:.2f}x {'PASS' if ratio >= TARGET_VS_LITELLM else 'MISS'}"),
        ("(c) server CPU ms/request", f"{cpu['direct']:.2f}", f"{cpu['ours']:.2f}", "-",
         f"{cpu['litellm']:.2f}" if has_l else "-", "-", "report",
         f"litellm/ours {cpu['litellm'] / cpu['ours']:.2f}x" if has_l else "-"),
    ]
    print()
    print(f"vertexcompat gateway benchmark: {n} requests per phase, echo upstream, "
          f"{args.concurrency} clients in (c)")
    print_rows(("metric", "direct", "ours", "ours added", "litellm", "litellm added",
                "target", "result"), rows)
    loop, parser = loop_and_parser()
    desc = {
        "direct": ("echo upstream", "uvicorn, 1 worker", (loop, parser), "-"),
        "ours": (f"vertexcompat {importlib.metadata.version('vertexcompat')}",
                 "uvicorn, 1 worker; llama.cpp --threads 1 --parallel 1", (loop, parser),
                 "--no-auth (bearer sent)"),
    }
    if venv is not None:
        desc["litellm"] = (f"litellm[proxy] {litellm_version(venv)}",
                           "uvicorn, --num_workers 1", ("uvloop", loop_and_parser(venv)[1]),
                           "no master key")
    print_rows(("server", "name", "runs as", "processes", "OS threads", "loop", "HTTP",
                "auth"),
               [(k, name, how, str(shape[k][0]), str(shape[k][1]), lp, hp, au)
                for k, (name, how, (lp, hp), au) in desc.items()])
    if not has_l:
        print("(LiteLLM not run: " + ("--quick" if args.quick else "--no-litellm") + ")")
    print(json.dumps({"added_p50_ms": round(added["ours"], 3), "rps": round(rps["ours"], 1),
                      **({"litellm_added_p50_ms": round(added["litellm"], 3),
                          "litellm_rps": round(rps["litellm"], 1),
                          "ours_vs_litellm": round(ratio, 3)} if ratio is not None else {})}))
    print(f"gateway bench done: added p50 {added['ours']:.2f} ms, {rps['ours']:.0f} requests/s "
          f"({rps['ours'] / rps['direct']:.2f}x direct"
          + (f", {ratio:.2f}x litellm" if ratio is not None else "") + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
