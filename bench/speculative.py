"""Speculative decoding benchmark: one stream through our server with `--speculative off`,
`ngram` (prompt-lookup drafts) and `draft` (a draft model's drafts: Qwen2.5-Coder-0.5B for
the 1.5B), same model, threads and prompts, one run, each mode against `off`.

  (a) a code edit: rewrite a given 60-line function with one change (the answer copies most
      of the prompt, so drafts are often right)                        target >= 1.5x
  (b) free prose (drafts rarely right: what speculation costs there)    target >= 0.95x

Decode tok/s = (completion tokens - 1) / (last content - first content), greedy, median of
the runs; acceptance = drafted tokens kept / drafted (the server's /readyz counters); and
whether the two modes wrote the same text (they may part at a near tie: llama.cpp's kernels
for several rows of a sequence differ from its one-row kernels in the last digits).

    .venv/bin/python bench/speculative.py [--model NAME|PATH] [--threads N] [--runs N]
                                          [--max-tokens N] [--draft-max N] [--json FILE|-]
                                          [--modes ngram,draft] [--draft-model NAME|PATH]
    .venv/bin/python bench/speculative.py --quick   # smoke: tiny model (drafting for
                                                    # itself), 1 run, 12 tokens, a 3-line
                                                    # function, no warm-up

The issue's model is Qwen2.5-Coder-1.5B (`pip install '.[large]'`); `--quick` proves the
script works (tests/e2e/test_bench_smoke.py runs it), not the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving import (  # noqa: E402
    OUR_MODEL_ID, ForeignCpu, Server, Stream, free_port, print_rows, stream_chat,
)

FUNCTION = '''def summarize_orders(orders, tax_rate=0.2, currency="EUR"):
    """Summarize a list of order dicts into totals per customer and per product."""
    per_customer = {}
    per_product = {}
    total = 0.0
    skipped = []
    for order in orders:
        customer = order.get("customer")
        if not customer:
            skipped.append(order)
            continue
        lines = order.get("lines", [])
        if not lines:
            skipped.append(order)
            continue
        order_total = 0.0
        for line in lines:
            product = line["product"]
            quantity = int(line.get("quantity", 1))
            price = float(line["price"])
            discount = float(line.get("discount", 0.0))
            if quantity <= 0 or price < 0:
                skipped.append(line)
                continue
            amount = quantity * price * (1.0 - discount)
            order_total += amount
            entry = per_product.setdefault(product, {"quantity": 0, "amount": 0.0})
            entry["quantity"] += quantity
            entry["amount"] += amount
        if order.get("express"):
            order_total += 9.5
        taxed = order_total * (1.0 + tax_rate)
        customer_entry = per_customer.setdefault(customer, {"orders": 0, "amount": 0.0})
        customer_entry["orders"] += 1
        customer_entry["amount"] += taxed
        total += taxed
    best_customer = None
    best_amount = -1.0
    for customer, entry in per_customer.items():
        if entry["amount"] > best_amount:
            best_customer = customer
            best_amount = entry["amount"]
    best_product = None
    best_quantity = -1
    for product, entry in per_product.items():
        if entry["quantity"] > best_quantity:
            best_product = product
            best_quantity = entry["quantity"]
    report = {
        "currency": currency,
        "total": round(total, 2),
        "customers": len(per_customer),
        "products": len(per_product),
        "best_customer": best_customer,
        "best_product": best_product,
        "skipped": len(skipped),
        "per_customer": per_customer,
        "per_product": per_product,
    }
    return report
'''
PROMPTS = {
    "(a) code edit": (
        "Rewrite the following Python function with exactly one change: the express "
        "delivery fee becomes 12.0 instead of 9.5. Output the whole function, unchanged "
        "otherwise, in one code block, and nothing else.\n\n```python\n" + FUNCTION + "```"
    ),
    "(b) prose": (
        "Write a long, flowing essay about the history of lighthouses, their keepers and "
        "the ships they guided. Use full paragraphs and no lists."
    ),
}
TARGETS = {"(a) code edit": (">=", 1.5), "(b) prose": (">=", 0.95)}
# --quick: the same two kinds of prompt, the function cut to its first 3 lines (a smoke
# run reads the prompt four times: once per server and once more with the draft model; the
# fee line is cut too: the smoke run proves the path, not the answer).
QUICK_FUNCTION = "".join(FUNCTION.splitlines(keepends=True)[:3])
QUICK_PROMPTS = {**PROMPTS, "(a) code edit": PROMPTS["(a) code edit"].replace(FUNCTION,
                                                                             QUICK_FUNCTION)}


def decode_tps(s: Stream) -> float:
    span = s.t_last - s.ttft
    return (s.tokens - 1) / span if s.tokens > 1 and span > 0 else float("nan")


async def counters(client: httpx.AsyncClient, base: str) -> tuple[int, int]:
    load = (await client.get(f"{base}/readyz")).json()["load"]
    drafted = sum(b.get("draft_tokens", 0) for b in load.values())
    kept = sum(b.get("accepted_draft_tokens", 0) for b in load.values())
    return drafted, kept


async def measure(bases: dict[str, str], runs: int, max_tokens: int,
                  prompts: dict[str, str] = PROMPTS, warm: bool = True
                  ) -> dict[str, dict[str, Any]]:
    """Each prompt `runs` times on each server, the modes taking turns run by run, so a
    change in the machine's load falls on both alike."""
    out: dict[str, dict[str, Any]] = {mode: {} for mode in bases}
    async with httpx.AsyncClient(timeout=httpx.Timeout(1200.0)) as client:
        for base in bases.values() if warm else ():  # warm-up (not in --quick)
            await stream_chat(client, f"{base}/v1/chat/completions", OUR_MODEL_ID,
                              "Say hello.", 8)
        for name, prompt in prompts.items():
            streams: dict[str, list[Stream]] = {mode: [] for mode in bases}
            drafted: dict[str, list[int]] = {mode: [0, 0] for mode in bases}
            for _ in range(runs):
                for mode, base in bases.items():
                    d0, k0 = await counters(client, base)
                    streams[mode].append(await stream_chat(
                        client, f"{base}/v1/chat/completions", OUR_MODEL_ID, prompt,
                        max_tokens))
                    d1, k1 = await counters(client, base)
                    drafted[mode][0] += d1 - d0
                    drafted[mode][1] += k1 - k0
            for mode in bases:
                out[mode][name] = {
                    "tps": statistics.median(decode_tps(s) for s in streams[mode]),
                    "ttft": statistics.median(s.ttft for s in streams[mode]),
                    "tokens": [s.tokens for s in streams[mode]],
                    "drafted": drafted[mode][0], "kept": drafted[mode][1],
                    "text": streams[mode][0].text,
                }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="qwen2.5-coder-1.5b-instruct")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--draft-max", type=int, help="our --draft-max (default: the server's)")
    p.add_argument("--json", nargs="?", const="-", metavar="FILE")
    p.add_argument("--modes", default="ngram,draft",
                   help="the modes measured against off (default: ngram,draft)")
    p.add_argument("--draft-model", help="the draft model of the draft mode (default: the "
                   "server's, Qwen2.5-Coder-0.5B for the 1.5B)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: smollm2-135m-instruct (drafting for itself), 1 run, "
                   "12 tokens")
    args = p.parse_args(argv)
    if args.quick:
        args.model, args.runs, args.max_tokens = "smollm2-135m-instruct", 1, 12
        args.draft_model = args.draft_model or "smollm2-135m-instruct"
    modes = [m for m in args.modes.split(",") if m]
    if not modes or any(m not in ("ngram", "draft") for m in modes):
        p.error("--modes takes ngram and/or draft")
    log_dir = Path(tempfile.mkdtemp(prefix="vertexcompat-spec-bench-"))
    foreign = ForeignCpu()
    print(f"[speculative bench] {1 + len(modes)} servers, --speculative off and "
          f"{' and '.join(modes)} ({args.model}, {args.threads} threads each, taking turns); "
          f"logs in {log_dir}", file=sys.stderr, flush=True)
    servers = {
        mode: Server(
            f"vertexcompat --speculative {mode}",
            [sys.executable, "-m", "vertexcompat", "serve", "--no-auth", "--host", "127.0.0.1",
             "--port", str(port), "--model", args.model, "--threads", str(args.threads),
             "--parallel", "1", "--speculative", mode,
             *(["--draft-max", str(args.draft_max)] if args.draft_max and mode != "off"
               else []),
             *(["--draft-model", args.draft_model] if args.draft_model and mode == "draft"
               else []),
             "--log-level", "warning"],
            "/readyz", port, log_dir / f"vertexcompat-{mode}.log",
        )
        for mode, port in ((m, free_port()) for m in ["off", *modes])
    }
    foreign.start()  # the servers are our children: their CPU time is not foreign
    with contextlib.ExitStack() as stack:
        for server in servers.values():
            stack.enter_context(server)
        results = asyncio.run(measure({m: s.base for m, s in servers.items()},
                                      max(1, args.runs), args.max_tokens,
                                      QUICK_PROMPTS if args.quick else PROMPTS,
                                      warm=not args.quick))
    foreign.stop("all")

    rows = []
    summary = []
    for name in PROMPTS:
        off = results["off"][name]
        op, target = TARGETS[name]
        for mode in modes:
            on = results[mode][name]
            ratio = on["tps"] / off["tps"]
            rate = on["kept"] / on["drafted"] if on["drafted"] else 0.0
            rows.append((name, mode, f"{off['ttft']:.2f} / {on['ttft']:.2f}",
                         f"{off['tps']:.1f}", f"{on['tps']:.1f}", f"{ratio:.2f}x",
                         f"{op} {target}x", "PASS" if ratio >= target else "MISS",
                         f"{rate:.0%} ({on['kept']}/{on['drafted']})",
                         str(on["text"] == off["text"])))
            summary.append(f"{name.split()[0]} {mode} {ratio:.2f}x")
    print()
    print(f"speculative decoding, {args.model}, {args.threads} threads, one stream, greedy, "
          f"max_tokens {args.max_tokens}, median of {args.runs}")
    print("other processes' CPU use (cores): "
          + ", ".join(f"{k} {v:.2f}" for k, v in foreign.phases.items())
          + ("   <-- NOT A QUIET MACHINE" if any(v > 0.1 for v in foreign.phases.values())
             else "   (quiet)"))
    print()
    print_rows(("prompt", "mode", "TTFT s off / mode", "off tok/s", "mode tok/s", "ratio", "target", "result",
                "drafts kept", "same text"), rows)
    print("speculative bench done: " + ", ".join(summary))
    if args.json:
        text = json.dumps({"config": vars(args) | {"json": None}, "results": results},
                          indent=2, default=str)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
