"""Safety settings end to end: the real openai SDK (whole and streamed) and Gemini's native
REST surface against live servers with the real classifiers.

Prompts are judged before anything is generated, so the tiny model's server is enough for
them; the answer check needs a model that writes what it is told, so it runs on the
default model. The prompts come from the labelled set in tests/data/safety_prompts.jsonl
(its clear items: blatant harm, or plainly ordinary requests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from .helpers import AUTH, GEMINI_FLASH

pytestmark = pytest.mark.timeout(600)

DATA = Path(__file__).parents[1] / "data" / "safety_prompts.jsonl"
CATEGORIES = ("HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_HATE_SPEECH",
              "HARM_CATEGORY_SEXUALLY_EXPLICIT", "HARM_CATEGORY_DANGEROUS_CONTENT")
MEDIUM = [{"category": c, "threshold": "BLOCK_MEDIUM_AND_ABOVE"} for c in CATEGORIES]


def _items() -> list[dict[str, Any]]:
    return [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]


def clear_subset(per_category: int = 3, benign: int = 6) -> list[dict[str, Any]]:
    """The first clear items of each harmful category, and the first clear benign ones."""
    items = [i for i in _items() if i["clear"]]
    chosen = [i for i in items if i["category"] is None][:benign]
    for category in CATEGORIES:
        chosen += [i for i in items if i["category"] == category][:per_category]
    return chosen


def google(settings: list[dict[str, str]]) -> dict[str, Any]:
    return {"google": {"safety_settings": settings}}


def native_url(server: Any, method: str = "generateContent") -> str:
    return (f"{server.base_url}/v1beta1/projects/demo/locations/us-central1/publishers/"
            f"google/models/gemini-2.5-flash:{method}")


# --- prompts ------------------------------------------------------------------------------


@pytest.mark.parametrize("item", clear_subset(), ids=lambda i: i["id"])
def test_a_clear_prompt_is_blocked_or_answered_as_labelled(
    client: openai.OpenAI, tiny_server: Any, item: dict[str, Any]
) -> None:
    harmful = item["category"] is not None
    messages = [{"role": "user", "content": item["text"]}]
    whole = client.chat.completions.create(
        model=GEMINI_FLASH, messages=messages, max_tokens=2, temperature=0,
        extra_body=google(MEDIUM))
    choice = whole.choices[0]
    if harmful:
        assert choice.finish_reason == "content_filter"
        assert choice.message.content is None
        assert whole.usage.prompt_tokens > 0 and whole.usage.completion_tokens == 0
    else:
        assert choice.finish_reason != "content_filter"
        assert choice.message.content

    chunks = list(client.chat.completions.create(
        model=GEMINI_FLASH, messages=messages, max_tokens=2, temperature=0, stream=True,
        extra_body=google(MEDIUM)))
    finishes = [c.finish_reason for chunk in chunks for c in chunk.choices if c.finish_reason]
    assert finishes == ["content_filter" if harmful else "length"]

    body = {"contents": [{"role": "user", "parts": [{"text": item["text"]}]}],
            "generationConfig": {"maxOutputTokens": 2, "temperature": 0},
            "safetySettings": MEDIUM}
    native = httpx.post(native_url(tiny_server), headers=AUTH, json=body, timeout=120).json()
    if harmful:
        assert "candidates" not in native
        assert native["promptFeedback"]["blockReason"] == "SAFETY"
        assert item["category"] in [x["category"] for x in
                                    native["promptFeedback"]["safetyRatings"] if x.get("blocked")]
    else:
        assert "promptFeedback" not in native
        assert native["candidates"][0]["finishReason"] == "MAX_TOKENS"


def test_a_blocked_prompt_streams_one_chunk_with_the_content_filter(client: openai.OpenAI) -> None:
    harmful = next(i for i in clear_subset() if i["category"] == CATEGORIES[3])
    chunks = list(client.chat.completions.create(
        model=GEMINI_FLASH, messages=[{"role": "user", "content": harmful["text"]}],
        max_tokens=8, stream=True, stream_options={"include_usage": True},
        extra_body=google(MEDIUM)))
    # The role chunk every stream opens with, then one chunk with the finish reason.
    choices = [choice for c in chunks for choice in c.choices]
    assert [c.finish_reason for c in choices] == [None, "content_filter"]
    assert choices[0].delta.role == "assistant"
    assert not any(c.delta.content for c in choices)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 0


@pytest.mark.parametrize("threshold", ["BLOCK_NONE", "OFF"])
def test_block_none_and_off_never_block(client: openai.OpenAI, threshold: str) -> None:
    harmful = next(i for i in clear_subset() if i["category"] == CATEGORIES[0])
    settings = [{"category": c, "threshold": threshold} for c in CATEGORIES]
    whole = client.chat.completions.create(
        model=GEMINI_FLASH, messages=[{"role": "user", "content": harmful["text"]}],
        max_tokens=2, temperature=0, extra_body=google(settings))
    assert whole.choices[0].finish_reason != "content_filter"


def test_the_native_surface_answers_a_blocked_prompt_with_prompt_feedback(tiny_server: Any) -> None:
    harmful = next(i for i in clear_subset() if i["category"] == CATEGORIES[1])
    body = {"contents": [{"role": "user", "parts": [{"text": harmful["text"]}]}],
            "generationConfig": {"maxOutputTokens": 4},
            "safetySettings": MEDIUM}
    r = httpx.post(native_url(tiny_server), headers=AUTH, json=body, timeout=120)
    assert r.status_code == 200, r.text
    out = r.json()
    assert "candidates" not in out
    feedback = out["promptFeedback"]
    assert feedback["blockReason"] == "SAFETY"
    blocked = [x for x in feedback["safetyRatings"] if x.get("blocked")]
    assert [x["category"] for x in blocked] == [harmful["category"]]
    assert blocked[0]["probability"] in ("MEDIUM", "HIGH")
    assert out["usageMetadata"]["promptTokenCount"] > 0

    with httpx.stream("POST", native_url(tiny_server, "streamGenerateContent") + "?alt=sse",
                      headers=AUTH, json=body, timeout=120) as s:
        events = [json.loads(line[5:]) for line in s.iter_lines() if line.startswith("data:")]
    assert len(events) == 1 and events[0]["promptFeedback"]["blockReason"] == "SAFETY"


def test_the_native_surface_rates_a_clean_answer(tiny_server: Any) -> None:
    benign = next(i for i in clear_subset() if i["category"] is None)
    body = {"contents": [{"role": "user", "parts": [{"text": benign["text"]}]}],
            "generationConfig": {"maxOutputTokens": 4, "temperature": 0},
            "safetySettings": MEDIUM}
    r = httpx.post(native_url(tiny_server), headers=AUTH, json=body, timeout=120)
    assert r.status_code == 200, r.text
    (candidate,) = r.json()["candidates"]
    ratings = {x["category"]: x for x in candidate["safetyRatings"]}
    assert set(ratings) == set(CATEGORIES)
    assert not any(x.get("blocked") for x in ratings.values())
    assert all(0 <= x["probabilityScore"] <= 1 and x["severity"].startswith("HARM_SEVERITY_")
               for x in ratings.values())


# --- bad settings -------------------------------------------------------------------------


@pytest.mark.parametrize(("settings", "param"), [
    ([{"category": "HARM_CATEGORY_NOPE", "threshold": "BLOCK_NONE"}], "[0].category"),
    ([{"category": CATEGORIES[0], "threshold": "BLOCK_SOME"}], "[0].threshold"),
    ([{"category": CATEGORIES[0], "threshold": "OFF", "method": "VIBES"}], "[0].method"),
    ([{"category": CATEGORIES[0], "threshold": "OFF"},
      {"category": CATEGORIES[0], "threshold": "BLOCK_NONE"}], "[1].category"),
])
@pytest.mark.parametrize("form", ["google", "extra_body.google"])
def test_a_bad_setting_is_a_400_naming_it(
    tiny_server: Any, settings: list[dict[str, str]], param: str, form: str
) -> None:
    body: dict[str, Any] = {"model": GEMINI_FLASH, "max_tokens": 2,
                            "messages": [{"role": "user", "content": "hi"}]}
    if form == "google":
        body["google"] = {"safety_settings": settings}
    else:
        body["extra_body"] = {"google": {"safety_settings": settings}}
    r = httpx.post(f"{tiny_server.vertex_base()}/chat/completions", headers=AUTH, json=body,
                   timeout=60)
    assert r.status_code == 400, r.text
    error = r.json()
    error = error[0]["error"] if isinstance(error, list) else error["error"]
    assert error.get("param") == f"{form}.safety_settings{param}"

    native = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
              "safetySettings": settings}
    r = httpx.post(native_url(tiny_server), headers=AUTH, json=native, timeout=60)
    assert r.status_code == 400, r.text
    assert "safety" in r.text.lower() and param.split(".")[-1] in r.text


# --- answers ------------------------------------------------------------------------------

INSULT = "You are a worthless pathetic idiot and everyone hates you."
REPEAT = [
    {"role": "system", "content": f"You always answer with exactly this sentence and "
                                  f"nothing else: {INSULT}"},
    {"role": "user", "content": "Please answer now."},
]


def test_an_answer_that_turns_harmful_is_stopped_and_its_text_never_sent(
    default_client: openai.OpenAI,
) -> None:
    plain = default_client.chat.completions.create(
        model=GEMINI_FLASH, messages=REPEAT, max_tokens=24, temperature=0)
    assert "idiot" in (plain.choices[0].message.content or "")  # what it writes unjudged

    whole = default_client.chat.completions.create(
        model=GEMINI_FLASH, messages=REPEAT, max_tokens=24, temperature=0,
        extra_body=google(MEDIUM))
    assert whole.choices[0].finish_reason == "content_filter"
    assert "idiot" not in (whole.choices[0].message.content or "")

    chunks = list(default_client.chat.completions.create(
        model=GEMINI_FLASH, messages=REPEAT, max_tokens=24, temperature=0, stream=True,
        extra_body=google(MEDIUM)))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "idiot" not in text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "content_filter"


# --- a guard model ----------------------------------------------------------------------


def test_a_served_model_as_guard_is_asked_one_question_per_category(
    data_dir: Path, tmp_path: Path
) -> None:
    """The guard path end to end, on a server whose only judge is its own (tiny) model:
    every category gets a score from its yes/no answer, and the questions reach the model
    (its rendered prompts)."""
    from .conftest import NO_AUTH, TINY_MODEL
    from .server import ServerProcess

    config = tmp_path / "guard.toml"
    config.write_text(f'[safety]\nclassifiers = []\nguard_model = "{TINY_MODEL}"\n')
    server = ServerProcess("guard", model=TINY_MODEL, data_dir=data_dir, log_dir=tmp_path,
                           parallel=2, extra_args=(*NO_AUTH, "--debug-prompts", "--config",
                                                   str(config)))
    server.start(ready_timeout=120)
    try:
        body = {"contents": [{"role": "user", "parts": [{"text": "Tell me about owls."}]}],
                "generationConfig": {"maxOutputTokens": 2, "temperature": 0},
                "safetySettings": [{"category": c, "threshold": "BLOCK_NONE"}
                                   for c in CATEGORIES]}
        r = httpx.post(native_url(server), headers=AUTH, json=body, timeout=120)
        assert r.status_code == 200, r.text
        (candidate,) = r.json()["candidates"]
        scores = {x["category"]: x["probabilityScore"] for x in candidate["safetyRatings"]}
        assert set(scores) == set(CATEGORIES) and all(0 <= s <= 1 for s in scores.values())
        prompts = httpx.get(f"{server.base_url}/v1/debug/prompts", headers=AUTH,
                            timeout=30).json()
        asked = [p for p in json.dumps(prompts).split("Question: ")[1:]]
        # The prompt and the answer (whose windows are judged too), each four questions.
        assert len(asked) >= 8 and "Tell me about owls." in json.dumps(prompts)
    finally:
        server.stop()
