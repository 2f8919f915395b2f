"""Shared set-up for engine tests that run the real tiny model (SmolLM2-135M)."""

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import platformdirs

from vertexcompat.backends.local import LocalBackend
from vertexcompat.domain.events import Finished, FunctionCall, TextDelta, ThoughtDelta, Usage
from vertexcompat.engine.llama_engine import EngineConfig, LlamaEngine
from vertexcompat.engine.model_files import ModelCatalog

TINY_MODEL = "smollm2-135m-instruct"


@contextmanager
def tiny_backend(
    *, parallel: int, max_queue: int = 2, prefix_cache: bool = True, cache_ram_mib: int = 0,
    on_admit: Callable[[float], None] | None = None, speculative: str = "off",
    draft_max: int | None = None, batch_size: int = 256, share_answers: bool = True,
) -> Iterator[LocalBackend]:
    """A LocalBackend on the tiny model, loaded from the shared test data dir."""
    data_dir = os.environ.get("VERTEXCOMPAT_TEST_DATA_DIR") or platformdirs.user_cache_dir(
        "vertexcompat-tests"
    )
    resolved = ModelCatalog(Path(data_dir), progress=False).resolve(TINY_MODEL)
    engine = LlamaEngine(
        EngineConfig(
            threads=1, parallel=parallel, ctx_per_seq=1024, batch_size=batch_size, max_queue=max_queue,
            prefix_cache=prefix_cache, cache_ram_mib=cache_ram_mib,
            speculative=speculative, draft_max=draft_max, share_answers=share_answers,
        ),
        on_admit=on_admit,
    )
    # speculative="draft": the tiny model drafts for itself (the same tokenizer).
    engine.load(resolved.path, resolved.name,
                draft_path=resolved.path if speculative == "draft" else None)
    try:
        yield LocalBackend(engine, resolved.name)
    finally:
        engine.close()


async def said_and_usage(backend, req):
    """What each candidate said, in order, as comparable values (text, thoughts, finishes,
    calls as (candidate, name, sorted JSON)), and the request's usage."""
    said, usage = [], None
    async for ev in backend.stream(req):
        match ev:
            case TextDelta() | ThoughtDelta() | Finished():
                said.append(ev)
            case FunctionCall(candidate=c, name=name, args=args):
                said.append((c, name, json.dumps(args, sort_keys=True)))
            case Usage():
                usage = ev
    return said, usage


@contextmanager
def recorded_calls(scheduler):
    """The rows of every decode call the scheduler makes inside the block, in order."""
    calls: list[list[tuple[int, int, int, bool]]] = []
    plain = scheduler._decode

    def recording(rows):
        calls.append(list(rows))
        plain(rows)

    scheduler._decode = recording
    try:
        yield calls
    finally:
        scheduler._decode = plain
