"""A Gemini-wire test server: answers `:generateContent`, `:streamGenerateContent?alt=sse`
and `:countTokens` in the shapes Google documents for `GenerateContentResponse`,
`CountTokensResponse` and its error bodies, on both URL forms (Gemini API
`/v1beta/models/{m}:…` with `x-goog-api-key`; Vertex
`/v1/projects/{p}/locations/{l}/publishers/{pub}/models/{m}:…` with a bearer token).

It stands in for Google (no network here) until this project serves Gemini's native REST
API itself. It records every request (path, headers, JSON body) so tests can check what a
gateway sent, and answers deterministically from the request:

- text: `Echo: <the last user text>`, streamed in three chunks; with `includeThoughts`
  a thought part first; the last text part carries a `thoughtSignature`;
- declared functions and `toolConfig.functionCallingConfig.mode` ANY, or a last user text
  that mentions "weather": a `functionCall` of the first function with a signature;
- `responseMimeType: application/json`: `{"echo": "<the last user text>"}`;
- `candidateCount` n: n candidates (`Echo k: …` for k > 0);
- magic words in the last user text: `fail-400` (a field violation on
  `generationConfig.temperature`), `fail-429` (quota, `retryDelay` 7s), `fail-once-503`
  (503 the first time that text is seen), `fail-key` (Google's API_KEY_INVALID 400).
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

API_KEY = "test-gemini-key"
SIGNATURE = base64.b64encode(b"wire-signature-text").decode()
CALL_SIGNATURE = base64.b64encode(b"wire-signature-call").decode()


@dataclass
class Recorded:
    path: str
    query: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class WireState:
    requests: list[Recorded] = field(default_factory=list)
    seen_once: set[str] = field(default_factory=set)


def _error(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None,
           ) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return JSONResponse({"error": error}, status_code=code)


def _last_user_text(body: dict[str, Any]) -> str:
    for content in reversed(body.get("contents") or []):
        if content.get("role", "user") != "user":
            continue
        texts = [p["text"] for p in content.get("parts", []) if "text" in p]
        if texts:
            return " ".join(texts)
    return ""


def _words(body: dict[str, Any]) -> int:
    text = json.dumps(body.get("contents", [])) + json.dumps(body.get("systemInstruction", {}))
    return len(text.split())


def _candidate_parts(body: dict[str, Any], k: int) -> list[dict[str, Any]]:
    cfg = body.get("generationConfig", {})
    said = _last_user_text(body)
    declarations = [d for tool in body.get("tools", []) for d in tool.get("functionDeclarations", [])]
    mode = body.get("toolConfig", {}).get("functionCallingConfig", {}).get("mode")
    parts: list[dict[str, Any]] = []
    if cfg.get("thinkingConfig", {}).get("includeThoughts"):
        parts.append({"text": "Thinking about it.", "thought": True})
    if declarations and (mode == "ANY" or "weather" in said.lower()):
        parts.append({"functionCall": {"name": declarations[0]["name"], "args": {"city": "Paris"}},
                      "thoughtSignature": CALL_SIGNATURE})
        return parts
    if cfg.get("responseMimeType") == "application/json":
        parts.append({"text": json.dumps({"echo": said})})
    else:
        parts.append({"text": f"Echo{f' {k}' if k else ''}: {said}"})
    parts[-1]["thoughtSignature"] = SIGNATURE
    return parts


def _usage(body: dict[str, Any], parts: list[dict[str, Any]]) -> dict[str, int]:
    prompt = _words(body)
    thoughts = sum(len(p["text"].split()) for p in parts if p.get("thought"))
    answer = sum(len(p.get("text", "").split()) for p in parts if not p.get("thought")) or 1
    return {"promptTokenCount": prompt, "candidatesTokenCount": answer,
            "thoughtsTokenCount": thoughts, "totalTokenCount": prompt + answer + thoughts}


def _refusal(state: WireState, body: dict[str, Any]) -> Response | None:
    said = _last_user_text(body)
    if "fail-400" in said:
        return _error(400, "INVALID_ARGUMENT", "temperature must be at most 2.0", [{
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": "generationConfig.temperature",
                                 "description": "temperature must be at most 2.0"}]}])
    if "fail-429" in said:
        return _error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).",
                      [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}])
    if "fail-key" in said:
        return _error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                      [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID", "domain": "googleapis.com"}])
    if "fail-once-503" in said and said not in state.seen_once:
        state.seen_once.add(said)
        return _error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    return None


def build_app(state: WireState) -> Starlette:
    async def model_call(request: Request) -> Response:
        tail = request.path_params["tail"]
        model_path, _, method = tail.rpartition(":")
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        state.requests.append(Recorded(request.url.path, request.url.query,
                                       dict(request.headers), body))
        vertex = request.url.path.startswith("/v1/projects/") or "/publishers/" in request.url.path
        if vertex:
            if not request.headers.get("authorization", "").startswith("Bearer "):
                return _error(401, "UNAUTHENTICATED", "Request is missing required authentication "
                              "credential. Expected OAuth 2 access token.")
        elif request.headers.get("x-goog-api-key") != API_KEY:
            return _error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API "
                          "key.", [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                    "reason": "API_KEY_INVALID"}])
        model = model_path.rsplit("/", 1)[-1]
        if method == "countTokens":
            counted = body.get("generateContentRequest", body)
            return JSONResponse({"totalTokens": _words(counted)})
        if method not in ("generateContent", "streamGenerateContent"):
            return _error(404, "NOT_FOUND", f"Method {method} not found.")
        if model.startswith("no-such"):
            return _error(404, "NOT_FOUND", f"Publisher Model `{model_path}` was not found.")
        refusal = _refusal(state, body)
        if refusal is not None:
            return refusal
        n = int(body.get("generationConfig", {}).get("candidateCount", 1))
        answers = [_candidate_parts(body, k) for k in range(n)]
        meta = {"modelVersion": model, "responseId": f"resp-{len(state.requests)}",
                "createTime": "2026-12-02T00:00:00.000000Z"}
        if method == "generateContent":
            return JSONResponse({
                "candidates": [{"index": k, "content": {"role": "model", "parts": parts},
                                "finishReason": "STOP"} for k, parts in enumerate(answers)],
                "usageMetadata": _usage(body, [p for a in answers for p in a]), **meta,
            })
        return StreamingResponse(_stream(body, answers, meta), media_type="text/event-stream")

    return Starlette(routes=[Route("/{tail:path}", model_call, methods=["POST"])])


async def _stream(body: dict[str, Any], answers: list[list[dict[str, Any]]],
                  meta: dict[str, Any]):  # type: ignore[no-untyped-def]
    """As Gemini streams: thoughts, the answer's text in pieces, the signature on an empty
    last text part with the finish reason; cumulative usage on every chunk."""
    every = [p for a in answers for p in a]
    for k, parts in enumerate(answers):
        pieces: list[dict[str, Any]] = []
        for part in parts:
            if "text" in part and not part.get("thought"):
                words = part["text"].split(" ")
                third = max(1, len(words) // 3)
                for i in range(0, len(words), third):
                    pieces.append({"text": " ".join(words[i:i + third])
                                   + (" " if i + third < len(words) else "")})
            else:
                pieces.append(part)
        for piece in pieces:
            chunk = {"candidates": [{"index": k, "content": {"role": "model", "parts": [piece]}}],
                     "usageMetadata": _usage(body, every), **meta}
            yield f"data: {json.dumps(chunk)}\r\n\r\n"
            await asyncio.sleep(0.01)
        last: dict[str, Any] = {"text": ""}
        if "thoughtSignature" in parts[-1] and "text" in parts[-1]:
            last["thoughtSignature"] = parts[-1]["thoughtSignature"]
        chunk = {"candidates": [{"index": k, "content": {"role": "model", "parts": [last]},
                                 "finishReason": "STOP"}],
                 "usageMetadata": _usage(body, every), **meta}
        yield f"data: {json.dumps(chunk)}\r\n\r\n"


class GeminiWireServer:
    """The app on a loopback port, served by uvicorn in a thread of the test process."""

    def __init__(self, port: int) -> None:
        self.state = WireState()
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(build_app(self.state), host="127.0.0.1", port=port,
                                log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> None:
        self._thread.start()
        for _ in range(200):
            if self._server.started:
                return
            threading.Event().wait(0.05)
        raise RuntimeError("the Gemini wire server did not start")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def last(self, method: str) -> Recorded:
        return next(r for r in reversed(self.state.requests) if r.path.endswith(f":{method}"))
