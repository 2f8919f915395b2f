"""Images and audio in, end to end: the seed's image and audio samples through the real
openai SDK on the default model (perception pipeline + chat model), and the intake's
refusals as 400s naming the part — bad base64, a lying MIME type, blocked addresses."""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest

from tests.unit.media.perception.image_samples import stop_sign_jpeg
from tests.unit.media.perception.speech_samples import speak_wav, word_errors

from .helpers import GEMINI_FLASH

pytestmark = pytest.mark.timeout(900)

FOX = "the quick brown fox jumps over the lazy dog"


def test_seed_image_sample_reads_the_sign_and_its_colour(default_client: openai.OpenAI) -> None:
    client = default_client
    base64_image = base64.b64encode(stop_sign_jpeg()).decode("utf-8")

    response = client.chat.completions.create(
    model="google/gemini-2.0-flash",
    messages=[
      {
        "role": "user",
        "content": [
          {
            "type": "text",
            "text": "What is in this image?",
          },
          {
            "type": "image_url",
            "image_url": {
              "url":  f"data:image/jpeg;base64,{base64_image}"
            },
          },
        ],
      }
    ],
    )

    print(response.choices[0])
    answer = response.choices[0].message.content.lower()
    assert "stop" in answer and "42" in answer, answer
    assert "red" in answer, answer


def test_seed_audio_sample_transcribes_the_speech(default_client: openai.OpenAI) -> None:
    client = default_client
    base64_audio = base64.b64encode(speak_wav(FOX)).decode("utf-8")

    response = client.chat.completions.create(
      model="gemini-2.0-flash",
      messages=[
      {
        "role": "user",
        "content": [
          {
            "type": "text",
            "text": "Transcribe this audio",
          },
          {
                "type": "input_audio",
                "input_audio": {
                  "data": base64_audio,
                  "format": "wav"
            }
          }
        ],
      }
    ],
    )

    print(response.choices[0].message.content)
    # The chat model may wrap the transcript in a sentence; the sentence itself must be there.
    answer = response.choices[0].message.content
    best = min(
        word_errors(FOX, " ".join(answer.split()[k : k + 9])) for k in range(max(1, len(answer.split())))
    )
    assert best <= 2, answer


def _bad(client: openai.OpenAI, part: dict[str, Any]) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model=GEMINI_FLASH, max_tokens=5,
            messages=[{"role": "user", "content": [{"type": "text", "text": "Look."}, part]}],
        )
    return info.value


def _image(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


PNG_AS_JPEG = "data:image/jpeg;base64," + base64.b64encode(
    b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
).decode()


@pytest.mark.parametrize(
    ("part", "param"),
    [
        (_image("data:image/jpeg;base64,@@not base64@@"), "messages[0].content[1].image_url.url"),
        (_image(PNG_AS_JPEG), "messages[0].content[1].image_url.url"),
        (_image("https://127.0.0.1/cat.png"), "messages[0].content[1].image_url.url"),
        (_image("https://10.0.0.1/cat.png"), "messages[0].content[1].image_url.url"),
        (_image("https://[::1]/cat.png"), "messages[0].content[1].image_url.url"),
        (_image("https://169.254.169.254/latest/meta-data"), "messages[0].content[1].image_url.url"),
        (_image("file:///etc/passwd"), "messages[0].content[1].image_url.url"),
        (_image("gs://bucket/cat.png"), "messages[0].content[1].image_url.url"),
        ({"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
         "messages[0].content[1].input_audio.data"),
        ({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "midi"}},
         "messages[0].content[1].input_audio.format"),
        ({"type": "image_url"}, "messages[0].content[1].image_url"),
    ],
)
def test_bad_media_is_400_naming_the_part(client: openai.OpenAI, part: dict[str, Any], param: str) -> None:
    error = _bad(client, part)
    assert error.status_code == 400
    assert error.param == param


def test_media_in_a_system_message_is_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model=GEMINI_FLASH, max_tokens=5,
            messages=[
                {"role": "system", "content": [_image(PNG_AS_JPEG)]},
                {"role": "user", "content": "hi"},
            ],
        )
    assert info.value.param == "messages[0].content[0]"
