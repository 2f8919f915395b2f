"""MediaResolver: media parts become what perception found, through the real intake (data:
URIs, no network) and a fake perceiver; failures name the part; no media, no work. Heavy work
is budgeted: per request (400 before any perception), in flight (429 at once), in time (503 at
the deadline, queued parts dropped), and fairly shared between requests."""

import asyncio
import time
import base64
import io
import threading
import wave

import pytest
from PIL import Image

from tests.liveness import until
from vertexcompat.domain.content import (
    Content,
    FileDataPart,
    GenerateContentRequest,
    ImageDescriptionPart,
    InlineDataPart,
    TextPart,
    TranscriptPart,
)
from vertexcompat.domain.errors import InvalidArgument, ResourceExhausted, Unavailable
from vertexcompat.media.limits import MediaLimits
from vertexcompat.media.perception.errors import PerceptionModelError
from vertexcompat.media.perception.findings import AudioFindings, ImageFindings, NamedColor
from vertexcompat.media.perception.pool import PerceptionPool, PoolBudget
from vertexcompat.services.media import MediaResolver, has_media


def jpeg_uri(size: tuple[int, int] = (32, 24)) -> str:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(out, "JPEG")
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


def test_each_parts_perception_is_timed_by_kind():
    timings = []
    resolver = MediaResolver(FakePerceiver(), MediaLimits(),
                             timing=lambda kind, s: timings.append((kind, s)))
    resolve(resolver, request(IMAGE, AUDIO, IMAGE))
    assert sorted(kind for kind, _ in timings) == ["audio", "image", "image"]
    assert all(s >= 0 for _, s in timings)


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
    resolver = MediaResolver(probe, MediaLimits(), pool=PerceptionPool(nice=19))
    resolve(resolver, request(IMAGE))
    resolver.close()
    assert probe.seen[0] == 19


# -- budgets -----------------------------------------------------------------------------


def image_part(source: str, size: tuple[int, int] = (32, 24)) -> FileDataPart:
    return FileDataPart(file_uri=jpeg_uri(size), source=source)


def audio_part(source: str, seconds: float = 0.5) -> InlineDataPart:
    return InlineDataPart(mime_type="audio/wav", data=wav_b64(seconds), source=source)


def test_images_over_the_request_pixel_budget_are_400_naming_the_crossing_part_before_perception():
    perceiver = FakePerceiver()
    limits = MediaLimits(max_request_pixels=2 * 32 * 24)  # two of the three images fit
    parts = [image_part(f"messages[0].content[{i}].image_url.url") for i in (1, 2, 3)]
    with pytest.raises(InvalidArgument) as info:
        resolve(MediaResolver(perceiver, limits), request(*parts))
    assert info.value.param == "messages[0].content[3].image_url.url"
    assert "2,304 pixels" in info.value.message and "1,536" in info.value.message
    assert perceiver.seen == []


def test_audio_over_the_request_seconds_budget_is_400_naming_the_crossing_part():
    perceiver = FakePerceiver()
    limits = MediaLimits(max_request_audio_seconds=0.8)
    parts = [audio_part("messages[0].content[1].input_audio.data"),
             image_part("messages[0].content[2].image_url.url"),
             audio_part("messages[1].content[0].input_audio.data")]
    with pytest.raises(InvalidArgument) as info:
        resolve(MediaResolver(perceiver, limits), request(*parts))
    assert info.value.param == "messages[1].content[0].input_audio.data"
    assert perceiver.seen == []


def test_a_truncated_image_is_400_naming_it_and_never_reaches_perception():
    out = io.BytesIO()
    Image.new("RGB", (64, 64), "blue").save(out, "PNG")
    cut = base64.b64encode(out.getvalue()[:-40]).decode()
    broken = FileDataPart(file_uri=f"data:image/png;base64,{cut}",
                          source="messages[0].content[1].image_url.url")
    perceiver = FakePerceiver()
    with pytest.raises(InvalidArgument, match="corrupt or truncated") as info:
        resolve(MediaResolver(perceiver, MediaLimits()), request(broken))
    assert info.value.param == "messages[0].content[1].image_url.url"
    assert perceiver.seen == []


def test_budgets_larger_per_request_than_in_flight_fail_at_construction():
    with pytest.raises(ValueError, match="pixels"):
        MediaResolver(FakePerceiver(), MediaLimits(max_request_pixels=10),
                      pool=PerceptionPool(budget=PoolBudget(max_pixels=9)))
    with pytest.raises(ValueError, match="parts"):
        MediaResolver(FakePerceiver(), MediaLimits(max_parts_per_request=4),
                      pool=PerceptionPool(budget=PoolBudget(max_parts=3)))


# -- the pool: in flight, deadline, fairness ---------------------------------------------


class GatedPerceiver(FakePerceiver):
    """Records images by width; the first `hold` calls wait until `gate` opens."""

    def __init__(self, hold: int = 1) -> None:
        super().__init__()
        self.hold = hold
        self.gate = threading.Event()
        self.started = threading.Event()
        self.order: list[int] = []
        self._lock = threading.Lock()

    def describe_image(self, image):
        with self._lock:
            self.order.append(image.width)
            wait = len(self.order) <= self.hold
        self.started.set()
        if wait:
            assert self.gate.wait(10), "the test never opened the gate"
        return super().describe_image(image)


def widths_request(*widths: int) -> GenerateContentRequest:
    return request(*(image_part(f"messages[0].content[{i + 1}].image_url.url", (w, 8))
                     for i, w in enumerate(widths)))


def test_a_small_request_is_served_between_the_parts_of_a_big_one():
    perceiver = GatedPerceiver(hold=1)
    resolver = MediaResolver(perceiver, MediaLimits())

    async def scenario():
        big = asyncio.create_task(resolver.resolve(widths_request(10, 11, 12, 13)))
        await until(perceiver.started.is_set, "the big request's first part")
        small = asyncio.create_task(resolver.resolve(widths_request(99)))
        await until(lambda: resolver.stats()["parts"] == 5, "the small request's admission")
        perceiver.gate.set()
        await asyncio.gather(big, small)

    asyncio.run(scenario())
    resolver.close()
    assert perceiver.order == [10, 99, 11, 12, 13]


def test_requests_take_turns_part_by_part():
    perceiver = GatedPerceiver(hold=1)
    resolver = MediaResolver(perceiver, MediaLimits())

    async def scenario():
        first = asyncio.create_task(resolver.resolve(widths_request(10, 11, 12)))
        await until(perceiver.started.is_set, "the first request's first part")
        second = asyncio.create_task(resolver.resolve(widths_request(20, 21, 22)))
        await until(lambda: resolver.stats()["parts"] == 6, "the second request's admission")
        perceiver.gate.set()
        await asyncio.gather(first, second)

    asyncio.run(scenario())
    resolver.close()
    assert perceiver.order == [10, 20, 11, 21, 12, 22]


def test_a_full_pool_refuses_a_new_request_at_once_with_429_and_retry_after():
    perceiver = GatedPerceiver(hold=1)
    limits = MediaLimits(max_parts_per_request=2)
    resolver = MediaResolver(perceiver, limits, pool=PerceptionPool(budget=PoolBudget(max_parts=2)))

    async def scenario():
        held = asyncio.create_task(resolver.resolve(widths_request(10, 11)))
        await until(perceiver.started.is_set, "the first request's first part")
        with pytest.raises(ResourceExhausted) as info:
            await resolver.resolve(widths_request(20))
        perceiver.gate.set()
        await held
        return info.value

    refused = asyncio.run(scenario())
    resolver.close()
    assert refused.retry_after_s >= 1 and "capacity" in refused.message
    assert perceiver.order == [10, 11]  # the refused request cost no perception


def test_a_request_that_does_not_fit_the_pixels_in_flight_is_429():
    perceiver = GatedPerceiver(hold=1)
    pool = PerceptionPool(budget=PoolBudget(max_pixels=1000))
    resolver = MediaResolver(perceiver, MediaLimits(max_request_pixels=1000), pool=pool)

    async def scenario():
        held = asyncio.create_task(resolver.resolve(widths_request(100)))  # 800 pixels
        await until(perceiver.started.is_set, "the first request's part")
        with pytest.raises(ResourceExhausted):
            await resolver.resolve(widths_request(30))  # 240 more
        perceiver.gate.set()
        await held
        await resolver.resolve(widths_request(30))  # room again once the first is done

    asyncio.run(scenario())
    resolver.close()
    assert perceiver.order == [100, 30]


def test_the_deadline_is_503_naming_the_unfinished_part_and_drops_its_queued_parts():
    perceiver = GatedPerceiver(hold=1)
    resolver = MediaResolver(perceiver, MediaLimits(), deadline_s=0.2)

    async def scenario():
        with pytest.raises(Unavailable) as info:
            await resolver.resolve(widths_request(10, 11, 12))
        # The running part cannot be interrupted: it keeps its slot, and shows as abandoned.
        during = resolver.stats()
        perceiver.gate.set()
        await until(lambda: resolver.stats()["parts"] == 0, "the running part's return")
        return info.value, during

    error, during = asyncio.run(scenario())
    after = resolver.stats()
    resolver.close()
    assert error.param == "messages[0].content[1].image_url.url"
    assert "deadline of 0.2 s" in error.message and "2 other part(s)" in error.message
    assert during["parts"] == 1 and during["running_parts"] == 1
    assert during["abandoned_parts"] == 1 and during["queued_parts"] == 0
    assert after["abandoned_parts"] == 0 and after["pixels"] == 0
    assert perceiver.order == [10]  # the queued parts never ran


def test_a_failing_part_cancels_the_rest_of_its_request():
    class FailsFirst(GatedPerceiver):
        def describe_image(self, image):
            if image.width == 10:
                self.order.append(10)
                raise PerceptionModelError("OCR model missing")
            return super().describe_image(image)

    perceiver = FailsFirst(hold=0)
    resolver = MediaResolver(perceiver, MediaLimits())
    with pytest.raises(Unavailable):
        resolve(resolver, widths_request(10, 11, 12))
    # A part already running when the first failed cannot be interrupted: it gives its
    # budget back when it returns (at once here). Nothing stays held.
    deadline = time.monotonic() + 10
    while resolver.stats()["parts"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert resolver.stats()["parts"] == 0
    resolver.close()


def test_the_pool_runs_its_idle_hook_when_the_last_part_is_done():
    idle = threading.Event()
    resolver = MediaResolver(FakePerceiver(), MediaLimits(), pool=PerceptionPool(on_idle=idle.set))
    resolve(resolver, request(IMAGE, AUDIO))
    assert idle.wait(5)
    resolver.close()
