"""Run order for `make test`'s workers: each worker starts with its share of the slow modules.

`--dist worksteal` hands worker i the i-th contiguous block of the collected tests, and an
idle worker then takes half of the busiest one's remaining tests, from the end. In
collection order the slowest modules sat anywhere, one of them at the very end (measured:
a function-calling test ran alone for the last minute and a half). Here the slow modules
are dealt out so that each block begins with about the same measured cost of them, and
the many short tests fill the rest of every block: what is stolen, and what runs last, is
short.

The order changes only when a test runs, never what it checks: a module's tests stay
together and in their order (its module-scoped server starts once), and the rest keep
collection order.
"""

from __future__ import annotations

import pytest

# The slowest modules, with their summed test time in seconds on a loaded 2-core machine
# (pytest --durations=0, 2 workers; re-measured after the cheaper bench smokes): the weights the
# blocks are balanced by. A module not listed is a filler; listing a new slow one here
# keeps the run balanced.
SLOW_MODULES = {
    "tests/e2e/test_bench_smoke.py": 138,
    "tests/e2e/test_image_generation.py": 88,
    "tests/unit/engine/test_speculative.py": 58,
    "tests/unit/engine/test_prefix_cache.py": 50,
    "tests/e2e/test_tools.py": 48,
    "tests/e2e/test_thinking.py": 44,
    "tests/e2e/test_cached_contents.py": 34,
    "tests/e2e/test_genai_sdk.py": 33,
    "tests/e2e/test_playground.py": 29,
    "tests/e2e/test_grounding.py": 27,
    "tests/e2e/test_fuzz.py": 27,
    "tests/unit/engine/test_function_calls.py": 25,
    "tests/unit/engine/test_constrained_decoding.py": 24,
    "tests/e2e/test_upstream_endpoints.py": 20,
    "tests/e2e/test_safety.py": 20,
    "tests/e2e/test_auth.py": 19,
    "tests/unit/engine/test_logprobs.py": 19,
    "tests/e2e/test_chat_cli.py": 19,
    "tests/unit/engine/test_thinking.py": 16,
    "tests/e2e/test_load.py": 13,
    "tests/e2e/test_sampling.py": 12,
    "tests/e2e/test_hardening_budgets.py": 12,
    "tests/unit/engine/test_slot_placement.py": 11,
    "tests/e2e/test_structured_output.py": 10,
}


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


@pytest.hookimpl(trylast=True)  # after deselection and pytest's grouping by fixture scope
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    slow: dict[str, list[pytest.Item]] = {}
    fillers: list[pytest.Item] = []
    for item in items:
        if _module(item) in SLOW_MODULES:
            slow.setdefault(_module(item), []).append(item)
        else:
            fillers.append(item)
    # Longest first, each to the block with the least cost so far (LPT).
    blocks: list[list[pytest.Item]] = [[] for _ in range(workers)]
    cost = [0] * workers
    for module in sorted(slow, key=lambda m: -SLOW_MODULES[m]):
        i = cost.index(min(cost))
        blocks[i].extend(slow[module])
        cost[i] += SLOW_MODULES[module]
    # Fill each block up to the size worksteal will give its worker (the first blocks
    # get len // workers, as xdist's split does), the short tests last in each.
    ordered: list[pytest.Item] = []
    remaining = len(items)
    for i, block in enumerate(blocks):
        size = remaining // (workers - i)
        take = max(0, size - len(block))
        ordered += block + fillers[:take]
        fillers = fillers[take:]
        remaining -= len(block) + take
    items[:] = ordered + fillers
