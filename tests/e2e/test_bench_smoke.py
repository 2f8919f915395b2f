"""Every benchmark still runs: each bench/*.py script's `--quick` smoke mode, as a
subprocess, exits 0 and prints its result line (the ratio or table row it exists for).

Nothing else runs the benchmarks, so without this they rot unnoticed (`make bench` failed
with HTTP 401 for as long as auth had been on). `--quick` proves a script works, not its
numbers: the tiny model, a run or two, small inputs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
TIMEOUT_S = 280  # per script, inside pytest-timeout's 300 s: a slow machine is fine, a hung script is not

# One thread: on a busy machine llama.cpp's threads wait for each other at every op, so a
# smoke run with two is several times slower than with one.
ONE = ("--threads", "1")
# script → (extra arguments, a line its output must have)
SMOKES: dict[str, tuple[tuple[str, ...], str]] = {
    "speculative.py": (ONE, r"^speculative bench done: \(a\) ngram [\d.]+x, \(a\) draft [\d.]+x, "
                      r"\(b\) ngram [\d.]+x, \(b\) draft [\d.]+x"),
    "safety.py": (ONE, r"^safety bench done: prompt check [+-]\d+ ms, answer check [+-]\d+ ms per 100 tokens, added [+-][\d.]+% of the request"),
    "serving.py": (ONE, r"^\(a\) decode tok/s, 1 stream +[\d.]+ +direct [\d.]+ +[\d.]+x"),
    "kernels.py": (ONE, r"^kernels bench done: step 1 [\d.]+x, step 4 [\d.]+x, step 8 [\d.]+x, prefill 512 [\d.]+x, logits same$"),
    "extra_bufts.py": (ONE, r"^off +[\d.]+ +[\d.]+ +1\.00x decode"),
    "gateway.py": ((), r"^gateway bench done: added p50 [\d.-]+ ms, \d+ requests/s"),
    "grounding.py": (ONE, r"^grounding bench done: build [\d.]+ s \(\d+ docs\), search p50 [\d.]+ ms p99 [\d.]+ ms, answered \d+/\d+ with citation, overhead [+-]\d+ ms per request"),
    "hardening.py": ((*ONE, "--model", "smollm2-135m-instruct"),
                     r"^\| 4 x 1 MB prompt \| \d{3} \| [\d.]+ s \|"),
    "image_generation.py": (ONE, r"^\| seconds per image, end to end \(median\) \| [\d.]+ \|"),
    "image_panel.py": (ONE, r"^image panel: \d+/\d+ prompts show every named object \(target 24/30\), seconds per image [\d.]+ vs [\d.]+ shapes-only \([\d.]+x\)"),
    "logprobs.py": (ONE, r"^logprobs bench done: \(a\) [\d.]+ ms/token, \(b\) [\d.]+x \(c\) [\d.]+x \(d\) [\d.]+x \(e\) [\d.]+x"),
    "media_load.py": (ONE, r"^text-only median latency ratio: [\d.]+x"),
    "prefix_cache.py": (ONE, r"^prefix cache bench done: \(a\) [\d.]+x \(b\) [\d.]+x \(c\) [\d.]+x \(e\) [\d.]+x"),
    "perception.py": (ONE, r"^  one sentence .* RTF [\d.]+"),
    "structured.py": (ONE, r"^\| smollm2-135m-instruct \| greedy \| [\d.]+ \| [\d.]+ \| [\d.]+ \|"),
    "svg_render.py": ((), r"^40 elements +\d+ +[\d.]+ +[\d.]+ +[\d.]+ +[\d.-]+$"),
    "store.py": (ONE, r"^store bench done: token check p50 sqlite [\d.]+ ms, postgresql [\d.]+ ms \([\d.]+x\), p99 .*; issuance/s sqlite 1 replica [\d.]+, postgresql 2 replicas [\d.]+ \([\d.]+x\)"),
    "thinking.py": (ONE, r"^\| smollm2-135m-instruct \| [\d.]+ \| [\d.]+ \| [\d.]+ \|"),
    "tool_results.py": (ONE, r"^tool loops: 4; parrots the history \d/4, answers from the result \d/4"),
}
# script → the test that runs its --quick (against a server it shares, so not here)
SMOKED_ELSEWHERE = {
    "fuzz.py": "tests/e2e/test_fuzz.py::test_bench_fuzz_quick_mode_runs_and_meets_its_correctness_targets",
}


def test_every_bench_script_has_a_quick_smoke_run_here() -> None:
    scripts = {p.name for p in BENCH.glob("*.py") if not p.name.startswith("_")}
    assert scripts == set(SMOKES) | set(SMOKED_ELSEWHERE), "add the new script's --quick to SMOKES"
    for name, test in SMOKED_ELSEWHERE.items():
        path, _, function = test.partition("::")
        assert f"def {function}(" in (REPO / path).read_text(), f"{name}: {test} is gone"
    for name in scripts:
        assert '"--quick"' in (BENCH / name).read_text(), f"{name} has no --quick"


@pytest.mark.parametrize("script", sorted(SMOKES))
def test_bench_script_quick_run_exits_0_with_its_result_line(script: str) -> None:
    args, result_line = SMOKES[script]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    run = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
    )
    said = f"stdout:\n{run.stdout[-4000:]}\nstderr:\n{run.stderr[-4000:]}"
    assert run.returncode == 0, said
    assert re.search(result_line, run.stdout, re.MULTILINE), said
