"""Our matrix kernels (native/vc_gemm.h) against llama.cpp's own, in one run.

The installed llama-cpp-python carries our kernel for Q8_0 / Q5_0 weights
(native/install_llama_cpp.py); `VERTEXCOMPAT_KERNELS=stock` turns it off in a process. This
script times, in child processes taking turns round by round, one `llama_decode` call the
way the engine makes them (one KV stream per sequence, flash attention off, plain weights):

* decode steps of 1, 2, 4 and 8 sequences, one row each, after 200-token prompts;
* prefills of 64 and 512 tokens of one sequence;

and checks that both kernels give the same logits bit for bit (a digest of every logit of
the decode steps). Prints ms per call, the ratio llama.cpp's / ours (> 1: ours is faster)
and a summary line.

    .venv/bin/python bench/kernels.py [--model NAME|PATH.gguf] [--threads N] [--rounds 3]
    .venv/bin/python bench/kernels.py --quick    # smoke: tiny model, one short round

The tiny model (smollm2-135m-instruct) is Q4_1 apart from its Q8_0 embedding / output
matrix, so only that one goes through our kernel there; the default model's Q5_0 and Q8_0
tensors hold 79% of its multiply-adds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STEPS = (1, 2, 4, 8)
PREFILLS = (64, 512)


def measure(path: str, threads: int, repeats: int) -> dict:
    """In this process: a digest of the logits (8 prompts of 200 tokens, each decoded in one
    call, then one decode step of each size) and, unless `repeats` is 0, ms per call for
    each step size and prefill."""
    import llama_cpp
    import numpy as np

    llama_cpp.llama_backend_init()
    mparams = llama_cpp.llama_model_default_params()
    mparams.use_extra_bufts = False
    model = llama_cpp.llama_model_load_from_file(path.encode(), mparams)
    n_vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(model))
    cparams = llama_cpp.llama_context_default_params()
    cparams.n_ctx, cparams.n_batch, cparams.n_ubatch = 8 * 1024, 512, 512
    cparams.n_seq_max, cparams.n_threads, cparams.n_threads_batch = 8, threads, threads
    cparams.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
    cparams.kv_unified = False
    ctx = llama_cpp.llama_init_from_model(model, cparams)
    memory = llama_cpp.llama_get_memory(ctx)
    batch = llama_cpp.llama_batch_init(512, 0, 1)

    def decode(rows: list[tuple[int, int, int, bool]]) -> float:
        for i, (token, pos, seq, logits) in enumerate(rows):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos, 1
            batch.seq_id[i][0], batch.logits[i] = seq, logits
        batch.n_tokens = len(rows)
        start = time.perf_counter()
        if llama_cpp.llama_decode(ctx, batch) != 0:
            raise RuntimeError("llama_decode failed")
        return (time.perf_counter() - start) * 1000

    def logits(row: int) -> bytes:
        return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, row),
                                     shape=(n_vocab,)).tobytes()

    context = 200
    digest = hashlib.sha256()  # every logit of the prompts' last rows and of one step a size
    for seq in range(8):
        decode([(100 + (i * (seq + 3)) % 700, i, seq, i == context - 1) for i in range(context)])
        digest.update(logits(-1))
    for size in STEPS:
        decode([(300 + seq, context, seq, True) for seq in range(size)])
        for i in range(size):
            digest.update(logits(i))
            llama_cpp.llama_memory_seq_rm(memory, i, context, -1)
    result: dict = {"digest": digest.hexdigest(),
                    "kernel": b"VC_GEMM = 1" in llama_cpp.llama_print_system_info()}
    if repeats == 0:
        return result
    for size in STEPS:
        times = []
        for _ in range(repeats):
            times.append(decode([(300 + seq, context, seq, True) for seq in range(size)]))
            for seq in range(size):
                llama_cpp.llama_memory_seq_rm(memory, seq, context, -1)
        result[f"step{size}"] = statistics.median(times)
    llama_cpp.llama_memory_seq_rm(memory, 7, 0, -1)  # the prefills reuse sequence 7
    for length in PREFILLS:
        times = []
        for _ in range(max(1, repeats // 4)):
            times.append(decode([(100 + (i * 7) % 900, i, 7, i == length - 1)
                                 for i in range(length)]))
            llama_cpp.llama_memory_seq_rm(memory, 7, 0, -1)
        result[f"prefill{length}"] = statistics.median(times)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--rounds", type=int, default=3,
                        help="child processes per kernel, taking turns (default 3)")
    parser.add_argument("--repeats", type=int, default=12,
                        help="calls per size per child (with --child, 0: the digest only)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: smollm2-135m-instruct, one round of 2 calls")
    parser.add_argument("--child", metavar="MODEL_PATH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.model, args.rounds, args.repeats = "smollm2-135m-instruct", 1, 2
    if args.child:
        print(json.dumps(measure(args.child, args.threads, args.repeats)))
        return 0

    import platformdirs

    from vertexcompat.engine.model_files import ModelCatalog

    data_dir = os.environ.get("VERTEXCOMPAT_DATA_DIR") or platformdirs.user_cache_dir("vertexcompat")
    model_path = ModelCatalog(Path(data_dir), progress=not args.quick).resolve(args.model).path
    runs: dict[str, list[dict]] = {"ours": [], "stock": []}
    for _ in range(args.rounds):
        for name in runs:
            env = dict(os.environ)
            env.pop("VERTEXCOMPAT_KERNELS", None)
            if name == "stock":
                env["VERTEXCOMPAT_KERNELS"] = "stock"
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(model_path), "--threads",
                 str(args.threads), "--repeats", str(args.repeats)],
                capture_output=True, text=True, cwd=REPO, env=env,
            )
            if done.returncode != 0:
                print(done.stderr[-3000:], file=sys.stderr)
                return 1
            runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    ours, stock = runs["ours"], runs["stock"]
    if not ours[0]["kernel"]:
        print("note: our kernel is not in this llama-cpp-python build or this CPU cannot run it "
              "(both columns are llama.cpp's kernels)")
    same = {r["digest"] for r in ours + stock}
    print(f"model {args.model}  threads {args.threads}  rounds {args.rounds}  "
          f"calls per size {args.repeats}")
    print(f"{'call':<24} {'ours ms':>9} {'llama.cpp ms':>13} {'ratio':>7}")
    ratios = {}
    for key in [f"step{s}" for s in STEPS] + [f"prefill{n}" for n in PREFILLS]:
        a = statistics.median(r[key] for r in ours)
        b = statistics.median(r[key] for r in stock)
        ratios[key] = b / a
        label = (f"decode step, {key[4:]} seq" if key.startswith("step")
                 else f"prefill, {key[7:]} tokens")
        print(f"{label:<24} {a:>9.1f} {b:>13.1f} {b / a:>6.2f}x")
    print(f"logits: {'bit-identical' if len(same) == 1 else 'DIFFERENT'} across kernels and runs")
    print(f"kernels bench done: step 1 {ratios['step1']:.2f}x, step 4 {ratios['step4']:.2f}x, "
          f"step 8 {ratios['step8']:.2f}x, prefill 512 {ratios['prefill512']:.2f}x, "
          f"logits {'same' if len(same) == 1 else 'DIFFERENT'}")
    return 0 if len(same) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
