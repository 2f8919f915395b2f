"""A minimal OpenAI-compatible chat server for bench/gateway.py: it answers every chat
completion at once with the same short answer (whole, or as five SSE chunks), so that a
benchmark through it measures the gateway in front of it, not a model.

    python bench/_echo_upstream.py --port P
"""

from __future__ import annotations

import argparse
import json

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

WORDS = ["Hello", " from", " the", " echo", " upstream."]
USAGE = {"prompt_tokens": 12, "completion_tokens": len(WORDS), "total_tokens": 12 + len(WORDS)}


async def models(request: Request) -> Response:
    return JSONResponse({"object": "list", "data": [{"id": "echo", "object": "model"}]})


async def chat(request: Request) -> Response:
    body = json.loads(await request.body())
    model = body.get("model", "echo")
    if not body.get("stream"):
        return JSONResponse({
            "id": "chatcmpl-echo", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "".join(WORDS)}}],
            "usage": USAGE,
        })

    def chunk(delta: dict[str, str], finish: str | None = None) -> str:
        return "data: " + json.dumps({
            "id": "chatcmpl-echo", "object": "chat.completion.chunk", "created": 0,
            "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }) + "\n\n"

    async def events():  # type: ignore[no-untyped-def]
        yield chunk({"role": "assistant", "content": ""})
        for word in WORDS:
            yield chunk({"content": word})
        yield chunk({}, "stop")
        yield "data: " + json.dumps({"id": "chatcmpl-echo", "object": "chat.completion.chunk",
                                     "created": 0, "model": model, "choices": [],
                                     "usage": USAGE}) + "\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


app = Starlette(routes=[
    Route("/v1/models", models, methods=["GET"]),
    Route("/v1/chat/completions", chat, methods=["POST"]),
])

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
