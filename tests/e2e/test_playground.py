"""The playground page (`GET /`, web/static/) in a real browser: Debian's chromium, driven
by Playwright's sync API, against two live tiny-model servers — one `--no-auth`, one with
auth ON and a key file the CLI issued.

`make test` installs chromium when it is missing (the Makefile's `chromium` target); without
it this module fails, it never skips. Screenshots of each test's last state are written
to `$VERTEXCOMPAT_TEST_ARTIFACTS/playground/` when that variable is set, else to the test's
own `tmp_path` (pytest keeps the last three runs under `/tmp/pytest-of-$USER/`).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import google.auth.transport.requests
import pytest
import requests
from google.oauth2 import service_account
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from .conftest import TINY_MODEL
from .helpers import create_service_account_key
from .server import ServerProcess, free_port

pytestmark = pytest.mark.timeout(180)

ANSWER_TIMEOUT_MS = 60_000
TTFT_SHOWN = re.compile(r"^\d+(\.\d+)? (ms|s)$")

# Records, on every change of the transcript, the length of the newest answer's text and
# the page's request state: the test reads back how the answer grew while it streamed.
RECORD_ANSWER_LENGTHS = """() => {
  window.__answerLengths = [];
  const transcript = document.querySelector('[data-testid=transcript]');
  const status = document.querySelector('[data-testid=status]');
  new MutationObserver(() => {
    const answers = transcript.querySelectorAll('[data-testid=answer-text]');
    if (answers.length) {
      window.__answerLengths.push(
        [answers[answers.length - 1].textContent.length, status.dataset.state]);
    }
  }).observe(transcript, {subtree: true, childList: true, characterData: true});
}"""


@dataclass
class Authed:
    server: ServerProcess  # auth ON
    key: Path  # a key file for project `demo` on it


SERVER_ARGS: dict[str, Any] = dict(model=TINY_MODEL, threads=1, parallel=2, ctx_per_seq=2048)


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("playground-open")
    server = ServerProcess("playground-open", data_dir=root / "data", log_dir=root,
                           extra_args=["--no-auth"], **SERVER_ARGS)
    server.start(ready_timeout=120)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def authed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Authed]:
    # Its own fixture, so a test worker that runs no auth test never starts it.
    root = tmp_path_factory.mktemp("playground-authed")
    port = free_port()
    key = root / "demo-key.json"
    # The user flow: the key file first (its token_uri names the port), then serve.
    create_service_account_key(root / "data", "demo", key, port)
    server = ServerProcess("playground-authed", data_dir=root / "data", log_dir=root,
                           port=port, **SERVER_ARGS)
    server.start(ready_timeout=120)
    try:
        yield Authed(server=server, key=key)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: `make test` installs it "
                    "(apt-get install -y chromium, as root)", pytrace=False)
    playwright: Playwright = sync_playwright().start()
    try:
        # Root in a container: chromium's sandbox needs user namespaces it may not have.
        browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                             args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    configured = os.environ.get("VERTEXCOMPAT_TEST_ARTIFACTS")
    path = Path(configured) / "playground" if configured else tmp_path
    path.mkdir(parents=True, exist_ok=True)
    return path


class Playground:
    """One fresh browser page on the playground, with what its console said."""

    def __init__(self, page: Page, artifacts: Path, name: str) -> None:
        self.page = page
        self.artifacts = artifacts
        self.name = name
        self.console: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.console.append(f"{message.type}: {message.text}")

    def open(self, server: ServerProcess) -> None:
        self.page.goto(f"{server.base_url}/")
        self.page.wait_for_selector("body[data-ready=true]")

    def by(self, testid: str) -> Any:
        return self.page.get_by_test_id(testid)

    def text(self, testid: str) -> str:
        return str(self.by(testid).last.inner_text())

    def send(self, message: str, **settings: str) -> None:
        for testid, value in settings.items():
            self.by(testid.replace("_", "-")).fill(value)
        self.by("message").fill(message)
        self.by("send").click()

    def wait_for(self, state: str) -> None:
        try:
            self.page.locator(f"[data-testid=status][data-state={state}]").wait_for(
                timeout=ANSWER_TIMEOUT_MS)
        except PlaywrightTimeoutError:
            status = self.by("status").get_attribute("data-state")
            error = self.by("error").text_content()
            raise AssertionError(f"the page did not reach {state!r}: it is {status!r}, "
                                 f"error box: {error!r}, console: {self.console}") from None

    def request_body(self) -> dict[str, Any]:
        # Inside a closed <details>: not rendered, so its text content, not inner text.
        body: dict[str, Any] = json.loads(self.by("request-json").text_content() or "{}")
        return body

    def screenshot(self, label: str) -> None:
        self.page.screenshot(path=str(self.artifacts / f"{self.name}-{label}.png"), full_page=True)

    def assert_console_clean(self) -> None:
        # A CSP violation, a script error or a failed load (other than the HTTP errors
        # the test asked for) shows up here.
        unexpected = [line for line in self.console
                      if "the server responded with a status of 4" not in line]
        assert not unexpected, unexpected


@pytest.fixture
def playground(browser: Browser, artifacts: Path,
               request: pytest.FixtureRequest) -> Iterator[Playground]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    shown = Playground(page, artifacts, request.node.name)
    try:
        yield shown
    finally:
        with contextlib.suppress(PlaywrightError):  # a crashed page must not hide the failure
            shown.screenshot("final")
        context.close()


def test_an_answer_streams_in_and_finishes_with_usage(open_server: ServerProcess,
                                                      playground: Playground) -> None:
    playground.open(open_server)
    playground.by("models-status").filter(has_text="models on this server").wait_for()
    assert TINY_MODEL in playground.by("model").locator("option").all_inner_texts()
    assert playground.by("model").input_value() == "google/gemini-2.5-flash"

    playground.by("system").fill("You are a helpful assistant.")
    playground.page.evaluate(RECORD_ANSWER_LENGTHS)
    playground.send("Write a short poem about the sea.", temperature="0", max_tokens="32")
    playground.wait_for("done")

    lengths = playground.page.evaluate("window.__answerLengths")
    growing = {length for length, state in lengths if length and state == "streaming"}
    assert len(growing) >= 2, f"the answer did not grow while streaming: {lengths}"
    answer = playground.text("answer-text")
    assert answer and len(answer) >= max(growing)
    assert playground.text("finish-reason") in ("stop", "length")
    usage = playground.text("usage")
    assert re.search(r"prompt \d+ · completion \d+ .*total \d+ tokens", usage), usage
    assert TTFT_SHOWN.match(playground.text("ttft")), playground.text("ttft")
    assert "finish:" in playground.text("turn-meta") and "TTFT" in playground.text("turn-meta")
    sent = playground.request_body()
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
    assert sent["temperature"] == 0 and sent["max_tokens"] == 32
    playground.screenshot("first-turn")

    # A second turn carries the first one back.
    playground.send("Now make it shorter.", max_tokens="8")
    playground.wait_for("done")
    sent = playground.request_body()
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
    assert sent["messages"][2]["content"] == answer
    assert playground.by("turn-assistant").count() == 2
    assert playground.text("answer-text")
    playground.assert_console_clean()


def test_an_attached_image_is_sent_and_answered(open_server: ServerProcess,
                                                playground: Playground, tmp_path: Path) -> None:
    picture = tmp_path / "sign.png"
    image = Image.new("RGB", (160, 96), "white")
    ImageDraw.Draw(image).rectangle((10, 10, 80, 80), fill="red")
    image.save(picture)

    playground.open(open_server)
    playground.by("attach").set_input_files(str(picture))
    playground.by("attachments").filter(has_text="image: sign.png").wait_for()
    playground.send("What is in this picture?", temperature="0", max_tokens="12")
    playground.wait_for("done")

    assert playground.text("answer-text")
    assert playground.text("finish-reason") in ("stop", "length")
    part = playground.request_body()["messages"][-1]["content"][1]
    assert part["type"] == "image_url"
    assert part["image_url"]["url"].startswith("data:image/png;base64,")
    # The thumbnail went with the message into the transcript; the composer is empty again.
    assert playground.by("turn-user").locator("img").count() == 1
    assert playground.by("attachments").locator("li").count() == 0
    playground.assert_console_clean()


def test_thoughts_and_tool_calls_are_shown(open_server: ServerProcess,
                                           playground: Playground) -> None:
    playground.open(open_server)
    playground.by("reasoning-effort").select_option("low")
    playground.send("Hi", temperature="0", max_tokens="16")
    playground.wait_for("done")
    # reasoning_effort cannot ask for thoughts itself: the page asks for them in tags and
    # shows them apart from the answer.
    sent = playground.request_body()
    assert sent["reasoning_effort"] == "low"
    assert sent["google"] == {"thought_tag_marker": "think"}
    assert playground.by("thoughts").last.is_visible()
    thoughts = playground.text("thoughts-text")
    assert thoughts and "<think>" not in thoughts
    assert "<think>" not in playground.by("answer-text").last.text_content()
    assert "reasoning" in playground.text("usage")

    playground.by("clear").click()
    playground.by("reasoning-effort").select_option("")
    playground.by("tools").fill(json.dumps([{"type": "function", "function": {
        "name": "get_weather", "description": "The current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}}]))
    playground.by("tool-choice").select_option("required")
    playground.send("What is the weather in Paris?", max_tokens="40")
    playground.wait_for("done")
    calls = playground.by("tool-calls").last
    assert "get_weather" in calls.inner_text()
    assert "city" in json.loads(calls.locator("pre").first.inner_text())

    # The result goes back as a tool message for that call.
    playground.by("tool-choice").select_option("none")
    playground.by("role").select_option("tool")
    call_id = playground.by("tool-call-id").input_value()
    assert call_id.startswith("call_")
    playground.send('{"sky": "clear", "celsius": 21}', max_tokens="16")
    playground.wait_for("done")
    sent = playground.request_body()["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["tool_calls"][0]["id"] == call_id and sent[2]["tool_call_id"] == call_id
    assert playground.by("turn-tool").count() == 1
    assert playground.by("role").input_value() == "user"  # every call has its result
    playground.assert_console_clean()


def test_a_generated_image_is_shown(open_server: ServerProcess,
                                    playground: Playground) -> None:
    # The tiny model takes ~10 s to draw a picture, so this stream is the server's
    # documented wire (README "Images out": the caption, then one delta with `image`, then
    # the finish reason), served by the browser itself; `modalities` is checked as sent.
    png = io.BytesIO()
    Image.new("RGB", (48, 32), "red").save(png, format="PNG")
    image = {"data": base64.b64encode(png.getvalue()).decode(),
             "extra_content": {"google": {"mime_type": "image/png"}}}
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
            "model": "google/gemini-2.5-flash"}
    deltas = [({"role": "assistant"}, None), ({"content": "A red rectangle."}, None),
              ({"image": image}, None), ({}, "stop")]
    frames = [{**head, "choices": [{"index": 0, "delta": d, "finish_reason": f}], "usage": None}
              for d, f in deltas]
    frames.append({**head, "choices": [], "usage": {
        "prompt_tokens": 9, "completion_tokens": 30, "total_tokens": 39}})
    stream = "".join(f"data: {json.dumps(f)}\n\n" for f in frames) + "data: [DONE]\n\n"
    playground.page.route("**/chat/completions", lambda route: route.fulfill(
        status=200, content_type="text/event-stream", body=stream))

    playground.open(open_server)
    playground.by("want-image").check()
    playground.send("Draw a red rectangle.")
    playground.wait_for("done")
    assert playground.request_body()["modalities"] == ["image", "text"]
    assert playground.text("answer-text") == "A red rectangle."
    img = playground.by("answer-image").locator("img")
    assert img.get_attribute("src") == "data:image/png;base64," + image["data"]
    img.evaluate("i => i.decode()")
    assert img.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [48, 32]
    assert playground.text("usage") == "prompt 9 · completion 30 · total 39 tokens"
    playground.assert_console_clean()


def test_an_error_after_the_first_chunk_is_shown(open_server: ServerProcess,
                                                 playground: Playground) -> None:
    # Once the headers are out, the server can only report an error as one frame
    # (web/responder.py); served canned here, as no request makes the tiny model fail late.
    head = {"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1,
            "model": "google/gemini-2.5-flash"}
    frames = [
        {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Par"},
                              "finish_reason": None}]},
        {"error": {"code": 502, "status": "UNAVAILABLE", "message": "The upstream went away.",
                   "param": None}},
    ]
    stream = "".join(f"data: {json.dumps(f)}\n\n" for f in frames)
    playground.page.route("**/chat/completions", lambda route: route.fulfill(
        status=200, content_type="text/event-stream", body=stream))
    playground.open(open_server)
    playground.send("Capital of France?")
    playground.wait_for("error")
    assert playground.text("error-status") == "502 UNAVAILABLE:"
    assert playground.text("error-message") == "The upstream went away."
    assert playground.by("error-param").is_hidden()
    assert playground.by("message").input_value() == "Capital of France?"
    playground.assert_console_clean()


def test_stop_ends_the_answer_where_it_is(open_server: ServerProcess,
                                         playground: Playground) -> None:
    playground.open(open_server)
    playground.send("Tell me a long story about a dragon.", max_tokens="400")
    playground.page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=answer-text]')]"
        ".some(a => a.textContent.length > 0)", timeout=ANSWER_TIMEOUT_MS)
    playground.by("stop").click()
    playground.wait_for("stopped")
    assert playground.text("answer-text")
    assert "stopped" in playground.text("turn-meta")
    assert playground.by("send").is_enabled() and playground.by("stop").is_disabled()
    # The server let the generation go: both slots are free for the next request.
    open_server.wait_until_idle(what="the stopped generation to end", deadline_s=10)
    playground.assert_console_clean()


def test_a_bad_request_shows_the_servers_error_and_its_param(open_server: ServerProcess,
                                                             playground: Playground) -> None:
    playground.open(open_server)
    playground.send("Hello", temperature="5")
    playground.wait_for("error")
    assert playground.text("error-status") == "400 INVALID_ARGUMENT:"
    assert "temperature" in playground.text("error-message")
    assert playground.text("error-param") == "temperature"
    playground.screenshot("temperature")
    # Not kept in the conversation: the message is back in the composer to retry.
    assert playground.by("message").input_value() == "Hello"
    assert playground.by("turn-user").count() == 0

    playground.by("temperature").fill("")
    playground.by("json-schema").fill('{"type": "nonsense"}')
    playground.by("send").click()
    playground.wait_for("error")
    assert playground.text("error-param") == "response_format.json_schema.schema"
    assert "Invalid JSON schema" in playground.text("error-message")

    # The same schema, fixed: the error goes away and the answer is JSON.
    playground.by("json-schema").fill(
        '{"type": "object", "properties": {"city": {"type": "string", "maxLength": 12}},'
        ' "required": ["city"], "additionalProperties": false}')
    playground.send("Name a city.", max_tokens="40")
    playground.wait_for("done")
    assert playground.by("error").is_hidden()
    if playground.text("finish-reason") == "stop":
        assert set(json.loads(playground.text("answer-text"))) == {"city"}
    playground.assert_console_clean()


def test_with_auth_on_the_page_needs_the_token(authed: Authed, playground: Playground) -> None:
    playground.open(authed.server)
    # Without a token the model list and the chat both say 401.
    playground.by("models-status").filter(has_text="401").wait_for()
    playground.send("Hi", max_tokens="8")
    playground.wait_for("error")
    assert playground.text("error-status") == "401 UNAUTHENTICATED:"
    assert "invalid authentication credentials" in playground.text("error-message")
    assert "print-access-token" in playground.text("error-hint")
    playground.screenshot("no-token")

    token = _access_token(authed)
    playground.by("token").fill(token)
    playground.by("token").dispatch_event("change")
    playground.by("models-status").filter(has_text="models on this server").wait_for()
    playground.by("send").click()
    playground.wait_for("done")
    assert playground.text("answer-text") and playground.by("error").is_hidden()
    # Page memory only: nothing stored anywhere the browser keeps.
    stored = playground.page.evaluate(
        "() => [localStorage.length, sessionStorage.length, document.cookie]")
    assert stored == [0, 0, ""]
    assert playground.page.context.cookies() == []
    playground.assert_console_clean()


def _access_token(authed: Authed) -> str:
    """What `vertexcompat auth print-access-token --key … --server …` prints: a token from
    the server's `/token` for the key file (google-auth in this process: quicker)."""
    credentials = service_account.Credentials.from_service_account_file(
        str(authed.key), scopes=["https://www.googleapis.com/auth/cloud-platform"])
    session = requests.Session()
    session.trust_env = False  # the server is on loopback: no proxy from the environment
    credentials.refresh(google.auth.transport.requests.Request(session))
    token: str = credentials.token
    return token
