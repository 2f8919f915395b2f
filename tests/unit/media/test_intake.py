"""The intake entry points: one call per content part → checked, measured media or a 400/413."""

import asyncio
import base64
import threading

import pytest

from vertexcompat.domain.errors import InvalidArgument, PayloadTooLarge
from vertexcompat.media import intake
from vertexcompat.media.intake import (
    check_part_count,
    check_request_budget,
    load_audio,
    load_image,
    open_image,
    prove_image_decodes,
)
from vertexcompat.media.limits import MediaLimits
from vertexcompat.media.sniff import MediaFormat

from . import samples
from .servers import serve

IMAGE = "messages[2].content[1].image_url.url"
AUDIO = "messages[0].content[1].input_audio.data"
FORMAT = "messages[0].content[1].input_audio.format"
LIMITS = MediaLimits()


def data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image(url, limits=LIMITS):
    return asyncio.run(load_image(url, param=IMAGE, limits=limits))


def audio(data: bytes, fmt: str, limits=LIMITS):
    return asyncio.run(load_audio(base64.b64encode(data).decode(), fmt, param=AUDIO, limits=limits))


def test_jpeg_data_uri_becomes_a_measured_image():
    media = image(data_uri("image/jpeg", samples.image("JPEG", size=(640, 480))))
    assert media.format is MediaFormat.JPEG and media.mime_type == "image/jpeg"
    assert (media.width, media.height, media.frame_count) == (640, 480, 1)
    assert media.data.startswith(b"\xff\xd8\xff")


def test_data_uri_whose_mime_lies_about_the_bytes_is_a_400():
    with pytest.raises(InvalidArgument) as err:
        image(data_uri("image/png", samples.image("JPEG")))
    assert "declared image/png but the bytes are JPEG" in err.value.message
    assert err.value.param == IMAGE


def test_oversize_data_uri_image_is_a_413():
    with pytest.raises(PayloadTooLarge):
        image(data_uri("image/png", samples.image("PNG")), MediaLimits(max_image_bytes=50))


def test_gs_uri_is_read_from_the_configured_store(tmp_path):
    (tmp_path / "bucket").mkdir()
    (tmp_path / "bucket" / "sign.webp").write_bytes(samples.image("WEBP", size=(30, 20)))
    media = image("gs://bucket/sign.webp", MediaLimits(gcs_root=tmp_path))
    assert (media.format, media.width, media.height) == (MediaFormat.WEBP, 30, 20)


def test_https_url_is_fetched_and_checked_by_its_bytes_not_its_content_type():
    gif = samples.animated_gif(frames=2)
    with serve(gif) as server:  # the test server labels everything image/png
        limits = MediaLimits(allow_http=True, allowlist=("127.0.0.1",))
        media = image(f"{server.base}/image.png", limits)
    assert (media.format, media.frame_count) == (MediaFormat.GIF, 2)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.png",
                                 "/etc/passwd", "example.com/a.png", ""])
def test_other_url_forms_are_a_400(url):
    with pytest.raises(InvalidArgument, match="must be a data: URI, an https:// URL or a gs://"):
        image(url)


def test_audio_where_an_image_is_expected_is_a_400():
    with pytest.raises(InvalidArgument, match="must be image"):
        image(data_uri("application/octet-stream", samples.wav(0.2)))


def test_image_decoding_runs_off_the_event_loop_thread(monkeypatch):
    threads = []
    real = intake.inspect_image

    def recording(*args, **kwargs):
        threads.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(intake, "inspect_image", recording)
    image(data_uri("image/png", samples.image("PNG")))
    assert threads and threads[0] != threading.get_ident()


def test_wav_input_audio_becomes_measured_audio():
    media = audio(samples.wav(1.25, rate=16000), "wav")
    assert media.format is MediaFormat.WAV and media.mime_type == "audio/wav"
    assert (media.duration_s, media.sample_rate, media.channels) == (1.25, 16000, 1)


@pytest.mark.parametrize(("name", "fmt"), [("mp3", "mp3"), ("flac", "flac"),
                                           ("ogg", "ogg"), ("webm", "webm")])
def test_compressed_input_audio_is_measured(name, fmt):
    media = audio(samples.encoded(name, seconds=1.0), fmt)
    assert media.duration_s == pytest.approx(1.0, abs=0.1)


def test_input_audio_format_that_lies_is_a_400_on_the_data():
    with pytest.raises(InvalidArgument) as err:
        audio(samples.wav(0.2), "mp3")
    assert "declared mp3 but the bytes are WAV" in err.value.message
    assert err.value.param == AUDIO


def test_unknown_input_audio_format_is_a_400_on_the_format():
    with pytest.raises(InvalidArgument) as err:
        audio(samples.wav(0.2), "aac")
    assert err.value.param == FORMAT
    assert "audio/wav, audio/mpeg" in err.value.message


def test_input_audio_given_as_a_data_uri_is_a_400():
    with pytest.raises(InvalidArgument, match="bare base64") as err:
        asyncio.run(load_audio(data_uri("audio/wav", samples.wav(0.1)), "wav",
                               param=AUDIO, limits=LIMITS))
    assert err.value.param == AUDIO


def test_bad_base64_audio_is_a_400():
    with pytest.raises(InvalidArgument, match="not valid base64"):
        asyncio.run(load_audio("UklGRg==!!", "wav", param=AUDIO, limits=LIMITS))


def test_oversize_audio_is_a_413():
    with pytest.raises(PayloadTooLarge) as err:
        audio(samples.wav(1.0), "wav", MediaLimits(max_audio_bytes=1000))
    assert err.value.param == AUDIO


def test_audio_longer_than_the_limit_is_a_400():
    with pytest.raises(InvalidArgument, match="longer than the limit"):
        audio(samples.wav(3.0), "wav", MediaLimits(max_audio_seconds=2))


def test_image_bytes_sent_as_audio_are_a_400():
    with pytest.raises(InvalidArgument, match="must be audio, but the bytes are PNG image"):
        audio(samples.image("PNG"), "wav")


def test_too_many_media_parts_are_refused():
    check_part_count(16, limits=LIMITS)
    with pytest.raises(InvalidArgument, match="17 image and audio parts; the limit is 16"):
        check_part_count(17, limits=LIMITS)


def test_media_repr_leaves_out_the_bytes():
    media = image(data_uri("image/png", samples.image("PNG")))
    assert "data=" not in repr(media) and "width=64" in repr(media)


def test_open_image_measures_from_the_header_without_decoding(monkeypatch):
    from PIL import ImageFile

    def must_not_decode(self):
        raise AssertionError("open_image decoded pixels")

    data = samples.image("PNG", size=(300, 200))
    monkeypatch.setattr(ImageFile.ImageFile, "load", must_not_decode)
    media = asyncio.run(open_image(data_uri("image/png", data), param=IMAGE, limits=LIMITS))
    assert (media.format, media.width, media.height) == (MediaFormat.PNG, 300, 200)


def test_open_image_still_refuses_an_image_over_the_per_image_pixel_limit():
    with pytest.raises(InvalidArgument, match="300x200 pixels") as err:
        asyncio.run(open_image(data_uri("image/png", samples.image("PNG", size=(300, 200))),
                               param=IMAGE, limits=MediaLimits(max_image_pixels=50_000)))
    assert err.value.param == IMAGE


@pytest.mark.parametrize("pil_format", ["JPEG", "PNG", "WEBP", "GIF"])
def test_a_truncated_image_fails_when_opened_or_at_its_decode_proof_naming_the_part(pil_format):
    data = samples.image(pil_format, size=(200, 200))
    mime = f"image/{pil_format.lower()}"
    with pytest.raises(InvalidArgument, match="corrupt or truncated") as err:
        # libwebp refuses a cut file from its header; the others only when decoding.
        media = asyncio.run(open_image(data_uri(mime, data[: len(data) // 2]), param=IMAGE,
                                       limits=LIMITS))
        prove_image_decodes(media, param=IMAGE)
    assert err.value.param == IMAGE


def test_a_whole_opened_image_passes_its_decode_proof():
    media = image(data_uri("image/jpeg", samples.image("JPEG", size=(640, 480))))
    prove_image_decodes(media, param=IMAGE)


def _image_media(width: int, height: int):
    return intake.ImageMedia(format=MediaFormat.PNG, data=b"", width=width, height=height,
                             frame_count=1)


def _audio_media(seconds: float):
    return intake.AudioMedia(format=MediaFormat.WAV, data=b"", duration_s=seconds,
                             sample_rate=16000, channels=1)


def test_request_budget_names_the_image_at_which_the_pixels_cross_it():
    limits = MediaLimits(max_request_pixels=1_000_000)
    media = [("a", _image_media(500, 1000)), ("b", _audio_media(1.0)),
             ("c", _image_media(500, 1000)), ("d", _image_media(1, 1))]
    check_request_budget(media[:3], limits=limits)  # exactly at the budget is within it
    with pytest.raises(InvalidArgument) as err:
        check_request_budget(media, limits=limits)
    assert err.value.param == "d"
    assert "1,000,001 pixels" in err.value.message and "1,000,000" in err.value.message


def test_request_budget_counts_audio_seconds_apart_from_pixels():
    limits = MediaLimits(max_request_audio_seconds=10, max_request_pixels=100)
    check_request_budget([("a", _audio_media(6)), ("b", _image_media(10, 10))], limits=limits)
    with pytest.raises(InvalidArgument, match="10 seconds") as err:
        check_request_budget([("a", _audio_media(6)), ("b", _image_media(10, 10)),
                              ("c", _audio_media(4.5))], limits=limits)
    assert err.value.param == "c"
