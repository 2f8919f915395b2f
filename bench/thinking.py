"""Thinking control cost: decode tokens/s of a generation with budget forcing (a reasoning
segment, a budget watched every token, the forced close fed in, then the answer) vs free
generation of the SAME number of tokens from the same prompt, same model, same run.

The thinking run goes first; its completion token count (thoughts + forced close + answer)
becomes the free run's max_tokens, and the prompt asks for a long text so the free run does
not stop early (the table shows both counts). Decode tokens/s counts from the first
generated token to the last, so prompt evaluation is excluded. Target ratio >= 0.95.

    .venv/bin/python bench/thinking.py [--model NAME ...] [--threads N] [--repeats R]
    .venv/bin/python bench/thinking.py --quick   # smoke: tiny model, 1 repeat, budget 8 of 24

`--quick` proves the script works (tests/e2e/test_bench_smoke.py runs it), not the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path

import platformdirs

from vertexcompat.domain.events import TextDelta, ThoughtDelta, Usage
from vertexcompat.engine.llama_engine import EngineConfig, LlamaEngine
from vertexcompat.engine.model_files import ModelCatalog
from vertexcompat.engine.sampling import SamplingParams
from vertexcompat.engine.thinking import GENERIC_INSTRUCTION, ThinkingPlan

QUESTION = "Write a long, detailed essay on the history of the printing press."
BUDGET = 128
MAX_TOKENS = 320


def data_dir() -> Path:
    for var in ("VERTEXCOMPAT_TEST_DATA_DIR", "VERTEXCOMPAT_DATA_DIR"):
        if os.environ.get(var):
            return Path(os.environ[var])
    return Path(platformdirs.user_cache_dir("vertexcompat-tests"))


async def decode(
    engine: LlamaEngine, prompt: list[int], params: SamplingParams, max_tokens: int,
    plan: ThinkingPlan | None,
) -> tuple[int, int, float]:
    """(completion tokens, reasoning tokens, decode tokens/s)."""
    handle = engine.submit(prompt, n=1, params=params, max_tokens=max_tokens, stop=(),
                           thinking=plan)
    first = end = None
    usage = None
    async for event in handle.events():
        if isinstance(event, TextDelta | ThoughtDelta):
            first = first or time.perf_counter()
            end = time.perf_counter()
        elif isinstance(event, Usage):
            usage = event
    assert first is not None and end is not None and usage is not None
    return usage.completion_tokens, usage.reasoning_tokens, (usage.completion_tokens - 1) / (end - first)


def bench_model(model: str, threads: int, repeats: int, budget: int = BUDGET,
                max_tokens: int = MAX_TOKENS, warm: bool = True) -> tuple[str, ...]:
    resolved = ModelCatalog(data_dir(), progress=False).resolve(model)
    engine = LlamaEngine(EngineConfig(threads=threads, parallel=1, ctx_per_seq=2048))
    engine.load(resolved.path, resolved.name)
    try:
        free_prompt = engine.prompt_tokens([{"role": "user", "content": QUESTION}])
        rendered = engine.render_prompt(
            [{"role": "system", "content": GENERIC_INSTRUCTION},
             {"role": "user", "content": QUESTION}],
            thinking=True,
        )
        assert rendered.thinking is not None
        plan = engine.thinking_plan(rendered.thinking, budget)
        greedy = SamplingParams(temperature=0)
        if warm:  # warm-up (not in --quick: its times prove nothing)
            asyncio.run(decode(engine, free_prompt, greedy, 32, None))
        think_rates, free_rates, counts = [], [], []
        for r in range(repeats):
            params = SamplingParams(temperature=0.7, seed=r)
            n, reasoning, rate = asyncio.run(decode(engine, rendered.tokens, params, max_tokens, plan))
            think_rates.append(rate)
            m, _, free_rate = asyncio.run(decode(engine, free_prompt, params, n, None))
            free_rates.append(free_rate)
            counts.append((n, reasoning, m))
        base, think = statistics.median(free_rates), statistics.median(think_rates)
        shown = ", ".join(f"{n}({k})/{m}" for n, k, m in counts)
        return (model, f"{base:.1f}", f"{think:.1f}", f"{think / base:.2f}", shown)
    finally:
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append",
                        help="model name (repeatable); default: smollm2-135m-instruct and "
                             "qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: smollm2-135m-instruct, 1 repeat, budget 8 of 24 tokens, "
                             "no warm-up")
    args = parser.parse_args()
    models = args.model or ["smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct"]
    budget, max_tokens = BUDGET, MAX_TOKENS
    if args.quick:
        models, args.repeats, budget, max_tokens = ["smollm2-135m-instruct"], 1, 8, 24
    rows = [bench_model(model, args.threads, args.repeats, budget, max_tokens,
                        warm=not args.quick) for model in models]
    header = ("model", "free tok/s (baseline)", f"budget {budget} tok/s", "ratio (target >= 0.95)",
              "tokens: thinking(reasoning)/free")
    print(f"Decode tokens/s, median of {args.repeats}, T=0.7, threads={args.threads}")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
