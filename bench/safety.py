"""Safety settings: how well the classifiers judge, and what judging costs a request.

Part 1, quality (no server): every prompt of the labelled set tests/data/safety_prompts.jsonl
(benign ones and harmful ones of the four categories, written for the tests; the embedding
classifier's exemplars were written apart from it and never tuned on it) is rated by each
classifier alone and by the server's judge (the embedding classifier, with the lexical one
corroborating: services/safety.py). For each
category and each blocking threshold — BLOCK_LOW_AND_ABOVE (score >= 0.25),
BLOCK_MEDIUM_AND_ABOVE (>= 0.5), BLOCK_ONLY_HIGH (>= 0.75) — precision and recall of
"blocked for this category" against "labelled with this category", plus how many benign
prompts anything blocked. `--guard` also rates the set with the served model asked yes/no
per category (services/safety.py ModelGuard), on a server of `--model`.

Part 2, cost (one server, the default model): the same greedy streamed chat completion
(`--max-tokens` tokens) in three variants, interleaved over `--runs` rounds:

  (a) no safety settings                     the baseline
  (b) every category OFF                     must cost nothing (passes straight through)
  (c) all four at BLOCK_MEDIUM_AND_ABOVE     the prompt check, then the answer's windows

  (a1), (c1) (a) and (c) with max_tokens 1

Reported: the median TTFT and total time of each; (c)'s added time as a share of (a)'s
request time (target <= 15 %); the prompt check ((c1) - (a1)) and the answer check per 100
generated tokens (((c) - (a)) - the prompt check, per token, times 100). TTFT under (c)
also waits for the answer's first window (64 characters) to be judged.

    .venv/bin/python bench/safety.py [--model NAME] [--threads N] [--max-tokens N] [--runs N]
                                     [--guard] [--json FILE|-]
    .venv/bin/python bench/safety.py --quick   # smoke: 10 prompts, tiny model, 1 round, no warm-up

`--quick` proves the script works (tests/e2e/test_bench_smoke.py runs it), not the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from serving import OUR_MODEL_ID, Server, free_port, med, print_rows, sse_events  # noqa: E402

from vertexcompat.domain.safety import RATED_CATEGORIES, HarmCategory  # noqa: E402

# `serve --no-auth` takes any bearer token, but wants one.
AUTH = {"Authorization": "Bearer bench"}
DATA = REPO / "tests" / "data" / "safety_prompts.jsonl"
THRESHOLDS = (("BLOCK_LOW_AND_ABOVE", 0.25), ("BLOCK_MEDIUM_AND_ABOVE", 0.5),
              ("BLOCK_ONLY_HIGH", 0.75))
SHORT = {HarmCategory.HARASSMENT: "harassment", HarmCategory.HATE_SPEECH: "hate speech",
         HarmCategory.SEXUALLY_EXPLICIT: "sexually explicit",
         HarmCategory.DANGEROUS_CONTENT: "dangerous content"}
MEDIUM = [{"category": c.value, "threshold": "BLOCK_MEDIUM_AND_ABOVE"} for c in RATED_CATEGORIES]
OFF = [{"category": c.value, "threshold": "OFF"} for c in RATED_CATEGORIES]
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "a": ("no safety settings (baseline)", {}),
    "b": ("every category OFF", {"google": {"safety_settings": OFF}}),
    "c": ("all four BLOCK_MEDIUM_AND_ABOVE", {"google": {"safety_settings": MEDIUM}}),
    # One token: what (c) adds to it is the prompt check (and one token's window).
    "a1": ("(a), max_tokens 1", {"max_tokens": 1}),
    "c1": ("(c), max_tokens 1", {"max_tokens": 1, "google": {"safety_settings": MEDIUM}}),
}
# A benign request whose answer is long prose (the answer check runs all the way).
PROMPT = ("Write a friendly, detailed guide for a beginner on how to plan a vegetable garden: "
          "choosing the spot, preparing the soil, what to plant first, watering and harvest.")

Scores = dict[HarmCategory, float]


def load_items(limit: int | None) -> list[dict[str, Any]]:
    items = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    if limit is None:
        return items
    # A small set that still has every label: the first of each kind in turn.
    kinds: dict[Any, list[dict[str, Any]]] = {}
    for item in items:
        kinds.setdefault(item["category"], []).append(item)
    out: list[dict[str, Any]] = []
    while len(out) < limit and any(kinds.values()):
        for queue in kinds.values():
            if queue and len(out) < limit:
                out.append(queue.pop(0))
    return out


def rate_offline(items: list[dict[str, Any]]) -> dict[str, list[Scores]]:
    """Each classifier's scores of every item, and the server's judge's (the combination
    it applies: services/safety.py), built as `serve` builds it."""
    from vertexcompat.config import Settings
    from vertexcompat.container import build_safety_judge

    judge = build_safety_judge(Settings(), None)

    async def judged() -> list[Scores]:
        return [await judge.rate_text(item["text"], RATED_CATEGORIES) for item in items]

    try:
        # The judge's own classifiers, each alone (loaded once: the embedding one trains
        # for ~4 s).
        classifiers = {c.name: c for c in judge.classifiers}
        assert set(classifiers) == {"lexical", "embedding"}, sorted(classifiers)
        out: dict[str, list[Scores]] = {}
        for name in ("lexical", "embedding"):
            classifiers[name].warm()
            out[name] = [classifiers[name].score([item["text"]])[0] for item in items]
        out["server (embedding, lexical corroborating)"] = asyncio.run(judged())
    finally:
        judge.close()
    return out


async def rate_with_guard(base: str, items: list[dict[str, Any]], model: str) -> list[Scores]:
    """The guard model's scores, through the server's own generation path."""
    from vertexcompat.domain.content import GenerateContentRequest  # noqa: F401
    from vertexcompat.services.safety import GUARD_QUESTIONS, guard_request, yes_probability

    out: list[Scores] = []
    async with httpx.AsyncClient(timeout=600, headers=AUTH) as client:
        for item in items:
            scores: Scores = {}
            for category, question in GUARD_QUESTIONS.items():
                request = guard_request(item["text"], question)
                body = {
                    "model": OUR_MODEL_ID,
                    "messages": [
                        {"role": "system", "content": request.system_instruction.parts[0].text},
                        {"role": "user", "content": request.contents[0].parts[0].text},
                    ],
                    "max_tokens": 1, "temperature": 0, "logprobs": True, "top_logprobs": 20,
                    "google": {"thinking_config": {"thinking_budget": 0}},
                }
                r = await client.post(f"{base}/v1/chat/completions", json=body)
                r.raise_for_status()
                top = r.json()["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
                scores[category] = yes_probability(
                    [(bytes(t["bytes"]), t["logprob"]) for t in top])
            out.append(scores)
    return out


@dataclass
class Quality:
    precision: float
    recall: float
    blocked: int  # prompts blocked for this category
    benign_blocked: int  # of them, benign


def quality(items: list[dict[str, Any]], scores: list[Scores], category: HarmCategory,
            cut: float) -> Quality:
    labelled = [item["category"] == category.value for item in items]
    blocked = [s.get(category, 0.0) >= cut for s in scores]
    tp = sum(1 for l, b in zip(labelled, blocked) if l and b)
    fp = sum(1 for l, b in zip(labelled, blocked) if b and not l)
    fn = sum(1 for l, b in zip(labelled, blocked) if l and not b)
    benign = sum(1 for item, b in zip(items, blocked) if b and item["category"] is None)
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    return Quality(precision, recall, tp + fp, benign)


def report_quality(items: list[dict[str, Any]], rated: dict[str, list[Scores]]) -> dict[str, Any]:
    counts = {c: sum(1 for i in items if i["category"] == c.value) for c in RATED_CATEGORIES}
    benign = sum(1 for i in items if i["category"] is None)
    print(f"Quality on {len(items)} labelled prompts ({benign} benign, "
          + ", ".join(f"{n} {SHORT[c]}" for c, n in counts.items()) + ")")
    print()
    out: dict[str, Any] = {}
    for name, scores in rated.items():
        rows = []
        for category in RATED_CATEGORIES:
            if not any(category in s for s in scores):
                continue
            for threshold, cut in THRESHOLDS:
                q = quality(items, scores, category, cut)
                rows.append((SHORT[category], threshold, f"{q.precision:.2f}", f"{q.recall:.2f}",
                             str(q.blocked), str(q.benign_blocked)))
                out.setdefault(name, {}).setdefault(category.value, {})[threshold] = q.__dict__
        any_benign = {t: sum(1 for i, s in zip(items, scores) if i["category"] is None
                             and any(v >= cut for v in s.values())) for t, cut in THRESHOLDS}
        print(f"[{name}]  benign prompts blocked in any category: "
              + ", ".join(f"{t} {n}/{benign}" for t, n in any_benign.items()))
        print_rows(("category", "threshold", "precision", "recall", "blocked", "benign blocked"),
                   rows)
    return out


@dataclass
class Run:
    ttft: float
    total: float
    tokens: int
    finish: str | None


async def stream_once(client: httpx.AsyncClient, url: str, max_tokens: int,
                      extra: dict[str, Any]) -> Run:
    body = {"model": OUR_MODEL_ID, "messages": [{"role": "user", "content": PROMPT}],
            "stream": True, "temperature": 0.0, "max_tokens": max_tokens, "seed": 0,
            "stream_options": {"include_usage": True}, **extra}
    start = time.perf_counter()
    first: float | None = None
    tokens, finish = 0, None
    async with client.stream("POST", url, json=body) as r:
        async for event, _ in sse_events(r, url):
            if event.get("usage"):
                tokens = event["usage"]["completion_tokens"]
            for choice in event.get("choices") or []:
                if choice.get("delta", {}).get("content") and first is None:
                    first = time.perf_counter() - start
                finish = choice.get("finish_reason") or finish
    total = time.perf_counter() - start
    return Run(first if first is not None else total, total, tokens, finish)


async def measure_cost(base: str, max_tokens: int, runs: int, say: Any,
                       warm: bool = True) -> dict[str, list[Run]]:
    url = f"{base}/v1/chat/completions"
    keys = list(VARIANTS)
    out: dict[str, list[Run]] = {k: [] for k in keys}
    async with httpx.AsyncClient(timeout=httpx.Timeout(600.0), headers=AUTH) as client:
        # Warm-up: loads the classifiers, opens the connection (not in --quick: its one
        # round runs every variant the same way, and its times prove nothing).
        for k in keys if warm else ():
            await stream_once(client, url, max_tokens, VARIANTS[k][1])
        for r in range(runs):
            order = keys[r % len(keys):] + keys[:r % len(keys)]
            for k in order:
                out[k].append(await stream_once(client, url, max_tokens, VARIANTS[k][1]))
            say(f"round {r + 1}/{runs}: " + ", ".join(
                f"({k}) {out[k][-1].total:.2f}s" for k in keys))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--max-tokens", type=int, default=200)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--guard", action="store_true",
                   help="also rate the set with the served model as a yes/no guard (slow)")
    p.add_argument("--json", nargs="?", const="-", metavar="FILE")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 10 prompts (two of each label), smollm2-135m-instruct, "
                   "16 tokens, 1 round")
    args = p.parse_args(argv)
    limit = None
    if args.quick:
        args.model, args.max_tokens, args.runs, limit = "smollm2-135m-instruct", 16, 1, 10
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t_start = time.monotonic()
    say = lambda msg: print(f"[bench {time.monotonic() - t_start:6.1f}s] {msg}",  # noqa: E731
                            file=sys.stderr, flush=True)

    items = load_items(limit)
    started = time.perf_counter()
    rated = rate_offline(items)
    say(f"rated {len(items)} prompts offline in {time.perf_counter() - started:.1f}s "
        "(classifier loading included)")

    log_dir = Path(tempfile.mkdtemp(prefix="vertexcompat-bench-"))
    port = free_port()
    server = Server(
        "vertexcompat",
        [sys.executable, "-m", "vertexcompat", "serve", "--no-auth", "--host", "127.0.0.1",
         "--port", str(port), "--model", args.model, "--threads", str(args.threads),
         "--parallel", "2", "--ctx-per-seq", "2048", "--log-level", "warning"],
        "/readyz", port, log_dir / "vertexcompat.log",
    )
    with server:
        if args.guard:
            started = time.perf_counter()
            rated[f"guard ({args.model})"] = asyncio.run(
                rate_with_guard(server.base, items, args.model))
            say(f"guard rated {len(items)} prompts in {time.perf_counter() - started:.1f}s")
        results = asyncio.run(measure_cost(server.base, args.max_tokens, args.runs, say,
                                            warm=not args.quick))

    summary: dict[str, Any] = {"quality": report_quality(items, rated)}
    ttft = {k: med([r.ttft for r in results[k]]) for k in VARIANTS}
    total = {k: med([r.total for r in results[k]]) for k in VARIANTS}
    tokens = med([float(r.tokens) for r in results["c"]])
    print(f"Cost: model {args.model}, threads {args.threads}, {args.max_tokens} tokens, "
          f"median of {args.runs} interleaved rounds")
    rows = [(f"({k}) {label}", f"{ttft[k] * 1000:.0f}", f"{total[k]:.2f}",
             f"{total[k] / total['a1' if k.endswith('1') else 'a']:.3f}x",
             "/".join(sorted({str(r.finish) for r in results[k]})))
            for k, (label, _) in VARIANTS.items()]
    print_rows(("variant", "TTFT ms", "total s", "vs (a)", "finish"), rows)
    prompt_ms = (total["c1"] - total["a1"]) * 1000
    answer_ms = ((total["c"] - total["a"]) * 1000 - prompt_ms) / max(tokens, 1) * 100
    share = (total["c"] - total["a"]) / total["a"] * 100
    off = total["b"] / total["a"]
    summary["cost"] = {"ttft_s": ttft, "total_s": total, "prompt_check_ms": prompt_ms,
                       "answer_check_ms_per_100_tokens": answer_ms, "added_pct": share,
                       "off_ratio": off}
    print(f"TTFT added under (c): {(ttft['c'] - ttft['a']) * 1000:+.0f} ms (the prompt check and "
          "the first window)")
    print(f"safety bench done: prompt check {prompt_ms:+.0f} ms, answer check "
          f"{answer_ms:+.0f} ms per 100 tokens, added {share:+.1f}% of the request "
          f"(target <= 15%), all OFF {off:.3f}x")
    if args.json:
        text = json.dumps(summary, indent=2, default=str)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text)
    return 0 if not math.isnan(share) else 1


if __name__ == "__main__":
    sys.exit(main())
