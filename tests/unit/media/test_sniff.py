"""Magic-number detection, and declared types checked against the bytes."""

import pytest

from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.media.sniff import MediaFormat, MediaKind, check_declared, sniff

from . import samples

PARAM = "messages[0].content[1].image_url.url"


@pytest.mark.parametrize(("pil_format", "expected"), [
    ("JPEG", MediaFormat.JPEG), ("PNG", MediaFormat.PNG),
    ("WEBP", MediaFormat.WEBP), ("GIF", MediaFormat.GIF),
])
def test_images_made_by_pillow_are_recognised(pil_format, expected):
    assert sniff(samples.image(pil_format)) is expected


def test_wav_is_recognised():
    assert sniff(samples.wav(0.1)) is MediaFormat.WAV


@pytest.mark.parametrize(("name", "expected"), [
    ("mp3", MediaFormat.MP3), ("flac", MediaFormat.FLAC),
    ("ogg", MediaFormat.OGG), ("webm", MediaFormat.WEBM),
])
def test_compressed_audio_made_by_ffmpeg_is_recognised(name, expected):
    assert sniff(samples.encoded(name, seconds=0.3)) is expected


def test_mp3_without_id3_tag_is_recognised_by_frame_sync():
    data = samples.encoded("mp3", seconds=0.3)
    size = (data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | data[9] & 0x7F
    assert sniff(data[10 + size:]) is MediaFormat.MP3


def test_ogg_vorbis_identification_header_is_recognised():
    page = b"OggS\x00\x02" + bytes(20) + b"\x01\x1e" + b"\x01vorbis" + bytes(22)
    assert sniff(page) is MediaFormat.OGG


@pytest.mark.parametrize("data", [
    b"", b"hello world", b"BM\x00\x00 bitmap", b"\x00\x00\x00\x18ftypmp42",
    b"\xff\xf1\x50\x80 adts aac", b"OggS\x00\x02" + bytes(20) + b"\x01\x2a\x80theora",
])
def test_unknown_or_unsupported_bytes_are_not_recognised(data):
    assert sniff(data) is None


def test_declared_type_that_agrees_is_accepted_with_aliases():
    jpeg = sniff(samples.image("JPEG"))
    for declared in ("image/jpeg", "image/jpg", "IMAGE/JPEG", None, "application/octet-stream"):
        assert check_declared(declared, jpeg, kind=MediaKind.IMAGE, param=PARAM) is MediaFormat.JPEG


def test_declared_png_with_jpeg_bytes_is_a_400_saying_both():
    with pytest.raises(InvalidArgument) as err:
        check_declared("image/png", sniff(samples.image("JPEG")), kind=MediaKind.IMAGE, param=PARAM)
    assert "declared image/png but the bytes are JPEG" in err.value.message
    assert err.value.param == PARAM


def test_unrecognised_bytes_are_a_400_listing_supported_types():
    with pytest.raises(InvalidArgument) as err:
        check_declared(None, sniff(b"BM not an image"), kind=MediaKind.IMAGE, param=PARAM)
    assert "image/jpeg, image/png, image/webp, image/gif" in err.value.message


def test_unsupported_declared_type_is_a_400_listing_supported_types():
    with pytest.raises(InvalidArgument) as err:
        check_declared("image/bmp", MediaFormat.PNG, kind=MediaKind.IMAGE, param=PARAM)
    assert "not a supported image type" in err.value.message
    assert "image/png" in err.value.message


def test_audio_bytes_where_an_image_is_expected_are_a_400():
    with pytest.raises(InvalidArgument, match="must be image, but the bytes are WAV audio"):
        check_declared(None, MediaFormat.WAV, kind=MediaKind.IMAGE, param=PARAM)


def test_input_audio_format_names_are_checked_against_the_bytes():
    audio = MediaKind.AUDIO
    assert check_declared("wav", MediaFormat.WAV, kind=audio, param="p") is MediaFormat.WAV
    assert check_declared("opus", MediaFormat.OGG, kind=audio, param="p") is MediaFormat.OGG
    with pytest.raises(InvalidArgument, match="declared mp3 but the bytes are WAV"):
        check_declared("mp3", MediaFormat.WAV, kind=MediaKind.AUDIO, param="p")
