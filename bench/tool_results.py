"""Tool results, read back (issue 13): after a function result, does the local model answer
from it, or parrot the history the server rewrote for it?

Runs 24 complete tool loops (a question, the assistant's call, the tool's result; half the
results plain strings like `"Paris"`, half JSON objects; 24 different functions) against
the real server (default model, greedy: temperature 0, `--no-auth`, loopback) and sorts each
answer:

- parrots: the answer repeats our rendering of the history (`I called f({...}).`,
  `f returned: ...`, `f(...)`, a `<tool_call>`/`<tool_response>` block, or the call's
  arguments as JSON) instead of answering;
- answers: it states the result (the loop's expected words, case-insensitive);
- calls again: it called a function instead of answering;
- other: none of these (an answer that ignores the result, a refusal...).

`--baseline DIR` runs the same loops against another source tree (its src/), e.g.
`git archive HEAD~1 | tar -x -C /tmp/before`, for a before/after in one harness.

    .venv/bin/python bench/tool_results.py [--model NAME] [--baseline DIR] [--temperature T]
    .venv/bin/python bench/tool_results.py --quick     # smoke: the tiny model, 4 loops, 24 tokens

`--quick` proves the script works, not the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from serving import REPO, Server, free_port  # noqa: E402

MODEL = "google/gemini-2.0-flash"


@dataclass(frozen=True)
class Loop:
    question: str
    function: str
    description: str
    arguments: dict[str, Any]
    result: str  # the tool message's content, as a client sends it
    expect: tuple[str, ...]  # any of these in the answer: it used the result

    @property
    def kind(self) -> str:
        try:
            return "json" if isinstance(json.loads(self.result), dict) else "text"
        except ValueError:
            return "text"


def _j(value: dict[str, Any]) -> str:
    return json.dumps(value)


LOOPS = [
    Loop("What is the capital of France?", "lookup_capital", "Capital city of a country.",
         {"country": "France"}, "Paris", ("paris",)),
    Loop("What's the weather like in Oslo right now?", "get_weather", "Current weather in a city.",
         {"city": "Oslo"}, _j({"temperature_c": -3, "condition": "snow"}), ("-3", "snow")),
    Loop("What is ACME's stock price?", "get_stock_price", "Latest price of a stock.",
         {"symbol": "ACME"}, _j({"price": 123.45, "currency": "USD"}), ("123.45",)),
    Loop("How much is 100 euros in US dollars?", "convert_currency", "Converts money.",
         {"amount": 100, "from": "EUR", "to": "USD"}, "108.50 USD", ("108.5",)),
    Loop("What time is it in Tokyo?", "get_time", "Local time in a time zone.",
         {"timezone": "Asia/Tokyo"}, "14:05", ("14:05", "2:05")),
    Loop("Which books did Jane Austen write?", "search_books", "Books by an author.",
         {"author": "Jane Austen"}, _j({"titles": ["Pride and Prejudice", "Emma"]}),
         ("pride and prejudice", "emma")),
    Loop("How many people live in Lima?", "get_population", "Population of a city.",
         {"city": "Lima"}, "10,750,000", ("10,750,000", "10.75", "10750000")),
    Loop("How do you say 'hello' in Spanish?", "translate", "Translates text.",
         {"text": "hello", "to": "es"}, "hola", ("hola",)),
    Loop("Where is my order A-1042?", "lookup_order", "Status of an order.",
         {"order_id": "A-1042"}, _j({"status": "shipped", "eta": "2025-06-03"}),
         ("shipped", "2025-06-03", "june 3")),
    Loop("What is 37 times 91?", "calculator", "Evaluates arithmetic.",
         {"expression": "37*91"}, "3367", ("3367", "3,367")),
    Loop("What does 'ephemeral' mean?", "get_definition", "Dictionary definition of a word.",
         {"word": "ephemeral"}, "lasting for a very short time", ("short time",)),
    Loop("Who is user 7?", "get_user", "A user's profile.",
         {"user_id": 7}, _j({"name": "Ada Lovelace", "email": "ada@example.com"}),
         ("ada lovelace", "ada@example.com")),
    Loop("Is flight LH 454 on time?", "flight_status", "Status of a flight.",
         {"flight": "LH 454"}, "Delayed 40 minutes, departs 18:20 from gate B12.",
         ("40 min", "delayed", "18:20")),
    Loop("How far is it from Berlin to Paris?", "get_distance", "Road distance in km.",
         {"from": "Berlin", "to": "Paris"}, _j({"km": 878}), ("878",)),
    Loop("Do we still have the X-200 in stock?", "check_inventory", "Stock of a product.",
         {"sku": "X-200"}, "7 units in stock", ("7 units", "seven", " 7 ")),
    Loop("What is the exchange rate from GBP to JPY?", "get_exchange_rate",
         "Exchange rate between two currencies.", {"base": "GBP", "quote": "JPY"},
         _j({"rate": 191.3}), ("191.3",)),
    Loop("What is Bob's phone number?", "lookup_phone", "Phone number of a contact.",
         {"name": "Bob"}, "+1 555 0100", ("555 0100", "555-0100")),
    Loop("What do I need to make pancakes?", "get_recipe", "Ingredients of a dish.",
         {"dish": "pancakes"}, _j({"ingredients": ["flour", "milk", "eggs"]}),
         ("flour",)),
    Loop("How is Inception rated?", "get_movie_rating", "Rating of a film.",
         {"title": "Inception"}, "8.8/10 on IMDb", ("8.8",)),
    Loop("When does the sun rise in Reykjavik today?", "get_sun_times",
         "Sunrise and sunset times.", {"city": "Reykjavik"},
         _j({"sunrise": "03:12", "sunset": "23:45"}), ("03:12", "3:12")),
    Loop("Is 97 a prime number?", "is_prime", "Whether a number is prime.",
         {"n": 97}, "true", ("yes", "is a prime", "is prime")),
    Loop("What is the tallest mountain in Japan?", "search_facts", "Looks up a fact.",
         {"query": "tallest mountain in Japan"}, _j({"answer": "Mount Fuji", "height_m": 3776}),
         ("fuji", "3776", "3,776")),
    Loop("Who wrote the email with subject 'Budget'?", "find_email", "Finds an email.",
         {"subject": "Budget"}, "From: carol@example.com, sent Monday 09:14",
         ("carol",)),
    Loop("How many steps did I walk yesterday?", "get_steps", "Step count for a day.",
         {"day": "yesterday"}, _j({"steps": 8412}), ("8412", "8,412")),
]
QUICK_LOOPS = [LOOPS[0], LOOPS[1], LOOPS[3], LOOPS[13]]


def body(loop: Loop, temperature: float, max_tokens: int) -> dict[str, Any]:
    tool = {"type": "function", "function": {
        "name": loop.function, "description": loop.description,
        "parameters": {"type": "object", "properties": {
            key: {"type": "integer" if isinstance(value, int) else "string"}
            for key, value in loop.arguments.items()}}}}
    call = {"id": "call_1", "type": "function",
            "function": {"name": loop.function, "arguments": json.dumps(loop.arguments)}}
    return {
        "model": MODEL, "temperature": temperature, "max_tokens": max_tokens, "seed": 0,
        "tools": [tool],
        "messages": [
            {"role": "user", "content": loop.question},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": loop.result},
        ],
    }


def parrot_marks(loop: Loop) -> list[str]:
    """What in an answer shows our own rendering of the history coming back."""
    args = json.dumps(loop.arguments, ensure_ascii=False)
    return ["i called", " returned:", f"{loop.function}(".lower(), "<tool_call>",
            "<tool_response>", args.lower(), json.dumps(loop.arguments, separators=(",", ":"))]


def verdict(loop: Loop, choice: dict[str, Any]) -> str:
    message = choice["message"]
    if message.get("tool_calls"):
        return "calls again"
    text = (message.get("content") or "").lower()
    if any(mark in text for mark in parrot_marks(loop)):
        return "parrots"
    if any(word in f" {text} " for word in loop.expect):
        return "answers"
    return "other"


def run_loops(base: str, loops: list[Loop], temperature: float, max_tokens: int) -> list[tuple[Loop, str, str]]:
    out = []
    url = f"{base}/v1/chat/completions"
    with httpx.Client(timeout=600, headers={"Authorization": "Bearer bench"}) as client:
        for loop in loops:
            r = client.post(url, json=body(loop, temperature, max_tokens))
            r.raise_for_status()
            choice = r.json()["choices"][0]
            text = choice["message"].get("content") or json.dumps(choice["message"].get("tool_calls"))
            out.append((loop, verdict(loop, choice), text))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--max-tokens", type=int, default=60)
    parser.add_argument("--baseline", help="another source tree to run (its src/ is used)")
    parser.add_argument("--data-dir", default=os.environ.get("VERTEXCOMPAT_TEST_DATA_DIR"))
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: tiny model, 4 loops, 24 tokens")
    args = parser.parse_args()
    loops = LOOPS
    if args.quick:
        # 24 tokens: enough for an answer that states the result or parrots the history
        args.model, loops, args.max_tokens = "smollm2-135m-instruct", QUICK_LOOPS, 24
    port = free_port()
    log = Path(tempfile.gettempdir()) / f"vertexcompat-tool-results-{port}.log"
    env = {"PATH": "/usr/bin:/bin"}
    if args.baseline:
        env["PYTHONPATH"] = str(Path(args.baseline).resolve() / "src")
    argv = [str(REPO / ".venv/bin/python"), "-m", "vertexcompat", "serve", "--no-auth",
            "--port", str(port), "--model", args.model, "--threads", str(args.threads),
            "--parallel", "1", "--ctx-per-seq", "2048"]
    if args.data_dir:
        argv += ["--data-dir", args.data_dir]
    with Server("vertexcompat", argv, "/readyz", port, log, env=env) as server:
        results = run_loops(server.base, loops, args.temperature, args.max_tokens)
    print(f"source: {args.baseline or 'this tree'}; model {args.model}, temperature "
          f"{args.temperature}, max_tokens {args.max_tokens}; server log {log}")
    print("| function | result | verdict | answer |\n|---|---|---|---|")
    for loop, kind, text in results:
        shown = re.sub(r"\s+", " ", text).strip()
        shown = shown[:100] + ("…" if len(shown) > 100 else "")
        print(f"| {loop.function} | {loop.kind} | {kind} | {shown.replace('|', '/')} |")
    counts = {kind: sum(1 for _, k, _ in results if k == kind)
              for kind in ("parrots", "answers", "calls again", "other")}
    by_kind = {
        result_kind: sum(1 for loop, k, _ in results if k == "answers" and loop.kind == result_kind)
        for result_kind in ("text", "json")
    }
    total = len(results)
    texts = sum(1 for loop, _, _ in results if loop.kind == "text")
    print(f"tool loops: {total}; parrots the history {counts['parrots']}/{total}, answers "
          f"from the result {counts['answers']}/{total} (text results {by_kind['text']}/"
          f"{texts}, JSON {by_kind['json']}/{total - texts}), calls again "
          f"{counts['calls again']}/{total}, other {counts['other']}/{total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
