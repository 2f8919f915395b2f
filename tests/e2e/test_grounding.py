"""Grounding end to end: the test corpus (tests/data/grounding, invented products a 0.5B
model cannot know) indexed with the real CLI, then questions asked of the default model on
both surfaces — the real openai SDK (whole and streamed) and Gemini's native REST — with the
citations checked against the answer text: characters of `content` for OpenAI's
`url_citation`, UTF-8 bytes for Gemini's `groundingSupports` segments.

Questions whose answers hold non-ASCII text (Görlitz, Amélie Duchêne) make a wrong unit of
offset visible. The full 20-question accuracy figure is `bench/grounding.py`'s; here a few
questions each must come back right and cited."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from .helpers import AUTH, GEMINI_FLASH
from .server import ServerProcess

pytestmark = pytest.mark.timeout(900)

CORPUS = Path(__file__).parents[1] / "data" / "grounding"
MAX_TOKENS = 96
# q02: Görlitz (ö), q03: Amélie Duchêne; the others ASCII facts.
CHAT_QUESTIONS = ("q01", "q02", "q03", "q05")
NATIVE_QUESTION = "q03"


def _questions() -> dict[str, dict[str, Any]]:
    lines = (CORPUS / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return {q["id"]: q for q in map(json.loads, filter(str.strip, lines))}


QUESTIONS = _questions()


def _front_matter_url(doc: str) -> str:
    for line in (CORPUS / doc).read_text(encoding="utf-8").splitlines()[1:]:
        if line.startswith("url:"):
            return line.partition(":")[2].strip()
        if line.strip() == "---":
            break
    raise AssertionError(f"{doc} has no url in its front matter")


def _normal(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def _index_add(index: Path, *paths: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VERTEXCOMPAT_SEARCH_INDEX_DIR": str(index)}
    return subprocess.run(
        [sys.executable, "-m", "vertexcompat", "index", "add", *map(str, paths)],
        env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.fixture(scope="module")
def grounded_server(default_server: ServerProcess, grounding_index: Path) -> ServerProcess:
    """The default server, its index filled with the corpus's documents by the CLI (the
    server sees them on its next search, no restart)."""
    if not (grounding_index / "catalog.json").exists():
        run = _index_add(grounding_index, *sorted(CORPUS.glob("*.md")))
        assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
        assert run.stdout.count("added ") == len(list(CORPUS.glob("*.md")))
    return default_server


@pytest.fixture(scope="module")
def grounded_client(grounded_server: ServerProcess) -> Any:
    with openai.OpenAI(base_url=grounded_server.vertex_base(), api_key="anything",
                       max_retries=0, timeout=300) as c:
        yield c


def _check_citations(content: str, annotations: list[dict[str, Any]], expected_url: str) -> None:
    """Every citation's offsets are characters of `content`, and one cites `expected_url`."""
    assert annotations, f"no citations for {content!r}"
    for a in annotations:
        assert a["type"] == "url_citation"
        cite = a["url_citation"]
        assert 0 <= cite["start_index"] < cite["end_index"] <= len(content), (cite, content)
        assert content[cite["start_index"]:cite["end_index"]].strip(), (cite, content)
        assert cite["title"] and cite["url"]
    assert expected_url in {a["url_citation"]["url"] for a in annotations}, (
        expected_url, annotations, content)


def _cited_fact(content: str, annotations: list[dict[str, Any]], question: dict[str, Any]) -> None:
    """The answer states the fact, and a citation of the right document covers it."""
    url = _front_matter_url(question["doc"])
    assert _normal(question["answer"]) in _normal(content), (question, content)
    _check_citations(content, annotations, url)
    covering = [a["url_citation"] for a in annotations if a["url_citation"]["url"] == url]
    assert any(_normal(question["answer"]) in _normal(content[c["start_index"]:c["end_index"]])
               for c in covering), (question, covering, content)


@pytest.mark.parametrize("qid", CHAT_QUESTIONS)
def test_a_grounded_chat_answer_states_the_fact_and_cites_its_document(
    grounded_client: openai.OpenAI, qid: str
) -> None:
    question = QUESTIONS[qid]
    raw = grounded_client.chat.completions.with_raw_response.create(
        model=GEMINI_FLASH, messages=[{"role": "user", "content": question["question"]}],
        temperature=0, max_tokens=MAX_TOKENS, web_search_options={},
    )
    assert "x-vertexcompat-grounding" not in raw.headers
    message = raw.parse().choices[0].message
    annotations = [a.model_dump() for a in message.annotations or []]
    _cited_fact(message.content or "", annotations, question)


def test_google_search_in_extra_body_grounds_a_streamed_answer(
    grounded_client: openai.OpenAI,
) -> None:
    question = QUESTIONS["q02"]
    chunks = list(grounded_client.chat.completions.create(
        model=GEMINI_FLASH, messages=[{"role": "user", "content": question["question"]}],
        temperature=0, max_tokens=MAX_TOKENS, stream=True,
        extra_body={"google": {"tools": [{"google_search": {}}]}},
    ))
    choices = [c for chunk in chunks for c in chunk.choices]
    content = "".join(c.delta.content or "" for c in choices)
    with_annotations = [c for c in choices if (c.delta.model_extra or {}).get("annotations")]
    # Citations arrive once, whole, on the chunk that finishes the choice.
    assert len(with_annotations) == 1 and with_annotations[0].finish_reason is not None
    assert with_annotations[0] is choices[-1]
    _cited_fact(content, with_annotations[0].delta.model_extra["annotations"], question)


def _native_url(server: ServerProcess, method: str) -> str:
    return (f"{server.base_url}/v1beta1/projects/demo/locations/us-central1/publishers/"
            f"google/models/gemini-2.5-flash:{method}")


def _check_grounding_metadata(text: str, metadata: dict[str, Any], question: dict[str, Any]) -> None:
    url = _front_matter_url(question["doc"])
    assert metadata["webSearchQueries"] == [question["question"]]
    chunks = metadata["groundingChunks"]
    assert url in [c["web"]["uri"] for c in chunks]
    encoded = text.encode("utf-8")
    assert metadata["groundingSupports"], metadata
    for support in metadata["groundingSupports"]:
        segment = support["segment"]
        start, end = segment.get("startIndex", 0), segment["endIndex"]
        # Offsets in bytes of the UTF-8 text, as Google's are.
        assert encoded[start:end].decode("utf-8") == segment["text"], (segment, text)
        assert len(support["groundingChunkIndices"]) == len(support["confidenceScores"])
        assert all(0 <= i < len(chunks) for i in support["groundingChunkIndices"])
        assert all(0.0 <= s <= 1.0 for s in support["confidenceScores"])
    right = chunks.index(next(c for c in chunks if c["web"]["uri"] == url))
    assert any(right in s["groundingChunkIndices"]
               and _normal(question["answer"]) in _normal(s["segment"]["text"])
               for s in metadata["groundingSupports"]), (metadata, text)


def test_native_google_search_returns_grounding_metadata_with_byte_offsets(
    grounded_server: ServerProcess,
) -> None:
    question = QUESTIONS[NATIVE_QUESTION]
    body = {"contents": [{"role": "user", "parts": [{"text": question["question"]}]}],
            "tools": [{"googleSearch": {}}],
            "generationConfig": {"temperature": 0, "maxOutputTokens": MAX_TOKENS}}
    r = httpx.post(_native_url(grounded_server, "generateContent"), headers=AUTH, json=body,
                   timeout=300)
    assert r.status_code == 200, r.text
    candidate = r.json()["candidates"][0]
    text = "".join(p.get("text", "") for p in candidate["content"]["parts"]
                   if not p.get("thought"))
    assert _normal(question["answer"]) in _normal(text)
    assert len(text.encode("utf-8")) > len(text)  # the offsets' units differ here
    _check_grounding_metadata(text, candidate["groundingMetadata"], question)

    # Streamed: the metadata rides on the candidate's last chunk, offsets into the whole text.
    with httpx.stream("POST", _native_url(grounded_server, "streamGenerateContent") + "?alt=sse",
                      headers=AUTH, json=body, timeout=300) as s:
        assert s.status_code == 200, s.read()
        events = [json.loads(line[5:]) for line in s.iter_lines() if line.startswith("data:")]
    streamed = "".join(p.get("text", "") for e in events for c in e.get("candidates", [])
                       for p in c.get("content", {}).get("parts", []) if not p.get("thought"))
    carrying = [c for e in events for c in e.get("candidates", []) if "groundingMetadata" in c]
    assert len(carrying) == 1 and carrying[0].get("finishReason")
    _check_grounding_metadata(streamed, carrying[0]["groundingMetadata"], question)


def test_an_empty_index_answers_ungrounded_and_says_so(
    make_client: Any, tiny_server: ServerProcess
) -> None:
    with make_client(tiny_server) as c:
        raw = c.chat.completions.with_raw_response.create(
            model=GEMINI_FLASH, messages=[{"role": "user", "content": "What is new?"}],
            max_tokens=4, web_search_options={"search_context_size": "low"},
        )
    assert raw.status_code == 200
    assert "index is empty" in raw.headers["x-vertexcompat-grounding"]
    assert raw.parse().choices[0].message.annotations is None
    body = {"contents": [{"role": "user", "parts": [{"text": "What is new?"}]}],
            "tools": [{"googleSearch": {}}], "generationConfig": {"maxOutputTokens": 4}}
    r = httpx.post(_native_url(tiny_server, "generateContent"), headers=AUTH, json=body,
                   timeout=120)
    assert r.status_code == 200, r.text
    assert "index is empty" in r.headers["x-vertexcompat-grounding"]
    assert "groundingMetadata" not in r.json()["candidates"][0]


def test_an_ungrounded_request_has_no_header_and_no_annotations(
    client: openai.OpenAI,
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model=GEMINI_FLASH, messages=[{"role": "user", "content": "Hi"}], max_tokens=2)
    assert "x-vertexcompat-grounding" not in raw.headers
    assert raw.parse().choices[0].message.annotations is None


@pytest.mark.parametrize(("google", "param"), [
    ({"tools": [{"code_execution": {}}]}, "tools[0]"),
    ({"tools": {"google_search": {}}}, "tools"),
    ({"tools": [{"google_search": True}]}, "tools[0].google_search"),
])
@pytest.mark.parametrize("form", ["google", "extra_body.google"])
def test_bad_grounding_tools_are_400_naming_the_param(
    tiny_server: ServerProcess, google: dict[str, Any], param: str, form: str
) -> None:
    body: dict[str, Any] = {"model": GEMINI_FLASH, "max_tokens": 2,
                            "messages": [{"role": "user", "content": "hi"}]}
    if form == "google":
        body["google"] = google
    else:
        body["extra_body"] = {"google": google}
    assert _error_param(tiny_server, body) == f"{form}.{param}"


def test_web_search_options_that_is_not_an_object_is_400_naming_it(
    tiny_server: ServerProcess,
) -> None:
    body = {"model": GEMINI_FLASH, "max_tokens": 2, "web_search_options": "yes",
            "messages": [{"role": "user", "content": "hi"}]}
    assert _error_param(tiny_server, body) == "web_search_options"


def _error_param(server: ServerProcess, body: dict[str, Any]) -> str | None:
    r = httpx.post(f"{server.vertex_base()}/chat/completions", headers=AUTH, json=body,
                   timeout=60)
    assert r.status_code == 400, r.text
    error = r.json()
    error = error[0]["error"] if isinstance(error, list) else error["error"]
    return error.get("param")
