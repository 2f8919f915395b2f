"""Is llama.cpp's extra-buffer path (weight repacking, AMX) usable and faster here?

The engine loads models with `use_extra_bufts = False` because on CPUs that advertise AMX the
default llama-cpp-python build (GGML_NATIVE, so AMX compiled in) crashes with SIGSEGV on the
first real prompt. This script measures, in one run and on the installed build, prefill time
and decode tokens/s with the flag off (the baseline) and on, and whether a greedy answer stays
the same beside three other requests (4 rows per step); each configuration runs in its own
subprocess so a crash is reported, not fatal.

Measured with llama-cpp-python 0.3.36 built with AMX off (CMAKE_ARGS with `-mno-amx-tile
-mno-amx-int8 -mno-amx-bf16`), Qwen2.5-Coder-0.5B, 2 threads, quiet machine: "on" runs (the
weights are repacked for AVX2) and is no faster here (1,040-token prefill 5.28 s vs 4.95 s
off; one-stream decode 39.3 vs 37.2 tok/s, 1.05x, within run-to-run noise), and answers
CHANGE beside other requests: a call of 4 or more rows takes the repacked GEMM kernel, fewer
rows its GEMV kernel, and the two round differently ("off": the same). So the engine
keeps the flag off: answers that do not depend on other requests are worth more than the
few percent llama-server gains from repacking at 4-8 streams (bench/README.md, serving).

    .venv/bin/python bench/extra_bufts.py [--model NAME|PATH.gguf] [--threads N]
    .venv/bin/python bench/extra_bufts.py --quick   # smoke: tiny model, short runs, no warm-up

`--quick` proves the script works (tests/e2e/test_bench_smoke.py runs it), not the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def measure(model: str, threads: int, extra_bufts: bool, quick: bool = False) -> dict:
    import platformdirs

    from vertexcompat.domain.events import TextDelta
    from vertexcompat.engine.llama_engine import EngineConfig, LlamaEngine
    from vertexcompat.engine.model_files import ModelCatalog
    from vertexcompat.engine.sampling import SamplingParams

    data_dir = os.environ.get("VERTEXCOMPAT_DATA_DIR") or platformdirs.user_cache_dir("vertexcompat")
    resolved = ModelCatalog(Path(data_dir), progress=False).resolve(model)
    engine = LlamaEngine(
        EngineConfig(threads=threads, parallel=4, ctx_per_seq=2048, use_extra_bufts=extra_bufts,
                     prefix_cache=False)
    )
    engine.load(resolved.path, resolved.name)

    async def answer(text: str, max_tokens: int, logprobs: int | None = None
                     ) -> tuple[int, float, float, list]:
        prompt = engine.prompt_tokens([{"role": "user", "content": text}])
        handle = engine.submit(
            prompt, n=1, params=SamplingParams(temperature=0, logprobs=logprobs),
            max_tokens=max_tokens, stop=()
        )
        start = time.perf_counter()
        first = None
        count = 0
        said = []
        async for event in handle.events():
            if isinstance(event, TextDelta):
                count += 1
                first = first or time.perf_counter()
            said.append(event)
        end = time.perf_counter()
        return len(prompt), first - start, (count - 1) / (end - first), said

    async def run(words: int, max_tokens: int) -> tuple[int, float, float]:
        text = "word " * words + "Now write a long story about a lighthouse keeper."
        return (await answer(text, max_tokens))[:3]

    async def beside_neighbours(max_tokens: int) -> bool:
        """Is each question's greedy answer, every token's log probability included, bit for
        bit the same beside the three others (4 rows a step) as alone (1 row)?"""
        questions = ["Explain how a hash map works.", "Name five rivers.",
                     "Write a limerick about a cat.", "What is a closure in Python?"]
        alone = [(await answer(q, max_tokens, logprobs=2))[3] for q in questions]
        together = await asyncio.gather(*(answer(q, max_tokens, logprobs=2)
                                          for q in questions))
        return [t[3] for t in together] == alone

    words, tokens, repeats = (30, 6, 1) if quick else (1000, 128, 3)
    if not quick:  # warm-up (a smoke run's times prove nothing)
        asyncio.run(run(10, 8))
    long_prompt = [asyncio.run(run(words, 2)) for _ in range(repeats)]
    decode = [asyncio.run(run(10, tokens)) for _ in range(repeats)]
    same = asyncio.run(beside_neighbours(tokens))
    engine.close()
    return {
        "prompt_tokens": long_prompt[0][0],
        "prefill_s": min(r[1] for r in long_prompt),
        "decode_tok_s": max(r[2] for r in decode),
        "same_beside_neighbours": same,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: smollm2-135m-instruct, one short run per setting "
                        "(30-word prompt, 6 tokens), no warm-up")
    parser.add_argument("--child", choices=["on", "off"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.model = "smollm2-135m-instruct"
    if args.child:
        print(json.dumps(measure(args.model, args.threads, args.child == "on", args.quick)))
        return 0
    results = {}
    for flag in ("off", "on"):
        proc = subprocess.run(
            [sys.executable, __file__, "--child", flag, "--model", args.model,
             "--threads", str(args.threads), *(["--quick"] if args.quick else [])],
            capture_output=True, text=True, cwd=REPO,
        )
        if proc.returncode == 0:
            results[flag] = json.loads(proc.stdout.strip().splitlines()[-1])
        else:
            results[flag] = {"crashed": f"exit {proc.returncode}" + (
                " (SIGSEGV)" if proc.returncode in (-11, 139) else "")}
    base = results["off"]
    print(f"model {args.model}  threads {args.threads}")
    print(f"{'use_extra_bufts':<16} {'prefill s':>10} {'decode tok/s':>13}  vs off"
          "  answers beside 3 others")
    for flag, r in results.items():
        if "crashed" in r:
            print(f"{flag:<16} crashed: {r['crashed']}")
            continue
        ratio = r["decode_tok_s"] / base["decode_tok_s"] if "decode_tok_s" in base else float("nan")
        print(f"{flag:<16} {r['prefill_s']:>10.3f} {r['decode_tok_s']:>13.1f}  {ratio:.2f}x decode"
              f"  {'the same' if r['same_beside_neighbours'] else 'CHANGED'}"
              f"  ({r['prompt_tokens']}-token prompt)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
