"""Structured output cost: decode tokens/s with a JSON-schema grammar (and with a
function-calls grammar) vs unconstrained, on the same prompt and model in one run, and
grammar compile time for a 30-property schema.

Both runs use the same prompt (it contains the schema, as the local backend's JSON hint
does), the same sampling settings and seeds; the baseline is the unconstrained run, the
target ratio is >= 0.85. Decode tokens/s counts from the first generated token, so prompt
evaluation (identical in both) is excluded.

    .venv/bin/python bench/structured.py [--model NAME ...] [--threads N] [--repeats R]
    .venv/bin/python bench/structured.py --quick   # smoke: tiny model, greedy, 1 repeat, 16 tokens

`--quick` proves the script works (tests/e2e/test_bench_smoke.py runs it), not the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from pathlib import Path

import platformdirs

from vertexcompat.domain.events import TextDelta, Usage
from vertexcompat.engine.constraints import CallsSpec, GrammarCache, schema_to_grammar
from vertexcompat.engine.llama_engine import EngineConfig, LlamaEngine
from vertexcompat.engine.model_files import ModelCatalog
from vertexcompat.engine.sampling import SamplingParams

ITEM = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 24},
        "country": {"type": "string", "maxLength": 24},
        "population": {"type": "integer"},
        "coastal": {"type": "boolean"},
    },
    "required": ["city", "country", "population", "coastal"],
    "additionalProperties": False,
}
SCHEMA = {
    "type": "object",
    "properties": {"cities": {"type": "array", "items": ITEM, "minItems": 8, "maxItems": 12}},
    "required": ["cities"],
    "additionalProperties": False,
}
WIDE = {
    "type": "object",
    "properties": {
        f"field_{i}": [
            {"type": "string"},
            {"type": "integer"},
            {"type": "number"},
            {"type": "boolean"},
            {"enum": ["low", "mid", "high"]},
            {"type": "array", "items": {"type": "string", "maxLength": 16}, "maxItems": 4},
        ][i % 6]
        for i in range(30)
    },
    "required": [f"field_{i}" for i in range(30)],
    "additionalProperties": False,
}
MAX_TOKENS = 200
# Function calling: the tools the calls grammar admits, and the request that asks for calls.
TOOLS = [
    {"name": "get_weather", "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string", "maxLength": 40},
                       "unit": {"enum": ["celsius", "fahrenheit"]}},
        "required": ["location", "unit"], "additionalProperties": False}},
    {"name": "book_flight", "parameters": {
        "type": "object",
        "properties": {"from": {"type": "string", "maxLength": 24}, "to": {"type": "string", "maxLength": 24},
                       "date": {"type": "string", "maxLength": 12}, "seats": {"type": "integer"}},
        "required": ["from", "to", "date", "seats"], "additionalProperties": False}},
]
CALLS_QUESTION = "What is the weather in Paris, Rome, Oslo, Lima and Cairo? Book a flight from Oslo to Rome."


def data_dir() -> Path:
    for var in ("VERTEXCOMPAT_TEST_DATA_DIR", "VERTEXCOMPAT_DATA_DIR"):
        if os.environ.get(var):
            return Path(os.environ[var])
    return Path(platformdirs.user_cache_dir("vertexcompat-tests"))


async def decode_rate(engine: LlamaEngine, prompt: list[int], params: SamplingParams,
                      max_tokens: int = MAX_TOKENS) -> tuple[int, float]:
    handle = engine.submit(prompt, n=1, params=params, max_tokens=max_tokens, stop=())
    first = end = None
    tokens = 0
    async for event in handle.events():
        if isinstance(event, TextDelta):
            first = first or time.perf_counter()
            end = time.perf_counter()
        elif isinstance(event, Usage):
            tokens = event.completion_tokens
    assert first is not None and end is not None
    return tokens, (tokens - 1) / (end - first)


def bench_model(model: str, threads: int, repeats: int, max_tokens: int,
                quick: bool = False) -> list[tuple[str, ...]]:
    resolved = ModelCatalog(data_dir(), progress=False).resolve(model)
    engine = LlamaEngine(EngineConfig(threads=threads, parallel=1, ctx_per_seq=2048))
    engine.load(resolved.path, resolved.name)
    try:
        grammar = engine.json_grammar(SCHEMA)
        hint = "Respond only with a JSON object matching this JSON schema: " + json.dumps(SCHEMA)
        prompt = engine.prompt_tokens(
            [{"role": "system", "content": hint},
             {"role": "user", "content": "List some large cities of the world."}]
        )
        rows = []
        samplings = [("greedy", 0.0), ("t=1.0 top_p=0.95", 1.0)][: 1 if quick else 2]
        for label, temperature in samplings:
            rates: dict[bool, list[float]] = {False: [], True: []}
            counts: dict[bool, list[int]] = {False: [], True: []}
            if not quick:  # warm-up (a smoke run's times prove nothing)
                asyncio.run(decode_rate(engine, prompt, SamplingParams(temperature=0), max_tokens))
            for r in range(repeats):
                for constrained in (False, True):
                    params = SamplingParams(
                        temperature=temperature, seed=r, grammar=grammar if constrained else None
                    )
                    n, rate = asyncio.run(decode_rate(engine, prompt, params, max_tokens))
                    rates[constrained].append(rate)
                    counts[constrained].append(n)
            base, cons = statistics.median(rates[False]), statistics.median(rates[True])
            rows.append((
                model, label, f"{base:.1f}", f"{cons:.1f}", f"{cons / base:.2f}",
                f"{statistics.median(counts[False]):.0f}/{statistics.median(counts[True]):.0f}",
            ))
        return rows
    finally:
        engine.close()


def bench_calls(model: str, threads: int, repeats: int, max_tokens: int,
                quick: bool = False) -> list[tuple[str, ...]]:
    """Calls grammar (tool_choice required, up to 5 calls) vs free decoding of the same prompt."""
    resolved = ModelCatalog(data_dir(), progress=False).resolve(model)
    engine = LlamaEngine(EngineConfig(threads=threads, parallel=1, ctx_per_seq=2048))
    engine.load(resolved.path, resolved.name)
    try:
        spec = CallsSpec(
            functions=tuple((t["name"], t["parameters"]) for t in TOOLS),
            open="<tool_call>", close="</tool_call>", max_calls=5,
        )
        grammar = engine.calls_grammar(spec)
        tools = [{"type": "function", "function": t} for t in TOOLS]
        messages = [{"role": "user", "content": CALLS_QUESTION}]
        if engine.template_knows_tools:
            prompt = engine.prompt_tokens(messages, tools=tools)
        else:
            listing = "\n".join(json.dumps(t) for t in TOOLS)
            prompt = engine.prompt_tokens([
                {"role": "system", "content": f"Call these functions with <tool_call>{{json}}</tool_call>:\n{listing}"},
                *messages,
            ])
        rates: dict[bool, list[float]] = {False: [], True: []}
        counts: dict[bool, list[int]] = {False: [], True: []}
        if not quick:  # warm-up (a smoke run's times prove nothing)
            asyncio.run(decode_rate(engine, prompt, SamplingParams(temperature=0), max_tokens))
        for r in range(repeats):
            for constrained in (False, True):
                params = SamplingParams(temperature=1.0, seed=r, grammar=grammar if constrained else None)
                n, rate = asyncio.run(decode_rate(engine, prompt, params, max_tokens))
                rates[constrained].append(rate)
                counts[constrained].append(n)
        base, cons = statistics.median(rates[False]), statistics.median(rates[True])
        return [(
            model, "t=1.0 top_p=0.95", f"{base:.1f}", f"{cons:.1f}", f"{cons / base:.2f}",
            f"{statistics.median(counts[False]):.0f}/{statistics.median(counts[True]):.0f}",
        )]
    finally:
        engine.close()


def bench_compile(model: str, threads: int, repeats: int = 5) -> list[tuple[str, str]]:
    resolved = ModelCatalog(data_dir(), progress=False).resolve(model)
    engine = LlamaEngine(EngineConfig(threads=threads, parallel=1, ctx_per_seq=512))
    engine.load(resolved.path, resolved.name)
    try:
        convert, full, hit = [], [], []
        for _ in range(repeats):
            t = time.perf_counter()
            schema_to_grammar(WIDE, default_max_length=256)
            convert.append(time.perf_counter() - t)
            engine.grammars = GrammarCache(verify=engine._verify_grammar)  # a cold cache
            t = time.perf_counter()
            engine.json_grammar(WIDE)
            full.append(time.perf_counter() - t)
            t = time.perf_counter()
            engine.json_grammar(WIDE)
            hit.append(time.perf_counter() - t)
        ms = lambda xs: f"{statistics.median(xs) * 1000:.2f} ms"  # noqa: E731
        return [
            ("schema → GBNF (SchemaConverter + our passes)", ms(convert)),
            ("cold: convert + llama.cpp grammar parse (verify)", ms(full)),
            ("cache hit", ms(hit)),
            ("grammar size", f"{len(engine.json_grammar(WIDE))} chars"),
        ]
    finally:
        engine.close()


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append",
                        help="model name (repeatable); default: smollm2-135m-instruct and "
                             "qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: smollm2-135m-instruct, greedy only, 1 repeat, 16 tokens, "
                             "no warm-ups")
    args = parser.parse_args()
    models = args.model or ["smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct"]
    max_tokens, compiles = MAX_TOKENS, 5
    if args.quick:
        models, args.repeats, max_tokens, compiles = ["smollm2-135m-instruct"], 1, 16, 1
    rows = [row for model in models
            for row in bench_model(model, args.threads, args.repeats, max_tokens, args.quick)]
    print(f"Decode tokens/s, median of {args.repeats}, max_tokens={max_tokens}, threads={args.threads}")
    print(table(("model", "sampling", "unconstrained tok/s (baseline)", "json_schema tok/s",
                 "ratio (target >= 0.85)", "tokens generated (unc/json)"), rows))
    print()
    call_rows = [row for model in models
                 for row in bench_calls(model, args.threads, args.repeats, max_tokens,
                                        args.quick)]
    print(f"Function calls (tool_choice required, 2 tools, up to 5 calls), decode tokens/s, median of {args.repeats}")
    print(table(("model", "sampling", "unconstrained tok/s (baseline)", "calls grammar tok/s",
                 "ratio (target >= 0.85)", "tokens generated (unc/calls)"), call_rows))
    print()
    print(f"Grammar compile, 30-property schema ({models[0]} vocabulary), median of {compiles}")
    print(table(("step", "time"), bench_compile(models[0], args.threads, compiles)))


if __name__ == "__main__":
    main()
