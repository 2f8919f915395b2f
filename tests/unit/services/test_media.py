"""MediaResolver: media parts become what perception found, through the real intake (data:
URIs, no network) and a fake perceiver; failures name the part; no media, no work."""

import asyncio
import base64
import io
import wave

import pytest
from PIL import Image

from vertexcompat.domain.content import (
    Content,
    FileDataPart,
    GenerateContentRequest,
    ImageDescriptionPart,
    InlineDataPart,
    TextPart,
    TranscriptPart,
)
from vertexcompat.domain.errors import InvalidArgument, Unavailable
from vertexcompat.media.limits import MediaLimits
from vertexcompat.media.perception.errors import PerceptionModelError
from vertexcompat.media.perception.findings import AudioFindings, ImageFindings, NamedColor
from vertexcompat.services.media import MediaResolver, has_media


def jpeg_uri() -> str:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 10, 10)).save(out, "JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


def wav_b64(seconds: float = 0.5) -> str:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x00" * int(16000 * seconds))
    return base64.b64encode(out.getvalue()).decode()


class FakePerceiver:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.seen: list[str] = []

    def describe_image(self, image):
        self.seen.append(f"image {image.width}x{image.height}")
        if self.fail:
            raise PerceptionModelError("OCR model missing")
        return ImageFindings(width=image.width, height=image.height, format="JPEG",
                             text_lines=("HI",), faces=0,
                             dominant_colors=(NamedColor("red", "#c80a0a", 1.0),), nsfw_score=0.1)

    def transcribe(self, audio):
        self.seen.append(f"audio {audio.duration_s:.1f}")
        return AudioFindings(transcript="hello", language="en", language_probability=0.9,
                             duration_s=audio.duration_s)


def request(*parts) -> GenerateContentRequest:
    return GenerateContentRequest(model="m", contents=(Content("user", (TextPart("Look"), *parts)),))


IMAGE = FileDataPart(file_uri=jpeg_uri(), source="messages[0].content[1].image_url.url")
AUDIO = InlineDataPart(mime_type="audio/wav", data=wav_b64(), source="messages[0].content[2].input_audio.data")


def resolve(resolver, req):
    return asyncio.run(resolver.resolve(req))


def test_media_parts_become_perceived_parts_in_place():
    perceiver = FakePerceiver()
    resolved = resolve(MediaResolver(perceiver, MediaLimits()), request(IMAGE, AUDIO))
    text, image, audio = resolved.contents[0].parts
    assert text == TextPart("Look")
    assert isinstance(image, ImageDescriptionPart)
    assert (image.width, image.height, image.text_lines, image.mime_type) == (32, 24, ("HI",), "image/jpeg")
    assert '"HI"' in image.description and "red" in image.description
    assert isinstance(audio, TranscriptPart)
    assert audio.transcript == "hello" and audio.language == "en"
    assert sorted(perceiver.seen) == ["audio 0.5", "image 32x24"]
    assert not has_media(resolved)


def test_a_request_without_media_is_returned_untouched():
    perceiver = FakePerceiver()
    req = request()
    assert resolve(MediaResolver(perceiver, MediaLimits()), req) is req
    assert perceiver.seen == []


def test_a_bad_part_is_400_naming_it():
    broken = FileDataPart(file_uri="data:image/jpeg;base64,!!!", source="messages[3].content[0].image_url.url")
    with pytest.raises(InvalidArgument) as info:
        resolve(MediaResolver(FakePerceiver(), MediaLimits()), request(IMAGE, broken))
    assert info.value.param == "messages[3].content[0].image_url.url"


def test_inline_data_that_is_not_audio_is_refused():
    odd = InlineDataPart(mime_type="video/mp4", data="AAAA", source="messages[0].content[1].input_audio.data")
    with pytest.raises(InvalidArgument) as info:
        resolve(MediaResolver(FakePerceiver(), MediaLimits()), request(odd))
    assert info.value.param == "messages[0].content[1].input_audio.data"


def test_too_many_parts_is_refused_before_any_work():
    perceiver = FakePerceiver()
    with pytest.raises(InvalidArgument):
        resolve(MediaResolver(perceiver, MediaLimits(max_parts_per_request=1)), request(IMAGE, IMAGE))
    assert perceiver.seen == []


def test_a_broken_perception_model_is_503_not_the_clients_fault():
    with pytest.raises(Unavailable):
        resolve(MediaResolver(FakePerceiver(fail=True), MediaLimits()), request(IMAGE))


def test_perception_workers_run_at_the_configured_low_priority():
    import os
    import threading

    class PriorityProbe(FakePerceiver):
        def describe_image(self, image):
            self.seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            return super().describe_image(image)

    probe = PriorityProbe()
    resolve(MediaResolver(probe, MediaLimits(), nice=19), request(IMAGE))
    assert probe.seen[0] == 19
